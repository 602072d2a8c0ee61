package gcplog

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/golden"
)

// goldenMax is the MaxDataBytes of the golden tests, small so that
// testdata/gcp/push-oversize.ndjson stays small.
const goldenMax = 4096

// TestGolden decodes every line of testdata/gcp/*.ndjson (one record per
// line) and compares the events, or errors, with the .golden file beside
// it.
func TestGolden(t *testing.T) {
	dec := Decoder{MaxDataBytes: goldenMax}
	golden.Files(t, "testdata/gcp/*.ndjson", func(_ *testing.T, body []byte) []byte {
		return golden.Lines(body, dec.Decode)
	})
}

// TestPushMatchesBare: an entry pushed through Pub/Sub decodes to the same
// event as the bare entry, but for the pubsub member of Raw.
func TestPushMatchesBare(t *testing.T) {
	entry := `{"insertId":"abc","logName":"projects/p/logs/run.googleapis.com%2Frequests",` +
		`"httpRequest":{"requestMethod":"GET","requestUrl":"https://x.run.app/a?b","status":404},` +
		`"resource":{"type":"cloud_run_revision","labels":{"project_id":"p","service_name":"x","location":"us-east1"}},` +
		`"timestamp":"2025-01-02T03:04:05.678Z"}`
	push := `{"message":{"data":"` + base64.StdEncoding.EncodeToString([]byte(entry)) +
		`","attributes":{"k":"v"},"messageId":"42","publishTime":"2025-01-02T03:04:06Z"},"subscription":"projects/p/subscriptions/s"}`
	var bare, pushed event.Event
	if err := (Decoder{}).Decode([]byte(entry), &bare); err != nil {
		t.Fatal(err)
	}
	if err := (Decoder{}).Decode([]byte(push), &pushed); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(pushed.Raw, &raw); err != nil {
		t.Fatalf("pushed Raw %s: %v", pushed.Raw, err)
	}
	want := map[string]any{"messageId": "42", "publishTime": "2025-01-02T03:04:06Z",
		"subscription": "projects/p/subscriptions/s", "attributes": map[string]any{"k": "v"}}
	if !reflect.DeepEqual(raw["pubsub"], want) {
		t.Errorf("pubsub = %v, want %v", raw["pubsub"], want)
	}
	bare.Raw, pushed.Raw = nil, nil
	if !reflect.DeepEqual(bare, pushed) {
		t.Errorf("pushed event\n%+v\ndiffers from bare\n%+v", pushed, bare)
	}
	// Raw of a pushed entry, replayed bare, is the same event again.
	var replayed event.Event
	if err := (Decoder{}).Decode(mustRaw(t, push), &replayed); err != nil {
		t.Fatal(err)
	}
	if replayed.EventID != bare.EventID {
		t.Errorf("replayed id %s, want %s", replayed.EventID, bare.EventID)
	}
}

func mustRaw(t *testing.T, rec string) []byte {
	t.Helper()
	var ev event.Event
	if err := (Decoder{}).Decode([]byte(rec), &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Raw
}

func TestEventIDs(t *testing.T) {
	entry := func(logName, insertID, ts string) string {
		return `{"logName":"` + logName + `","insertId":"` + insertID + `","timestamp":"` + ts + `"}`
	}
	id := func(rec string) string {
		t.Helper()
		var ev event.Event
		if err := (Decoder{}).Decode([]byte(rec), &ev); err != nil {
			t.Fatal(err)
		}
		return ev.EventID
	}
	a := id(entry("projects/a/logs/x", "i1", "2025-01-01T00:00:00Z"))
	for name, other := range map[string]string{
		"other project":   entry("projects/b/logs/x", "i1", "2025-01-01T00:00:00Z"),
		"other log":       entry("projects/a/logs/y", "i1", "2025-01-01T00:00:00Z"),
		"other insertId":  entry("projects/a/logs/x", "i2", "2025-01-01T00:00:00Z"),
		"other timestamp": entry("projects/a/logs/x", "i1", "2025-01-01T00:00:01Z"),
	} {
		if id(other) == a {
			t.Errorf("%s: same id %s", name, a)
		}
	}
	// The same instant written differently, and other fields, do not matter.
	if b := id(`{"textPayload":"x","logName":"projects/a/logs/x","insertId":"i1","timestamp":"2025-01-01T01:00:00.000+01:00"}`); b != a {
		t.Errorf("same entry, other form: id %s, want %s", b, a)
	}
}

func TestDataLimit(t *testing.T) {
	entry := `{"logName":"projects/p/logs/x","timestamp":"2025-01-01T00:00:00Z","textPayload":"` +
		strings.Repeat("x", DefaultMaxDataBytes) + `"}`
	push := `{"message":{"data":"` + base64.StdEncoding.EncodeToString([]byte(entry)) + `","messageId":"1"}}`
	var ev event.Event
	err := (Decoder{}).Decode([]byte(push), &ev)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("default limit: err = %v, want ErrTooLarge", err)
	}
	if err := (Decoder{MaxDataBytes: 2 << 20}).Decode([]byte(push), &ev); err != nil {
		t.Fatalf("raised limit: %v", err)
	}
}

func TestHelpers(t *testing.T) {
	for in, want := range map[string]float64{
		"0.123s": 123, "60.369159188s": 60369.159188, "1s": 1000, ".5s": 500, "": 0, "s": 0,
		"1.5": 0, "-1s": 0, "NaNs": 0, "Infs": 0, "+1s": 0, "1e400s": 0,
	} {
		if got := latencyMS(in); got != want {
			t.Errorf("latencyMS(%q) = %v, want %v", in, got, want)
		}
	}
	for in, want := range map[string]int64{`"314"`: 314, `314`: 314, `"-1"`: 0, `"x"`: 0, ``: 0, `null`: 0, `1.5`: 0} {
		if got := jsonInt(json.RawMessage(in)); got != want {
			t.Errorf("jsonInt(%s) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"https://h.run.app/book":        "/book",
		"https://h.run.app":             "/",
		"https://h/a%2Fb/c?q=1#f":       "/a%2Fb/c",
		"/relative/path?x=1":            "/relative/path",
		"http://[::1/bad?x":             "/bad",
		"":                              "",
		"https://h/%zz?q":               "/%zz",
		"https://h/caf%C3%A9/m%C3%BCnü": "/caf%C3%A9/m%C3%BCn%C3%BC",
	} {
		if got := urlPath(in); got != want {
			t.Errorf("urlPath(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]int{`"ERROR"`: 500, `"error"`: 0, `600`: 600, `"X"`: 0, ``: 0, `true`: 0} {
		if got := severity(json.RawMessage(in)); got != want {
			t.Errorf("severity(%s) = %d, want %d", in, got, want)
		}
	}
	if codeName(7) != "PERMISSION_DENIED" || codeName(16) != "UNAUTHENTICATED" || codeName(-3) != "-3" || codeName(17) != "17" {
		t.Error("codeName")
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/gcp/*.ndjson")
	for _, in := range files {
		body, _ := os.ReadFile(in)
		for line := range bytes.SplitSeq(body, []byte("\n")) {
			if len(line) > 0 && len(line) < 8192 {
				f.Add(line)
			}
		}
	}
	dec := Decoder{MaxDataBytes: goldenMax}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var ev event.Event
		err := dec.Decode(rec, &ev)
		if err != nil {
			return
		}
		if ev.Source != Source || ev.EventID == "" {
			t.Fatalf("no source or id from %q", rec)
		}
		if ev.Time.Before(minTime) || !ev.Time.Before(maxTime) || ev.Time.Location() != time.UTC {
			t.Fatalf("time %v out of range or not UTC from %q", ev.Time, rec)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(ev.Raw, &obj); err != nil {
			t.Fatalf("Raw %q is not a JSON object: %v", ev.Raw, err)
		}
		var again event.Event
		if err := dec.Decode(rec, &again); err != nil || !reflect.DeepEqual(ev, again) {
			t.Fatalf("not deterministic on %q: %v", rec, err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	lines := func(name string) [][]byte {
		body, err := os.ReadFile("testdata/gcp/" + name)
		if err != nil {
			b.Fatal(err)
		}
		return bytes.Split(bytes.TrimSpace(body), []byte("\n"))
	}
	run := lines("cloudrun-request.ndjson")
	audit := lines("audit.ndjson")
	push := lines("push.ndjson")
	for _, bc := range []struct {
		name string
		rec  []byte
	}{
		{"request", run[0]},
		{"audit", audit[0]},
		{"push", push[0]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.rec)))
			b.ReportAllocs()
			var ev event.Event
			for b.Loop() {
				if err := (Decoder{}).Decode(bc.rec, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
