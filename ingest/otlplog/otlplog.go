// Package otlplog decodes OTLP/HTTP log export requests
// (ExportLogsServiceRequest, POST /v1/logs, protobuf or JSON) into
// normalized events of the source "otlp", and encodes the responses the
// OTLP/HTTP specification asks for.
//
// It holds pure functions only: the HTTP handler in package ingest reads,
// authenticates, gunzips and size-limits the body, calls Decode, publishes
// the events and answers with Response (200, partial success) or Status
// (an error).
//
// # Events
//
// Every LogRecord, with its Resource and InstrumentationScope, becomes one
// event: Time is time_unix_nano, else observed_time_unix_nano, else the
// ingest clock; Message is the body (a map or array body as JSON);
// Outcome is failure for a severity of ERROR or worse or an HTTP status
// of 400 or more, success for a lower status; the other normalized
// fields come from semantic-convention attributes (the list is in
// record.go), and Raw holds the whole record (its layout is in raw.go).
//
// A record that cannot become an event (too large, a time storage
// cannot hold) is a Rejection: the others are still accepted, and the
// response reports a partial success, which the client must not retry.
// A body that cannot be parsed at all fails the whole request with
// ErrBadRequest (400, not retried).
//
// # Event ids
//
// A record carrying the attribute log.record.uid (a semantic-convention
// unique id, 1 to 128 bytes) has that id as its event id; a later record
// of the same request with the same uid is a resend and is left out
// (neither an event nor a rejection). Any other record's id is the
// content hash event.ContentID("otlp", Raw), which covers its resource
// and scope; identical records in one request are distinct events, and
// the n-th repeat of a content id gets the id "<id>-<n>", as package
// ingest does for sources with content ids. The ids of Result.Events are
// therefore unique within the request and stable across retries.
package otlplog

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/tripline/tripline/internal/event"
)

// Source is the source name of the events.
const Source = "otlp"

// Content types of OTLP/HTTP bodies.
const (
	ContentTypeProto = "application/x-protobuf"
	ContentTypeJSON  = "application/json"
)

// DefaultMaxRecords is Limits.MaxRecords when unset; it matches
// ingest.DefaultMaxRecords.
const DefaultMaxRecords = 100_000

// maxUIDLen is the longest log.record.uid taken as an event id.
const maxUIDLen = 128

// Errors of Decode that fail the whole request.
var (
	// ErrBadRequest: the body is not an ExportLogsServiceRequest in its
	// content type (answer 400; the client must not retry).
	ErrBadRequest = errors.New("bad OTLP request")
	// ErrUnsupportedMediaType: the content type is neither protobuf nor
	// JSON (answer 415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrTooManyRecords: the request holds more log records than
	// Limits.MaxRecords (answer 413).
	ErrTooManyRecords = errors.New("too many log records")
)

// Reasons of rejections, for metric labels.
const (
	// ReasonRecordTooLarge: the record's Raw is over Limits.MaxRecordBytes.
	ReasonRecordTooLarge = "record_too_large"
	// ReasonBadTime: time_unix_nano or observed_time_unix_nano is at or
	// after 2106-01-01, which storage cannot hold.
	ReasonBadTime = "bad_time"
)

// Result is what one request decodes to.
type Result struct {
	// Events are the accepted records, in request order, with unique ids
	// and IngestedAt set.
	Events []event.Event
	// Rejected are the records that could not become events.
	Rejected []Rejection
}

// Rejection is one log record that could not become an event.
type Rejection struct {
	// Index is the record's position among all log records of the
	// request, from 0, counted across resources and scopes.
	Index int
	// Reason is ReasonRecordTooLarge or ReasonBadTime.
	Reason string
	// Err says what is wrong, naming the record and field.
	Err error
	// Record is the record with its resource and scope as a one-record
	// ExportLogsServiceRequest in OTLP JSON: a dead letter that can be
	// posted to /v1/logs again once the cause is fixed. It is not
	// truncated (a too-large record is as large as it was).
	Record []byte
}

// Message summarizes the rejections for the response's error_message:
// the count and the first rejection's error ("" when none).
func (r Result) Message() string {
	switch len(r.Rejected) {
	case 0:
		return ""
	case 1:
		return r.Rejected[0].Err.Error()
	}
	return fmt.Sprintf("%d log records rejected; first: %v", len(r.Rejected), r.Rejected[0].Err)
}

// Limits bound what one request may make.
type Limits struct {
	// MaxRecordBytes caps one record's Raw JSON (which includes its
	// resource and scope); a larger record is rejected with
	// ReasonRecordTooLarge. 0 or less means no limit.
	MaxRecordBytes int64
	// MaxRecords caps the log records of one request; more fail the
	// request with ErrTooManyRecords. 0 or less means DefaultMaxRecords.
	MaxRecords int
}

// Decode decodes an OTLP/HTTP logs request body of the given Content-Type
// (parameters such as charset are ignored) with Limits{MaxRecordBytes:
// maxRecordBytes} (see DecodeLimits). now is the time of records without
// any and every event's IngestedAt.
func Decode(body []byte, contentType string, maxRecordBytes int64, now time.Time) (Result, error) {
	return DecodeLimits(body, contentType, Limits{MaxRecordBytes: maxRecordBytes}, now)
}

// DecodeLimits decodes an OTLP/HTTP logs request body. It fails with
// ErrUnsupportedMediaType for a content type other than ContentTypeProto
// and ContentTypeJSON, ErrBadRequest (wrapped, saying what is wrong) for
// a body that does not parse, and ErrTooManyRecords; otherwise every log
// record becomes an event or a rejection.
func DecodeLimits(body []byte, contentType string, lim Limits, now time.Time) (Result, error) {
	if lim.MaxRecords <= 0 {
		lim.MaxRecords = DefaultMaxRecords
	}
	ct, err := mediaType(contentType)
	if err != nil {
		return Result{}, err
	}
	req := plogotlp.NewExportRequest()
	switch ct {
	case ContentTypeProto:
		// Count first: a record can take 2 bytes of protobuf and far more
		// memory once unmarshaled. A body the count cannot walk is left
		// to UnmarshalProto to report.
		if n, ok := countProtoRecords(body); ok && n > lim.MaxRecords {
			return Result{}, tooMany(n, lim.MaxRecords)
		}
		if err := req.UnmarshalProto(body); err != nil {
			return Result{}, fmt.Errorf("%w: protobuf body is not an ExportLogsServiceRequest: %w", ErrBadRequest, err)
		}
	case ContentTypeJSON:
		n, end := scanJSON(body)
		if n > lim.MaxRecords {
			return Result{}, tooMany(n, lim.MaxRecords)
		}
		if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
			return Result{}, fmt.Errorf("%w: JSON body is not an object, want an ExportLogsServiceRequest", ErrBadRequest)
		}
		// pdata stops at the end of the object; data after it (a second
		// request appended) would be lost without a word.
		if end > 0 && len(bytes.TrimSpace(body[end:])) > 0 {
			return Result{}, fmt.Errorf("%w: data after the request object at byte %d; send one ExportLogsServiceRequest per request", ErrBadRequest, end)
		}
		if err := req.UnmarshalJSON(body); err != nil {
			return Result{}, fmt.Errorf("%w: JSON body is not an ExportLogsServiceRequest: %w", ErrBadRequest, jsonError{err})
		}
	}
	logs := req.Logs()
	if n := logs.LogRecordCount(); n > lim.MaxRecords {
		return Result{}, tooMany(n, lim.MaxRecords)
	}
	return decodeLogs(logs, lim, now.UTC()), nil
}

// jsonError shortens a pdata (json-iterator) error: its message repeats
// up to 100 bytes of the body, newlines included, as "bigger context";
// the short excerpt before that is enough to find the fault.
type jsonError struct{ err error }

func (e jsonError) Error() string {
	msg, _, _ := strings.Cut(e.err.Error(), ", bigger context ")
	return msg
}

func (e jsonError) Unwrap() error { return e.err }

// mediaType returns the canonical content type of a Content-Type header.
func mediaType(contentType string) (string, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch mt {
		case ContentTypeProto, ContentTypeJSON:
			return mt, nil
		}
	}
	return "", fmt.Errorf("%w: Content-Type %q, want %s or %s", ErrUnsupportedMediaType,
		contentType, ContentTypeProto, ContentTypeJSON)
}

// decodeLogs turns every record into an event or a rejection.
func decodeLogs(logs plog.Logs, lim Limits, now time.Time) Result {
	res := Result{Events: make([]event.Event, 0, logs.LogRecordCount())}
	seen := map[string]int{} // times each id was made
	var enc rawEncoder
	index := 0
	rls := logs.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		ctx := recordContext{resource: rl.Resource().Attributes()}
		ctx.resourceJSON = enc.appendMap(nil, ctx.resource)
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			ctx.scope = sl.Scope()
			lrs := sl.LogRecords()
			for k := range lrs.Len() {
				lr := lrs.At(k)
				ev, reason, err := ctx.decode(&enc, lr, lim.MaxRecordBytes, now)
				if err != nil {
					res.Rejected = append(res.Rejected, Rejection{
						Index:  index,
						Reason: reason,
						Err:    fmt.Errorf("log record %d: %w", index+1, err), // 1-based for people
						Record: oneRecord(rl, sl, lr),
					})
					index++
					continue
				}
				index++
				n := seen[ev.EventID]
				seen[ev.EventID] = n + 1
				if n > 0 {
					if !ev.contentID {
						continue // the same uid twice: a resend
					}
					ev.EventID += "-" + strconv.Itoa(n)
				}
				ev.IngestedAt = now
				res.Events = append(res.Events, ev.Event)
			}
		}
	}
	return res
}

// oneRecord returns lr with its resource and scope as a one-record
// ExportLogsServiceRequest in OTLP JSON.
func oneRecord(rl plog.ResourceLogs, sl plog.ScopeLogs, lr plog.LogRecord) []byte {
	ld := plog.NewLogs()
	orl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().CopyTo(orl.Resource())
	orl.SetSchemaUrl(rl.SchemaUrl())
	osl := orl.ScopeLogs().AppendEmpty()
	sl.Scope().CopyTo(osl.Scope())
	osl.SetSchemaUrl(sl.SchemaUrl())
	lr.CopyTo(osl.LogRecords().AppendEmpty())
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
	if err != nil {
		return nil
	}
	return b
}
