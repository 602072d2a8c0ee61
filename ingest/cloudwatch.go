package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tripline/tripline/ingest/cwlogs"
	"github.com/tripline/tripline/internal/event"
)

// serveCloudWatch handles POST /v1/ingest/cloudwatch: one CloudWatch Logs
// subscription delivery (raw gzip bytes or {"awslogs":{"data":...}}). The
// log group decides each line's source (Handler.logGroupSource). A log
// event's id is its CloudWatch Logs id, so a redelivered batch stores
// nothing twice. Control messages are accepted and dropped. The endpoint's
// token admits every source a log group can be routed to.
func (h *Handler) serveCloudWatch(w http.ResponseWriter, r *http.Request) {
	in, herr := h.ingestCloudWatch(r)
	h.respond(w, r, "cloudwatch", in, herr)
}

func (h *Handler) ingestCloudWatch(r *http.Request) (*intake, *httpError) {
	if herr := h.authorize(r, "cloudwatch"); herr != nil {
		return nil, herr
	}
	body, release, herr := h.readRequest(r)
	if herr != nil {
		return nil, herr
	}
	defer release()
	in := newIntake()
	batch, err := cwlogs.Decode(body, h.cfg.MaxBodyBytes)
	switch {
	case errors.Is(err, cwlogs.ErrTooLarge):
		return nil, h.tooLarge("decompressed subscription payload")
	case err != nil:
		in.reject("cloudwatch", "bad_record", body, err)
	case batch.MessageType == cwlogs.ControlMessage:
		return in, nil
	case len(batch.LogEvents) > h.cfg.MaxRecords:
		return nil, &httpError{code: http.StatusRequestEntityTooLarge, reason: "too_many_records",
			err: fmt.Errorf("more than %d log events in one request", h.cfg.MaxRecords)}
	default:
		h.addLogEvents(batch, in, "")
	}
	if herr := h.finish(r.Context(), in); herr != nil {
		return nil, herr
	}
	return in, nil
}

// addLogEvents decodes the log events of a data batch into in; a log
// event that cannot be decoded is rejected alone. where names the batch
// in errors ("" or "record N: ").
func (h *Handler) addLogEvents(batch *cwlogs.Batch, in *intake, where string) {
	source := h.logGroupSource(batch.LogGroup, batch.LogStream)
	for i, le := range batch.LogEvents {
		if int64(len(le.Message)) > h.cfg.MaxRecordBytes {
			in.reject(source, "record_too_large", []byte(le.Message[:min(len(le.Message), maxRejectCopy)]),
				fmt.Errorf("%slog event %d: %w: %d bytes, limit %d", where, i+1, errRecordTooLarge, len(le.Message), h.cfg.MaxRecordBytes))
			continue
		}
		ev, err := h.decodeLogEvent(batch, le, source)
		if err != nil {
			in.reject(source, "bad_record", []byte(le.Message), fmt.Errorf("%slog event %d (id %.64q): %w", where, i+1, le.ID, err))
			continue
		}
		in.add(ev)
	}
}

// messageDecoder decodes a log line knowing its log group and time (the
// API Gateway decoder).
type messageDecoder interface {
	DecodeMessage(msg, logGroup string, ts time.Time, ev *event.Event) error
}

// looker says whether a line is one of its source's (an API Gateway
// access log line in a log group not named for it).
type looker interface {
	Looks(msg []byte) bool
}

// decodeLogEvent decodes one log event of b as source. The log event's id
// is unique and stable across redeliveries, so it is the event id of
// records without an id of their own: two identical lines stay two
// events, and a resent batch is stored once.
func (h *Handler) decodeLogEvent(b *cwlogs.Batch, le cwlogs.LogEvent, source string) (event.Event, error) {
	var ev event.Event
	switch source {
	case "lambda":
		// Decoded in memory: marshalling the record only for the decoder
		// to parse it again would double the work per line.
		r := LambdaRecord{LogGroup: b.LogGroup, LogStream: b.LogStream, Owner: b.Owner,
			ID: le.ID, Timestamp: le.Timestamp, Message: le.Message}
		contentID := func() string {
			rec, _ := json.Marshal(&r) // called before the parsed line is added
			return event.ContentID("lambda", rec)
		}
		err := Lambda{}.decodeRecord(&r, lambdaFunction(b.LogGroup), contentID, &ev)
		return ev, err
	case "cloudtrail":
		// CloudTrail records carry their own id and time.
		err := h.cfg.Decoders["cloudtrail"].Decode([]byte(le.Message), &ev)
		return ev, err
	case "apigateway":
		dec, ok := h.cfg.Decoders["apigateway"].(messageDecoder)
		if !ok {
			return ev, errors.New("no API Gateway decoder")
		}
		if err := dec.DecodeMessage(le.Message, b.LogGroup, time.UnixMilli(le.Timestamp).UTC(), &ev); err != nil {
			return ev, err
		}
		if le.ID != "" {
			ev.EventID = le.ID
		}
	case "json":
		rec := []byte(strings.TrimSpace(le.Message)) // one copy, for the sniff and the decoder
		if l, ok := h.cfg.Decoders["apigateway"].(looker); ok && l.Looks(rec) {
			return h.decodeLogEvent(b, le, "apigateway")
		}
		if len(rec) == 0 || rec[0] != '{' || !json.Valid(rec) {
			var err error
			rec, err = json.Marshal(map[string]any{"message": le.Message, "logGroup": b.LogGroup, "logStream": b.LogStream})
			if err != nil {
				return ev, err
			}
		}
		if err := h.cfg.Decoders["json"].Decode(rec, &ev); err != nil {
			return ev, err
		}
		if t := time.UnixMilli(le.Timestamp).UTC(); le.Timestamp > 0 && timeInRange(t) {
			ev.Time = t // the log event's time, for lack of a field naming it
		}
		if le.ID != "" {
			ev.EventID = le.ID
		}
	default:
		dec, ok := h.cfg.Decoders[source]
		if !ok {
			return ev, fmt.Errorf("log group %q is routed to unknown source %q", b.LogGroup, source)
		}
		if err := dec.Decode([]byte(strings.TrimSpace(le.Message)), &ev); err != nil {
			return ev, err
		}
		// A record with an id of its own keeps it (a Kubernetes audit
		// event's auditID and stage).
		if le.ID != "" && makesContentIDs(dec) {
			ev.EventID = le.ID
		}
	}
	if ev.Account == "" {
		ev.Account = b.Owner
	}
	if ev.Service == "" {
		ev.Service = b.LogGroup
	}
	return ev, nil
}
