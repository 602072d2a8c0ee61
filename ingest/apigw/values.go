package apigw

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const clfLayout = "02/Jan/2006:15:04:05 -0700"

// Storable event times, [minTime, maxTime): the ingest contract.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

func inRange(t time.Time) bool { return !t.Before(minTime) && t.Before(maxTime) }

var errNotTime = errors.New("is not a CLF (02/Jan/2006:15:04:05 -0700), RFC 3339 or Unix time")

// parseTime reads a request time: CLF ($context.requestTime), RFC 3339 or
// a Unix time.
func parseTime(key, s string) (time.Time, error) {
	t, err := time.Parse(clfLayout, s)
	if err != nil {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		if isDecimal(s) {
			return parseEpoch(key, s)
		}
		return time.Time{}, fmt.Errorf("%s %q %w", key, s, errNotTime)
	}
	if !inRange(t) {
		return time.Time{}, fmt.Errorf("%s %q is out of range (1970–2105)", key, s)
	}
	return t.UTC(), nil
}

// maxUnix is maxTime in Unix seconds.
const maxUnix = 4291747200

// parseEpoch reads a Unix time whose unit its size tells: seconds below
// 1e11, milliseconds ($context.requestTimeEpoch) below 1e14, microseconds
// below 1e17, else nanoseconds.
func parseEpoch(key, s string) (time.Time, error) {
	if !isDecimal(s) {
		return time.Time{}, fmt.Errorf("%s %q is not a Unix time", key, s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) {
		return time.Time{}, fmt.Errorf("%s %q is not a positive Unix time", key, s)
	}
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
		return time.Time{}, fmt.Errorf("%s %q is out of range (1970–2105)", key, s)
	}
	ns, err := decimalNanos(s, int64(1e9/perSec))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is out of range (1970–2105)", key, s)
	}
	return time.Unix(0, ns).UTC(), nil
}

// decimalNanos converts the decimal s, in units of perUnit nanoseconds,
// to nanoseconds exactly (digits below a nanosecond are dropped).
func decimalNanos(s string, perUnit int64) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	n := int64(0)
	if whole != "" {
		var err error
		if n, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return 0, err
		}
	}
	if n > math.MaxInt64/perUnit {
		return 0, strconv.ErrRange
	}
	n *= perUnit
	for scale := perUnit / 10; scale > 0 && frac != ""; scale /= 10 {
		n += int64(frac[0]-'0') * scale
		frac = frac[1:]
	}
	return n, nil
}

// isDecimal reports whether s is digits with at most one decimal point.
func isDecimal(s string) bool {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

func parseStatus(key, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 999 || !isDecimal(s) {
		return 0, fmt.Errorf("%s %q is not an HTTP status", key, s)
	}
	return n, nil
}

func parseCount(key, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || !isDecimal(s) {
		return 0, fmt.Errorf("%s %q is not a byte count", key, s)
	}
	return n, nil
}

func parseDuration(key, s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || !isDecimal(s) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%s %q is not a duration in milliseconds", key, s)
	}
	return n, nil
}

// repairDashes replaces every bare "-" value of a JSON text (a template
// like {"status": $context.status} renders a missing value as
// {"status": -}) with null. ok is false when there is none.
func repairDashes(b []byte) ([]byte, bool) {
	var out []byte
	copied := 0
	inStr, esc := false, false
	last := byte(0) // the last non-space byte outside strings
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inStr = true
		case '-':
			if last == ':' || last == ',' || last == '[' {
				j := i + 1
				for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
					j++
				}
				if j < len(b) && (b[j] == ',' || b[j] == '}' || b[j] == ']') {
					out = append(out, b[copied:i]...)
					out = append(out, "null"...)
					copied = i + 1
				}
			}
		}
		last = c
	}
	if out == nil {
		return nil, false
	}
	return append(out, b[copied:]...), true
}
