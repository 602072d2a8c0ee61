package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
)

// A timed test of a stateful rule lists records with their event times
// and the exact findings they must give:
//
//	tests:
//	  - name: 25 denials in 10 minutes from one role fire once
//	    events:
//	      - {at: 0s, repeat: 25, every: 10s, event: {...}}   # 25 copies, 10s apart
//	      - {at: 2026-01-01T00:05:00Z, event: {...}}           # an absolute time
//	    expect:
//	      - {count: 25, key: "arn:aws:sts::123456789012:assumed-role/fn/x"}
//
// RunTests decodes each record with the source's decoder, sets its event
// time, runs the rule through the engine and feeds the matches to a
// detect/state Partition, exactly as the state stage does; then it moves
// the clock far past the last event and compares the firings with
// expect.

// TestBaseTime is the time that a timed test's offsets (at: 90s) count
// from: DefaultTestEventTime.
var TestBaseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestLateness is the allowed lateness of timed tests: the default of
// detect.lateness.
const TestLateness = 2 * time.Minute

// MaxTestEvents caps the records of one timed test, repeats included.
const MaxTestEvents = 100000

// TestEvent is one entry of a timed test's events: a record, its event
// time and how many copies of it to make.
type TestEvent struct {
	// At is the event time of the (first) record; zero keeps the time the
	// decoder reads from the record.
	At time.Time
	// Repeat is the number of copies (1 when unset); copy i (from 0) is
	// at At + i*Every and gets the event id "<id>-<i+1>".
	Repeat int
	Every  time.Duration
	// Event is the raw record, as JSON.
	Event json.RawMessage
	// Line is where the entry is in the rule's file.
	Line int
}

// TestFinding is a finding a timed test expects. Count and Key are always
// compared; Value and Values only when set.
type TestFinding struct {
	// Count is the firing's count (threshold: N; distinct: the distinct
	// values; sequence: the steps; spike: the bucket's count; absence:
	// the matches before the silence; dedup: the matches of the period).
	Count int
	// Key is the group key: the rule's by values joined with " | " ("" for
	// a rule without by).
	Key string
	// Value, if not nil, is the new term (new_term), the baseline
	// (spike, "%.2f") or the distinct values joined with ", ".
	Value *string
	// Values, if not nil, are a distinct firing's values, in order of
	// first occurrence.
	Values []string
}

// String renders the expectation as in a rule file.
func (f TestFinding) String() string {
	s := fmt.Sprintf("count %d, key %q", f.Count, f.Key)
	if f.Value != nil {
		s += fmt.Sprintf(", value %q", *f.Value)
	}
	if f.Values != nil {
		s += ", values " + quoteList(f.Values)
	}
	return s
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// matches reports whether firing f is this expected finding.
func (f TestFinding) matches(got state.Firing) bool {
	return f.Count == got.Count && f.Key == got.Key &&
		(f.Value == nil || *f.Value == got.Value) &&
		(f.Values == nil || slices.Equal(f.Values, got.Values))
}

// describeFiring renders a firing for a test diff, its times as offsets
// from TestBaseTime.
func describeFiring(f state.Firing, want *TestFinding) string {
	s := fmt.Sprintf("count %d, key %q", f.Count, f.Key)
	if f.Kind == state.NewTerm || f.Kind == state.Spike || (want != nil && want.Value != nil) {
		s += fmt.Sprintf(", value %q", f.Value)
	}
	if f.Kind == state.Distinct || (want != nil && want.Values != nil) {
		s += ", values " + quoteList(f.Values)
	}
	return s + fmt.Sprintf(" (first %s, last %s)", testOffset(f.First), testOffset(f.Last))
}

// testOffset renders t as an offset from TestBaseTime (at: 1m30s), or as
// RFC 3339 when it is far from it.
func testOffset(t time.Time) string {
	d := t.Sub(TestBaseTime)
	if d < -1000*time.Hour || d > 1000*time.Hour {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return d.String()
}

// runTimed runs a timed test: it returns the firings, in the order they
// came (dedup updates folded into the firing they update).
func runTimed(r *Rule, m *Matcher, dec ingest.Decoder, t *RuleTest) ([]state.Firing, error) {
	agg := r.Aggregation
	if agg == nil {
		return nil, errors.New("timed tests are for stateful rules")
	}
	source := r.Sources[0]
	var evs []event.Event // decoded and timed
	ids := map[string]int{}
	for i, te := range t.Events {
		ev, err := decodeTestEvent(dec, source, te.Event)
		if err != nil {
			return nil, fmt.Errorf("events[%d] (line %d): %w", i, te.Line, err)
		}
		at := ev.Time
		if !te.At.IsZero() {
			at = te.At
		}
		n := max(te.Repeat, 1)
		if len(evs)+n > MaxTestEvents {
			return nil, fmt.Errorf("more than %d events", MaxTestEvents)
		}
		for k := range n {
			c := ev
			c.Time = at.Add(time.Duration(k) * te.Every)
			if te.Repeat > 1 {
				c.EventID = fmt.Sprintf("%s-%d", ev.EventID, k+1)
			}
			// Every event id is unique, as in production.
			if n := ids[c.EventID]; n > 0 {
				ids[c.EventID]++
				c.EventID = fmt.Sprintf("%s#%d", c.EventID, n+1)
			}
			ids[c.EventID]++
			evs = append(evs, c)
		}
	}
	// Events arrive in event-time order (ties in the order written), the
	// way a source delivers them.
	slices.SortStableFunc(evs, func(a, b event.Event) int { return a.Time.Compare(b.Time) })

	part, err := state.NewPartition(map[string]state.Spec{r.ID: agg.Spec}, TestLateness)
	if err != nil {
		return nil, err
	}
	var firings []state.Firing
	collect := func(fs []state.Firing) {
		for _, f := range fs {
			if f.Update {
				if i := slices.IndexFunc(firings, func(g state.Firing) bool { return g.ID == f.ID }); i >= 0 {
					g := &firings[i]
					g.Count = f.Count
					g.First, g.Last = minTime(g.First, f.First), maxTime(g.Last, f.Last)
					g.EventIDs = slices.Clone(f.EventIDs) // the period's sample
					continue
				}
			}
			firings = append(firings, f.Clone())
		}
	}
	var seq uint64
	var errs []error
	var last time.Time
	for i := range evs {
		ev := &evs[i]
		// The clock reaches the event's time before it is applied, as
		// the state stage's clock follows the stream.
		collect(part.Advance(ev.Time))
		if _, err := m.Match(ev, nil); err != nil {
			errs = append(errs, fmt.Errorf("event %s: %w", ev.EventID, err))
		}
		for _, mt := range m.Matches() {
			seq++
			collect(part.Apply(state.Match{Rule: mt.RuleID, Key: mt.Key, Time: mt.Event.Time,
				EventID: mt.Event.EventID, Value: mt.Value, Step: mt.Step, Seq: seq}))
		}
		last = maxTime(last, ev.Time)
	}
	end := t.Until
	if end.IsZero() {
		// Far enough for every timer: absence fires at last+W+lateness,
		// a sequence's absent after t0+W+lateness.
		end = last.Add(2*agg.Spec.Window + TestLateness + time.Minute)
	}
	collect(part.Advance(end))
	if st := part.Stats(); st.Late > 0 || st.Invalid > 0 {
		errs = append(errs, fmt.Errorf("the partition dropped %d late and %d invalid matches", st.Late, st.Invalid))
	}
	if rs := part.Stats().Rules[r.ID]; rs.Refused > 0 {
		errs = append(errs, fmt.Errorf("%d matches refused at max_keys", rs.Refused))
	}
	return firings, errors.Join(errs...)
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// diffFindings renders the expected and actual findings of a failed timed
// test, one line each.
func diffFindings(want []TestFinding, got []state.Firing) string {
	var b strings.Builder
	fmt.Fprintf(&b, "want %s, got %d", plural(len(want), "finding"), len(got))
	for i := range max(len(want), len(got)) {
		switch {
		case i < len(want) && i < len(got) && want[i].matches(got[i]):
			fmt.Fprintf(&b, "\n      ok   [%d] %s", i+1, describeFiring(got[i], &want[i]))
		case i < len(want) && i < len(got):
			fmt.Fprintf(&b, "\n      want [%d] %s", i+1, want[i])
			fmt.Fprintf(&b, "\n      got  [%d] %s", i+1, describeFiring(got[i], &want[i]))
		case i < len(want):
			fmt.Fprintf(&b, "\n      want [%d] %s", i+1, want[i])
			fmt.Fprintf(&b, "\n      got  [%d] (none)", i+1)
		default:
			fmt.Fprintf(&b, "\n      want [%d] (none)", i+1)
			fmt.Fprintf(&b, "\n      got  [%d] %s", i+1, describeFiring(got[i], nil))
		}
	}
	return b.String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// findingsEqual reports whether the firings are exactly the expected
// ones, in order.
func findingsEqual(want []TestFinding, got []state.Firing) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if !want[i].matches(got[i]) {
			return false
		}
	}
	return true
}
