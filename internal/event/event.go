// Package event defines the normalized event that every source decodes into
// and the finding that detection produces from it.
//
// An Event is decoded once, at ingest. It carries the normalized fields that
// cross-source rules use and the original record (Raw), whose own field names
// source-specific rules use.
package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Outcome values of Event.Outcome.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// Event is one normalized log record.
type Event struct {
	// Time is when the record says it happened (UTC).
	Time time.Time `json:"time"`
	// Source is the ingest source name, e.g. "cloudtrail" or "json".
	Source string `json:"source"`
	// EventID is stable across retries: the source's own id where it has
	// one (CloudTrail eventID), else a content hash of Raw.
	EventID string `json:"event_id"`
	// Account is the cloud account or project the event belongs to.
	Account string `json:"account,omitempty"`
	// Region is the cloud region.
	Region string `json:"region,omitempty"`
	// Service is the function or service name (for CloudTrail the AWS
	// service endpoint, e.g. lambda.amazonaws.com).
	Service string `json:"service,omitempty"`
	// Actor is the principal that acted (an ARN, user or service account).
	Actor string `json:"actor,omitempty"`
	// SrcIP is the client address.
	SrcIP string `json:"src_ip,omitempty"`
	// UserAgent is the client's user agent.
	UserAgent string `json:"user_agent,omitempty"`
	// Action is what was done (CloudTrail eventName, HTTP method, verb).
	Action string `json:"action,omitempty"`
	// Target is what it was done to (a function, resource ARN, URL path).
	Target string `json:"target,omitempty"`
	// Outcome is OutcomeSuccess, OutcomeFailure or empty when unknown.
	Outcome string `json:"outcome,omitempty"`
	// StatusCode is the HTTP-style status, 0 when absent.
	StatusCode int `json:"status_code,omitempty"`
	// ErrorCode is the source's error code, e.g. AccessDenied.
	ErrorCode string `json:"error_code,omitempty"`
	// BytesOut is the response size in bytes.
	BytesOut int64 `json:"bytes_out,omitempty"`
	// DurationMS is the duration of the request or invocation.
	DurationMS float64 `json:"duration_ms,omitempty"`
	// Message is the human-readable text of the record, if any.
	Message string `json:"message,omitempty"`
	// IngestedAt is when Tripline accepted the record.
	IngestedAt time.Time `json:"ingested_at"`
	// Raw is the original record as received (JSON, or a JSON string for
	// line formats).
	Raw json.RawMessage `json:"raw"`
}

// ContentID returns a stable id for a record without one of its own: the
// first 128 bits of the SHA-256 of source and content, hex encoded.
func ContentID(source string, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write(raw)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
