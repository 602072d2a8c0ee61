package apigw

import (
	"testing"

	"github.com/tripline/tripline/internal/event"
)

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"rest-json", `{"requestId":"48752d0f-c99d-4cfa-a5a7-f3c6834d19e5","ip":"1.128.0.0","caller":"-","user":"-","requestTime":"10/Jun/2023:15:36:28 +0000","httpMethod":"GET","resourcePath":"/pets","status":"200","protocol":"HTTP/1.1","responseLength":"184"}`},
		{"http-json", `{"requestId":"Iq8dHhlwIAMEV_g=","ip":"1.128.0.0","requestTime":"26/Jul/2023:12:13:33 +0000","httpMethod":"GET","routeKey":"GET /","status":"200","protocol":"HTTP/1.1","responseLength":"51243","stage":"$default","apiId":"1ax3mj7iqf","domainName":"1ax3mj7iqf.execute-api.us-east-1.amazonaws.com"}`},
		{"clf", `1.128.0.0 - - [10/Jun/2023:15:36:28 +0000] "GET /pets HTTP/1.1" 200 184 48752d0f-c99d-4cfa-a5a7-f3c6834d19e5`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dec := testDecoder(Config{})
			rec := []byte(bc.line)
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			var ev event.Event
			for b.Loop() {
				if err := dec.Decode(rec, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLooks(b *testing.B) {
	msg := []byte(`{"time":"2026-01-01T00:00:00Z","type":"platform.report","record":{"requestId":"a","status":"success","metrics":{"durationMs":1.5}}}`)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		Looks(msg)
	}
}
