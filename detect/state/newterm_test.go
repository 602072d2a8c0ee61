package state

import (
	"testing"
	"time"
)

func TestNewTerm(t *testing.T) {
	spec := Spec{Kind: NewTerm, Window: time.Hour}
	h := time.Hour
	tests := []struct {
		name     string
		lateness time.Duration
		ops      []op
		keys     int
	}{{
		name: "first sighting fires, later ones within the history do not",
		ops: []op{
			applyV(0, "k", "e1", "a", "k:1:0s-0s:e1:v=a"),
			applyV(10*mn, "k", "e2", "a", ""),
			applyV(20*mn, "k", "e3", "b", "k:1:20m0s-20m0s:e3:v=b"),
			applyV(10*mn+h, "k", "e4", "a", ""),
			applyV(10*mn+2*h, "k", "e5", "a", ""),
			applyV(10*mn+3*h+ns, "k", "e6", "a", "k:1:3h10m0.000000001s-3h10m0.000000001s:e6:v=a"),
		},
		keys: 2, // live terms, b not swept yet (no Advance)
	}, {
		name: "terms are per key",
		ops: []op{
			applyV(0, "k1", "e1", "a", "k1:1:0s-0s:e1:v=a"),
			applyV(1*s, "k2", "e2", "a", "k2:1:1s-1s:e2:v=a"),
			applyV(2*s, "k1", "e3", "a", ""),
		},
		keys: 2,
	}, {
		name:     "a late sighting never fires",
		lateness: 10 * mn,
		ops: []op{
			applyV(10*mn, "k", "e1", "a", "k:1:10m0s-10m0s:e1:v=a"),
			applyV(5*mn, "k", "e2", "a", ""),
		},
		keys: 1,
	}, {
		name: "forgotten terms are swept",
		ops: []op{
			applyV(0, "k", "e1", "a", "k:1:0s-0s:e1:v=a"),
			applyV(30*mn, "k", "e2", "b", "k:1:30m0s-30m0s:e2:v=b"),
			advance(h+ns, ""),
		},
		keys: 1,
	}, {
		name: "and the key goes with its last term",
		ops: []op{
			applyV(0, "k", "e1", "a", "k:1:0s-0s:e1:v=a"),
			advance(2*h, ""),
		},
		keys: 0,
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

func TestNewTermSeed(t *testing.T) {
	spec := Spec{Kind: NewTerm, Window: time.Hour}
	p, err := NewPartition(map[string]Spec{"r": spec, "other": {Kind: Dedup, Window: s}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, sd := range []struct {
		term string
		at   time.Duration
	}{{"a", -30 * mn}, {"old", -2 * time.Hour}, {"a", -50 * mn}} {
		if err := p.Seed("r", "k", sd.term, t0.Add(sd.at)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Seed("other", "k", "a", t0); err == nil {
		t.Error("seeding a dedup rule: no error")
	}
	if err := p.Seed("nope", "k", "a", t0); err == nil {
		t.Error("seeding an unknown rule: no error")
	}
	for _, c := range []struct{ term, want string }{
		{"a", ""},                    // seeded 30m ago
		{"old", "k:1:0s-0s:e:v=old"}, // seeded 2h ago: forgotten
		{"new", "k:1:0s-0s:e:v=new"}, // never seen
		{"new", ""},                  // now known
	} {
		got := descs(p.Apply(Match{Rule: "r", Key: "k", Time: t0, EventID: "e", Value: c.term}))
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.term, got, c.want)
		}
	}
}
