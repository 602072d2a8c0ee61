package detect

import (
	"errors"
	"fmt"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/tripline/tripline/internal/event"
)

// GroupVar is the variable through which a stateful rule's summary reads
// what the rule counted: {{ group.key }}, {{ group.count }}, ... It hides a
// record field of the same name from the summary (not from when, by and
// the other expressions, which are evaluated per event).
const GroupVar = "group"

// Group is what a stateful rule counted for one finding, as its summary
// sees it (see GroupVar).
type Group struct {
	// Key is the group key: the rule's by values joined with " | ".
	Key string `expr:"key"`
	// Count is what the kind counts: the matches of a threshold window or
	// dedup period, the distinct values, a sequence's steps, a spike
	// bucket's matches, the matches before an absence.
	Count int `expr:"count"`
	// FirstSeen and LastSeen are the first and last counted match times.
	FirstSeen time.Time `expr:"first_seen"`
	LastSeen  time.Time `expr:"last_seen"`
	// Duration is LastSeen - FirstSeen, to the second; GroupSummary sets
	// it.
	Duration time.Duration `expr:"duration"`
	// Value is the new term (new_term), the distinct values joined with
	// ", " (distinct) or the baseline (spike, "%.2f"); empty for the
	// other kinds.
	Value string `expr:"value"`
}

// compileSummary compiles the rule's summary for a source. A stateful
// rule's summary is rendered per finding by GroupSummary and may also read
// group.
func (r *Rule) compileSummary(s string, sc *schema) (*template, error) {
	if r.Aggregation == nil {
		return compileTemplate(s, sc)
	}
	decl := declaration(sc)
	decl[GroupVar] = Group{}
	return parseTemplate(s, func(code string) (*vm.Program, error) {
		return compileIn(code, sc, decl, false, MaxExprLen, MaxNodes)
	})
}

// allNorm indexes every normalized field.
var allNorm = func() []int {
	idx := make([]int, len(normFields))
	for i := range idx {
		idx[i] = i
	}
	return idx
}()

// GroupSummary renders a stateful rule's summary for one of its findings:
// g is what the rule counted, ev the event that caused the finding (the
// last match counted) or nil for a finding of silence (absence, a
// sequence's missing step). The summary reads ev's fields as a stateless
// rule's summary reads its event's; without an event they read as empty:
// "" or zero for declared and normalized fields, nil ("-") for others. As
// for a stateless rule, a part that fails renders as "?" and its error is
// returned with the text. A rule without a summary renders its title.
// GroupSummary is safe for concurrent use.
func (r *Rule) GroupSummary(ev *event.Event, g Group) (string, error) {
	if len(r.Sources) == 0 {
		return r.Title, errors.New("rule has no source")
	}
	source := r.Sources[0]
	if ev != nil && r.programs[ev.Source] != nil {
		source = ev.Source
	}
	p := r.programs[source]
	if p == nil || p.summary == nil {
		return r.Title, errors.New("rule not compiled")
	}
	env := make(map[string]any, 64)
	var errs []error
	var none event.Event
	if ev == nil {
		ev = &none
	} else if i := skipWS(ev.Raw, 0); i < len(ev.Raw) && ev.Raw[i] == '{' {
		if err := decodeAll(ev.Raw, &env); err != nil {
			errs = append(errs, fmt.Errorf("decode event %s: %w", ev.EventID, err))
			env = make(map[string]any, 64)
		}
	}
	if sc := p.schema; sc != nil {
		names := make([]string, 0, len(sc.fields))
		for name := range sc.fields {
			names = append(names, name)
		}
		sc.coerce(env, names)
	}
	addNormalized(env, ev, allNorm)
	g.Duration = g.LastSeen.Sub(g.FirstSeen).Round(time.Second)
	env[GroupVar] = g
	var m vm.VM
	s, err := p.summary.render(&m, env)
	return s, errors.Join(append(errs, err)...)
}
