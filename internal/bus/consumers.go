package bus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/internal/event"
)

// AckWait is how long a delivered message may stay unacknowledged before
// JetStream delivers it again. It bounds how long messages handed to a
// process that crashed wait after its restart; slow handlers extend it
// with InProgress.
const AckWait = 10 * time.Second

// Consumer is one of the pipeline's durable consumers.
type Consumer struct {
	Stream, Durable string
	// MaxAckPending bounds messages delivered but not acknowledged.
	MaxAckPending int
}

// The pipeline's consumers: every message of EVENTS goes to detect and
// store-events, every message of FINDINGS to alert and store-alerts.
var (
	DetectConsumer      = Consumer{EventsStream, "detect", 64}
	StoreEventsConsumer = Consumer{EventsStream, "store-events", 256}
	AlertConsumer       = Consumer{FindingsStream, "alert", 1000}
	StoreAlertsConsumer = Consumer{FindingsStream, "store-alerts", 20000}
	Consumers           = []Consumer{DetectConsumer, StoreEventsConsumer, AlertConsumer, StoreAlertsConsumer}
)

// Config is the consumer's JetStream configuration.
func (c Consumer) Config() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       c.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       AckWait,
		MaxAckPending: c.MaxAckPending,
		MaxDeliver:    -1, // stages dead-letter what they cannot handle
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// Reason headers of dead-lettered messages.
const (
	ReasonHeader  = "Tripline-Reason"
	SubjectHeader = "Tripline-Subject"
)

// DeadLetter stores a copy of m under tl.deadletter.<stage> with the reason,
// so a message a stage gives up on is kept for inspection and replay rather
// than dropped. The caller then terminates m.
func (b *Bus) DeadLetter(ctx context.Context, stage string, m jetstream.Msg, reason error) error {
	msg := &nats.Msg{Subject: DeadLetterSubject + stage, Data: m.Data(), Header: nats.Header{}}
	msg.Header.Set(ReasonHeader, reason.Error())
	msg.Header.Set(SubjectHeader, m.Subject())
	if _, err := b.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("dead-letter to %s: %w", msg.Subject, err)
	}
	return nil
}

// Headers of records rejected at ingest.
const (
	SourceHeader    = "Tripline-Source"
	TruncatedHeader = "Tripline-Truncated"
)

// maxRejectBytes caps the copy of a rejected record kept: enough to see
// what is wrong, below the bus's message size limit; maxReasonBytes caps
// the reason, which may quote the record.
const (
	maxRejectBytes = 256 << 10
	maxReasonBytes = 1 << 10
)

// Reject stores a record that could not be ingested under
// tl.deadletter.ingest.<source>, with the reason (a metric label such as
// "bad_record") and the error in the Tripline-Reason header. A record over
// 256 KiB is cut, with its full size in the Tripline-Truncated header. A
// retried request rejects the same record under the same message id, so it
// is kept once.
func (b *Bus) Reject(ctx context.Context, source, reason string, rec []byte, cause error) error {
	msg := &nats.Msg{Subject: DeadLetterSubject + "ingest." + source, Data: rec, Header: nats.Header{}}
	why := reason + ": " + cause.Error()
	if len(why) > maxReasonBytes {
		why = why[:maxReasonBytes] + "…"
	}
	msg.Header.Set(ReasonHeader, why)
	msg.Header.Set(SourceHeader, source)
	msg.Header.Set(nats.MsgIdHdr, event.ContentID(source+"\x00reject", rec))
	if len(rec) > maxRejectBytes {
		msg.Data = rec[:maxRejectBytes]
		msg.Header.Set(TruncatedHeader, strconv.Itoa(len(rec)))
	}
	if _, err := b.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("dead-letter to %s: %w", msg.Subject, err)
	}
	return nil
}
