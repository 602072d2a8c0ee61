package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// RecordError says which record of a body could not be read, so the
// sender can find and fix it.
type RecordError struct {
	// Line is the 1-based line of the body where the bad record starts.
	Line int
	// Index is the 0-based index of the record in the body.
	Index int
	Err   error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d (line %d): %v", e.Index+1, e.Line, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Framing is how records are laid out in a body.
type Framing int

// Framings.
const (
	// FrameJSON is one JSON value: an object, an array of objects, a
	// CloudTrail file {"Records":[...]} or an EventBridge envelope.
	FrameJSON Framing = iota
	// FrameNDJSON is one JSON value per line; each line is unwrapped as
	// FrameJSON is.
	FrameNDJSON
)

// SplitRecords calls fn with each record of body, unwrapping CloudTrail
// file and EventBridge envelopes. It stops at the first error, which is a
// *RecordError.
func SplitRecords(body []byte, f Framing, fn func(rec []byte) error) error {
	idx := 0
	emit := func(rec []byte, line int) error {
		if err := fn(rec); err != nil {
			return &RecordError{Line: line, Index: idx, Err: err}
		}
		idx++
		return nil
	}
	if f == FrameJSON {
		return unwrap(body, 1, emit)
	}
	line := 0
	for len(body) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			l, body = body, nil
		}
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if err := unwrap(l, line, emit); err != nil {
			return err
		}
	}
	return nil
}

// envelope is the subset of CloudTrail file and EventBridge shapes used to
// unwrap records.
type envelope struct {
	Records    []json.RawMessage `json:"Records"`
	Detail     json.RawMessage   `json:"detail"`
	DetailType string            `json:"detail-type"`
}

var errEmpty = errors.New("empty record")

// unwrap emits the records held in one JSON value v that starts at line.
func unwrap(v []byte, line int, emit func([]byte, int) error) error {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return &RecordError{Line: line, Err: errEmpty}
	}
	switch v[0] {
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(v, &arr); err != nil {
			return syntaxError(v, line, err)
		}
		for _, rec := range arr {
			if err := unwrapObject(rec, line, emit); err != nil {
				return err
			}
		}
		return nil
	case '{':
		// The decoder validates the whole object.
		return unwrapObject(v, line, emit)
	default:
		return &RecordError{Line: line, Err: fmt.Errorf("want a JSON object or array, got %q", clip(v, 16))}
	}
}

// unwrapObject emits the records of one JSON object, opening CloudTrail
// files and EventBridge envelopes.
func unwrapObject(obj []byte, line int, emit func([]byte, int) error) error {
	// Cheap pre-check: only objects that mention the envelope keys are
	// decoded twice.
	if bytes.Contains(obj, []byte(`"Records"`)) || bytes.Contains(obj, []byte(`"detail"`)) {
		var env envelope
		if err := json.Unmarshal(obj, &env); err == nil {
			switch {
			case env.Records != nil:
				for _, rec := range env.Records {
					if err := emit(rec, line); err != nil {
						return err
					}
				}
				return nil
			case env.DetailType != "" && len(env.Detail) > 0 && env.Detail[0] == '{':
				return emit(env.Detail, line)
			}
		}
	}
	return emit(obj, line)
}

func syntaxError(v []byte, line int, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && int(se.Offset) <= len(v) {
		line += bytes.Count(v[:se.Offset], []byte{'\n'})
	}
	return &RecordError{Line: line, Err: fmt.Errorf("invalid JSON: %w", err)}
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// jsonError words a decoding error for the sender: syntax errors say the
// JSON is invalid, type errors name the field.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return err
}
