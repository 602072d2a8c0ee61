package tail

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/jsonenc"
)

// record is one log entry: one line, or the partial lines of an entry
// joined.
type record struct {
	part             // the first line's time, stream and format
	text      []byte // the joined text
	partial   bool   // the entry's end is not in the record
	continued bool   // the entry's start was published as an event of its own
}

// buildEvent fills ev from r. meta holds what the file's path says; nil
// when unknown.
func buildEvent(ev *event.Event, r *record, meta *fileMeta, id string) {
	// The message without its line end (docker keeps "\n" in log; a
	// Windows program's "\r" stays before it).
	msg := bytes.TrimSuffix(r.text, []byte{'\n'})
	msg = bytes.TrimSuffix(msg, []byte{'\r'})
	*ev = event.Event{Time: r.time, Source: Source, EventID: id}
	var obj []byte // the message when it is a JSON object
	if t := bytes.TrimSpace(msg); len(t) >= 2 && t[0] == '{' && t[len(t)-1] == '}' &&
		json.Valid(t) && utf8.Valid(t) && numbersFit(t) {
		obj = t
		level, text := jsonHints(t)
		if level != nil && failureLevel(level) {
			ev.Outcome = event.OutcomeFailure
		}
		if s, ok := stringValue(text); ok && len(s) > 0 {
			ev.Message = string(s)
		}
	}
	if ev.Message == "" {
		ev.Message = toValidUTF8(msg)
	}

	n := 96 + len(r.timeText) + len(r.text) + len(obj) + len(r.attrs)
	if meta != nil {
		n += len(meta.raw)
		ev.Service, ev.Target = meta.service, meta.target
	}
	b := make([]byte, 0, n+n/16)
	if r.format == formatDocker {
		b = append(b, `{"format":"docker","time":`...)
	} else {
		b = append(b, `{"format":"cri","time":`...)
	}
	b = jsonenc.AppendString(b, r.timeText)
	b = append(b, `,"stream":"`...)
	b = append(b, streamNames[r.stream]...)
	if r.format == formatDocker {
		b = append(b, `","log":`...)
	} else {
		b = append(b, `","message":`...)
	}
	b = jsonenc.AppendBytes(b, r.text)
	if r.partial {
		b = append(b, `,"partial":true`...)
	}
	if r.continued {
		b = append(b, `,"continued":true`...)
	}
	if meta != nil {
		b = append(b, meta.raw...)
	}
	if r.attrs != nil {
		b = append(b, `,"attrs":`...)
		b = append(b, r.attrs...)
	}
	if obj != nil {
		b = append(b, `,"json":`...)
		b = append(b, obj...)
	}
	ev.Raw = append(b, '}')
}

// Members of a JSON message that name its level and its text, by
// precedence (keys match case-insensitively).
var (
	levelKeys = [][]byte{[]byte("level"), []byte("lvl"), []byte("severity"), []byte("log.level"), []byte("levelname")}
	textKeys  = [][]byte{[]byte("msg"), []byte("message")}
)

// jsonHints returns the raw values of the first level and text members
// of the valid JSON object obj (by the precedence of levelKeys and
// textKeys), nil when absent.
func jsonHints(obj []byte) (level, text []byte) {
	var levels [5][]byte
	var texts [2][]byte
	eachMember(obj, func(k, v []byte) {
		for i, name := range levelKeys {
			if bytes.EqualFold(k, name) {
				levels[i] = v
				return
			}
		}
		for i, name := range textKeys {
			if bytes.EqualFold(k, name) {
				texts[i] = v
				return
			}
		}
	})
	for _, v := range levels {
		if v != nil {
			level = v
			break
		}
	}
	for _, v := range texts {
		if s, ok := stringValue(v); ok && len(s) > 0 {
			return level, v
		}
	}
	return level, nil
}

// failureLevel reports whether a level value means an error: error, fatal
// and the like as text (any case), or a pino/bunyan number >= 50.
func failureLevel(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	if v[0] != '"' {
		f, err := strconv.ParseFloat(string(v), 64)
		return err == nil && f >= 50
	}
	s, ok := stringValue(v)
	if !ok {
		return false
	}
	switch strings.ToLower(string(bytes.TrimSpace(s))) {
	case "error", "err", "fatal", "critical", "crit", "panic", "dpanic", "alert", "emerg", "emergency", "severe":
		return true
	}
	return false
}

// toValidUTF8 returns b as a string, each invalid byte replaced by U+FFFD
// (as in Raw).
func toValidUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for _, r := range string(b) {
		sb.WriteRune(r)
	}
	return sb.String()
}
