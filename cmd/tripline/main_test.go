package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/store/storetest"
)

// execute runs the CLI with args and returns what it printed.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestHelpIsUseful(t *testing.T) {
	for _, c := range newRoot().Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Short == "" || (c.Long == "" && len(c.Commands()) == 0 && c.Name() != "version") {
			t.Errorf("%s: needs Short and Long help", c.Name())
		}
	}
	out, err := execute(t, "hunt", "--help")
	if err != nil || !strings.Contains(out, "--since") || !strings.Contains(out, "Examples:") || !strings.Contains(out, "0 means no limit") {
		t.Fatalf("hunt --help: %v\n%s", err, out)
	}
	out, err = execute(t, "alerts", "--help")
	if err != nil || !strings.Contains(out, "time of the event") {
		t.Fatalf("alerts --help does not say --since/--until select by event time: %v\n%s", err, out)
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	t.Setenv("TRIPLINE_HTTP_LISTEN", "0.0.0.0:8080")
	_, err := execute(t, "run")
	if err == nil || !strings.Contains(err.Error(), "http.auth_token") {
		t.Fatalf("got %v", err)
	}
}

func TestRulesTestPassesOnThePack(t *testing.T) {
	out, err := execute(t, "rules", "test")
	if err != nil || !strings.Contains(out, " 0 failed") {
		t.Fatalf("rules test: %v\n%s", err, out)
	}
}

// TestHuntAndAlerts stores events and a finding, then queries them back
// through the commands.
func TestHuntAndAlerts(t *testing.T) {
	sc := storetest.Config(t)
	t.Setenv("TRIPLINE_CLICKHOUSE_ADDR", sc.Addr)
	t.Setenv("TRIPLINE_CLICKHOUSE_DATABASE", sc.Database)
	st, err := store.Open(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	var evs []event.Event
	for i, rec := range []string{
		`{"eventName":"AddPermission20150331v2","eventSource":"lambda.amazonaws.com","eventTime":"%s","eventID":"h1","sourceIPAddress":"203.0.113.9","userIdentity":{"arn":"arn:aws:iam::1:user/eve"},"requestParameters":{"functionName":"pay","principal":"*"}}`,
		`{"eventName":"AddPermission20150331v2","eventSource":"lambda.amazonaws.com","eventTime":"%s","eventID":"h2","sourceIPAddress":"10.0.0.1","userIdentity":{"arn":"arn:aws:iam::1:user/ci"},"requestParameters":{"functionName":"pay","principal":"s3.amazonaws.com"}}`,
	} {
		var ev event.Event
		rec = strings.Replace(rec, "%s", now.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339), 1)
		if err := (ingest.CloudTrail{}).Decode([]byte(rec), &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if _, err := st.InsertEvents(t.Context(), evs, false); err != nil {
		t.Fatal(err)
	}
	f := event.Finding{AlertID: event.AlertID("r1", "h1"), Time: evs[0].Time, DetectedAt: now, RuleID: "r1",
		RuleTitle: "Rule one", Summary: "eve opened pay", Severity: "high", EventIDs: []string{"h1"}, Event: evs[0]}
	if _, err := st.InsertAlerts(t.Context(), []event.Finding{f}, true); err != nil {
		t.Fatal(err)
	}

	out, err := execute(t, "hunt", "--since", "1h", `requestParameters.principal == "*"`)
	if err != nil || !strings.Contains(out, "arn:aws:iam::1:user/eve") || strings.Contains(out, "user/ci") || !strings.Contains(out, "(1 of 2 events matched)") {
		t.Fatalf("hunt table: %v\n%s", err, out)
	}
	out, err = execute(t, "hunt", "--since", "1h", "--format", "json", `src_ip startsWith "10."`)
	var got event.Event
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.EventID != "h2" {
		t.Fatalf("hunt json: %v\n%s", err, out)
	}
	if _, err := execute(t, "hunt", "--since", "1h", `eventNmae == "x"`); err == nil || !strings.Contains(err.Error(), "expression 1:1") {
		t.Fatalf("misspelled field: %v", err)
	}
	// --limit stops after that many matches; 0 means no limit.
	both := `eventName startsWith "AddPermission"`
	out, err = execute(t, "hunt", "--since", "1h", "--limit", "1", both)
	if err != nil || !strings.Contains(out, "(1 of 1 events matched (limit reached") {
		t.Fatalf("hunt --limit 1: %v\n%s", err, out)
	}
	out, err = execute(t, "hunt", "--since", "1h", "--limit", "0", both)
	if err != nil || !strings.Contains(out, "(2 of 2 events matched)\n") {
		t.Fatalf("hunt --limit 0: %v\n%s", err, out)
	}
	if _, err := execute(t, "hunt", "--since", "1h", "--limit", "-1", both); err == nil || !strings.Contains(err.Error(), "--limit") {
		t.Fatalf("hunt --limit -1: %v", err)
	}
	out, err = execute(t, "alerts", "--since", "1h")
	if err != nil || !strings.Contains(out, "eve opened pay") || !strings.Contains(out, "(1 alerts)") {
		t.Fatalf("alerts: %v\n%s", err, out)
	}
	if _, err := execute(t, "alerts", "--since", "soon"); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Fatalf("bad --since: %v", err)
	}
}
