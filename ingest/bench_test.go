package ingest

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/loadgen"
)

// benchBody returns an NDJSON body of n realistic CloudTrail records.
func benchBody(n int) []byte {
	p := loadgen.NewPool("bench", 1, n, 100)
	var b bytes.Buffer
	for range n {
		rec, _, _ := p.Next(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
		b.Write(rec)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

var ctEnv = Envelopes(CloudTrail{})

func BenchmarkCloudTrailDecode(b *testing.B) {
	body := benchBody(500)
	var recs [][]byte
	_ = SplitRecords(body, FrameNDJSON, ctEnv, func(rec []byte) error { recs = append(recs, rec); return nil })
	b.SetBytes(int64(len(body) / len(recs)))
	b.ReportAllocs()
	var ev event.Event
	i := 0
	for b.Loop() {
		if err := (CloudTrail{}).Decode(recs[i%len(recs)], &ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSplitAndDecode is the per-request work of the ingest endpoint
// for a 500-record NDJSON body: framing plus decoding, per record.
func BenchmarkSplitAndDecode(b *testing.B) {
	body := benchBody(500)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := SplitRecords(body, FrameNDJSON, ctEnv, func(rec []byte) error {
			var ev event.Event
			n++
			return CloudTrail{}.Decode(rec, &ev)
		})
		if err != nil || n != 500 {
			b.Fatal(fmt.Errorf("%d records: %w", n, err))
		}
	}
}

// BenchmarkSplitS3File is the framing of a 500-record CloudTrail S3 file
// ({"Records":[...]}) alone.
func BenchmarkSplitS3File(b *testing.B) {
	recs := bytes.Split(bytes.TrimSpace(benchBody(500)), []byte{'\n'})
	body := append(append([]byte(`{"Records":[`), bytes.Join(recs, []byte(",\n"))...), "]}"...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := SplitRecords(body, FrameJSON, ctEnv, func([]byte) error { n++; return nil }); err != nil || n != 500 {
			b.Fatal(fmt.Errorf("%d records: %w", n, err))
		}
	}
}

// BenchmarkK8sAuditDecode decodes the events of a webhook EventList
// (RequestResponse and Metadata levels), one at a time.
func BenchmarkK8sAuditDecode(b *testing.B) {
	body, err := os.ReadFile("testdata/k8s-audit/webhook_eventlist.json")
	if err != nil {
		b.Fatal(err)
	}
	var recs [][]byte
	_ = SplitRecords(body, FrameJSON, EnvelopeEventList, func(rec []byte) error { recs = append(recs, rec); return nil })
	size := 0
	for _, r := range recs {
		size += len(r)
	}
	b.SetBytes(int64(size / len(recs)))
	b.ReportAllocs()
	var ev event.Event
	i := 0
	for b.Loop() {
		if err := (K8sAudit{}).Decode(recs[i%len(recs)], &ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
