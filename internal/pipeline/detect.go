package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/event"
)

// Matcher evaluates rules over one event; one per worker.
type Matcher interface {
	Match(ev *event.Event, out []event.Finding) ([]event.Finding, error)
	// Matches returns (and forgets) the matches of stateful rules,
	// valid until the next Match.
	Matches() []event.Match
}

// Detect evaluates every event against the rules and publishes findings.
type Detect struct {
	Bus *bus.Bus
	// NewMatcher returns a matcher of the current rules.
	NewMatcher func() Matcher
	// Generation, if set, numbers the current rules: a worker whose
	// matcher is of an older generation takes a new one before its next
	// batch (a reload).
	Generation func() uint64
	Workers    int
	Log        *slog.Logger
}

// matcherOf is a worker's matcher and the generation of its rules.
type matcherOf struct {
	Matcher
	gen uint64
}

// generation returns the current generation (0 without Generation).
func (d *Detect) generation() uint64 {
	if d.Generation == nil {
		return 0
	}
	return d.Generation()
}

// Run consumes EVENTS until ctx ends.
func (d *Detect) Run(ctx context.Context) error {
	c := consumer{Consumer: bus.DetectConsumer, pull: 8}
	matchers := make(chan matcherOf, d.Workers)
	for range d.Workers {
		matchers <- matcherOf{}
	}
	return c.run(ctx, d.Bus.JS, d.Workers, func(m jetstream.Msg) {
		mt := <-matchers
		if gen := d.generation(); mt.Matcher == nil || mt.gen != gen {
			mt = matcherOf{d.NewMatcher(), gen}
		}
		defer func() { matchers <- mt }()
		d.handle(ctx, mt, m)
	})
}

func (d *Detect) handle(ctx context.Context, mt Matcher, m jetstream.Msg) {
	evs, err := event.UnmarshalBatch(m.Data())
	if err != nil {
		giveUp(ctx, d.Bus, d.Log, "detect", m, err)
		return
	}
	var findings []event.Finding
	for i := range evs {
		findings, err = mt.Match(&evs[i], findings)
		if err != nil {
			d.Log.Warn("rule evaluation error", "event_id", evs[i].EventID, "err", err)
		}
	}
	// Matches of stateful rules go to their partitions; a batch is
	// acknowledged only once they and the findings are stored, and a
	// redelivered batch publishes the same match ids.
	if ms := mt.Matches(); len(ms) > 0 {
		if err := d.Bus.PublishMatches(ctx, ms); err != nil {
			d.failed(ctx, m, "publishing matches", err)
			return
		}
	}
	if len(findings) > 0 {
		if err := d.Bus.PublishFindings(ctx, findings); err != nil {
			d.failed(ctx, m, "publishing findings", err)
			return
		}
	}
	_ = m.Ack()
}

// failed handles a batch whose results could not be published: it is
// retried after a second, or dead-lettered on its last delivery.
func (d *Detect) failed(ctx context.Context, m jetstream.Msg, what string, err error) {
	if lastTry(m) {
		giveUp(ctx, d.Bus, d.Log, "detect", m, fmt.Errorf("%s: %w", what, err))
		return
	}
	d.Log.Error(what+", will retry", "err", err)
	_ = m.NakWithDelay(time.Second)
}
