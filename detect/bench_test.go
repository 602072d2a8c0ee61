package detect

import (
	"encoding/json"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/tripline/tripline/internal/event"
)

// benchEvents returns realistic, mostly benign CloudTrail events: the
// routine activity of testdata/benign.ndjson (CI deployments, application
// reads, data events, scanners, SSO sessions) with one attack event of the
// demo story in every 50.
func benchEvents(b testing.TB) ([]*event.Event, int) {
	b.Helper()
	var benign, attack []*event.Event
	for _, raw := range readNDJSON(b, "testdata/benign.ndjson") {
		benign = append(benign, ctEvent(b, string(raw)))
	}
	for _, raw := range readNDJSON(b, demoFile) {
		if ev := ctEvent(b, string(raw)); ev.SrcIP == "45.137.21.9" {
			attack = append(attack, ev)
		}
	}
	var evs []*event.Event
	size := 0
	for i, ev := range benign {
		evs = append(evs, ev)
		if i%49 == 48 {
			evs = append(evs, attack[(i/49)%len(attack)])
		}
	}
	for _, ev := range evs {
		size += len(ev.Raw)
	}
	return evs, size / len(evs)
}

func stdDecode(raw []byte, env *map[string]any) error { return json.Unmarshal(raw, env) }

// BenchmarkMatch measures Matcher.Match with the built-in pack. The
// default configuration prefilters; the others evaluate every rule on
// every event, so decode every record: selectively with goccy/go-json (the
// decoder in use), or whole with encoding/json.
func BenchmarkMatch(b *testing.B) {
	evs, avg := benchEvents(b)
	for _, bc := range []struct {
		name        string
		noPrefilter bool
		decode      func([]byte, *map[string]any) error
	}{
		{"prefilter", false, nil},
		{"no-prefilter/goccy", true, nil},
		{"no-prefilter/encoding-json", true, stdDecode},
	} {
		b.Run(bc.name, func(b *testing.B) {
			eng, err := NewEngine(builtinRules(b))
			if err != nil {
				b.Fatal(err)
			}
			eng.noPrefilter, eng.decode = bc.noPrefilter, bc.decode
			m := eng.NewMatcher()
			var out []event.Finding
			b.SetBytes(int64(avg))
			b.ReportAllocs()
			found := 0
			for i := 0; b.Loop(); i++ {
				out, err = m.Match(evs[i%len(evs)], out[:0])
				if err != nil {
					b.Fatal(err)
				}
				found += len(out)
				m.Matches() // handed to the state stage, as the detect stage does
			}
			if found == 0 {
				b.Fatal("no findings")
			}
		})
	}
}

// BenchmarkMatchHit measures events that match a rule: decode, evaluate,
// render the summary and build the finding.
func BenchmarkMatchHit(b *testing.B) {
	eng, _ := NewEngine(builtinRules(b))
	m := eng.NewMatcher()
	var hits []*event.Event
	for _, raw := range readNDJSON(b, demoFile) {
		ev := ctEvent(b, string(raw))
		if out, _ := m.Match(ev, nil); len(out) > 0 {
			hits = append(hits, ev)
		}
	}
	var out []event.Finding
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		out, _ = m.Match(hits[i%len(hits)], out[:0])
		m.Matches()
	}
}

// BenchmarkDecode compares decoders of a record into map[string]any.
func BenchmarkDecode(b *testing.B) {
	evs, avg := benchEvents(b)
	for _, bc := range []struct {
		name   string
		decode func([]byte, *map[string]any) error
	}{
		{"goccy", func(raw []byte, env *map[string]any) error { return gojson.Unmarshal(raw, env) }},
		{"encoding-json", stdDecode},
	} {
		b.Run(bc.name, func(b *testing.B) {
			env := map[string]any{}
			b.SetBytes(int64(avg))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				clear(env)
				if err := bc.decode(evs[i%len(evs)].Raw, &env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScan measures the prefilter's raw scan of the pack's fields.
func BenchmarkScan(b *testing.B) {
	evs, avg := benchEvents(b)
	eng, _ := NewEngine(builtinRules(b))
	sr := eng.sources["cloudtrail"]
	vals := make([]scanValue, eng.slots)
	var members []member
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		members, _ = scanRecord(evs[i%len(evs)].Raw, sr.scan, vals, members)
	}
}
