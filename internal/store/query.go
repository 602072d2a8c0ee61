package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tripline/tripline/internal/event"
)

// Limits of the read side (hunt, alerts).
const (
	// DefaultAlertLimit is the number of alerts Alerts returns when
	// AlertQuery.Limit is 0; MaxAlertLimit caps larger limits.
	DefaultAlertLimit = 1000
	MaxAlertLimit     = 100_000

	// Server-side limits sent with every read. max_execution_time is
	// replaced by clickhouse-go with the context's deadline (+5s) when
	// the context has one.
	scanMaxExecution   = 30 * time.Minute
	alertsMaxExecution = time.Minute
	readMaxMemory      = 2 << 30
	readExternalSort   = 512 << 20
)

// readContext marks a query as a read: readonly=2 (no INSERT, ALTER or
// DDL) and resource limits.
//
// readonly=2 rather than 1: both block writes on 18.16 over the native
// protocol, but 1 also forbids changing settings, and whether the other
// settings of the same query still apply then depends on the order the
// server applies them in (clickhouse-go sends a map, in random order, and
// adds max_execution_time for a context with a deadline). Our SQL text is
// our own, so 1's ban on SETTINGS clauses adds nothing. For a user that is
// read-only by profile the setting is left out: the server refuses to
// change it.
//
// Every value is an int: against servers before 19.x clickhouse-go can
// encode only int and bool settings, so string settings such as
// result_overflow_mode are out; limits are SQL LIMIT clauses, with
// max_result_rows (overflow mode throw) as a backstop.
func (s *Store) readContext(ctx context.Context, maxExec time.Duration, limit int) context.Context {
	settings := clickhouse.Settings{
		"max_execution_time":             int(maxExec / time.Second),
		"max_memory_usage":               readMaxMemory,
		"max_bytes_before_external_sort": readExternalSort,
	}
	if s.readonly == 0 {
		settings["readonly"] = 2
	}
	if limit > 0 {
		settings["max_result_rows"] = limit
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(settings))
}

// EventQuery selects events for ScanEvents.
type EventQuery struct {
	// Since (inclusive) and Until (exclusive) bound the event time; a
	// zero value leaves that side open.
	Since, Until time.Time
	// Sources restricts the scan to these sources; empty means all.
	Sources []string
	// Limit caps the number of events; 0 means no limit.
	Limit int
}

// AlertQuery selects alerts for Alerts.
type AlertQuery struct {
	// Since (inclusive) and Until (exclusive) bound the alert time; a
	// zero value leaves that side open.
	Since, Until time.Time
	// RuleID restricts the result to one rule; empty means all.
	RuleID string
	// Limit caps the number of alerts: 0 means DefaultAlertLimit, and
	// more than MaxAlertLimit means MaxAlertLimit.
	Limit int
}

// timeRange appends the SQL conditions and arguments for [since, until) on
// a DateTime column col with its nanosecond column nsecCol. The coarse
// seconds comparison comes first so partition pruning and the primary key
// apply.
func timeRange(conds []string, args []any, col, nsecCol string, since, until time.Time) ([]string, []any) {
	if !since.IsZero() {
		sec, nsec := splitTime(since)
		conds = append(conds, fmt.Sprintf("%[1]s >= toDateTime(?) AND (%[1]s > toDateTime(?) OR %[2]s >= ?)", col, nsecCol))
		args = append(args, sec, sec, nsec)
	}
	if !until.IsZero() {
		sec, nsec := splitTime(until)
		conds = append(conds, fmt.Sprintf("%[1]s <= toDateTime(?) AND (%[1]s < toDateTime(?) OR %[2]s < ?)", col, nsecCol))
		args = append(args, sec, sec, nsec)
	}
	return conds, args
}

func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// ScanEvents streams the events matching q to fn, ordered by time (then
// event id), rebuilding each event.Event with its Raw. It stops at the
// first error fn returns and returns that error. The query runs read-only.
func (s *Store) ScanEvents(ctx context.Context, q EventQuery, fn func(event.Event) error) error {
	conds, args := timeRange(nil, nil, "time", "time_nsec", q.Since, q.Until)
	if len(q.Sources) > 0 {
		set := make([]any, len(q.Sources))
		for i, src := range q.Sources {
			set[i] = src
		}
		conds = append(conds, "source IN ?")
		args = append(args, clickhouse.GroupSet{Value: set})
	}
	sql := fmt.Sprintf("SELECT %s FROM %s%s ORDER BY time, time_nsec, event_id",
		eventsTable.names(), s.table(eventsTable.name), where(conds))
	limit := max(q.Limit, 0)
	if limit > 0 {
		sql += fmt.Sprintf(" LIMIT %d", limit)
	}

	return s.streamEvents(s.readContext(ctx, scanMaxExecution, limit), "scan", sql, args, fn)
}

// streamEvents runs a query selecting eventsTable.names() in ctx (a
// readContext) and hands each event, rebuilt with its Raw, to fn; what
// names the operation in errors.
func (s *Store) streamEvents(ctx context.Context, what, query string, args []any, fn func(event.Event) error) error {
	// Cancelling stops the server: rows.Close alone would drain the stream.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("clickhouse: %s %s.events: %w", what, s.db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e              event.Event
			t, ing         time.Time
			tNsec, ingNsec uint32
			status         int32
		)
		if err := rows.Scan(&t, &tNsec, &e.Source, &e.EventID, &e.Account, &e.Region, &e.Service,
			&e.Actor, &e.SrcIP, &e.UserAgent, &e.Action, &e.Target, &e.Outcome, &status,
			&e.ErrorCode, &e.BytesOut, &e.DurationMS, &e.Message, &ing, &ingNsec, &e.Raw); err != nil {
			return fmt.Errorf("clickhouse: %s %s.events: %w", what, s.db, err)
		}
		e.Time, e.IngestedAt = joinTime(t, tNsec), joinTime(ing, ingNsec)
		e.StatusCode = int(status)
		if len(e.Raw) == 0 {
			e.Raw = nil
		}
		if err := fn(e); err != nil {
			cancel()
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("clickhouse: %s %s.events: %w", what, s.db, err)
	}
	return nil
}

// Alerts returns the alerts matching q, newest first, each alert once even
// if a duplicate row or an older state of it (a dedup update's smaller
// count) has not been merged away yet. The query runs read-only.
func (s *Store) Alerts(ctx context.Context, q AlertQuery) ([]event.Finding, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultAlertLimit
	case limit > MaxAlertLimit:
		limit = MaxAlertLimit
	}
	conds, args := timeRange(nil, nil, "time", "time_nsec", q.Since, q.Until)
	if q.RuleID != "" {
		conds = append(conds, "rule_id = ?")
		args = append(args, q.RuleID)
	}
	sql := fmt.Sprintf("SELECT %s FROM %s%s ORDER BY time DESC, time_nsec DESC, alert_id, count DESC LIMIT 1 BY alert_id LIMIT %d",
		alertsTable.names(), s.table(alertsTable.name), where(conds), limit)
	rows, err := s.conn.Query(s.readContext(ctx, alertsMaxExecution, limit), sql, args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: query %s.alerts: %w", s.db, err)
	}
	defer rows.Close()
	var out []event.Finding
	for rows.Next() {
		var (
			f                        event.Finding
			t, det                   time.Time
			tNsec, detNsec           uint32
			actor, ip, acct, reg, sv string
			evJSON                   string
			count                    uint32
			first, last              time.Time
		)
		if err := rows.Scan(&f.AlertID, &t, &tNsec, &det, &detNsec, &f.RuleID, &f.RuleTitle,
			&f.Summary, &f.Severity, &f.Tags, &f.EventIDs, &actor, &ip, &acct, &reg, &sv, &evJSON,
			&f.GroupKey, &count, &first, &last, &f.RuleVersion); err != nil {
			return nil, fmt.Errorf("clickhouse: query %s.alerts: %w", s.db, err)
		}
		f.Time, f.DetectedAt = joinTime(t, tNsec), joinTime(det, detNsec)
		if f.Count = int(count); f.Count > 0 {
			f.FirstSeen, f.LastSeen = first.UTC(), last.UTC()
		}
		if len(f.Tags) == 0 {
			f.Tags = nil
		}
		if len(f.EventIDs) == 0 {
			f.EventIDs = nil
		}
		if evJSON != "" {
			if err := json.Unmarshal([]byte(evJSON), &f.Event); err != nil {
				return nil, fmt.Errorf("clickhouse: alert %s: decode event column: %w", f.AlertID, err)
			}
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: query %s.alerts: %w", s.db, err)
	}
	return out, nil
}

// CountEvents returns the number of rows in the events table and the
// number of distinct event ids; they differ only if a duplicate was stored
// and not merged away yet.
func (s *Store) CountEvents(ctx context.Context) (rows, distinctIDs uint64, err error) {
	q := fmt.Sprintf("SELECT count(), uniqExact(event_id) FROM %s", s.table(eventsTable.name))
	if err := s.conn.QueryRow(s.readContext(ctx, alertsMaxExecution, 0), q).Scan(&rows, &distinctIDs); err != nil {
		return 0, 0, fmt.Errorf("clickhouse: count %s.events: %w", s.db, err)
	}
	return rows, distinctIDs, nil
}
