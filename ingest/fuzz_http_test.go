package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
)

// memSink keeps published events and rejected records in memory.
type memSink struct {
	mu       sync.Mutex
	events   []event.Event
	rejected int
}

func (m *memSink) PublishEvents(_ context.Context, _ string, evs []event.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, evs...)
	return nil
}

func (m *memSink) Reject(context.Context, string, string, []byte, error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejected++
	return nil
}

// FuzzFirehose posts arbitrary bodies to the Firehose endpoint: the
// answer is always 200, 400 or 413 with the request id echoed, every
// stored event has a source, an id and a JSON record, and a 200 accounts
// for every event stored.
func FuzzFirehose(f *testing.F) {
	f.Add([]byte(firehoseControl))
	f.Add(firehoseBody("r1", cwlBatch("/aws/lambda/fn", "START RequestId: 632d3270-354e-4504-96e1-e3a74218c002 Version: $LATEST\n"), []byte(`{"msg":"plain"}`)))
	f.Add(firehoseBody("r2", cwlBatch("aws-cloudtrail-logs", ctRecord("c1", "StopLogging"), `{"eventName":1}`)))
	f.Add(firehoseBody("r3", []byte(`{"messageType":"DATA_MESSAGE","logGroup":"/x","logEvents":[{"id":"1","timestamp":1,"message":"m"}]}`)))
	f.Add([]byte(`{"requestId":"r4","records":[{"data":"***"},{"data":""}]}`))
	f.Add([]byte(`{"requestId":`))
	sink := &memSink{}
	h, err := ingest.NewHandler(ingest.HTTPConfig{MaxBodyBytes: 1 << 20, MaxRecordBytes: 1 << 16, MaxRecords: 1000,
		Decoders: ingest.Decoders(ingest.DefaultSourceConfig), Publisher: sink, Rejecter: sink})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	f.Fuzz(func(t *testing.T, body []byte) {
		sink.mu.Lock()
		sink.events = sink.events[:0]
		sink.mu.Unlock()
		req := httptest.NewRequest(http.MethodPost, "/v1/ingest/firehose", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Amz-Firehose-Request-Id", "fuzz")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		var ans struct {
			RequestID string `json:"requestId"`
			Timestamp int64  `json:"timestamp"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil || ans.RequestID != "fuzz" || ans.Timestamp == 0 {
			t.Fatalf("answer %d %q is not Firehose's contract: %v", w.Code, w.Body.Bytes(), err)
		}
		switch w.Code {
		case 200, 400, 413:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body.Bytes())
		}
		for _, ev := range sink.events {
			if ev.Source == "" || ev.EventID == "" || !json.Valid(ev.Raw) {
				t.Fatalf("bad event %+v", ev)
			}
		}
		if w.Code != 200 && len(sink.events) > 0 {
			t.Fatalf("status %d but %d events stored", w.Code, len(sink.events))
		}
	})
}
