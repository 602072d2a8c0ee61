package backtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/internal/backtest"
	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/loadgen"
	"github.com/tripline/tripline/internal/pipeline"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/store/storetest"
)

// acceptanceRules are a threshold rule and a stateless rule over
// CloudTrail.
const acceptanceRules = `id: bt-denied-burst
title: AccessDenied burst
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
threshold: {count: 10, window: 10m, by: [userIdentity.arn]}
---
id: bt-lambda-public
title: Lambda function opened to any principal
severity: high
source: cloudtrail
when: eventName startsWith "AddPermission" and requestParameters.principal == "*"
summary: "{{ actor }} opened {{ requestParameters.functionName }}"
`

// acceptanceDay builds yesterday's (UTC) CloudTrail records: 3,000
// benign load-generator records about 29s apart, one in 500 an attack the
// stateless rule finds, plus AccessDenied events of four roles: a burst of
// 25 in 4 minutes (two findings of 10, 5 left over), a near miss of 9 in
// 8 minutes, 12 spread 2 minutes apart (never 10 in 10 minutes) and 10
// spanning 10m10s (just outside the window). Every event has its own
// second, so the order of events is the same however ties would be
// broken.
func acceptanceDay(day time.Time) (records []string, attacks int) {
	used := map[int64]bool{}
	at := func(t time.Time) time.Time {
		for used[t.Unix()] {
			t = t.Add(time.Second)
		}
		used[t.Unix()] = true
		return t
	}
	g := loadgen.New("bt", 7)
	for i := range 3000 {
		attack := i%500 == 250
		rec, _ := g.Record(at(day.Add(time.Duration(i)*28800*time.Millisecond)), attack)
		records = append(records, string(rec))
		if attack {
			attacks++
		}
	}
	denied := func(role string, n int, start time.Time, every time.Duration) {
		for i := range n {
			t := at(start.Add(time.Duration(i) * every))
			records = append(records, fmt.Sprintf(`{"eventVersion":"1.09","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":"ListRoles","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","errorCode":"AccessDenied","errorMessage":"not authorized","eventID":"bt-%s-%02d","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"123456789012","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/%s/s"}}`,
				t.Format(time.RFC3339), role, i, role))
		}
	}
	denied("burst", 25, day.Add(10*time.Hour+3*time.Second), 10*time.Second)
	denied("near-miss", 9, day.Add(14*time.Hour+5*time.Second), time.Minute)
	denied("spread", 12, day.Add(16*time.Hour+7*time.Second), 2*time.Minute)
	denied("edge", 10, day.Add(20*time.Hour+9*time.Second), 67*time.Second+800*time.Millisecond)
	return records, attacks
}

// TestBacktestEqualsLivePipeline runs the whole live pipeline (ingest,
// detect, the state stage, store) over a day of CloudTrail events, then
// backtests the same rules over the events it stored in ClickHouse: the
// findings are the same, to the alert id, count, group key, first and
// last seen, event ids and summary.
func TestBacktestEqualsLivePipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline and ClickHouse")
	}
	sc := storetest.Config(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(acceptanceRules), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.NATS.Listen = ""
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = sc.Addr, sc.Database
	cfg.Store.FlushInterval = 50 * time.Millisecond
	cfg.Rules.Paths, cfg.Rules.Builtin = []string{dir}, false
	// The detect stage's two workers may publish the matches of two
	// event batches (hours of this day each) in either order, which with
	// the default lateness (2m) would drop the later-published earlier
	// matches as late: the live pipeline is exact only for matches
	// within the lateness of each other. A lateness over the day makes
	// its result the in-order result, whatever the batches' order.
	cfg.Detect.Lateness = 25 * time.Hour
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(ctx, cfg, pipeline.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready: func(a net.Addr) { addrc <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	})
	var url string
	select {
	case a := <-addrc:
		url = "http://" + a.String()
	case err := <-done:
		t.Fatalf("pipeline did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not start")
	}

	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	records, attacks := acceptanceDay(day)
	slices.SortFunc(records, func(a, b string) int { return strings.Compare(eventTime(t, a), eventTime(t, b)) })
	for chunk := range slices.Chunk(records, 1000) {
		resp, err := http.Post(url+"/v1/ingest/cloudtrail", "application/x-ndjson", strings.NewReader(strings.Join(chunk, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("ingest: %d %s", resp.StatusCode, b)
		}
	}

	st, err := store.Open(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wantFindings := attacks + 2
	var live []event.Finding
	eventually(t, 60*time.Second, "every event and the findings stored", func() bool {
		n, _, err := st.CountEvents(t.Context())
		if err != nil || n != uint64(len(records)) {
			return false
		}
		live, err = st.Alerts(t.Context(), store.AlertQuery{Since: day.Add(-time.Hour)})
		return err == nil && len(live) >= wantFindings
	})
	time.Sleep(2 * time.Second) // a wrong extra finding would have come by now
	if live, err = st.Alerts(t.Context(), store.AlertQuery{Since: day.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}

	rules, _, errs := detect.LoadSet(nil, []string{dir})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, lateness := range []time.Duration{cfg.Detect.Lateness, 2 * time.Minute} {
		var got []event.Finding
		rep, err := backtest.Run(t.Context(), st, backtest.Config{Rules: rules, Since: day, Until: day.Add(24 * time.Hour),
			Lateness: lateness, OnFinding: func(f event.Finding) { got = append(got, f) }})
		if err != nil {
			t.Fatal(err)
		}
		if diff := diffFindings(live, got); diff != "" {
			t.Fatalf("lateness %s: backtest findings differ from the live pipeline's:\n%s", lateness, diff)
		}
		if rep.Events != int64(len(records)) || rep.Findings != wantFindings {
			t.Fatalf("lateness %s: report: %d events, %d findings; want %d, %d", lateness, rep.Events, rep.Findings, len(records), wantFindings)
		}
		burst := rep.Rules[0]
		if burst.ID != "bt-denied-burst" || burst.Findings != 2 || burst.Matches != 25+9+12+10 ||
			len(burst.TopKeys) != 1 || burst.TopKeys[0] != (backtest.Count{Value: "arn:aws:sts::123456789012:assumed-role/burst/s", Findings: 2, Events: 20}) ||
			len(burst.Samples) != 2 || len(burst.Samples[0].Events) != 10 {
			t.Fatalf("lateness %s: burst rule report: %+v", lateness, burst)
		}
		t.Logf("lateness %s: %d events, %d findings (%d live) in %s", lateness, rep.Events, rep.Findings, len(live), rep.Elapsed)
	}
}

func eventTime(t *testing.T, rec string) string {
	var v struct {
		EventTime string `json:"eventTime"`
	}
	if err := json.Unmarshal([]byte(rec), &v); err != nil {
		t.Fatal(err)
	}
	return v.EventTime
}

// diffFindings compares the findings stored by the live pipeline with the
// backtest's (a dedup update replacing the finding it updates), by alert
// id; it returns "" when they are the same.
func diffFindings(live, got []event.Finding) string {
	type view struct {
		Rule, Key, Summary string
		Time, First, Last  string
		Count              int
		EventIDs           []string
	}
	see := func(fs []event.Finding) map[string]view {
		out := map[string]view{}
		for _, f := range fs {
			v := view{Rule: f.RuleID, Key: f.GroupKey, Summary: f.Summary, Time: f.Time.UTC().Format(time.RFC3339Nano), Count: f.Count, EventIDs: f.EventIDs}
			if f.Count > 0 { // the store keeps seconds
				v.First, v.Last = f.FirstSeen.UTC().Truncate(time.Second).String(), f.LastSeen.UTC().Truncate(time.Second).String()
			}
			if old, ok := out[f.AlertID]; !ok || v.Count >= old.Count {
				out[f.AlertID] = v
			}
		}
		return out
	}
	a, b := see(live), see(got)
	var diff []string
	for id, v := range a {
		if w, ok := b[id]; !ok {
			diff = append(diff, fmt.Sprintf("live only: %s %+v", id, v))
		} else if fmt.Sprint(v) != fmt.Sprint(w) {
			diff = append(diff, fmt.Sprintf("%s: live %+v, backtest %+v", id, v, w))
		}
	}
	for id, w := range b {
		if _, ok := a[id]; !ok {
			diff = append(diff, fmt.Sprintf("backtest only: %s %+v", id, w))
		}
	}
	slices.Sort(diff)
	if len(live) == 0 {
		diff = append(diff, "no live findings")
	}
	return strings.Join(diff, "\n")
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
