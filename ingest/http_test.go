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
	b := bustest.Open(t)
	mux := http.NewServeMux()
	ingest.NewHandler(ingest.HTTPConfig{
		MaxBodyBytes: 64 << 10, MaxRecordBytes: 16 << 10, AuthToken: token,
		Decoders:  ingest.Decoders(ingest.DefaultJSONConfig),
		Publisher: b, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}).Register(mux)
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
	var ids []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := event.UnmarshalBatch(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			ids = append(ids, e.EventID)
		}
	}
	return ids
}

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
		{"bad line named", "cloudtrail", req{"application/x-ndjson", "", []byte(good + "\n" + good + "\n{oops\n")}, 400, "line 3"},
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
	}
	srv, b := newServer(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, srv, tt.source, tt.r)
			msg, _ := body["error"].(string)
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Fatalf("got %d %q, want %d containing %q", code, msg, tt.code, tt.want)
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

func TestIngestAuth(t *testing.T) {
	srv, _ := newServer(t, "s3cret")
	for _, tc := range []struct {
		header string
		code   int
	}{{"", 401}, {"Bearer wrong", 401}, {"s3cret", 401}, {"Bearer s3cret", 200}} {
		hr, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/ingest/cloudtrail", strings.NewReader(ctRecord("x", "GetFunction")))
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
			t.Errorf("Authorization %q: got %d, want %d", tc.header, resp.StatusCode, tc.code)
		}
	}
}
