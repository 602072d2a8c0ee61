package state

import (
	"testing"
	"time"
)

func TestDistinct(t *testing.T) {
	spec := Spec{Kind: Distinct, Count: 3, Window: 10 * s}
	tests := []struct {
		name     string
		lateness time.Duration
		ops      []op
		keys     int
		late     uint64
	}{{
		name: "exactly N at the window edge",
		ops: []op{
			applyV(0, "k", "e1", "a", ""),
			applyV(5*s, "k", "e2", "b", ""),
			applyV(7*s, "k", "e3", "a", ""),
			applyV(10*s, "k", "e4", "c", "k:3:0s-10s:e1,e2,e4:v=a, b, c"),
		},
	}, {
		name: "one nanosecond outside the window",
		ops: []op{
			applyV(0, "k", "e1", "a", ""),
			applyV(5*s, "k", "e2", "b", ""),
			applyV(10*s+ns, "k", "e3", "c", ""),
			applyV(11*s, "k", "e4", "a", "k:3:5s-11s:e2,e3,e4:v=b, c, a"),
		},
	}, {
		name: "repeats do not count",
		ops: []op{
			applyV(0, "k", "e1", "a", ""),
			applyV(1*s, "k", "e2", "a", ""),
			applyV(2*s, "k", "e3", "a", ""),
			applyV(3*s, "k", "e4", "b", ""),
		},
		keys: 1,
	}, {
		name: "reset after firing",
		ops: []op{
			applyV(0, "k", "e1", "a", ""),
			applyV(1*s, "k", "e2", "b", ""),
			applyV(2*s, "k", "e3", "c", "k:3:0s-2s:e1,e2,e3:v=a, b, c"),
			applyV(3*s, "k", "e4", "a", ""),
			applyV(4*s, "k", "e5", "b", ""),
			applyV(5*s, "k", "e6", "c", "k:3:3s-5s:e4,e5,e6:v=a, b, c"),
		},
	}, {
		name: "the first occurrence in the window is reported, at its start",
		ops: []op{
			applyV(0, "k", "e1", "a", ""),
			applyV(2*s, "k", "e2", "b", ""),
			applyV(4*s, "k", "e3", "b", ""),
			applyV(11*s, "k", "e4", "a", ""),
			applyV(12*s, "k", "e5", "c", "k:3:2s-12s:e2,e4,e5:v=b, a, c"),
		},
	}, {
		name:     "late match within the lateness counts",
		lateness: 8 * s,
		ops: []op{
			applyV(0, "k", "e1", "a", ""),
			applyV(10*s, "k", "e2", "b", ""),
			applyV(3*s, "k", "e3", "c", "k:3:0s-10s:e1,e3,e2:v=a, c, b"),
		},
	}, {
		name:     "too late is dropped and counted",
		lateness: 5 * s,
		ops: []op{
			applyV(0, "k", "e1", "a", ""),
			applyV(10*s, "k", "e2", "b", ""),
			applyV(3*s, "k", "e3", "c", ""),
		},
		keys: 1,
		late: 1,
	}, {
		name: "keys expire with the window",
		ops: []op{
			applyV(0, "k", "e1", "a", ""),
			applyV(1*s, "k", "e2", "b", ""),
			advance(11*s+ns, ""),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := runOps(t, spec, tt.lateness, tt.ops)
			st := p.Stats()
			if got := st.Rules["r"].Keys; got != tt.keys {
				t.Errorf("keys = %d, want %d", got, tt.keys)
			}
			if st.Late != tt.late {
				t.Errorf("late = %d, want %d", st.Late, tt.late)
			}
		})
	}
}

// TestDistinctSample: Values and EventIDs are bounded by SampleIDs, Count
// is not.
func TestDistinctSample(t *testing.T) {
	spec := Spec{Kind: Distinct, Count: 4, Window: time.Minute, SampleIDs: 2}
	runOps(t, spec, 0, []op{
		applyV(0, "k", "e1", "d", ""),
		applyV(1*s, "k", "e2", "c", ""),
		applyV(2*s, "k", "e3", "b", ""),
		applyV(3*s, "k", "e4", "a", "k:4:0s-3s:e1,e2:v=d, c"),
	})
}

// TestDistinctCompaction: repeats of one value keep a bounded number of
// occurrences, and counting is unchanged.
func TestDistinctCompaction(t *testing.T) {
	spec := Spec{Kind: Distinct, Count: 3, Window: 10 * s}
	var ops []op
	for i := range 1000 {
		ops = append(ops, applyV(time.Duration(i)*100*time.Millisecond, "k", "x", "a", ""))
	}
	ops = append(ops, applyV(100*s, "k", "y", "b", ""), applyV(109*s, "k", "z", "c", "k:3:1m39s-1m49s:x,y,z:v=a, b, c"))
	p, _ := runOps(t, spec, 0, ops[:1000])
	if n := len(p.rules[0].st.(*distinctState).keys["k"].vals[0].occ); n > 3 {
		t.Errorf("%d occurrences kept, want <= 3", n)
	}
	runOps(t, spec, 0, ops)
}
