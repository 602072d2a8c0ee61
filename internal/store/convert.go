package store

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// splitTime turns t into DateTime seconds and the nanoseconds within that
// second, clamped to DateTime's range; the zero time is stored as 0, 0.
func splitTime(t time.Time) (sec int64, nsec uint32) {
	if t.IsZero() {
		return 0, 0
	}
	sec = t.Unix()
	switch {
	case sec < 0:
		return 0, 0
	case sec > math.MaxUint32:
		return math.MaxUint32, 0
	}
	return sec, uint32(t.Nanosecond())
}

// joinTime is the inverse of splitTime: 0, 0 reads back as the zero time.
func joinTime(sec time.Time, nsec uint32) time.Time {
	if sec.Unix() == 0 && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec.Unix(), int64(nsec)).UTC()
}

func clampInt32(v int) int32 {
	switch {
	case v > math.MaxInt32:
		return math.MaxInt32
	case v < math.MinInt32:
		return math.MinInt32
	}
	return int32(v)
}

// eventJSON encodes e for the alerts table's event column, without HTML
// escaping and with Raw byte for byte (encoding/json would compact and
// escape it). A Raw that is not valid JSON is stored as a JSON string
// instead of failing the alert, and so is a NaN or infinite duration as 0
// (JSON has no such numbers).
func eventJSON(e *event.Event) (string, error) {
	raw := []byte(e.Raw)
	switch {
	case len(raw) == 0:
		raw = []byte("null")
	case !json.Valid(raw):
		quoted, err := json.Marshal(string(raw))
		if err != nil {
			return "", fmt.Errorf("encode raw record: %w", err)
		}
		raw = quoted
	}
	c := *e
	c.Raw = nil
	if math.IsNaN(c.DurationMS) || math.IsInf(c.DurationMS, 0) {
		c.DurationMS = 0
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return "", fmt.Errorf("encode event %s: %w", e.EventID, err)
	}
	const tail = `"raw":null}` + "\n"
	out := b.String()
	if !strings.HasSuffix(out, tail) {
		return "", fmt.Errorf("encode event %s: internal error: raw is not the last field", e.EventID)
	}
	return out[:len(out)-len(tail)] + `"raw":` + string(raw) + "}", nil
}
