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
	Log     *slog.Logger
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

func (s *State) specs() map[string]state.Spec {
	specs := make(map[string]state.Spec, len(s.Rules))
	for id, r := range s.Rules {
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
func (s *State) restore(ctx context.Context, kv jetstream.KeyValue, p int) (part *state.Partition, rev uint64, err error) {
	specs := s.specs()
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
	part, rev, err := s.restore(ctx, kv, p)
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
		pending  []jetstream.Msg // applied, acknowledged after the next checkpoint
		events   = map[string]event.Event{}
		findings []event.Finding
		saved    = time.Now()
		// The event clock when matches last arrived, and the wall clock
		// then: while no match comes, event time moves on at the wall
		// clock's pace from there, so that silence (absence, a missing
		// sequence step) is noticed. Replayed history, far behind the
		// wall clock, is not made late by it.
		clock, clockWall = part.Stats().Clock, time.Now()
	)
	flush := func(now time.Time) error {
		if !clock.IsZero() {
			for _, f := range part.Advance(clock.Add(now.Sub(clockWall))) {
				findings = append(findings, s.finding(f, events))
			}
		}
		if len(findings) > 0 {
			if err := s.Bus.PublishFindings(ctx, findings); err != nil {
				return fmt.Errorf("publish findings: %w", err)
			}
			findings = findings[:0]
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
		clear(events)
		saved = now
		metrics.report(part.Stats())
		return nil
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(every/2))
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				return err
			}
			m, err := event.UnmarshalMatch(msg.Data())
			if err != nil {
				s.Log.Error("bad match dropped", "partition", p, "err", err)
				pending = append(pending, msg)
				continue
			}
			// A forged far-future time would move the clock and make
			// every later match late.
			at := m.Event.Time
			if limit := time.Now().Add(maxFuture); at.After(limit) {
				at = limit
			}
			for _, f := range part.Apply(state.Match{Rule: m.RuleID, Key: m.Key, Time: at, EventID: m.Event.EventID,
				Value: m.Value, Step: m.Step, Seq: meta.Sequence.Stream}) {
				events[f.ID] = m.Event
				findings = append(findings, s.finding(f, events))
			}
			pending = append(pending, msg)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.Canceled) {
			s.Log.Warn("fetch", "partition", p, "err", err)
		}
		if len(pending) > 0 {
			clock, clockWall = part.Stats().Clock, time.Now()
		}
		if now := time.Now(); now.Sub(saved) >= every || len(findings) > 0 {
			if err := flush(now); err != nil {
				return err
			}
		}
	}
	return nil
}

// finding turns a firing into the finding published for it. events holds
// the event that caused firings applied in this round, by firing id; a
// firing of silence (absence, a sequence's missing step) has none.
func (s *State) finding(f state.Firing, events map[string]event.Event) event.Finding {
	r := s.Rules[f.Rule]
	ev, ok := events[f.ID]
	if !ok {
		ev = event.Event{Time: f.Last, EventID: f.ID}
	}
	summary := fmt.Sprintf("%s: %s (%d in %s)", r.Title, f.Key, f.Count, f.Last.Sub(f.First).Round(time.Second))
	if f.Value != "" {
		summary += ": " + f.Value
	}
	return event.Finding{
		AlertID: f.ID, Time: f.Last, DetectedAt: time.Now().UTC(), RuleID: f.Rule, RuleTitle: r.Title,
		Summary: summary, Severity: r.Severity, Tags: r.Tags, EventIDs: append([]string(nil), f.EventIDs...), Event: ev,
		GroupKey: f.Key, Count: f.Count, FirstSeen: f.First, LastSeen: f.Last,
	}
}

// statefulRules picks the rules with an aggregation.
func statefulRules(rules []*detect.Rule) map[string]StatefulRule {
	out := map[string]StatefulRule{}
	for _, r := range rules {
		if r.Aggregation != nil {
			out[r.ID] = StatefulRule{Spec: r.Aggregation.Spec, Title: r.Title, Severity: r.Severity, Tags: r.Tags}
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
