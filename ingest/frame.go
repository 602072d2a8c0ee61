package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
)

// RecordError says which record of a body could not be read, so the
// sender can find and fix it.
type RecordError struct {
	// Line is the 1-based line of the body where the bad record starts.
	Line int
	// Index is the 0-based index of the record in the body.
	Index int
	// Err is what is wrong with the record.
	Err error
	// framing says the JSON around the record could not be split.
	framing bool
}

// Error names the record by its 1-based number and its line.
func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d (line %d): %v", e.Index+1, e.Line, e.Err)
}

// Unwrap returns Err.
func (e *RecordError) Unwrap() error { return e.Err }

// Framing is how records are laid out in a body.
type Framing int

// Framings.
const (
	// FrameJSON is one JSON value: an object or an array of objects (and,
	// for sources with envelopes, a CloudTrail file {"Records":[...]}, an
	// EventBridge event or a Kubernetes audit EventList).
	FrameJSON Framing = iota
	// FrameNDJSON is one JSON value per line; each line is split as
	// FrameJSON is.
	FrameNDJSON
	// FrameLines is one record per non-blank line, whatever the line
	// holds (without its line end): the framing of line formats such as
	// access logs, for decoders that implement LineRecords.
	FrameLines
)

// LineRecords is implemented by decoders of line formats (access logs):
// a text/plain body gives them one record per line (FrameLines), and the
// record may be text or JSON. Other decoders get a text/plain body as
// NDJSON.
type LineRecords interface {
	LineRecords() bool
}

// framingFor returns the framing of a body with media framing f for dec.
func framingFor(f Framing, dec Decoder) Framing {
	if l, ok := dec.(LineRecords); ok && l.LineRecords() {
		return f
	}
	if f == FrameLines {
		return FrameNDJSON
	}
	return f
}

// Envelope is a set of envelope kinds, the JSON objects that wrap records
// of a source and that SplitRecords opens for it. The zero Envelope opens
// none: every JSON object is one record, whatever its keys.
type Envelope uint8

// Envelope kinds.
const (
	// EnvelopeCloudTrailFile is a CloudTrail S3 file {"Records":[...]}:
	// one record per element of Records.
	EnvelopeCloudTrailFile Envelope = 1 << iota
	// EnvelopeEventBridge is an EventBridge event {"detail-type":"…",
	// "detail":{…}}: its detail is the record.
	EnvelopeEventBridge
	// EnvelopeEventList is a Kubernetes audit EventList, as the API
	// server's webhook backend posts it: {"kind":"EventList",
	// "items":[...]}, one record per element of items.
	EnvelopeEventList
	// EnvelopeAzureRecords is an Azure resource log delivery
	// {"records":[...]}: one record per element of records.
	EnvelopeAzureRecords
)

// Enveloped is implemented by decoders whose records may arrive wrapped
// in envelopes. Envelopes returns the envelope kinds opened for the
// decoder's source. A decoder that does not implement Enveloped gets
// every JSON object as one record, whatever its keys: a log line
// {"msg":"…","Records":[]} is one event.
type Enveloped interface {
	Envelopes() Envelope
}

// Envelopes returns the envelope kinds SplitRecords should open for the
// records of dec (see Enveloped); 0 for a decoder without envelopes.
func Envelopes(dec Decoder) Envelope {
	if e, ok := dec.(Enveloped); ok {
		return e.Envelopes()
	}
	return 0
}

// SplitRecords calls fn with each record of body, in order. A JSON array
// (the body, or an NDJSON line) holds one record per element. env says
// which envelopes are opened: a CloudTrail file {"Records":[...]} holds
// one record per element of Records, an EventBridge event
// ({"detail-type":…, "detail":{…}}) holds its detail, and a Kubernetes
// audit EventList ({"kind":"EventList","items":[...]}) one record per
// element of items, and an Azure delivery ({"records":[...]}) one per
// element of records; an array of such envelopes is opened too. Records
// inside an envelope are not opened again.
//
// FrameLines hands over every non-blank line as it is (see LineRecords).
// With the other framings, every record is a sub-slice of body that
// starts as a JSON object. SplitRecords checks the JSON around the
// records (brackets, commas, envelope members) but not the records
// themselves, which fn must parse (every Decoder does). It stops at the
// first error, which is a *RecordError naming the line where the bad
// record starts (for a pretty-printed array or envelope, the line of the
// record's "{").
func SplitRecords(body []byte, f Framing, env Envelope, fn func(rec []byte) error) error {
	return splitRecords(body, f, env, fn, nil)
}

// Rejection is the failure of one record alone. Returned by the fn of
// splitRecords with a reject callback, the record is handed to reject
// and splitting goes on, so the records around it are still ingested.
type Rejection struct {
	// Reason is the metric label, e.g. "bad_record".
	Reason string
	// Err says what is wrong with the record.
	Err error
}

// Error returns Err's text.
func (r *Rejection) Error() string { return r.Err.Error() }

// Unwrap returns Err.
func (r *Rejection) Unwrap() error { return r.Err }

// rejectFunc receives a record that is skipped: its error (naming the
// record and line; Err is a *Rejection for a record fn refused, else
// the NDJSON line could not be split) and its bytes.
type rejectFunc func(re *RecordError, rec []byte) error

// splitRecords is SplitRecords; with reject set, a record that fn
// refuses with a *Rejection, and an NDJSON or text line that cannot be
// split, are handed to reject instead of stopping the split.
func splitRecords(body []byte, f Framing, env Envelope, fn func(rec []byte) error, reject rejectFunc) error {
	if f == FrameLines {
		return splitLines(body, fn, reject)
	}
	s := splitter{b: body, env: env, fn: fn, reject: reject, line: 1}
	if f == FrameJSON {
		i, j := trim(body, 0, len(body))
		if i == j {
			return &RecordError{Line: 1, Err: errEmpty}
		}
		return s.value(i, j)
	}
	if reject != nil {
		return s.lenientLines()
	}
	for l := range nonBlankLines(body) {
		s.line, s.pos = l.num, l.start
		if err := s.value(l.i, l.j); err != nil {
			return err
		}
	}
	return nil
}

// line is one non-blank line of a body: its 1-based number, where it
// starts, and its bounds [i, j) without surrounding white space.
type line struct{ num, start, i, j int }

// nonBlankLines yields the non-blank lines of b.
func nonBlankLines(b []byte) iter.Seq[line] {
	return func(yield func(line) bool) {
		for start, num := 0, 1; start < len(b); num++ {
			end := len(b)
			if k := bytes.IndexByte(b[start:], '\n'); k >= 0 {
				end = start + k
			}
			if i, j := trim(b, start, end); i < j && !yield(line{num, start, i, j}) {
				return
			}
			start = end + 1
		}
	}
}

// refused hands a record that fn refused to reject when the refusal is
// the record's own (a *Rejection) and a reject callback is set; any other
// error stops the split, as re.
func refused(reject rejectFunc, re *RecordError, rec []byte) error {
	if _, ok := errors.AsType[*Rejection](re.Err); !ok || reject == nil {
		return re
	}
	return reject(re, rec)
}

// lenientLines splits an NDJSON body whose bad lines are rejected alone:
// a line's records reach fn only once the whole line has split, so a line
// is either ingested or rejected, never both.
func (s *splitter) lenientLines() error {
	fn := s.fn
	var pending [][]byte
	s.fn = func(rec []byte) error {
		pending = append(pending, rec)
		return nil
	}
	for l := range nonBlankLines(s.b) {
		s.line, s.pos = l.num, l.start
		first := s.idx
		pending = pending[:0]
		if err := s.value(l.i, l.j); err != nil {
			var re *RecordError
			if !errors.As(err, &re) || !re.framing {
				return err
			}
			re.Index, s.idx = first, first+1
			if err := s.reject(re, s.b[l.i:l.j]); err != nil {
				return err
			}
			continue
		}
		for k, rec := range pending {
			if err := fn(rec); err != nil {
				if err := refused(s.reject, &RecordError{Line: l.num, Index: first + k, Err: err}, rec); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// splitLines calls fn with each non-blank line of body, trimmed of
// surrounding white space.
func splitLines(body []byte, fn func(rec []byte) error, reject rejectFunc) error {
	idx := 0
	for l := range nonBlankLines(body) {
		rec := body[l.i:l.j]
		if err := fn(rec); err != nil {
			if err := refused(reject, &RecordError{Line: l.num, Index: idx, Err: err}, rec); err != nil {
				return err
			}
		}
		idx++
	}
	return nil
}

var errEmpty = errors.New("empty record")

// splitter walks one body. Positions are indexes into b.
type splitter struct {
	b         []byte
	env       Envelope
	fn        func([]byte) error
	reject    rejectFunc
	idx       int // index of the next record
	line, pos int // b[pos] is on line line
}

// lineAt returns the line of b[i]; i never decreases between calls.
func (s *splitter) lineAt(i int) int {
	s.line += bytes.Count(s.b[s.pos:i], []byte{'\n'})
	s.pos = i
	return s.line
}

func (s *splitter) fail(i int, err error) error {
	return &RecordError{Line: s.lineAt(i), Index: s.idx, Err: err, framing: true}
}

func (s *splitter) syntax(i int, format string, args ...any) error {
	return s.fail(i, fmt.Errorf("invalid JSON: "+format, args...))
}

// emit hands the record b[i:j] to fn.
func (s *splitter) emit(i, j int) error {
	line := s.lineAt(i)
	if err := s.fn(s.b[i:j]); err != nil {
		if err := refused(s.reject, &RecordError{Line: line, Index: s.idx, Err: err}, s.b[i:j]); err != nil {
			return err
		}
	}
	s.idx++
	return nil
}

// value splits the JSON value b[i:j], which is trimmed and not empty.
func (s *splitter) value(i, j int) error {
	switch s.b[i] {
	case '[':
		return s.array(i, j, true)
	case '{':
		return s.object(i, j)
	default:
		return s.fail(i, fmt.Errorf("want a JSON object or array, got %q", clip(s.b[i:j], 16)))
	}
}

// array splits the array b[i:j], which holds objects and nothing after
// it. open says whether its elements may be envelopes.
func (s *splitter) array(i, j int, open bool) error {
	b := s.b
	k := skipWS(b, i+1, j)
	if k < j && b[k] == ']' {
		k++
	} else {
		for {
			k = skipWS(b, k, j)
			if k == j {
				return s.syntax(k, "unexpected end of the array")
			}
			if b[k] == ']' {
				return s.syntax(k, "',' before ']'")
			}
			if b[k] != '{' {
				e, _ := skipValue(b, k, j)
				e = max(e, min(k+1, j))
				return s.fail(k, fmt.Errorf("want a JSON object in the array, got %q", clip(b[k:e], 16)))
			}
			e, ok := skipValue(b, k, j)
			if !ok {
				return s.syntax(k, "unterminated object")
			}
			var err error
			if open {
				err = s.object(k, e)
			} else {
				err = s.emit(k, e)
			}
			if err != nil {
				return err
			}
			k = skipWS(b, e, j)
			if k < j && b[k] == ',' {
				k++
				continue
			}
			if k < j && b[k] == ']' {
				k++
				break
			}
			if k == j {
				return s.syntax(k, "unexpected end of the array")
			}
			return s.syntax(k, "want ',' or ']' after an array element, got %q", clip(b[k:j], 16))
		}
	}
	if k = skipWS(b, k, j); k < j {
		return s.syntax(k, "data after the array: %q", clip(b[k:j], 16))
	}
	return nil
}

// object splits the object b[i:j]: it is one record unless it is an
// envelope of a kind in s.env.
func (s *splitter) object(i, j int) error {
	obj := s.b[i:j]
	// Cheap pre-check: only objects that mention the envelope keys are
	// scanned for them.
	if !(s.env&EnvelopeCloudTrailFile != 0 && bytes.Contains(obj, []byte(`"Records"`)) ||
		s.env&EnvelopeEventBridge != 0 && bytes.Contains(obj, []byte(`"detail"`)) ||
		s.env&EnvelopeEventList != 0 && bytes.Contains(obj, []byte(`"items"`)) ||
		s.env&EnvelopeAzureRecords != 0 && bytes.Contains(obj, []byte(`"records"`))) {
		return s.emit(i, j)
	}
	m, ok := envelopeMembers(s.b, i, j, -1)
	if !ok {
		return s.emit(i, j) // malformed: the decoder says what is wrong
	}
	switch {
	case s.env&EnvelopeCloudTrailFile != 0 && m.records.set() && s.b[m.records.i] == '[':
		// The records are checked one by one; everything else in the
		// envelope is checked here.
		if _, ok := envelopeMembers(s.b, i, j, m.records.i); ok {
			return s.array(m.records.i, m.records.j, false)
		}
	case s.env&EnvelopeEventBridge != 0 && m.detailType.set() && s.b[m.detailType.i] == '"' && m.detailType.len() > 2 &&
		m.detail.set() && s.b[m.detail.i] == '{':
		if _, ok := envelopeMembers(s.b, i, j, m.detail.i); ok {
			return s.emit(m.detail.i, m.detail.j)
		}
	case s.env&EnvelopeEventList != 0 && m.items.set() && s.b[m.items.i] == '[' &&
		string(s.b[m.kind.i:m.kind.j]) == `"EventList"`:
		if _, ok := envelopeMembers(s.b, i, j, m.items.i); ok {
			return s.array(m.items.i, m.items.j, false)
		}
	case s.env&EnvelopeAzureRecords != 0 && m.azureRecords.set() && s.b[m.azureRecords.i] == '[':
		if _, ok := envelopeMembers(s.b, i, j, m.azureRecords.i); ok {
			return s.array(m.azureRecords.i, m.azureRecords.j, false)
		}
	}
	return s.emit(i, j)
}

// span is b[i:j]; the zero span is unset.
type span struct{ i, j int }

func (p span) set() bool { return p.j > 0 }
func (p span) len() int  { return p.j - p.i }

// members are the values of the envelope members of an object.
type members struct{ records, detail, detailType, kind, items, azureRecords span }

// envelopeMembers scans the members of the object b[i:j] and returns the
// values of Records, detail, detail-type, kind, items and records (the last of a
// repeated key, as encoding/json does). ok is false when the object is
// malformed. With check >= 0 it also validates every key and every value
// but the one that starts at b[check], and ok is false when one is not
// valid JSON.
func envelopeMembers(b []byte, i, j, check int) (m members, ok bool) {
	k := skipWS(b, i+1, j)
	if k < j && b[k] == '}' {
		return m, skipWS(b, k+1, j) == j
	}
	for {
		if k == j || b[k] != '"' {
			return m, false
		}
		ke, ok := skipString(b, k, j)
		if !ok {
			return m, false
		}
		key := b[k+1 : ke-1]
		if check >= 0 && !json.Valid(b[k:ke]) {
			return m, false
		}
		k = skipWS(b, ke, j)
		if k == j || b[k] != ':' {
			return m, false
		}
		k = skipWS(b, k+1, j)
		if k == j {
			return m, false
		}
		ve, ok := skipValue(b, k, j)
		if !ok {
			return m, false
		}
		if check >= 0 && k != check && !json.Valid(b[k:ve]) {
			return m, false
		}
		switch string(key) {
		case "Records":
			m.records = span{k, ve}
		case "detail":
			m.detail = span{k, ve}
		case "detail-type":
			m.detailType = span{k, ve}
		case "kind":
			m.kind = span{k, ve}
		case "items":
			m.items = span{k, ve}
		case "records":
			m.azureRecords = span{k, ve}
		}
		k = skipWS(b, ve, j)
		if k < j && b[k] == ',' {
			k = skipWS(b, k+1, j)
			continue
		}
		if k < j && b[k] == '}' {
			return m, skipWS(b, k+1, j) == j
		}
		return m, false
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// skipWS returns the index of the first non-whitespace byte of b[i:j], or j.
func skipWS(b []byte, i, j int) int {
	for i < j && isSpace(b[i]) {
		i++
	}
	return i
}

// trim returns the bounds of b[i:j] without surrounding JSON white space.
func trim(b []byte, i, j int) (int, int) {
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return i, j
}

// skipString returns the end of the string that starts at b[i] == '"'.
func skipString(b []byte, i, j int) (int, bool) {
	for k := i + 1; k < j; {
		q := bytes.IndexByte(b[k:j], '"')
		if q < 0 {
			return j, false
		}
		q += k
		n := 0 // backslashes before the quote
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, true
		}
		k = q + 1
	}
	return j, false
}

// skipValue returns the end of the JSON value that starts at b[i]. It
// matches brackets and strings but does not validate: the decoder does.
func skipValue(b []byte, i, j int) (int, bool) {
	switch b[i] {
	case '"':
		return skipString(b, i, j)
	case '{', '[':
		depth := 0
		for k := i; k < j; k++ {
			switch b[k] {
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return k + 1, true
				}
			case '"':
				e, ok := skipString(b, k, j)
				if !ok {
					return j, false
				}
				k = e - 1
			}
		}
		return j, false
	case '}', ']', ',', ':':
		return i, false
	}
	k := i
	for k < j && !isSpace(b[k]) && b[k] != ',' && b[k] != ']' && b[k] != '}' && b[k] != ':' && b[k] != '"' {
		k++
	}
	return k, k > i
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
