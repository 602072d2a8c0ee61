package state

import (
	"testing"
	"time"
)

func TestThreshold(t *testing.T) {
	spec := Spec{Kind: Threshold, Count: 3, Window: 10 * s}
	tests := []struct {
		name     string
		lateness time.Duration
		ops      []op
		keys     int
		late     uint64
	}{{
		name: "exactly N at the window edge",
		ops: []op{
			apply(0, "k", "a", ""),
			apply(5*s, "k", "b", ""),
			apply(10*s, "k", "c", "k:3:0s-10s:a,b,c"),
		},
	}, {
		name: "one nanosecond outside the window",
		ops: []op{
			apply(0, "k", "a", ""),
			apply(5*s, "k", "b", ""),
			apply(10*s+ns, "k", "c", ""),
			apply(12*s, "k", "d", "k:3:5s-12s:b,c,d"),
		},
		keys: 0,
	}, {
		name: "the counted matches are consumed",
		ops: []op{
			apply(0, "k", "a", ""),
			apply(1*s, "k", "b", ""),
			apply(2*s, "k", "c", "k:3:0s-2s:a,b,c"),
			apply(3*s, "k", "d", ""),
			apply(4*s, "k", "e", ""),
			apply(5*s, "k", "f", "k:3:3s-5s:d,e,f"),
		},
	}, {
		name: "keys count separately",
		ops: []op{
			apply(0, "k1", "a", ""),
			apply(1*s, "k2", "b", ""),
			apply(2*s, "k1", "c", ""),
			apply(3*s, "k2", "d", ""),
		},
		keys: 2,
	}, {
		name:     "late match within the lateness counts",
		lateness: 5 * s,
		ops: []op{
			apply(0, "k", "a", ""),
			apply(10*s, "k", "c", ""),
			apply(6*s, "k", "b", "k:3:0s-10s:a,b,c"),
		},
	}, {
		name:     "late match completes a window after it",
		lateness: 20 * s,
		ops: []op{
			apply(0, "k", "a", ""),
			apply(15*s, "k", "c", ""),
			apply(20*s, "k", "d", ""),
			apply(12*s, "k", "b", "k:3:12s-20s:b,c,d"),
		},
		keys: 1,
	}, {
		name:     "too late is dropped and counted",
		lateness: 2 * s,
		ops: []op{
			apply(0, "k", "a", ""),
			apply(10*s, "k", "c", ""),
			apply(6*s, "k", "b", ""),
			apply(11*s, "k", "d", ""),
		},
		keys: 1,
		late: 1,
	}, {
		name: "keys expire with the window",
		ops: []op{
			apply(0, "k", "a", ""),
			apply(1*s, "k", "b", ""),
			advance(11*s, ""),
			apply(11*s, "k", "c", ""),
			apply(11*s, "k", "d", "k:3:1s-11s:b,c,d"),
		},
		keys: 0,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := runOps(t, spec, tt.lateness, tt.ops)
			st := p.Stats()
			if got := st.Rules["r"].Keys; got != tt.keys {
				t.Errorf("keys = %d, want %d", got, tt.keys)
			}
			if st.Late != tt.late || st.Rules["r"].Late != tt.late {
				t.Errorf("late = %d/%d, want %d", st.Late, st.Rules["r"].Late, tt.late)
			}
		})
	}
}

// TestThresholdLateWindow: N=2. A late match joins the earliest window it
// completes; the later match stays for the next firing.
func TestThresholdLateWindow(t *testing.T) {
	spec := Spec{Kind: Threshold, Count: 2, Window: 10 * s}
	runOps(t, spec, 20*s, []op{
		apply(0, "k", "a", ""),
		apply(15*s, "k", "c", ""),
		apply(8*s, "k", "b", "k:2:0s-8s:a,b"),
		apply(20*s, "k", "d", "k:2:15s-20s:c,d"),
	})
}

func TestThresholdExpiry(t *testing.T) {
	spec := Spec{Kind: Threshold, Count: 3, Window: 10 * s}
	p, _ := runOps(t, spec, 0, []op{
		apply(0, "k", "a", ""),
		apply(1*s, "k", "b", ""),
		advance(11*s, ""),
	})
	// a (0s) can no longer share a window with a match at >= 11s; b can.
	if k := p.rules[0].st.(*thresholdState).keys["k"]; k == nil || len(k.evs) != 1 {
		t.Fatalf("after 11s: %+v, want only b", k)
	}
	p.Advance(t0.Add(11*s + ns))
	if n := keys(p); n != 0 {
		t.Fatalf("keys = %d after the window, want 0", n)
	}
}
