package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/backtest"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/store/storetest"
)

const backtestRule = `id: bt-cli-burst
title: AccessDenied burst
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
threshold: {count: 3, window: 10m, by: [userIdentity.arn]}
`

func writeBacktestRule(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "burst.yaml")
	if err := os.WriteFile(path, []byte(backtestRule), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRulesBacktestFlags(t *testing.T) {
	rule := writeBacktestRule(t)
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"rules", "backtest"}, "requires at least 1 arg"},
		{[]string{"rules", "backtest", "--format", "xml", rule}, "--format"},
		{[]string{"rules", "backtest", "--samples", "-1", rule}, "--samples"},
		{[]string{"rules", "backtest", "--top", "0", rule}, "--top"},
		{[]string{"rules", "backtest", "--since", "yesterday", rule}, "--since"},
		{[]string{"rules", "backtest", "--since", "1h", "--until", "2h", rule}, "is not before"},
		{[]string{"rules", "backtest", "--rule", "nope", rule}, "--rule nope: no rule of that id"},
		{[]string{"rules", "backtest", filepath.Join(t.TempDir(), "missing.yaml")}, "missing.yaml"},
	} {
		if _, err := execute(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: error %v, want …%s…", tt.args, err, tt.err)
		}
	}
	out, err := execute(t, "rules", "backtest", "--help")
	if err != nil || !strings.Contains(out, `--since string`) || !strings.Contains(out, `(default "7d")`) || !strings.Contains(out, "straddles") {
		t.Fatalf("rules backtest --help: %v\n%s", err, out)
	}
}

func TestLoadBacktestRulesLeavesOutThePack(t *testing.T) {
	rule := writeBacktestRule(t)
	rs, err := loadBacktestRules([]string{filepath.Dir(rule)}, nil, true, nil)
	if err != nil || len(rs) != 1 || rs[0].ID != "bt-cli-burst" {
		t.Fatalf("got %v, %v; want the file's rule alone", rs, err)
	}
}

// TestRulesBacktest stores a burst and backtests a threshold rule over it
// through the command, in text and JSON.
func TestRulesBacktest(t *testing.T) {
	sc := storetest.Config(t)
	t.Setenv("TRIPLINE_CLICKHOUSE_ADDR", sc.Addr)
	t.Setenv("TRIPLINE_CLICKHOUSE_DATABASE", sc.Database)
	st, err := store.Open(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now().UTC().Truncate(time.Second).Add(-30 * time.Minute)
	var evs []event.Event
	for i := range 4 {
		rec := fmt.Sprintf(`{"eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":"ListRoles","errorCode":"AccessDenied","eventID":"cli-%d","sourceIPAddress":"198.51.100.7","userIdentity":{"arn":"arn:aws:iam::1:user/eve"}}`,
			start.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
		var ev event.Event
		if err := (ingest.CloudTrail{}).Decode([]byte(rec), &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if _, err := st.InsertEvents(t.Context(), evs, false); err != nil {
		t.Fatal(err)
	}
	rule := writeBacktestRule(t)
	out, err := execute(t, "rules", "backtest", "--since", "1h", rule)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"4 events scanned", "1 findings", "bt-cli-burst (threshold, medium)", "arn:aws:iam::1:user/eve", "cli-0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
	out, err = execute(t, "rules", "backtest", "--since", "1h", "--format", "json", rule)
	var rep backtest.Report
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Findings != 1 || rep.Rules[0].Samples[0].Finding.Count != 3 {
		t.Fatalf("json: %v\n%s", err, out)
	}
}
