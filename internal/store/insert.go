package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tripline/tripline/internal/event"
)

// InsertEvents writes events in one native batch and returns how many rows
// it wrote. Duplicate ids within evs are written once (the first wins). When
// checkExisting is true (the caller sets it when the messages were
// redelivered after a crash), events whose event_id is already stored are
// dropped first, so a redelivery never creates a second visible row. An
// event without an id gets event.ContentID of its source and Raw.
//
// Times outside DateTime's range (1970 to 2106) are clamped to it.
func (s *Store) InsertEvents(ctx context.Context, evs []event.Event, checkExisting bool) (inserted int, err error) {
	rows, ids := uniqueByID(evs, func(e *event.Event) string {
		if e.EventID == "" {
			return event.ContentID(e.Source, e.Raw)
		}
		return e.EventID
	}, nil)
	if checkExisting && len(rows) > 0 {
		rows, ids, err = dropExisting(ctx, s, eventsTable.name, "event_id", "source", rows, ids,
			func(e *event.Event) (time.Time, string) { return e.Time, e.Source }, "", nil)
		if err != nil {
			return 0, err
		}
	}
	if len(rows) == 0 {
		return 0, nil
	}
	if err := s.writeEvents(ctx, rows, ids, insertChunk); err != nil {
		return 0, err
	}
	return len(rows), nil
}

// insertChunk is how many rows InsertEvents appends before sending them as
// one block of the INSERT: the column buffers are then reused instead of
// growing to the whole batch (a 5,000-event batch is ~6 MB). The server
// squashes the blocks of one INSERT into parts (min_insert_block_size_rows).
const insertChunk = 1000

// writeEvents sends rows in one INSERT, chunk rows per block, appending
// column by column.
func (s *Store) writeEvents(ctx context.Context, rows []*event.Event, ids []string, chunk int) error {
	batch, cancel, err := s.prepare(ctx, eventsTable)
	if err != nil {
		return err
	}
	defer cancel()
	defer batch.Close()
	chunk = min(chunk, len(rows))
	var (
		secs, ingSecs   = make([]int64, chunk), make([]int64, chunk)
		nsecs, ingNsecs = make([]uint32, chunk), make([]uint32, chunk)
		status          = make([]int32, chunk)
		bytesOut        = make([]int64, chunk)
		durations       = make([]float64, chunk)
		strs            [13][]string
	)
	for i := range strs {
		strs[i] = make([]string, chunk)
	}
	rawCol := batch.Column(len(eventsTable.columns) - 1)
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		n := len(part)
		for i, e := range part {
			secs[i], nsecs[i] = splitTime(e.Time)
			ingSecs[i], ingNsecs[i] = splitTime(e.IngestedAt)
			status[i] = clampInt32(e.StatusCode)
			bytesOut[i], durations[i] = e.BytesOut, e.DurationMS
			for j, v := range [...]string{e.Source, ids[start+i], e.Account, e.Region, e.Service, e.Actor,
				e.SrcIP, e.UserAgent, e.Action, e.Target, e.Outcome, e.ErrorCode, e.Message} {
				strs[j][i] = v
			}
		}
		// In eventsTable's column order, all but raw.
		cols := []any{secs[:n], nsecs[:n], strs[0][:n], strs[1][:n], strs[2][:n], strs[3][:n],
			strs[4][:n], strs[5][:n], strs[6][:n], strs[7][:n], strs[8][:n], strs[9][:n],
			strs[10][:n], status[:n], strs[11][:n], bytesOut[:n], durations[:n], strs[12][:n],
			ingSecs[:n], ingNsecs[:n]}
		if err := appendColumns(batch, eventsTable, cols); err != nil {
			return err
		}
		// Row by row, raw goes straight from Event.Raw into the column
		// buffer; a [][]byte column append would copy it through a string.
		for _, e := range part {
			if err := rawCol.AppendRow(&e.Raw); err != nil { // a pointer boxes without allocating
				return fmt.Errorf("clickhouse: column events.raw: %w", err)
			}
		}
		if start+n < len(rows) {
			if err := batch.Flush(); err != nil {
				return fmt.Errorf("clickhouse: insert events into %s.events: %w", s.db, err)
			}
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("clickhouse: insert %d events into %s.events: %w", len(rows), s.db, err)
	}
	return nil
}

// InsertAlerts writes findings to the alerts table in one batch and returns
// how many rows it wrote, keyed on AlertID (event.AlertID of the rule and
// event ids when empty) with the same duplicate handling as InsertEvents,
// except that a finding whose Count is larger than the stored one's is a
// later state of it (a dedup update, event.Finding.Update) and is written:
// the table, a ReplacingMergeTree versioned by count, keeps the row with
// the largest count (Alerts returns it before merges). Of the findings of
// one id in fs, the one with the largest Count is written.
func (s *Store) InsertAlerts(ctx context.Context, fs []event.Finding, checkExisting bool) (inserted int, err error) {
	count := func(f *event.Finding) uint64 { return uint64(max(f.Count, 0)) }
	rows, ids := uniqueByID(fs, func(f *event.Finding) string {
		if f.AlertID == "" {
			return event.AlertID(f.RuleID, f.EventIDs...)
		}
		return f.AlertID
	}, count)
	if checkExisting && len(rows) > 0 {
		rows, ids, err = dropExisting(ctx, s, alertsTable.name, "alert_id", "rule_id", rows, ids,
			func(f *event.Finding) (time.Time, string) { return f.Time, f.RuleID }, "count", count)
		if err != nil {
			return 0, err
		}
	}
	if len(rows) == 0 {
		return 0, nil
	}
	batch, cancel, err := s.prepare(ctx, alertsTable)
	if err != nil {
		return 0, err
	}
	defer cancel()
	defer batch.Close()
	for i, f := range rows {
		sec, nsec := splitTime(f.Time)
		dsec, dnsec := splitTime(f.DetectedAt)
		evJSON, err := eventJSON(&f.Event)
		if err != nil {
			return 0, fmt.Errorf("clickhouse: alert %s: %w", ids[i], err)
		}
		e := &f.Event
		if err := batch.Append(ids[i], time.Unix(sec, 0), nsec, time.Unix(dsec, 0), dnsec,
			f.RuleID, f.RuleTitle, f.Summary, f.Severity, nonNil(f.Tags), nonNil(f.EventIDs),
			e.Actor, e.SrcIP, e.Account, e.Region, e.Service, evJSON,
			f.GroupKey, uint32(max(f.Count, 0)), storableTime(f.FirstSeen), storableTime(f.LastSeen), f.RuleVersion); err != nil {
			return 0, fmt.Errorf("clickhouse: alert %s: %w", ids[i], err)
		}
	}
	if err := batch.Send(); err != nil {
		return 0, fmt.Errorf("clickhouse: insert %d alerts into %s.alerts: %w", len(rows), s.db, err)
	}
	return len(rows), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// prepare starts an INSERT naming every column: 18.16 rejects a batch
// without the list ("expected 0 arguments").
//
// The batch runs under its own deadline, not ctx's cancellation: an insert
// begun is finished (the caller acknowledges only what it stored), and
// clickhouse-go's batch.Send races with its own context watchdog when the
// context is cancelled during the send (seen under -race at shutdown).
func (s *Store) prepare(ctx context.Context, t tableDef) (driver.Batch, context.CancelFunc, error) {
	q := fmt.Sprintf("INSERT INTO %s (%s)", s.table(t.name), t.names())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), insertTimeout)
	batch, err := s.conn.PrepareBatch(ctx, q, driver.WithReleaseConnection())
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("clickhouse: prepare insert into %s.%s: %w", s.db, t.name, err)
	}
	return batch, cancel, nil
}

// appendColumns appends one slice per column to the first len(cols)
// columns, in t's column order.
func appendColumns(batch driver.Batch, t tableDef, cols []any) error {
	if len(cols) > len(t.columns) {
		return fmt.Errorf("clickhouse: internal error: %d values for %d columns of %s", len(cols), len(t.columns), t.name)
	}
	for i, v := range cols {
		if err := batch.Column(i).Append(v); err != nil {
			return fmt.Errorf("clickhouse: column %s.%s: %w", t.name, t.columns[i].name, err)
		}
	}
	return nil
}

// insertTimeout bounds one INSERT.
const insertTimeout = 2 * time.Minute

// storableTime is t, or the epoch for the zero time (a DateTime column
// cannot hold year 1).
func storableTime(t time.Time) time.Time {
	if t.Before(time.Unix(0, 0)) {
		return time.Unix(0, 0)
	}
	return t
}
