package ingest

import (
	"bytes"
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

// firehoseBudget bounds what one Firehose request may decompress to, in
// all its records, as a multiple of http.max_body_bytes: CloudWatch Logs
// batches compress about tenfold, and a request is decoded in memory.
const firehoseBudget = 4

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
	in, herr := h.ingestFirehose(r, &reqID)
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
		h.cfg.Log.Debug("firehose delivery stored", "events", in.accepted, "rejected", len(in.rejects), "request_id", reqID)
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// firehoseAuthorized checks X-Amz-Firehose-Access-Key against the
// configured keys (and the ingest bearer token, and the firehose source
// token) in constant time. With no key at all, a request is accepted only
// when RequireAuth is off (a loopback listener).
func (h *Handler) firehoseAuthorized(r *http.Request) bool {
	keys := h.cfg.FirehoseKeys
	for _, k := range []string{h.cfg.AuthToken, h.cfg.SourceTokens["firehose"]} {
		if k != "" {
			keys = append(keys[:len(keys):len(keys)], k)
		}
	}
	if len(keys) == 0 {
		return !h.cfg.RequireAuth
	}
	return constantTimeIn(r.Header.Get("X-Amz-Firehose-Access-Key"), keys)
}

func (h *Handler) ingestFirehose(r *http.Request, reqID *string) (*intake, *httpError) {
	if !h.firehoseAuthorized(r) {
		return nil, &httpError{code: http.StatusUnauthorized, reason: "auth", err: errors.New("missing or wrong X-Amz-Firehose-Access-Key")}
	}
	body, release, herr := h.readRequest(r)
	if herr != nil {
		return nil, herr
	}
	defer release()
	in := newIntake()
	var req firehoseRequest
	if err := json.Unmarshal(body, &req); err != nil {
		in.reject("firehose", "bad_record", body, fmt.Errorf("firehose request: %w", jsonError(err)))
	} else if len(req.Records) == 0 || len(req.Records) > firehoseMaxRecords {
		in.reject("firehose", "bad_record", body, fmt.Errorf("firehose request has %d records, want 1 to %d", len(req.Records), firehoseMaxRecords))
	}
	if *reqID == "" {
		*reqID = req.RequestID
	}
	if len(in.rejects) == 0 {
		if herr := h.addFirehoseRecords(&req, in); herr != nil {
			return nil, herr
		}
	}
	if herr := h.finish(r.Context(), in); herr != nil {
		if herr.rejected > 0 && len(req.Records) > 0 {
			// Every record was dead-lettered: answered 200, since
			// Firehose would retry anything else for hours and then
			// back the same records up to S3.
			return in, nil
		}
		return nil, herr
	}
	return in, nil
}

// addFirehoseRecords decodes the records of req into in, rejecting bad
// ones alone.
func (h *Handler) addFirehoseRecords(req *firehoseRequest, in *intake) *httpError {
	total := 0
	budget := firehoseBudget * h.cfg.MaxBodyBytes // decompressed bytes left
	for i, rec := range req.Records {
		reject := func(reason string, data []byte, err error) {
			in.reject("firehose", reason, data, fmt.Errorf("record %d: %w", i+1, err))
		}
		if base64.StdEncoding.DecodedLen(len(rec.Data)) > firehoseMaxRecordData {
			reject("record_too_large", []byte(rec.Data[:min(len(rec.Data), 1<<10)]), fmt.Errorf("%w: data over %d bytes", errRecordTooLarge, firehoseMaxRecordData))
			continue
		}
		data, err := base64.StdEncoding.DecodeString(rec.Data)
		if err != nil {
			reject("bad_record", []byte(rec.Data), fmt.Errorf("data is not base64: %w", err))
			continue
		}
		if isCWLBatch(data) {
			batch, err := cwlogs.Decode(data, min(budget, h.cfg.MaxBodyBytes))
			if errors.Is(err, cwlogs.ErrTooLarge) {
				return &httpError{code: http.StatusRequestEntityTooLarge, reason: "body_too_large",
					err: fmt.Errorf("record %d: the records decompress to more than %d bytes in all (%d × http.max_body_bytes); lower the Firehose buffer size", i+1, firehoseBudget*h.cfg.MaxBodyBytes, firehoseBudget)}
			}
			if err != nil {
				reject("bad_record", data, err)
				continue
			}
			budget -= batch.Bytes
			if batch.MessageType == cwlogs.ControlMessage {
				continue
			}
			if total += len(batch.LogEvents); total > h.cfg.MaxRecords {
				return &httpError{code: http.StatusRequestEntityTooLarge, reason: "too_many_records",
					err: fmt.Errorf("record %d: more than %d log events in one request", i+1, h.cfg.MaxRecords)}
			}
			h.addLogEvents(batch, in, fmt.Sprintf("record %d: ", i+1))
			continue
		}
		var ev event.Event
		if err := h.cfg.Decoders["json"].Decode(bytes.TrimSpace(data), &ev); err != nil {
			reject("bad_record", data, err)
			continue
		}
		if req.RequestID != "" {
			ev.EventID = fmt.Sprintf("%s/%d", req.RequestID, i)
		}
		in.add(ev)
	}
	return nil
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
