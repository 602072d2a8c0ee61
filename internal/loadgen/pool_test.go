package loadgen

import (
	"testing"
	"time"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
)

func TestPoolRecordsDecode(t *testing.T) {
	p := NewPool("t1", 7, 50, 10)
	seen := map[string]bool{}
	attacks := 0
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for range 120 {
		rec, id, attack := p.Next(now)
		var ev event.Event
		if err := (ingest.CloudTrail{}).Decode(rec, &ev); err != nil {
			t.Fatalf("%v: %s", err, rec)
		}
		if ev.EventID != id || seen[id] || !ev.Time.Equal(now) {
			t.Fatalf("event id %q (want %q, seen %v), time %s", ev.EventID, id, seen[id], ev.Time)
		}
		seen[id] = true
		if attack {
			attacks++
			if ev.Action != "AddPermission20150331v2" {
				t.Fatalf("attack record is %s", ev.Action)
			}
		}
	}
	if attacks != 12 {
		t.Fatalf("%d attacks in 120 records, want 12", attacks)
	}
}

func BenchmarkPoolNext(b *testing.B) {
	p := NewPool("b", 1, 1000, 1000)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		p.Next(now)
	}
}
