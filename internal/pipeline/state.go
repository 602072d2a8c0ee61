package pipeline

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/lease"
)

// StatefulRule is what the state stage needs of a stateful rule: its
// aggregation and what its findings say.
type StatefulRule struct {
	Spec     state.Spec
	Title    string
	Severity string
	Tags     []string
	// Version is the rule's version (detect.Rule.Version).
	Version string
	// Summary renders the rule's summary for a finding (see
	// detect.Rule.GroupSummary; ev is nil for a finding of silence); nil
	// gives the built-in "title: key (count in duration): value".
	Summary func(ev *event.Event, g detect.Group) (string, error)
}

// State runs the stateful detection partitions this worker owns (see
// docs/stateful.md): it takes partitions through leases, restores each
// from its checkpoint, applies the partition's matches in stream order,
// publishes the firings as findings and checkpoints the state before
// acknowledging the matches it includes.
type State struct {
	Bus *bus.Bus
	// Rules are the stateful rules by id.
	Rules map[string]StatefulRule
	// Lateness is how late (in event time) a match may arrive and still
	// count.
	Lateness time.Duration
	// Worker names this worker among the detect workers.
	Worker string
	// Checkpoint is how often a partition's state is saved; 0 means 1s.
	Checkpoint time.Duration
	// LeaseTTL is how long a dead worker's partitions wait; 0 means
	// bus.LeaseTTL.
	LeaseTTL time.Duration
	// Metrics counts refusals and late matches; nil counts nowhere.
	Metrics *StateMetrics
	// Seeder teaches new_term rules their history when a partition
	// starts; nil seeds nothing.
	Seeder *Seeder
	Log    *slog.Logger

	// cur is the current rule set: Rules until SetRules replaces it.
	cur atomic.Pointer[statefulSet]
}

// statefulSet is one generation of the stateful rules.
type statefulSet struct {
	rules map[string]StatefulRule
	gen   uint64
}

// SetRules replaces the stateful rules (a reload): each partition takes
// them before it applies its next match. A rule whose spec (kind,
// parameters, key expressions) did not change keeps its state; the state
// of a changed or removed rule is dropped. gen must grow with each call.
func (s *State) SetRules(rules map[string]StatefulRule, gen uint64) {
	s.cur.Store(&statefulSet{rules: rules, gen: gen})
}

// rules returns the current stateful rules.
func (s *State) rules() *statefulSet {
	if cur := s.cur.Load(); cur != nil {
		return cur
	}
	s.cur.CompareAndSwap(nil, &statefulSet{rules: s.Rules})
	return s.cur.Load()
}

// Run takes and runs partitions until ctx ends.
func (s *State) Run(ctx context.Context) error {
	leases, err := s.Bus.JS.KeyValue(ctx, bus.LeaseBucket)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return fmt.Errorf("state: %w", err)
	}
	ttl := s.LeaseTTL
	if ttl == 0 {
		ttl = bus.LeaseTTL
	}
	if s.Metrics == nil {
		s.Metrics = NewStateMetrics(nil)
	}
	m := &lease.Manager{KV: leases, Worker: s.Worker, Partitions: bus.Partitions, TTL: ttl, Log: s.Log,
		Run: func(ctx context.Context, p int) {
			if err := s.partition(ctx, p); err != nil && ctx.Err() == nil {
				s.Log.Error("state partition stopped", "partition", p, "err", err)
			}
		}}
	return m.Start(ctx)
}

func specs(rules map[string]StatefulRule) map[string]state.Spec {
	specs := make(map[string]state.Spec, len(rules))
	for id, r := range rules {
		specs[id] = r.Spec
	}
	return specs
}

func stateKey(p int) string { return "p." + strconv.Itoa(p) }

// maxFuture is how far ahead of the wall clock an event time is believed.
const maxFuture = 5 * time.Minute

// restore loads partition p's checkpoint, or starts empty when there is
// none or it was made for other rules. rev is the checkpoint's revision
// (0: none), which the next checkpoint must replace.
func (s *State) restore(ctx context.Context, kv jetstream.KeyValue, p int, rules map[string]StatefulRule) (part *state.Partition, rev uint64, err error) {
	specs := specs(rules)
	e, err := kv.Get(ctx, stateKey(p))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return nil, 0, fmt.Errorf("read checkpoint: %w", err)
	default:
		rev = e.Revision()
		part, err := state.Restore(e.Value(), specs, s.Lateness)
		if err == nil {
			return part, rev, nil
		}
		s.Log.Warn("checkpoint not restored; the partition starts empty", "partition", p, "err", err)
	}
	part, err = state.NewPartition(specs, s.Lateness)
	return part, rev, err
}

// save writes a checkpoint over the one of revision rev. It fails when
// another worker wrote in between (this worker lost the partition), so a
// worker that lost its lease cannot overwrite its successor's state.
func save(ctx context.Context, kv jetstream.KeyValue, p int, snap []byte, rev uint64) (uint64, error) {
	if rev == 0 {
		return kv.Create(ctx, stateKey(p), snap)
	}
	return kv.Update(ctx, stateKey(p), snap, rev)
}

// partition runs partition p until ctx ends.
func (s *State) partition(ctx context.Context, p int) error {
	kv, err := s.Bus.JS.KeyValue(ctx, bus.StateBucket)
	if err != nil {
		return err
	}
	set := s.rules()
	part, rev, err := s.restore(ctx, kv, p, set.rules)
	if err != nil {
		return err
	}
	seeds, rev, err := s.seed(ctx, kv, p, part, rev)
	if err != nil {
		return err
	}
	// A fresh consumer delivers what the stream still holds (the work
	// queue keeps only unacknowledged matches) in stream order: first
	// what the previous owner applied but had not checkpointed (skipped
	// by sequence, or counted again from an older checkpoint), then the
	// rest. Reusing the old consumer would deliver new matches before its
	// unacknowledged ones come back, and those would then be skipped as
	// already applied.
	cc := bus.PartitionConsumer(p)
	if err := s.Bus.JS.DeleteConsumer(ctx, bus.MatchesStream, cc.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("reset consumer: %w", err)
	}
	cons, err := s.Bus.JS.CreateConsumer(ctx, bus.MatchesStream, cc)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	every := s.Checkpoint
	if every == 0 {
		every = time.Second
	}
	metrics := s.Metrics.partition()
	defer metrics.close()
	var (
		pending []jetstream.Msg // applied, acknowledged after the next checkpoint
		// latest holds the last event of each dedup rule's key applied
		// since the last checkpoint: the event of the key's update, which
		// the next Advance returns for the matches of that round.
		latest   = map[ruleKey]event.Event{}
		findings []event.Finding
		// unsent indexes the findings not yet published by alert id, so
		// that an update of one of them is folded into it.
		unsent = map[string]int{}
		add    = func(f state.Firing, ev *event.Event) {
			fd := s.finding(set.rules, f, ev)
			if i, ok := unsent[fd.AlertID]; ok && f.Update {
				fd.Update = findings[i].Update
				findings[i] = fd
				return
			}
			unsent[fd.AlertID] = len(findings)
			findings = append(findings, fd)
		}
		saved = time.Now()
		// The event clock when matches last arrived, and the wall clock
		// then: while no match comes, event time moves on at the wall
		// clock's pace from there, so that silence (absence, a missing
		// sequence step) is noticed. Replayed history, far behind the
		// wall clock, is not made late by it.
		clock, clockWall = part.Stats().Clock, time.Now()
	)
	flush := func(now time.Time) error {
		if !clock.IsZero() {
			// Firings of silence and the dedup updates of this round.
			for _, f := range part.Advance(clock.Add(now.Sub(clockWall))) {
				add(f, eventOf(set.rules, f, latest, nil))
			}
		}
		if len(findings) > 0 {
			if err := s.Bus.PublishFindings(ctx, findings); err != nil {
				return fmt.Errorf("publish findings: %w", err)
			}
			findings = findings[:0]
			clear(unsent)
		}
		snap, err := part.Snapshot()
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if rev, err = save(ctx, kv, p, snap, rev); err != nil {
			return fmt.Errorf("checkpoint (partition taken over?): %w", err)
		}
		for _, m := range pending {
			if err := m.Ack(); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		}
		pending = pending[:0]
		clear(latest)
		saved = now
		metrics.report(part.Stats())
		return nil
	}
	// respec takes reloaded rules: what the old ones raised is published
	// and checkpointed first, then the state moves to the new rules
	// through a snapshot (a rule whose spec did not change keeps its
	// state), and new_term rules added or changed learn their history.
	respec := func(next *statefulSet) error {
		if err := flush(time.Now()); err != nil {
			return err
		}
		snap, err := part.Snapshot()
		if err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		np, err := state.Restore(snap, specs(next.rules), s.Lateness)
		if err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		part, set = np, next
		seeds, rev, err = s.seed(ctx, kv, p, part, rev)
		return err
	}
	// While matches keep coming, each round takes what is there (up to
	// 500); when none are, a round waits for the first to arrive and
	// handles it at once, rather than waiting for a full batch.
	idle := true
	for ctx.Err() == nil {
		var batch jetstream.MessageBatch
		if idle {
			batch, err = cons.Fetch(1, jetstream.FetchMaxWait(every/2))
		} else {
			batch, err = cons.FetchNoWait(500)
		}
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		got := len(pending)
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				return err
			}
			// A reload swaps the detect stage's rules first: its matches
			// of a new rule must meet the new rules here.
			if cur := s.rules(); cur.gen != set.gen {
				if err := respec(cur); err != nil {
					return err
				}
			}
			ms, err := event.UnmarshalMatches(msg.Data())
			if err != nil {
				s.Log.Error("bad matches dropped", "partition", p, "err", err)
			}
			for i := range ms {
				m := &ms[i]
				// A forged far-future time would move the clock and make
				// every later match late.
				at := m.Event.Time
				if limit := time.Now().Add(maxFuture); at.After(limit) {
					at = limit
				}
				// A match's place in the stream: its message's sequence,
				// then its index in the message.
				seq := meta.Sequence.Stream<<16 | uint64(i)
				for _, f := range part.Apply(state.Match{Rule: m.RuleID, Key: m.Key, Time: at, EventID: m.Event.EventID,
					Value: m.Value, Step: m.Step, Seq: seq}) {
					add(f, eventOf(set.rules, f, latest, &m.Event))
				}
				if set.rules[m.RuleID].Spec.Kind == state.Dedup {
					latest[ruleKey{m.RuleID, m.Key}] = m.Event
				}
			}
			pending = append(pending, msg)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.Canceled) {
			s.Log.Warn("fetch", "partition", p, "err", err)
		}
		idle = len(pending) == got
		if len(pending) > 0 {
			clock, clockWall = part.Stats().Clock, time.Now()
		}
		if cur := s.rules(); cur.gen != set.gen {
			if err := respec(cur); err != nil {
				return err
			}
		}
		seeds.poll(part) // rules whose history could not be read before
		if now := time.Now(); now.Sub(saved) >= every || len(findings) > 0 {
			if err := flush(now); err != nil {
				return err
			}
		}
	}
	return nil
}

// ruleKey is a rule and a group key.
type ruleKey struct{ rule, key string }

// eventOf returns the event that caused firing f: applied, the event
// just applied (nil when f came from Advance); for a dedup update, the
// last event of its key in this round (latest, which does not hold
// applied yet); for a firing of silence (absence, a sequence's missing
// step), none.
func eventOf(rules map[string]StatefulRule, f state.Firing, latest map[ruleKey]event.Event, applied *event.Event) *event.Event {
	switch {
	case IsSilence(f, rules[f.Rule].Spec):
		return nil
	case f.Update:
		if ev, ok := latest[ruleKey{f.Rule, f.Key}]; ok {
			return &ev
		}
		return nil
	}
	return applied
}

// finding turns a firing into the finding published for it; ev is the
// event that caused it, or nil (see eventOf). A dedup firing and its
// updates have the time of the period's first match, so that an update
// has the same place in the alerts table's sorting key as the row it
// replaces.
func (s *State) finding(rules map[string]StatefulRule, f state.Firing, ev *event.Event) event.Finding {
	fd, err := StatefulFinding(rules[f.Rule], f, ev)
	if err != nil {
		s.Log.Warn("summary of a stateful finding", "rule_id", f.Rule, "alert_id", f.ID, "err", err)
	}
	return fd
}

// IsSilence reports whether firing f, of a rule with spec, is a firing of
// silence (absence, a sequence's missing step), which no event caused.
func IsSilence(f state.Firing, spec state.Spec) bool {
	return f.Kind == state.Absence || (f.Kind == state.Sequence && spec.Absent)
}

// StatefulFinding turns firing f of rule r into its finding, as the state
// stage publishes it (see finding); err is the summary's error, the
// finding being returned all the same. tripline rules backtest uses it
// too.
func StatefulFinding(r StatefulRule, f state.Firing, ev *event.Event) (event.Finding, error) {
	g := detect.Group{Key: f.Key, Count: f.Count, FirstSeen: f.First, LastSeen: f.Last, Value: f.Value}
	var summary string
	var err error
	if r.Summary != nil {
		summary, err = r.Summary(ev, g)
	} else {
		summary = fmt.Sprintf("%s: %s (%d in %s)", r.Title, f.Key, f.Count, f.Last.Sub(f.First).Round(time.Second))
		if f.Value != "" {
			summary += ": " + f.Value
		}
	}
	e := event.Event{Time: f.Last, EventID: f.ID}
	if ev != nil {
		e = *ev
	}
	at := f.Last
	if f.Kind == state.Dedup {
		at = f.First
	}
	return event.Finding{
		AlertID: f.ID, Time: at, DetectedAt: time.Now().UTC(), RuleID: f.Rule, RuleTitle: r.Title, RuleVersion: r.Version,
		Summary: summary, Severity: r.Severity, Tags: r.Tags, EventIDs: append([]string(nil), f.EventIDs...), Event: e,
		GroupKey: f.Key, Count: f.Count, FirstSeen: f.First, LastSeen: f.Last, Update: f.Update,
	}, err
}

// statefulRules picks the rules with an aggregation.
func statefulRules(rules []*detect.Rule) map[string]StatefulRule { return StatefulRules(rules) }

// StatefulRules picks the rules with an aggregation, by id, as the state
// stage runs them.
func StatefulRules(rules []*detect.Rule) map[string]StatefulRule {
	out := map[string]StatefulRule{}
	for _, r := range rules {
		if r.Aggregation != nil {
			sr := StatefulRule{Spec: r.Aggregation.Spec, Title: r.Title, Severity: r.Severity, Tags: r.Tags, Version: r.Version}
			if r.Summary != "" {
				sr.Summary = r.GroupSummary
			}
			out[r.ID] = sr
		}
	}
	return out
}

// workerName names this process among the detect workers: the host and
// data directory, stable across restarts, so that a restarted worker
// takes its partitions back at once.
func workerName(dataDir string) string {
	host, _ := os.Hostname()
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	h := fnv.New32a()
	h.Write([]byte(abs))
	return fmt.Sprintf("%s-%08x", host, h.Sum32())
}
