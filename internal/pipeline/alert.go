package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/event"
)

// Notifier delivers one finding to people (Slack, the log).
type Notifier interface {
	Notify(ctx context.Context, f event.Finding) error
}

// Alert posts every finding at most once.
//
// Before posting, a worker claims the alert id in the sent log (a JetStream
// key-value bucket) with an atomic create; after Slack answers it marks the
// id sent, then acknowledges the message. So a finding delivered twice, to
// two workers at once or again after a restart, is posted once. The price
// is one case: if the process dies after claiming and before recording the
// answer, Tripline cannot know whether Slack got the message. It then logs
// an error naming the alert and does not post it again (the alert is still
// stored and listed by `tripline alerts`), preferring a missed notification
// to a duplicate. A post that fails is released and retried.
//
// An update of a finding (event.Finding.Update: a dedup rule's later
// count) is not posted: the finding it updates was, and the store keeps
// the count.
type Alert struct {
	Bus      *bus.Bus
	Notifier Notifier
	// Workers is how many alerts are posted at once.
	Workers int
	// RetryDelay is how long a finding whose post failed waits before it
	// is tried again.
	RetryDelay time.Duration
	Log        *slog.Logger

	inflight sync.Map // alert ids this process is posting
}

// Sent-log values.
const (
	claimSending     = "sending"
	claimSent        = "sent"
	claimUnconfirmed = "unconfirmed"
)

// staleClaim is how old a claim of another process must be before it is
// taken as abandoned by a crash.
const staleClaim = time.Minute

// Run consumes FINDINGS until ctx ends.
func (a *Alert) Run(ctx context.Context) error {
	sent, err := a.Bus.JS.KeyValue(ctx, bus.SentBucket)
	if err != nil {
		return err
	}
	c := consumer{Consumer: bus.AlertConsumer, pull: 256}
	return c.run(ctx, a.Bus.JS, a.Workers, func(m jetstream.Msg) {
		f, err := event.UnmarshalFinding(m.Data())
		if err != nil {
			giveUp(ctx, a.Bus, a.Log, "alert", m, err)
			return
		}
		if f.Update {
			_ = m.Ack()
			return
		}
		a.handle(ctx, sent, m, f)
	})
}

func (a *Alert) handle(ctx context.Context, sent jetstream.KeyValue, m jetstream.Msg, f event.Finding) {
	id := f.AlertID
	rev, err := sent.Create(ctx, id, []byte(claimSending))
	if errors.Is(err, jetstream.ErrKeyExists) {
		a.claimed(ctx, sent, m, f)
		return
	}
	if err != nil {
		a.Log.Error("claiming alert in the sent log, will retry", "alert_id", id, "err", err)
		_ = m.NakWithDelay(a.RetryDelay)
		return
	}
	a.inflight.Store(id, true)
	defer a.inflight.Delete(id)
	stop := keepAlive(m) // retries may outlast AckWait
	err = a.Notifier.Notify(ctx, f)
	stop()
	// Record the outcome even when ctx ended during the post (shutdown):
	// a claim left behind would make the alert look abandoned.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err != nil {
		a.Log.Error("alert not delivered, will retry", "alert_id", id, "rule_id", f.RuleID, "err", err)
		if derr := sent.Delete(rctx, id, jetstream.LastRevision(rev)); derr != nil {
			a.Log.Error("releasing the claim of an undelivered alert", "alert_id", id, "err", derr)
		}
		_ = m.NakWithDelay(a.RetryDelay)
		return
	}
	if _, err := sent.Update(rctx, id, []byte(claimSent), rev); err != nil {
		a.Log.Error("recording sent alert", "alert_id", id, "err", err)
	}
	_ = m.Ack()
}

// claimed handles a finding whose id is already in the sent log.
func (a *Alert) claimed(ctx context.Context, sent jetstream.KeyValue, m jetstream.Msg, f event.Finding) {
	e, err := sent.Get(ctx, f.AlertID)
	if err != nil {
		_ = m.NakWithDelay(a.RetryDelay)
		return
	}
	state := string(e.Value())
	_, ours := a.inflight.Load(f.AlertID)
	switch {
	case state != claimSending:
		_ = m.Ack() // sent, or already reported as unconfirmed
	case ours || time.Since(e.Created()) < staleClaim:
		_ = m.NakWithDelay(bus.AckWait) // being posted right now
	default:
		a.Log.Error("alert may not have reached the notifier: Tripline stopped while posting it; not posting again to avoid a duplicate",
			"alert_id", f.AlertID, "rule_id", f.RuleID, "summary", f.Summary, "claimed_at", e.Created())
		_, _ = sent.Update(ctx, f.AlertID, []byte(claimUnconfirmed), e.Revision())
		_ = m.Ack()
	}
}
