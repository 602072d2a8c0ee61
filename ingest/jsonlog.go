package ingest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// JSONConfig names the fields of generic JSON logs that carry the event
// time and message. Each list is tried in order; the first present wins.
type JSONConfig struct {
	// TimeFields hold the event time: RFC 3339 text, or a Unix time as a
	// number, whose unit its size tells: seconds below 1e11, milliseconds
	// below 1e14, microseconds below 1e17, else nanoseconds.
	//
	// A time must lie in 1970–2105 (what storage can hold). RFC 3339 text
	// outside that range rejects the record (400, naming the field). A
	// number outside it (including 0 and negative numbers, and numbers
	// too large for any unit) is no usable time, like text that is not
	// RFC 3339: the next field is tried, and without one the event gets
	// the ingest clock.
	TimeFields []string `yaml:"time_fields"`
	// MessageFields hold the human-readable message.
	MessageFields []string `yaml:"message_fields"`
}

// DefaultJSONConfig is the field naming of most JSON loggers.
var DefaultJSONConfig = JSONConfig{
	TimeFields:    []string{"time", "timestamp", "@timestamp", "ts"},
	MessageFields: []string{"message", "msg", "log"},
}

// JSONLog decodes arbitrary JSON objects. Their event id is a content hash
// of the record (see ContentIDs).
type JSONLog struct {
	// Config names the time and message fields.
	Config JSONConfig
	// Now supplies the time for records without a usable time field.
	Now func() time.Time
}

// ContentIDs implements ContentIDs: JSON logs have no id of their own.
func (JSONLog) ContentIDs() bool { return true }

// Decode implements Decoder.
func (d JSONLog) Decode(rec []byte, ev *event.Event) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec, &m); err != nil {
		return fmt.Errorf("json record: %w", jsonError(err))
	}
	if m == nil {
		return fmt.Errorf("json record: want an object, got null")
	}
	*ev = event.Event{Source: "json", EventID: event.ContentID("json", rec), Raw: rec}
	for _, k := range d.Config.TimeFields {
		if v, ok := m[k]; ok {
			t, ok, err := parseJSONTime(k, v)
			if err != nil {
				return fmt.Errorf("json record: %w", err)
			}
			if ok {
				ev.Time = t
				break
			}
		}
	}
	if ev.Time.IsZero() {
		ev.Time = d.Now().UTC()
	}
	for _, k := range d.Config.MessageFields {
		var s string
		if v, ok := m[k]; ok && json.Unmarshal(v, &s) == nil {
			ev.Message = s
			break
		}
	}
	return nil
}

// maxUnix is the end of the storable range (maxTime) in Unix seconds.
const maxUnix = 4291747200

// parseJSONTime reads the time field k: RFC 3339 text (an error when out
// of range) or a Unix time in s, ms, µs or ns (not ok when out of range).
func parseJSONTime(k string, v json.RawMessage) (time.Time, bool, error) {
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, false, nil
		}
		if err := checkTime(k, s, t); err != nil {
			return time.Time{}, false, err
		}
		return t.UTC(), true, nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || !(f > 0) {
		return time.Time{}, false, nil
	}
	// The unit: each step down is 1000 times larger.
	perSec := 1.0
	switch {
	case f >= 1e17:
		perSec = 1e9
	case f >= 1e14:
		perSec = 1e6
	case f >= 1e11:
		perSec = 1e3
	}
	if f/perSec >= maxUnix {
		return time.Time{}, false, nil
	}
	// Exact for integers (json.Number text up to 2^63); else as precise
	// as float64 allows.
	var ns int64
	if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		ns = i * int64(1e9/perSec)
	} else {
		ns = int64(math.Round(f * (1e9 / perSec)))
	}
	t := time.Unix(0, ns).UTC()
	return t, timeInRange(t), nil
}
