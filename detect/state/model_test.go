package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests here compare the kinds with brute-force models of their
// definitions on random in-order streams (times sorted, so nothing is
// late with any lateness), and check that absence, which is exact for any
// arrival order, does not depend on it.

type modelEv struct {
	t    time.Duration
	id   string
	val  string
	step int
	key  string
}

// randStream returns n matches on 2 keys with sorted times (ties
// included).
func randStream(rng *rand.Rand, n, vals, steps int) []modelEv {
	evs := make([]modelEv, n)
	var t time.Duration
	for i := range evs {
		t += time.Duration(rng.IntN(5)) * 500 * time.Millisecond
		evs[i] = modelEv{t: t, id: fmt.Sprint("e", i), val: fmt.Sprint("v", rng.IntN(vals)), step: rng.IntN(steps), key: fmt.Sprint("k", rng.IntN(2))}
	}
	return evs
}

func feed(t *testing.T, spec Spec, lateness time.Duration, evs []modelEv) []string {
	t.Helper()
	p, err := NewPartition(map[string]Spec{"r": spec}, lateness)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, e := range evs {
		for _, f := range p.Apply(Match{Rule: "r", Key: e.key, Time: t0.Add(e.t), EventID: e.id, Value: e.val, Step: e.step, Seq: uint64(i + 1)}) {
			out = append(out, modelDesc(f))
		}
	}
	return out
}

// modelDesc leaves out what the models do not compute (ids, First for
// distinct): key, count, last, sorted values.
func modelDesc(f Firing) string {
	vals := slices.Clone(f.Values)
	slices.Sort(vals)
	first := f.First.Sub(t0).String()
	if f.Kind == Distinct {
		first = ""
	}
	return fmt.Sprintf("%s:%d:%s-%v:%s", f.Key, f.Count, first, f.Last.Sub(t0), strings.Join(vals, ","))
}

func TestThresholdModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 300 {
		n, w := 1+rng.IntN(5), time.Duration(1+rng.IntN(8))*time.Second
		evs := randStream(rng, 100, 1, 1)
		var want []string
		unconsumed := map[string][]time.Duration{}
		for _, e := range evs {
			u := append(unconsumed[e.key], e.t)
			var in []time.Duration
			for _, x := range u {
				if x >= e.t-w {
					in = append(in, x)
				}
			}
			if len(in) >= n {
				want = append(want, fmt.Sprintf("%s:%d:%v-%v:", e.key, n, in[0], e.t))
				u = nil
			}
			unconsumed[e.key] = u
		}
		got := feed(t, Spec{Kind: Threshold, Count: n, Window: w}, time.Duration(i%3)*time.Second, evs)
		if !slices.Equal(got, want) {
			t.Fatalf("N=%d W=%v:\n got %v\nwant %v", n, w, got, want)
		}
	}
}

func TestDistinctModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 300 {
		n, w := 1+rng.IntN(4), time.Duration(1+rng.IntN(8))*time.Second
		evs := randStream(rng, 100, 5, 1)
		var want []string
		type o struct {
			t time.Duration
			v string
		}
		occs := map[string][]o{}
		for _, e := range evs {
			occs[e.key] = append(occs[e.key], o{e.t, e.val})
			seen := map[string]bool{}
			for _, x := range occs[e.key] {
				if x.t >= e.t-w {
					seen[x.v] = true
				}
			}
			if len(seen) >= n {
				vals := make([]string, 0, len(seen))
				for v := range seen {
					vals = append(vals, v)
				}
				slices.Sort(vals)
				want = append(want, fmt.Sprintf("%s:%d:-%v:%s", e.key, len(seen), e.t, strings.Join(vals, ",")))
				occs[e.key] = nil
			}
		}
		got := feed(t, Spec{Kind: Distinct, Count: n, Window: w}, time.Duration(i%3)*time.Second, evs)
		if !slices.Equal(got, want) {
			t.Fatalf("N=%d W=%v:\n got %v\nwant %v", n, w, got, want)
		}
	}
}

func TestSequenceModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range 300 {
		steps, w := 1+rng.IntN(4), time.Duration(1+rng.IntN(10))*time.Second
		evs := randStream(rng, 150, 1, steps)
		var want []string
		unconsumed := map[string][]modelEv{}
		for _, e := range evs {
			u := append(unconsumed[e.key], e)
			unconsumed[e.key] = u
			if e.step != steps-1 {
				continue
			}
			// The latest step-0 start from which steps 1..S-2 can be
			// found in order (greedily, earliest) before e, within w.
			for s0 := len(u) - 1; s0 >= 0; s0-- {
				if u[s0].step != 0 || u[s0].t < e.t-w {
					continue
				}
				next, j := 1, s0
				if steps > 1 {
					for j = s0 + 1; j < len(u)-1 && next < steps-1; j++ {
						if u[j].step == next {
							next++
						}
					}
				}
				if next == steps-1 || steps == 1 {
					want = append(want, fmt.Sprintf("%s:%d:%v-%v:", e.key, steps, u[s0].t, e.t))
					unconsumed[e.key] = nil
					break
				}
			}
		}
		got := feed(t, Spec{Kind: Sequence, Steps: steps, Window: w}, time.Duration(i%3)*time.Second, evs)
		if !slices.Equal(got, want) {
			t.Fatalf("steps=%d W=%v:\n got %v\nwant %v", steps, w, got, want)
		}
	}
}

// TestAbsenceOrder: any arrival order within the lateness gives the same
// firings as the sorted stream, once the watermark has passed everything.
func TestAbsenceOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const lateness = 6 * time.Second
	for range 300 {
		w := time.Duration(1+rng.IntN(6)) * time.Second
		evs := randStream(rng, 80, 1, 1)
		// A bounded disorder: swap neighbours less than the lateness
		// apart (equal times keep their order, which Seq decides).
		shuffled := slices.Clone(evs)
		for _, i := range rng.Perm(len(evs)) {
			if i+1 < len(shuffled) {
				if dt := shuffled[i+1].t - shuffled[i].t; dt > 0 && dt < lateness/2 {
					shuffled[i], shuffled[i+1] = shuffled[i+1], shuffled[i]
				}
			}
		}
		run := func(evs []modelEv) []string {
			p, _ := NewPartition(map[string]Spec{"r": {Kind: Absence, Window: w}}, lateness)
			var ids []string
			for i, e := range evs {
				for _, f := range p.Apply(Match{Rule: "r", Key: e.key, Time: t0.Add(e.t), EventID: e.id, Seq: uint64(i + 1)}) {
					ids = append(ids, desc(f))
				}
			}
			if st := p.Stats(); st.Late != 0 {
				t.Fatalf("%d late", st.Late)
			}
			for _, f := range p.Advance(t0.Add(time.Hour)) {
				ids = append(ids, desc(f))
			}
			slices.Sort(ids)
			return ids
		}
		if got, want := run(shuffled), run(evs); !slices.Equal(got, want) {
			t.Fatalf("W=%v:\n got %v\nwant %v", w, got, want)
		}
	}
}
