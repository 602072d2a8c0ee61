package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/tripline/tripline/internal/event"
)

// serveLambda handles POST /v1/ingest/lambda: LambdaRecords, and the
// batches a Lambda extension subscribed to the Telemetry API posts (a JSON
// array of {time,type,record}). A Telemetry API record does not name its
// function, so the extension names it in the URL:
// /v1/ingest/lambda?function=<name> (AWS_LAMBDA_FUNCTION_NAME).
func (h *Handler) serveLambda(w http.ResponseWriter, r *http.Request) {
	in, herr := h.ingestLambda(r)
	h.respond(w, r, "lambda", in, herr)
}

func (h *Handler) ingestLambda(r *http.Request) (*intake, *httpError) {
	fn := r.URL.Query().Get("function")
	if fn != "" && !functionNameRE.MatchString(fn) {
		return nil, &httpError{code: http.StatusBadRequest, reason: "bad_request",
			err: fmt.Errorf("function %q is not a Lambda function name (letters, digits, - and _, at most 64)", fn)}
	}
	return h.ingestWith(r, "lambda", lambdaTelemetry{function: fn})
}

// functionNameRE matches a Lambda function name.
var functionNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// lambdaTelemetry decodes LambdaRecords and the Telemetry API records of
// one function.
type lambdaTelemetry struct{ function string }

// Decode implements Decoder.
func (d lambdaTelemetry) Decode(rec []byte, ev *event.Event) error {
	var probe struct {
		LogGroup *string         `json:"logGroup"`
		Type     string          `json:"type"`
		Record   json.RawMessage `json:"record"`
	}
	if err := json.Unmarshal(rec, &probe); err != nil {
		return fmt.Errorf("lambda record: %w", jsonError(err))
	}
	if probe.LogGroup != nil || probe.Type == "" || probe.Record == nil {
		return Lambda{}.Decode(rec, ev)
	}
	if d.function == "" {
		return errors.New("lambda telemetry record: the function is unknown: post to /v1/ingest/lambda?function=<name>")
	}
	r := LambdaRecord{LogGroup: "/aws/lambda/" + d.function, Message: string(rec)}
	return Lambda{}.decodeRecord(&r, d.function, func() string { return event.ContentID("lambda", rec) }, ev)
}

// ContentIDs implements ContentIDs: Telemetry API records have no id.
func (lambdaTelemetry) ContentIDs() bool { return true }
