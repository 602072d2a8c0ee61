package event

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestMatchesRoundTrip: matches come back from their bus encoding as they
// were, an event shared by several is encoded once, and a truncated
// encoding is an error.
func TestMatchesRoundTrip(t *testing.T) {
	ev := func(id string) Event {
		return Event{Time: time.Date(2026, 11, 24, 9, 0, 0, 5, time.UTC), Source: "cloudtrail", EventID: id,
			Actor: "arn", Raw: []byte(`{"eventName":"ListUsers","padding":"` + id + `"}`)}
	}
	ms := []Match{
		{RuleID: "r", Key: "arn:aws:iam::1:role/x | 198.51.100.7", Value: "ListUsers", Step: 2, Event: ev("e1")},
		{RuleID: "q", Key: "k", Event: ev("e1")},
		{RuleID: "r", Key: "other", Event: ev("e2")},
	}
	b, err := MarshalMatches(ms)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalMatches(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ms) {
		t.Fatalf("got %+v\nwant %+v", got, ms)
	}
	one, _ := MarshalMatches(ms[:1])
	if two, _ := MarshalMatches(ms[:2]); len(two)-len(one) > 10 {
		t.Errorf("a second match of the same event added %d bytes: the event was encoded again", len(two)-len(one))
	}
	for n := range len(b) {
		if _, err := UnmarshalMatches(b[:n]); err == nil {
			t.Fatalf("matches cut to %d of %d bytes decoded", n, len(b))
		}
	}
}

// TestMatchesID: the id depends on every match's rule, event and step,
// and on nothing else (a redelivered batch makes the same ids).
func TestMatchesID(t *testing.T) {
	base := []Match{{RuleID: "r", Key: "k", Event: Event{EventID: "e1"}}, {RuleID: "r", Step: 1, Event: Event{EventID: "e2"}}}
	id := MatchesID(base)
	same := []Match{{RuleID: "r", Key: "k", Value: "v", Event: Event{EventID: "e1", Actor: "a"}}, {RuleID: "r", Step: 1, Event: Event{EventID: "e2"}}}
	if MatchesID(same) != id {
		t.Error("key, value or event fields changed the id")
	}
	for _, other := range [][]Match{
		base[:1],
		{base[0], {RuleID: "r", Step: 2, Event: Event{EventID: "e2"}}},
		{base[0], {RuleID: "q", Step: 1, Event: Event{EventID: "e2"}}},
		{{RuleID: "r", Event: Event{EventID: "e1\x00"}}, {RuleID: "r", Step: 1, Event: Event{EventID: "e2"}}},
	} {
		if MatchesID(other) == id {
			t.Errorf("%+v has the id of %+v", other, base)
		}
	}
}

func FuzzUnmarshalMatches(f *testing.F) {
	b, _ := MarshalMatches([]Match{{RuleID: "r", Key: "k", Value: "v", Step: 1, Event: Event{EventID: "e", Raw: []byte(`{}`)}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := UnmarshalMatches(b)
		if err != nil {
			return
		}
		again, err := MarshalMatches(ms)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalMatches(again); err != nil {
			t.Fatalf("re-encoded matches do not decode: %v", err)
		}
	})
}

// TestMatchesReadsOneMatchMessages: a message of the encoding before
// batches (one match) still decodes, so matches waiting in the stream at
// an upgrade are applied.
func TestMatchesReadsOneMatchMessages(t *testing.T) {
	m := Match{RuleID: strings.Repeat("r", 128), Key: "k", Value: "v", Step: 1,
		Event: Event{Time: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), Source: "cloudtrail", EventID: "e1", Raw: []byte(`{}`)}}
	for _, rule := range []string{"a", "aws-access-denied-burst", m.RuleID} {
		m.RuleID = rule
		var b []byte // the earlier encoding, as it was written
		for _, s := range []string{m.RuleID, m.Key, m.Value} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		b = binary.AppendVarint(b, int64(m.Step))
		evs, err := MarshalBatch([]Event{m.Event})
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalMatches(append(b, evs...))
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], m) {
			t.Fatalf("rule id of %d bytes: %+v, %v", len(rule), got, err)
		}
	}
}
