package state

import (
	"strings"
	"testing"
	"time"
)

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		spec Spec
		err  string // substring; "" = valid
	}{
		{Spec{Kind: Threshold, Count: 3, Window: s}, ""},
		{Spec{Kind: Distinct, Count: 1, Window: s, MaxKeys: 10, SampleIDs: 5}, ""},
		{Spec{Kind: Sequence, Steps: 2, Window: s}, ""},
		{Spec{Kind: Sequence, Steps: 1, Absent: true, Window: s}, ""},
		{Spec{Kind: NewTerm, Window: 24 * time.Hour}, ""},
		{Spec{Kind: Spike, Window: mn, Factor: 10, MinCount: 20}, ""},
		{Spec{Kind: Absence, Window: mn}, ""},
		{Spec{Kind: Dedup, Window: mn}, ""},
		{Spec{}, "invalid kind"},
		{Spec{Kind: 9, Window: s}, "invalid kind"},
		{Spec{Kind: Threshold, Window: s}, "count must be >= 1"},
		{Spec{Kind: Threshold, Count: 2}, "window must be > 0"},
		{Spec{Kind: Threshold, Count: 2, Window: -s}, "window must be > 0"},
		{Spec{Kind: Threshold, Count: 2, Window: MaxWindow + 1}, "window must be > 0"},
		{Spec{Kind: Dedup, Count: 2, Window: s}, "count is only for"},
		{Spec{Kind: Sequence, Window: s}, "steps must be"},
		{Spec{Kind: Sequence, Steps: MaxSteps + 1, Window: s}, "steps must be"},
		{Spec{Kind: Threshold, Count: 2, Window: s, Absent: true}, "steps and absent are only for sequence"},
		{Spec{Kind: Spike, Window: s, MinCount: 1}, "factor must be"},
		{Spec{Kind: Spike, Window: s, Factor: 2}, "min_count must be"},
		{Spec{Kind: Absence, Window: s, Factor: 2}, "factor and min_count are only for spike"},
		{Spec{Kind: Absence, Window: s, MaxKeys: -1}, "max_keys"},
		{Spec{Kind: Absence, Window: s, SampleIDs: -1}, "sample_ids"},
	}
	for _, tt := range tests {
		err := tt.spec.Validate()
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%+v: got %v, want %q", tt.spec, err, tt.err)
		}
	}
	if _, err := NewPartition(map[string]Spec{"bad": {Kind: Threshold}}, 0); err == nil || !strings.Contains(err.Error(), `rule "bad"`) {
		t.Errorf("NewPartition with a bad spec: %v", err)
	}
	if _, err := NewPartition(nil, -s); err == nil {
		t.Error("NewPartition with a negative lateness: no error")
	}
}

func TestKindString(t *testing.T) {
	for k := Threshold; k <= Dedup; k++ {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("thresholds"); err == nil {
		t.Error("ParseKind accepted a bad name")
	}
	if s := Kind(0).String(); s != "kind(0)" {
		t.Errorf("Kind(0) = %q", s)
	}
}

// TestMaxKeys: a new key beyond the cap is refused and counted; once keys
// expire, new ones are admitted again.
func TestMaxKeys(t *testing.T) {
	spec := Spec{Kind: Threshold, Count: 2, Window: 10 * s, MaxKeys: 2}
	p, _ := runOps(t, spec, 0, []op{
		apply(0, "k1", "a", ""),
		apply(1*s, "k2", "b", ""),
		apply(2*s, "k3", "c", ""),
		apply(3*s, "k3", "d", ""),
		apply(4*s, "k1", "e", "k1:2:0s-4s:a,e"),
		apply(5*s, "k3", "f", ""),
		apply(6*s, "k3", "g", "k3:2:5s-6s:f,g"),
	})
	if st := p.Stats().Rules["r"]; st.Refused != 2 || st.Keys != 1 {
		t.Errorf("stats %+v, want 2 refused and 1 key (k2)", st)
	}

	// new_term counts terms.
	spec = Spec{Kind: NewTerm, Window: time.Hour, MaxKeys: 2}
	p, _ = runOps(t, spec, 0, []op{
		applyV(0, "k1", "e1", "a", "k1:1:0s-0s:e1:v=a"),
		applyV(1*s, "k1", "e2", "b", "k1:1:1s-1s:e2:v=b"),
		applyV(2*s, "k2", "e3", "a", ""),
		applyV(3*s, "k1", "e4", "c", ""),
		applyV(4*s, "k1", "e5", "a", ""),
	})
	if st := p.Stats().Rules["r"]; st.Refused != 2 || st.Keys != 2 {
		t.Errorf("new_term stats %+v, want 2 refused and 2 terms", st)
	}
}

// TestReplay: matches at or below the last applied Seq are ignored.
func TestReplay(t *testing.T) {
	p, err := NewPartition(map[string]Spec{"r": {Kind: Dedup, Window: time.Hour}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := Match{Rule: "r", Key: "k", Time: t0, EventID: "a", Seq: 5}
	if got := p.Apply(m); len(got) != 1 {
		t.Fatalf("first apply: %v", got)
	}
	for _, seq := range []uint64{5, 4, 1} {
		m.Seq = seq
		if got := p.Apply(m); len(got) != 0 {
			t.Errorf("replay of seq %d fired %v", seq, got)
		}
	}
	m.Seq = 0 // unsequenced: always applied
	p.Apply(m)
	if got := p.Advance(t0); len(got) != 1 || !got[0].Update || got[0].Count != 2 {
		t.Errorf("unsequenced apply: %v", got)
	}
	st := p.Stats()
	if st.Applied != 5 || st.Replayed != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestInvalid: unknown rules and times out of range are counted, and do
// not move the clock.
func TestInvalid(t *testing.T) {
	p, err := NewPartition(map[string]Spec{"r": {Kind: Dedup, Window: time.Hour}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.Apply(Match{Rule: "nope", Key: "k", Time: t0})
	p.Apply(Match{Rule: "r", Key: "k"}) // zero time
	p.Apply(Match{Rule: "r", Key: "k", Time: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)})
	st := p.Stats()
	if st.Invalid != 3 || !st.Clock.IsZero() || st.Rules["r"].Keys != 0 {
		t.Errorf("stats %+v", st)
	}
	p.Advance(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)) // clamped, no panic
	if got := p.Apply(Match{Rule: "r", Key: "k", Time: t0}); len(got) != 0 {
		t.Errorf("after advancing to the end of time: %v", got)
	}
}

// TestAdvanceOrder: Advance's firings are sorted, whatever the order the
// keys were created in.
func TestAdvanceOrder(t *testing.T) {
	specs := map[string]Spec{
		"b": {Kind: Absence, Window: s},
		"a": {Kind: Absence, Window: s},
	}
	p, err := NewPartition(specs, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"z", "x", "y"} {
		for _, r := range []string{"b", "a"} {
			p.Apply(Match{Rule: r, Key: k, Time: t0.Add(time.Duration(i) * time.Millisecond), EventID: r + k})
		}
	}
	var got []string
	for _, f := range p.Advance(t0.Add(time.Hour)) {
		got = append(got, f.Rule+"/"+f.Key)
	}
	if want := "a/x a/y a/z b/x b/y b/z"; strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

// TestFiringsValidUntilNextCall documents the buffer reuse and Clone.
func TestFiringsValidUntilNextCall(t *testing.T) {
	p, err := NewPartition(map[string]Spec{"r": {Kind: Dedup, Window: time.Hour}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	kept := p.Apply(Match{Rule: "r", Key: "k", Time: t0, EventID: "a"})[0].Clone()
	p.Apply(Match{Rule: "r", Key: "k", Time: t0, EventID: "b"})
	if kept.EventIDs[0] != "a" {
		t.Errorf("clone changed: %v", kept.EventIDs)
	}
}
