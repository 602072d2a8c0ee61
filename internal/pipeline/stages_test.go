package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/bus/bustest"
	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/store/storetest"
)

// rejecting is the real store, except that inserts holding the poisoned id
// fail, as a server rejecting a row would.
type rejecting struct {
	*store.Store
	poison string
}

func (r rejecting) InsertEvents(ctx context.Context, evs []event.Event, check bool) (int, error) {
	if slices.ContainsFunc(evs, func(e event.Event) bool { return e.EventID == r.poison }) {
		return 0, errors.New("Code: 252, Too many partitions for single INSERT block")
	}
	return r.Store.InsertEvents(ctx, evs, check)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func streamMsgs(t *testing.T, b *bus.Bus, name string) uint64 {
	t.Helper()
	s, err := b.JS.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestBadMessageIsDeadLettered: a batch the store cannot insert does not
// hold back the others; after its last try it lands in DEADLETTER with the
// reason, and processed messages leave the EVENTS stream.
func TestBadMessageIsDeadLettered(t *testing.T) {
	b := bustest.Open(t)
	st, err := store.Open(t.Context(), storetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	s := &Store{Bus: b, Writer: rejecting{st, "poison"}, BatchSize: 1000, Flush: 20 * time.Millisecond, RetryDelay: 20 * time.Millisecond, Log: log}
	go func() { done <- s.Run(ctx) }()
	eng := NewRules(config.Rules{Builtin: true}, log).Engine()
	d := &Detect{Bus: b, Workers: 1, Log: log, NewMatcher: func() Matcher { return eng.NewMatcher() }}
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}()

	now := time.Now().UTC()
	mk := func(ids ...string) []event.Event {
		var evs []event.Event
		for _, id := range ids {
			evs = append(evs, event.Event{Time: now, IngestedAt: now, Source: "json", EventID: id, Raw: []byte(`{"msg":"x"}`)})
		}
		return evs
	}
	for _, batch := range [][]event.Event{mk("good-1", "good-2"), mk("poison", "bystander"), mk("good-3")} {
		if err := b.PublishEvents(t.Context(), "json", batch); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the good events stored", func() bool {
		n, _, err := st.CountEvents(t.Context())
		return err == nil && n == 3
	})
	waitFor(t, "the bad batch dead-lettered", func() bool { return streamMsgs(t, b, bus.DeadLetterStream) == 1 })
	dl, err := b.JS.Stream(t.Context(), bus.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dl.GetLastMsgForSubject(t.Context(), bus.DeadLetterSubject+bus.StoreEventsConsumer.Durable)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Header.Get(bus.ReasonHeader); r == "" || m.Header.Get(bus.SubjectHeader) != bus.EventsSubject+"json" {
		t.Fatalf("dead letter headers: %v", m.Header)
	}
	if evs, err := event.UnmarshalBatch(m.Data); err != nil || len(evs) != 2 || evs[0].EventID != "poison" {
		t.Fatalf("dead letter holds %v, %v", evs, err)
	}
	waitFor(t, "EVENTS emptied once both consumers acked or gave up", func() bool { return streamMsgs(t, b, bus.EventsStream) == 0 })
}

func TestUnknownRoleIsRejected(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	err := Run(t.Context(), cfg, Options{Roles: []string{"ingest", "ingset"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), `"ingset"`) {
		t.Fatalf("got %v", err)
	}
}

// slowWriter counts the events each store stage writes; the first write
// of the slow one takes longer than AckWait.
type slowWriter struct {
	slow    chan struct{} // closed when the slow write starts; nil: not slow
	written chan<- int
}

func (w *slowWriter) InsertEvents(ctx context.Context, evs []event.Event, _ bool) (int, error) {
	if w.slow != nil {
		close(w.slow)
		w.slow = nil
		select {
		case <-time.After(bus.AckWait + 3*time.Second):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	w.written <- len(evs)
	return len(evs), nil
}

func (w *slowWriter) InsertAlerts(context.Context, []event.Finding, bool) (int, error) { return 0, nil }

// TestSlowInsertKeepsItsMessages: a store stage whose insert takes longer
// than AckWait keeps its messages (marked in progress while it writes),
// so a second store stage does not get them and write them again.
func TestSlowInsertKeepsItsMessages(t *testing.T) {
	b := bustest.Open(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	written := make(chan int, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	run := func(w *slowWriter) {
		s := &Store{Bus: b, Writer: w, BatchSize: 1000, Flush: 20 * time.Millisecond, Log: log}
		go func() { done <- s.Run(ctx) }()
	}
	started := make(chan struct{})
	run(&slowWriter{slow: started, written: written})
	now := time.Now().UTC()
	if err := b.PublishEvents(t.Context(), "json", []event.Event{{Time: now, IngestedAt: now, Source: "json", EventID: "slow-1", Raw: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	<-started // the slow stage holds the batch
	run(&slowWriter{written: written})
	if n := <-written; n != 1 {
		t.Fatalf("wrote %d events, want 1", n)
	}
	select {
	case n := <-written:
		t.Fatalf("the batch was written again (%d events): its messages were delivered again during the slow insert", n)
	case <-time.After(bus.AckWait):
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}
}
