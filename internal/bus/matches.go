package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/internal/event"
)

// Stateful detection: matches of stateful rules go to one of Partitions
// subjects by rule and group key; the state of each partition is
// checkpointed in StateBucket, and LeaseBucket says which worker owns it.
const (
	MatchesStream  = "MATCHES"
	MatchesSubject = "tl.matches."
	Partitions     = 64
	StateBucket    = "tripline_state"
	LeaseBucket    = "tripline_partitions"
	// LeaseTTL is how long a dead worker's partitions wait before others
	// take them over.
	LeaseTTL = 10 * time.Second
)

// PartitionConsumer is the durable consumer of partition p's matches.
func PartitionConsumer(p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       fmt.Sprintf("state-%02d", p),
		FilterSubject: fmt.Sprintf("%s%d", MatchesSubject, p),
		AckPolicy:     jetstream.AckExplicitPolicy, // what a work queue needs
		AckWait:       AckWait,
		MaxAckPending: 20000,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// PublishMatches stores matches in the MATCHES stream, each under its
// partition's subject with its match id as the message id, and waits for
// the acks.
func (b *Bus) PublishMatches(ctx context.Context, ms []event.Match) error {
	futures := make([]jetstream.PubAckFuture, 0, len(ms))
	for i := range ms {
		data, err := event.MarshalMatch(&ms[i])
		if err != nil {
			return err
		}
		subject := fmt.Sprintf("%s%d", MatchesSubject, ms[i].Partition(Partitions))
		f, err := b.publishAsync(subject, ms[i].MatchID(), data)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	return waitAcks(ctx, futures)
}
