package bus

import (
	"context"
	"fmt"
	"strconv"
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

// PublishMatches stores matches in the MATCHES stream: those of one
// partition, in their order, in one message under the partition's subject
// (more when they exceed matchesBudget bytes of records), with an id made
// of their match ids; then it waits for the acks.
func (b *Bus) PublishMatches(ctx context.Context, ms []event.Match) error {
	var parts [Partitions][]event.Match
	for i := range ms {
		p := ms[i].Partition(Partitions)
		parts[p] = append(parts[p], ms[i])
	}
	var futures []jetstream.PubAckFuture
	for p, pm := range parts {
		subject := MatchesSubject + strconv.Itoa(p)
		for len(pm) > 0 {
			n, size := 0, 0
			for n < len(pm) && n < event.MaxMatchesPerMessage && (n == 0 || size+len(pm[n].Event.Raw) <= matchesBudget) {
				size += len(pm[n].Event.Raw)
				n++
			}
			data, err := event.MarshalMatches(pm[:n])
			if err != nil {
				return err
			}
			f, err := b.publishAsync(subject, event.MatchesID(pm[:n]), data)
			if err != nil {
				return err
			}
			futures = append(futures, f)
			pm = pm[n:]
		}
	}
	return waitAcks(ctx, futures)
}

// matchesBudget bounds the record bytes of one message of matches, well
// under the server's maximum payload.
const matchesBudget = maxPayload / 4
