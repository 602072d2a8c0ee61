package ingest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden decodes every testdata/<source>/*.json (one body, framed as
// JSON, or NDJSON when named *.ndjson) and compares the normalized events
// with the .golden file beside it.
func TestGolden(t *testing.T) {
	fixed := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	decs := Decoders(DefaultJSONConfig)
	decs["json"] = JSONLog{Config: DefaultJSONConfig, Now: func() time.Time { return fixed }}
	files, _ := filepath.Glob("testdata/*/*")
	n := 0
	for _, in := range files {
		if strings.HasSuffix(in, ".golden") {
			continue
		}
		n++
		source := filepath.Base(filepath.Dir(in))
		t.Run(source+"/"+filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			framing := FrameJSON
			if strings.HasSuffix(in, ".ndjson") {
				framing = FrameNDJSON
			}
			var evs []event.Event
			err = SplitRecords(body, framing, func(rec []byte) error {
				var ev event.Event
				if err := decs[source].Decode(rec, &ev); err != nil {
					return err
				}
				evs = append(evs, ev)
				return nil
			})
			var got bytes.Buffer
			if err != nil {
				got.WriteString("error: " + err.Error() + "\n")
			}
			for _, ev := range evs {
				ev.Raw = nil // the input file holds it
				b, _ := json.MarshalIndent(ev, "", "  ")
				got.Write(b)
				got.WriteByte('\n')
			}
			golden := in + ".golden"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs from %s:\n%s", in, golden, got.String())
			}
		})
	}
	if n == 0 {
		t.Fatal("no golden inputs in testdata")
	}
}

// FuzzSplitRecords: any body either yields records that the decoders
// accept or reject with a RecordError; it never panics or hangs.
func FuzzSplitRecords(f *testing.F) {
	for _, seed := range []string{
		`{"Records":[{"eventName":"A","eventSource":"b","eventTime":"2026-01-01T00:00:00Z"}]}`,
		`[{"a":1},{"b":2}]`, "{\"a\":1}\n{\"b\":\n", `{"detail-type":"x","detail":{"eventName":"A"}}`,
		"", "\n\n", `[`, `{"Records":null}`, `"str"`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	decs := Decoders(DefaultJSONConfig)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		framing := FrameJSON
		if ndjson {
			framing = FrameNDJSON
		}
		for _, d := range decs {
			err := SplitRecords(body, framing, func(rec []byte) error {
				var ev event.Event
				if err := d.Decode(rec, &ev); err != nil {
					return err
				}
				if ev.EventID == "" || ev.Source == "" {
					t.Fatalf("decoded event without id or source from %q", rec)
				}
				return nil
			})
			if err != nil {
				if _, ok := err.(*RecordError); !ok {
					t.Fatalf("error %v is not a *RecordError", err)
				}
			}
		}
	})
}

// FuzzCloudTrail: a decoded record always has the fields rules rely on.
func FuzzCloudTrail(f *testing.F) {
	files, _ := filepath.Glob("testdata/cloudtrail/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"eventName":"X","eventSource":"y","eventTime":"2026-11-24T09:00:00Z","userIdentity":null,"requestParameters":"str"}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		var ev event.Event
		if err := (CloudTrail{}).Decode(rec, &ev); err != nil {
			return
		}
		if ev.Action == "" || ev.Service == "" || ev.Time.IsZero() || ev.EventID == "" {
			t.Fatalf("incomplete event %+v from %q", ev, rec)
		}
		if ev.Outcome != event.OutcomeSuccess && ev.Outcome != event.OutcomeFailure {
			t.Fatalf("outcome %q", ev.Outcome)
		}
	})
}
