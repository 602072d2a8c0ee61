package syslog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/golden"
)

// testNow is early January, so that RFC 3164 stamps of October and
// December fall in the year before.
var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func testDecoder() Decoder {
	return Decoder{Now: func() time.Time { return testNow }}
}

// TestGolden decodes every line of testdata/syslog/*.txt and compares the
// events (or errors) with the .golden file next to it.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/syslog/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			for i, line := range strings.Split(strings.TrimSuffix(string(in), "\n"), "\n") {
				fmt.Fprintf(&got, "# line %d\n", i+1)
				var ev event.Event
				if err := testDecoder().Decode([]byte(line), &ev); err != nil {
					fmt.Fprintf(&got, "error: %v\n", err)
					continue
				}
				b, err := json.MarshalIndent(ev, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got.Write(b)
				got.WriteByte('\n')
			}
			golden.Check(t, strings.TrimSuffix(path, ".txt")+".golden", got.Bytes())
		})
	}
}

func decodeRaw(t *testing.T, d Decoder, rec string) (event.Event, map[string]any) {
	t.Helper()
	var ev event.Event
	if err := d.Decode([]byte(rec), &ev); err != nil {
		t.Fatalf("Decode(%q): %v", rec, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(ev.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	return ev, raw
}

func TestYearInference(t *testing.T) {
	cases := []struct {
		now   time.Time
		stamp string
		want  time.Time
	}{
		{testNow, "Oct 11 22:14:15", time.Date(2024, 10, 11, 22, 14, 15, 0, time.UTC)},
		{testNow, "Jan  2 03:00:00", time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)},
		// Received just after New Year: last year's December.
		{time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC), "Dec 31 23:59:59", time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC)},
		// A sender a few seconds ahead at New Year: next year's January.
		{time.Date(2024, 12, 31, 23, 59, 58, 0, time.UTC), "Jan  1 00:00:01", time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)},
		// Within the week of slack ahead: this year.
		{time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "Jun  5 00:00:00", time.Date(2025, 6, 5, 0, 0, 0, 0, time.UTC)},
		// More than a week ahead: a line from last year (a replayed file).
		{time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "Jun 20 00:00:00", time.Date(2024, 6, 20, 0, 0, 0, 0, time.UTC)},
		// February 29 goes to the latest leap year.
		{time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), "Feb 29 12:00:00", time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		d := Decoder{Now: func() time.Time { return c.now }}
		ev, _ := decodeRaw(t, d, "<13>"+c.stamp+" host app: x")
		if !ev.Time.Equal(c.want) {
			t.Errorf("%s at %s: got %s, want %s", c.stamp, c.now, ev.Time, c.want)
		}
	}
}

func TestLocation(t *testing.T) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	d := Decoder{Now: func() time.Time { return testNow }, Location: loc}
	ev, raw := decodeRaw(t, d, "<13>Oct 11 22:14:15 host app: x")
	if want := time.Date(2024, 10, 12, 2, 14, 15, 0, time.UTC); !ev.Time.Equal(want) || ev.Time.Location() != time.UTC {
		t.Errorf("time %s, want %s UTC", ev.Time, want)
	}
	if raw["timestamp"] != "2024-10-11T22:14:15-04:00" {
		t.Errorf("raw timestamp %v", raw["timestamp"])
	}
	// RFC 5424 and RFC 3339 stamps carry their zone: Location is unused.
	ev, _ = decodeRaw(t, d, "<13>1 2024-10-11T22:14:15Z host app - - - x")
	if want := time.Date(2024, 10, 11, 22, 14, 15, 0, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("5424 time %s", ev.Time)
	}
}

// TestEmbeddedNewlines checks what only a framed message can hold: line ends
// inside, and trailers.
func TestEmbeddedNewlines(t *testing.T) {
	cases := []struct{ rec, msg string }{
		{"<13>Oct 11 22:14:15 host app: first\nsecond\n", "first\nsecond"},
		{"<13>1 2024-10-11T22:14:15Z host app - - - first\nsecond\r\n", "first\nsecond"},
		{"<13>Oct 11 22:14:15 host app: nul trailer\x00", "nul trailer"},
	}
	for _, c := range cases {
		ev, raw := decodeRaw(t, testDecoder(), c.rec)
		if ev.Message != c.msg || raw["message"] != c.msg {
			t.Errorf("%q: message %q (raw %q), want %q", c.rec, ev.Message, raw["message"], c.msg)
		}
	}
	// The same message with and without its line end is the same record.
	var a, b event.Event
	if err := testDecoder().Decode([]byte("<13>Oct 11 22:14:15 host app: x\r\n"), &a); err != nil {
		t.Fatal(err)
	}
	if err := testDecoder().Decode([]byte("<13>Oct 11 22:14:15 host app: x"), &b); err != nil {
		t.Fatal(err)
	}
	if a.EventID != b.EventID {
		t.Error("a line end changes the event id")
	}
}

func TestLooks5424(t *testing.T) {
	cases := map[string]bool{
		"<165>1 2003":      true,
		"<1>12 x":          true,
		"<1>123 x":         true,
		"<1>1234 x":        false,
		"<1>1":             false,
		"<34>Oct 11":       false,
		"<30>2024-05-01T1": false,
		"<1891>1 x":        false,
		"1 2003-10-11":     false,
		"":                 false,
		"<":                false,
		"<>1 x":            false,
	}
	for in, want := range cases {
		if got := looks5424([]byte(in)); got != want {
			t.Errorf("looks5424(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCutPRI(t *testing.T) {
	cases := []struct {
		in   string
		pri  uint8
		rest string
		ok   bool
	}{
		{"<0>x", 0, "x", true},
		{"<191>x", 191, "x", true},
		{"<13>", 13, "", true},
		{"<192>x", 0, "", false},
		{"<00>x", 0, "", false},
		{"<013>x", 0, "", false},
		{"<1000>x", 0, "", false},
		{"<>x", 0, "", false},
		{"<13x", 0, "", false},
		{"13>x", 0, "", false},
	}
	for _, c := range cases {
		pri, rest, ok := cutPRI([]byte(c.in))
		if pri != c.pri || string(rest) != c.rest || ok != c.ok {
			t.Errorf("cutPRI(%q) = %d, %q, %v", c.in, pri, rest, ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/syslog/*.txt")
	for _, path := range files {
		in, _ := os.ReadFile(path)
		for line := range strings.SplitSeq(string(in), "\n") {
			f.Add([]byte(line))
		}
	}
	f.Add([]byte("<13>Oct 11 22:14:15 host app: a\nb\x00"))
	f.Fuzz(func(t *testing.T, rec []byte) {
		d := testDecoder()
		var ev event.Event
		if err := d.Decode(rec, &ev); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if ev.Source != Source || ev.EventID == "" {
			t.Fatalf("source %q, id %q", ev.Source, ev.EventID)
		}
		var raw map[string]any
		if err := json.Unmarshal(ev.Raw, &raw); err != nil {
			t.Fatalf("raw is not a JSON object: %v: %s", err, ev.Raw)
		}
		if ev.Time.Before(minTime) || !ev.Time.Before(maxTime) || ev.Time.Location() != time.UTC {
			t.Fatalf("time %s", ev.Time)
		}
		var again event.Event
		if err := d.Decode(rec, &again); err != nil {
			t.Fatalf("second decode failed: %v", err)
		}
		if !reflect.DeepEqual(ev, again) {
			t.Fatalf("not deterministic:\n%+v\n%+v", ev, again)
		}
	})
}

func benchmarkDecode(b *testing.B, rec []byte) {
	d := testDecoder()
	var ev event.Event
	if err := d.Decode(rec, &ev); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(rec, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode5424(b *testing.B) {
	benchmarkDecode(b, []byte(`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`))
}

func BenchmarkDecode3164(b *testing.B) {
	benchmarkDecode(b, []byte(`<38>Jan  1 00:00:10 web-1 sshd[4242]: Failed password for invalid user admin from 198.51.100.9 port 5555 ssh2`))
}

func BenchmarkDecodeCisco(b *testing.B) {
	benchmarkDecode(b, []byte(`<189>643: Jan  8 19:46:03.295: %LINEPROTO-5-UPDOWN: Line protocol on Interface Loopback100, changed state to up`))
}
