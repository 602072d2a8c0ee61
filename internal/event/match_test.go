package event

import (
	"reflect"
	"testing"
	"time"
)

// TestMatchRoundTrip: a match comes back from its bus encoding as it was,
// and a truncated encoding is an error.
func TestMatchRoundTrip(t *testing.T) {
	m := Match{RuleID: "r", Key: "arn:aws:iam::1:role/x | 198.51.100.7", Value: "ListUsers", Step: 2,
		Event: Event{Time: time.Date(2026, 11, 24, 9, 0, 0, 5, time.UTC), Source: "cloudtrail", EventID: "e1",
			Actor: "arn", Raw: []byte(`{"eventName":"ListUsers"}`)}}
	b, err := MarshalMatch(&m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalMatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v\nwant %+v", got, m)
	}
	for n := range len(b) {
		if _, err := UnmarshalMatch(b[:n]); err == nil {
			t.Fatalf("a match cut to %d of %d bytes decoded", n, len(b))
		}
	}
}
