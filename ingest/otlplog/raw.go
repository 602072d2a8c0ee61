package otlplog

import (
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tripline/tripline/internal/jsonenc"
)

// An event's Raw is one JSON object per log record, with snake_case keys
// and the attribute keys as they are (dotted), so that rules read
// attributes["http.route"] or resource["k8s.pod.name"]:
//
//	{
//	  "time": "2018-12-13T14:51:00.3Z",          // time_unix_nano, RFC 3339, omitted when 0
//	  "observed_time": "2018-12-13T14:51:00.3Z", // observed_time_unix_nano, idem
//	  "severity_number": 9,                      // omitted when 0
//	  "severity_text": "Information",            // omitted when ""
//	  "body": "Example log record",              // any JSON value, omitted when empty
//	  "event_name": "...",                       // omitted when ""
//	  "attributes": {"int.attribute": 10},       // the record's, always present
//	  "resource": {"service.name": "my.service"}, // the resource's, always present
//	  "scope": {"name": "my.library", "version": "1.0.0", "attributes": {...}}, // attributes only when set
//	  "trace_id": "5b8efff798038103d269b633813fc60c", // lowercase hex, omitted when empty
//	  "span_id": "eee19b7ec3c1b174",             // idem
//	  "flags": 1                                 // omitted when 0
//	}
//
// Values keep their OTLP types: strings, integers, doubles (NaN and
// ±Infinity as the strings "NaN", "Infinity", "-Infinity"), booleans,
// bytes (base64 text), arrays and maps (objects); an empty value is null.
// Map keys are sorted; of a key repeated in one map the first value is
// kept. Invalid UTF-8 becomes U+FFFD. The normalized field time wins over
// Raw's "time" in rules, since their types differ.

// rawEncoder writes Raw JSON, reusing its scratch space between records.
type rawEncoder struct {
	buf   []byte   // the record being written
	pairs [][]pair // sort space, one per map nesting depth
	depth int
}

type pair struct {
	key string
	val pcommon.Value
}

// appendRaw appends the Raw object of lr in context c.
func (e *rawEncoder) appendRaw(b []byte, c *recordContext, lr plog.LogRecord) []byte {
	b = append(b, '{')
	if ts := lr.Timestamp(); ts != 0 {
		b = appendTime(append(b, `"time":`...), ts)
		b = append(b, ',')
	}
	if ts := lr.ObservedTimestamp(); ts != 0 {
		b = appendTime(append(b, `"observed_time":`...), ts)
		b = append(b, ',')
	}
	if n := lr.SeverityNumber(); n != 0 {
		b = strconv.AppendInt(append(b, `"severity_number":`...), int64(n), 10)
		b = append(b, ',')
	}
	if s := lr.SeverityText(); s != "" {
		b = jsonenc.AppendString(append(b, `"severity_text":`...), s)
		b = append(b, ',')
	}
	if body := lr.Body(); body.Type() != pcommon.ValueTypeEmpty {
		b = e.appendValue(append(b, `"body":`...), body)
		b = append(b, ',')
	}
	if s := lr.EventName(); s != "" {
		b = jsonenc.AppendString(append(b, `"event_name":`...), s)
		b = append(b, ',')
	}
	b = e.appendMap(append(b, `"attributes":`...), lr.Attributes())
	b = append(b, `,"resource":`...)
	b = append(b, c.resourceJSON...)
	b = jsonenc.AppendString(append(b, `,"scope":{"name":`...), c.scope.Name())
	b = jsonenc.AppendString(append(b, `,"version":`...), c.scope.Version())
	if attrs := c.scope.Attributes(); attrs.Len() > 0 {
		b = e.appendMap(append(b, `,"attributes":`...), attrs)
	}
	b = append(b, '}')
	if id := lr.TraceID(); !id.IsEmpty() {
		b = appendHex(append(b, `,"trace_id":`...), id[:])
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		b = appendHex(append(b, `,"span_id":`...), id[:])
	}
	if f := lr.Flags(); f != 0 {
		b = strconv.AppendUint(append(b, `,"flags":`...), uint64(f), 10)
	}
	return append(b, '}')
}

// appendTime appends a Unix nanosecond time as an RFC 3339 string (UTC).
func appendTime(b []byte, ts pcommon.Timestamp) []byte {
	b = append(b, '"')
	b = time.Unix(0, int64(ts)).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendHex(b []byte, id []byte) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, id)
	return append(b, '"')
}

// appendValue appends v as JSON.
func (e *rawEncoder) appendValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return jsonenc.AppendString(b, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return appendFloat(b, v.Double())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool())
	case pcommon.ValueTypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes().AsRaw())
		return append(b, '"')
	case pcommon.ValueTypeMap:
		return e.appendMap(b, v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		b = append(b, '[')
		for i := range s.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendValue(b, s.At(i))
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}

// appendFloat appends f as encoding/json does (ES6 number formatting);
// NaN and ±Inf, which JSON lacks, as the strings "NaN", "Infinity" and
// "-Infinity", as OTLP JSON and pcommon.Value.AsString write them.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 → 1e-7
		if m := len(b) - n; m >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b
}

// appendMap appends m as a JSON object with sorted keys, keeping the
// first value of a repeated key.
func (e *rawEncoder) appendMap(b []byte, m pcommon.Map) []byte {
	if m.Len() == 0 {
		return append(b, "{}"...)
	}
	if e.depth == len(e.pairs) {
		e.pairs = append(e.pairs, nil)
	}
	ps := e.pairs[e.depth][:0]
	for k, v := range m.All() {
		ps = append(ps, pair{k, v})
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return cmp.Compare(a.key, b.key) })
	e.pairs[e.depth] = ps
	e.depth++
	b = append(b, '{')
	for i, p := range ps {
		if i > 0 {
			if p.key == ps[i-1].key {
				continue
			}
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, p.key)
		b = append(b, ':')
		b = e.appendValue(b, p.val)
	}
	e.depth--
	clear(ps) // drop references to the request's values
	return append(b, '}')
}
