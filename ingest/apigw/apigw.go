// Package apigw decodes Amazon API Gateway logs into normalized events:
// access-log lines (source "apigateway") in any JSON format a stage's
// access-log template defines, in the console's CLF, CSV and XML presets,
// and, minimally, execution-log lines.
//
// # Access logs
//
// API Gateway writes one access-log line per request, from a template of
// $context variables the API owner chooses. JSON and XML records are read
// by key: Config.KeyMap says which key holds which normalized field, with
// defaults that cover the console presets of REST, HTTP and WebSocket APIs
// and common hand-written names (see DefaultKeys). CLF and CSV lines are
// read by position, as the console presets place the variables.
//
// API Gateway renders a missing value as "-"; it counts as absent in
// every field. Numbers may be JSON numbers or numeric strings.
//
// The event id is the record's requestId ($context.requestId, unique per
// request), else a content hash of the record. Decoder reports
// ContentIDs, so that identical lines without a request id stay distinct
// events: a request id repeated within one ingest request gets a "-<n>"
// suffix instead of being dropped.
//
// # Execution logs
//
// Execution logs (log group API-Gateway-Execution-Logs_<apiId>/<stage>)
// are free text, many lines per request: "(<requestId>) <message>".
// DecodeMessage reads them with the API id and stage from the log group;
// Decode reads them without.
package apigw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// Source is the source name of API Gateway events.
const Source = "apigateway"

// Decoder decodes API Gateway access-log and execution-log records. It
// implements the ingest package's Decoder, ContentIDs and LineRecords.
type Decoder struct {
	// Config names the keys of JSON and XML access-log records.
	Config Config
	// Now supplies the time of records that carry none; with a nil Now
	// such records are rejected.
	Now func() time.Time
}

// ContentIDs reports true: records without a requestId get a content
// hash as their id, and identical lines are distinct events (see the
// package documentation).
func (Decoder) ContentIDs() bool { return true }

// LineRecords reports true: a text body holds one record per line, JSON
// or text.
func (Decoder) LineRecords() bool { return true }

// Decode decodes one access-log record (a JSON object, or a CLF, CSV or
// XML preset line) or one execution-log line "(<requestId>) <message>".
// A record without a time gets d.Now().
func (d Decoder) Decode(rec []byte, ev *event.Event) error {
	return d.decode(rec, "", time.Time{}, ev)
}

// DecodeMessage decodes one CloudWatch Logs message of logGroup, logged at
// ts. The lines of an execution log group (IsExecutionLogGroup) are
// execution-log lines, whatever their shape, with the API id and stage of
// the group; other lines are decoded as by Decode. ts is the time of a
// record that carries none.
//
// An execution line's event id is a content hash of its text, log group
// and ts: the caller should replace it with the CloudWatch Logs event id,
// which tells apart identical lines logged in the same millisecond.
// Access-log lines keep their requestId as id.
func (d Decoder) DecodeMessage(msg, logGroup string, ts time.Time, ev *event.Event) error {
	if api, stage, ok := ExecutionLogGroup(logGroup); ok {
		return d.decodeExecution(strings.TrimSpace(msg), execContext{group: logGroup, api: api, stage: stage, ts: ts}, ev)
	}
	return d.decode([]byte(msg), logGroup, ts, ev)
}

func (d Decoder) decode(rec []byte, logGroup string, ts time.Time, ev *event.Event) error {
	line := bytes.TrimSpace(rec)
	if len(line) == 0 {
		return errors.New("apigateway record: empty")
	}
	var (
		f   fields
		raw []byte
		err error
	)
	switch line[0] {
	case '{':
		raw, err = d.readJSON(line, &f)
	case '[':
		if json.Valid(line) {
			return errors.New("apigateway record: a JSON array is not a record; send one object per line")
		}
		raw, err = readText(line, &f)
	case '<':
		raw, err = d.readXML(line, &f)
	case '(':
		if id, _, ok := cutRequestID(string(line)); ok && id != "" {
			return d.decodeExecution(string(line), execContext{ts: ts}, ev)
		}
		raw, err = readText(line, &f)
	default:
		raw, err = readText(line, &f)
	}
	if err != nil {
		return fmt.Errorf("apigateway record: %w", err)
	}
	if err := d.normalize(&f, raw, ts, ev); err != nil {
		return fmt.Errorf("apigateway record: %w", err)
	}
	return nil
}

// readJSON reads a JSON access-log record; raw is the record, repaired
// when a template's unquoted $context variable rendered as a bare "-".
func (d Decoder) readJSON(line []byte, f *fields) ([]byte, error) {
	if !json.Valid(line) {
		fixed, ok := repairDashes(line)
		if !ok || !json.Valid(fixed) {
			var v any
			err := json.Unmarshal(line, &v) // for the error's text
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		line = fixed
	}
	f.keyed = true
	d.resolveJSON(line, f)
	if !f.found {
		return nil, errors.New("no access-log key (requestId, ip, httpMethod, status, ...); " +
			"set key_map to the keys of the stage's access-log format")
	}
	return line, nil
}

// normalize fills ev from the fields of an access-log record.
func (d Decoder) normalize(f *fields, raw []byte, ts time.Time, ev *event.Event) error {
	v := &f.val
	*ev = event.Event{
		Source:    Source,
		EventID:   v[roleRequestID],
		Account:   v[roleAccount],
		Region:    v[roleRegion],
		Actor:     v[roleActor],
		SrcIP:     v[roleSrcIP],
		UserAgent: v[roleUserAgent],
		Action:    v[roleMethod],
		Raw:       raw,
	}
	if ev.EventID == "" {
		ev.EventID = event.ContentID(Source, raw)
	}
	t, err := d.recordTime(f, ts)
	if err != nil {
		return err
	}
	ev.Time = t
	method, target := splitRoute(v[rolePath])
	ev.Target = target
	if ev.Action == "" && method != "ANY" {
		ev.Action = method
	}
	if ev.StatusCode, err = parseStatus(f.key[roleStatus], v[roleStatus]); err != nil {
		return err
	}
	if ev.BytesOut, err = parseCount(f.key[roleBytesOut], v[roleBytesOut]); err != nil {
		return err
	}
	if ev.DurationMS, err = parseDuration(f.key[roleDuration], v[roleDuration]); err != nil {
		return err
	}
	apiID, region := fromDomain(v[roleDomain])
	if v[roleAPIID] != "" {
		apiID = v[roleAPIID]
	}
	if ev.Region == "" {
		ev.Region = region
	}
	ev.Service = service(apiID, v[roleStage], v[roleDomain])
	ev.Message = v[roleError]
	ev.ErrorCode = v[roleErrorType]
	if ev.ErrorCode == "" {
		ev.ErrorCode = v[roleError]
	}
	switch {
	case ev.StatusCode >= 400:
		ev.Outcome = event.OutcomeFailure
	case ev.StatusCode > 0:
		ev.Outcome = event.OutcomeSuccess
	case ev.ErrorCode != "":
		ev.Outcome = event.OutcomeFailure
	}
	return nil
}

// recordTime is the record's time_epoch, else its time, else ts, else
// d.Now.
func (d Decoder) recordTime(f *fields, ts time.Time) (time.Time, error) {
	if s := f.val[roleTimeEpoch]; s != "" {
		return parseEpoch(f.key[roleTimeEpoch], s)
	}
	if s := f.val[roleTime]; s != "" {
		t, err := parseTime(f.key[roleTime], s)
		if errors.Is(err, errNotTime) && f.keyed {
			err = fmt.Errorf("%w; if another key holds the request time, set key_map time", err)
		}
		return t, err
	}
	if !ts.IsZero() && inRange(ts) {
		return ts.UTC(), nil
	}
	if d.Now == nil {
		return time.Time{}, errors.New("no time in the record and no clock to supply one")
	}
	t := d.Now().UTC()
	if !inRange(t) {
		return time.Time{}, fmt.Errorf("clock time %s is out of range (1970–2105)", t.Format(time.RFC3339))
	}
	return t, nil
}

// service names what a responder acts on: "<apiId>/<stage>", the API id
// without a stage, else the domain name.
func service(apiID, stage, domain string) string {
	switch {
	case apiID != "" && stage != "":
		return apiID + "/" + stage
	case apiID != "":
		return apiID
	}
	return domain
}

// fromDomain reads the API id and region of a default endpoint domain,
// <apiId>.execute-api.<region>.amazonaws.com[.cn].
func fromDomain(domain string) (apiID, region string) {
	lower := strings.ToLower(domain)
	if len(lower) != len(domain) {
		return "", "" // not ASCII: no AWS endpoint
	}
	id, rest, ok := strings.Cut(lower, ".execute-api.")
	if !ok || id == "" || strings.Contains(id, ".") {
		return "", ""
	}
	region, suffix, ok := strings.Cut(rest, ".")
	if !ok || region == "" || !strings.HasPrefix(suffix, "amazonaws.com") {
		return "", ""
	}
	return domain[:len(id)], region
}

// splitRoute splits an HTTP API route key "GET /pets/{id}" into its
// method and path; another path is returned as it is.
func splitRoute(p string) (method, path string) {
	m, rest, ok := strings.Cut(p, " ")
	if !ok || m == "" || !strings.HasPrefix(rest, "/") {
		return "", p
	}
	for _, c := range []byte(m) {
		if c < 'A' || c > 'Z' {
			return "", p
		}
	}
	return m, rest
}
