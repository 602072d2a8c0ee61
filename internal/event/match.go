package event

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
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

// Matches travel to their partition in batches, one bus message per
// partition per event batch, so that a rule matching most events costs a
// few messages per batch instead of one per event:
//
//	matches = version:byte count:uvarint match* events
//	match   = rule:string key:string value:string step:varint event:uvarint
//	events  = the batch encoding (MarshalBatch) of the matches' events,
//	          each once
//
// The version byte is one no message of the earlier encoding (one match:
// rule:string key:string value:string step:varint, then its event as a
// batch) starts with: a rule id has 1 to 128 bytes, whose length is 0x01
// to 0x80 as a uvarint's first byte. UnmarshalMatches reads both, so that
// matches waiting in the stream at an upgrade are not lost.
const matchesVersion = 0xF1

// MaxMatchesPerMessage bounds the matches of one message, so that a
// match's index in its message fits in 16 bits.
const MaxMatchesPerMessage = 1<<16 - 1

// MarshalMatches encodes matches for one bus message. A match's event is
// encoded once however many of the matches share it (by event id).
func MarshalMatches(ms []Match) ([]byte, error) {
	if len(ms) > MaxMatchesPerMessage {
		return nil, fmt.Errorf("matches: %d in one message, at most %d", len(ms), MaxMatchesPerMessage)
	}
	idx := make(map[string]int, len(ms))
	var evs []Event
	n := 1 + binary.MaxVarintLen64
	for i := range ms {
		n += len(ms[i].RuleID) + len(ms[i].Key) + len(ms[i].Value) + 5*binary.MaxVarintLen32
	}
	b := make([]byte, 0, n)
	b = append(b, matchesVersion)
	b = binary.AppendUvarint(b, uint64(len(ms)))
	for i := range ms {
		m := &ms[i]
		b = appendMatchHead(b, m)
		j, ok := idx[m.Event.EventID]
		if !ok {
			j = len(evs)
			idx[m.Event.EventID] = j
			evs = append(evs, m.Event)
		}
		b = binary.AppendUvarint(b, uint64(j))
	}
	enc, err := MarshalBatch(evs)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// UnmarshalMatches decodes a message of matches; their events' Raw share
// b.
func UnmarshalMatches(b []byte) ([]Match, error) {
	if len(b) == 0 {
		return nil, errors.New("matches: empty message")
	}
	if b[0] != matchesVersion {
		m, err := unmarshalOneMatch(b)
		if err != nil {
			return nil, err
		}
		return []Match{m}, nil
	}
	b = b[1:]
	count, k := binary.Uvarint(b)
	if k <= 0 || count > MaxMatchesPerMessage || count > uint64(len(b)) {
		return nil, errors.New("matches: bad count")
	}
	b = b[k:]
	ms := make([]Match, count)
	refs := make([]uint64, count)
	for i := range ms {
		var err error
		if b, err = readMatchHead(b, &ms[i]); err != nil {
			return nil, err
		}
		if refs[i], k = binary.Uvarint(b); k <= 0 {
			return nil, errors.New("matches: truncated")
		}
		b = b[k:]
	}
	evs, err := UnmarshalBatch(b)
	if err != nil {
		return nil, fmt.Errorf("matches: %w", err)
	}
	for i, r := range refs {
		if r >= uint64(len(evs)) {
			return nil, fmt.Errorf("matches: event %d of %d", r, len(evs))
		}
		ms[i].Event = evs[r]
	}
	return ms, nil
}

// MatchesID identifies a message of matches by the ids of its matches,
// so that a redelivered event batch, making the same messages, publishes
// the same ids and JetStream drops the repeats.
func MatchesID(ms []Match) string {
	h := sha256.New()
	var b []byte
	for i := range ms {
		m := &ms[i]
		b = b[:0]
		for _, s := range [...]string{m.RuleID, m.Event.EventID} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		b = binary.AppendVarint(b, int64(m.Step))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// unmarshalOneMatch decodes a message of the encoding before batches: one
// match.
func unmarshalOneMatch(b []byte) (Match, error) {
	var m Match
	b, err := readMatchHead(b, &m)
	if err != nil {
		return m, err
	}
	evs, err := UnmarshalBatch(b)
	if err != nil {
		return m, fmt.Errorf("match: %w", err)
	}
	if len(evs) != 1 {
		return m, fmt.Errorf("match: %d events, want 1", len(evs))
	}
	m.Event = evs[0]
	return m, nil
}

// appendMatchHead encodes what both encodings write of a match before its
// event: rule:string key:string value:string step:varint.
func appendMatchHead(b []byte, m *Match) []byte {
	for _, s := range [...]string{m.RuleID, m.Key, m.Value} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return binary.AppendVarint(b, int64(m.Step))
}

// readMatchHead decodes appendMatchHead's part into m and returns the
// rest of b.
func readMatchHead(b []byte, m *Match) ([]byte, error) {
	for _, s := range []*string{&m.RuleID, &m.Key, &m.Value} {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errors.New("match: truncated")
		}
		*s, b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	step, k := binary.Varint(b)
	if k <= 0 || step < 0 || step > 1<<20 {
		return nil, errors.New("match: bad step")
	}
	m.Step = int(step)
	return b[k:], nil
}
