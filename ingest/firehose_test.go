package ingest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/bus"
)

// firehoseControl is the Grafana agent's replay of a real Firehose
// delivery holding only a CloudWatch Logs control message.
const firehoseControl = `{"requestId":"86208cf6-2bcc-47e6-9010-02ca9f44a025","timestamp":1684424042901,"records":[{"data":"H4sIAAAAAAAAADWO0QqCMBiFX2XsWsJSwrwLUW8sIYUuQmLpnxvpJttMQnz3Ztrlxzmc8424BaVIDfmnA+zjID3nlzS5n8IsO8YhtrAYOMg5aURfDUSXNBG1MkEj6liKvjPZQpmWQNoFVf9QpWSdZoJHrNEgFfZvxa8XvoHrGUfMqqWumdHQpDVj273nujvn4Nm251h/vVngmqBVD616PgoolC/Ga0SBNJoi8USVWWKczM8oYhKoULDBUzF9AScBUFTsAAAA"}]}`

func firehoseBody(reqID string, datas ...[]byte) []byte {
	type rec struct {
		Data string `json:"data"`
	}
	var recs []rec
	for _, d := range datas {
		recs = append(recs, rec{base64.StdEncoding.EncodeToString(d)})
	}
	b, _ := json.Marshal(map[string]any{"requestId": reqID, "timestamp": 1764147600000, "records": recs})
	return b
}

func TestFirehose(t *testing.T) {
	srv, b := newServerWith(t, func(c *ingest.HTTPConfig) {
		c.MaxBodyBytes, c.MaxRecordBytes, c.FirehoseKeys = 1<<20, 1<<16, []string{"k-one", "k-two"}
	})
	send := func(key, reqID string, body []byte) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/ingest/firehose", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Amz-Firehose-Request-Id", reqID)
		req.Header.Set("X-Amz-Firehose-Access-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if out["requestId"] != reqID || out["timestamp"] == nil {
			t.Fatalf("answer %v does not echo requestId %q with a timestamp", out, reqID)
		}
		return resp.StatusCode, out
	}

	if code, out := send("wrong", "r0", []byte(firehoseControl)); code != 401 || out["errorMessage"] == nil {
		t.Fatalf("wrong key: %d %v", code, out)
	}
	if code, _ := send("k-two", "86208cf6-2bcc-47e6-9010-02ca9f44a025", []byte(firehoseControl)); code != 200 {
		t.Fatalf("control message: %d", code)
	}
	lambda := cwlBatch("/aws/lambda/orders-api", "END RequestId: 632d3270-354e-4504-96e1-e3a74218c002\n")
	plain := []byte(`{"level":"info","msg":"decompressed by the stream"}`)
	body := firehoseBody("req-7", lambda, plain, plain)
	for range 2 { // Firehose retries with the same request id
		if code, out := send("k-one", "req-7", body); code != 200 {
			t.Fatalf("delivery: %d %v", code, out)
		}
	}
	got := storedIDs(t, b)
	slices.Sort(got)
	want := []string{"37516444893477353435903345983543849283498234987234980000", "req-7/1", "req-7/2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name string
		body []byte
		code int
		want string
	}{
		{"no records", firehoseBody("r1"), 400, "want 1 to 10000"},
		{"malformed", []byte(`{"requestId":`), 400, "invalid JSON"},
		// Records that are all bad are dead-lettered and acknowledged:
		// Firehose would retry anything else for hours.
		{"bad base64", []byte(`{"requestId":"r2","records":[{"data":"***"}]}`), 200, "record 1: data is not base64"},
		{"bad CloudWatch batch", firehoseBody("r3", gz([]byte(`{"messageType":"NOPE","logEvents":[]}`))), 200, "record 1: cwlogs: unknown messageType"},
	} {
		code, out := send("k-one", "r-"+tc.name, tc.body)
		msg, _ := out["errorMessage"].(string)
		if tc.code == 200 {
			dl, err := b.JS.Stream(t.Context(), bus.DeadLetterStream)
			if err != nil {
				t.Fatal(err)
			}
			m, err := dl.GetLastMsgForSubject(t.Context(), bus.DeadLetterSubject+"ingest.firehose")
			if err != nil {
				t.Fatal(err)
			}
			msg = m.Header.Get(bus.ReasonHeader)
		}
		if code != tc.code || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: got %d %v %q, want %d with %q", tc.name, code, out, msg, tc.code, tc.want)
		}
	}
}

// TestFirehoseAuth: with RequireAuth and no key, Firehose is refused; the
// firehose source token is an access key.
func TestFirehoseAuth(t *testing.T) {
	open, _ := newServerWith(t, func(c *ingest.HTTPConfig) { c.RequireAuth = true })
	keyed, _ := newServerWith(t, func(c *ingest.HTTPConfig) {
		c.RequireAuth, c.SourceTokens = true, map[string]string{"firehose": "fh-key", "json": "other"}
	})
	body := firehoseBody("r1", []byte(`{"msg":"x"}`))
	for _, tc := range []struct {
		url, key string
		code     int
	}{{open.URL, "", 401}, {open.URL, "anything", 401}, {keyed.URL, "other", 401}, {keyed.URL, "fh-key", 200}} {
		req, _ := http.NewRequest(http.MethodPost, tc.url+"/v1/ingest/firehose", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Amz-Firehose-Access-Key", tc.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("key %q: got %d, want %d", tc.key, resp.StatusCode, tc.code)
		}
	}
}
