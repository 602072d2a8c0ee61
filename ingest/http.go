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
	"runtime"
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
	// MaxRecords caps the records of one request (counted before repeats
	// are dropped). A body with more is answered 413 as soon as the
	// limit is passed, without decoding the rest: a body of tiny records
	// would otherwise make far more memory in events than it has bytes.
	// 0 means DefaultMaxRecords.
	MaxRecords int
	// MaxConcurrent caps the requests decoded at once. A request takes a
	// slot once its body has arrived (still compressed) and keeps it
	// through decompressing, decoding and publishing, so memory is about
	// MaxConcurrent × (the decompressed body and its events). When every
	// slot is busy, a request waits up to a second for one, else it is
	// answered 503 with Retry-After: 1. 0 means 2×GOMAXPROCS+2.
	MaxConcurrent int
	// FirehoseKeys are the access keys Amazon Data Firehose may present
	// in X-Amz-Firehose-Access-Key (AuthToken is accepted too).
	FirehoseKeys []string
	// AuthToken, when set, is accepted as a bearer token by every source.
	AuthToken string
	// SourceTokens are bearer tokens accepted by one source each, by
	// source name or one of Endpoints.
	SourceTokens map[string]string
	// RequireAuth refuses a request to a source that has no token (no
	// AuthToken nor its own): set when the listener is not loopback.
	RequireAuth bool
	// LogGroups route CloudWatch Logs groups to sources, before the
	// built-in choice (see Handler.logGroupSource).
	LogGroups []LogGroupRoute
	// Decoders are the sources by name.
	Decoders map[string]Decoder
	// Publisher stores the events.
	Publisher Publisher
	// Rejecter keeps the records that are not ingested.
	Rejecter Rejecter
	// Metrics counts records; nil counts nothing.
	Metrics *Metrics
	// Log receives a line per rejected or failed request; nil logs
	// nothing.
	Log *slog.Logger
}

// Endpoints are the ingest endpoints that are not a source of their own
// and take a token of their own (HTTPConfig.SourceTokens): CloudWatch Logs
// subscriptions, Firehose (an access key) and OTLP/HTTP (/v1/logs).
var Endpoints = []string{"cloudwatch", "firehose", "otlp"}

// DefaultMaxRecords is HTTPConfig.MaxRecords when unset.
const DefaultMaxRecords = 100_000

// slotWait is how long a request waits for a decoding slot.
const slotWait = time.Second

// Handler serves the HTTP ingest endpoints (see Register).
type Handler struct {
	cfg    HTTPConfig
	routes logGroupRoutes
	slots  chan struct{} // one per request being decoded
}

// NewHandler returns the ingest handler, or an error naming a log group
// route that is not usable.
func NewHandler(cfg HTTPConfig) (*Handler, error) {
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rejecter == nil {
		cfg.Rejecter = logRejecter{cfg.Log}
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 2*runtime.GOMAXPROCS(0) + 2
	}
	routes, err := compileRoutes(cfg.LogGroups, cfg.Decoders)
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, routes: routes, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// acquire takes a decoding slot, waiting up to slotWait; release returns it.
func (h *Handler) acquire(ctx context.Context) bool {
	select {
	case h.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (h *Handler) release() { <-h.slots }

// Register adds the ingest routes to mux: POST /v1/ingest/{source}, the
// CloudWatch Logs, Firehose and Lambda Telemetry endpoints under
// /v1/ingest/, and OTLP/HTTP logs at POST /v1/logs.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/ingest/{source}", h.serveIngest)
	mux.HandleFunc("POST /v1/ingest/cloudwatch", h.serveCloudWatch)
	mux.HandleFunc("POST /v1/ingest/lambda", h.serveLambda)
	mux.HandleFunc("POST /v1/logs", h.serveOTLP)
	mux.HandleFunc("POST /v1/ingest/firehose", h.serveFirehose)
}

// httpError is an error with the status code it answers with.
type httpError struct {
	code   int
	reason string // metric label
	err    error
	line   int
	// rejected counts the records dead-lettered.
	rejected int
}

func (h *Handler) serveIngest(w http.ResponseWriter, r *http.Request) {
	source := r.PathValue("source")
	in, herr := h.ingest(r, source)
	if _, ok := h.cfg.Decoders[source]; !ok {
		source = "unknown" // a metric label: clients must not create them
	}
	h.respond(w, r, source, in, herr)
}

// respond answers an ingest request: what was accepted and rejected, or
// the error with its status, logged and counted.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, source string, in *intake, herr *httpError) {
	if herr != nil {
		h.cfg.Metrics.Rejected(source, herr.reason)
		if herr.reason == "busy" {
			h.cfg.Log.Warn("ingest busy", "source", source, "err", herr.err, "remote", r.RemoteAddr)
			w.Header().Set("Retry-After", "1")
		} else if herr.code >= 500 {
			h.cfg.Log.Error("ingest failed", "source", source, "err", herr.err)
			w.Header().Set("Retry-After", "1")
		} else {
			h.cfg.Log.Info("ingest rejected", "source", source, "status", herr.code, "reason", herr.reason, "err", herr.err, "remote", r.RemoteAddr)
		}
		body := map[string]any{"error": herr.err.Error()}
		if herr.line > 0 {
			body["line"] = herr.line
		}
		if herr.rejected > 0 {
			body["rejected"] = herr.rejected
		}
		writeJSON(w, herr.code, body)
		return
	}
	writeJSON(w, http.StatusOK, in.answer())
}

func (h *Handler) ingest(r *http.Request, source string) (*intake, *httpError) {
	dec, ok := h.cfg.Decoders[source]
	if !ok {
		if herr := h.authorize(r, source); herr != nil {
			return nil, herr
		}
		return nil, &httpError{code: http.StatusNotFound, reason: "unknown_source", err: fmt.Errorf("unknown source %q", clip([]byte(source), 64))}
	}
	return h.ingestWith(r, source, dec)
}

// ingestWith decodes the records of a request to source with dec.
func (h *Handler) ingestWith(r *http.Request, source string, dec Decoder) (*intake, *httpError) {
	if herr := h.authorize(r, source); herr != nil {
		return nil, herr
	}
	framing, herr := framingOf(r.Header.Get("Content-Type"))
	if herr != nil {
		return nil, herr
	}
	framing = framingFor(framing, dec)
	body, release, herr := h.readRequest(r)
	if herr != nil {
		return nil, herr
	}
	defer release()
	in := newIntake()
	add := in.add
	if makesContentIDs(dec) {
		add = in.addNumbered
	}
	records := 0
	err := splitRecords(body, framing, Envelopes(dec), func(rec []byte) error {
		if records++; records > h.cfg.MaxRecords {
			return errTooManyRecords
		}
		if int64(len(rec)) > h.cfg.MaxRecordBytes {
			return &Rejection{Reason: "record_too_large", Err: fmt.Errorf("%w: %d bytes, limit %d", errRecordTooLarge, len(rec), h.cfg.MaxRecordBytes)}
		}
		var ev event.Event
		if err := dec.Decode(rec, &ev); err != nil {
			return &Rejection{Reason: "bad_record", Err: err}
		}
		add(ev)
		return nil
	}, func(re *RecordError, rec []byte) error {
		in.rejectRecord(source, re, rec)
		return nil
	})
	if errors.Is(err, errTooManyRecords) {
		return nil, &httpError{code: http.StatusRequestEntityTooLarge, reason: "too_many_records",
			err: fmt.Errorf("more than %d records in one request; split the body", h.cfg.MaxRecords)}
	}
	if err != nil && !errors.As(err, new(*RecordError)) {
		return nil, &httpError{code: http.StatusBadRequest, reason: "bad_record", err: err}
	}
	if err != nil {
		// The body cannot be split into records: none of it is stored,
		// and it is dead-lettered whole.
		re, _ := errors.AsType[*RecordError](err)
		in = newIntake()
		in.rejectRecord(source, re, body)
	}
	if herr := h.finish(r.Context(), in); herr != nil {
		if herr.rejected > 0 && acksRejected(dec) {
			return in, nil // all dead-lettered; see AcksRejected
		}
		return nil, herr
	}
	return in, nil
}

var (
	errRecordTooLarge = errors.New("record too large")
	errTooManyRecords = errors.New("too many records")
)

// authorize checks the bearer token of a request to source: AuthToken or
// the source's own token, compared in constant time. A source without
// any token is open, unless RequireAuth.
func (h *Handler) authorize(r *http.Request, source string) *httpError {
	tokens := make([]string, 0, 2)
	for _, t := range []string{h.cfg.AuthToken, h.cfg.SourceTokens[source]} {
		if t != "" {
			tokens = append(tokens, t)
		}
	}
	if len(tokens) == 0 && !h.cfg.RequireAuth {
		return nil
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && constantTimeIn(got, tokens) {
		return nil
	}
	return &httpError{code: http.StatusUnauthorized, reason: "auth", err: errors.New("missing or wrong bearer token")}
}

// constantTimeIn reports whether got is one of keys, comparing with every
// key in constant time.
func constantTimeIn(got string, keys []string) bool {
	ok := 0
	for _, k := range keys {
		ok |= subtle.ConstantTimeCompare([]byte(got), []byte(k))
	}
	return ok == 1
}

func framingOf(contentType string) (Framing, *httpError) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch mt {
		case "application/json":
			return FrameJSON, nil
		case "application/x-ndjson", "application/jsonl":
			return FrameNDJSON, nil
		case "text/plain":
			return FrameLines, nil
		}
	}
	return 0, &httpError{code: http.StatusUnsupportedMediaType, reason: "content_type",
		err: fmt.Errorf("unsupported Content-Type %q: use application/json, application/x-ndjson or text/plain", contentType)}
}

// encodingOf says whether a Content-Encoding is gzip.
func encodingOf(contentEncoding string) (gzipped bool, herr *httpError) {
	switch enc := strings.ToLower(strings.TrimSpace(contentEncoding)); enc {
	case "", "identity":
		return false, nil
	case "gzip", "x-gzip":
		return true, nil
	default:
		return false, &httpError{code: http.StatusUnsupportedMediaType, reason: "content_encoding",
			err: fmt.Errorf("unsupported Content-Encoding %q: use gzip or none", enc)}
	}
}

func (h *Handler) tooLarge(what string) *httpError {
	return &httpError{code: http.StatusRequestEntityTooLarge, reason: "body_too_large",
		err: fmt.Errorf("%s exceeds the limit of %d bytes", what, h.cfg.MaxBodyBytes)}
}

// readRequest reads and decompresses a request body within the limits,
// holding one of the MaxConcurrent decode slots; the caller calls release
// when done with the body.
func (h *Handler) readRequest(r *http.Request) (body []byte, release func(), herr *httpError) {
	gzipped, herr := encodingOf(r.Header.Get("Content-Encoding"))
	if herr != nil {
		return nil, nil, herr
	}
	raw, herr := h.readBody(r)
	if herr != nil {
		return nil, nil, herr
	}
	if !h.acquire(r.Context()) {
		return nil, nil, &httpError{code: http.StatusServiceUnavailable, reason: "busy",
			err: fmt.Errorf("busy: %d requests are being decoded; retry", h.cfg.MaxConcurrent)}
	}
	body, herr = h.decompress(raw, gzipped)
	if herr != nil {
		h.release()
		return nil, nil, herr
	}
	return body, h.release, nil
}

func (h *Handler) readBody(r *http.Request) ([]byte, *httpError) {
	if r.ContentLength > h.cfg.MaxBodyBytes {
		return nil, h.tooLarge("body")
	}
	raw, err := readLimited(r.Body, h.cfg.MaxBodyBytes)
	if errors.Is(err, errLimit) {
		return nil, h.tooLarge("body")
	}
	if err != nil {
		return nil, &httpError{code: http.StatusBadRequest, reason: "read", err: fmt.Errorf("reading body: %w", err)}
	}
	return raw, nil
}

// decompress gunzips raw when asked, enforcing the size limit on the
// decompressed bytes, and rejects an empty body.
func (h *Handler) decompress(raw []byte, gzipped bool) ([]byte, *httpError) {
	if gzipped {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, &httpError{code: http.StatusBadRequest, reason: "gzip", err: fmt.Errorf("gzip: %w", err)}
		}
		raw, err = readLimited(zr, h.cfg.MaxBodyBytes)
		if errors.Is(err, errLimit) {
			return nil, h.tooLarge("decompressed body")
		}
		if err != nil {
			return nil, &httpError{code: http.StatusBadRequest, reason: "gzip", err: fmt.Errorf("gzip body is corrupt or truncated: %w", err)}
		}
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
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
