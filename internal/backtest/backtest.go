// Package backtest replays rules over the events stored in ClickHouse
// through the same engine as the live pipeline (detect.Matcher for every
// rule, then detect/state partitions for the matches of stateful rules)
// and reports what they would have raised: findings per day, top keys,
// actors and targets, samples with their events, totals.
//
// The replay is what the live pipeline gives for the same events fed in
// event-time order to a pipeline started at Since with these rules: the
// same findings, with the same ids, counts, group keys and first and last
// times. Stateful rules start with empty state at Since, so a window that
// straddles Since only counts its part after Since.
package backtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/pipeline"
	"github.com/tripline/tripline/internal/store"
)

// Events is where the stored events are read; *store.Store is one.
type Events interface {
	// ScanEvents streams the events of q ordered by time, then event id.
	ScanEvents(ctx context.Context, q store.EventQuery, fn func(event.Event) error) error
	// EventsByID returns a few events by id (the samples' events).
	EventsByID(ctx context.Context, ids, sources []string, since, until time.Time) ([]event.Event, error)
	// ScanHistory streams, in no order, the newest events of q: what a
	// new_term rule learns before Since.
	ScanHistory(ctx context.Context, q store.HistoryQuery, fn func(event.Event) error) error
}

// Config says what to replay.
type Config struct {
	// Rules are the rules to replay, as the loaders return them.
	Rules []*detect.Rule
	// Since (inclusive) and Until (exclusive) bound the event time;
	// both are required.
	Since, Until time.Time
	// Lateness is the state stage's allowed lateness (detect.lateness).
	Lateness time.Duration
	// SeedMaxEvents bounds the events before Since that a new_term rule
	// learns from, as it would when loaded at Since (the newest are
	// kept; detect.seed_max_events); 0 means DefaultSeedMaxEvents,
	// negative learns nothing.
	SeedMaxEvents int
	// Chunk is how much event time one query reads (each is sorted by
	// the server and has its own time limit); 0 means 24h.
	Chunk time.Duration
	// Samples is how many findings per rule the report keeps with their
	// events; 0 means DefaultSamples, negative none.
	Samples int
	// Top is how many keys, actors and targets per rule the report
	// lists; 0 means DefaultTop.
	Top int
	// OnFinding, if set, receives every finding as the live pipeline
	// would publish it, in order: a dedup update (Update set, the same
	// alert id, a larger count) comes after the finding it updates.
	OnFinding func(event.Finding)
	// Progress, if set, is called now and then with the event time the
	// scan has reached.
	Progress func(at time.Time)
	// Now is the wall clock, used only to clamp event times in the
	// future as the state stage does; nil means time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultChunk   = 24 * time.Hour
	DefaultSamples = 3
	DefaultTop     = 10
	// DefaultSeedMaxEvents is detect.seed_max_events' default.
	DefaultSeedMaxEvents = 1_000_000
)

const (
	// maxFuture is how far ahead of the wall clock an event time is
	// believed; later ones are clamped (the state stage's rule).
	maxFuture = 5 * time.Minute
	// advanceEvery is how much event time passes between two Advances
	// of a partition, which expire state (the live stage advances about
	// once a second of wall time; when it does changes no finding, only
	// how a dedup finding's count is cut into updates).
	advanceEvery = time.Minute
	// progressEvery is how many events pass between Progress calls.
	progressEvery = 4096
)

// Run replays cfg.Rules over the events of their sources in
// [cfg.Since, cfg.Until) and returns the report. Only the sources and the
// time range reach the server; every rule condition runs in the engine.
func Run(ctx context.Context, evs Events, cfg Config) (*Report, error) {
	began := time.Now()
	if cfg.Since.IsZero() || cfg.Until.IsZero() || !cfg.Since.Before(cfg.Until) {
		return nil, fmt.Errorf("backtest: want since before until, got %v and %v", cfg.Since, cfg.Until)
	}
	if len(cfg.Rules) == 0 {
		return nil, errors.New("backtest: no rules")
	}
	eng, err := detect.NewEngine(cfg.Rules)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	rules := eng.Rules()
	stateful := pipeline.StatefulRules(rules)
	specs := make(map[string]state.Spec, len(stateful))
	for id, r := range stateful {
		specs[id] = r.Spec
	}
	if len(specs) > 0 {
		// Check the specs and lateness once, before reading anything.
		if _, err := state.NewPartition(specs, cfg.Lateness); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
	}
	var sources []string
	for _, r := range rules {
		sources = append(sources, r.Sources...)
	}
	slices.Sort(sources)
	sources = slices.Compact(sources)

	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	rp := &replay{
		cfg: cfg, stateful: stateful, specs: specs, future: now().Add(maxFuture),
		col: newCollector(rules, cfg.Since, cfg.Until, cfg.Samples, cfg.Top),
	}
	if err := rp.learn(ctx, evs, rules); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	m := eng.NewMatcher()
	var (
		findings []event.Finding
		prevID   string
		prevTime time.Time
		// prevSources are the sources of the rows read with prevID and
		// prevTime: the table's key is (source, time, event_id), so two
		// sources may hold distinct events with one id and time.
		prevSources []string
	)
	chunk := cfg.Chunk
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	for from := cfg.Since; from.Before(cfg.Until); from = from.Add(chunk) {
		to := from.Add(chunk)
		if to.After(cfg.Until) {
			to = cfg.Until
		}
		q := store.EventQuery{Since: from, Until: to, Sources: sources}
		err := evs.ScanEvents(ctx, q, func(ev event.Event) error {
			// A row stored twice and not merged yet (the events table is
			// a ReplacingMergeTree keyed by (source, time, event_id))
			// comes among the rows of the same time and id (the scan is
			// ordered by time and id, not source): the live pipeline saw
			// the event once. The same id and time from another source is
			// another event.
			if ev.EventID == prevID && ev.Time.Equal(prevTime) {
				if slices.Contains(prevSources, ev.Source) {
					rp.col.duplicates++
					return nil
				}
				prevSources = append(prevSources, ev.Source)
			} else {
				prevID, prevTime, prevSources = ev.EventID, ev.Time, append(prevSources[:0], ev.Source)
			}
			rp.col.events++
			if cfg.Progress != nil && rp.col.events%progressEvery == 0 {
				cfg.Progress(ev.Time)
			}
			findings, _ = m.Match(&ev, findings[:0]) // errors are counted in the engine's stats
			for i := range findings {
				rp.emit(findings[i])
			}
			for _, mt := range m.Matches() {
				rp.apply(&mt)
			}
			return ctx.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		if cfg.Progress != nil {
			cfg.Progress(to)
		}
	}
	// The clock reaches the end of the range: absences and sequences
	// whose time ran out within it fire, and dedup updates are taken.
	for _, ps := range rp.parts {
		if ps != nil {
			rp.advance(ps, cfg.Until)
		}
	}

	rep := rp.col.report()
	rep.Since, rep.Until, rep.Lateness = cfg.Since.UTC(), cfg.Until.UTC(), cfg.Lateness
	_, rep.Undecodable = eng.Decoded()
	for _, st := range eng.Stats() {
		rr := rep.rule(st.RuleID)
		rr.Matches, rr.Errors = st.Matches, st.Errors
	}
	for _, ps := range rp.parts {
		if ps == nil {
			continue
		}
		for id, st := range ps.p.Stats().Rules {
			rr := rep.rule(id)
			rr.Late += st.Late
			rr.Refused += st.Refused
		}
	}
	if err := attachEvents(ctx, evs, rep, sources, cfg.Since, cfg.Until); err != nil {
		return nil, fmt.Errorf("backtest: sample events: %w", err)
	}
	rep.Elapsed = time.Since(began)
	return rep, nil
}

// replay holds the state partitions of one run and turns firings into
// findings as the state stage does.
type replay struct {
	cfg      Config
	stateful map[string]pipeline.StatefulRule
	specs    map[string]state.Spec
	future   time.Time
	parts    [bus.Partitions]*partState
	col      *collector
}

// partState is one partition, as a state worker holds it.
type partState struct {
	p        *state.Partition
	seq      uint64
	advanced time.Time
	// latest is the last event of each dedup key applied since the last
	// Advance: the event of the key's update (the state stage's rule).
	latest map[ruleKey]event.Event
}

type ruleKey struct{ rule, key string }

// part returns partition p, made on first use.
func (rp *replay) part(p int) *partState {
	ps := rp.parts[p]
	if ps == nil {
		part, err := state.NewPartition(rp.specs, rp.cfg.Lateness)
		if err != nil {
			panic(err) // checked in Run
		}
		ps = &partState{p: part, latest: map[ruleKey]event.Event{}}
		rp.parts[p] = ps
	}
	return ps
}

// learn teaches each new_term rule the terms of the events before Since
// within its history, as the live pipeline's rule learns from the stored
// history when it is loaded: the backtest is of the rule loaded at Since.
func (rp *replay) learn(ctx context.Context, evs Events, rules []*detect.Rule) error {
	limit := rp.cfg.SeedMaxEvents
	if limit == 0 {
		limit = DefaultSeedMaxEvents
	}
	if limit < 0 {
		return nil
	}
	for _, r := range rules {
		if r.Aggregation == nil || r.Aggregation.Spec.Kind != state.NewTerm {
			continue
		}
		q := store.HistoryQuery{Sources: r.Sources, Since: rp.cfg.Since.Add(-r.Aggregation.Spec.Window - rp.cfg.Lateness),
			Until: rp.cfg.Since, Limit: limit}
		h, err := pipeline.LearnHistory(ctx, evs, r, q, rp.future)
		if err != nil {
			return fmt.Errorf("history of %s: %w", r.ID, err)
		}
		for p, terms := range h.Terms {
			for _, t := range terms {
				_ = rp.part(p).p.Seed(r.ID, t.Key, t.Term, t.At) // a term refused at max_keys is counted there
			}
		}
		rr := rp.col.rules[r.ID].rep
		rr.HistoryEvents, rr.HistoryTerms = h.Events, h.Learned
	}
	return nil
}

// apply sends a match to its partition, the one the bus would send it to:
// max_keys and the watermark are per partition, as live.
func (rp *replay) apply(mt *event.Match) {
	ps := rp.part(mt.Partition(bus.Partitions))
	at := mt.Event.Time
	if at.After(rp.future) {
		at = rp.future
	}
	if ps.advanced.IsZero() {
		ps.advanced = at
	} else if at.Sub(ps.advanced) >= advanceEvery {
		rp.advance(ps, at)
	}
	ps.seq++
	for _, f := range ps.p.Apply(state.Match{Rule: mt.RuleID, Key: mt.Key, Time: at, EventID: mt.Event.EventID,
		Value: mt.Value, Step: mt.Step, Seq: ps.seq}) {
		rp.fire(f, rp.eventOf(ps, f, &mt.Event))
	}
	if rp.specs[mt.RuleID].Kind == state.Dedup {
		ps.latest[ruleKey{mt.RuleID, mt.Key}] = mt.Event
	}
}

// advance moves a partition's clock to t and takes what that fires.
func (rp *replay) advance(ps *partState, t time.Time) {
	for _, f := range ps.p.Advance(t) {
		rp.fire(f, rp.eventOf(ps, f, nil))
	}
	clear(ps.latest)
	ps.advanced = t
}

// eventOf is the event a firing is about, as the state stage picks it:
// none for a firing of silence, the key's latest event for a dedup
// update, else the event just applied (nil from Advance).
func (rp *replay) eventOf(ps *partState, f state.Firing, applied *event.Event) *event.Event {
	switch {
	case pipeline.IsSilence(f, rp.specs[f.Rule]):
		return nil
	case f.Update:
		if ev, ok := ps.latest[ruleKey{f.Rule, f.Key}]; ok {
			return &ev
		}
		return nil
	}
	return applied
}

func (rp *replay) fire(f state.Firing, ev *event.Event) {
	fd, err := pipeline.StatefulFinding(rp.stateful[f.Rule], f, ev)
	if err != nil {
		rp.col.summaryErrors[f.Rule]++
	}
	rp.emit(fd)
}

func (rp *replay) emit(f event.Finding) {
	rp.col.add(&f)
	if rp.cfg.OnFinding != nil {
		rp.cfg.OnFinding(f)
	}
}

// attachEvents reads the events of the samples' findings.
func attachEvents(ctx context.Context, evs Events, rep *Report, sources []string, since, until time.Time) error {
	var ids []string
	for _, rr := range rep.Rules {
		for _, s := range rr.Samples {
			ids = append(ids, s.Finding.EventIDs...)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > store.MaxEventsByID {
		ids = ids[:store.MaxEventsByID]
	}
	got, err := evs.EventsByID(ctx, ids, sources, since, until)
	if err != nil {
		return err
	}
	byID := make(map[string]event.Event, len(got))
	for _, ev := range got {
		byID[ev.EventID] = ev
	}
	for _, rr := range rep.Rules {
		for i := range rr.Samples {
			s := &rr.Samples[i]
			for _, id := range s.Finding.EventIDs {
				if ev, ok := byID[id]; ok {
					s.Events = append(s.Events, ev)
				}
			}
		}
	}
	return nil
}
