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
