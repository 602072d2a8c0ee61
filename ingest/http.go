package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// Publisher stores decoded events durably. PublishEvents returns only once
// every event is stored.
type Publisher interface {
	PublishEvents(ctx context.Context, source string, evs []event.Event) error
}

// HTTPConfig configures the ingest endpoints.
type HTTPConfig struct {
	// MaxBodyBytes caps a body, before and after decompression.
	MaxBodyBytes int64
	// MaxRecordBytes caps one record.
	MaxRecordBytes int64
	// AuthToken, when set, must be presented as a bearer token.
	AuthToken string
	// Decoders are the sources by name.
	Decoders map[string]Decoder
	// Publisher stores the events.
	Publisher Publisher
	// Metrics counts records; nil counts nothing.
	Metrics *Metrics
	Log     *slog.Logger
}

// Handler serves POST /v1/ingest/{source}.
type Handler struct {
	cfg HTTPConfig
}

// NewHandler returns the ingest handler.
func NewHandler(cfg HTTPConfig) *Handler {
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Handler{cfg: cfg}
}

// Register adds the ingest routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/ingest/{source}", h.serveIngest)
}

// httpError is an error with the status code it answers with.
type httpError struct {
	code   int
	reason string // metric label
	err    error
	line   int
}

func (e *httpError) Error() string { return e.err.Error() }

func (h *Handler) serveIngest(w http.ResponseWriter, r *http.Request) {
	source := r.PathValue("source")
	n, herr := h.ingest(r, source)
	if herr != nil {
		h.cfg.Metrics.Rejected(source, herr.reason)
		if herr.code >= 500 {
			h.cfg.Log.Error("ingest failed", "source", source, "err", herr.err)
			w.Header().Set("Retry-After", "1")
		} else {
			h.cfg.Log.Info("ingest rejected", "source", source, "status", herr.code, "reason", herr.reason, "err", herr.err, "remote", r.RemoteAddr)
		}
		body := map[string]any{"error": herr.err.Error()}
		if herr.line > 0 {
			body["line"] = herr.line
		}
		writeJSON(w, herr.code, body)
		return
	}
	h.cfg.Metrics.Accepted(source, n)
	writeJSON(w, http.StatusOK, map[string]int{"accepted": n})
}

func (h *Handler) ingest(r *http.Request, source string) (int, *httpError) {
	if !h.authorized(r) {
		return 0, &httpError{code: http.StatusUnauthorized, reason: "auth", err: errors.New("missing or wrong bearer token")}
	}
	dec, ok := h.cfg.Decoders[source]
	if !ok {
		return 0, &httpError{code: http.StatusNotFound, reason: "unknown_source", err: fmt.Errorf("unknown source %q", source)}
	}
	framing, herr := framingOf(r.Header.Get("Content-Type"))
	if herr != nil {
		return 0, herr
	}
	body, herr := h.readBody(r)
	if herr != nil {
		return 0, herr
	}
	now := time.Now().UTC()
	var evs []event.Event
	seen := map[string]struct{}{}
	err := SplitRecords(body, framing, func(rec []byte) error {
		if int64(len(rec)) > h.cfg.MaxRecordBytes {
			return fmt.Errorf("%w: %d bytes, limit %d", errRecordTooLarge, len(rec), h.cfg.MaxRecordBytes)
		}
		var ev event.Event
		if err := dec.Decode(rec, &ev); err != nil {
			return err
		}
		if _, dup := seen[ev.EventID]; dup {
			return nil // the same record twice in one request is stored once
		}
		seen[ev.EventID] = struct{}{}
		ev.IngestedAt = now
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		var re *RecordError
		line := 0
		if errors.As(err, &re) {
			line = re.Line
		}
		if errors.Is(err, errRecordTooLarge) {
			return 0, &httpError{code: http.StatusRequestEntityTooLarge, reason: "record_too_large", err: err, line: line}
		}
		return 0, &httpError{code: http.StatusBadRequest, reason: "bad_record", err: err, line: line}
	}
	if len(evs) > 0 {
		if err := h.cfg.Publisher.PublishEvents(r.Context(), source, evs); err != nil {
			return 0, &httpError{code: http.StatusServiceUnavailable, reason: "publish", err: fmt.Errorf("events not stored, retry: %w", err)}
		}
	}
	return len(evs), nil
}

var errRecordTooLarge = errors.New("record too large")

func (h *Handler) authorized(r *http.Request) bool {
	if h.cfg.AuthToken == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.AuthToken)) == 1
}

func framingOf(contentType string) (Framing, *httpError) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch mt {
		case "application/json":
			return FrameJSON, nil
		case "application/x-ndjson", "application/jsonl", "text/plain":
			return FrameNDJSON, nil
		}
	}
	return 0, &httpError{code: http.StatusUnsupportedMediaType, reason: "content_type",
		err: fmt.Errorf("unsupported Content-Type %q: use application/json, application/x-ndjson or text/plain", contentType)}
}

// readBody reads the body, gunzipping it when asked, and enforces the size
// limit on both the wire bytes and the decompressed bytes.
func (h *Handler) readBody(r *http.Request) ([]byte, *httpError) {
	limit := h.cfg.MaxBodyBytes
	tooLarge := func(what string) *httpError {
		return &httpError{code: http.StatusRequestEntityTooLarge, reason: "body_too_large",
			err: fmt.Errorf("%s exceeds the limit of %d bytes", what, limit)}
	}
	if r.ContentLength > limit {
		return nil, tooLarge("body")
	}
	raw, err := readLimited(r.Body, limit)
	if errors.Is(err, errLimit) {
		return nil, tooLarge("body")
	}
	if err != nil {
		return nil, &httpError{code: http.StatusBadRequest, reason: "read", err: fmt.Errorf("reading body: %w", err)}
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, &httpError{code: http.StatusBadRequest, reason: "gzip", err: fmt.Errorf("gzip: %w", err)}
		}
		raw, err = readLimited(zr, limit)
		if errors.Is(err, errLimit) {
			return nil, tooLarge("decompressed body")
		}
		if err != nil {
			return nil, &httpError{code: http.StatusBadRequest, reason: "gzip", err: fmt.Errorf("gzip body is corrupt or truncated: %w", err)}
		}
	default:
		return nil, &httpError{code: http.StatusUnsupportedMediaType, reason: "content_encoding",
			err: fmt.Errorf("unsupported Content-Encoding %q: use gzip or none", enc)}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, &httpError{code: http.StatusBadRequest, reason: "empty", err: errors.New("empty body")}
	}
	return raw, nil
}

var errLimit = errors.New("over the size limit")

// readLimited reads r to the end, failing with errLimit past limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errLimit
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
