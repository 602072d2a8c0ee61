package syslog

import (
	"context"
	"strconv"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// Batch bounds and publish retry backoff.
const (
	defaultMaxBatch   = 500
	defaultBatchDelay = 100 * time.Millisecond
	minBackoff        = 100 * time.Millisecond
	maxBackoff        = 5 * time.Second
)

// frame is one message as received, or one the framing refused (err).
type frame struct {
	peer string
	rec  []byte
	err  *frameError
}

// process decodes the frames of one connection (or of the UDP socket)
// until frames is closed, publishing events in batches. A batch that
// cannot be stored is retried until it is, or ctx ends; meanwhile no
// frame is taken, which pushes back on a TCP sender.
func (l *Listener) process(ctx context.Context, frames <-chan frame) {
	maxBatch, delay := l.MaxBatch, l.BatchDelay
	if maxBatch <= 0 {
		maxBatch = defaultMaxBatch
	}
	if delay <= 0 {
		delay = defaultBatchDelay
	}
	dec := Decoder{Now: l.now, Location: l.Config.location()}
	st := &stopping{ctx: ctx}
	defer st.close()
	var evs []event.Event
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var due <-chan time.Time
	flush := func() {
		if len(evs) > 0 {
			ok := l.retry(st, "publish events", len(evs), func(ctx context.Context) error {
				return l.Sink.PublishEvents(ctx, Source, evs)
			})
			if ok && l.Metrics != nil {
				l.Metrics.Accepted(Source, len(evs))
			}
		}
		evs = nil // the Sink may keep the slice
		timer.Stop()
		due = nil
	}
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				flush()
				return
			}
			if f.err != nil {
				l.reject(st, f.err.reason, f.rec, f.err.err)
				continue
			}
			var ev event.Event
			if err := dec.decode(f.rec, f.peer, &ev); err != nil {
				l.reject(st, ReasonBadRecord, f.rec, err)
				continue
			}
			ev.EventID += "-" + strconv.FormatUint(l.seq.Add(1), 10)
			ev.IngestedAt = l.now().UTC()
			evs = append(evs, ev)
			if len(evs) >= maxBatch {
				flush()
			} else if due == nil {
				timer.Reset(delay)
				due = timer.C
			}
		case <-due:
			flush()
		}
	}
}

// stopping gives the context of the last attempts once the run's context
// has ended: one deadline, shutdownFlushFor after the first, for all of a
// connection's remaining messages.
type stopping struct {
	ctx    context.Context
	final  context.Context
	cancel context.CancelFunc
}

func (s *stopping) last() context.Context {
	if s.final == nil {
		s.final, s.cancel = context.WithTimeout(context.WithoutCancel(s.ctx), shutdownFlushFor)
	}
	return s.final
}

func (s *stopping) close() {
	if s.cancel != nil {
		s.cancel()
	}
}

// reject dead-letters one message.
func (l *Listener) reject(st *stopping, reason string, rec []byte, err error) {
	l.logger().Debug("syslog message rejected", "reason", reason, "err", err)
	ok := l.retry(st, "dead-letter a message", 1, func(ctx context.Context) error {
		return l.Sink.Reject(ctx, Source, reason, rec, err)
	})
	if ok && l.Metrics != nil {
		l.Metrics.RejectedRecord(Source, reason)
	}
}

// retry calls do until it succeeds, backing off between attempts, and
// reports whether it did. Once the run's context has ended it makes one
// last attempt within the shutdown deadline, then gives up on the n
// messages (logged, counted publish_failed).
func (l *Listener) retry(st *stopping, what string, n int, do func(context.Context) error) bool {
	ctx := st.ctx
	backoff := minBackoff
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			last := st.last()
			err := last.Err()
			if err == nil {
				err = do(last)
			}
			if err != nil {
				l.logger().Error("syslog: messages lost at shutdown: "+what+" failed", "messages", n, "err", err)
				for range n {
					l.count(ReasonPublishFailed)
				}
				return false
			}
			return true
		}
		err := do(ctx)
		if err == nil {
			return true
		}
		l.retryWarn.warn(l.logger(), "syslog: "+what+" failed; retrying", "messages", n, "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
