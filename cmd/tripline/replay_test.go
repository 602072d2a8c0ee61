package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/bus/bustest"
)

// TestReplay sends a gzipped CloudTrail S3 file, an NDJSON file and a JSON
// log file through the real ingest handler and bus.
func TestReplay(t *testing.T) {
	b := bustest.Open(t)
	mux := http.NewServeMux()
	ingest.NewHandler(ingest.HTTPConfig{MaxBodyBytes: 1 << 20, MaxRecordBytes: 1 << 16,
		Decoders: ingest.Decoders(ingest.DefaultJSONConfig), Publisher: b,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

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
