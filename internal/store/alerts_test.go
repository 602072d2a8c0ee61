package store

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// sameFinding compares findings, times by instant.
func sameFinding(t *testing.T, got, want event.Finding) {
	t.Helper()
	if !got.Time.Equal(want.Time) || !got.DetectedAt.Equal(want.DetectedAt) {
		t.Errorf("alert %s: times %v, %v, want %v, %v", want.AlertID, got.Time, got.DetectedAt, want.Time, want.DetectedAt)
	}
	sameEvent(t, got.Event, want.Event)
	got.Time, got.DetectedAt, got.Event = time.Time{}, time.Time{}, event.Event{}
	want.Time, want.DetectedAt, want.Event = time.Time{}, time.Time{}, event.Event{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alert round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestAlertsRoundTrip(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	fs := []event.Finding{testFinding(1, "aws_lambda_code_update"), testFinding(2, "aws_lambda_code_update"), testFinding(3, "k8s_exec")}
	fs[2].Tags = nil
	fs[2].Event.Raw = json.RawMessage(`not json at all`)
	n, err := s.InsertAlerts(ctx, fs, false)
	if err != nil || n != 3 {
		t.Fatalf("InsertAlerts = %d, %v, want 3", n, err)
	}

	got, err := s.Alerts(ctx, AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Alerts returned %d, want 3", len(got))
	}
	// Newest first. A Raw that is not JSON comes back as a JSON string.
	quoted, _ := json.Marshal(string(fs[2].Event.Raw))
	want := fs[2]
	want.Event.Raw = quoted
	sameFinding(t, got[0], want)
	sameFinding(t, got[1], fs[1])
	sameFinding(t, got[2], fs[0])

	byRule, err := s.Alerts(ctx, AlertQuery{RuleID: "k8s_exec"})
	if err != nil || len(byRule) != 1 || byRule[0].AlertID != fs[2].AlertID {
		t.Errorf("Alerts(RuleID k8s_exec) = %v, %v", byRule, err)
	}
	inRange, err := s.Alerts(ctx, AlertQuery{Since: fs[1].Time, Until: fs[2].Time})
	if err != nil || len(inRange) != 1 || inRange[0].AlertID != fs[1].AlertID {
		t.Errorf("Alerts(Since, Until) = %v, %v, want only %s", inRange, err, fs[1].AlertID)
	}
}

func TestAlertsRedelivery(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	fs := []event.Finding{testFinding(1, "r"), testFinding(2, "r")}
	if n, err := s.InsertAlerts(ctx, fs, false); err != nil || n != 2 {
		t.Fatalf("InsertAlerts = %d, %v", n, err)
	}
	again := append(fs, testFinding(3, "r"), testFinding(3, "r"))
	n, err := s.InsertAlerts(ctx, again, true)
	if err != nil || n != 1 {
		t.Fatalf("redelivered InsertAlerts = %d, %v, want 1 new", n, err)
	}
	var rows, distinct uint64
	q := "SELECT count(), uniqExact(alert_id) FROM " + s.table("alerts")
	if err := s.conn.QueryRow(ctx, q).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != 3 || distinct != 3 {
		t.Errorf("alerts: count() = %d, uniqExact(alert_id) = %d, want 3", rows, distinct)
	}

	// A duplicate row that bypassed the check (checkExisting false) is
	// still returned once.
	if _, err := s.InsertAlerts(ctx, fs[:1], false); err != nil {
		t.Fatal(err)
	}
	got, err := s.Alerts(ctx, AlertQuery{})
	if err != nil || len(got) != 3 {
		t.Errorf("Alerts with an unmerged duplicate = %d alerts, %v, want 3", len(got), err)
	}
}
