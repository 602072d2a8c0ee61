package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/internal/event"
)

// Batch limits: a message carries at most this many events or raw bytes,
// so the per-message cost of JetStream is paid once per batch.
const (
	batchMaxEvents = 500
	batchMaxBytes  = 512 << 10
)

// PublishEvents stores evs in the EVENTS stream under tl.events.<source>
// and returns once JetStream has acknowledged every message. Events are cut
// into batches deterministically, so a retried request publishes the same
// message ids and JetStream drops the repeats.
func (b *Bus) PublishEvents(ctx context.Context, source string, evs []event.Event) error {
	var futures []jetstream.PubAckFuture
	for len(evs) > 0 {
		n, size := 0, 0
		for n < len(evs) && n < batchMaxEvents && (n == 0 || size+len(evs[n].Raw) <= batchMaxBytes) {
			size += len(evs[n].Raw)
			n++
		}
		chunk := evs[:n]
		evs = evs[n:]
		data, err := event.MarshalBatch(chunk)
		if err != nil {
			return err
		}
		f, err := b.publishAsync(EventsSubject+source, event.BatchID(chunk), data)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	return waitAcks(ctx, futures)
}

// PublishFindings stores findings in the FINDINGS stream, one message per
// finding with its MsgID as the message id (the alert id; for an update,
// the alert id and count), and waits for the acks.
func (b *Bus) PublishFindings(ctx context.Context, fs []event.Finding) error {
	futures := make([]jetstream.PubAckFuture, 0, len(fs))
	for i := range fs {
		data, err := event.MarshalFinding(&fs[i])
		if err != nil {
			return err
		}
		f, err := b.publishAsync(FindingsSubject+fs[i].Severity, fs[i].MsgID(), data)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	return waitAcks(ctx, futures)
}

func (b *Bus) publishAsync(subject, id string, data []byte) (jetstream.PubAckFuture, error) {
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	f, err := b.JS.PublishMsgAsync(msg)
	if err != nil {
		return nil, fmt.Errorf("publish to %s: %w", subject, err)
	}
	return f, nil
}

func waitAcks(ctx context.Context, futures []jetstream.PubAckFuture) error {
	var errs []error
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("publish to %s: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			return fmt.Errorf("waiting for jetstream acks: %w", context.Cause(ctx))
		}
	}
	return errors.Join(errs...)
}
