package ingest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/tripline/tripline/ingest/lambdalog"
	"github.com/tripline/tripline/internal/event"
)

// LambdaRecord is one line of a Lambda function's log group with where it
// came from: a CloudWatch Logs log event plus its batch's context. It is
// the record format of the "lambda" source.
type LambdaRecord struct {
	LogGroup  string `json:"logGroup"`
	LogStream string `json:"logStream,omitempty"`
	// Owner is the AWS account of the log group.
	Owner string `json:"owner,omitempty"`
	// ID is the CloudWatch Logs event id.
	ID string `json:"id,omitempty"`
	// Timestamp is in milliseconds since the epoch.
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
	// Lambda is the parsed line, filled by the decoder (rules read
	// lambda.kind, lambda.request_id, lambda.init_duration_ms, ...).
	Lambda *lambdalog.Line `json:"lambda,omitempty"`
}

// LambdaFunction returns the function name of a /aws/lambda/<fn> log
// group, or "".
func LambdaFunction(logGroup string) string {
	fn, ok := strings.CutPrefix(logGroup, "/aws/lambda/")
	if !ok {
		return ""
	}
	return fn
}

// Lambda decodes LambdaRecords. The event's Raw is the record with the
// parsed line added under "lambda".
type Lambda struct{}

// Decode implements Decoder.
func (d Lambda) Decode(rec []byte, ev *event.Event) error {
	var r LambdaRecord
	if err := json.Unmarshal(rec, &r); err != nil {
		return fmt.Errorf("lambda record: %w", jsonError(err))
	}
	fn := LambdaFunction(r.LogGroup)
	if fn == "" {
		return errors.New(`lambda record: logGroup must be "/aws/lambda/<function>"`)
	}
	return d.decodeRecord(&r, fn, func() string { return event.ContentID("lambda", rec) }, ev)
}

// lambdaFunction names the function of a log group routed to the lambda
// source: <fn> of /aws/lambda/<fn>, else the group's last path element.
func lambdaFunction(logGroup string) string {
	if fn := LambdaFunction(logGroup); fn != "" {
		return fn
	}
	return path.Base(logGroup)
}

// decodeRecord normalizes a record of function fn already in memory (the
// CloudWatch Logs endpoint builds them); contentID gives the id of a
// record without one.
func (Lambda) decodeRecord(r *LambdaRecord, fn string, contentID func() string, ev *event.Event) error {
	id := r.ID
	if id == "" {
		id = contentID()
	}
	line := lambdalog.Parse(r.Message)
	r.Lambda = &line
	t := time.UnixMilli(r.Timestamp).UTC()
	if r.Timestamp == 0 && !line.Time.IsZero() {
		t = line.Time
	}
	if err := checkTime("timestamp", fmt.Sprint(r.Timestamp), t); err != nil {
		return fmt.Errorf("lambda record: %w", err)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("lambda record: %w", err)
	}
	*ev = event.Event{
		Time: t, Source: "lambda", EventID: id, Account: r.Owner, Service: fn,
		Action: line.Kind, Target: line.RequestID, Message: strings.TrimRight(line.Message, "\n"),
		DurationMS: line.DurationMS, Raw: raw,
	}
	switch {
	case line.Kind == lambdalog.KindTimeout, line.Status != "" && line.Status != "success":
		ev.Outcome, ev.ErrorCode = event.OutcomeFailure, cmp.Or(line.ErrorType, line.Status)
	case line.Kind == lambdalog.KindReport:
		ev.Outcome = event.OutcomeSuccess
	}
	return nil
}

// ContentIDs reports that records without a CloudWatch Logs id get a
// content hash.
func (Lambda) ContentIDs() bool { return true }
