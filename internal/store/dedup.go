package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
)

// uniqueByID returns pointers to the items with distinct ids and their
// ids, aligned. Of items with the same id the first wins, or, with count,
// the first of the largest count (the latest state of a finding that
// updates push).
func uniqueByID[T any](items []T, idOf func(*T) string, count func(*T) uint64) ([]*T, []string) {
	rows := make([]*T, 0, len(items))
	ids := make([]string, 0, len(items))
	seen := make(map[string]int, len(items))
	for i := range items {
		id := idOf(&items[i])
		if j, dup := seen[id]; dup {
			if count != nil && count(&items[i]) > count(rows[j]) {
				rows[j] = &items[i]
			}
			continue
		}
		seen[id] = len(rows)
		rows = append(rows, &items[i])
		ids = append(ids, id)
	}
	return rows, ids
}

// dropExisting removes the rows whose id is already in table. The lookup is
// restricted to the rows' time range and to their values of keyCol, the
// first column of the table's sorting key, so it reads only the parts and
// granules that could hold them. rows must not be empty.
//
// With a countCol, a row is kept when its count (count(row)) is larger
// than the largest stored for its id: a later state of a stored finding.
func dropExisting[T any](ctx context.Context, s *Store, table, idCol, keyCol string, rows []*T, ids []string, timeKey func(*T) (time.Time, string),
	countCol string, count func(*T) uint64) ([]*T, []string, error) {
	lo, _ := timeKey(rows[0])
	hi := lo
	keys := map[string]struct{}{}
	for _, r := range rows {
		t, k := timeKey(r)
		if t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
		keys[k] = struct{}{}
	}
	stored, err := s.existingIDs(ctx, table, idCol, keyCol, countCol, keys, ids, lo, hi)
	if err != nil || len(stored) == 0 {
		return rows, ids, err
	}
	keepRows, keepIDs := rows[:0], ids[:0]
	for i, id := range ids {
		if n, ok := stored[id]; !ok || (count != nil && count(rows[i]) > n) {
			keepRows = append(keepRows, rows[i])
			keepIDs = append(keepIDs, id)
		}
	}
	return keepRows, keepIDs, nil
}

// existingIDs returns which of ids are stored in table, looking only in
// [lo, hi] and, through the sorting key's first column, among keys, with
// the largest value of countCol stored for each (0 without a countCol).
// The ids travel as an external table, so a batch of any size fits in one
// query (an IN list of literals would hit max_query_size).
func (s *Store) existingIDs(ctx context.Context, table, idCol, keyCol, countCol string, keys map[string]struct{}, ids []string, lo, hi time.Time) (map[string]uint64, error) {
	idt, err := ext.NewTable("_tripline_ids", ext.Column("id", "String"))
	if err != nil {
		return nil, fmt.Errorf("clickhouse: external table: %w", err)
	}
	for _, id := range ids {
		if err := idt.Append(id); err != nil {
			return nil, fmt.Errorf("clickhouse: external table: %w", err)
		}
	}
	keyList := make([]any, 0, len(keys))
	for k := range keys {
		keyList = append(keyList, k)
	}
	loSec, _ := splitTime(lo)
	hiSec, _ := splitTime(hi)
	q := fmt.Sprintf("SELECT DISTINCT %s, toUInt64(0) FROM %s WHERE time >= toDateTime(?) AND time <= toDateTime(?) AND %s IN ? AND %s IN _tripline_ids",
		idCol, s.table(table), keyCol, idCol)
	if countCol != "" {
		q = fmt.Sprintf("SELECT %s, toUInt64(max(%s)) FROM %s WHERE time >= toDateTime(?) AND time <= toDateTime(?) AND %s IN ? AND %s IN _tripline_ids GROUP BY %s",
			idCol, countCol, s.table(table), keyCol, idCol, idCol)
	}
	qctx := clickhouse.Context(ctx, clickhouse.WithExternalTable(idt))
	rows, err := s.conn.Query(qctx, q, loSec, hiSec, clickhouse.GroupSet{Value: keyList})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: look up stored ids in %s.%s: %w", s.db, table, err)
	}
	defer rows.Close()
	stored := map[string]uint64{}
	for rows.Next() {
		var (
			id string
			n  uint64
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("clickhouse: look up stored ids in %s.%s: %w", s.db, table, err)
		}
		stored[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: look up stored ids in %s.%s: %w", s.db, table, err)
	}
	return stored, nil
}
