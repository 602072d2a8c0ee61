package detect

import (
	"fmt"
	"testing"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
)

// BenchmarkAccessLogs measures the built-in pack on API Gateway access
// log records: the source whose rules (injection payloads, auth failure
// and large-response bursts) have no prefilter, so every record is
// decoded and every rule evaluated. One record in 100 carries a payload.
func BenchmarkAccessLogs(b *testing.B) {
	dec := ingest.Decoders(config.Default().Ingest.SourceConfig)["apigateway"]
	var evs []event.Event
	for i := range 1000 {
		path := fmt.Sprintf("/prod/orders/%d/items", i)
		if i%100 == 7 {
			path = "/prod/files/..%2F..%2Fetc%2Fpasswd"
		}
		rec := fmt.Sprintf(`{"requestId":"r%d","ip":"198.51.100.%d","requestTime":"24/Nov/2026:09:00:%02d +0000","httpMethod":"GET","path":%q,"resourcePath":"/orders/{id}/items","status":"%d","responseLength":"%d","stage":"prod","apiId":"asad15n3p0","userAgent":"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/132.0"}`,
			i, i%250, i%60, path, []int{200, 200, 200, 404, 403}[i%5], 200+i)
		var ev event.Event
		if err := dec.Decode([]byte(rec), &ev); err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev)
	}
	benchPack(b, evs)
}

// BenchmarkServiceLogs measures the built-in pack on JSON service log
// lines (the json source), which the secrets-in-logs rule scans whole.
// One line in 100 carries a credential.
func BenchmarkServiceLogs(b *testing.B) {
	dec := ingest.Decoders(config.Default().Ingest.SourceConfig)["json"]
	var evs []event.Event
	for i := range 1000 {
		msg := fmt.Sprintf("order %d processed for customer c-%d in %d ms", i, i%97, 20+i%300)
		if i%100 == 7 {
			msg = "calling billing with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
		}
		rec := fmt.Sprintf(`{"time":"2026-11-24T09:00:%02dZ","level":"info","service":"orders","msg":%q,"request_id":"req-%d","duration_ms":%d}`,
			i%60, msg, i, 20+i%300)
		var ev event.Event
		if err := dec.Decode([]byte(rec), &ev); err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev)
	}
	benchPack(b, evs)
}

// benchPack matches evs, round and round, against the built-in pack.
func benchPack(b *testing.B, evs []event.Event) {
	eng, err := NewEngine(builtinRules(b))
	if err != nil {
		b.Fatal(err)
	}
	m := eng.NewMatcher()
	var out []event.Finding
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if out, err = m.Match(&evs[i%len(evs)], out[:0]); err != nil {
			b.Fatal(err)
		}
		m.Matches()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
