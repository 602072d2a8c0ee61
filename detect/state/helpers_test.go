package state

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// t0 is the origin of the tests' event times.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// op is one step of a table test: Apply a match of rule "r" at t0+at, or
// (adv) Advance to t0+at; want lists the firings as desc renders them,
// joined by "; ".
type op struct {
	at   time.Duration
	key  string
	id   string
	val  string
	step int
	adv  bool
	want string
}

// apply and advance build ops.
func apply(at time.Duration, key, id, want string) op {
	return op{at: at, key: key, id: id, want: want}
}

func advance(at time.Duration, want string) op { return op{at: at, adv: true, want: want} }

// desc renders a firing compactly: key:count:first-last:ids, then
// :v=value and :upd when set; times are offsets from t0.
func desc(f Firing) string {
	s := fmt.Sprintf("%s:%d:%v-%v:%s", f.Key, f.Count, f.First.Sub(t0), f.Last.Sub(t0), strings.Join(f.EventIDs, ","))
	if f.Value != "" {
		s += ":v=" + f.Value
	}
	if f.Update {
		s += ":upd"
	}
	return s
}

func descs(fs []Firing) string {
	ds := make([]string, len(fs))
	for i, f := range fs {
		ds[i] = desc(f)
	}
	return strings.Join(ds, "; ")
}

// runOps applies ops to a new partition with the one rule "r" and checks
// each step's firings; it returns the partition and every firing.
func runOps(t *testing.T, spec Spec, lateness time.Duration, ops []op) (*Partition, []Firing) {
	t.Helper()
	p, err := NewPartition(map[string]Spec{"r": spec}, lateness)
	if err != nil {
		t.Fatal(err)
	}
	var all []Firing
	for i, o := range ops {
		var got []Firing
		if o.adv {
			got = p.Advance(t0.Add(o.at))
		} else {
			got = p.Apply(Match{Rule: "r", Key: o.key, Time: t0.Add(o.at), EventID: o.id, Value: o.val, Step: o.step, Seq: uint64(i + 1)})
		}
		for _, f := range got {
			if f.Rule != "r" || f.Kind != spec.Kind || len(f.ID) != 32 {
				t.Errorf("op %d: bad firing %+v", i, f)
			}
			all = append(all, f.Clone())
		}
		if d := descs(got); d != o.want {
			what := fmt.Sprintf("apply %s@%v", o.id, o.at)
			if o.adv {
				what = fmt.Sprintf("advance %v", o.at)
			}
			t.Errorf("op %d (%s): got %q, want %q", i, what, d, o.want)
		}
	}
	return p, all
}

// keys returns the live keys of rule "r".
func keys(p *Partition) int { return p.Stats().Rules["r"].Keys }

const (
	ns = time.Nanosecond
	s  = time.Second
	mn = time.Minute
)

// applyV is apply with a Value (distinct, new_term).
func applyV(at time.Duration, key, id, val, want string) op {
	return op{at: at, key: key, id: id, val: val, want: want}
}

// applyS is apply with a sequence Step.
func applyS(at time.Duration, key, id string, step int, want string) op {
	return op{at: at, key: key, id: id, step: step, want: want}
}
