package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
)

// History reads the stored events that new_term rules learn from;
// *store.Store is one.
type History interface {
	ScanHistory(ctx context.Context, q store.HistoryQuery, fn func(event.Event) error) error
}

// SeedConfig configures a Seeder.
type SeedConfig struct {
	// History is where the stored events are read.
	History History
	// Rules are the loaded rules; the new_term ones are seeded.
	Rules []*detect.Rule
	// Until splits history from live matches: the events ingested
	// before it are history, the others reach the partitions as matches
	// (see historyCutoff).
	Until time.Time
	// Lateness is the state stage's allowed lateness: history reaches
	// that much further back than a rule's own.
	Lateness time.Duration
	// MaxEvents bounds the events one pass reads, the newest; 0 turns
	// seeding off.
	MaxEvents int
	// Timeout bounds one pass, waiting for ClickHouse included.
	Timeout time.Duration
	// Retry is how long after a failed pass the next may start; 0 means
	// a minute.
	Retry time.Duration
	// Metrics counts passes, events and terms; nil counts nowhere.
	Metrics *SeedMetrics
	Log     *slog.Logger
}

// Seeder teaches new_term rules the terms that were already normal
// before the rule was loaded, so that a new rule does not fire for each
// of them (see docs/stateful.md). It makes one pass over the stored
// history per rule and process, shared by the partitions that need it:
// the rule alone, evaluated on the events of its sources within its
// history that were ingested before Until, gives the (key, term, time) of
// each match, sorted out by partition. A partition seeds a rule once: the
// mark (with a version of the rule's definition) is kept in its
// checkpoint. A pass that fails (ClickHouse down) leaves the partitions
// unseeded; they run on and take the result of a later pass, retried
// every Retry.
type Seeder struct {
	cfg SeedConfig
	ctx context.Context // passes end with it

	mu     sync.Mutex
	rules  map[string]seedRule
	passes map[string]*seedPass // by rule id
	// running admits seedParallel passes at once.
	running chan struct{}
}

type seedRule struct {
	rule    *detect.Rule
	version uint64
	// until splits the rule's history from its live matches: Until for
	// the rules loaded at start, the reload's cutoff for a rule a
	// reload added or changed.
	until time.Time
}

// seedPass is one pass over the history of one rule. Its results are
// set before done is closed and not changed after.
type seedPass struct {
	done    chan struct{}
	err     error
	ended   time.Time
	terms   [][]SeedTerm // by partition, newest first
	events  int
	matches int
	learned int
}

const (
	// seedKeep is how long a pass's result serves partitions that start
	// later (another worker's partitions coming over); a partition
	// after that makes a new pass.
	seedKeep = 10 * time.Minute
	// seedConnectWait is how long a pass waits for the process's
	// ClickHouse connection.
	seedConnectWait = 10 * time.Second
	// seedParallel is how many passes (rules) read ClickHouse at once.
	seedParallel = 2
)

// NewSeeder returns the seeder of the new_term rules among cfg.Rules
// (SetRules changes them), or nil when cfg.MaxEvents is 0 or there is no
// history. Its passes run until ctx ends.
func NewSeeder(ctx context.Context, cfg SeedConfig) *Seeder {
	if cfg.MaxEvents <= 0 || cfg.History == nil {
		return nil
	}
	if cfg.Until.IsZero() {
		cfg.Until = time.Now()
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewSeedMetrics(nil)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	sd := &Seeder{cfg: cfg, ctx: ctx, rules: map[string]seedRule{}, passes: map[string]*seedPass{},
		running: make(chan struct{}, seedParallel)}
	sd.SetRules(cfg.Rules, cfg.Until)
	return sd
}

// SetRules makes the new_term rules among rules those to seed (a reload).
// A rule added or changed learns the history ingested before until; an
// unchanged rule keeps its cutoff and the result of its last pass.
func (sd *Seeder) SetRules(rules []*detect.Rule, until time.Time) {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	next := map[string]seedRule{}
	for _, r := range rules {
		if r.Aggregation == nil || r.Aggregation.Spec.Kind != state.NewTerm {
			continue
		}
		sr := seedRule{rule: r, version: ruleVersion(r), until: until}
		if old, ok := sd.rules[r.ID]; ok && old.version == sr.version {
			sr.until = old.until
		} else {
			delete(sd.passes, r.ID)
		}
		next[r.ID] = sr
	}
	sd.rules = next
}

// rule returns the seeded rule id.
func (sd *Seeder) rule(id string) seedRule {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	return sd.rules[id]
}

// ruleVersion hashes what decides a new_term rule's terms: its sources,
// condition, term and key expressions and the names of the lists and
// macros they use. A rule whose version changed is seeded again (its
// history window is in the state's own fingerprint).
func ruleVersion(r *detect.Rule) uint64 {
	h := fnv.New64a()
	for _, part := range [][]string{{r.ID, r.When}, r.Sources, r.Exceptions, r.Aggregation.Field, r.Aggregation.By, r.Uses} {
		for _, s := range part {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	return h.Sum64()
}

// pass returns the current pass of rule id, starting one when there is
// none, the last failed more than Retry ago, or its result is older than
// seedKeep.
func (sd *Seeder) pass(id string) *seedPass {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	if ps := sd.passes[id]; ps != nil {
		select {
		case <-ps.done:
			keep := seedKeep
			if ps.err != nil {
				keep = sd.cfg.Retry
			}
			if time.Since(ps.ended) < keep {
				return ps
			}
		default:
			return ps // running
		}
	}
	ps := &seedPass{done: make(chan struct{})}
	sd.passes[id] = ps
	go sd.run(id, ps)
	return ps
}

// run makes pass ps of rule id, logs and counts it.
func (sd *Seeder) run(id string, ps *seedPass) {
	defer close(ps.done)
	start := time.Now()
	ctx, cancel := context.WithTimeout(sd.ctx, sd.cfg.Timeout)
	defer cancel()
	select {
	case sd.running <- struct{}{}:
		ps.err = sd.collect(ctx, id, ps)
		<-sd.running
	case <-ctx.Done():
		ps.err = ctx.Err()
	}
	ps.ended = time.Now()
	took := ps.ended.Sub(start).Round(time.Millisecond)
	m := sd.cfg.Metrics
	if ps.err != nil {
		ps.terms = nil
		m.passes.WithLabelValues(id, "failed").Inc()
		if sd.ctx.Err() == nil {
			sd.cfg.Log.Warn("new_term rule not learned from history; its partitions go on unseeded and it is retried",
				"rule", id, "err", ps.err, "took", took, "retry_in", sd.cfg.Retry)
		}
		return
	}
	m.passes.WithLabelValues(id, "ok").Inc()
	m.events.WithLabelValues(id).Add(float64(ps.events))
	m.terms.WithLabelValues(id).Add(float64(ps.learned))
	args := []any{"rule", id, "events", ps.events, "matches", ps.matches, "terms", ps.learned, "took", took}
	if ps.events >= sd.cfg.MaxEvents {
		sd.cfg.Log.Warn("new_term rule learned from the newest history only (detect.seed_max_events)", args...)
	} else {
		sd.cfg.Log.Info("new_term rule learned from history", args...)
	}
	// Free the result once it has served its time.
	time.AfterFunc(seedKeep, func() {
		sd.mu.Lock()
		defer sd.mu.Unlock()
		if sd.passes[id] == ps {
			delete(sd.passes, id)
		}
	})
}

// errSeedBound stops a history that gives more events than asked for.
var errSeedBound = errors.New("history: more events than the limit")

// collect reads the history of rule id and fills ps's terms and counts.
func (sd *Seeder) collect(ctx context.Context, id string, ps *seedPass) error {
	r := sd.rule(id)
	h, err := LearnHistory(ctx, sd.cfg.History, r.rule, store.HistoryQuery{
		Sources:        r.rule.Sources,
		Since:          r.until.Add(-r.rule.Aggregation.Spec.Window - sd.cfg.Lateness),
		IngestedBefore: r.until,
		Limit:          sd.cfg.MaxEvents,
	}, r.until.Add(maxFuture))
	ps.terms, ps.events, ps.matches, ps.learned = h.Terms, h.Events, h.Matches, h.Learned
	return err
}

// Learned is what a new_term rule learned from its stored history.
type Learned struct {
	// Terms are, by partition, the terms of each key with their last
	// time, newest first (ties in key and term order).
	Terms [][]SeedTerm
	// Events, Matches and Learned count the events read, those the rule
	// matched and the terms learned.
	Events, Matches, Learned int
}

// SeedTerm is a term of one key, last seen At.
type SeedTerm struct {
	Key, Term string
	At        time.Time
}

// LearnHistory reads the events of q (at most q.Limit) through new_term
// rule r alone and returns the terms it would have seen, sorted out by
// the partition that keeps them, each with its last time (no later than
// future, as the state stage clamps times). The live seeding and
// backtests share it, so both learn the same terms.
func LearnHistory(ctx context.Context, h History, r *detect.Rule, q store.HistoryQuery, future time.Time) (Learned, error) {
	var out Learned
	eng, err := detect.NewEngine([]*detect.Rule{r})
	if err != nil {
		return out, err
	}
	m := eng.NewMatcher()
	type keyTerm struct{ key, term string }
	parts := make([]map[keyTerm]time.Time, bus.Partitions)
	err = h.ScanHistory(ctx, q, func(ev event.Event) error {
		if out.Events++; q.Limit > 0 && out.Events > q.Limit {
			out.Events--
			return errSeedBound
		}
		// A rule error leaves the event out, as it does live.
		_, _ = m.Match(&ev, nil)
		for _, mt := range m.Matches() {
			if mt.RuleID != r.ID {
				continue
			}
			out.Matches++
			at := ev.Time
			if at.After(future) {
				at = future
			}
			p := mt.Partition(bus.Partitions)
			if parts[p] == nil {
				parts[p] = map[keyTerm]time.Time{}
			}
			kt := keyTerm{mt.Key, mt.Value}
			if last, ok := parts[p][kt]; !ok || at.After(last) {
				parts[p][kt] = at
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSeedBound) {
		return Learned{}, err
	}
	// Newest first, so that a rule's max_keys keeps the most recent
	// terms; ties in key and term order, so the seeding is the same
	// whatever order the rows came in.
	out.Terms = make([][]SeedTerm, bus.Partitions)
	for p, terms := range parts {
		for kt, at := range terms {
			out.Terms[p] = append(out.Terms[p], SeedTerm{kt.key, kt.term, at})
		}
		slices.SortFunc(out.Terms[p], func(a, b SeedTerm) int {
			return cmp.Or(b.At.Compare(a.At), strings.Compare(a.Key, b.Key), strings.Compare(a.Term, b.Term))
		})
		out.Learned += len(out.Terms[p])
	}
	return out, nil
}

// partSeeds is what one partition still has to learn from history: its
// new_term rules not seeded yet.
type partSeeds struct {
	sd      *Seeder
	p       int
	pending []string // rule ids
}

// marked returns the rules part holds learned history of, with the
// version it learned for.
func (sd *Seeder) marked(part *state.Partition) map[string]uint64 {
	out := map[string]uint64{}
	for id := range part.Stats().Rules {
		if v, ok := part.Seeded(id); ok {
			out[id] = v
		}
	}
	return out
}

// count counts the partition among those that learned each rule marked
// in part but not in before.
func (sd *Seeder) count(part *state.Partition, before map[string]uint64) {
	for id, v := range sd.marked(part) {
		if was, ok := before[id]; !ok || was != v {
			sd.cfg.Metrics.partitions.WithLabelValues(id).Inc()
		}
	}
}

// seed runs when partition p starts, before it consumes any match
// (matches wait in the stream meanwhile): it seeds part (Seeder.start)
// and checkpoints it when it seeded a rule, so that a restart does not
// do it again. It returns the rules left to retry and the checkpoint's
// revision.
func (s *State) seed(ctx context.Context, kv jetstream.KeyValue, p int, part *state.Partition, rev uint64) (*partSeeds, uint64, error) {
	if s.Seeder == nil {
		return nil, rev, nil
	}
	before := s.Seeder.marked(part)
	ps, n, err := s.Seeder.start(ctx, p, part)
	if err != nil || n == 0 {
		return ps, rev, err
	}
	snap, err := part.Snapshot()
	if err != nil {
		return nil, rev, fmt.Errorf("checkpoint after seeding: %w", err)
	}
	if rev, err = save(ctx, kv, p, snap, rev); err != nil {
		return nil, rev, fmt.Errorf("checkpoint after seeding (partition taken over?): %w", err)
	}
	s.Seeder.count(part, before) // now that the checkpoint holds them
	return ps, rev, nil
}

// start seeds the new_term rules of partition p whose state part has not
// learned from history yet (or learned for another version of the rule),
// waiting for their passes. It returns the rules left to retry (their
// pass failed), nil when none, and how many it seeded.
func (sd *Seeder) start(ctx context.Context, p int, part *state.Partition) (*partSeeds, int, error) {
	ps := &partSeeds{sd: sd, p: p}
	known := part.Stats().Rules
	sd.mu.Lock()
	rules := maps.Clone(sd.rules)
	sd.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(rules)) {
		if _, ok := known[id]; !ok {
			continue
		}
		if v, ok := part.Seeded(id); !ok || v != rules[id].version {
			ps.pending = append(ps.pending, id)
		}
	}
	passes := make([]*seedPass, len(ps.pending))
	for i, id := range ps.pending {
		passes[i] = sd.pass(id) // all started before waiting for one
	}
	for _, pass := range passes {
		select {
		case <-pass.done:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	n := ps.apply(part)
	if len(ps.pending) == 0 {
		return nil, n, nil
	}
	return ps, n, nil
}

// poll seeds, without waiting, the pending rules whose retried pass has
// ended well; the next checkpoint keeps them. A pass that failed is
// started again once Retry has passed.
func (ps *partSeeds) poll(part *state.Partition) {
	if ps == nil || len(ps.pending) == 0 {
		return
	}
	before := ps.sd.marked(part)
	ps.apply(part)
	ps.sd.count(part, before) // the next round's checkpoint holds them
}

// apply seeds part with the pending rules whose current pass has ended
// well and marks them seeded; it returns how many it seeded.
func (ps *partSeeds) apply(part *state.Partition) int {
	n := 0
	ps.pending = slices.DeleteFunc(ps.pending, func(id string) bool {
		pass := ps.sd.pass(id)
		select {
		case <-pass.done:
		default:
			return false
		}
		if pass.err != nil {
			return false
		}
		var errs []error
		for _, t := range pass.terms[ps.p] {
			if err := part.Seed(id, t.Key, t.Term, t.At); err != nil {
				errs = append(errs, err) // that term only
			}
		}
		if err := part.MarkSeeded(id, ps.sd.rule(id).version); err != nil {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			ps.sd.cfg.Log.Error("seeding a partition", "partition", ps.p, "rule", id, "errors", len(errs), "first", errs[0])
		}
		n++
		return true
	})
	return n
}

// SeedMetrics count the passes over history of new_term rules.
type SeedMetrics struct {
	passes     *prometheus.CounterVec
	events     *prometheus.CounterVec
	terms      *prometheus.CounterVec
	partitions *prometheus.CounterVec
}

// NewSeedMetrics registers the seeding metrics with reg (nil registers
// nowhere).
func NewSeedMetrics(reg prometheus.Registerer) *SeedMetrics {
	m := &SeedMetrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripline_detect_seed_passes_total",
			Help: "Passes over the stored history of a new_term rule, by rule and result (ok, failed).",
		}, []string{"rule", "result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripline_detect_seed_events_total",
			Help: "Stored events read to seed a new_term rule, by rule.",
		}, []string{"rule"}),
		terms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripline_detect_seed_terms_total",
			Help: "Terms (per group key) a new_term rule learned from stored history, by rule.",
		}, []string{"rule"}),
		partitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripline_detect_seed_partitions_total",
			Help: "State partitions whose checkpoint holds what a new_term rule learned from history, by rule.",
		}, []string{"rule"}),
	}
	if reg != nil {
		reg.MustRegister(m.passes, m.events, m.terms, m.partitions)
	}
	return m
}

// historyCutoff returns the time that splits the history new_term rules
// learn from and the matches of the rules loaded now: the ingest time of
// the oldest event the detect stage has not acknowledged (the rules now
// loaded will match it), or now when none waits. Called before this
// process's detect stage starts; when it cannot tell, now.
func historyCutoff(ctx context.Context, b *bus.Bus, now time.Time, log *slog.Logger) time.Time {
	cons, err := b.JS.Consumer(ctx, bus.EventsStream, bus.DetectConsumer.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return now // no detect stage ran yet
	}
	var info *jetstream.ConsumerInfo
	if err == nil {
		info, err = cons.Info(ctx)
	}
	if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
		return now
	}
	var msg *jetstream.RawStreamMsg
	if err == nil {
		var stream jetstream.Stream
		if stream, err = b.JS.Stream(ctx, bus.EventsStream); err == nil {
			msg, err = stream.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(bus.EventsSubject+">"))
		}
	}
	var evs []event.Event
	if err == nil {
		evs, err = event.UnmarshalBatch(msg.Data)
	}
	if err != nil {
		log.Warn("history cutoff: the oldest event waiting for detection not found; events ingested until now count as history", "err", err)
		return now
	}
	cut := now
	for _, e := range evs {
		if !e.IngestedAt.IsZero() && e.IngestedAt.Before(cut) {
			cut = e.IngestedAt
		}
	}
	return cut
}

// lazyHistory reads history through the process's ClickHouse connection,
// waiting a while for it to be made.
type lazyHistory struct{ ch *lazyStore }

func (h lazyHistory) ScanHistory(ctx context.Context, q store.HistoryQuery, fn func(event.Event) error) error {
	s, err := h.ch.connected(ctx, seedConnectWait)
	if err != nil {
		return err
	}
	return s.ScanHistory(ctx, q, fn)
}

// connected returns the store once the background connection is made,
// waiting up to wait for it.
func (l *lazyStore) connected(ctx context.Context, wait time.Duration) (*store.Store, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		l.mu.Lock()
		s := l.s
		l.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("%w after %v", errNotConnected, wait)
		case <-tick.C:
		}
	}
}
