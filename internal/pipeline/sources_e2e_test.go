package pipeline_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
)

// firstLine returns the first line of a decoder's testdata file (real
// examples from the formats' documentation).
func firstLine(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		t.Fatalf("%s is empty", path)
	}
	return sc.Text()
}

// row renders the normalized columns of a stored event that a source may
// fill, for comparison.
func row(e event.Event) string {
	return fmt.Sprintf("%s|%s|actor=%s|ip=%s|ua=%s|action=%s|target=%s|outcome=%s|status=%d|error=%s|bytes=%d|ms=%g|service=%s|account=%s|region=%s|msg=%.40s",
		e.Source, e.Time.UTC().Format(time.RFC3339Nano), e.Actor, e.SrcIP, e.UserAgent, e.Action, e.Target, e.Outcome,
		e.StatusCode, e.ErrorCode, e.BytesOut, e.DurationMS, e.Service, e.Account, e.Region, e.Message)
}

// otlpRequest is an OpenTelemetry SDK's export of one HTTP server log
// record with the semantic-convention attributes.
const otlpRequest = `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},{"key":"cloud.account.id","value":{"stringValue":"123456789012"}},{"key":"cloud.region","value":{"stringValue":"eu-west-1"}}]},` +
	`"scopeLogs":[{"scope":{"name":"http"},"logRecords":[{"timeUnixNano":"1764147600123000000","severityNumber":17,"severityText":"ERROR","body":{"stringValue":"payment refused"},` +
	`"attributes":[{"key":"http.request.method","value":{"stringValue":"POST"}},{"key":"url.path","value":{"stringValue":"/pay"}},{"key":"http.response.status_code","value":{"intValue":"502"}},` +
	`{"key":"client.address","value":{"stringValue":"203.0.113.50"}},{"key":"enduser.id","value":{"stringValue":"u-42"}},{"key":"user_agent.original","value":{"stringValue":"okhttp/4.12"}},{"key":"http.response.body.size","value":{"intValue":"17"}},{"key":"exception.type","value":{"stringValue":"GatewayTimeout"}}]}]}]}]}`

// TestSourcesEndToEnd posts each HTTP source's native payload, as its
// producer sends it, to the running pipeline and finds the normalized rows
// in ClickHouse with the fields the source carries filled.
func TestSourcesEndToEnd(t *testing.T) {
	r := start(t, "")
	azure := `{"records":[` + firstLine(t, "../../ingest/azurelog/testdata/azure/appservicehttplogs.ndjson") + `]}`
	tests := []struct {
		name, path, contentType, body string
		source                        string
		want                          []string
	}{
		{"API Gateway CLF access log line", "/v1/ingest/apigateway", "text/plain",
			firstLine(t, "../../ingest/apigw/testdata/apigateway/clf.log"), "apigateway", []string{
				"apigateway|2023-06-10T15:36:28Z|actor=|ip=1.128.0.0|ua=|action=GET|target=/pets|outcome=success|status=200|error=|bytes=184|ms=0|service=|account=|region=|msg=",
			}},
		{"Istio text access log line", "/v1/ingest/envoy", "text/plain",
			firstLine(t, "../../ingest/envoy/testdata/envoy/istio_text.log"), "envoy", []string{
				"envoy|2020-11-25T21:26:18.409Z|actor=|ip=10.44.1.23|ua=curl/7.73.0-DEV|action=GET|target=/status/418|outcome=failure|status=418|error=|bytes=135|ms=4|service=httpbin.foo|account=|region=|msg=",
			}},
		{"Pub/Sub push of a Cloud Run request log", "/v1/ingest/gcp", "application/json",
			firstLine(t, "../../ingest/gcplog/testdata/gcp/push.ndjson"), "gcp", []string{
				"gcp|2025-12-29T00:58:51.018142Z|actor=|ip=35.187.142.68|ua=Google-Cloud-Scheduler|action=POST|target=/book|outcome=failure|status=502|error=|bytes=314|ms=60369.159188|service=amilia-booker|account=deft-breaker-482023-t4|region=northamerica-northeast1|msg=",
			}},
		{"Azure diagnostic settings delivery", "/v1/ingest/azure", "application/json", azure, "azure", []string{
			"azure|2022-12-14T12:18:26.4843064Z|actor=|ip=81.2.69.142|ua=Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36|action=POST|target=/api/command|outcome=success|status=200|error=|bytes=778|ms=1793|service=app-test|account=12ca3cb4-86e8-404f-a352-1dc1000f45ca|region=|msg=",
		}},
		{"Lambda Telemetry API batch", "/v1/ingest/lambda?function=orders-api", "application/json",
			`[{"time":"2026-11-24T09:00:01.000Z","type":"platform.report","record":{"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","status":"timeout","metrics":{"durationMs":3001.5,"billedDurationMs":3000,"memorySizeMB":512,"maxMemoryUsedMB":33}}}]`,
			"lambda", []string{
				"lambda|2026-11-24T09:00:01Z|actor=|ip=|ua=|action=report|target=6d68ca91-49c9-448d-89b8-7ca3e6dc66aa|outcome=failure|status=0|error=timeout|bytes=0|ms=3001.5|service=orders-api|account=|region=|msg=",
			}},
		{"JSON application log lines", "/v1/ingest/json", "application/x-ndjson",
			`{"time":"2026-11-24T09:00:02Z","level":"error","msg":"login failed","user":"kim"}`, "json", []string{
				"json|2026-11-24T09:00:02Z|actor=|ip=|ua=|action=|target=|outcome=|status=0|error=|bytes=0|ms=0|service=|account=|region=|msg=login failed",
			}},
		{"OTLP/HTTP JSON export request", "/v1/logs", "application/json", otlpRequest, "otlp", []string{
			"otlp|2025-11-26T09:00:00.123Z|actor=u-42|ip=203.0.113.50|ua=okhttp/4.12|action=POST|target=/pay|outcome=failure|status=502|error=GatewayTimeout|bytes=17|ms=0|service=checkout|account=123456789012|region=eu-west-1|msg=payment refused",
		}},
		{"Kubernetes audit webhook EventList", "/v1/ingest/k8s-audit", "application/json",
			`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"e2e-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/secrets","verb":"list","user":{"username":"system:serviceaccount:shop:web"},"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.30.2","objectRef":{"resource":"secrets","namespace":"shop","apiVersion":"v1"},"responseStatus":{"code":403,"reason":"Forbidden"},"stageTimestamp":"2026-11-24T09:00:00.5Z"}]}`,
			"k8s-audit", []string{
				"k8s-audit|2026-11-24T09:00:00.5Z|actor=system:serviceaccount:shop:web|ip=10.1.2.3|ua=kubectl/v1.30.2|action=list|target=secrets shop/*|outcome=failure|status=403|error=Forbidden|bytes=0|ms=0|service=core|account=|region=|msg=",
			}},
	}
	for _, tt := range tests {
		resp, err := http.Post(r.url+tt.path, tt.contentType, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer := fmt.Appendf(nil, `"accepted":%d`, len(tt.want))
		if tt.path == "/v1/logs" {
			answer = []byte("{}") // OTLP's full success
		}
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, answer) {
			t.Fatalf("%s: %d %s", tt.name, resp.StatusCode, b)
		}
	}
	for _, tt := range tests {
		var got []string
		eventually(t, 10*time.Second, tt.name+" stored", func() bool {
			got = got[:0]
			err := r.store.ScanEvents(t.Context(), store.EventQuery{Sources: []string{tt.source}}, func(e event.Event) error {
				got = append(got, row(e))
				return nil
			})
			return err == nil && len(got) == len(tt.want)
		})
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s: stored\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

// TestSyslogEndToEnd sends RFC 5424 over TCP (octet counting) and RFC
// 3164 over UDP to the pipeline's syslog listeners and finds the rows.
func TestSyslogEndToEnd(t *testing.T) {
	udpAddr, tcpAddr := freeAddr(t), freeAddr(t)
	r := startWith(t, "", func(c *config.Config) {
		c.Ingest.Syslog.UDP, c.Ingest.Syslog.TCP = udpAddr, tcpAddr
	})
	var conn net.Conn
	eventually(t, 10*time.Second, "syslog TCP listener up", func() bool {
		var err error
		conn, err = net.Dial("tcp", tcpAddr)
		return err == nil
	})
	defer conn.Close()
	msg := `<86>1 2026-11-24T09:00:00.000Z web-1 sshd 4711 AUTHFAIL [origin ip="10.0.0.5"][auth@32473 src_ip="198.51.100.23" user="root"] Failed password for root from 198.51.100.23 port 52144 ssh2`
	if _, err := fmt.Fprintf(conn, "%d %s", len(msg), msg); err != nil {
		t.Fatal(err)
	}
	udp, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	// RFC 3164 has no year: an hour ago is this year's (or, just after
	// New Year, last year's) date.
	stamp := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	if _, err := udp.Write([]byte("<34>" + stamp.Format(time.Stamp) + " mymachine su: 'su root' failed for lonvick on /dev/pts/8")); err != nil {
		t.Fatal(err)
	}
	var got []string
	eventually(t, 10*time.Second, "both syslog messages stored", func() bool {
		got = got[:0]
		err := r.store.ScanEvents(t.Context(), store.EventQuery{Sources: []string{"syslog"}}, func(e event.Event) error {
			got = append(got, row(e))
			return nil
		})
		return err == nil && len(got) == 2
	})
	slices.Sort(got)
	want := []string{
		"syslog|" + stamp.Format(time.RFC3339) + "|actor=|ip=|ua=|action=|target=|outcome=failure|status=0|error=|bytes=0|ms=0|service=su|account=|region=|msg='su root' failed for lonvick on /dev/pts",
		"syslog|2026-11-24T09:00:00Z|actor=|ip=198.51.100.23|ua=|action=AUTHFAIL|target=|outcome=|status=0|error=|bytes=0|ms=0|service=sshd|account=|region=|msg=Failed password for root from 198.51.100",
	}
	slices.Sort(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
