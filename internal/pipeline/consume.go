// Package pipeline runs Tripline's stages against the bus: detection over
// EVENTS, the ClickHouse writers over EVENTS and FINDINGS, and the alert
// notifier over FINDINGS. Every stage acknowledges a message only after its
// effect is durable.
package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ackWait is how long a delivered message may stay unacknowledged before
// JetStream delivers it again. It bounds how long messages handed to a
// process that crashed wait after its restart; slow handlers extend it
// with keepAlive.
const ackWait = 10 * time.Second

// consumer is a durable pull consumer whose messages are handed to
// workers through a channel.
type consumer struct {
	stream, durable string
	// maxAckPending bounds messages delivered but not acknowledged.
	maxAckPending int
	// pull is how many messages the client buffers ahead. Event batches
	// are large (up to half a MiB), so it must stay small enough for the
	// connection's pending-bytes limit.
	pull int
}

// run creates or updates the durable consumer and feeds its messages to
// handle from `workers` goroutines until ctx ends.
func (c consumer) run(ctx context.Context, js jetstream.JetStream, workers int, handle func(jetstream.Msg)) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
		Durable:       c.durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: c.maxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", c.durable, c.stream, err)
	}
	msgs := make(chan jetstream.Msg, workers*2)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(c.pull))
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.durable, err)
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
// ackWait, until the returned stop is called.
func keepAlive(m jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(ackWait / 2)
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
