package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/bus/bustest"
)

// TestReplay sends a gzipped CloudTrail S3 file, an NDJSON file and a JSON
// log file through the real ingest handler and bus.
func TestReplay(t *testing.T) {
	srv, b := replayServer(t, 1<<20)

	dir := t.TempDir()
	rec := func(id string) string {
		return `{"eventName":"GetFunction20150331v2","eventSource":"lambda.amazonaws.com","eventTime":"2026-11-24T09:00:00Z","eventID":"` + id + `"}`
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("{\n  \"Records\": [\n" + rec("s3-1") + ",\n" + rec("s3-2") + "\n  ]\n}\n"))
	zw.Close()
	files := map[string][]byte{
		"111122223333_CloudTrail_us-east-1_20261124T0900Z_x.json.gz": gz.Bytes(),
		"trail.ndjson": []byte(rec("nd-1") + "\n" + rec("nd-2") + "\n" + rec("nd-3") + "\n"),
		"app.log":      []byte(`{"time":"2026-11-24T09:00:00Z","msg":"a"}` + "\n" + `{"msg":"b"}` + "\n"),
	}
	var paths []string
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := execute(t, append([]string{"replay", "--url", srv.URL, "--batch", "2"}, paths...)...)
	if err != nil || !strings.Contains(out, "replayed 7 events from 3 file(s)") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	info, err := b.JS.Stream(t.Context(), "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(t.Context(), jetstream.WithSubjectFilter("tl.events.>"))
	if err != nil {
		t.Fatal(err)
	}
	// --batch 2: the S3 file is one message, the NDJSON file two, the log one.
	if got := si.State.Subjects; got["tl.events.cloudtrail"] != 3 || got["tl.events.json"] != 1 {
		t.Fatalf("messages by subject: %v (source guessed wrong?)", got)
	}

	bad := filepath.Join(dir, "bad.ndjson")
	os.WriteFile(bad, []byte(rec("ok")+"\n{broken\n"), 0o600)
	if _, err := execute(t, "replay", "--url", srv.URL, bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad file: %v", err)
	}
}

// replayServer serves the real ingest handler on a test bus.
func replayServer(t *testing.T, maxBody int64) (*httptest.Server, *bus.Bus) {
	t.Helper()
	b := bustest.Open(t)
	mux := http.NewServeMux()
	h, err := ingest.NewHandler(ingest.HTTPConfig{MaxBodyBytes: maxBody, MaxRecordBytes: maxBody,
		Decoders: ingest.Decoders(ingest.DefaultSourceConfig), Publisher: b, Rejecter: b,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, b
}

// messagesBySubject counts the EVENTS messages (one per request) by subject.
func messagesBySubject(t *testing.T, b *bus.Bus) map[string]uint64 {
	t.Helper()
	s, err := b.JS.Stream(t.Context(), bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	si, err := s.Info(t.Context(), jetstream.WithSubjectFilter("tl.events.>"))
	if err != nil {
		t.Fatal(err)
	}
	return si.State.Subjects
}

// prettyS3File is a CloudTrail file as `jq .` prints it: every record
// spans many lines.
func prettyS3File(t *testing.T, ids ...string) []byte {
	t.Helper()
	var recs []map[string]any
	for _, id := range ids {
		recs = append(recs, map[string]any{
			"eventVersion": "1.09", "eventTime": "2026-11-24T09:00:00Z",
			"eventSource": "lambda.amazonaws.com", "eventName": "GetFunction20150331v2", "eventID": id,
			"userIdentity":      map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/kim"},
			"requestParameters": map[string]any{"functionName": "orders"},
		})
	}
	b, err := json.MarshalIndent(map[string]any{"Records": recs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// k8sEventList is the ingest package's webhook EventList: six events, two
// of which (the third and fourth) share auditID and stage.
func k8sEventList(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../ingest/testdata/k8s-audit/webhook_eventlist.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplayShapes replays files whose records are not one line each, or
// that look like envelopes without being CloudTrail.
func TestReplayShapes(t *testing.T) {
	tests := []struct {
		name, file, source string
		body               []byte
		want               string            // in the output
		subjects           map[string]uint64 // messages, with --batch 2
	}{
		{"pretty S3 file", "trail.json", "", prettyS3File(t, "p-1", "p-2", "p-3"), "replayed 3 events", map[string]uint64{"tl.events.cloudtrail": 2}},
		{"pretty S3 file, gzipped, cloudtrail", "trail.json.gz", "cloudtrail", gzipped(prettyS3File(t, "g-1")), "replayed 1 events", map[string]uint64{"tl.events.cloudtrail": 1}},
		{"pretty array of log records", "app.json", "", []byte("[\n  {\n    \"msg\": \"a\"\n  },\n  {\n    \"msg\": \"b\"\n  }\n]\n"), "replayed 2 events", map[string]uint64{"tl.events.json": 1}},
		{"log record with Records", "lambda.log", "", []byte(`{"msg":"lambda got event","Records":[]}` + "\n"), "replayed 1 events", map[string]uint64{"tl.events.json": 1}},
		{"log record with Records, json", "lambda.log", "json", []byte(`{"msg":"got","Records":[{"a":1},{"b":2}]}` + "\n"), "replayed 1 events", map[string]uint64{"tl.events.json": 1}},
		// A webhook EventList is guessed as k8s-audit and opened; its two
		// items with one (auditID, stage) land in one batch and count once.
		{"k8s audit EventList", "audit.json", "", k8sEventList(t), "replayed 5 events", map[string]uint64{"tl.events.k8s-audit": 3}},
		{"json record shaped like an EventList", "app.log", "", []byte(`{"msg":"x","kind":"EventList","items":[{"a":1},{"b":2}]}` + "\n"), "replayed 1 events", map[string]uint64{"tl.events.json": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, b := replayServer(t, 1<<20)
			args := []string{"replay", "--url", srv.URL, "--batch", "2"}
			if tt.source != "" {
				args = append(args, "--source", tt.source)
			}
			out, err := execute(t, append(args, writeFile(t, tt.file, tt.body))...)
			if err != nil || !strings.Contains(out, tt.want) {
				t.Fatalf("replay: %v\n%s", err, out)
			}
			if got := messagesBySubject(t, b); !maps.Equal(got, tt.subjects) {
				t.Fatalf("messages by subject: %v, want %v", got, tt.subjects)
			}
		})
	}
}

// TestReplayBadPrettyRecord: a broken record is named by its line in the
// file, before anything is sent.
func TestReplayBadPrettyRecord(t *testing.T) {
	srv, b := replayServer(t, 1<<20)
	body := []byte("[\n  {\n    \"msg\": \"a\"\n  },\n  {\n    \"msg\": \"b\",\n  }\n]\n")
	_, err := execute(t, "replay", "--url", srv.URL, writeFile(t, "bad.json", body))
	if err == nil || !strings.Contains(err.Error(), "record 2 (line 5): invalid JSON") {
		t.Fatalf("bad file: %v", err)
	}
	if got := messagesBySubject(t, b); len(got) != 0 {
		t.Fatalf("sent %v", got)
	}
}

// TestReplayBatchBytes: batches are cut by size too, so big records never
// make a body over the server's limit.
func TestReplayBatchBytes(t *testing.T) {
	big := func(i int) string {
		return fmt.Sprintf(`{"n":%d,"msg":"%s"}`, i, strings.Repeat("x", 3000))
	}
	var body strings.Builder
	for i := range 10 {
		body.WriteString(big(i) + "\n")
	}
	old := replayBatchBytes
	replayBatchBytes = 3 * (len(big(0)) + 1) // three records a batch
	t.Cleanup(func() { replayBatchBytes = old })
	// The server takes at most 4 records a body: one batch of 10 would fail.
	srv, b := replayServer(t, int64(4*(len(big(0))+1)))
	out, err := execute(t, "replay", "--url", srv.URL, writeFile(t, "big.ndjson", []byte(body.String())))
	if err != nil || !strings.Contains(out, "replayed 10 events") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if got := messagesBySubject(t, b)["tl.events.json"]; got != 4 {
		t.Fatalf("%d requests, want 4 (3+3+3+1 records)", got)
	}
	// A record over the byte cap goes alone.
	replayBatchBytes = 10
	srv, b = replayServer(t, 1<<20)
	if _, err := execute(t, "replay", "--url", srv.URL, writeFile(t, "big.ndjson", []byte(body.String()))); err != nil {
		t.Fatal(err)
	}
	if got := messagesBySubject(t, b)["tl.events.json"]; got != 10 {
		t.Fatalf("%d requests, want 10", got)
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestReplayDirectory replays a copy of a CloudTrail bucket (*.json.gz in
// dated folders) and a Kubernetes audit log (JSON lines, one event the
// server rejects), guessing each file's source, and reports the counts.
func TestReplayDirectory(t *testing.T) {
	srv, b := replayServer(t, 1<<20)
	dir := t.TempDir()
	write := func(rel string, body []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ct := func(ids ...string) []byte {
		var recs []string
		for _, id := range ids {
			recs = append(recs, `{"eventName":"ListFunctions20150331","eventSource":"lambda.amazonaws.com","eventTime":"2026-11-24T09:00:00Z","eventID":"`+id+`"}`)
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(`{"Records":[` + strings.Join(recs, ",") + `]}`))
		zw.Close()
		return buf.Bytes()
	}
	day := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/24/"
	write(day+"111122223333_CloudTrail_us-east-1_20261124T0900Z_a.json.gz", ct("c1", "c2"))
	write(day+"111122223333_CloudTrail_us-east-1_20261124T0905Z_b.json.gz", ct("c3"))
	audit := func(id, apiVersion string) string {
		return `{"kind":"Event","apiVersion":"` + apiVersion + `","level":"Metadata","auditID":"` + id + `","stage":"ResponseComplete","requestURI":"/api/v1/secrets","verb":"list","user":{"username":"system:anonymous"},"sourceIPs":["203.0.113.9"],"stageTimestamp":"2026-11-24T09:00:00Z"}`
	}
	write("audit/audit.log", []byte(audit("k1", "audit.k8s.io/v1")+"\n"+audit("k2", "audit.k8s.io/v1")+"\n"+audit("k3", "v1")+"\n"+audit("k4", "audit.k8s.io/v1")+"\n"))
	write(".hidden/skip.json", []byte(`{"msg":"not replayed"}`))

	out, err := execute(t, "replay", "--url", srv.URL, dir)
	if err != nil || !strings.Contains(out, "replayed 6 events from 3 file(s); 1 records rejected") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	s, err := b.JS.Stream(t.Context(), bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	si, err := s.Info(t.Context(), jetstream.WithSubjectFilter("tl.events.>"))
	if err != nil {
		t.Fatal(err)
	}
	if got := si.State.Subjects; got["tl.events.cloudtrail"] != 2 || got["tl.events.k8s-audit"] != 1 || len(got) != 2 {
		t.Fatalf("messages by subject: %v", got)
	}
	if _, err := execute(t, "replay", "--url", srv.URL, "--source", "cloudtrial", dir); err == nil || !strings.Contains(err.Error(), `"cloudtrial" is not a source`) {
		t.Fatalf("unknown source: %v", err)
	}
}

// TestReplayGzipRotatedContainerLog replays a gzip-rotated CRI log file
// (kubelet's 0.log.<timestamp>.gz) and an Envoy access log as lines.
func TestReplayGzipRotatedContainerLog(t *testing.T) {
	srv, b := replayServer(t, 1<<20)
	dir := t.TempDir()
	var cri bytes.Buffer
	zw := gzip.NewWriter(&cri)
	for i := range 5 {
		fmt.Fprintf(zw, "2026-11-24T09:00:0%dZ stdout F {\"level\":\"error\",\"msg\":\"boom %d\"}\n", i, i)
	}
	zw.Close()
	rotated := filepath.Join(dir, "0.log.20261124-090000.gz")
	envoy := filepath.Join(dir, "access.log")
	os.WriteFile(rotated, cri.Bytes(), 0o600)
	os.WriteFile(envoy, []byte(`[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`+"\n"), 0o600)
	if out, err := execute(t, "replay", "--url", srv.URL, "--source", "container", rotated); err != nil || !strings.Contains(out, "replayed 5 events from 1 file(s)") {
		t.Fatalf("container: %v\n%s", err, out)
	}
	if out, err := execute(t, "replay", "--url", srv.URL, "--source", "envoy", envoy); err != nil || !strings.Contains(out, "replayed 1 events from 1 file(s)") {
		t.Fatalf("envoy: %v\n%s", err, out)
	}
	s, err := b.JS.Stream(t.Context(), bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	si, err := s.Info(t.Context(), jetstream.WithSubjectFilter("tl.events.>"))
	if err != nil {
		t.Fatal(err)
	}
	if got := si.State.Subjects; got["tl.events.container"] != 1 || got["tl.events.envoy"] != 1 {
		t.Fatalf("messages by subject: %v", got)
	}
}
