package ingest_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/tripline/tripline/ingest"
)

// TestOTLP posts OTLP/HTTP requests to /v1/logs as an OpenTelemetry SDK
// or Collector does, in both encodings, and checks the OTLP answers.
func TestOTLP(t *testing.T) {
	srv, b := newServerWith(t, func(c *ingest.HTTPConfig) { c.MaxRecordBytes = 3 << 10 })
	send := func(ct, enc string, body []byte) (int, string, []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), out
	}
	read := func(name string) []byte {
		body, err := os.ReadFile("otlplog/testdata/otlp/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}

	// Full success: an empty response in the request's encoding.
	if code, ct, out := send("application/json", "", read("example.json")); code != 200 || ct != "application/json" || strings.TrimSpace(string(out)) != "{}" {
		t.Fatalf("json: %d %s %s", code, ct, out)
	}
	if code, ct, out := send("application/x-protobuf", "gzip", gz(read("multi_resource.pb"))); code != 200 || ct != "application/x-protobuf" || len(out) != 0 {
		t.Fatalf("protobuf: %d %s %q", code, ct, out)
	}
	// Partial success: the huge record is rejected and dead-lettered,
	// the others stored.
	code, _, out := send("application/x-protobuf", "", mustProto(t, read("huge_record.json")))
	resp := plogotlp.NewExportResponse()
	if err := resp.UnmarshalProto(out); code != 200 || err != nil || resp.PartialSuccess().RejectedLogRecords() != 1 ||
		!strings.Contains(resp.PartialSuccess().ErrorMessage(), "log record 4: record is 3649 bytes") {
		t.Fatalf("partial success: %d %v %q", code, err, out)
	}
	if got := storedEvents(t, b); len(got) < 3 || got[0].Source != "otlp" || got[0].Service != "my.service" {
		t.Fatalf("stored %d events, first %+v", len(got), got[0])
	}
	// A body that is not an export request: 400 with a google.rpc.Status.
	code, ct, out := send("application/x-protobuf", "", []byte("\x0a\xff\xff"))
	var st status.Status
	if err := proto.Unmarshal(out, &st); code != 400 || ct != "application/x-protobuf" || err != nil || st.Code != 3 {
		t.Fatalf("bad body: %d %s %v %v", code, ct, &st, err)
	}
	if code, _, out := send("text/plain", "", []byte("hello")); code != 415 {
		t.Fatalf("text: %d %s", code, out)
	}
}

// mustProto converts an OTLP JSON request to protobuf.
func mustProto(t *testing.T, js []byte) []byte {
	t.Helper()
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	b, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
