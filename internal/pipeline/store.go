package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/event"
)

// Writer stores events and findings; checkExisting asks it to skip rows
// already stored.
type Writer interface {
	InsertEvents(ctx context.Context, evs []event.Event, checkExisting bool) (int, error)
	InsertAlerts(ctx context.Context, fs []event.Finding, checkExisting bool) (int, error)
}

// Store writes EVENTS and FINDINGS to ClickHouse in batches and
// acknowledges each message only after its batch is committed.
type Store struct {
	Bus       *bus.Bus
	Writer    Writer
	BatchSize int
	Flush     time.Duration
	// RetryDelay is how long a message whose insert failed waits before
	// it is delivered again (2s when zero).
	RetryDelay time.Duration
	Log        *slog.Logger
}

// Run consumes both streams until ctx ends.
func (s *Store) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		b := batcher[event.Event]{
			c:      consumer{Consumer: bus.StoreEventsConsumer, pull: 32},
			decode: event.UnmarshalBatch,
			write:  s.Writer.InsertEvents,
		}
		return b.run(ctx, s)
	})
	g.Go(func() error {
		b := batcher[event.Finding]{
			c: consumer{Consumer: bus.StoreAlertsConsumer, pull: 1000},
			decode: func(b []byte) ([]event.Finding, error) {
				f, err := event.UnmarshalFinding(b)
				return []event.Finding{f}, err
			},
			write: s.Writer.InsertAlerts,
		}
		return b.run(ctx, s)
	})
	return g.Wait()
}

// batcher collects messages until BatchSize items or Flush elapses, writes
// them in one insert and then acks them.
//
// The writer is always asked to skip rows already stored: a message can
// come back after its rows were committed, either redelivered (the ack was
// lost in a crash, and a consumer's delivery count may be lost with it) or
// published again after the bus's duplicate window. The check costs a
// lookup of the batch's ids, far less than the insert.
type batcher[T any] struct {
	c      consumer
	decode func([]byte) ([]T, error)
	write  func(ctx context.Context, items []T, checkExisting bool) (int, error)
}

func (b *batcher[T]) run(ctx context.Context, s *Store) error {
	in := make(chan jetstream.Msg, b.c.pull)
	errc := make(chan error, 1)
	go func() {
		errc <- b.c.run(ctx, s.Bus.JS, 1, func(m jetstream.Msg) {
			select {
			case in <- m:
			case <-ctx.Done():
			}
		})
	}()
	var p pending[T]
	tick := time.NewTicker(s.Flush)
	defer tick.Stop()
	for {
		select {
		case m := <-in:
			its, err := b.decode(m.Data())
			if err != nil {
				giveUp(ctx, s.Bus, s.Log, b.c.Durable, m, err)
				continue
			}
			p.add(m, its)
			if len(p.items) >= s.BatchSize {
				b.flush(ctx, s, &p)
			}
		case <-tick.C:
			b.flush(ctx, s, &p)
		case err := <-errc:
			return err
		}
	}
}

// pending is what a batcher holds until its next flush: the messages and
// their items, items[ends[i-1]:ends[i]] belonging to msgs[i].
type pending[T any] struct {
	msgs  []jetstream.Msg
	items []T
	ends  []int
}

func (p *pending[T]) add(m jetstream.Msg, its []T) {
	p.msgs = append(p.msgs, m)
	p.items = append(p.items, its...)
	p.ends = append(p.ends, len(p.items))
}

func (p *pending[T]) reset() {
	p.msgs, p.items, p.ends = p.msgs[:0], p.items[:0], p.ends[:0]
}

// flush writes everything pending in one insert and acks it. If the insert
// fails, each message is written on its own, so one bad message (a row the
// server rejects) cannot hold back the others: it is retried later and
// dead-lettered on its last delivery.
func (b *batcher[T]) flush(ctx context.Context, s *Store, p *pending[T]) {
	defer p.reset()
	if len(p.msgs) == 0 {
		return
	}
	// A slow insert must not let AckWait expire on the messages it
	// holds: they would be delivered again (here or to another store
	// process) and inserted again before this insert commits. So they
	// are marked in progress until the write returns, not just once.
	stop := keepInProgress(p.msgs)
	n, err := b.write(ctx, p.items, true)
	stop()
	if err == nil {
		for _, m := range p.msgs {
			_ = m.Ack()
		}
		s.Log.Debug("stored", "consumer", b.c.Durable, "rows", n, "messages", len(p.msgs))
		return
	}
	s.Log.Warn("batch insert failed, writing its messages one by one", "consumer", b.c.Durable, "rows", len(p.items), "err", err)
	start := 0
	for i, m := range p.msgs {
		its := p.items[start:p.ends[i]]
		start = p.ends[i]
		if _, err := b.write(ctx, its, true); err != nil {
			if ctx.Err() == nil && lastTry(m) {
				giveUp(ctx, s.Bus, s.Log, b.c.Durable, m, fmt.Errorf("insert: %w", err))
				continue
			}
			s.Log.Error("store write failed, message will be redelivered", "consumer", b.c.Durable, "rows", len(its), "err", err)
			_ = m.NakWithDelay(cmp.Or(s.RetryDelay, 2*time.Second))
			continue
		}
		_ = m.Ack()
	}
}

// keepInProgress tells JetStream now, and then every third of AckWait
// until stop is called, that msgs are still being worked on.
func keepInProgress(msgs []jetstream.Msg) (stop func()) {
	touch := func() {
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
	touch()
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(bus.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				touch()
			}
		}
	}()
	return func() { close(done); <-ended }
}
