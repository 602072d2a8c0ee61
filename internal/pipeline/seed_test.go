package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/bus/bustest"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
)

const newIPRule = `id: test-new-ip
title: Console login from a new IP
severity: medium
source: cloudtrail
when: eventName == "ConsoleLogin"
new_term: {fields: [sourceIPAddress], by: [userIdentity.arn], history: 720h}
`

func parseRule(t *testing.T, yaml string) *detect.Rule {
	t.Helper()
	rs, errs := detect.Parse("rule.yaml", []byte(yaml))
	if len(errs) > 0 || len(rs) != 1 {
		t.Fatalf("parse: %v", errs)
	}
	return rs[0]
}

// login is a CloudTrail console login of arn from ip at the event time
// at, ingested at ing.
func login(id, arn, ip string, at, ing time.Time) event.Event {
	return event.Event{Source: "cloudtrail", EventID: id, Time: at, IngestedAt: ing,
		Raw: fmt.Appendf(nil, `{"eventName":"ConsoleLogin","eventTime":%q,"sourceIPAddress":%q,"userIdentity":{"arn":%q},"eventID":%q}`,
			at.Format(time.RFC3339Nano), ip, arn, id)}
}

// memHistory is History over events in memory, as ClickHouse would
// select them; it counts its passes, fails the first fail of them and,
// when gate is set, waits for it to close before answering.
type memHistory struct {
	evs  []event.Event
	fail int
	gate chan struct{}

	mu    sync.Mutex
	calls int
}

func (h *memHistory) ScanHistory(ctx context.Context, q store.HistoryQuery, fn func(event.Event) error) error {
	h.mu.Lock()
	h.calls++
	failing := h.calls <= h.fail
	h.mu.Unlock()
	if h.gate != nil {
		select {
		case <-h.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if failing {
		return errors.New("clickhouse: connection refused")
	}
	var sel []event.Event
	for _, e := range h.evs {
		if slices.Contains(q.Sources, e.Source) && !e.Time.Before(q.Since) && e.IngestedAt.Before(q.IngestedBefore) {
			sel = append(sel, e)
		}
	}
	// The newest Limit, handed over oldest first: order must not matter.
	slices.SortFunc(sel, func(a, b event.Event) int { return b.Time.Compare(a.Time) })
	if q.Limit > 0 && len(sel) > q.Limit {
		sel = sel[:q.Limit]
	}
	slices.Reverse(sel)
	for _, e := range sel {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (h *memHistory) passes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// partitions are the 64 partitions of rule r, fed as the state stage
// does: live runs an event through the rule and applies its match to
// its partition, returning the terms that fired.
type partitions struct {
	t     *testing.T
	r     *detect.Rule
	m     *detect.Matcher
	parts []*state.Partition
}

func newPartitions(t *testing.T, r *detect.Rule) *partitions {
	eng, err := detect.NewEngine([]*detect.Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	ps := &partitions{t: t, r: r, m: eng.NewMatcher()}
	for range bus.Partitions {
		p, err := state.NewPartition(map[string]state.Spec{r.ID: r.Aggregation.Spec}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ps.parts = append(ps.parts, p)
	}
	return ps
}

func (ps *partitions) live(ev event.Event) []string {
	ps.t.Helper()
	if _, err := ps.m.Match(&ev, nil); err != nil {
		ps.t.Fatal(err)
	}
	var fired []string
	for _, m := range ps.m.Matches() {
		part := ps.parts[m.Partition(bus.Partitions)]
		for _, f := range part.Apply(state.Match{Rule: m.RuleID, Key: m.Key, Time: ev.Time, EventID: ev.EventID, Value: m.Value}) {
			fired = append(fired, f.Value)
		}
	}
	return fired
}

// startAll starts every partition at once, as a worker owning them all
// does, and returns how many rules each seeded and left pending.
func (ps *partitions) startAll(sd *Seeder) (seeded, pending []int) {
	ps.t.Helper()
	seeded, pending = make([]int, len(ps.parts)), make([]int, len(ps.parts))
	var wg sync.WaitGroup
	for i, part := range ps.parts {
		wg.Go(func() {
			left, n, err := sd.start(ps.t.Context(), i, part)
			if err != nil {
				ps.t.Error(err)
			}
			seeded[i] = n
			if left != nil {
				pending[i] = len(left.pending)
			}
		})
	}
	wg.Wait()
	return seeded, pending
}

func sum(ns []int) int {
	s := 0
	for _, n := range ns {
		s += n
	}
	return s
}

// TestSeederLearnsHistory: one pass serves every partition; a term seen
// in the rule's history before the cutoff does not fire, one seen before
// the history, only after the cutoff, or never, fires once; the seed is
// marked so that a partition started again does not seed again.
func TestSeederLearnsHistory(t *testing.T) {
	r := parseRule(t, newIPRule)
	until := time.Now().UTC().Truncate(time.Second)
	const alice, bob = "arn:aws:iam::1:user/alice", "arn:aws:iam::1:user/bob"
	before := until.Add(-time.Minute)
	h := &memHistory{evs: []event.Event{
		login("h1", alice, "198.51.100.1", until.Add(-48*time.Hour), before),
		login("h2", alice, "198.51.100.2", until.Add(-time.Hour), before),
		login("h3", alice, "198.51.100.2", until.Add(-2*time.Hour), before),
		login("h4", bob, "198.51.100.3", until.Add(-2*time.Hour), before),
		login("old", alice, "198.51.100.9", until.Add(-800*time.Hour), before),                   // before the history
		login("live", alice, "198.51.100.4", until.Add(-time.Second), until),                     // a live match
		login("fut", alice, "198.51.100.7", until.Add(24*time.Hour), before),                     // a forged time: seen now
		{Source: "k8s-audit", EventID: "k", Time: before, IngestedAt: before, Raw: []byte(`{}`)}, // another source
	}}
	notLogin := login("h5", alice, "198.51.100.5", until.Add(-time.Hour), before)
	notLogin.Raw = []byte(strings.Replace(string(notLogin.Raw), "ConsoleLogin", "GetUser", 1))
	h.evs = append(h.evs, notLogin)

	sd := NewSeeder(t.Context(), SeedConfig{History: h, Rules: []*detect.Rule{r}, Until: until, Lateness: time.Minute,
		MaxEvents: 1000, Timeout: 10 * time.Second, Log: discard})
	ps := newPartitions(t, r)
	seeded, pending := ps.startAll(sd)
	if h.passes() != 1 {
		t.Errorf("%d passes over the history, want 1", h.passes())
	}
	if sum(seeded) != bus.Partitions || sum(pending) != 0 {
		t.Errorf("%d partitions seeded, %d rules pending", sum(seeded), sum(pending))
	}
	want := ruleVersion(r)
	for i, part := range ps.parts {
		if v, ok := part.Seeded(r.ID); !ok || v != want {
			t.Fatalf("partition %d: seeded %d, %v", i, v, ok)
		}
	}

	now := until.Add(time.Minute)
	for _, c := range []struct {
		arn, ip string
		fires   bool
	}{
		{alice, "198.51.100.1", false},
		{alice, "198.51.100.2", false},
		{bob, "198.51.100.3", false},
		{alice, "198.51.100.7", false},
		{bob, "198.51.100.1", true},   // alice's term, not bob's
		{alice, "198.51.100.9", true}, // seen before the history only
		{alice, "198.51.100.4", true}, // seen after the cutoff: its match comes live
		{alice, "198.51.100.5", true}, // seen, but not by the rule
		{alice, "198.51.100.6", true}, // never seen
		{alice, "198.51.100.6", false},
	} {
		got := ps.live(login("e", c.arn, c.ip, now, now))
		if fired := len(got) == 1; fired != c.fires || len(got) > 1 {
			t.Errorf("%s from %s: fired %v, want %v", c.arn, c.ip, got, c.fires)
		}
	}

	// Started again (a restart with the checkpoint), a partition does
	// not seed again.
	left, n, err := sd.start(t.Context(), 0, ps.parts[0])
	if left != nil || n != 0 || err != nil || h.passes() != 1 {
		t.Errorf("second start: %v, %d, %v; %d passes", left, n, err, h.passes())
	}
}

// TestSeederRetry: when the history cannot be read the partitions go on
// unseeded, and seed from a pass retried later.
func TestSeederRetry(t *testing.T) {
	r := parseRule(t, newIPRule)
	until := time.Now().UTC()
	const alice = "arn:aws:iam::1:user/alice"
	h := &memHistory{fail: 1, evs: []event.Event{login("h1", alice, "198.51.100.1", until.Add(-time.Hour), until.Add(-time.Hour))}}
	sd := NewSeeder(t.Context(), SeedConfig{History: h, Rules: []*detect.Rule{r}, Until: until, MaxEvents: 1000,
		Timeout: 10 * time.Second, Retry: 50 * time.Millisecond, Log: discard})
	ps := newPartitions(t, r)
	seeded, pending := ps.startAll(sd)
	if sum(seeded) != 0 || sum(pending) != bus.Partitions {
		t.Fatalf("%d seeded, %d pending after a failed pass", sum(seeded), sum(pending))
	}
	if _, ok := ps.parts[0].Seeded(r.ID); ok {
		t.Fatal("marked seeded after a failed pass")
	}
	p := event.PartitionOf(r.ID, alice, bus.Partitions)
	left, _, _ := sd.start(t.Context(), p, ps.parts[p])
	deadline := time.Now().Add(10 * time.Second)
	for len(left.pending) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("not seeded by a retried pass")
		}
		time.Sleep(10 * time.Millisecond)
		left.poll(ps.parts[p])
	}
	if got := ps.live(login("e", alice, "198.51.100.1", until, until)); len(got) != 0 {
		t.Errorf("a term of the history fired after the retry: %v", got)
	}
	if h.passes() != 2 {
		t.Errorf("%d passes, want 2", h.passes())
	}
}

// TestSeederBound: with more events than MaxEvents, the newest are
// learned.
func TestSeederBound(t *testing.T) {
	r := parseRule(t, newIPRule)
	until := time.Now().UTC()
	const alice = "arn:aws:iam::1:user/alice"
	h := &memHistory{}
	for i := range 4 {
		at := until.Add(time.Duration(i-4) * time.Hour)
		h.evs = append(h.evs, login(fmt.Sprint("h", i), alice, fmt.Sprint("198.51.100.", i), at, at))
	}
	sd := NewSeeder(t.Context(), SeedConfig{History: h, Rules: []*detect.Rule{r}, Until: until, MaxEvents: 2,
		Timeout: 10 * time.Second, Log: discard})
	ps := newPartitions(t, r)
	ps.startAll(sd)
	var fired []string
	for i := range 4 {
		fired = append(fired, ps.live(login("e", alice, fmt.Sprint("198.51.100.", i), until, until))...)
	}
	if strings.Join(fired, " ") != "198.51.100.0 198.51.100.1" {
		t.Errorf("fired %v, want the two oldest terms", fired)
	}
	if NewSeeder(t.Context(), SeedConfig{History: h, Rules: []*detect.Rule{r}}) != nil {
		t.Error("a seeder with MaxEvents 0")
	}
}

// TestSeederRuleChange: a partition seeded for another version of the
// rule (its term expression changed) seeds again.
func TestSeederRuleChange(t *testing.T) {
	r := parseRule(t, newIPRule)
	changed := parseRule(t, strings.Replace(newIPRule, "fields: [sourceIPAddress]", "fields: [sourceIPAddress, userAgent]", 1))
	if ruleVersion(r) == ruleVersion(changed) {
		t.Fatal("the versions of different term fields are equal")
	}
	h := &memHistory{}
	sd := NewSeeder(t.Context(), SeedConfig{History: h, Rules: []*detect.Rule{changed}, Until: time.Now(), MaxEvents: 10, Log: discard})
	part, _ := state.NewPartition(map[string]state.Spec{r.ID: r.Aggregation.Spec}, time.Minute)
	if err := part.MarkSeeded(r.ID, ruleVersion(r)); err != nil {
		t.Fatal(err)
	}
	if _, n, err := sd.start(t.Context(), 0, part); n != 1 || err != nil {
		t.Fatalf("seeded %d, %v", n, err)
	}
	if v, _ := part.Seeded(r.ID); v != ruleVersion(changed) {
		t.Error("the mark has the old version")
	}
}

// TestHistoryCutoff: with no detect consumer or nothing waiting for it,
// the cutoff is now; with events waiting, the ingest time of the oldest.
func TestHistoryCutoff(t *testing.T) {
	b := bustest.Open(t)
	ctx := t.Context()
	now := time.Now()
	if got := historyCutoff(ctx, b, now, discard); !got.Equal(now) {
		t.Errorf("nothing waiting: %v, want now", got)
	}
	ing := now.Add(-time.Hour).UTC()
	for i := range 3 {
		ev := login(fmt.Sprint("e", i), "a", "ip", ing, ing.Add(time.Duration(i)*time.Second))
		if err := b.PublishEvents(ctx, "cloudtrail", []event.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	// The detect consumer takes the first and acknowledges it.
	cons, err := b.JS.Consumer(ctx, bus.EventsStream, bus.DetectConsumer.Durable)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := historyCutoff(ctx, b, now, discard); !got.Equal(ing.Add(time.Second)) {
		t.Errorf("two events waiting: %v, want %v", got, ing.Add(time.Second))
	}
}

// TestStateSeedsBeforeMatches runs the state stage on the bus with a
// history: matches published while the pass runs wait for it; a term of
// the history does not fire, a new one does, once; the seed mark is in
// the checkpoint, so a restarted stage does not read the history again.
func TestStateSeedsBeforeMatches(t *testing.T) {
	b := bustest.Open(t)
	r := parseRule(t, newIPRule)
	rules := statefulRules([]*detect.Rule{r})
	until := time.Now().UTC().Truncate(time.Second)
	const alice = "arn:aws:iam::1:user/alice"
	gate := make(chan struct{})
	h := &memHistory{gate: gate, evs: []event.Event{login("h1", alice, "198.51.100.1", until.Add(-time.Hour), until.Add(-time.Hour))}}
	run := func(h History) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		s := &State{Bus: b, Rules: rules, Lateness: time.Minute, Worker: "w", Checkpoint: 50 * time.Millisecond,
			LeaseTTL: 600 * time.Millisecond, Log: discard,
			Seeder: NewSeeder(ctx, SeedConfig{History: h, Rules: []*detect.Rule{r}, Until: until, MaxEvents: 100,
				Timeout: 10 * time.Second, Log: discard})}
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	eng, _ := detect.NewEngine([]*detect.Rule{r})
	m := eng.NewMatcher()
	publish := func(id, ip string) {
		ev := login(id, alice, ip, until.Add(time.Second), until.Add(time.Second))
		if _, err := m.Match(&ev, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.PublishMatches(t.Context(), m.Matches()); err != nil {
			t.Fatal(err)
		}
	}
	stop := run(h)
	defer func() { stop() }()
	publish("known", "198.51.100.1")
	publish("new", "198.51.100.2")
	publish("new-again", "198.51.100.2")
	time.Sleep(300 * time.Millisecond)
	if n := streamMsgs(t, b, bus.FindingsStream); n != 0 {
		t.Fatalf("%d findings before the history was read", n)
	}
	close(gate)
	waitFor(t, "the new term's finding", func() bool { return streamMsgs(t, b, bus.FindingsStream) >= 1 })
	waitFor(t, "every match applied", func() bool { return streamMsgs(t, b, bus.MatchesStream) == 0 })
	time.Sleep(200 * time.Millisecond)
	if n := streamMsgs(t, b, bus.FindingsStream); n != 1 {
		t.Fatalf("%d findings, want 1 (the new term, once)", n)
	}

	p := event.PartitionOf(r.ID, alice, bus.Partitions)
	kv, err := b.JS.KeyValue(t.Context(), bus.StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), stateKey(p))
	if err != nil {
		t.Fatal(err)
	}
	part, err := state.Restore(e.Value(), map[string]state.Spec{r.ID: r.Aggregation.Spec}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := part.Seeded(r.ID); !ok {
		t.Fatal("the checkpoint has no seed mark")
	}

	stop()
	again := &memHistory{}
	stop = run(again)
	publish("known-after-restart", "198.51.100.1")
	waitFor(t, "the match applied after the restart", func() bool { return streamMsgs(t, b, bus.MatchesStream) == 0 })
	waitFor(t, "every partition checkpointed", func() bool { return checkpoints(t, kv) == bus.Partitions })
	if again.passes() != 0 {
		t.Errorf("the restarted stage read the history %d times", again.passes())
	}
	if n := streamMsgs(t, b, bus.FindingsStream); n != 1 {
		t.Errorf("%d findings after the restart, want 1", n)
	}
}

func checkpoints(t *testing.T, kv jetstream.KeyValue) int {
	keys, err := kv.Keys(t.Context())
	if err != nil {
		return 0
	}
	return len(keys)
}

// TestLazyHistoryNotConnected: without a ClickHouse connection the read
// fails after the wait, and the pass with it.
func TestLazyHistoryNotConnected(t *testing.T) {
	ch := &lazyStore{log: discard}
	start := time.Now()
	if _, err := ch.connected(t.Context(), 50*time.Millisecond); !errors.Is(err, errNotConnected) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("waited %v", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := lazyHistory{ch}.ScanHistory(ctx, store.HistoryQuery{}, func(event.Event) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestSeederTwoRules: each new_term rule has its own pass, and a
// partition seeds both.
func TestSeederTwoRules(t *testing.T) {
	r1 := parseRule(t, newIPRule)
	r2 := parseRule(t, strings.Replace(newIPRule, "id: test-new-ip", "id: test-new-agent", 1))
	h := &memHistory{}
	sd := NewSeeder(t.Context(), SeedConfig{History: h, Rules: []*detect.Rule{r1, r2}, Until: time.Now(), MaxEvents: 10, Log: discard})
	part, _ := state.NewPartition(map[string]state.Spec{r1.ID: r1.Aggregation.Spec, r2.ID: r2.Aggregation.Spec}, time.Minute)
	if left, n, err := sd.start(t.Context(), 0, part); left != nil || n != 2 || err != nil {
		t.Fatalf("start: %v, %d, %v", left, n, err)
	}
	if h.passes() != 2 {
		t.Errorf("%d passes, want 2", h.passes())
	}
}
