package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
)

func TestOpenRejectsBadDatabaseName(t *testing.T) {
	for _, db := range []string{"a-b", "x; DROP DATABASE y", "1abc", "a`b", strings.Repeat("a", 65)} {
		if _, err := Open(context.Background(), Config{Database: db}); err == nil || !strings.Contains(err.Error(), "not an identifier") {
			t.Errorf("Open(%q) = %v, want an identifier error", db, err)
		}
	}
}

func TestSplitTime(t *testing.T) {
	for _, tc := range []struct {
		in        time.Time
		sec       int64
		nsec      uint32
		roundTrip bool
	}{
		{time.Time{}, 0, 0, true},
		{time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC), 1714557600, 123456789, true},
		{time.Date(1960, 1, 1, 0, 0, 0, 5, time.UTC), 0, 0, false},
		{time.Date(2200, 1, 1, 0, 0, 0, 5, time.UTC), 1<<32 - 1, 0, false},
	} {
		sec, nsec := splitTime(tc.in)
		if sec != tc.sec || nsec != tc.nsec {
			t.Errorf("splitTime(%v) = %d, %d, want %d, %d", tc.in, sec, nsec, tc.sec, tc.nsec)
		}
		if back := joinTime(time.Unix(sec, 0), nsec); tc.roundTrip && !back.Equal(tc.in) {
			t.Errorf("joinTime(splitTime(%v)) = %v", tc.in, back)
		}
	}
}

func TestOpenIsIdempotentAndAddsMissingColumns(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	// A table from an older Tripline without the message column.
	if err := s.conn.Exec(ctx, "ALTER TABLE "+s.table("events")+" DROP COLUMN message"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s2, err := Open(ctx, Config{Addr: testAddr(), Database: s.Database()})
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		s2.Close()
	}
	rows, err := s.conn.Query(ctx, "SELECT name FROM system.columns WHERE database = ? AND table = 'events'", s.Database())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if want := strings.Split(eventsTable.names(), ", "); !reflect.DeepEqual(got, want) {
		t.Errorf("columns after migration:\n got %v\nwant %v", got, want)
	}
	if v := s.ServerVersion(); !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Errorf("ServerVersion() = %q, want major.minor.patch", v)
	}
	t.Logf("server version %s", s.ServerVersion())
}

// sameEvent compares events, times by instant.
func sameEvent(t *testing.T, got, want event.Event) {
	t.Helper()
	if !got.Time.Equal(want.Time) || !got.IngestedAt.Equal(want.IngestedAt) {
		t.Errorf("event %s: times %v, %v, want %v, %v", want.EventID, got.Time, got.IngestedAt, want.Time, want.IngestedAt)
	}
	got.Time, want.Time, got.IngestedAt, want.IngestedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event round trip:\n got %+v\nwant %+v", got, want)
	}
}

func scanAll(t *testing.T, s *Store, q EventQuery) []event.Event {
	t.Helper()
	var out []event.Event
	if err := s.ScanEvents(context.Background(), q, func(e event.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("ScanEvents(%+v): %v", q, err)
	}
	return out
}

func TestEventsRoundTrip(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	evs := testEvents(0, 30)
	evs[3].ErrorCode, evs[3].Outcome, evs[3].StatusCode = "AccessDenied", event.OutcomeFailure, 403
	evs[4].Raw = json.RawMessage(`"a line with 'quotes', \\ and \u0000 in it"`)
	evs[5].IngestedAt = time.Time{}
	evs[6].Message = "multi\nline 'message' with \\backslash and ünïcode"
	for i := range evs {
		if !json.Valid(evs[i].Raw) {
			t.Fatalf("test event %d: Raw is not JSON", i)
		}
	}
	n, err := s.InsertEvents(ctx, evs, false)
	if err != nil || n != len(evs) {
		t.Fatalf("InsertEvents = %d, %v, want %d", n, err, len(evs))
	}

	got := scanAll(t, s, EventQuery{})
	if len(got) != len(evs) {
		t.Fatalf("ScanEvents returned %d events, want %d", len(got), len(evs))
	}
	for i := range evs { // testEvent times increase with i
		sameEvent(t, got[i], evs[i])
	}

	// Sub-second bounds: [evs[10].Time, evs[20].Time), cloudtrail only.
	q := EventQuery{Since: evs[10].Time, Until: evs[20].Time, Sources: []string{"cloudtrail"}}
	var wantIDs, gotIDs []string
	for _, e := range evs[10:20] {
		if e.Source == "cloudtrail" {
			wantIDs = append(wantIDs, e.EventID)
		}
	}
	for _, e := range scanAll(t, s, q) {
		gotIDs = append(gotIDs, e.EventID)
	}
	if !reflect.DeepEqual(gotIDs, wantIDs) {
		t.Errorf("ScanEvents(%+v) = %v, want %v", q, gotIDs, wantIDs)
	}

	// A source name that is an injection attempt is only a value.
	if got := scanAll(t, s, EventQuery{Sources: []string{"x') OR 1=1 --", `\'`}}); len(got) != 0 {
		t.Errorf("hostile source matched %d events", len(got))
	}

	// fn's error stops the scan and comes back as is.
	stop := errors.New("stop")
	calls := 0
	err = s.ScanEvents(ctx, EventQuery{}, func(event.Event) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ScanEvents with failing fn = %v after %d calls, want stop after 1", err, calls)
	}
}

func checkCounts(t *testing.T, s *Store, want uint64) {
	t.Helper()
	rows, distinct, err := s.CountEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rows != want || distinct != want {
		t.Errorf("count() = %d, uniqExact(event_id) = %d, want %d", rows, distinct, want)
	}
}

func TestRedeliveryInsertsNoDuplicate(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	first := testEvents(0, 1000)
	if n, err := s.InsertEvents(ctx, first, false); err != nil || n != 1000 {
		t.Fatalf("InsertEvents = %d, %v", n, err)
	}
	// The redelivered batch overlaps the stored one and adds 500 events.
	again := testEvents(500, 1000)
	n, err := s.InsertEvents(ctx, again, true)
	if err != nil || n != 500 {
		t.Fatalf("redelivered InsertEvents = %d, %v, want 500 new", n, err)
	}
	n, err = s.InsertEvents(ctx, again, true)
	if err != nil || n != 0 {
		t.Fatalf("second redelivery InsertEvents = %d, %v, want 0", n, err)
	}
	checkCounts(t, s, 1500)
}

func TestDuplicateIDsWithinBatch(t *testing.T) {
	s := openTest(t)
	evs := testEvents(0, 10)
	evs = append(evs, evs[2], evs[7], evs[2])
	noID := testEvent(100)
	noID.EventID = ""
	evs = append(evs, noID, noID)
	n, err := s.InsertEvents(context.Background(), evs, false)
	if err != nil || n != 11 {
		t.Fatalf("InsertEvents = %d, %v, want 11", n, err)
	}
	checkCounts(t, s, 11)
	want := event.ContentID(noID.Source, noID.Raw)
	found := false
	for _, e := range scanAll(t, s, EventQuery{}) {
		found = found || e.EventID == want
	}
	if !found {
		t.Errorf("event without id not stored under its content id %s", want)
	}
}

// TestChunkedInsertIsOnePart checks that InsertEvents' blocks of
// insertChunk rows end up in a single part: the server squashes the blocks
// of one INSERT, so chunking costs no extra parts (and merges).
func TestChunkedInsertIsOnePart(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	n := 2*insertChunk + insertChunk/2
	if got, err := s.InsertEvents(ctx, testEvents(0, n), false); err != nil || got != n {
		t.Fatalf("InsertEvents = %d, %v, want %d", got, err, n)
	}
	checkCounts(t, s, uint64(n))
	var parts uint64 // active or not: a merge would leave its sources behind
	q := "SELECT count() FROM system.parts WHERE database = ? AND table = 'events'"
	if err := s.conn.QueryRow(ctx, q, s.Database()).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts != 1 {
		t.Errorf("one InsertEvents of %d rows made %d parts, want 1", n, parts)
	}
}

func testFinding(i int, rule string) event.Finding {
	ev := testEvent(i)
	ids := []string{ev.EventID, fmt.Sprintf("evt-prev-%d", i)}
	return event.Finding{
		AlertID:    event.AlertID(rule, ids...),
		Time:       ev.Time,
		DetectedAt: ev.Time.Add(2*time.Second + 345*time.Microsecond),
		RuleID:     rule,
		RuleTitle:  "Lambda code updated by " + rule,
		Summary:    fmt.Sprintf("%s updated %s from %s", ev.Actor, ev.Target, ev.SrcIP),
		Severity:   "high",
		Tags:       []string{"attack.persistence", "attack.t1525"},
		EventIDs:   ids,
		Event:      ev,
	}
}
