package state

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkApply measures Apply per kind on a stream of 1000 keys
// round-robin, one match per millisecond (so each key sees one match per
// second), 2s of lateness, and an Advance every 1024 matches so timer
// work is included. In order, or with jitter: times up to 1s early, so
// most matches arrive out of order (none too late). Thresholds are set so
// that most matches do not fire, except dedup, whose every later match is
// an update.
func BenchmarkApply(b *testing.B) {
	const nkeys = 1000
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("arn:aws:iam::123456789012:role/role-%d", i)
	}
	values := make([]string, 16)
	for i := range values {
		values[i] = fmt.Sprintf("s3:GetObject-%d", i)
	}
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt-%08d", i)
	}
	benches := []struct {
		name string
		spec Spec
	}{
		{"threshold", Spec{Kind: Threshold, Count: 25, Window: 10 * time.Minute}},
		{"distinct", Spec{Kind: Distinct, Count: 40, Window: 10 * time.Minute}},
		{"sequence", Spec{Kind: Sequence, Steps: 3, Window: 10 * time.Minute}},
		{"sequence_absent", Spec{Kind: Sequence, Steps: 2, Absent: true, Window: 10 * time.Minute}},
		{"new_term", Spec{Kind: NewTerm, Window: 24 * time.Hour}},
		{"spike", Spec{Kind: Spike, Window: time.Minute, Factor: 10, MinCount: 100}},
		{"absence", Spec{Kind: Absence, Window: time.Hour}},
		{"dedup", Spec{Kind: Dedup, Window: time.Hour}},
	}
	for _, bb := range benches {
		for _, jitter := range []bool{false, true} {
			name := bb.name
			if jitter {
				name += "/jitter"
			}
			b.Run(name, func(b *testing.B) {
				p, err := NewPartition(map[string]Spec{"r": bb.spec}, 2*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				steps := bb.spec.Steps + 1
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					m := Match{
						Rule:    "r",
						Key:     keys[i%nkeys],
						Time:    t0.Add(time.Duration(i) * time.Millisecond),
						EventID: ids[i%len(ids)],
						Value:   values[(i/nkeys)%len(values)],
						// Per key: step 0 and then steps that never complete
						// (sequence), or an absent event now and then.
						Step: min((i/nkeys)%(steps*4), steps-1) % steps,
						Seq:  uint64(i + 1),
					}
					if jitter {
						m.Time = m.Time.Add(-time.Duration(uint32(i)*2654435761%1000) * time.Millisecond)
					}
					if bb.spec.Kind == Sequence && !bb.spec.Absent {
						m.Step = (i / nkeys) % 2 // steps 0 and 1 only: partials, no firing
					}
					p.Apply(m)
					if i%1024 == 1023 {
						p.Advance(m.Time)
					}
					i++
				}
				st := p.Stats()
				if st.Late != 0 || st.Invalid != 0 {
					b.Fatalf("stats %+v", st)
				}
			})
		}
	}
}

// BenchmarkSnapshot measures Snapshot and Restore of 10,000 threshold keys.
func BenchmarkSnapshot(b *testing.B) {
	specs := map[string]Spec{"r": {Kind: Threshold, Count: 100, Window: time.Hour}}
	p, _ := NewPartition(specs, 0)
	for i := range 50000 {
		p.Apply(Match{Rule: "r", Key: fmt.Sprint("key-", i%10000), Time: t0.Add(time.Duration(i) * time.Millisecond), EventID: fmt.Sprint("e", i)})
	}
	b.ReportAllocs()
	for b.Loop() {
		snap, err := p.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Restore(snap, specs, 0); err != nil {
			b.Fatal(err)
		}
	}
}
