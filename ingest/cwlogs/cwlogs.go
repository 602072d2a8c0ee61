// Package cwlogs decodes CloudWatch Logs subscription deliveries: the
// gzipped JSON batch that a subscription filter sends to Lambda (inside
// {"awslogs":{"data":"<base64>"}}), Kinesis or Firehose (the raw gzip
// bytes). Every decoding step is bounded, so a hostile payload cannot
// expand past the caller's limit.
package cwlogs

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Message types of a batch.
const (
	DataMessage    = "DATA_MESSAGE"
	ControlMessage = "CONTROL_MESSAGE"
)

// Batch is one subscription delivery.
type Batch struct {
	MessageType string `json:"messageType"`
	// Owner is the AWS account that owns the log group.
	Owner               string     `json:"owner"`
	LogGroup            string     `json:"logGroup"`
	LogStream           string     `json:"logStream"`
	SubscriptionFilters []string   `json:"subscriptionFilters"`
	LogEvents           []LogEvent `json:"logEvents"`
	// Bytes is the size of the decompressed batch.
	Bytes int64 `json:"-"`
}

// LogEvent is one log line of a batch.
type LogEvent struct {
	// ID is unique per log event (up to 56 digits); it makes redelivered
	// batches idempotent.
	ID string `json:"id"`
	// Timestamp is in milliseconds since the epoch.
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

// ErrTooLarge reports a payload that expands past the limit.
var ErrTooLarge = errors.New("cwlogs: payload exceeds the size limit")

// Decode reads a delivery: gzip bytes, the Lambda envelope
// {"awslogs":{"data":"<base64 gzip>"}}, or an already decompressed batch.
// limit caps the bytes after each base64 and gunzip step.
func Decode(payload []byte, limit int64) (*Batch, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) > 0 && payload[0] == '{' && bytes.Contains(payload[:min(len(payload), 64)], []byte(`"awslogs"`)) {
		var env struct {
			AWSLogs struct {
				Data string `json:"data"`
			} `json:"awslogs"`
		}
		if err := json.Unmarshal(payload, &env); err != nil {
			return nil, fmt.Errorf("cwlogs: awslogs envelope: %w", err)
		}
		if int64(base64.StdEncoding.DecodedLen(len(env.AWSLogs.Data))) > limit {
			return nil, ErrTooLarge
		}
		raw, err := base64.StdEncoding.DecodeString(env.AWSLogs.Data)
		if err != nil {
			return nil, fmt.Errorf("cwlogs: awslogs.data is not base64: %w", err)
		}
		payload = raw
	}
	if len(payload) >= 2 && payload[0] == 0x1f && payload[1] == 0x8b {
		raw, err := gunzip(payload, limit)
		if err != nil {
			return nil, err
		}
		payload = raw
	}
	b := Batch{Bytes: int64(len(payload))}
	if err := json.Unmarshal(payload, &b); err != nil {
		return nil, fmt.Errorf("cwlogs: batch: %w", err)
	}
	switch b.MessageType {
	case DataMessage:
		if b.LogGroup == "" {
			return nil, errors.New("cwlogs: DATA_MESSAGE without logGroup")
		}
	case ControlMessage:
	default:
		return nil, fmt.Errorf("cwlogs: unknown messageType %q", b.MessageType)
	}
	return &b, nil
}

// gunzip decompresses b, failing with ErrTooLarge past limit bytes.
func gunzip(b []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("cwlogs: gzip: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cwlogs: gzip data is corrupt or truncated: %w", err)
	}
	if int64(len(out)) > limit {
		return nil, ErrTooLarge
	}
	return out, nil
}
