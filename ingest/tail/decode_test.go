package tail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/golden"
)

// Paths the whole-file golden inputs are read as.
var goldenPaths = map[string]string{
	"cri_join.log":    "/var/log/pods/default_web-7d9f8b6c5d-x2x9k_0f4c3b2a-1111-2222-3333-444455556666/app/0.log",
	"docker_join.log": "/var/lib/docker/containers/" + strings.Repeat("ab", 32) + "/" + strings.Repeat("ab", 32) + "-json.log",
}

// TestGolden decodes testdata/container: every line of a .txt file with
// the Decoder (one event or error per line), and every .log file whole,
// as the Tailer reads a file that will not grow (partial lines joined,
// path metadata, offset ids, rejected lines), comparing with .golden.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/container/*")
	n := 0
	for _, in := range files {
		ext := filepath.Ext(in)
		if ext != ".txt" && ext != ".log" {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if ext == ".txt" {
				for line := range strings.SplitSeq(strings.TrimSuffix(string(body), "\n"), "\n") {
					var ev event.Event
					if err := (Decoder{}).Decode([]byte(line), &ev); err != nil {
						fmt.Fprintf(&got, "error: %v\n", err)
						continue
					}
					writeEvent(t, &got, ev)
				}
			} else {
				info, ok := PathInfo(goldenPaths[filepath.Base(in)])
				if !ok {
					t.Fatalf("no path for %s", in)
				}
				c := readAll(t, body, info)
				for _, ev := range c.events {
					writeEvent(t, &got, ev)
				}
				for _, r := range c.rejects {
					fmt.Fprintf(&got, "reject %s: %v\n", r.reason, r.err)
				}
			}
			golden.Check(t, in+".golden", got.Bytes())
		})
	}
	if n == 0 {
		t.Fatal("no golden inputs")
	}
}

func writeEvent(t *testing.T, w *bytes.Buffer, ev event.Event) {
	t.Helper()
	checkEvent(t, ev)
	b, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.WriteByte('\n')
}

// checkEvent checks what every event must satisfy.
func checkEvent(t testing.TB, ev event.Event) {
	t.Helper()
	if ev.Source != Source || ev.EventID == "" {
		t.Fatalf("source %q, id %q", ev.Source, ev.EventID)
	}
	if ev.Time.Before(minTime) || !ev.Time.Before(maxTime) || ev.Time.Location() != time.UTC {
		t.Fatalf("time %v", ev.Time)
	}
	var m map[string]any
	if err := json.Unmarshal(ev.Raw, &m); err != nil || m == nil {
		t.Fatalf("raw %q is not a JSON object that decodes: %v", ev.Raw, err)
	}
}

// collector is an output that keeps everything.
type collector struct {
	events  []event.Event
	rejects []rejected
}

func (c *collector) event(ev event.Event) { c.events = append(c.events, ev) }
func (c *collector) reject(reason string, rec []byte, err error) {
	c.rejects = append(c.rejects, rejected{reason: reason, rec: append([]byte(nil), rec...), err: err})
}
func (c *collector) checkpoint() error { return nil }

// readAll reads body as the Tailer reads a file that will not grow.
func readAll(t testing.TB, body []byte, info Info) *collector {
	t.Helper()
	return readAllMax(t, body, info, DefaultMaxLineBytes)
}

func readAllMax(t testing.TB, body []byte, info Info, maxLine int) *collector {
	t.Helper()
	r := bytes.NewReader(body)
	f := newFollower(r, newMeta(info), formatAuto, maxLine)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	if len(*bp) < max(64<<10, maxLine+1) {
		*bp = make([]byte, max(64<<10, maxLine+1))
	}
	buf := *bp
	fp, err := readFingerprint(r, buf, true)
	if err != nil {
		t.Fatal(err)
	}
	f.fp = fp
	c := &collector{}
	if !fp.known() {
		return c
	}
	for {
		more, err := f.read(c, buf, readBudget, true)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	f.flushPartials(c)
	if f.pos != int64(len(body)) {
		t.Fatalf("read to %d of %d bytes", f.pos, len(body))
	}
	return c
}

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func TestParseCRI(t *testing.T) {
	for _, tc := range []struct {
		line    string
		stream  int
		partial bool
		text    string
		time    string
		err     string
	}{
		{line: "2026-01-02T15:04:05.123456789Z stdout F message", text: "message", time: "2026-01-02T15:04:05.123456789Z"},
		{line: "2026-01-02T15:04:05Z stderr P part ", stream: stderr, partial: true, text: "part ", time: "2026-01-02T15:04:05Z"},
		{line: "2026-01-02T16:04:05+01:00 stdout F x", text: "x", time: "2026-01-02T15:04:05Z"},
		{line: "2026-01-02T15:04:05Z stdout P:1 x y", partial: true, text: "x y", time: "2026-01-02T15:04:05Z"},
		{line: "2026-01-02T15:04:05Z stdout F", time: "2026-01-02T15:04:05Z"},
		{line: "2026-01-02T15:04:05Z stdout  x", err: `tag "" is not P or F`},
		{line: "2026-01-02T15:04:05Z  F x", err: `stream "" is not stdout or stderr`},
		{line: " stdout F x", err: `time "" is not RFC 3339`},
		{line: "", err: "no space after the time"},
	} {
		p, err := parseCRI([]byte(tc.line))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if p.stream != tc.stream || p.partial != tc.partial || string(p.text) != tc.text || p.time.Format(time.RFC3339Nano) != tc.time {
			t.Errorf("%q: got stream %d partial %v text %q time %v", tc.line, p.stream, p.partial, p.text, p.time)
		}
	}
}

func TestFailureLevel(t *testing.T) {
	for v, want := range map[string]bool{
		`"error"`: true, `"ERROR"`: true, `" Fatal "`: true, `"crit"`: true, `"panic"`: true, `"SEVERE"`: true,
		`"warn"`: false, `"info"`: false, `""`: false, `50`: true, `60`: true, `40`: false, `3`: false,
		`null`: false, `true`: false, `{"a":1}`: false, `"err\u006fr"`: true,
	} {
		if got := failureLevel(json.RawMessage(v)); got != want {
			t.Errorf("failureLevel(%s) = %v, want %v", v, got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range []string{"testdata/container/cri.txt", "testdata/container/docker.txt", "testdata/container/cri_join.log", "testdata/container/docker_join.log"} {
		b, _ := os.ReadFile(p)
		for line := range bytes.SplitSeq(b, []byte{'\n'}) {
			f.Add(line)
		}
	}
	f.Add([]byte(`{"LOG":"x\n","Stream":"stdout","time":"2019-01-01T11:11:11Z","log":null}`))
	f.Add([]byte(`{"log":"a\u00e9\ud83d\ude00\n","stream":"stderr","time":"2019-01-01T11:11:11Z","attrs":{"a":"b"},"attrs":null}`))
	f.Add([]byte(`{"level":"error","lvl":"info","Msg":"m","message":"n","msg":""}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		if len(rec) > 0 && rec[0] == '{' {
			checkDockerOracle(t, rec)
			if json.Valid(rec) {
				checkHintsOracle(t, rec)
			}
		}
		var ev, ev2 event.Event
		err := (Decoder{}).Decode(rec, &ev)
		err2 := (Decoder{}).Decode(rec, &ev2)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %v, %v", err, err2)
		}
		if err != nil {
			return
		}
		checkEvent(t, ev)
		a, _ := json.Marshal(ev)
		b, _ := json.Marshal(ev2)
		if !bytes.Equal(a, b) {
			t.Fatalf("not deterministic:\n%s\n%s", a, b)
		}
		// Read as a file, the line gives the same message (or is rejected
		// the same way).
		c := readAll(t, append(append([]byte(nil), rec...), '\n'), Info{Restart: -1})
		if bytes.IndexByte(rec, '\n') < 0 && len(rec) > 0 {
			if len(c.events) != 1 || c.events[0].Message != ev.Message {
				t.Fatalf("file read gives %d events, want 1 with message %q", len(c.events), ev.Message)
			}
		}
	})
}

// parseDockerRef is parseDocker written with encoding/json, the oracle
// of the hand-written scan.
func parseDockerRef(line []byte) (part, error) {
	p := part{format: formatDocker}
	var d struct {
		Log    *string         `json:"log"`
		Stream *string         `json:"stream"`
		Time   *string         `json:"time"`
		Attrs  json.RawMessage `json:"attrs"`
	}
	if err := json.Unmarshal(line, &d); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return p, fmt.Errorf("docker json-file line: field %q is a JSON %s, want a string", te.Field, te.Value)
		}
		return p, fmt.Errorf("docker json-file line: invalid JSON: %w", err)
	}
	switch {
	case d.Log == nil:
		return p, errors.New(`docker json-file line: no "log" field`)
	case d.Time == nil:
		return p, errors.New(`docker json-file line: no "time" field`)
	case d.Stream == nil:
		return p, errors.New(`docker json-file line: no "stream" field`)
	}
	var err error
	if p.time, err = parseTime(*d.Time); err != nil {
		return p, fmt.Errorf("docker json-file line: %w", err)
	}
	if p.stream, err = parseStream([]byte(*d.Stream)); err != nil {
		return p, fmt.Errorf("docker json-file line: %w", err)
	}
	p.timeText, p.text = *d.Time, []byte(*d.Log)
	p.partial = len(p.text) == 0 || p.text[len(p.text)-1] != '\n'
	if len(d.Attrs) > 0 && d.Attrs[0] == '{' && numbersFit(d.Attrs) {
		p.attrs = d.Attrs
	}
	return p, nil
}

func checkDockerOracle(t *testing.T, line []byte) {
	t.Helper()
	got, err := parseDocker(line)
	want, werr := parseDockerRef(line)
	if (err == nil) != (werr == nil) {
		t.Fatalf("parseDocker(%q): error %v, encoding/json says %v", line, err, werr)
	}
	if err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](werr); !ok && !strings.Contains(werr.Error(), "field") && err.Error() != werr.Error() {
			t.Fatalf("parseDocker(%q): error %q, encoding/json says %q", line, err, werr)
		}
		return
	}
	if !bytes.Equal(got.text, want.text) || got.timeText != want.timeText || got.stream != want.stream ||
		got.partial != want.partial || !bytes.Equal(got.attrs, want.attrs) || !got.time.Equal(want.time) {
		t.Fatalf("parseDocker(%q) = %+v, encoding/json says %+v", line, got, want)
	}
}

// checkHintsOracle compares jsonHints with encoding/json.
func checkHintsOracle(t *testing.T, obj []byte) {
	t.Helper()
	var h struct {
		Level     json.RawMessage `json:"level"`
		Lvl       json.RawMessage `json:"lvl"`
		Severity  json.RawMessage `json:"severity"`
		LogLevel  json.RawMessage `json:"log.level"`
		LevelName json.RawMessage `json:"levelname"`
		Msg       json.RawMessage `json:"msg"`
		Message   json.RawMessage `json:"message"`
	}
	if json.Unmarshal(obj, &h) != nil {
		return
	}
	var level, text []byte
	for _, v := range [][]byte{h.Level, h.Lvl, h.Severity, h.LogLevel, h.LevelName} {
		if v != nil {
			level = v
			break
		}
	}
	for _, v := range [][]byte{h.Msg, h.Message} {
		var s string
		if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil && s != "" {
			text = v
			break
		}
	}
	gl, gt := jsonHints(obj)
	if !bytes.Equal(gl, level) || !bytes.Equal(gt, text) {
		t.Fatalf("jsonHints(%q) = %q, %q; encoding/json says %q, %q", obj, gl, gt, level, text)
	}
}

var benchLines = map[string]string{
	"cri":         "2026-01-02T15:04:05.123456789Z stdout F 10.0.0.7 - - [02/Jan/2026:15:04:05 +0000] \"GET /api/v1/users?id=42 HTTP/1.1\" 200 1534 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
	"cri_json":    `2026-01-02T15:04:05.123456789Z stderr F {"level":"error","ts":1767366245.123,"caller":"db/pool.go:42","msg":"connection refused","addr":"10.0.0.7:5432","attempt":3}`,
	"docker":      `{"log":"10.0.0.7 - - [02/Jan/2026:15:04:05 +0000] \"GET /api/v1/users?id=42 HTTP/1.1\" 200 1534 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"\n","stream":"stdout","time":"2026-01-02T15:04:05.123456789Z"}`,
	"docker_json": `{"log":"{\"level\":\"error\",\"ts\":1767366245.123,\"caller\":\"db/pool.go:42\",\"msg\":\"connection refused\",\"addr\":\"10.0.0.7:5432\",\"attempt\":3}\n","stream":"stderr","time":"2026-01-02T15:04:05.123456789Z"}`,
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"cri", "cri_json", "docker", "docker_json"} {
		line := []byte(benchLines[name])
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			var ev event.Event
			for b.Loop() {
				if err := (Decoder{}).Decode(line, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
