package envoy

import (
	"testing"

	"github.com/tripline/tripline/internal/event"
)

var benchLines = map[string]string{
	"envoy_text": `[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"`,
	"istio_text": `[2023-06-01T09:00:00.000Z] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 295 8 7 "-" "Envoy/1.27" "7f1e0000-0000-4000-8000-00000000000a" "reviews:9080" "10.244.2.9:9080" inbound|9080|| 127.0.0.6:52000 10.244.2.9:9080 10.244.1.5:41000 outbound_.9080_._.reviews.bookinfo.svc.cluster.local default spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage TLSv1.3 - -`,
	"istio_json": `{"upstream_host":"10.44.1.27:80","downstream_remote_address":"10.44.1.23:37652","downstream_local_address":"10.0.45.184:8000","duration":4,"upstream_transport_failure_reason":null,"route_name":"default","response_code":418,"user_agent":"curl/7.73.0-DEV","response_flags":"-","start_time":"2020-11-25T21:26:18.409Z","method":"GET","request_id":"84961386-6d84-929d-98bd-c5aee93b5c88","upstream_service_time":"4","protocol":"HTTP/1.1","requested_server_name":null,"bytes_received":0,"bytes_sent":135,"upstream_cluster":"outbound|8000||httpbin.foo.svc.cluster.local","x_forwarded_for":null,"authority":"httpbin:8000","path":"/status/418","connection_termination_details":null,"upstream_local_address":"10.44.1.23:37652","response_code_details":"via_upstream","downstream_peer_uri_san":"spiffe://cluster.local/ns/foo/sa/sleep"}`,
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"envoy_text", "istio_text", "istio_json"} {
		rec := []byte(benchLines[name])
		b.Run(name, func(b *testing.B) {
			var d Decoder
			var ev event.Event
			if err := d.Decode(rec, &ev); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(rec, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
