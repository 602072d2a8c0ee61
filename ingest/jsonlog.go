package ingest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// JSONConfig names the fields of generic JSON logs that carry the event
// time and message. Each list is tried in order; the first present wins.
type JSONConfig struct {
	// TimeFields hold the event time: RFC 3339 text or Unix seconds or
	// milliseconds as a number.
	TimeFields []string `yaml:"time_fields"`
	// MessageFields hold the human-readable message.
	MessageFields []string `yaml:"message_fields"`
}

// DefaultJSONConfig is the field naming of most JSON loggers.
var DefaultJSONConfig = JSONConfig{
	TimeFields:    []string{"time", "timestamp", "@timestamp", "ts"},
	MessageFields: []string{"message", "msg", "log"},
}

// JSONLog decodes arbitrary JSON objects.
type JSONLog struct {
	Config JSONConfig
	// Now supplies the time for records without a usable time field.
	Now func() time.Time
}

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
			if t, ok := parseJSONTime(v); ok {
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

// parseJSONTime accepts RFC 3339 strings and Unix seconds or milliseconds.
func parseJSONTime(v json.RawMessage) (time.Time, bool) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UTC(), err == nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f <= 0 {
		return time.Time{}, false
	}
	if f > 1e12 { // milliseconds
		return time.UnixMilli(int64(f)).UTC(), true
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
}
