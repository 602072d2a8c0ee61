package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/bus/bustest"
	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/store/storetest"
)

// TestDedupEndToEnd loads a dedup rule with a summary and posts the
// denials of two roles in three requests, each stored before the next:
// each role gets one Slack message, and the alerts table ends with one row
// per role (FINAL, merges stopped) whose count is the role's number of
// denials and whose summary, rendered from the rule's template, says so.
func TestDedupEndToEnd(t *testing.T) {
	dir := t.TempDir()
	rule := `id: test-denied-dedup
title: AccessDenied
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
dedup: {key: userIdentity.arn, period: 1h}
summary: "{{ group.key }} denied {{ group.count }} times, last {{ eventName }}"
`
	if err := os.WriteFile(filepath.Join(dir, "dedup.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	// The pipeline's database, to query it with FINAL.
	sc := storetest.Config(t)
	r := startWith(t, "webhook", func(c *config.Config) {
		c.Rules.Paths = []string{dir}
		c.Rules.Builtin = false
		c.ClickHouse.Addr, c.ClickHouse.Database = sc.Addr, sc.Database
	})
	st, err := store.Open(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	storetest.StopMerges(t, sc, "alerts")

	const orders, ci = "arn:aws:sts::123456789012:assumed-role/orders-fn/orders", "arn:aws:sts::123456789012:assumed-role/ci/deploy"
	now := time.Now().UTC().Truncate(time.Second)
	n := 0
	denied := func(arn, name string) string {
		n++
		return fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","errorCode":"AccessDenied","eventID":"e-%d","recipientAccountId":"123456789012","userIdentity":{"type":"AssumedRole","arn":%q}}`,
			now.Add(time.Duration(n)*time.Second).Format(time.RFC3339), name, n, arn)
	}
	want := map[string]int{orders: 0, ci: 0}
	var alerts []event.Finding
	for i, batch := range [][]string{{orders, orders, orders, ci}, {orders, orders}, {orders, ci, orders}} {
		var lines []string
		for _, arn := range batch {
			lines = append(lines, denied(arn, fmt.Sprintf("Call%d", i)))
			want[arn]++
		}
		r.post(t, strings.Join(lines, "\n"))
		// Stored before the next request: its matches come as updates.
		eventually(t, 30*time.Second, fmt.Sprintf("the counts of request %d stored", i+1), func() bool {
			alerts, err = st.Alerts(t.Context(), store.AlertQuery{Since: now.Add(-time.Hour)})
			return err == nil && len(alerts) == 2 && alerts[0].Count+alerts[1].Count == want[orders]+want[ci]
		})
	}
	for _, a := range alerts {
		if a.Count != want[a.GroupKey] || a.Summary != fmt.Sprintf("%s denied %d times, last Call2", a.GroupKey, a.Count) {
			t.Errorf("alert %s: key %s, count %d, summary %q; want count %d", a.AlertID, a.GroupKey, a.Count, a.Summary, want[a.GroupKey])
		}
	}

	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{sc.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var (
		rows, all uint64
		counts    []uint32
	)
	if err := conn.QueryRow(t.Context(), "SELECT count(), groupArray(count) FROM (SELECT count FROM "+sc.Database+".alerts FINAL ORDER BY count DESC)").Scan(&rows, &counts); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), "SELECT count() FROM "+sc.Database+".alerts").Scan(&all); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || len(counts) != 2 || int(counts[0]) != want[orders] || int(counts[1]) != want[ci] {
		t.Errorf("alerts FINAL: %d rows, counts %v; want 2 rows, counts %d and %d", rows, counts, want[orders], want[ci])
	}
	if all <= rows {
		t.Errorf("alerts without FINAL: %d rows; want the updates stored as rows of their own (merges are stopped)", all)
	}
	t.Logf("alerts: %d rows before merging, %d after", all, rows)

	eventually(t, 10*time.Second, "one Slack message per role", func() bool { return len(r.slack.Posts()) >= 2 })
	time.Sleep(time.Second) // nothing more comes
	if posts := r.slack.Posts(); len(posts) != 2 {
		t.Errorf("%d Slack messages, want 2: %+v", len(posts), posts)
	}
}

// TestPublishUpdates: each state of a finding is one message on the bus:
// an update gets through the duplicate window that drops a repeat of the
// original, and a repeat of the same update is dropped.
func TestPublishUpdates(t *testing.T) {
	b := bustest.Open(t)
	state := func(count int) event.Finding {
		return event.Finding{AlertID: "a1", RuleID: "r", Severity: "low", Count: count, Update: count > 1}
	}
	for _, fs := range [][]event.Finding{{state(1), state(3)}, {state(1), state(3), state(5)}} {
		if err := b.PublishFindings(t.Context(), fs); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.JS.Stream(t.Context(), bus.FindingsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var counts []int
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		f, err := event.UnmarshalFinding(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, f.Count)
	}
	if fmt.Sprint(counts) != "[1 3 5]" {
		t.Errorf("counts on the bus %v, want [1 3 5]", counts)
	}
}
