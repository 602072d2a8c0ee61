package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
)

// TestStatefulEndToEnd loads a threshold rule from a user rule file and
// posts CloudTrail AccessDenied events of two roles: the role with five
// denials in the window raises one finding naming it, stored in
// ClickHouse and posted to Slack; the role with two raises none.
func TestStatefulEndToEnd(t *testing.T) {
	dir := t.TempDir()
	rule := `id: test-denied-burst
title: AccessDenied burst
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
threshold: {count: 5, window: 10m, by: [userIdentity.arn]}
`
	if err := os.WriteFile(filepath.Join(dir, "burst.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startWith(t, "webhook", func(c *config.Config) {
		c.Rules.Paths = []string{dir}
		c.Rules.Builtin = false
	})
	now := time.Now().UTC().Truncate(time.Second)
	var lines []string
	denied := func(id, arn string, at time.Time) string {
		return fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":"ListRoles","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","errorCode":"AccessDenied","eventID":%q,"recipientAccountId":"123456789012","userIdentity":{"type":"AssumedRole","arn":%q}}`,
			at.Format(time.RFC3339), id, arn)
	}
	for i := range 5 {
		lines = append(lines, denied(fmt.Sprintf("fn-%d", i), "arn:aws:sts::123456789012:assumed-role/orders-fn/orders", now.Add(time.Duration(i)*time.Second)))
	}
	for i := range 2 {
		lines = append(lines, denied(fmt.Sprintf("ci-%d", i), "arn:aws:sts::123456789012:assumed-role/ci/deploy", now.Add(time.Duration(i)*time.Second)))
	}
	r.post(t, strings.Join(lines, "\n"))
	var alerts []event.Finding
	eventually(t, 30*time.Second, "the burst finding stored in ClickHouse", func() bool {
		var err error
		alerts, err = r.store.Alerts(t.Context(), store.AlertQuery{Since: now.Add(-time.Hour)})
		return err == nil && len(alerts) > 0
	})
	if len(alerts) != 1 || alerts[0].RuleID != "test-denied-burst" || len(alerts[0].EventIDs) != 5 ||
		!strings.Contains(alerts[0].Summary, "assumed-role/orders-fn/orders") {
		t.Fatalf("alerts = %+v", alerts)
	}
	eventually(t, 10*time.Second, "the finding posted to Slack", func() bool { return len(r.slack.Posts()) == 1 })
}
