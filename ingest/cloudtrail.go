package ingest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// cloudTrailRecord holds the CloudTrail fields the normalized event needs.
// The full record stays in Event.Raw for rules.
//
// Decoding is lenient: a field of another JSON type than declared here
// (e.g. "errorCode":123, "userIdentity":{"userName":5} or
// "requestParameters":{"name":{"first":"a"}}) is left empty instead of
// failing the record. encoding/json guarantees this: it skips a value it
// cannot store, decodes the rest and returns an *json.UnmarshalTypeError,
// which Decode ignores. Only eventName, eventSource and eventTime are
// required, as strings.
type cloudTrailRecord struct {
	EventTime          string `json:"eventTime"`
	EventID            string `json:"eventID"`
	EventName          string `json:"eventName"`
	EventSource        string `json:"eventSource"`
	AWSRegion          string `json:"awsRegion"`
	SourceIPAddress    string `json:"sourceIPAddress"`
	UserAgent          string `json:"userAgent"`
	ErrorCode          string `json:"errorCode"`
	ErrorMessage       string `json:"errorMessage"`
	RecipientAccountID string `json:"recipientAccountId"`
	UserIdentity       struct {
		Type           string `json:"type"`
		ARN            string `json:"arn"`
		AccountID      string `json:"accountId"`
		UserName       string `json:"userName"`
		PrincipalID    string `json:"principalId"`
		InvokedBy      string `json:"invokedBy"`
		SessionContext struct {
			SessionIssuer struct {
				ARN string `json:"arn"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	RequestParameters *cloudTrailTarget `json:"requestParameters"`
	ResponseElements  *struct {
		ConsoleLogin string `json:"ConsoleLogin"`
	} `json:"responseElements"`
}

// cloudTrailTarget lists requestParameters keys that name the resource an
// API call acts on, in order of preference.
type cloudTrailTarget struct {
	FunctionName string `json:"functionName"`
	LayerName    string `json:"layerName"`
	SecretID     string `json:"secretId"`
	UserName     string `json:"userName"`
	RoleName     string `json:"roleName"`
	GroupName    string `json:"groupName"`
	PolicyArn    string `json:"policyArn"`
	BucketName   string `json:"bucketName"`
	Name         string `json:"name"`
	TrailName    string `json:"trailName"`
	InstanceID   string `json:"instanceId"`
	KeyID        string `json:"keyId"`
}

func (t *cloudTrailTarget) first() string {
	if t == nil {
		return ""
	}
	for _, s := range [...]string{t.FunctionName, t.LayerName, t.SecretID, t.UserName, t.RoleName,
		t.GroupName, t.PolicyArn, t.BucketName, t.Name, t.TrailName, t.InstanceID, t.KeyID} {
		if s != "" {
			return s
		}
	}
	return ""
}

// CloudTrail decodes AWS CloudTrail records (one record, as found in the
// Records array of a CloudTrail S3 file or the detail of an EventBridge
// event). Its id is the record's eventID; a record without one gets a
// content hash (event.ContentID), and is still deduplicated within a
// request like a record with an eventID.
type CloudTrail struct{}

// Envelopes implements Enveloped: CloudTrail records arrive in S3 files
// and EventBridge events.
func (CloudTrail) Envelopes() Envelope { return EnvelopeCloudTrailFile | EnvelopeEventBridge }

// Decode implements Decoder.
func (CloudTrail) Decode(rec []byte, ev *event.Event) error {
	var r cloudTrailRecord
	if err := json.Unmarshal(rec, &r); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return fmt.Errorf("cloudtrail record: %w", jsonError(err))
		}
		// A field of an unexpected type is left empty; see cloudTrailRecord.
	}
	if r.EventName == "" || r.EventSource == "" {
		return fmt.Errorf("cloudtrail record: eventName and eventSource are required, as strings")
	}
	if r.EventTime == "" {
		return fmt.Errorf("cloudtrail record: eventTime is required, as an RFC 3339 string")
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return fmt.Errorf("cloudtrail record: eventTime %q: %w", r.EventTime, err)
	}
	if err := checkTime("eventTime", r.EventTime, t); err != nil {
		return fmt.Errorf("cloudtrail record: %w", err)
	}
	id := r.EventID
	if id == "" {
		id = event.ContentID("cloudtrail", rec)
	}
	ui := &r.UserIdentity
	*ev = event.Event{
		Time:      t.UTC(),
		Source:    "cloudtrail",
		EventID:   id,
		Account:   cmp.Or(r.RecipientAccountID, ui.AccountID),
		Region:    r.AWSRegion,
		Service:   r.EventSource,
		Actor:     cmp.Or(ui.ARN, ui.SessionContext.SessionIssuer.ARN, ui.UserName, ui.InvokedBy, ui.PrincipalID),
		SrcIP:     r.SourceIPAddress,
		UserAgent: r.UserAgent,
		Action:    r.EventName,
		Target:    r.RequestParameters.first(),
		Outcome:   event.OutcomeSuccess,
		ErrorCode: r.ErrorCode,
		Message:   r.ErrorMessage,
		Raw:       rec,
	}
	if r.ErrorCode != "" || (r.ResponseElements != nil && r.ResponseElements.ConsoleLogin == "Failure") {
		ev.Outcome = event.OutcomeFailure
	}
	return nil
}
