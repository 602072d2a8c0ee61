package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDedup(t *testing.T) {
	spec := Spec{Kind: Dedup, Window: 10 * s}
	tests := []struct {
		name     string
		lateness time.Duration
		ops      []op
		keys     int
	}{{
		name: "later matches count; the next Advance returns one update with the latest count",
		ops: []op{
			apply(0, "k", "a", "k:1:0s-0s:a"),
			apply(4*s, "k", "b", ""),
			apply(5*s, "k", "c", ""),
			advance(5*s, "k:3:0s-5s:a,b,c:upd"),
			advance(6*s, ""), // nothing new: no update
			apply(10*s, "k", "d", ""),
			advance(10*s, "k:4:0s-10s:a,b,c,d:upd"),
			apply(10*s+ns, "k", "e", "k:1:10.000000001s-10.000000001s:e"),
		},
		keys: 1,
	}, {
		name: "the match that opens the next period returns the last one's pending update first",
		ops: []op{
			apply(0, "k", "a", "k:1:0s-0s:a"),
			apply(4*s, "k", "b", ""),
			apply(11*s, "k", "c", "k:2:0s-4s:a,b:upd; k:1:11s-11s:c"),
			advance(12*s, ""),
		},
		keys: 1,
	}, {
		name: "a key's pending update comes before it expires",
		ops: []op{
			apply(0, "k", "a", "k:1:0s-0s:a"),
			apply(2*s, "k", "b", ""),
			advance(20*s, "k:2:0s-2s:a,b:upd"),
		},
		keys: 0,
	}, {
		name: "keys coalesce separately, in key order",
		ops: []op{
			apply(0, "k2", "a", "k2:1:0s-0s:a"),
			apply(0, "k1", "b", "k1:1:0s-0s:b"),
			apply(1*s, "k2", "c", ""),
			apply(1*s, "k1", "d", ""),
			apply(2*s, "k2", "e", ""),
			advance(2*s, "k1:2:0s-1s:b,d:upd; k2:3:0s-2s:a,c,e:upd"),
		},
		keys: 2,
	}, {
		name:     "a late match before the first counts; First stays the first match's",
		lateness: 5 * s,
		ops: []op{
			apply(5*s, "k", "a", "k:1:5s-5s:a"),
			apply(2*s, "k", "b", ""),
			advance(5*s, "k:2:5s-5s:a,b:upd"),
		},
		keys: 1,
	}, {
		name:     "pending updates wait for Advance even when the clock does not move",
		lateness: time.Hour,
		ops: []op{
			apply(5*s, "k", "a", "k:1:5s-5s:a"),
			apply(6*s, "k", "b", ""),
			advance(0, "k:2:5s-6s:a,b:upd"),
		},
		keys: 1,
	}, {
		name: "keys expire after the period",
		ops: []op{
			apply(0, "k1", "a", "k1:1:0s-0s:a"),
			apply(1*s, "k2", "b", "k2:1:1s-1s:b"),
			advance(10*s+ns, ""),
		},
		keys: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := runOps(t, spec, tt.lateness, tt.ops)
			if got := keys(p); got != tt.keys {
				t.Errorf("keys = %d, want %d", got, tt.keys)
			}
		})
	}
}

// TestDedupSample: an update carries the period's first SampleIDs ids.
func TestDedupSample(t *testing.T) {
	spec := Spec{Kind: Dedup, Window: time.Minute, SampleIDs: 3}
	ops := []op{apply(0, "k", "a", "k:1:0s-0s:a")}
	for i, id := range []string{"b", "c", "d", "e"} {
		ops = append(ops, apply(time.Duration(i+1)*s, "k", id, ""))
	}
	ops = append(ops, advance(5*s, "k:5:0s-4s:a,b,c:upd"))
	runOps(t, spec, 0, ops)
}

// TestDedupID: updates carry the ID of the firing they update; a new
// period gets a new ID; the same inputs give the same IDs.
func TestDedupID(t *testing.T) {
	spec := Spec{Kind: Dedup, Window: 10 * s}
	ops := []op{
		apply(0, "k", "a", "k:1:0s-0s:a"),
		apply(4*s, "k", "b", ""),
		advance(4*s, "k:2:0s-4s:a,b:upd"),
		apply(20*s, "k", "c", "k:1:20s-20s:c"),
	}
	_, fs := runOps(t, spec, 0, ops)
	if fs[0].ID != fs[1].ID || fs[0].ID == fs[2].ID {
		t.Errorf("ids %s %s %s", fs[0].ID, fs[1].ID, fs[2].ID)
	}
	_, again := runOps(t, spec, 0, ops)
	for i := range fs {
		if fs[i].ID != again[i].ID {
			t.Errorf("firing %d: id %s, then %s", i, fs[i].ID, again[i].ID)
		}
	}
}

// TestDedupRestart: a pending update is part of the snapshot; the
// restored partition returns it at its first Advance, and replayed
// matches do not count again.
func TestDedupRestart(t *testing.T) {
	specs := map[string]Spec{"r": {Kind: Dedup, Window: time.Hour}}
	p, _ := NewPartition(specs, 0)
	for i, id := range []string{"a", "b", "c"} {
		p.Apply(Match{Rule: "r", Key: "k", Time: t0.Add(time.Duration(i) * s), EventID: id, Seq: uint64(i + 1)})
	}
	snap, err := p.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Restore(snap, specs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fs := q.Apply(Match{Rule: "r", Key: "k", Time: t0.Add(2 * s), EventID: "c", Seq: 3}); len(fs) != 0 {
		t.Errorf("replayed match: %v", descs(fs))
	}
	want := descs(p.Advance(t0.Add(3 * s)))
	if got := descs(q.Advance(t0.Add(3 * s))); got != want || want != "k:3:0s-2s:a,b,c:upd" {
		t.Errorf("after restore %q, without %q", got, want)
	}
	// Once returned, the update is not pending in the next snapshot.
	snap, _ = q.Snapshot()
	q, _ = Restore(snap, specs, 0)
	if fs := q.Advance(t0.Add(4 * s)); len(fs) != 0 {
		t.Errorf("update returned twice: %v", descs(fs))
	}
}

// TestDedupOldSnapshot: a snapshot written before updates were coalesced
// (no pending counts, no samples, First widened by late matches) still
// restores: its keys have no pending update and count on.
func TestDedupOldSnapshot(t *testing.T) {
	spec := Spec{Kind: Dedup, Window: time.Hour}
	var sec encoder
	sec.uint(1)
	sec.str("k")
	sec.int(t0.UnixNano())            // start
	sec.int(t0.Add(-s).UnixNano())    // lo: a late match before the start
	sec.int(t0.Add(5 * s).UnixNano()) // hi
	sec.uint(4)                       // count
	sec.str("0123456789abcdef0123456789abcdef")
	e := &encoder{}
	e.b = append(e.b, "tlstate\x01"...) // version 1: no seed marks
	e.int(t0.Add(5 * s).UnixNano())     // clock
	for range 4 {
		e.uint(0) // applied, replayed, late, invalid
	}
	e.uint(1)
	e.str("r")
	e.uint(spec.fingerprint())
	e.uint(0)
	e.uint(0)
	e.uint(uint64(len(sec.b)))
	e.b = append(e.b, sec.b...)
	e.b = append(e.b, crc32le(e.b)...)
	p, err := Restore(e.b, map[string]Spec{"r": spec}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fs := p.Advance(t0.Add(6 * s)); len(fs) != 0 {
		t.Errorf("pending update from an old snapshot: %v", descs(fs))
	}
	p.Apply(Match{Rule: "r", Key: "k", Time: t0.Add(7 * s), EventID: "x"})
	if got := descs(p.Advance(t0.Add(7 * s))); got != "k:5:0s-7s:x:upd" {
		t.Errorf("update after an old snapshot: %q", got)
	}
}

// TestDedupModel compares dedup with a brute-force model on random
// in-order streams with Advances in between: folding each ID's firings
// (the last Count wins) gives every period of every key and its number of
// matches; updates only come from Advance (or from the match opening the
// next period), at most one per ID per call, with a growing Count.
func TestDedupModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 300 {
		w := time.Duration(1+rng.IntN(8)) * time.Second
		p, err := NewPartition(map[string]Spec{"r": {Kind: Dedup, Window: w}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		evs := randStream(rng, 60, 1, 1)
		counts := map[string]int{} // ID: last count
		first := map[string]string{}
		var ids []string
		check := func(fs []Firing, fromAdvance bool) {
			seen := map[string]bool{}
			for _, f := range fs {
				if seen[f.ID] || (f.Update && f.Count <= counts[f.ID]) || (!f.Update && counts[f.ID] != 0) {
					t.Fatalf("stream %d: bad firing %s after count %d", i, desc(f), counts[f.ID])
				}
				seen[f.ID] = true
				if f.Update && !fromAdvance && fs[len(fs)-1].Update {
					t.Fatalf("stream %d: Apply returned an update without a new period: %s", i, descs(fs))
				}
				if !f.Update {
					ids = append(ids, f.ID)
					first[f.ID] = fmt.Sprintf("%s@%v", f.Key, f.First.Sub(t0))
				}
				counts[f.ID] = f.Count
			}
		}
		for j, e := range evs {
			check(p.Apply(Match{Rule: "r", Key: e.key, Time: t0.Add(e.t), EventID: e.id, Seq: uint64(j + 1)}), false)
			if rng.IntN(4) == 0 {
				check(p.Advance(t0.Add(e.t)), true)
			}
		}
		check(p.Advance(t0.Add(time.Hour)), true)
		var got []string
		for _, id := range ids {
			got = append(got, fmt.Sprintf("%s:%d", first[id], counts[id]))
		}
		var want []string
		type period struct {
			start time.Duration
			n     int
		}
		open := map[string]*period{}
		var order []*period
		names := map[*period]string{}
		for _, e := range evs {
			if pd := open[e.key]; pd != nil && e.t <= pd.start+w {
				pd.n++
				continue
			}
			pd := &period{start: e.t, n: 1}
			open[e.key] = pd
			order = append(order, pd)
			names[pd] = fmt.Sprintf("%s@%v", e.key, e.t)
		}
		for _, pd := range order {
			want = append(want, fmt.Sprintf("%s:%d", names[pd], pd.n))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("stream %d (window %v):\n got %s\nwant %s", i, w, strings.Join(got, " "), strings.Join(want, " "))
		}
		if keys(p) != 0 {
			t.Fatalf("stream %d: %d keys left", i, keys(p))
		}
	}
}
