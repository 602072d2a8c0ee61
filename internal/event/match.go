package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
)

// Match is an event that passed a stateful rule's condition, on its way to
// the partition that keeps the rule's state for the event's group key.
type Match struct {
	// RuleID is the stateful rule's id.
	RuleID string `json:"rule_id"`
	// Key is the group key: the rule's `by` values, joined.
	Key string `json:"key"`
	// Value is what a distinct rule counts, or a new_term rule's term.
	Value string `json:"value,omitempty"`
	// Step is the sequence step the event satisfied (0-based).
	Step int `json:"step,omitempty"`
	// Event is the matching event, for the finding's summary and context.
	Event Event `json:"event"`
}

// MatchID is stable for a rule, an event and a step, so that a
// redelivered event batch publishes the same match ids and JetStream
// drops the repeats.
func (m *Match) MatchID() string {
	return AlertID(m.RuleID, m.Event.EventID, strconv.Itoa(m.Step))
}

// Partition is the partition, out of n, that keeps the state of the
// match's rule and group key: every match of one key goes to one place.
func (m *Match) Partition(n int) int {
	return PartitionOf(m.RuleID, m.Key, n)
}

// PartitionOf hashes a rule and a group key to one of n partitions.
func PartitionOf(ruleID, key string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(ruleID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(n))
}

// MarshalMatch encodes a match for the bus: the rule, key, value and
// step, then the event in the batch encoding (MarshalBatch), so the
// record is not encoded as JSON again per match.
func MarshalMatch(m *Match) ([]byte, error) {
	evs, err := MarshalBatch([]Event{m.Event})
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(m.RuleID)+len(m.Key)+len(m.Value)+16+len(evs))
	for _, s := range []string{m.RuleID, m.Key, m.Value} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, int64(m.Step))
	return append(b, evs...), nil
}

// UnmarshalMatch decodes a match from the bus; its event's Raw shares b.
func UnmarshalMatch(b []byte) (Match, error) {
	var m Match
	for _, s := range []*string{&m.RuleID, &m.Key, &m.Value} {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return m, errors.New("match: truncated")
		}
		*s, b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	step, k := binary.Varint(b)
	if k <= 0 || step < 0 || step > 1<<20 {
		return m, errors.New("match: bad step")
	}
	m.Step = int(step)
	evs, err := UnmarshalBatch(b[k:])
	if err != nil {
		return m, fmt.Errorf("match: %w", err)
	}
	if len(evs) != 1 {
		return m, fmt.Errorf("match: %d events, want 1", len(evs))
	}
	m.Event = evs[0]
	return m, nil
}
