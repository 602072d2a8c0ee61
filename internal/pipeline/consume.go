// Package pipeline runs Tripline's stages against the bus: detection over
// EVENTS, the ClickHouse writers over EVENTS and FINDINGS, and the alert
// notifier over FINDINGS. Every stage acknowledges a message only after its
// effect is durable.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/internal/bus"
)

// maxDeliveries is how often a stage tries a message whose handling keeps
// failing (an insert ClickHouse rejects, findings too large to publish)
// before it dead-letters it, so one bad message cannot stall a stage.
const maxDeliveries = 5

// consumer feeds the messages of one of the pipeline's durable consumers
// to workers through a channel.
type consumer struct {
	bus.Consumer
	// pull is how many messages the client buffers ahead. Event batches
	// are large (up to half a MiB), so it must stay small enough for the
	// connection's pending-bytes limit.
	pull int
}

// run feeds the durable consumer's messages (bus.Open created it) to
// handle from `workers` goroutines until ctx ends.
func (c consumer) run(ctx context.Context, js jetstream.JetStream, workers int, handle func(jetstream.Msg)) error {
	cons, err := js.Consumer(ctx, c.Stream, c.Durable)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: not a failure
		}
		return fmt.Errorf("consumer %s on %s: %w", c.Durable, c.Stream, err)
	}
	msgs := make(chan jetstream.Msg, workers*2)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(c.pull))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("consume %s: %w", c.Durable, err)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case m := <-msgs:
					handle(m)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	<-ctx.Done()
	cc.Stop()
	wg.Wait()
	return nil
}

// keepAlive tells JetStream that m is still being worked on, every half
// AckWait, until the returned stop is called.
func keepAlive(m jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(bus.AckWait / 2)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = m.InProgress()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

// lastTry reports whether m has been delivered maxDeliveries times.
func lastTry(m jetstream.Msg) bool {
	md, err := m.Metadata()
	return err == nil && md.NumDelivered >= maxDeliveries
}

// giveUp dead-letters m with the reason and terminates it; if even the
// dead-letter publish fails, m is left for redelivery.
func giveUp(ctx context.Context, b *bus.Bus, log *slog.Logger, stage string, m jetstream.Msg, reason error) {
	if err := b.DeadLetter(ctx, stage, m, reason); err != nil {
		log.Error("dead-letter failed, message will be redelivered", "stage", stage, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	log.Error("message dead-lettered", "stage", stage, "subject", m.Subject(), "reason", reason,
		"stream", bus.DeadLetterStream)
	_ = m.Term()
}
