package store

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestAlertsUpdates: a dedup finding's updates (same alert id and time, a
// larger count) replace it; a stale or redelivered update is dropped; the
// table keeps one row per alert, the largest count, merged or not.
func TestAlertsUpdates(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	state := func(count int) event.Finding {
		f := testFinding(1, "dedup")
		f.GroupKey, f.Count, f.FirstSeen = "eve", count, f.Time.Truncate(time.Second) // first_seen has seconds
		f.LastSeen = f.Time.Add(time.Duration(count) * time.Second).Truncate(time.Second)
		f.Update = count > 1
		f.Summary = fmt.Sprintf("eve did it %d times", count)
		return f
	}
	steps := []struct {
		in   []event.Finding
		want int // rows written
	}{
		{[]event.Finding{state(1)}, 1},
		{[]event.Finding{state(3)}, 1},
		{[]event.Finding{state(2)}, 0},           // stale: written after 3
		{[]event.Finding{state(3)}, 0},           // redelivered
		{[]event.Finding{state(1)}, 0},           // the original, redelivered
		{[]event.Finding{state(5), state(4)}, 1}, // one batch: the largest
	}
	for i, st := range steps {
		n, err := s.InsertAlerts(ctx, st.in, true)
		if err != nil || n != st.want {
			t.Fatalf("step %d: InsertAlerts = %d, %v, want %d", i, n, err, st.want)
		}
	}
	got, err := s.Alerts(ctx, AlertQuery{})
	if err != nil || len(got) != 1 {
		t.Fatalf("Alerts = %v, %v, want one", got, err)
	}
	want := state(5)
	want.Update = false // not stored: the row is the alert's latest state
	sameFinding(t, got[0], want)

	// Even an older state written without the check loses to the largest
	// count, merged (FINAL) or not.
	if _, err := s.InsertAlerts(ctx, []event.Finding{state(4)}, false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Alerts(ctx, AlertQuery{}); err != nil || len(got) != 1 || got[0].Count != 5 {
		t.Errorf("Alerts with an older state unmerged = %+v, %v", got, err)
	}
	var (
		rows  uint64
		count uint32
	)
	q := "SELECT count(), max(count) FROM " + s.table("alerts") + " FINAL"
	if err := s.conn.QueryRow(ctx, q).Scan(&rows, &count); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || count != 5 {
		t.Errorf("FINAL: %d rows, count %d, want 1 row of count 5", rows, count)
	}
}
