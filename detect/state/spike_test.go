package state

import (
	"fmt"
	"testing"
	"time"
)

// bucketOps returns n matches of key k in the minute bucket b, one second
// apart, ids b.i.
func bucketOps(b, n int, k string) []op {
	var ops []op
	for i := range n {
		ops = append(ops, apply(time.Duration(b)*mn+time.Duration(i)*s, k, fmt.Sprintf("%d.%d", b, i), ""))
	}
	return ops
}

func TestSpike(t *testing.T) {
	spec := Spec{Kind: Spike, Window: time.Minute, Factor: 3, MinCount: 5}
	cat := func(parts ...[]op) []op {
		var all []op
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	// fire sets the wanted firing on the n-th op (0-based) of ops.
	fire := func(ops []op, n int, want string) []op { ops[n].want = want; return ops }
	tests := []struct {
		name     string
		lateness time.Duration
		ops      []op
	}{{
		name: "rate above factor times baseline fires once per bucket",
		// Baseline after three buckets of 2: 2. The bucket fires at the
		// 7th match (7 > 3*2, 7 >= 5), not again at the 8th.
		ops: cat(bucketOps(0, 2, "k"), bucketOps(1, 2, "k"), bucketOps(2, 2, "k"),
			fire(bucketOps(3, 8, "k"), 6, "k:7:3m0s-3m6s:3.0,3.1,3.2,3.3,3.4,3.5,3.6:v=2.00")),
	}, {
		name: "exactly factor times baseline does not fire",
		ops:  cat(bucketOps(0, 2, "k"), bucketOps(1, 2, "k"), bucketOps(2, 2, "k"), bucketOps(3, 6, "k")),
	}, {
		name: "a new key does not fire before 3 buckets of history",
		ops: cat(bucketOps(0, 100, "k"), bucketOps(1, 1, "k"), bucketOps(2, 1, "k"),
			fire(bucketOps(3, 100, "k"), 97, "")),
	}, {
		name: "empty buckets count 0",
		// 2, 2, 0: baseline 2, 2, 1.4; fires at 5 (> 4.2).
		ops: cat(bucketOps(0, 2, "k"), bucketOps(1, 2, "k"),
			fire(bucketOps(3, 5, "k"), 4, "k:5:3m0s-3m4s:3.0,3.1,3.2,3.3,3.4:v=1.40")),
	}, {
		name: "min count applies when the baseline is below 1",
		// 1, 0, 0: baseline 1, 0.7, 0.49; 5 > 3*max(0.49, 1) at 5 = min count.
		ops: cat(bucketOps(0, 1, "k"),
			fire(bucketOps(3, 5, "k"), 4, "k:5:3m0s-3m4s:3.0,3.1,3.2,3.3,3.4:v=0.49")),
	}, {
		name:     "a late match counts in its own bucket",
		lateness: 30 * s,
		ops: cat(bucketOps(0, 2, "k"), bucketOps(1, 2, "k"), bucketOps(2, 2, "k"), bucketOps(3, 6, "k"),
			[]op{
				apply(4*mn, "k", "4.0", ""),
				apply(3*mn+35*s, "k", "late", "k:7:3m0s-3m35s:3.0,3.1,3.2,3.3,3.4,3.5,late:v=2.00"),
			}),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runOps(t, spec, tt.lateness, tt.ops)
		})
	}
}

// TestSpikeForget: a key whose baseline decays to 0 is dropped and starts
// over as a new key.
func TestSpikeForget(t *testing.T) {
	spec := Spec{Kind: Spike, Window: time.Minute, Factor: 3, MinCount: 5}
	p, _ := runOps(t, spec, 0, bucketOps(0, 1, "k"))
	// Baseline 1 after bucket 0, then 0.7^n: below 0.01 after 13 empty
	// buckets (0.7^13 = 0.0097), so at the end of bucket 13.
	p.Advance(t0.Add(14*mn - ns))
	if n := keys(p); n != 1 {
		t.Fatalf("keys = %d before the decay, want 1", n)
	}
	p.Advance(t0.Add(14 * mn))
	if n := keys(p); n != 0 {
		t.Fatalf("keys = %d after the decay, want 0", n)
	}
}
