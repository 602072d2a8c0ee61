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

// consumer is a durable pull consumer whose messages are handed to
// workers through a channel.
type consumer struct {
	stream, durable string
	ackWait         time.Duration
	maxAckPending   int
}

// run creates or updates the durable consumer and feeds its messages to
// handle from `workers` goroutines until ctx ends.
func (c consumer) run(ctx context.Context, js jetstream.JetStream, workers int, handle func(jetstream.Msg)) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
		Durable:       c.durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.ackWait,
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
	}, jetstream.PullMaxMessages(min(c.maxAckPending, 1000)))
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

// redelivered reports whether m was delivered before, so its effect may
// already be stored.
func redelivered(m jetstream.Msg) bool {
	md, err := m.Metadata()
	return err != nil || md.NumDelivered > 1
}
