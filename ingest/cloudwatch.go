package ingest

import (
	"context"
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
// log group decides each line's source: /aws/lambda/<fn> is "lambda", a
// group whose name contains "cloudtrail" holds CloudTrail records, and
// anything else is "json" (a line that is not a JSON object becomes
// {"message": line}). A log event's id is its CloudWatch Logs id, so a
// redelivered batch stores nothing twice. Control messages are accepted
// and dropped.
func (h *Handler) serveCloudWatch(w http.ResponseWriter, r *http.Request) {
	n, herr := h.ingestCloudWatch(r)
	h.respond(w, r, "cloudwatch", n, herr)
}

func (h *Handler) ingestCloudWatch(r *http.Request) (int, *httpError) {
	if !h.authorized(r) {
		return 0, &httpError{code: http.StatusUnauthorized, reason: "auth", err: errors.New("missing or wrong bearer token")}
	}
	body, release, herr := h.readRequest(r)
	if herr != nil {
		return 0, herr
	}
	defer release()
	batch, err := cwlogs.Decode(body, h.cfg.MaxBodyBytes)
	if errors.Is(err, cwlogs.ErrTooLarge) {
		return 0, h.tooLarge("decompressed subscription payload")
	}
	if err != nil {
		return 0, &httpError{code: http.StatusBadRequest, reason: "bad_record", err: err}
	}
	if batch.MessageType == cwlogs.ControlMessage {
		return 0, nil
	}
	if len(batch.LogEvents) > h.cfg.MaxRecords {
		return 0, &httpError{code: http.StatusRequestEntityTooLarge, reason: "too_many_records",
			err: fmt.Errorf("more than %d log events in one request", h.cfg.MaxRecords)}
	}
	out := newSourceBatches()
	if herr := h.addLogEvents(batch, out); herr != nil {
		return 0, herr
	}
	return h.publishAll(r.Context(), out)
}

// sourceBatches collects a request's events by source, once per id.
type sourceBatches struct {
	now      time.Time
	bySource map[string][]event.Event
	seen     map[string]bool
}

func newSourceBatches() *sourceBatches {
	return &sourceBatches{now: time.Now().UTC(), bySource: map[string][]event.Event{}, seen: map[string]bool{}}
}

func (s *sourceBatches) add(ev event.Event) {
	key := ev.Source + "\x00" + ev.EventID
	if s.seen[key] {
		return
	}
	s.seen[key] = true
	ev.IngestedAt = s.now
	s.bySource[ev.Source] = append(s.bySource[ev.Source], ev)
}

// addLogEvents decodes the log events of a data batch into out.
func (h *Handler) addLogEvents(batch *cwlogs.Batch, out *sourceBatches) *httpError {
	for i, le := range batch.LogEvents {
		if int64(len(le.Message)) > h.cfg.MaxRecordBytes {
			return &httpError{code: http.StatusRequestEntityTooLarge, reason: "record_too_large",
				err: fmt.Errorf("log event %d: %w: %d bytes, limit %d", i+1, errRecordTooLarge, len(le.Message), h.cfg.MaxRecordBytes)}
		}
		ev, err := h.decodeLogEvent(batch, le)
		if err != nil {
			return &httpError{code: http.StatusBadRequest, reason: "bad_record", err: fmt.Errorf("log event %d (id %q): %w", i+1, le.ID, err)}
		}
		out.add(ev)
	}
	return nil
}

// publishAll stores every source's events and counts them.
func (h *Handler) publishAll(ctx context.Context, out *sourceBatches) (int, *httpError) {
	n := 0
	for source, evs := range out.bySource {
		if err := h.cfg.Publisher.PublishEvents(ctx, source, evs); err != nil {
			return 0, &httpError{code: http.StatusServiceUnavailable, reason: "publish", err: fmt.Errorf("events not stored, retry: %w", err)}
		}
		h.cfg.Metrics.Accepted(source, len(evs))
		n += len(evs)
	}
	return n, nil
}

// decodeLogEvent decodes one log event with the decoder its log group
// calls for.
func (h *Handler) decodeLogEvent(b *cwlogs.Batch, le cwlogs.LogEvent) (event.Event, error) {
	var ev event.Event
	switch {
	case LambdaFunction(b.LogGroup) != "":
		// Decoded in memory: marshalling the record only for the decoder
		// to parse it again would double the work per line.
		r := LambdaRecord{LogGroup: b.LogGroup, LogStream: b.LogStream, Owner: b.Owner,
			ID: le.ID, Timestamp: le.Timestamp, Message: le.Message}
		contentID := func() string {
			rec, _ := json.Marshal(&r) // called before the parsed line is added
			return event.ContentID("lambda", rec)
		}
		err := Lambda{}.decodeRecord(&r, contentID, &ev)
		return ev, err
	case strings.Contains(strings.ToLower(b.LogGroup), "cloudtrail"):
		err := h.cfg.Decoders["cloudtrail"].Decode([]byte(le.Message), &ev)
		return ev, err
	}
	rec := []byte(strings.TrimSpace(le.Message))
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
	if le.ID != "" {
		ev.EventID = le.ID
	}
	if t := time.UnixMilli(le.Timestamp).UTC(); le.Timestamp > 0 && timeInRange(t) {
		ev.Time = t
	}
	if ev.Account == "" {
		ev.Account = b.Owner
	}
	if ev.Service == "" {
		ev.Service = b.LogGroup
	}
	return ev, nil
}
