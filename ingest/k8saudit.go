package ingest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// k8sAuditEvent holds the fields of a Kubernetes audit event
// (audit.k8s.io/v1 Event) the normalized event needs. The full event
// stays in Event.Raw for rules.
//
// Decoding is lenient as for CloudTrail (see cloudTrailRecord): a field of
// another JSON type than declared here is left empty. Only auditID, verb,
// stage and one of the timestamps are required, as strings.
type k8sAuditEvent struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	SourceIPs []string `json:"sourceIPs"`
	UserAgent string   `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code    int    `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp string            `json:"requestReceivedTimestamp"`
	StageTimestamp           string            `json:"stageTimestamp"`
	Annotations              map[string]string `json:"annotations"`
}

// K8sAudit decodes Kubernetes API server audit events (audit.k8s.io/v1
// Event): one event per line as the log backend writes them, or the items
// of an EventList as the webhook backend posts them (see Envelopes).
//
// The normalized fields (docs/sources.md has the table):
//   - time: stageTimestamp, else requestReceivedTimestamp;
//   - event_id: auditID + "/" + stage, since every stage of one request
//     (RequestReceived, ResponseStarted, ResponseComplete, Panic) shares
//     the auditID; a resent (auditID, stage) is the same event;
//   - actor: user.username, the authenticated principal. When the request
//     impersonates someone, impersonatedUser is whom the API server acted
//     as, but the accountable principal is still user.username; rules
//     read impersonatedUser from the record;
//   - src_ip: the first of sourceIPs (the client as the API server saw it,
//     X-Forwarded-For first);
//   - user_agent: userAgent; action: verb;
//   - target: "<resource>[/<subresource>] <namespace>/<name>", with
//     "<namespace>/*" when the request names no object (list, create
//     without a name) and "<name>" alone for cluster-scoped objects; a
//     non-resource request (/healthz, /version) has no objectRef and its
//     target is requestURI;
//   - service: objectRef.apiGroup, "core" for the legacy group (pods,
//     secrets), empty for non-resource requests;
//   - outcome: success when responseStatus.code < 400, failure from 400 up,
//     empty (unknown) when the stage has no response (RequestReceived);
//   - status_code, error_code, message: responseStatus.code, .reason and
//     .message; without a message, the authorization.k8s.io/reason
//     annotation (which RBAC binding allowed or why it was forbidden).
type K8sAudit struct{}

// Envelopes implements Enveloped: the webhook backend posts EventLists.
func (K8sAudit) Envelopes() Envelope { return EnvelopeEventList }

// Decode implements Decoder.
func (K8sAudit) Decode(rec []byte, ev *event.Event) error {
	var r k8sAuditEvent
	if err := json.Unmarshal(rec, &r); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return fmt.Errorf("k8s audit event: %w", jsonError(err))
		}
		// A field of an unexpected type is left empty; see k8sAuditEvent.
	}
	if r.Kind != "" && r.Kind != "Event" {
		if r.Kind == "EventList" {
			return fmt.Errorf(`k8s audit event: an EventList whose items are not an array of events`)
		}
		return fmt.Errorf(`k8s audit event: kind %q, want "Event"`, r.Kind)
	}
	if r.APIVersion != "" && !strings.HasPrefix(r.APIVersion, "audit.k8s.io/") {
		return fmt.Errorf("k8s audit event: apiVersion %q is not audit.k8s.io", r.APIVersion)
	}
	if r.AuditID == "" || r.Verb == "" || r.Stage == "" {
		return fmt.Errorf("k8s audit event: auditID, verb and stage are required, as strings (not an audit.k8s.io Event?)")
	}
	field, ts := "stageTimestamp", r.StageTimestamp
	if ts == "" {
		field, ts = "requestReceivedTimestamp", r.RequestReceivedTimestamp
	}
	if ts == "" {
		return fmt.Errorf("k8s audit event: stageTimestamp or requestReceivedTimestamp is required, as an RFC 3339 string")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return fmt.Errorf("k8s audit event: %s %q: %w", field, ts, err)
	}
	if err := checkTime(field, ts, t); err != nil {
		return fmt.Errorf("k8s audit event: %w", err)
	}
	*ev = event.Event{
		Time:      t.UTC(),
		Source:    "k8s-audit",
		EventID:   r.AuditID + "/" + r.Stage,
		Actor:     r.User.Username,
		UserAgent: r.UserAgent,
		Action:    r.Verb,
		Target:    r.RequestURI,
		Raw:       rec,
	}
	if len(r.SourceIPs) > 0 {
		ev.SrcIP = r.SourceIPs[0]
	}
	if o := r.ObjectRef; o != nil {
		ev.Service = cmp.Or(o.APIGroup, "core")
		target := o.Resource
		if o.Subresource != "" {
			target += "/" + o.Subresource
		}
		switch {
		case o.Namespace != "":
			target += " " + o.Namespace + "/" + cmp.Or(o.Name, "*")
		case o.Name != "":
			target += " " + o.Name
		}
		ev.Target = target
	}
	if rs := r.ResponseStatus; rs != nil && rs.Code != 0 {
		ev.StatusCode = rs.Code
		ev.ErrorCode = rs.Reason
		ev.Message = rs.Message
		ev.Outcome = event.OutcomeSuccess
		if rs.Code >= 400 {
			ev.Outcome = event.OutcomeFailure
		}
	}
	if ev.Message == "" {
		ev.Message = r.Annotations["authorization.k8s.io/reason"]
	}
	return nil
}
