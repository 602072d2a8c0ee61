package tail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// Source is the source name of container log events.
const Source = "container"

// Line formats.
const (
	formatAuto   uint8 = iota // CRI, or docker json-file when the line starts with '{'
	formatCRI                 // <time> <stream> <tag> <message>
	formatDocker              // {"log":"…\n","stream":"…","time":"…"}
)

// Streams, the index of a pending record in follower.pend.
const (
	stdout = 0
	stderr = 1
)

var streamNames = [2]string{"stdout", "stderr"}

// Decoder decodes one line of a container log file: a CRI line
// (`2026-01-02T15:04:05.123456789Z stdout F message`) or a docker
// json-file line (`{"log":"message\n","stream":"stderr","time":"…"}`),
// told apart by the first byte ('{' is docker).
//
// Each line is one event: a partial line (CRI tag P, or a docker line
// whose log does not end in "\n") is an event of its own with Raw
// "partial": true. The Tailer joins partial lines of a file instead. The
// event id is a content hash of the line (see ContentIDs); the Tailer
// makes ids from the file and offset instead.
type Decoder struct{}

// LineRecords reports that a text body holds one line per record.
func (Decoder) LineRecords() bool { return true }

// ContentIDs reports that event ids are content hashes: a log line has no
// id of its own.
func (Decoder) ContentIDs() bool { return true }

// Decode implements ingest.Decoder.
func (Decoder) Decode(rec []byte, ev *event.Event) error {
	p, err := parseLine(rec, formatAuto)
	if err != nil {
		return err
	}
	r := record{part: p, text: p.text, partial: p.partial}
	buildEvent(ev, &r, nil, event.ContentID(Source, rec))
	return nil
}

// part is one parsed line.
type part struct {
	format   uint8
	stream   int
	partial  bool      // the entry goes on in the next line of the stream
	time     time.Time // UTC
	timeText string
	text     []byte          // CRI: the message; docker: the log value (with its "\n")
	attrs    json.RawMessage // docker attrs object, if any
}

// parseLine parses one line (without its line end) in format f.
// part.text may alias line.
func parseLine(line []byte, f uint8) (part, error) {
	if f == formatDocker || f == formatAuto && len(line) > 0 && line[0] == '{' {
		return parseDocker(line)
	}
	return parseCRI(line)
}

const criShape = "not a CRI line (<time> <stdout|stderr> <P|F> <message>)"

// parseCRI parses `<RFC3339Nano time> <stdout|stderr> <tags> <message>`.
// Tags are ':'-separated; the first is P (partial) or F (full), later
// ones are ignored, as kubelet does.
func parseCRI(line []byte) (part, error) {
	p := part{format: formatCRI}
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		return p, fmt.Errorf("%s: no space after the time in %q", criShape, clip(line))
	}
	p.timeText = string(line[:i])
	t, err := parseTime(p.timeText)
	if err != nil {
		return p, fmt.Errorf("%s: %w", criShape, err)
	}
	p.time = t
	rest := line[i+1:]
	i = bytes.IndexByte(rest, ' ')
	if i < 0 {
		return p, fmt.Errorf("%s: no space after the stream in %q", criShape, clip(line))
	}
	if p.stream, err = parseStream(rest[:i]); err != nil {
		return p, fmt.Errorf("%s: %w", criShape, err)
	}
	rest = rest[i+1:]
	tags := rest
	if i = bytes.IndexByte(rest, ' '); i >= 0 {
		tags, p.text = rest[:i], rest[i+1:]
	} else {
		p.text = rest[len(rest):] // "<time> <stream> F": an empty message
	}
	if j := bytes.IndexByte(tags, ':'); j >= 0 {
		tags = tags[:j]
	}
	switch string(tags) {
	case "P":
		p.partial = true
	case "F":
	default:
		return p, fmt.Errorf("%s: tag %q is not P or F", criShape, clip(tags))
	}
	return p, nil
}

// parseDocker parses a docker json-file line: a JSON object with the
// strings log, stream and time, and maybe attrs (an object). Keys match
// case-insensitively and a null is a missing member, as encoding/json
// decodes the line into a struct (the test checks it does the same).
func parseDocker(line []byte) (part, error) {
	p := part{format: formatDocker}
	if len(line) == 0 || line[0] != '{' {
		return p, fmt.Errorf("docker json-file line: want a JSON object, got %q", clip(line))
	}
	if !json.Valid(line) {
		var v any
		err := json.Unmarshal(line, &v)
		return p, fmt.Errorf("docker json-file line: invalid JSON: %w", err)
	}
	var fields [3][]byte // log, stream, time; nil when missing or null
	var typeErr error
	eachMember(line, func(k, v []byte) {
		i := -1
		switch {
		case bytes.EqualFold(k, []byte("log")):
			i = 0
		case bytes.EqualFold(k, []byte("stream")):
			i = 1
		case bytes.EqualFold(k, []byte("time")):
			i = 2
		case bytes.EqualFold(k, []byte("attrs")):
			p.attrs = nil
			if v[0] == '{' && numbersFit(v) { // what Raw holds must decode
				p.attrs = v
			}
			return
		default:
			return
		}
		if string(v) == "null" {
			fields[i] = nil
			return
		}
		s, ok := stringValue(v)
		if !ok {
			if typeErr == nil {
				typeErr = fmt.Errorf("docker json-file line: field %q is a JSON %s, want a string", dockerFields[i], jsonKind(v))
			}
			return
		}
		fields[i] = s
	})
	switch {
	case typeErr != nil:
		return p, typeErr
	case fields[0] == nil:
		return p, errors.New(`docker json-file line: no "log" field`)
	case fields[2] == nil:
		return p, errors.New(`docker json-file line: no "time" field`)
	case fields[1] == nil:
		return p, errors.New(`docker json-file line: no "stream" field`)
	}
	var err error
	p.timeText = string(fields[2])
	if p.time, err = parseTime(p.timeText); err != nil {
		return p, fmt.Errorf("docker json-file line: %w", err)
	}
	if p.stream, err = parseStream(fields[1]); err != nil {
		return p, fmt.Errorf("docker json-file line: %w", err)
	}
	p.text = fields[0]
	p.partial = len(p.text) == 0 || p.text[len(p.text)-1] != '\n'
	return p, nil
}

var dockerFields = [3]string{"log", "stream", "time"}

// jsonKind names the kind of the JSON value v as encoding/json does.
func jsonKind(v []byte) string {
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// parseTime parses an RFC 3339 time with a Z or a numeric offset (CRI-O)
// in the storable range.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("time %q is not RFC 3339", clip([]byte(s)))
	}
	t = t.UTC()
	if t.Before(minTime) || !t.Before(maxTime) {
		return t, fmt.Errorf("time %s is out of range (1970–2105)", s)
	}
	return t, nil
}

func parseStream(b []byte) (int, error) {
	switch string(b) {
	case "stdout":
		return stdout, nil
	case "stderr":
		return stderr, nil
	}
	return 0, fmt.Errorf("stream %q is not stdout or stderr", clip(b))
}

// clip shortens b for an error message.
func clip(b []byte) string {
	const n = 40
	if len(b) > n {
		return string(b[:n]) + "…" // %q shows a cut rune as escapes
	}
	return string(b)
}
