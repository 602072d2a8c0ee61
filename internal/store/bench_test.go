package store

import (
	"context"
	"testing"

	"github.com/tripline/tripline/internal/event"
)

// benchBatch is the batch size of BenchmarkInsertEvents, about what the
// store stage commits per JetStream fetch.
const benchBatch = 5000

// BenchmarkInsertEvents measures InsertEvents with batches of realistic
// events (about 1 KB of raw CloudTrail JSON each) into a real server:
//
//	deploy/clickhouse/ch.sh start
//	go test -run '^$' -bench InsertEvents -benchmem ./internal/store/
func BenchmarkInsertEvents(b *testing.B) {
	for _, tc := range []struct {
		name          string
		checkExisting bool
	}{
		// new: InsertEvents as the store stage calls it normally.
		{"new", false},
		// redelivered: checkExisting on batches already stored, so each
		// call is the id lookup and inserts nothing (rows/s = rows checked).
		{"redelivered", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := openTest(b)
			ctx := context.Background()
			const distinct = 8
			pool := make([][]event.Event, distinct)
			var raw int
			for i := range pool {
				pool[i] = testEvents(i*benchBatch, benchBatch)
				if tc.checkExisting {
					if _, err := s.InsertEvents(ctx, pool[i], false); err != nil {
						b.Fatal(err)
					}
				}
			}
			for _, e := range pool[0] {
				raw += len(e.Raw)
			}
			b.SetBytes(int64(raw))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				n, err := s.InsertEvents(ctx, pool[i%distinct], tc.checkExisting)
				if err != nil {
					b.Fatal(err)
				}
				if tc.checkExisting && n != 0 {
					b.Fatalf("redelivered batch inserted %d rows", n)
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
