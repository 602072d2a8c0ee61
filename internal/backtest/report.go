package backtest

import (
	"cmp"
	"slices"
	"time"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/internal/event"
)

// Report is what a backtest found.
type Report struct {
	Since    time.Time     `json:"since"`
	Until    time.Time     `json:"until"`
	Lateness time.Duration `json:"lateness_ns"`
	// Events is the number of events read (duplicate rows not counted).
	Events int64 `json:"events_scanned"`
	// Duplicates counts rows of an event stored twice and not merged yet,
	// skipped as the live pipeline would not have seen them twice.
	Duplicates int64 `json:"duplicate_rows,omitempty"`
	// Undecodable counts events whose record is not valid JSON.
	Undecodable uint64 `json:"undecodable,omitempty"`
	// Findings is the number of findings of every rule (a dedup
	// finding and its updates are one).
	Findings int           `json:"findings"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Rules    []*RuleReport `json:"rules"`
}

// RuleReport is what one rule found.
type RuleReport struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	// Kind is "stateless" or the stateful kind (threshold, ...).
	Kind     string `json:"kind"`
	Findings int    `json:"findings"`
	// Matches counts the events that matched the rule (stateful: that
	// went to the state machines); Errors its runtime errors.
	Matches uint64 `json:"matches"`
	Errors  uint64 `json:"errors,omitempty"`
	// SummaryErrors counts stateful findings whose summary failed.
	SummaryErrors uint64 `json:"summary_errors,omitempty"`
	// Late and Refused are the state machines' dropped matches: late
	// (none for events in time order) and refused at max_keys.
	Late    uint64 `json:"late,omitempty"`
	Refused uint64 `json:"refused,omitempty"`
	// HistoryEvents and HistoryTerms are, for a new_term rule, the events
	// before the range it read and the terms it learned from them.
	HistoryEvents int `json:"history_events,omitempty"`
	HistoryTerms  int `json:"history_terms,omitempty"`
	// PerDay has every UTC day of the range, by the findings' time.
	PerDay []DayCount `json:"per_day"`
	// TopKeys are the group keys with the most findings (stateful);
	// TopActors and TopTargets the actors and targets of the findings'
	// events (stateless).
	TopKeys    []Count  `json:"top_keys,omitempty"`
	TopActors  []Count  `json:"top_actors,omitempty"`
	TopTargets []Count  `json:"top_targets,omitempty"`
	Samples    []Sample `json:"samples,omitempty"`
}

// DayCount is the number of findings of one UTC day.
type DayCount struct {
	Day      string `json:"day"` // 2006-01-02
	Findings int    `json:"findings"`
}

// Count is how many findings one value (a key, an actor, a target) has,
// and how many events they count (a stateful finding's count; 1 for a
// stateless one).
type Count struct {
	Value    string `json:"value"`
	Findings int    `json:"findings"`
	Events   int    `json:"events"`
}

// Sample is one finding with the events it names (those still stored).
type Sample struct {
	Finding event.Finding `json:"finding"`
	Events  []event.Event `json:"events,omitempty"`
}

// rule returns the report of a rule id (a new one if unknown).
func (r *Report) rule(id string) *RuleReport {
	for _, rr := range r.Rules {
		if rr.ID == id {
			return rr
		}
	}
	rr := &RuleReport{ID: id}
	r.Rules = append(r.Rules, rr)
	return rr
}

// maxDistinct caps the distinct values a counter tracks; findings of
// others are counted under otherValue.
const (
	maxDistinct = 100_000
	otherValue  = "(other)"
)

// counter counts findings and events per value.
type counter map[string]*Count

func (c counter) add(v string, findings, events int) {
	n := c[v]
	if n == nil {
		if len(c) >= maxDistinct {
			v = otherValue
			n = c[v]
		}
		if n == nil {
			n = &Count{Value: v}
			c[v] = n
		}
	}
	n.Findings += findings
	n.Events += events
}

// top returns the n values with the most findings (then events, then
// value), the empty value left out.
func (c counter) top(n int) []Count {
	out := make([]Count, 0, len(c))
	for _, v := range c {
		if v.Value != "" {
			out = append(out, *v)
		}
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Findings, a.Findings), cmp.Compare(b.Events, a.Events), cmp.Compare(a.Value, b.Value))
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// ruleAcc accumulates one rule's findings.
type ruleAcc struct {
	rep             *RuleReport
	perDay          []int
	keys            counter
	actors, targets counter
	counts          map[string]int // dedup: alert id to its count so far
	samples         map[string]int // alert id to index in rep.Samples
}

// collector builds a Report from the findings as they come.
type collector struct {
	since         time.Time
	days          []string
	rules         map[string]*ruleAcc
	order         []*ruleAcc
	samples, top  int
	events        int64
	duplicates    int64
	findings      int
	summaryErrors map[string]uint64
}

func newCollector(rules []*detect.Rule, since, until time.Time, samples, top int) *collector {
	if samples == 0 {
		samples = DefaultSamples
	}
	if top <= 0 {
		top = DefaultTop
	}
	c := &collector{since: dayOf(since), rules: map[string]*ruleAcc{}, samples: max(samples, 0), top: top,
		summaryErrors: map[string]uint64{}}
	for d := c.since; d.Before(until); d = d.AddDate(0, 0, 1) {
		c.days = append(c.days, d.Format(time.DateOnly))
	}
	for _, r := range rules {
		kind := "stateless"
		if r.Aggregation != nil {
			kind = r.Aggregation.Spec.Kind.String()
		}
		a := &ruleAcc{
			rep:    &RuleReport{ID: r.ID, Title: r.Title, Severity: r.Severity, Kind: kind},
			perDay: make([]int, len(c.days)),
			keys:   counter{}, actors: counter{}, targets: counter{},
			counts: map[string]int{}, samples: map[string]int{},
		}
		c.rules[r.ID] = a
		c.order = append(c.order, a)
	}
	return c
}

func dayOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// add counts a finding; a dedup update replaces the finding it updates.
func (c *collector) add(f *event.Finding) {
	a := c.rules[f.RuleID]
	if a == nil {
		return
	}
	if i, ok := a.samples[f.AlertID]; ok {
		a.rep.Samples[i].Finding = *f
	}
	if f.Update {
		// Only the events counted since the last state of the finding.
		prev := a.counts[f.AlertID]
		a.counts[f.AlertID] = f.Count
		a.keys.add(f.GroupKey, 0, f.Count-prev)
		return
	}
	c.findings++
	a.rep.Findings++
	if d := int(dayOf(f.Time).Sub(c.since) / (24 * time.Hour)); d >= 0 && d < len(a.perDay) {
		a.perDay[d]++
	}
	if f.Count > 0 || a.rep.Kind != "stateless" {
		a.keys.add(f.GroupKey, 1, f.Count)
		if a.rep.Kind == "dedup" {
			a.counts[f.AlertID] = f.Count
		}
	} else {
		a.actors.add(f.Event.Actor, 1, 1)
		a.targets.add(f.Event.Target, 1, 1)
	}
	if len(a.rep.Samples) < c.samples {
		a.samples[f.AlertID] = len(a.rep.Samples)
		a.rep.Samples = append(a.rep.Samples, Sample{Finding: *f})
	}
}

// report returns the report of what was counted.
func (c *collector) report() *Report {
	rep := &Report{Events: c.events, Duplicates: c.duplicates, Findings: c.findings}
	for _, a := range c.order {
		rr := a.rep
		rr.PerDay = make([]DayCount, len(c.days))
		for i, d := range c.days {
			rr.PerDay[i] = DayCount{Day: d, Findings: a.perDay[i]}
		}
		rr.TopKeys, rr.TopActors, rr.TopTargets = a.keys.top(c.top), a.actors.top(c.top), a.targets.top(c.top)
		rr.SummaryErrors = c.summaryErrors[rr.ID]
		rep.Rules = append(rep.Rules, rr)
	}
	return rep
}
