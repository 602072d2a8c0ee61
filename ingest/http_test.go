package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/bus/bustest"
	"github.com/tripline/tripline/internal/event"
)

func newServer(t *testing.T, token string) (*httptest.Server, *bus.Bus) {
	t.Helper()
	return newServerWith(t, func(c *ingest.HTTPConfig) { c.AuthToken = token })
}

// newServerWith serves the handler with the test config, changed by set.
func newServerWith(t *testing.T, set func(*ingest.HTTPConfig)) (*httptest.Server, *bus.Bus) {
	t.Helper()
	b := bustest.Open(t)
	cfg := ingest.HTTPConfig{
		MaxBodyBytes: 64 << 10, MaxRecordBytes: 16 << 10,
		Decoders:  ingest.Decoders(ingest.DefaultSourceConfig),
		Publisher: b, Rejecter: b, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	set(&cfg)
	mux := http.NewServeMux()
	h, err := ingest.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, b
}

func ctRecord(id, name string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2026-11-24T09:00:00Z","eventSource":"lambda.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2","eventID":%q,"recipientAccountId":"123456789012","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/kim","accountId":"123456789012","userName":"kim"},"requestParameters":{"functionName":"orders"}}`, name, id)
}

type req struct {
	contentType, encoding string
	body                  []byte
}

func post(t *testing.T, srv *httptest.Server, source string, r req) (int, map[string]any) {
	t.Helper()
	hr, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/ingest/"+source, bytes.NewReader(r.body))
	hr.Header.Set("Content-Type", r.contentType)
	if r.encoding != "" {
		hr.Header.Set("Content-Encoding", r.encoding)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer %q is not JSON: %v", b, err)
	}
	return resp.StatusCode, out
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// storedIDs reads every event id in the EVENTS stream.
func storedIDs(t *testing.T, b *bus.Bus) []string {
	t.Helper()
	var ids []string
	for _, e := range storedEvents(t, b) {
		ids = append(ids, e.EventID)
	}
	return ids
}

// storedEvents reads every event in the EVENTS stream.
func storedEvents(t *testing.T, b *bus.Bus) []event.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := b.JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all []event.Event
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := event.UnmarshalBatch(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
	return all
}

const (
	lambdaLog   = `{"msg":"lambda got event","Records":[]}`
	tickLog     = `{"detail-type":"Scheduled Event","detail":{"msg":"tick"}}`
	loginFailed = `{"time":"2026-11-24T09:00:00Z","msg":"login failed","user":"kim"}`
)

var loginFailedID = event.ContentID("json", []byte(loginFailed))

func TestIngestShapes(t *testing.T) {
	a, b2 := ctRecord("id-a", "GetFunction20150331v2"), ctRecord("id-b", "ListFunctions20150331")
	tests := []struct {
		name, source string
		r            req
		want         []string
	}{
		{"single object", "cloudtrail", req{"application/json", "", []byte(a)}, []string{"id-a"}},
		{"array", "cloudtrail", req{"application/json", "", []byte("[" + a + "," + b2 + "]")}, []string{"id-a", "id-b"}},
		{"S3 file", "cloudtrail", req{"application/json", "", []byte(`{"Records":[` + a + "," + b2 + "]}")}, []string{"id-a", "id-b"}},
		{"empty S3 file", "cloudtrail", req{"application/json", "", []byte(`{"Records": []}`)}, nil},
		{"EventBridge", "cloudtrail", req{"application/json", "", []byte(`{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.lambda","detail":` + a + `}`)}, []string{"id-a"}},
		{"NDJSON gzip", "cloudtrail", req{"application/x-ndjson", "gzip", gz([]byte(a + "\n\n" + b2 + "\n"))}, []string{"id-a", "id-b"}},
		{"json source", "json", req{"text/plain; charset=utf-8", "", []byte(`{"time":"2026-11-24T09:00:00Z","msg":"hello"}`)}, []string{event.ContentID("json", []byte(`{"time":"2026-11-24T09:00:00Z","msg":"hello"}`))}},
		// Envelopes are CloudTrail's: a json record with their keys is one event.
		{"json record with Records", "json", req{"application/json", "", []byte(lambdaLog)}, []string{event.ContentID("json", []byte(lambdaLog))}},
		{"json record like EventBridge", "json", req{"application/x-ndjson", "", []byte(tickLog + "\n")}, []string{event.ContentID("json", []byte(tickLog))}},
		{"json array with Records", "json", req{"application/json", "", []byte("[" + lambdaLog + "," + tickLog + "]")}, []string{event.ContentID("json", []byte(lambdaLog)), event.ContentID("json", []byte(tickLog))}},
		// Identical json lines are distinct events; one CloudTrail event
		// sent twice is one.
		{"identical json lines", "json", req{"application/x-ndjson", "", []byte(loginFailed + "\n" + lambdaLog + "\n" + loginFailed + "\n" + loginFailed + "\n")},
			[]string{loginFailedID, event.ContentID("json", []byte(lambdaLog)), loginFailedID + "-1", loginFailedID + "-2"}},
		{"identical json array elements", "json", req{"application/json", "", []byte("[" + loginFailed + "," + loginFailed + "]")}, []string{loginFailedID, loginFailedID + "-1"}},
		{"repeated eventID", "cloudtrail", req{"application/x-ndjson", "", []byte(a + "\n" + b2 + "\n" + a + "\n")}, []string{"id-a", "id-b"}},
		{"odd field types", "cloudtrail", req{"application/json", "", []byte(`{"eventName":"GetFunction","eventSource":"lambda.amazonaws.com","eventTime":"2026-11-24T09:00:00Z","eventID":"id-odd",` +
			`"requestParameters":{"name":{"first":"a"}},"userIdentity":{"userName":5},"errorCode":123}`)}, []string{"id-odd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, b := newServer(t, "")
			code, body := post(t, srv, tt.source, tt.r)
			if code != http.StatusOK || body["accepted"] != float64(len(tt.want)) {
				t.Fatalf("got %d %v, want 200 accepted=%d", code, body, len(tt.want))
			}
			if got := storedIDs(t, b); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("stored %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIngestRejects(t *testing.T) {
	good := ctRecord("id-good", "GetFunction20150331v2")
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte(" "), 10<<20)) // 10 MiB of spaces: a few KiB compressed
	zw.Close()
	truncated := gz([]byte(good))
	truncated = truncated[:len(truncated)-10]
	tests := []struct {
		name, source string
		r            req
		code         int
		want         string
	}{
		{"malformed JSON", "cloudtrail", req{"application/json", "", []byte(`{"eventName":`)}, 400, "invalid JSON"},
		{"not a cloudtrail record", "cloudtrail", req{"application/json", "", []byte(`{"hello":"world"}`)}, 400, "eventName"},
		{"truncated gzip", "cloudtrail", req{"application/json", "gzip", truncated}, 400, "truncated"},
		{"gzip bomb", "cloudtrail", req{"application/json", "gzip", bomb.Bytes()}, 413, "decompressed body exceeds"},
		{"body over limit", "cloudtrail", req{"application/x-ndjson", "", bytes.Repeat([]byte(good+"\n"), 200)}, 413, "body exceeds"},
		{"record over limit", "json", req{"application/json", "", []byte(`{"msg":"` + strings.Repeat("x", 20<<10) + `"}`)}, 413, "record too large"},
		{"unsupported content type", "cloudtrail", req{"application/x-www-form-urlencoded", "", []byte(good)}, 415, "Content-Type"},
		{"unsupported encoding", "cloudtrail", req{"application/json", "br", []byte(good)}, 415, "Content-Encoding"},
		{"unknown source", "nope", req{"application/json", "", []byte(good)}, 404, "unknown source"},
		{"empty body", "cloudtrail", req{"application/json", "", nil}, 400, "empty body"},
		{"scalar", "json", req{"application/json", "", []byte(`42`)}, 400, "want a JSON object"},
		{"eventTime out of range", "cloudtrail", req{"application/json", "", []byte(strings.Replace(good, "2026-11-24T09:00:00Z", "3000-01-01T00:00:00Z", 1))},
			400, "record 1 (line 1): cloudtrail record: eventTime 3000-01-01T00:00:00Z is out of range (1970–2105)"},
	}
	srv, b := newServer(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, srv, tt.source, tt.r)
			msg, _ := body["error"].(string)
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Fatalf("got %d %q, want %d containing %q", code, msg, tt.code, tt.want)
			}
			if l, ok := body["line"].(float64); ok && !strings.Contains(msg, fmt.Sprintf("(line %d)", int(l))) {
				t.Fatalf("line %v differs from the message %q", l, msg)
			}
		})
	}
	// The good events of another request are unaffected, and nothing of
	// the rejected requests was stored.
	if code, _ := post(t, srv, "cloudtrail", req{"application/json", "", []byte(good)}); code != 200 {
		t.Fatalf("good request after bad ones: %d", code)
	}
	if got := storedIDs(t, b); strings.Join(got, ",") != "id-good" {
		t.Fatalf("stored %v, want only id-good", got)
	}
}

// TestIngestKeepsGoodRecords: a bad record is dead-lettered with its
// reason and the good records around it are stored; the answer lists it.
func TestIngestKeepsGoodRecords(t *testing.T) {
	good := ctRecord("id-good", "GetFunction20150331v2")
	tests := []struct {
		name, source string
		r            req
		accepted     int
		want         string // in the rejection
		dead         string // in the dead-lettered record
	}{
		{"bad line named", "cloudtrail", req{"application/x-ndjson", "", []byte(good + "\n" + good + "\n{oops\n")}, 1,
			"record 3 (line 3): cloudtrail record: invalid JSON", "{oops"},
		{"json time out of range", "json", req{"application/x-ndjson", "", []byte(`{"msg":"a"}` + "\n" + `{"time":"1969-07-20T20:17:00Z","msg":"b"}`)}, 1,
			"record 2 (line 2): json record: time 1969-07-20T20:17:00Z is out of range (1970–2105)", `"msg":"b"`},
		{"bad third record of a pretty S3 file", "cloudtrail", req{"application/json", "", badS3File(t)}, 3, "record 3 (line 36): ", `"eventID"`},
		{"record over limit", "json", req{"application/x-ndjson", "", []byte(`{"msg":"ok"}` + "\n" + `{"msg":"` + strings.Repeat("x", 20<<10) + `"}`)}, 1,
			"record 2 (line 2): record too large", "xxxx"},
		// A line is stored or rejected whole: the good element before the
		// bad one is not stored as well.
		{"array line with a bad element", "json", req{"application/x-ndjson", "", []byte(`[{"msg":"a"}, 5]` + "\n" + `{"msg":"b"}`)}, 1,
			"record 1 (line 1): want a JSON object in the array", `[{"msg":"a"}, 5]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, b := newServer(t, "")
			code, body := post(t, srv, tt.source, tt.r)
			errs, _ := body["errors"].([]any)
			if code != 200 || body["accepted"] != float64(tt.accepted) || body["rejected"] != float64(1) || len(errs) != 1 ||
				!strings.Contains(fmt.Sprint(errs[0]), tt.want) {
				t.Fatalf("got %d %v, want 200 accepted=%d rejected=1 with %q", code, body, tt.accepted, tt.want)
			}
			if got := storedIDs(t, b); len(got) != tt.accepted {
				t.Fatalf("stored %v, want %d events", got, tt.accepted)
			}
			dl, err := b.JS.Stream(t.Context(), bus.DeadLetterStream)
			if err != nil {
				t.Fatal(err)
			}
			m, err := dl.GetLastMsgForSubject(t.Context(), bus.DeadLetterSubject+"ingest."+tt.source)
			if err != nil {
				t.Fatalf("no dead letter: %v", err)
			}
			if !strings.Contains(string(m.Data), tt.dead) || !strings.Contains(m.Header.Get(bus.ReasonHeader), tt.want) {
				t.Fatalf("dead letter %.80q reason %q, want the record with %q", m.Data, m.Header.Get(bus.ReasonHeader), tt.want)
			}
		})
	}
}

func TestIngestRetryIsDeduplicated(t *testing.T) {
	srv, b := newServer(t, "")
	body := []byte(ctRecord("r1", "GetFunction20150331v2") + "\n" + ctRecord("r2", "GetFunction20150331v2"))
	for range 3 {
		if code, _ := post(t, srv, "cloudtrail", req{"application/x-ndjson", "", body}); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if got := storedIDs(t, b); strings.Join(got, ",") != "r1,r2" {
		t.Fatalf("stored %v, want r1,r2 once", got)
	}
}

// TestIngestRetryOfIdenticalLines: the numbered ids of identical json
// lines are the same on every retry, so a retry stores nothing new.
func TestIngestRetryOfIdenticalLines(t *testing.T) {
	srv, b := newServer(t, "")
	body := []byte(loginFailed + "\n" + loginFailed + "\n")
	for range 3 {
		if code, out := post(t, srv, "json", req{"application/x-ndjson", "", body}); code != 200 || out["accepted"] != float64(2) {
			t.Fatalf("got %d %v, want 200 accepted=2", code, out)
		}
	}
	if got, want := strings.Join(storedIDs(t, b), ","), loginFailedID+","+loginFailedID+"-1"; got != want {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

// badS3File is a pretty-printed CloudTrail file whose third record, on
// line 36, has an eventTime out of range.
func badS3File(t *testing.T) []byte {
	b, err := os.ReadFile("testdata/cloudtrail/s3_file_bad_third_record.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIngestMaxRecords(t *testing.T) {
	line := []byte(`{"a":1}` + "\n")
	t.Run("limit", func(t *testing.T) {
		srv, _ := newServerWith(t, func(c *ingest.HTTPConfig) { c.MaxRecords = 3 })
		lines := []byte("{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
		if code, out := post(t, srv, "json", req{"application/x-ndjson", "", lines}); code != 200 || out["accepted"] != float64(3) {
			t.Fatalf("3 records: got %d %v, want 200 accepted=3", code, out)
		}
		// The broken fifth line is never read: the limit is passed first.
		body := append(lines, "{\"n\":4}\n{broken\n"...)
		code, out := post(t, srv, "json", req{"application/x-ndjson", "", body})
		if code != 413 || out["error"] != "more than 3 records in one request; split the body" {
			t.Fatalf("5 records: got %d %v, want 413", code, out)
		}
		// Records in an array count the same.
		r := ctRecord("id-r", "GetFunction")
		code, _ = post(t, srv, "cloudtrail", req{"application/json", "", []byte(`{"Records":[` + r + "," + r + "," + r + "," + r + `]}`)})
		if code != 413 {
			t.Fatalf("S3 file of 4 records: got %d, want 413", code)
		}
	})
	t.Run("default", func(t *testing.T) {
		srv, _ := newServerWith(t, func(c *ingest.HTTPConfig) { c.MaxBodyBytes = 1 << 20 })
		code, out := post(t, srv, "json", req{"application/x-ndjson", "gzip", gz(bytes.Repeat(line, ingest.DefaultMaxRecords+1))})
		if code != 413 || out["error"] != fmt.Sprintf("more than %d records in one request; split the body", ingest.DefaultMaxRecords) {
			t.Fatalf("got %d %v, want 413", code, out)
		}
	})
}

// gatePublisher holds every PublishEvents call until release is closed.
type gatePublisher struct {
	entered chan struct{}
	release chan struct{}
}

func (g *gatePublisher) PublishEvents(ctx context.Context, _ string, _ []event.Event) error {
	g.entered <- struct{}{}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestIngestMaxConcurrent(t *testing.T) {
	gate := &gatePublisher{entered: make(chan struct{}, 10), release: make(chan struct{})}
	srv, _ := newServerWith(t, func(c *ingest.HTTPConfig) { c.MaxConcurrent = 1; c.Publisher = gate })
	body := []byte(ctRecord("c1", "GetFunction"))
	async := func() chan int {
		ch := make(chan int, 1)
		go func() {
			hr, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/ingest/cloudtrail", bytes.NewReader(body))
			hr.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				ch <- 0
				return
			}
			resp.Body.Close()
			ch <- resp.StatusCode
		}()
		return ch
	}
	first := async()
	<-gate.entered // the first request holds the only slot

	start := time.Now()
	hr, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/ingest/cloudtrail", bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(msg), "busy") {
		t.Fatalf("second request: %d Retry-After=%q %s, want 503 busy with Retry-After: 1", resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("busy after %v, want a wait for a slot first", waited)
	}

	// A request that finds the slot free within the wait goes through.
	third := async()
	time.Sleep(200 * time.Millisecond)
	close(gate.release)
	if code := <-first; code != 200 {
		t.Fatalf("first request: %d", code)
	}
	if code := <-third; code != 200 {
		t.Fatalf("third request: %d, want 200 after waiting for the slot", code)
	}
}

// TestIngestAuth: the shared token opens every source, a source's own
// token only that source, and with RequireAuth a source without a token
// is closed.
func TestIngestAuth(t *testing.T) {
	srv, _ := newServerWith(t, func(c *ingest.HTTPConfig) {
		c.AuthToken = "s3cret"
		c.SourceTokens = map[string]string{"json": "json-only"}
	})
	open, _ := newServerWith(t, func(c *ingest.HTTPConfig) {
		c.SourceTokens = map[string]string{"json": "json-only"}
		c.RequireAuth = true
	})
	for _, tc := range []struct {
		srv            *httptest.Server
		source, header string
		code           int
	}{
		{srv, "cloudtrail", "", 401}, {srv, "cloudtrail", "Bearer wrong", 401}, {srv, "cloudtrail", "s3cret", 401},
		{srv, "cloudtrail", "Bearer s3cret", 200}, {srv, "cloudtrail", "Bearer json-only", 401},
		{srv, "json", "Bearer json-only", 200}, {srv, "json", "Bearer s3cret", 200}, {srv, "json", "Bearer json-onl", 401},
		{open, "json", "Bearer json-only", 200}, {open, "json", "", 401}, {open, "cloudtrail", "", 401},
		{open, "cloudtrail", "Bearer json-only", 401},
	} {
		hr, _ := http.NewRequest(http.MethodPost, tc.srv.URL+"/v1/ingest/"+tc.source, strings.NewReader(ctRecord("x", "GetFunction")))
		hr.Header.Set("Content-Type", "application/json")
		if tc.header != "" {
			hr.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s with Authorization %q: got %d, want %d", tc.source, tc.header, resp.StatusCode, tc.code)
		}
	}
}

// k8sEvent is a Kubernetes audit event at Metadata level.
func k8sEvent(auditID, stage, verb string) string {
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":%q,"stage":%q,"requestURI":"/api/v1/namespaces/shop/pods/web-0/exec?command=sh","verb":%q,"user":{"username":"kim@example.com","groups":["system:authenticated"]},"sourceIPs":["203.0.113.24"],"userAgent":"kubectl/v1.30.2","objectRef":{"resource":"pods","namespace":"shop","name":"web-0","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2026-11-24T09:00:00.000001Z","stageTimestamp":"2026-11-24T09:00:00.020000Z"}`, auditID, stage, verb)
}

// TestIngestK8sAuditEventList posts EventLists as the API server's audit
// webhook does: events are stored by (auditID, stage), an event repeated
// in a list is stored once, and the webhook's retry of the same list
// stores nothing new.
func TestIngestK8sAuditEventList(t *testing.T) {
	srv, b := newServer(t, "")
	list := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` +
		k8sEvent("a1", "RequestReceived", "create") + "," + k8sEvent("a1", "ResponseStarted", "create") + "," +
		k8sEvent("a2", "ResponseComplete", "get") + "," + k8sEvent("a1", "ResponseStarted", "create") + "]}"
	for range 3 {
		if code, out := post(t, srv, "k8s-audit", req{"application/json", "", []byte(list)}); code != 200 || out["accepted"] != float64(3) {
			t.Fatalf("got %d %v, want 200 accepted=3", code, out)
		}
	}
	want := "a1/RequestReceived,a1/ResponseStarted,a2/ResponseComplete"
	if got := strings.Join(storedIDs(t, b), ","); got != want {
		t.Fatalf("stored %v, want %v once", got, want)
	}
	// Audit log lines (one Event per line), gzipped, and a JSON array.
	lines := k8sEvent("a3", "RequestReceived", "list") + "\n" + k8sEvent("a3", "ResponseComplete", "list") + "\n"
	if code, out := post(t, srv, "k8s-audit", req{"application/x-ndjson", "gzip", gz([]byte(lines))}); code != 200 || out["accepted"] != float64(2) {
		t.Fatalf("got %d %v, want 200 accepted=2", code, out)
	}
	if code, out := post(t, srv, "k8s-audit", req{"application/json", "", []byte("[" + k8sEvent("a4", "Panic", "get") + "]")}); code != 200 || out["accepted"] != float64(1) {
		t.Fatalf("got %d %v, want 200 accepted=1", code, out)
	}
	want += ",a3/RequestReceived,a3/ResponseComplete,a4/Panic"
	if got := strings.Join(storedIDs(t, b), ","); got != want {
		t.Fatalf("stored %v, want %v", got, want)
	}
	// A list whose second item is not an audit event: that item is
	// rejected, naming its line, and the first is stored.
	bad := "{\"kind\":\"EventList\",\"items\":[\n" + k8sEvent("a5", "ResponseComplete", "get") + ",\n{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"reason\":\"BackOff\"}]}"
	code, out := post(t, srv, "k8s-audit", req{"application/json", "", []byte(bad)})
	if code != http.StatusOK || out["rejected"] != float64(1) || !strings.Contains(fmt.Sprint(out["errors"]), "record 2 (line 3)") {
		t.Fatalf("got %d %v, want 200 rejecting record 2 on line 3", code, out)
	}
	want += ",a5/ResponseComplete"
	if got := strings.Join(storedIDs(t, b), ","); got != want {
		t.Fatalf("stored %v after a bad list, want %v", got, want)
	}
}
