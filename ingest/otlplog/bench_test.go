package otlplog

import (
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// benchRequest is a typical SDK batch: one service's resource and 100
// HTTP access records with 10 attributes each.
func benchRequest() plogotlp.ExportRequest {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("service.name", "checkout")
	ra.PutStr("service.version", "1.4.2")
	ra.PutStr("cloud.provider", "aws")
	ra.PutStr("cloud.account.id", "123456789012")
	ra.PutStr("cloud.region", "eu-west-1")
	ra.PutStr("k8s.namespace.name", "shop")
	ra.PutStr("k8s.pod.name", "checkout-7d9f8-abcde")
	ra.PutStr("telemetry.sdk.language", "go")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("go.opentelemetry.io/contrib/bridges/otelslog")
	sl.Scope().SetVersion("0.9.0")
	t0 := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 100 {
		r := sl.LogRecords().AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
		r.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i)*time.Millisecond + 3*time.Millisecond)))
		r.SetSeverityNumber(plog.SeverityNumberInfo)
		r.SetSeverityText("INFO")
		r.Body().SetStr("request handled path=/api/cart/" + strconv.Itoa(i))
		a := r.Attributes()
		a.PutStr("http.request.method", "POST")
		a.PutStr("url.path", "/api/cart/"+strconv.Itoa(i))
		a.PutStr("http.route", "/api/cart/{id}")
		a.PutInt("http.response.status_code", 200+int64(i%5)*100)
		a.PutInt("http.response.body.size", 512+int64(i))
		a.PutStr("client.address", "203.0.113."+strconv.Itoa(i%250))
		a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
		a.PutStr("enduser.id", "user-"+strconv.Itoa(i%17))
		a.PutDouble("duration_ms", 1.5+float64(i))
		a.PutStr("request.id", "req-"+strconv.Itoa(1_000_000+i))
		var tid [16]byte
		tid[0], tid[15] = byte(i), 1
		r.SetTraceID(tid)
	}
	return plogotlp.NewExportRequestFromLogs(ld)
}

func BenchmarkDecode(b *testing.B) {
	req := benchRequest()
	pb, _ := req.MarshalProto()
	js, _ := req.MarshalJSON()
	now := time.Now()
	for _, tc := range []struct {
		name, ct string
		body     []byte
	}{{"proto", ContentTypeProto, pb}, {"json", ContentTypeJSON, js}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := Decode(tc.body, tc.ct, 1<<20, now)
				if err != nil || len(res.Events) != 100 {
					b.Fatalf("%d events, %v", len(res.Events), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/record")
		})
	}
}
