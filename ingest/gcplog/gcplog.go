// Package gcplog decodes Google Cloud Logging LogEntry records (Cloud Run
// and Cloud Functions request and application logs, Cloud Audit Logs) as a
// Log Router sink delivers them through a Pub/Sub push subscription, or
// bare, as exported or replayed.
//
// # Records
//
// A record is either a Pub/Sub push request
//
//	{"message":{"data":"<base64 LogEntry JSON>","attributes":{...},
//	  "messageId":"...","publishTime":"..."},"subscription":"projects/p/subscriptions/s"}
//
// whose data is decoded (at most Decoder.MaxDataBytes bytes), or a bare
// LogEntry object. The event's Raw is the LogEntry itself; for a push
// request the message's context is added under "pubsub" (messageId,
// publishTime, subscription, attributes), so rules address LogEntry
// fields (protoPayload.methodName, httpRequest.status, ...) the same way
// whichever way the entry came.
//
// # Event ids
//
// Cloud Logging treats entries of one project with the same timestamp and
// insertId as duplicates, so the id of an entry with an insertId is the
// content hash (event.ContentID) of its logName, insertId and timestamp:
// stable across Pub/Sub redeliveries and replays of the same entry, and
// distinct across projects and logs that happen to reuse an insertId.
// Without an insertId the id is a hash of the push message's messageId,
// else a hash of the LogEntry's bytes.
//
// # Time
//
// Time is the entry's timestamp. An entry without one (Cloud Logging always
// sets it, so only hand-made or truncated entries lack it) falls back to
// receiveTimestamp; an entry with neither is rejected, as is a timestamp
// that is not an RFC 3339 string.
package gcplog

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tripline/tripline/internal/event"
)

// Source is the source name of the events.
const Source = "gcp"

// logEntry holds the LogEntry fields the normalized event needs; the whole
// entry stays in Event.Raw.
//
// Decoding is lenient: a field of another JSON type than declared here is
// left empty (encoding/json skips it and reports an *json.UnmarshalTypeError,
// which Decode ignores). The times and severity are kept raw so that a
// timestamp of the wrong type is an error rather than a silent fallback.
type logEntry struct {
	InsertID         string          `json:"insertId"`
	LogName          string          `json:"logName"`
	Timestamp        json.RawMessage `json:"timestamp"`
	ReceiveTimestamp json.RawMessage `json:"receiveTimestamp"`
	Severity         json.RawMessage `json:"severity"`
	Resource         struct {
		Type   string `json:"type"`
		Labels struct {
			ProjectID         string `json:"project_id"`
			Region            string `json:"region"`
			Location          string `json:"location"`
			ServiceName       string `json:"service_name"`
			FunctionName      string `json:"function_name"`
			ConfigurationName string `json:"configuration_name"`
			JobName           string `json:"job_name"`
		} `json:"labels"`
	} `json:"resource"`
	HTTPRequest *struct {
		RequestMethod string          `json:"requestMethod"`
		RequestURL    string          `json:"requestUrl"`
		Status        json.RawMessage `json:"status"`
		ResponseSize  json.RawMessage `json:"responseSize"`
		UserAgent     string          `json:"userAgent"`
		RemoteIP      string          `json:"remoteIp"`
		Latency       string          `json:"latency"`
	} `json:"httpRequest"`
	ProtoPayload *auditLog `json:"protoPayload"`
	JSONPayload  struct {
		Message string `json:"message"`
	} `json:"jsonPayload"`
	TextPayload string `json:"textPayload"`
	// PubSub is not a LogEntry field; Decode refuses a pushed entry that
	// has one, since Raw would then hold two "pubsub" keys.
	PubSub json.RawMessage `json:"pubsub"`
}

// auditLog is the part of a google.cloud.audit.AuditLog protoPayload the
// normalized event needs.
type auditLog struct {
	Type               string `json:"@type"`
	ServiceName        string `json:"serviceName"`
	MethodName         string `json:"methodName"`
	ResourceName       string `json:"resourceName"`
	AuthenticationInfo struct {
		PrincipalEmail   string `json:"principalEmail"`
		PrincipalSubject string `json:"principalSubject"`
	} `json:"authenticationInfo"`
	RequestMetadata struct {
		CallerIP                string `json:"callerIp"`
		CallerSuppliedUserAgent string `json:"callerSuppliedUserAgent"`
	} `json:"requestMetadata"`
	Status *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

const auditLogType = "type.googleapis.com/google.cloud.audit.AuditLog"

// Decoder decodes LogEntry records, bare or in Pub/Sub push requests. The
// zero value is ready to use.
//
// The normalized fields (docs/sources.md has the table):
//   - account: the project of logName, else resource.labels.project_id,
//     else "organizations/<id>", "folders/<id>" or "billingAccounts/<id>"
//     for entries logged above projects;
//   - region: resource.labels.region (Cloud Functions), else .location
//     (Cloud Run; "global" for some audited APIs);
//   - service: for audit logs protoPayload.serviceName (the API, e.g.
//     cloudfunctions.googleapis.com, as CloudTrail's eventSource), else
//     resource.labels.service_name, function_name, configuration_name or
//     job_name;
//   - request logs (httpRequest): src_ip remoteIp, user_agent userAgent,
//     action requestMethod, target the path of requestUrl (as sent,
//     percent-encoded, without query), status_code status, bytes_out
//     responseSize, duration_ms latency;
//   - audit logs (protoPayload of type AuditLog): actor
//     authenticationInfo.principalEmail (else principalSubject), src_ip
//     requestMetadata.callerIp, user_agent callerSuppliedUserAgent, action
//     methodName, target resourceName, error_code the google.rpc.Code name
//     of a non-zero status.code (PERMISSION_DENIED), message status.message
//     when there is no payload text;
//   - message: textPayload, else jsonPayload.message;
//   - outcome: failure when severity is ERROR or above; else for audit
//     logs success unless status.code is non-zero; else for request logs
//     from the HTTP status (400 and up is a failure); else unknown.
type Decoder struct {
	// MaxDataBytes caps the decoded size of a push message's data (the
	// LogEntry JSON); a larger message is rejected with ErrTooLarge.
	// Zero or less means DefaultMaxDataBytes.
	MaxDataBytes int `yaml:"max_data_bytes"`
}

// ContentIDs implements ingest.ContentIDs: it reports false, since nearly
// every entry has an insertId, so a repeated id in one request is a
// resend and is dropped.
func (Decoder) ContentIDs() bool { return false }

// Decode implements ingest.Decoder.
func (d Decoder) Decode(rec []byte, ev *event.Event) error {
	if !isObject(rec) {
		return errors.New("gcp record: not a JSON object")
	}
	var r struct {
		logEntry
		Message      json.RawMessage `json:"message"`
		Subscription string          `json:"subscription"`
	}
	if err := unmarshal(rec, &r); err != nil {
		return fmt.Errorf("gcp record: %w", err)
	}
	// A LogEntry has no top-level message; a push request has it as an
	// object.
	if !isObject(r.Message) {
		return decodeEntry(rec, &r.logEntry, "", ev)
	}
	m := new(pushMessage)
	if err := unmarshal(r.Message, m); err != nil {
		return fmt.Errorf("gcp push message: %w", err)
	}
	data, err := m.decodeData(d.maxDataBytes())
	if err != nil {
		return fmt.Errorf("gcp push message %s: %w", m.name(), err)
	}
	if !isObject(data) {
		return fmt.Errorf("gcp push message %s: message.data is not a JSON object (a LogEntry)", m.name())
	}
	var e logEntry
	if err := unmarshal(data, &e); err != nil {
		return fmt.Errorf("gcp push message %s: message.data: %w", m.name(), err)
	}
	if e.PubSub != nil {
		return fmt.Errorf(`gcp push message %s: the LogEntry in message.data has a "pubsub" field of its own`, m.name())
	}
	if err := decodeEntry(data, &e, m.ID(), ev); err != nil {
		return fmt.Errorf("gcp push message %s: %w", m.name(), err)
	}
	raw, err := m.addTo(data, r.Subscription)
	if err != nil {
		return fmt.Errorf("gcp push message %s: %w", m.name(), err)
	}
	ev.Raw = raw
	return nil
}

// unmarshal decodes JSON leniently (see logEntry): only invalid JSON is an
// error.
func unmarshal(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	if err == nil || errors.As(err, &te) {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return err
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// decodeEntry fills ev from e, whose JSON is entry; messageID is the push
// message's id, "" for a bare entry.
func decodeEntry(entry []byte, e *logEntry, messageID string, ev *event.Event) error {
	if e.LogName == "" {
		return errors.New("gcp log entry: logName is required, as a string (not a Cloud Logging LogEntry?)")
	}
	t, err := entryTime(e)
	if err != nil {
		return fmt.Errorf("gcp log entry %q: %w", truncate(e.LogName, 100), err)
	}
	*ev = event.Event{
		Time:    t,
		Source:  Source,
		EventID: eventID(entry, e, t, messageID),
		Account: account(e),
		Region:  cmp.Or(e.Resource.Labels.Region, e.Resource.Labels.Location),
		Service: cmp.Or(e.Resource.Labels.ServiceName, e.Resource.Labels.FunctionName,
			e.Resource.Labels.ConfigurationName, e.Resource.Labels.JobName),
		Message: cmp.Or(e.TextPayload, e.JSONPayload.Message),
		Raw:     entry,
	}
	if h := e.HTTPRequest; h != nil {
		ev.SrcIP = h.RemoteIP
		ev.UserAgent = h.UserAgent
		ev.Action = h.RequestMethod
		ev.Target = urlPath(h.RequestURL)
		if st := jsonInt(h.Status); st >= 100 && st <= 999 {
			ev.StatusCode = int(st)
			ev.Outcome = event.OutcomeSuccess
			if st >= 400 {
				ev.Outcome = event.OutcomeFailure
			}
		}
		ev.BytesOut = jsonInt(h.ResponseSize)
		ev.DurationMS = latencyMS(h.Latency)
	}
	if a := e.ProtoPayload; a != nil && a.Type == auditLogType {
		ev.Service = cmp.Or(a.ServiceName, ev.Service)
		ev.Actor = cmp.Or(a.AuthenticationInfo.PrincipalEmail, a.AuthenticationInfo.PrincipalSubject)
		ev.SrcIP = cmp.Or(a.RequestMetadata.CallerIP, ev.SrcIP)
		ev.UserAgent = cmp.Or(a.RequestMetadata.CallerSuppliedUserAgent, ev.UserAgent)
		ev.Action = cmp.Or(a.MethodName, ev.Action)
		ev.Target = cmp.Or(a.ResourceName, ev.Target)
		// A missing status is google.rpc.Status{} (code 0, OK) in proto3.
		ev.Outcome = event.OutcomeSuccess
		if s := a.Status; s != nil && s.Code != 0 {
			ev.Outcome = event.OutcomeFailure
			ev.ErrorCode = codeName(s.Code)
		}
		if s := a.Status; s != nil && ev.Message == "" {
			ev.Message = s.Message
		}
	}
	if severity(e.Severity) >= severityError {
		ev.Outcome = event.OutcomeFailure
	}
	return nil
}

// entryTime is timestamp, else receiveTimestamp (see the package doc).
func entryTime(e *logEntry) (time.Time, error) {
	field, raw := "timestamp", e.Timestamp
	if isNull(raw) {
		field, raw = "receiveTimestamp", e.ReceiveTimestamp
	}
	if isNull(raw) {
		return time.Time{}, errors.New("timestamp (or receiveTimestamp) is required, as an RFC 3339 string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fmt.Errorf("%s must be an RFC 3339 string, not %s", field, truncate(string(raw), 40))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: %w", field, truncate(s, 64), err)
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, fmt.Errorf("%s %s is out of range (1970–2105)", field, s)
	}
	return t.UTC(), nil
}

// Event times must fit the event bus and ClickHouse's DateTime: [minTime,
// maxTime), as package ingest checks.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// eventID is described in the package doc.
func eventID(entry []byte, e *logEntry, t time.Time, messageID string) string {
	switch {
	case e.InsertID != "":
		key := make([]byte, 0, len(e.LogName)+len(e.InsertID)+40)
		key = append(key, e.LogName...)
		key = append(key, 0)
		key = append(key, e.InsertID...)
		key = append(key, 0)
		key = t.AppendFormat(key, time.RFC3339Nano)
		return event.ContentID(Source, key)
	case messageID != "":
		return event.ContentID(Source, []byte("pubsub\x00"+messageID))
	}
	return event.ContentID(Source, entry)
}

// account is the project of logName ("projects/<p>/logs/<id>"), else
// resource.labels.project_id, else the organization, folder or billing
// account of logName as "organizations/<id>" (etc.).
func account(e *logEntry) string {
	name := strings.TrimPrefix(e.LogName, "/")
	kind, rest, _ := strings.Cut(name, "/")
	id, _, _ := strings.Cut(rest, "/")
	if kind == "projects" && id != "" {
		return id
	}
	if e.Resource.Labels.ProjectID != "" {
		return e.Resource.Labels.ProjectID
	}
	switch kind {
	case "organizations", "folders", "billingAccounts":
		if id != "" {
			return kind + "/" + id
		}
	}
	return ""
}

// urlPath is the path of requestUrl, as sent (percent-encoded); a URL
// that does not parse is cut at its query.
func urlPath(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.Index(s, "://"); i >= 0 {
			s = s[i+3:]
			if j := strings.IndexByte(s, '/'); j >= 0 {
				s = s[j:]
			} else {
				s = "/"
			}
		}
		s, _, _ = strings.Cut(s, "?")
		s, _, _ = strings.Cut(s, "#")
		return s
	}
	p := u.EscapedPath()
	if p == "" && u.Host != "" {
		p = "/"
	}
	return p
}

// jsonInt reads a non-negative integer field: proto3 JSON writes int64 as
// a decimal string and int32 as a number, and parsers accept both forms
// for both. Anything else, or a negative number, is 0.
func jsonInt(raw json.RawMessage) int64 {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// latencyMS reads a proto3 JSON Duration ("0.123s") in milliseconds; 0
// when it is not one.
func latencyMS(s string) float64 {
	num, ok := strings.CutSuffix(s, "s")
	if !ok || num == "" || (num[0] != '.' && (num[0] < '0' || num[0] > '9')) {
		return 0
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return 0
	}
	return f * 1000
}

// truncate shortens s to about n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
