package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/event"
)

// Notifier delivers one finding to people (Slack, the log).
type Notifier interface {
	Notify(ctx context.Context, f event.Finding) error
}

// Alert posts every finding once. A finding whose alert id is in the sent
// log is acknowledged without posting, so a redelivery after a crash does
// not post twice; a failed post is retried later without blocking others.
type Alert struct {
	Bus      *bus.Bus
	Notifier Notifier
	// Workers is how many alerts are posted at once.
	Workers int
	// RetryDelay is how long a finding whose post failed waits before it
	// is tried again.
	RetryDelay time.Duration
	Log        *slog.Logger
}

// Run consumes FINDINGS until ctx ends.
func (a *Alert) Run(ctx context.Context) error {
	sent, err := a.Bus.JS.KeyValue(ctx, bus.SentBucket)
	if err != nil {
		return err
	}
	c := consumer{stream: bus.FindingsStream, durable: "alert", maxAckPending: 1000, pull: 256}
	return c.run(ctx, a.Bus.JS, a.Workers, func(m jetstream.Msg) {
		f, err := event.UnmarshalFinding(m.Data())
		if err != nil {
			a.Log.Error("dropping undecodable finding", "err", err)
			_ = m.Term()
			return
		}
		if _, err := sent.Get(ctx, f.AlertID); err == nil {
			_ = m.Ack()
			return
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			a.Log.Error("reading sent log, will retry", "alert_id", f.AlertID, "err", err)
			_ = m.NakWithDelay(a.RetryDelay)
			return
		}
		stop := keepAlive(m) // retries may outlast ackWait
		err = a.Notifier.Notify(ctx, f)
		stop()
		if err != nil {
			a.Log.Error("alert not delivered, will retry", "alert_id", f.AlertID, "rule_id", f.RuleID, "err", err)
			_ = m.NakWithDelay(a.RetryDelay)
			return
		}
		if _, err := sent.Put(ctx, f.AlertID, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
			a.Log.Error("recording sent alert", "alert_id", f.AlertID, "err", err)
		}
		_ = m.Ack()
	})
}
