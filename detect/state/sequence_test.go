package state

import (
	"fmt"
	"testing"
	"time"
)

func TestSequence(t *testing.T) {
	spec := Spec{Kind: Sequence, Steps: 3, Window: 10 * s}
	tests := []struct {
		name     string
		lateness time.Duration
		ops      []op
		keys     int
		late     uint64
	}{{
		name: "all steps, the last at the window edge",
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			applyS(3*s, "k", "b", 1, ""),
			applyS(10*s, "k", "c", 2, "k:3:0s-10s:a,b,c"),
		},
	}, {
		name: "last step one nanosecond late",
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			applyS(3*s, "k", "b", 1, ""),
			applyS(10*s+ns, "k", "c", 2, ""),
		},
		keys: 1,
	}, {
		name: "steps out of event-time order do not count",
		ops: []op{
			applyS(0, "k", "a", 1, ""),
			applyS(1*s, "k", "b", 0, ""),
			applyS(2*s, "k", "c", 2, ""),
			applyS(3*s, "k", "d", 1, ""),
			applyS(4*s, "k", "e", 2, "k:3:1s-4s:b,d,e"),
		},
	}, {
		name: "equal times are in order",
		ops: []op{
			applyS(5*s, "k", "a", 0, ""),
			applyS(5*s, "k", "b", 1, ""),
			applyS(5*s, "k", "c", 2, "k:3:5s-5s:a,b,c"),
		},
	}, {
		name: "the latest start is taken",
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			applyS(5*s, "k", "b", 0, ""),
			applyS(12*s, "k", "c", 1, ""),
			applyS(13*s, "k", "d", 2, "k:3:5s-13s:b,c,d"),
		},
	}, {
		name: "the key resets after firing",
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			applyS(1*s, "k", "b", 1, ""),
			applyS(2*s, "k", "c", 2, "k:3:0s-2s:a,b,c"),
			applyS(3*s, "k", "d", 2, ""),
			applyS(4*s, "k", "e", 1, ""),
		},
		keys: 1,
	}, {
		name:     "a late middle step completes the sequence",
		lateness: 5 * s,
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			applyS(4*s, "k", "c", 2, ""),
			applyS(2*s, "k", "b", 1, "k:3:0s-4s:a,b,c"),
		},
	}, {
		name:     "a late first step completes the sequence",
		lateness: 5 * s,
		ops: []op{
			applyS(3*s, "k", "b", 1, ""),
			applyS(4*s, "k", "c", 2, ""),
			applyS(1*s, "k", "a", 0, "k:3:1s-4s:a,b,c"),
		},
	}, {
		name:     "too late is dropped and counted",
		lateness: 1 * s,
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			applyS(4*s, "k", "c", 2, ""),
			applyS(2*s, "k", "b", 1, ""),
		},
		keys: 1,
		late: 1,
	}, {
		name: "partials expire with the window",
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			applyS(1*s, "k", "b", 1, ""),
			advance(10*s, ""),
			applyS(10*s, "k", "c", 2, "k:3:0s-10s:a,b,c"),
			applyS(20*s, "k", "d", 0, ""),
			applyS(21*s, "k", "e", 1, ""),
			advance(31*s+ns, ""),
		},
		keys: 0,
	}, {
		name: "bad step is invalid",
		ops: []op{
			applyS(0, "k", "a", 3, ""),
			applyS(0, "k", "a", -1, ""),
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

// TestSequenceFold: many step-0 matches are folded into the per-step
// summary; the latest start still wins, and an expired one never does.
func TestSequenceFold(t *testing.T) {
	spec := Spec{Kind: Sequence, Steps: 2, Window: 10 * s}
	for _, lateness := range []time.Duration{0, 3 * s} {
		t.Run(fmt.Sprint(lateness), func(t *testing.T) {
			var ops []op
			for i := range 40 {
				ops = append(ops, applyS(time.Duration(i)*s, "k", fmt.Sprint("s", i), 0, ""))
			}
			ops = append(ops,
				applyS(45*s, "k", "x", 1, "k:2:39s-45s:s39,x"),
				applyS(60*s, "k", "y", 0, ""),
				advance(65*s, ""),
				applyS(70*s+ns, "k", "z", 1, ""),
			)
			p, _ := runOps(t, spec, lateness, ops)
			k := p.rules[0].st.(*sequenceState).keys["k"]
			if k != nil && len(k.buf) > 16 {
				t.Errorf("%d matches buffered", len(k.buf))
			}
		})
	}
}

func TestSequenceAbsent(t *testing.T) {
	spec := Spec{Kind: Sequence, Steps: 1, Absent: true, Window: 10 * s}
	tests := []struct {
		name     string
		lateness time.Duration
		ops      []op
	}{{
		name: "fires when the watermark passes t0+W",
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			advance(10*s, ""),
			advance(10*s+ns, "k:1:0s-0s:a"),
			advance(time.Hour, ""),
		},
	}, {
		name: "absent event at the window edge cancels",
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			applyS(10*s, "k", "x", 1, ""),
			advance(time.Hour, ""),
		},
	}, {
		name: "absent event one nanosecond after the window does not",
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			applyS(10*s+ns, "k", "x", 1, ""),
			advance(time.Hour, "k:1:0s-0s:a"),
		},
	}, {
		name: "absent event at the same time as step 0 cancels",
		ops: []op{
			applyS(0, "k", "x", 1, ""),
			applyS(0, "k", "a", 0, ""),
			advance(time.Hour, ""),
		},
	}, {
		name: "absent event before step 0 does not cancel",
		ops: []op{
			applyS(0, "k", "x", 1, ""),
			applyS(1*s, "k", "a", 0, ""),
			advance(time.Hour, "k:1:1s-1s:a"),
		},
	}, {
		name:     "late absent event within the lateness cancels",
		lateness: 5 * s,
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			advance(15*s, ""),
			applyS(10*s, "k", "x", 1, ""),
			advance(time.Hour, ""),
		},
	}, {
		name:     "the lateness delays the firing",
		lateness: 5 * s,
		ops: []op{
			applyS(0, "k", "a", 0, ""),
			advance(15*s, ""),
			advance(15*s+ns, "k:1:0s-0s:a"),
		},
	}, {
		name: "several episodes fire in order",
		ops: []op{
			applyS(0, "k2", "a", 0, ""),
			applyS(1*s, "k1", "b", 0, ""),
			applyS(2*s, "k1", "c", 0, ""),
			advance(time.Hour, "k1:1:1s-1s:b; k1:1:2s-2s:c; k2:1:0s-0s:a"),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := runOps(t, spec, tt.lateness, tt.ops)
			if n := keys(p); n != 0 {
				t.Errorf("keys = %d at the end, want 0", n)
			}
		})
	}
}

// TestSequenceAbsentSteps: with two steps, an absent event anywhere in
// [t0, t0+W] cancels, even between the steps.
func TestSequenceAbsentSteps(t *testing.T) {
	spec := Spec{Kind: Sequence, Steps: 2, Absent: true, Window: 10 * s}
	runOps(t, spec, 0, []op{
		applyS(0, "k", "a", 0, ""),
		applyS(3*s, "k", "x", 2, ""),
		applyS(5*s, "k", "b", 1, ""),
		advance(time.Hour, ""),
		applyS(2*time.Hour, "k", "c", 0, ""),
		applyS(2*time.Hour+5*s, "k", "d", 1, ""),
		advance(2*time.Hour+10*s+ns, "k:2:2h0m0s-2h0m5s:c,d"),
	})
}
