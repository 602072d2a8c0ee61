package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/golden"
)

// deadSink keeps published events and rejected records, for golden files.
type deadSink struct {
	memSink
	dead []string
}

func (d *deadSink) Reject(_ context.Context, source, reason string, rec []byte, err error) error {
	d.dead = append(d.dead, fmt.Sprintf("%s %s: %v\n  record: %.120q", source, reason, err, rec))
	return nil
}

// TestEndpointGolden posts every testdata/endpoints/<endpoint>/* body (the
// AWS documentation's and real deliveries, plus edge cases) to
// /v1/ingest/<endpoint> and compares the answer, the normalized events and
// the dead letters with the .golden file beside it.
func TestEndpointGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/endpoints/*/*")
	n := 0
	for _, in := range files {
		if filepath.Ext(in) == ".golden" {
			continue
		}
		n++
		endpoint := filepath.Base(filepath.Dir(in))
		t.Run(endpoint+"/"+filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			sink := &deadSink{}
			h, err := ingest.NewHandler(ingest.HTTPConfig{MaxBodyBytes: 1 << 20, MaxRecordBytes: 1 << 16,
				Decoders: ingest.Decoders(ingest.DefaultSourceConfig), Publisher: sink, Rejecter: sink})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			h.Register(mux)
			req := httptest.NewRequest(http.MethodPost, "/v1/ingest/"+endpoint, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			var answer map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
				t.Fatalf("answer %q: %v", w.Body.Bytes(), err)
			}
			delete(answer, "timestamp") // Firehose's answer time
			var got bytes.Buffer
			a, _ := json.Marshal(answer)
			fmt.Fprintf(&got, "answer %d %s\n", w.Code, a)
			for _, d := range sink.dead {
				fmt.Fprintf(&got, "dead letter %s\n", d)
			}
			for _, ev := range sink.events {
				ev.IngestedAt = event.Event{}.IngestedAt
				b, _ := json.MarshalIndent(ev, "", "  ")
				got.Write(b)
				got.WriteByte('\n')
			}
			golden.Check(t, in+".golden", got.Bytes())
		})
	}
	if n == 0 {
		t.Fatal("no inputs in testdata/endpoints")
	}
}
