package otlplog

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The records of a request are counted before it is unmarshaled: a
// record can take 2 bytes of protobuf (3 of JSON) and hundreds once
// unmarshaled and decoded, so a body within the size limit could
// otherwise take gigabytes before Limits.MaxRecords is checked.

// tooMany is the error for n records over the limit.
func tooMany(n, limit int) error {
	return fmt.Errorf("%w: %d in one request, limit %d; split the batch", ErrTooManyRecords, n, limit)
}

// countProtoRecords counts the log records of a protobuf
// ExportLogsServiceRequest without unmarshaling it (resource_logs = 1,
// scope_logs = 2, log_records = 2). ok is false when the body is not
// well-formed protobuf at these levels.
func countProtoRecords(b []byte) (n int, ok bool) {
	ok = forEachField(b, 1, func(rl []byte) bool {
		return forEachField(rl, 2, func(sl []byte) bool {
			return forEachField(sl, 2, func([]byte) bool { n++; return true })
		})
	})
	return n, ok
}

// forEachField calls f with the bytes of every length-delimited field num
// of the message b, and skips the other fields. It reports false when b
// is malformed or f does.
func forEachField(b []byte, num protowire.Number, f func([]byte) bool) bool {
	for len(b) > 0 {
		fn, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if fn == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 || !f(v) {
				return false
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(fn, typ, b)
		if m < 0 {
			return false
		}
		b = b[m:]
	}
	return true
}

// scanJSON counts the objects in "logRecords" (or "log_records") arrays
// of a JSON body without parsing it, for the same reason as
// countProtoRecords, and finds where the first top-level object or
// array ends (0 if it does not). Such an array anywhere counts (an
// unknown field of that name too), and a key spelled with escapes is
// missed: the count after unmarshaling still applies.
func scanJSON(b []byte) (n, end int) {
	var open []bool // per open array or object: a logRecords array
	var key []byte  // the object key just read, until its value starts
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(b) {
				return n, 0
			}
			s := b[i+1 : j]
			i = j
			k := j + 1
			for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
				k++
			}
			key = nil
			if k < len(b) && b[k] == ':' {
				key = s
			}
		case '[':
			open = append(open, string(key) == "logRecords" || string(key) == "log_records")
			key = nil
		case '{':
			if len(open) > 0 && open[len(open)-1] {
				n++
			}
			open = append(open, false)
			key = nil
		case ']', '}':
			if len(open) > 0 {
				open = open[:len(open)-1]
				if len(open) == 0 && end == 0 {
					end = i + 1
				}
			}
			key = nil
		}
	}
	return n, end
}
