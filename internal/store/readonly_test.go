package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/testenv"
)

func TestReadsAreReadOnly(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, stmt := range []string{
		"INSERT INTO " + s.table("events") + " (event_id) VALUES ('x')",
		"CREATE TABLE " + s.table("evil") + " (x UInt8) ENGINE = Memory",
		"DROP TABLE " + s.table("events"),
	} {
		err := s.conn.Exec(s.readContext(ctx, time.Minute, 10), stmt)
		var ex *clickhouse.Exception
		if !errors.As(err, &ex) || ex.Code != 164 { // READONLY
			t.Errorf("%s under readContext: err = %v, want code 164 (readonly)", stmt, err)
		}
	}
	checkCounts(t, s, 0)
	// readonly=2 still lets the other settings through, whatever the
	// order clickhouse-go sends them in and with a deadline's
	// max_execution_time added.
	for range 20 {
		if _, _, err := s.CountEvents(ctx); err != nil {
			t.Fatalf("read with settings and deadline: %v", err)
		}
	}
}

// TestReadOnlyUser opens the store as tripline_reader, the read-only user
// of deploy/clickhouse/users.xml.in (profile readonly=2).
func TestReadOnlyUser(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if s.ReadOnly() {
		t.Fatal("default user reported read-only")
	}
	if _, err := s.InsertEvents(ctx, testEvents(0, 5), false); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, Config{Addr: testAddr(), Database: s.Database(), Username: "tripline_reader"})
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && (ex.Code == 192 || ex.Code == 193 || ex.Code == 516) {
		// CI runs `make test`, which starts the server with ch.sh and so
		// with this user: its absence there is a broken setup.
		msg := fmt.Sprintf("server at %s has no user tripline_reader (not started by deploy/clickhouse/ch.sh?): %v", testAddr(), err)
		testenv.SkipOrFail(t, msg)
	}
	if err != nil {
		t.Fatalf("Open as tripline_reader: %v", err)
	}
	defer r.Close()
	if !r.ReadOnly() {
		t.Error("tripline_reader not reported read-only")
	}
	if got := scanAll(t, r, EventQuery{Limit: 10}); len(got) != 5 {
		t.Errorf("reader scanned %d events, want 5", len(got))
	}
	if _, err := r.InsertEvents(ctx, testEvents(10, 1), false); !errors.As(err, &ex) || ex.Code != codeReadonly {
		t.Errorf("reader InsertEvents: err = %v, want code 164 (readonly)", err)
	}
	_, err = Open(ctx, Config{Addr: testAddr(), Database: randomDB(), Username: "tripline_reader"})
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("reader Open of a missing database: err = %v, want a read-only hint", err)
	}
}

func TestEventJSONKeepsRaw(t *testing.T) {
	for _, raw := range []string{
		"{ \"a\" : \"<b>&\" ,\n \"n\": 1.50 }",
		`["x"]`,
		`not json`,
		``,
	} {
		e := testEvent(1)
		e.Message = "<script> & more"
		e.DurationMS = math.NaN()
		e.Raw = json.RawMessage(raw)
		s, err := eventJSON(&e)
		if err != nil {
			t.Fatalf("eventJSON(raw %q): %v", raw, err)
		}
		if strings.Contains(s, `\u003c`) {
			t.Errorf("eventJSON escaped HTML: %s", s)
		}
		var back event.Event
		if err := json.Unmarshal([]byte(s), &back); err != nil {
			t.Fatalf("eventJSON(raw %q) = %s: %v", raw, s, err)
		}
		want := e
		want.DurationMS = 0
		switch raw {
		case `not json`:
			want.Raw = json.RawMessage(`"not json"`)
		case ``:
			want.Raw = json.RawMessage(`null`)
		}
		sameEvent(t, back, want)
	}
}

func TestLimits(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	evs := testEvents(0, 50)
	if _, err := s.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, s, EventQuery{Limit: 3})
	if len(got) != 3 || got[0].EventID != "evt-0" || got[2].EventID != "evt-2" {
		t.Errorf("ScanEvents(Limit 3) = %d events starting %v", len(got), got)
	}
	// max_result_rows is a backstop for a query without LIMIT.
	rows, err := s.conn.Query(s.readContext(ctx, time.Minute, 10), "SELECT event_id FROM "+s.table("events"))
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "imit") {
		t.Errorf("50 rows with max_result_rows=10: err = %v, want a limit error", err)
	}

	var fs []event.Finding
	for i := range 5 {
		fs = append(fs, testFinding(i, "r1"))
	}
	if _, err := s.InsertAlerts(ctx, fs, false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Alerts(ctx, AlertQuery{Limit: 2}); err != nil || len(got) != 2 {
		t.Errorf("Alerts(Limit 2) = %d alerts, %v", len(got), err)
	}
}
