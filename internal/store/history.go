package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tripline/tripline/internal/event"
)

// historyMaxExecution is the server's time limit on a history read when
// the context has no deadline.
const historyMaxExecution = 30 * time.Minute

// HistoryQuery selects the stored events a stateful rule learns from
// (ScanHistory).
type HistoryQuery struct {
	// Sources are the sources to read; none reads nothing.
	Sources []string
	// Since bounds the event time (inclusive); Until, if set, too
	// (exclusive).
	Since, Until time.Time
	// IngestedBefore excludes the events ingested at or after it: those
	// reach the rule as live matches.
	IngestedBefore time.Time
	// Limit caps the events read, the newest kept; 0 means no limit.
	Limit int
}

// ScanHistory streams the events matching q to fn, in no particular
// order, each with its Raw. Only source and time conditions reach the
// server: deciding whether an event matters is the caller's. With a
// Limit, the newest Limit events are read (by event time, then event
// id): a first query finds the oldest of them, on the time and id
// columns only, so that the rows themselves are streamed unsorted
// instead of sorted in the server's memory. It stops at the first error
// fn returns and returns that error. The queries run read-only.
func (s *Store) ScanHistory(ctx context.Context, q HistoryQuery, fn func(event.Event) error) error {
	if len(q.Sources) == 0 {
		return nil
	}
	set := make([]any, len(q.Sources))
	for i, src := range q.Sources {
		set[i] = src
	}
	conds := []string{"source IN ?"}
	args := []any{clickhouse.GroupSet{Value: set}}
	conds, args = timeRange(conds, args, "time", "time_nsec", q.Since, q.Until)
	conds, args = timeRange(conds, args, "ingested_at", "ingested_nsec", time.Time{}, q.IngestedBefore)
	limit := max(q.Limit, 0)
	if limit > 0 {
		var (
			t    time.Time
			nsec uint32
			id   string
		)
		bq := fmt.Sprintf("SELECT time, time_nsec, event_id FROM %s%s ORDER BY time DESC, time_nsec DESC, event_id DESC LIMIT %d, 1",
			s.table(eventsTable.name), where(conds), limit-1)
		err := s.conn.QueryRow(s.readContext(ctx, historyMaxExecution, 0), bq, args...).Scan(&t, &nsec, &id)
		switch {
		case errors.Is(err, sql.ErrNoRows): // no more than limit
		case err != nil:
			return fmt.Errorf("clickhouse: history of %s.events: %w", s.db, err)
		default:
			// (time, time_nsec, event_id) >= the oldest of the newest
			// limit, spelled out for 18.16.
			sec := t.Unix()
			conds, args = timeRange(conds, args, "time", "time_nsec", joinTime(t, nsec), time.Time{})
			conds = append(conds, "(time > toDateTime(?) OR time_nsec > ? OR event_id >= ?)")
			args = append(args, sec, nsec, id)
		}
	}
	query := fmt.Sprintf("SELECT %s FROM %s%s", eventsTable.names(), s.table(eventsTable.name), where(conds))
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit) // events inserted since the first query
	}

	return s.streamEvents(s.readContext(ctx, historyMaxExecution, limit), "history of", query, args, fn)
}
