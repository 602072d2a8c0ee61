package ingest

import (
	"net/http"
	"time"

	"github.com/tripline/tripline/ingest/otlplog"
)

// serveOTLP handles POST /v1/logs, the OTLP/HTTP logs endpoint (source
// "otlp"): an ExportLogsServiceRequest in protobuf or JSON, optionally
// gzipped. The answer follows OTLP/HTTP: 200 with an
// ExportLogsServiceResponse in the request's encoding (partial_success
// counts the records rejected, which are dead-lettered and must not be
// retried), 400/413/415 with a google.rpc.Status for a request that must
// not be retried, and 503 with Retry-After when the events could not be
// stored.
func (h *Handler) serveOTLP(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	in, res, herr := h.ingestOTLP(r, ct)
	if herr != nil {
		h.cfg.Metrics.Rejected("otlp", herr.reason)
		if herr.code >= 500 {
			h.cfg.Log.Error("otlp ingest failed", "err", herr.err)
			w.Header().Set("Retry-After", "1")
		} else {
			h.cfg.Log.Info("otlp ingest rejected", "status", herr.code, "reason", herr.reason, "err", herr.err, "remote", r.RemoteAddr)
		}
		body, bodyType := otlplog.Status(ct, herr.code, herr.err.Error())
		writeBody(w, herr.code, bodyType, body)
		return
	}
	body, bodyType, err := otlplog.Response(ct, len(res.Rejected), res.Message())
	if err != nil {
		h.cfg.Log.Error("otlp response", "err", err)
	}
	h.cfg.Log.Debug("otlp logs stored", "events", in.accepted, "rejected", len(in.rejects))
	writeBody(w, http.StatusOK, bodyType, body)
}

func (h *Handler) ingestOTLP(r *http.Request, contentType string) (*intake, otlplog.Result, *httpError) {
	var res otlplog.Result
	if herr := h.authorize(r, "otlp"); herr != nil {
		return nil, res, herr
	}
	body, release, herr := h.readRequest(r)
	if herr != nil {
		return nil, res, herr
	}
	defer release()
	res, err := otlplog.DecodeLimits(body, contentType,
		otlplog.Limits{MaxRecordBytes: h.cfg.MaxRecordBytes, MaxRecords: h.cfg.MaxRecords}, time.Now().UTC())
	if err != nil {
		herr := &httpError{code: otlplog.HTTPStatus(err), reason: "bad_record", err: clipError(err)}
		switch herr.code {
		case http.StatusUnsupportedMediaType:
			herr.reason = "content_type"
		case http.StatusRequestEntityTooLarge:
			herr.reason = "too_many_records"
		default:
			// Not an export request: kept whole for inspection.
			in := newIntake()
			in.reject("otlp", "bad_record", body, err)
			if dl := h.deadLetter(r.Context(), in); dl != nil {
				return nil, res, dl
			}
		}
		return nil, res, herr
	}
	in := newIntake()
	for _, ev := range res.Events {
		in.add(ev)
	}
	for _, rj := range res.Rejected {
		in.reject("otlp", rj.Reason, rj.Record, rj.Err)
	}
	if len(res.Events) == 0 && len(res.Rejected) > 0 {
		// Every record rejected is still a partial success in OTLP: the
		// client must not retry them.
		if herr := h.deadLetter(r.Context(), in); herr != nil {
			return nil, res, herr
		}
		return in, res, nil
	}
	if herr := h.finish(r.Context(), in); herr != nil {
		return nil, res, herr
	}
	return in, res, nil
}

func writeBody(w http.ResponseWriter, code int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
