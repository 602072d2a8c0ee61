package pipeline

import (
	"context"
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
	Log       *slog.Logger
}

// Run consumes both streams until ctx ends.
func (s *Store) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		b := batcher[event.Event]{
			c:      consumer{stream: bus.EventsStream, durable: "store-events", maxAckPending: 256, pull: 32},
			decode: event.UnmarshalBatch,
			write:  s.Writer.InsertEvents,
		}
		return b.run(ctx, s)
	})
	g.Go(func() error {
		b := batcher[event.Finding]{
			c: consumer{stream: bus.FindingsStream, durable: "store-alerts", maxAckPending: 20000, pull: 1000},
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
	in := make(chan jetstream.Msg, 256)
	errc := make(chan error, 1)
	go func() {
		errc <- b.c.run(ctx, s.Bus.JS, 1, func(m jetstream.Msg) {
			select {
			case in <- m:
			case <-ctx.Done():
			}
		})
	}()
	var (
		msgs  []jetstream.Msg
		items []T
	)
	tick := time.NewTicker(s.Flush)
	defer tick.Stop()
	flush := func() {
		if len(msgs) == 0 {
			return
		}
		n, err := b.write(ctx, items, true)
		if err != nil {
			s.Log.Error("store write failed, messages will be redelivered", "consumer", b.c.durable, "rows", len(items), "err", err)
			for _, m := range msgs {
				_ = m.NakWithDelay(2 * time.Second)
			}
		} else {
			for _, m := range msgs {
				_ = m.Ack()
			}
			s.Log.Debug("stored", "consumer", b.c.durable, "rows", n, "messages", len(msgs))
		}
		msgs, items = msgs[:0], items[:0]
	}
	for {
		select {
		case m := <-in:
			its, err := b.decode(m.Data())
			if err != nil {
				s.Log.Error("dropping undecodable message", "consumer", b.c.durable, "subject", m.Subject(), "err", err)
				_ = m.Term()
				continue
			}
			msgs = append(msgs, m)
			items = append(items, its...)
			if len(items) >= s.BatchSize {
				flush()
			}
		case <-tick.C:
			flush()
		case err := <-errc:
			return err
		}
	}
}
