package state

import (
	"testing"
	"time"
)

func TestAbsence(t *testing.T) {
	spec := Spec{Kind: Absence, Window: 10 * s}
	tests := []struct {
		name     string
		lateness time.Duration
		ops      []op
		keys     int
	}{{
		name: "fires when the watermark reaches last+W, once",
		ops: []op{
			apply(0, "k", "a", ""),
			apply(3*s, "k", "b", ""),
			advance(13*s-ns, ""),
			advance(13*s, "k:2:0s-3s:b"),
			advance(time.Hour, ""),
		},
	}, {
		name: "the key starts over when it sends again",
		ops: []op{
			apply(0, "k", "a", ""),
			advance(10*s, "k:1:0s-0s:a"),
			apply(20*s, "k", "b", ""),
			advance(30*s, "k:1:20s-20s:b"),
		},
	}, {
		name: "a gap of exactly W between matches is a silence",
		ops: []op{
			apply(0, "k", "a", ""),
			apply(10*s, "k", "b", "k:1:0s-0s:a"),
			apply(19*s, "k", "c", ""),
		},
		keys: 1,
	}, {
		name:     "a late match inside the gap cancels the silence",
		lateness: 5 * s,
		ops: []op{
			apply(0, "k", "a", ""),
			apply(12*s, "k", "c", ""),
			apply(8*s, "k", "b", ""),
			advance(26*s, ""),
			advance(27*s, "k:3:0s-12s:c"),
		},
	}, {
		name:     "without it the silence fires when the watermark reaches last+W",
		lateness: 5 * s,
		ops: []op{
			apply(0, "k", "a", ""),
			apply(12*s, "k", "c", ""),
			advance(15*s-ns, ""),
			advance(15*s, "k:1:0s-0s:a"),
			advance(27*s-ns, ""),
			advance(27*s, "k:1:12s-12s:c"),
		},
	}, {
		name:     "too late is dropped",
		lateness: 5 * s,
		ops: []op{
			apply(0, "k", "a", ""),
			apply(12*s, "k", "c", ""),
			apply(6*s, "k", "b", ""),
			advance(17*s, "k:1:0s-0s:a"),
		},
		keys: 1,
	}, {
		name: "keys are independent",
		ops: []op{
			apply(0, "k1", "a", ""),
			apply(5*s, "k2", "b", ""),
			apply(9*s, "k1", "c", ""),
			advance(time.Hour, "k1:2:0s-9s:c; k2:1:5s-5s:b"),
		},
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
