package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// Rejecter keeps the records that could not be ingested, with the reason,
// where an operator can inspect and replay them (the bus's dead-letter
// subject tl.deadletter.ingest.<source>). Reject returns once the record
// is stored.
type Rejecter interface {
	Reject(ctx context.Context, source, reason string, rec []byte, err error) error
}

// Bounds on what is kept of a rejected record: attacker-sized records and
// error texts quoting them must not make an answer, a log line or a
// dead letter unbounded.
const (
	maxErrorsShown  = 10        // rejected records described in an answer
	maxRejectCopy   = 256 << 10 // bytes of a record dead-lettered
	maxErrorTextLen = 1 << 10   // bytes of an error text shown
)

// rejected is one record of a request that was not ingested.
type rejected struct {
	source, reason string
	err            error
	line           int // 0 when the record has no line of its own
	rec            []byte
}

// intake collects what one request yields: events by source, each id
// once, and the rejected records.
type intake struct {
	now      time.Time
	bySource map[string][]event.Event
	seen     map[string]int // times each source and id was added
	rejects  []rejected
	accepted int
}

func newIntake() *intake {
	return &intake{now: time.Now().UTC(), bySource: map[string][]event.Event{}, seen: map[string]int{}}
}

// add keeps ev unless an event of its source with its id was added: the
// same record twice in one request is stored once.
func (in *intake) add(ev event.Event) {
	key := ev.Source + "\x00" + ev.EventID
	if in.seen[key]++; in.seen[key] > 1 {
		return
	}
	ev.IngestedAt = in.now
	in.bySource[ev.Source] = append(in.bySource[ev.Source], ev)
}

// addNumbered keeps ev, an event whose id is a content hash (see
// ContentIDs): the n-th repeat of an id in the request is a distinct
// event with the id "<id>-<n>".
func (in *intake) addNumbered(ev event.Event) {
	if n := in.seen[ev.Source+"\x00"+ev.EventID]; n > 0 {
		in.seen[ev.Source+"\x00"+ev.EventID]++
		ev.EventID += "-" + strconv.Itoa(n)
	}
	in.add(ev)
}

// reject records that rec of source was not ingested; err says why and
// reason is its metric label.
func (in *intake) reject(source, reason string, rec []byte, err error) {
	in.rejects = append(in.rejects, rejected{source: source, reason: reason, err: err, rec: rec[:min(len(rec), maxRejectCopy)]})
}

// rejectRecord records a record that splitRecords skipped.
func (in *intake) rejectRecord(source string, re *RecordError, rec []byte) {
	reason := "bad_record"
	if r, ok := errors.AsType[*Rejection](re.Err); ok {
		reason = r.Reason
	}
	in.rejects = append(in.rejects, rejected{source: source, reason: reason, err: re, line: re.Line, rec: rec[:min(len(rec), maxRejectCopy)]})
}

// finish dead-letters the rejected records and stores the events. A
// request whose every record was rejected is answered 400 with the first
// rejection; one with some events stored is answered 200 with the
// rejections listed. Either way no record is dropped unsaid: a record is
// stored, or dead-lettered (its first 256 KiB) and named in the answer, or
// the answer is 503 and the sender retries.
func (h *Handler) finish(ctx context.Context, in *intake) *httpError {
	if herr := h.deadLetter(ctx, in); herr != nil {
		return herr
	}
	if len(in.bySource) == 0 && len(in.rejects) > 0 {
		first := in.rejects[0]
		code := http.StatusBadRequest
		if first.reason == "record_too_large" {
			code = http.StatusRequestEntityTooLarge
		}
		return &httpError{code: code, reason: first.reason, err: clipError(first.err), line: first.line, rejected: len(in.rejects)}
	}
	for _, source := range slices.Sorted(maps.Keys(in.bySource)) {
		evs := in.bySource[source]
		if err := h.cfg.Publisher.PublishEvents(ctx, source, evs); err != nil {
			return &httpError{code: http.StatusServiceUnavailable, reason: "publish", err: fmt.Errorf("events not stored, retry: %w", err)}
		}
		h.cfg.Metrics.Accepted(source, len(evs))
		in.accepted += len(evs)
	}
	return nil
}

// deadLetter keeps the rejected records of in, counted, and logs one line
// for them.
func (h *Handler) deadLetter(ctx context.Context, in *intake) *httpError {
	if len(in.rejects) == 0 {
		return nil
	}
	for _, rj := range in.rejects {
		if err := h.cfg.Rejecter.Reject(ctx, rj.source, rj.reason, rj.rec, clipError(rj.err)); err != nil {
			return &httpError{code: http.StatusServiceUnavailable, reason: "publish", err: fmt.Errorf("rejected record not kept, retry: %w", err)}
		}
		h.cfg.Metrics.RejectedRecord(rj.source, rj.reason)
	}
	first := in.rejects[0]
	h.cfg.Log.Info("ingest records rejected", "records", len(in.rejects), "source", first.source,
		"reason", first.reason, "first", clipError(first.err))
	return nil
}

// clipError shortens the text of err to maxErrorTextLen bytes.
func clipError(err error) error {
	if msg := err.Error(); len(msg) > maxErrorTextLen {
		return errors.New(clip([]byte(msg), maxErrorTextLen))
	}
	return err
}

// answer is the body of a 200: the events stored and the records
// rejected (dead-lettered), the first few described.
func (in *intake) answer() map[string]any {
	body := map[string]any{"accepted": in.accepted}
	if len(in.rejects) == 0 {
		return body
	}
	body["rejected"] = len(in.rejects)
	var errs []map[string]any
	for _, rj := range in.rejects[:min(len(in.rejects), maxErrorsShown)] {
		e := map[string]any{"reason": rj.reason, "error": clipError(rj.err).Error()}
		if rj.line > 0 {
			e["line"] = rj.line
		}
		errs = append(errs, e)
	}
	body["errors"] = errs
	return body
}

// logRejecter only logs rejected records (HTTPConfig.Rejecter unset).
type logRejecter struct{ log *slog.Logger }

func (l logRejecter) Reject(_ context.Context, source, reason string, rec []byte, err error) error {
	l.log.Warn("rejected record not kept: no dead-letter store", "source", source, "reason", reason, "err", err, "bytes", len(rec))
	return nil
}
