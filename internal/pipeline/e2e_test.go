package pipeline_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/pipeline"
	"github.com/tripline/tripline/internal/slacktest"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/store/storetest"
)

// addPermission is a CloudTrail AddPermission20150331v2 call that lets any
// principal invoke fn; the built-in pack must flag it.
func addPermission(id, fn, ua string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA4EXAMPLE","arn":"arn:aws:iam::210987654321:user/ops-lee","accountId":"210987654321","accessKeyId":"AKIA4EXAMPLE","userName":"ops-lee"},"eventTime":%q,"eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2","awsRegion":"eu-central-1","sourceIPAddress":"203.0.113.99","userAgent":%q,"requestParameters":{"functionName":%q,"statementId":"x1","action":"lambda:InvokeFunction","principal":"*"},"responseElements":{"statement":"{}"},"requestID":"r-%s","eventID":%q,"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"210987654321","eventCategory":"Management"}`,
		time.Now().UTC().Format(time.RFC3339), ua, fn, id, id)
}

func benignCall(id string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::210987654321:assumed-role/api/fn","accountId":"210987654321"},"eventTime":%q,"eventSource":"lambda.amazonaws.com","eventName":"GetFunction20150331v2","awsRegion":"eu-central-1","sourceIPAddress":"10.1.2.3","userAgent":"aws-sdk-go-v2","requestParameters":{"functionName":"orders"},"responseElements":null,"eventID":%q,"recipientAccountId":"210987654321"}`,
		time.Now().UTC().Format(time.RFC3339), id)
}

type running struct {
	url   string
	store *store.Store
	slack *slacktest.Server
}

// start runs the whole pipeline in-process: embedded NATS, the real
// ClickHouse (a fresh database) and a local Slack server.
func start(t *testing.T, slackMode string) *running {
	t.Helper()
	return startWith(t, slackMode, nil)
}

// startWith is start with the configuration changed by set.
func startWith(t *testing.T, slackMode string, set func(*config.Config)) *running {
	t.Helper()
	sc := storetest.Config(t)
	fs := slacktest.New(t, nil)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.NATS.Listen = ""
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = sc.Addr, sc.Database
	cfg.Store.FlushInterval = 50 * time.Millisecond
	switch slackMode {
	case "webhook":
		cfg.Slack.WebhookURL = fs.WebhookURL()
	case "bot":
		cfg.Slack.Token, cfg.Slack.Channel, cfg.Slack.APIURL = fs.Token, "C0SECURITY", fs.APIURL()
	}
	if set != nil {
		set(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(ctx, cfg, pipeline.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a net.Addr) { addrc <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline.Run: %v", err)
		}
	})
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("pipeline did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not start in 30s")
	}
	st, err := store.Open(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &running{url: "http://" + addr.String(), store: st, slack: fs}
}

func (r *running) post(t *testing.T, body string) {
	t.Helper()
	resp, err := http.Post(r.url+"/v1/ingest/cloudtrail", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest: %d %s", resp.StatusCode, b)
	}
}

// metricValue reads one sample of the pipeline's /metrics at url, or ""
// when it is not there (yet).
func metricValue(url, name string) string {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	for _, mode := range []string{"webhook", "bot"} {
		t.Run(mode, func(t *testing.T) {
			r := start(t, mode)
			id := "e2e-" + mode
			posted := time.Now()
			r.post(t, benignCall(id+"-benign")+"\n"+addPermission(id, "payments-webhook", "aws-cli/2.15.0"))

			var alerts []event.Finding
			eventually(t, 10*time.Second, "finding stored in ClickHouse alerts", func() bool {
				var err error
				alerts, err = r.store.Alerts(t.Context(), store.AlertQuery{Since: posted.Add(-time.Hour)})
				return err == nil && len(alerts) > 0
			})
			if len(alerts) != 1 || alerts[0].EventIDs[0] != id || alerts[0].Severity == "" || !strings.Contains(alerts[0].Summary, "payments-webhook") {
				t.Fatalf("alerts = %+v, want one for %s naming the function", alerts, id)
			}
			eventually(t, 10*time.Second, "both events stored in ClickHouse events", func() bool {
				n, distinct, err := r.store.CountEvents(t.Context())
				return err == nil && n == 2 && distinct == 2
			})
			eventually(t, 10*time.Second, "Block Kit message at the Slack server", func() bool { return len(r.slack.Posts()) == 1 })
			p := r.slack.Posts()[0]
			texts := strings.Join(slacktest.BlockTexts(t, p.Blocks), "\n")
			for _, want := range []string{alerts[0].RuleID, "payments-webhook", "arn:aws:iam::210987654321:user/ops-lee", "203.0.113.99"} {
				if !strings.Contains(texts, want) {
					t.Errorf("Slack blocks lack %q:\n%s", want, texts)
				}
			}
			if mode == "bot" && p.Channel != "C0SECURITY" {
				t.Errorf("posted to channel %q", p.Channel)
			}
			t.Logf("ingest to Slack: %s", time.Since(posted).Round(time.Millisecond))
		})
	}
}

func TestLogContentReachesSlackInert(t *testing.T) {
	r := start(t, "webhook")
	hostile := "<!channel> <https://evil.example|click> <@U024BE7LH> @here"
	r.post(t, addPermission("e2e-hostile", "fn "+hostile, hostile))
	eventually(t, 10*time.Second, "alert posted", func() bool { return len(r.slack.Posts()) == 1 })
	p := r.slack.Posts()[0]
	sent := slacktest.Canonical(t, []byte(p.Raw))
	for _, bad := range []string{"<!channel>", "<https://evil.example|click>", "<@U024BE7LH>"} {
		if strings.Contains(sent, bad) {
			t.Errorf("Slack payload carries active %q:\n%s", bad, sent)
		}
	}
	if !strings.Contains(sent, "&lt;!channel&gt;") || !strings.Contains(sent, "&lt;https://evil.example|click&gt;") {
		t.Errorf("escaped text missing from payload:\n%s", sent)
	}
}

// TestCloudWatchLambdaEndToEnd posts a gzipped CloudWatch Logs delivery of
// a Lambda log group and finds the normalized rows in ClickHouse.
func TestCloudWatchLambdaEndToEnd(t *testing.T) {
	r := start(t, "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	batch := fmt.Sprintf(`{"messageType":"DATA_MESSAGE","owner":"210987654321","logGroup":"/aws/lambda/payments-webhook","logStream":"2026/11/24/[$LATEST]abc","subscriptionFilters":["tripline"],"logEvents":[`+
		`{"id":"1001","timestamp":%d,"message":"START RequestId: 632d3270-354e-4504-96e1-e3a74218c002 Version: $LATEST\n"},`+
		`{"id":"1002","timestamp":%d,"message":"REPORT RequestId: 632d3270-354e-4504-96e1-e3a74218c002\tDuration: 37.18 ms\tBilled Duration: 38 ms\tMemory Size: 128 MB\tMax Memory Used: 65 MB\tInit Duration: 177.89 ms\t\n"}]}`,
		now.UnixMilli(), now.UnixMilli()+1)
	var gzBody strings.Builder
	zw := gzip.NewWriter(&gzBody)
	zw.Write([]byte(batch))
	zw.Close()
	resp, err := http.Post(r.url+"/v1/ingest/cloudwatch", "application/octet-stream", strings.NewReader(gzBody.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var got []event.Event
	eventually(t, 10*time.Second, "both Lambda lines stored", func() bool {
		got = got[:0]
		err := r.store.ScanEvents(t.Context(), store.EventQuery{Sources: []string{"lambda"}}, func(e event.Event) error {
			got = append(got, e)
			return nil
		})
		return err == nil && len(got) == 2
	})
	rep := got[1]
	if rep.EventID != "1002" || rep.Service != "payments-webhook" || rep.Account != "210987654321" || rep.Action != "report" ||
		rep.DurationMS != 37.18 || rep.Outcome != event.OutcomeSuccess || rep.Target != "632d3270-354e-4504-96e1-e3a74218c002" ||
		!rep.Time.Equal(now.Add(time.Millisecond)) || !strings.Contains(string(rep.Raw), `"init_duration_ms":177.89`) {
		t.Fatalf("report row: %+v\nraw %s", rep, rep.Raw)
	}
}

// TestFirehoseEndToEnd posts a Firehose delivery whose record is a
// CloudWatch Logs batch of a CloudTrail log group, and finds the CloudTrail
// event in ClickHouse and its finding in the alerts table.
func TestFirehoseEndToEnd(t *testing.T) {
	r := start(t, "")
	msg := addPermission("fh-e2e-1", "billing-fn", "aws-cli/2")
	cwl, _ := json.Marshal(map[string]any{"messageType": "DATA_MESSAGE", "owner": "210987654321",
		"logGroup": "aws-cloudtrail-logs-210987654321", "logStream": "210987654321_CloudTrail_eu-central-1",
		"logEvents": []map[string]any{{"id": "1", "timestamp": time.Now().UnixMilli(), "message": msg}}})
	var zb strings.Builder
	zw := gzip.NewWriter(&zb)
	zw.Write(cwl)
	zw.Close()
	body, _ := json.Marshal(map[string]any{"requestId": "fh-req-1", "timestamp": time.Now().UnixMilli(),
		"records": []map[string]string{{"data": base64.StdEncoding.EncodeToString([]byte(zb.String()))}}})
	resp, err := http.Post(r.url+"/v1/ingest/firehose", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	eventually(t, 10*time.Second, "the finding stored", func() bool {
		fs, err := r.store.Alerts(t.Context(), store.AlertQuery{Since: time.Now().Add(-time.Hour)})
		return err == nil && len(fs) == 1 && fs[0].EventIDs[0] == "fh-e2e-1" && fs[0].Event.Account == "210987654321"
	})
}
