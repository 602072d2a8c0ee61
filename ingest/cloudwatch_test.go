package ingest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tripline/tripline/ingest"
)

const cwlAWSExample = `{"awslogs":{"data":"H4sIAAAAAAAAAHWPwQqCQBCGX0Xm7EFtK+smZBEUgXoLCdMhFtKV3akI8d0bLYmibvPPN3wz00CJxmQnTO41whwWQRIctmEcB6sQbFC3CjW3XW8kxpOpP+OC22d1Wml1qZkQGtoMsScxaczKN3plG8zlaHIta5KqWsozoTYw3/djzwhpLwivWFGHGpAFe7DL68JlBUk+l7KSN7tCOEJ4M3/qOI49vMHj+zCKdlFqLaU2ZHV2a4Ct/an0/ivdX8oYc1UVX860fQDQiMdxRQEAAA=="}}`

func cwlBatch(group string, msgs ...string) []byte {
	return cwlBatchIn(group, "2026/11/24/[$LATEST]abc", msgs...)
}

func cwlBatchIn(group, stream string, msgs ...string) []byte {
	type le struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	var evs []le
	for i, m := range msgs {
		evs = append(evs, le{fmt.Sprintf("3751644489347735343590334598354384928349823498723498%04d", i), 1764147600000 + int64(i), m})
	}
	b, _ := json.Marshal(map[string]any{"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
		"logStream": stream, "subscriptionFilters": []string{"tripline"}, "logEvents": evs})
	return gz(b)
}

func TestCloudWatchDelivery(t *testing.T) {
	ct := ctRecord("ct-1", "StopLogging")
	tests := []struct {
		name     string
		body     []byte
		want     []string
		contains string
	}{
		{"AWS example envelope, plain text lines", []byte(cwlAWSExample), []string{"eventId1", "eventId2"}, ""},
		{"Lambda log group", cwlBatch("/aws/lambda/orders-api",
			"START RequestId: 632d3270-354e-4504-96e1-e3a74218c002 Version: $LATEST\n",
			"REPORT RequestId: 632d3270-354e-4504-96e1-e3a74218c002\tDuration: 37.18 ms\tBilled Duration: 38 ms\tMemory Size: 128 MB\tMax Memory Used: 65 MB\tInit Duration: 177.89 ms\t\n"),
			[]string{"37516444893477353435903345983543849283498234987234980000", "37516444893477353435903345983543849283498234987234980001"}, ""},
		{"CloudTrail log group", cwlBatch("aws-cloudtrail-logs-123456789012-abc", ct), []string{"ct-1"}, ""},
		{"JSON application log", cwlBatch("/ecs/api", `{"level":"warn","msg":"slow"}`), []string{"37516444893477353435903345983543849283498234987234980000"}, ""},
		{"control message", gz([]byte(`{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1684423980083,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`)), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, b := newServer(t, "")
			for range 2 { // a redelivered batch stores nothing twice
				code, body := post(t, srv, "cloudwatch", req{"application/octet-stream", "", tt.body})
				if code != http.StatusOK || body["accepted"] != float64(len(tt.want)) {
					t.Fatalf("got %d %v, want 200 accepted=%d", code, body, len(tt.want))
				}
			}
			got := storedIDs(t, b)
			slices.Sort(got)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("stored %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCloudWatchRejects(t *testing.T) {
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"message":"` + strings.Repeat("A", 200<<10) + `"}]}`))
	zw.Close()
	srv, b := newServer(t, "")
	for _, tc := range []struct {
		name string
		body []byte
		code int
		want string
	}{
		{"gzip bomb", bomb.Bytes(), 413, "exceeds"},
		{"garbage", []byte("hello"), 400, "batch"},
		{"bad CloudTrail line", cwlBatch("cloudtrail-logs", `{"eventName":"X"}`), 400, "log event 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, srv, "cloudwatch", req{"application/octet-stream", "", tc.body})
			if msg, _ := body["error"].(string); code != tc.code || !strings.Contains(msg, tc.want) {
				t.Fatalf("got %d %v, want %d containing %q", code, body, tc.code, tc.want)
			}
		})
	}
	if ids := storedIDs(t, b); len(ids) != 0 {
		t.Fatalf("rejected deliveries stored %v", ids)
	}
}

// TestCloudWatchLogGroupRoutes: a configured route decides the decoder
// before the built-in choice, and EKS audit log streams are Kubernetes
// audit events.
func TestCloudWatchLogGroupRoutes(t *testing.T) {
	srv, b := newServerWith(t, func(c *ingest.HTTPConfig) {
		c.LogGroups = []ingest.LogGroupRoute{{Match: "/custom/*/trail", Source: "cloudtrail"}}
	})
	for _, body := range [][]byte{
		cwlBatch("/custom/prod/eu/trail", ctRecord("ct-routed", "StopLogging")),
		cwlBatchIn("/aws/eks/prod/cluster", "kube-apiserver-audit-0123", k8sEvent("audit-1", "ResponseComplete", "create")),
	} {
		if code, out := post(t, srv, "cloudwatch", req{"application/octet-stream", "", body}); code != 200 || out["accepted"] != float64(1) {
			t.Fatalf("got %d %v", code, out)
		}
	}
	// The ids are the records' own (CloudWatch ids replace them for
	// other sources): CloudTrail's eventID, and the audit event's id.
	got := storedIDs(t, b)
	slices.Sort(got)
	if strings.Join(got, ",") != "audit-1/ResponseComplete,ct-routed" {
		t.Fatalf("stored %v", got)
	}
}

// TestCloudWatchAPIGateway: access log lines are read as API Gateway in a
// group named for it and, by their keys, in any other group; execution
// log groups too. Every event keeps the CloudWatch Logs id.
func TestCloudWatchAPIGateway(t *testing.T) {
	var got []string
	access := `{"requestId":"fd443056-60d0-425f-874e-e93e5d61351e","ip":"198.51.100.7","requestTime":"07/Mar/2026:13:15:03 +0000","httpMethod":"POST","resourcePath":"/login","path":"/prod/login","status":"401","protocol":"HTTP/1.1","responseLength":"26","apiId":"a1b2c3d4e5","stage":"prod"}`
	for _, body := range [][]byte{
		cwlBatch("/aws/apigateway/welcome", access),
		cwlBatch("/ecs/frontend", access, `{"level":"info","msg":"not an access log","requestId":"x"}`),
		cwlBatch("API-Gateway-Execution-Logs_a1b2c3d4e5/prod", "(a1335dfd-5bcc-4e1b-aa45-f6726cb95816) Method completed with status: 502"),
	} {
		// A server each: the batches reuse CloudWatch Logs ids.
		srv, b := newServer(t, "")
		if code, out := post(t, srv, "cloudwatch", req{"application/octet-stream", "", body}); code != 200 {
			t.Fatalf("got %d %v", code, out)
		}
		for _, e := range storedEvents(t, b) {
			got = append(got, fmt.Sprintf("%s %s %s %s %s %d %s", e.Source, e.EventID[len(e.EventID)-4:], e.SrcIP, e.Action, e.Target, e.StatusCode, e.Service))
		}
	}
	want := []string{
		"apigateway 0000 198.51.100.7 POST /prod/login 401 a1b2c3d4e5/prod",
		"apigateway 0000 198.51.100.7 POST /prod/login 401 a1b2c3d4e5/prod",
		"json 0001    0 /ecs/frontend",
		"apigateway 0000    502 a1b2c3d4e5/prod",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stored\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
