package event

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleEvents() []Event {
	t := time.Date(2026, 11, 24, 9, 0, 0, 123456789, time.UTC)
	return []Event{
		{Time: t, IngestedAt: t.Add(time.Second), Source: "cloudtrail", EventID: "id-1", Account: "123456789012",
			Region: "eu-west-1", Service: "lambda.amazonaws.com", Actor: "arn:aws:iam::123456789012:user/kim",
			SrcIP: "203.0.113.5", UserAgent: "aws-cli/2", Action: "AddPermission20150331v2", Target: "orders",
			Outcome: OutcomeFailure, StatusCode: 403, ErrorCode: "AccessDenied", BytesOut: 1 << 40, DurationMS: 12.5,
			Message: "ünïcode ✓", Raw: json.RawMessage(`{"eventName":"AddPermission20150331v2"}`)},
		{Source: "json", EventID: "id-2"},
	}
}

func TestBatchRoundTrip(t *testing.T) {
	in := sampleEvents()
	b, err := MarshalBatch(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n%+v\n%+v", in, out)
	}
}

func TestBatchCorrupt(t *testing.T) {
	b, _ := MarshalBatch(sampleEvents())
	for _, tc := range [][]byte{nil, {9}, b[:len(b)-1], append(append([]byte{}, b...), 0), b[:5]} {
		if _, err := UnmarshalBatch(tc); err == nil || !strings.Contains(err.Error(), "event batch") {
			t.Errorf("UnmarshalBatch(%d bytes) = %v, want an event batch error", len(tc), err)
		}
	}
}

func FuzzUnmarshalBatch(f *testing.F) {
	b, _ := MarshalBatch(sampleEvents())
	f.Add(b)
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := UnmarshalBatch(b)
		if err != nil {
			return
		}
		again, err := MarshalBatch(evs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalBatch(again); err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
	})
}

func BenchmarkBatchRoundTrip(b *testing.B) {
	evs := make([]Event, 500)
	raw := json.RawMessage(`{"eventVersion":"1.09","eventName":"GetFunction20150331v2","requestParameters":{"functionName":"` + strings.Repeat("x", 1000) + `"}}`)
	for i := range evs {
		evs[i] = sampleEvents()[0]
		evs[i].Raw = raw
	}
	b.ReportAllocs()
	for b.Loop() {
		data, _ := MarshalBatch(evs)
		if _, err := UnmarshalBatch(data); err != nil {
			b.Fatal(err)
		}
	}
}
