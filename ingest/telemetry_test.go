package ingest_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// telemetryBatch is the Telemetry API example of the AWS docs: a
// platform.start and a function record, as an extension posts them.
const telemetryBatch = `[{"time": "2022-10-12T00:00:15.064Z", "type": "platform.start", "record": {"requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa", "version": "$LATEST", "tracing": {"spanId": "54565fb41ac79632", "type": "X-Amzn-Trace-Id", "value": "Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"}}},
 {"time": "2022-10-12T00:03:50.000Z", "type": "function", "record": {"timestamp": "2022-10-12T00:03:50.000Z", "level": "INFO", "requestId": "79b4f56e-95b1-4643-9700-2807f4e68189", "message": "Hello world, I am a function!"}},
 {"time": "2020-08-20T12:31:32.123Z", "type": "platform.report", "record": {"requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa", "status": "timeout", "metrics": {"durationMs": 3001.5, "billedDurationMs": 3000, "memorySizeMB": 512, "maxMemoryUsedMB": 33, "initDurationMs": 116.67}}}]`

// TestLambdaTelemetry posts a Telemetry API batch to /v1/ingest/lambda
// with the function in the URL, twice (a retry stores nothing new).
func TestLambdaTelemetry(t *testing.T) {
	srv, b := newServer(t, "")
	postTo := func(query, body string) (int, string) {
		resp, err := http.Post(srv.URL+"/v1/ingest/lambda"+query, "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String()
	}
	for range 2 {
		if code, out := postTo("?function=orders-api", telemetryBatch); code != 200 || !strings.Contains(out, `"accepted":3`) {
			t.Fatalf("got %d %s", code, out)
		}
	}
	var got []string
	for _, e := range storedEvents(t, b) {
		got = append(got, fmt.Sprintf("%s %s %s %s %s %s %v", e.Time.Format("15:04:05.000"), e.Service, e.Action, e.Target, e.Outcome, e.Message, e.DurationMS))
	}
	want := []string{
		"00:00:15.064 orders-api start 6d68ca91-49c9-448d-89b8-7ca3e6dc66aa   0",
		"00:03:50.000 orders-api app 79b4f56e-95b1-4643-9700-2807f4e68189  Hello world, I am a function! 0",
		"12:31:32.123 orders-api report 6d68ca91-49c9-448d-89b8-7ca3e6dc66aa failure  3001.5",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stored\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, tc := range []struct{ query, want string }{
		{"", "post to /v1/ingest/lambda?function=<name>"},
		{"?function=a/b", "is not a Lambda function name"},
	} {
		if code, out := postTo(tc.query, telemetryBatch); code != 400 || !strings.Contains(out, tc.want) {
			t.Errorf("%q: got %d %s, want 400 with %q", tc.query, code, out, tc.want)
		}
	}
}
