package ingest

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tripline/tripline/ingest/cwlogs"
	"github.com/tripline/tripline/internal/event"
)

// Firehose limits from the HTTP endpoint delivery contract.
const (
	firehoseMaxRecords    = 10000
	firehoseMaxRecordData = 1_024_000
)

// firehoseRequest is Amazon Data Firehose's HTTP endpoint request body.
type firehoseRequest struct {
	RequestID string `json:"requestId"`
	Timestamp int64  `json:"timestamp"`
	Records   []struct {
		Data string `json:"data"`
	} `json:"records"`
}

// serveFirehose handles POST /v1/ingest/firehose, Amazon Data Firehose's
// HTTP endpoint destination. Each record is a gzipped CloudWatch Logs
// subscription batch (decoded as /v1/ingest/cloudwatch does) or, when the
// stream decompresses, a plain JSON record (source json, id = request id
// and record index, stable across Firehose's retries). The answer echoes
// requestId with a timestamp, and an errorMessage on failure; Firehose
// retries every status but 200 and 413.
func (h *Handler) serveFirehose(w http.ResponseWriter, r *http.Request) {
	reqID := r.Header.Get("X-Amz-Firehose-Request-Id")
	n, herr := h.ingestFirehose(r, &reqID)
	body := map[string]any{"requestId": reqID, "timestamp": time.Now().UnixMilli()}
	code := http.StatusOK
	if herr != nil {
		h.cfg.Metrics.Rejected("firehose", herr.reason)
		h.cfg.Log.Info("firehose delivery rejected", "status", herr.code, "reason", herr.reason, "err", herr.err, "request_id", reqID)
		code = herr.code
		msg := herr.err.Error()
		if len(msg) > 8192 {
			msg = msg[:8192]
		}
		body["errorMessage"] = msg
	} else {
		h.cfg.Log.Debug("firehose delivery stored", "events", n, "request_id", reqID)
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// firehoseAuthorized checks X-Amz-Firehose-Access-Key against the
// configured keys (and the ingest bearer token) in constant time. With no
// key configured at all, the listener is loopback (config enforces it)
// and no key is needed.
func (h *Handler) firehoseAuthorized(r *http.Request) bool {
	keys := h.cfg.FirehoseKeys
	if h.cfg.AuthToken != "" {
		keys = append(keys[:len(keys):len(keys)], h.cfg.AuthToken)
	}
	if len(keys) == 0 {
		return true
	}
	got := []byte(r.Header.Get("X-Amz-Firehose-Access-Key"))
	ok := 0
	for _, k := range keys {
		ok |= subtle.ConstantTimeCompare(got, []byte(k))
	}
	return ok == 1
}

func (h *Handler) ingestFirehose(r *http.Request, reqID *string) (int, *httpError) {
	if !h.firehoseAuthorized(r) {
		return 0, &httpError{code: http.StatusUnauthorized, reason: "auth", err: errors.New("missing or wrong X-Amz-Firehose-Access-Key")}
	}
	body, release, herr := h.readRequest(r)
	if herr != nil {
		return 0, herr
	}
	defer release()
	var req firehoseRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, &httpError{code: http.StatusBadRequest, reason: "bad_record", err: fmt.Errorf("firehose request: %w", jsonError(err))}
	}
	if *reqID == "" {
		*reqID = req.RequestID
	}
	if len(req.Records) == 0 || len(req.Records) > firehoseMaxRecords {
		return 0, &httpError{code: http.StatusBadRequest, reason: "bad_record",
			err: fmt.Errorf("firehose request has %d records, want 1 to %d", len(req.Records), firehoseMaxRecords)}
	}
	out := newSourceBatches()
	total := 0
	for i, rec := range req.Records {
		bad := func(code int, reason string, err error) *httpError {
			return &httpError{code: code, reason: reason, err: fmt.Errorf("record %d: %w", i+1, err)}
		}
		if base64.StdEncoding.DecodedLen(len(rec.Data)) > firehoseMaxRecordData {
			return 0, bad(http.StatusRequestEntityTooLarge, "record_too_large", fmt.Errorf("%w: data over %d bytes", errRecordTooLarge, firehoseMaxRecordData))
		}
		data, err := base64.StdEncoding.DecodeString(rec.Data)
		if err != nil {
			return 0, bad(http.StatusBadRequest, "bad_record", fmt.Errorf("data is not base64: %w", err))
		}
		if isCWLBatch(data) {
			batch, err := cwlogs.Decode(data, h.cfg.MaxBodyBytes)
			if errors.Is(err, cwlogs.ErrTooLarge) {
				return 0, bad(http.StatusRequestEntityTooLarge, "body_too_large", err)
			}
			if err != nil {
				return 0, bad(http.StatusBadRequest, "bad_record", err)
			}
			if batch.MessageType == cwlogs.ControlMessage {
				continue
			}
			if total += len(batch.LogEvents); total > h.cfg.MaxRecords {
				return 0, bad(http.StatusRequestEntityTooLarge, "too_many_records", fmt.Errorf("more than %d log events in one request", h.cfg.MaxRecords))
			}
			if herr := h.addLogEvents(batch, out); herr != nil {
				herr.err = fmt.Errorf("record %d: %w", i+1, herr.err)
				return 0, herr
			}
			continue
		}
		var ev event.Event
		if err := h.cfg.Decoders["json"].Decode(bytes.TrimSpace(data), &ev); err != nil {
			return 0, bad(http.StatusBadRequest, "bad_record", err)
		}
		if req.RequestID != "" {
			ev.EventID = fmt.Sprintf("%s/%d", req.RequestID, i)
		}
		out.add(ev)
	}
	return h.publishAll(r.Context(), out)
}

// isCWLBatch tells a CloudWatch Logs subscription batch (gzip, or the JSON
// a decompressing stream leaves) from a plain record.
func isCWLBatch(b []byte) bool {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		return true
	}
	head := b[:min(len(b), 256)]
	return bytes.Contains(head, []byte(`"messageType"`)) && bytes.Contains(b, []byte(`"logEvents"`))
}
