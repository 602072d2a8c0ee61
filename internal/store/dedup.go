package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
)

// uniqueByID returns pointers to the items with distinct ids (the first of
// each id wins) and their ids, aligned.
func uniqueByID[T any](items []T, idOf func(*T) string) ([]*T, []string) {
	rows := make([]*T, 0, len(items))
	ids := make([]string, 0, len(items))
	seen := make(map[string]struct{}, len(items))
	for i := range items {
		id := idOf(&items[i])
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		rows = append(rows, &items[i])
		ids = append(ids, id)
	}
	return rows, ids
}

// dropExisting removes the rows whose id is already in table. The lookup is
// restricted to the rows' time range and to their values of keyCol, the
// first column of the table's sorting key, so it reads only the parts and
// granules that could hold them. rows must not be empty.
func dropExisting[T any](ctx context.Context, s *Store, table, idCol, keyCol string, rows []*T, ids []string, timeKey func(*T) (time.Time, string)) ([]*T, []string, error) {
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
	stored, err := s.existingIDs(ctx, table, idCol, keyCol, keys, ids, lo, hi)
	if err != nil || len(stored) == 0 {
		return rows, ids, err
	}
	keepRows, keepIDs := rows[:0], ids[:0]
	for i, id := range ids {
		if _, ok := stored[id]; !ok {
			keepRows = append(keepRows, rows[i])
			keepIDs = append(keepIDs, id)
		}
	}
	return keepRows, keepIDs, nil
}

// existingIDs returns which of ids are stored in table, looking only in
// [lo, hi] and, through the sorting key's first column, among keys. The ids
// travel as an external table, so a batch of any size fits in one query
// (an IN list of literals would hit max_query_size).
func (s *Store) existingIDs(ctx context.Context, table, idCol, keyCol string, keys map[string]struct{}, ids []string, lo, hi time.Time) (map[string]struct{}, error) {
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
	q := fmt.Sprintf("SELECT DISTINCT %s FROM %s WHERE time >= toDateTime(?) AND time <= toDateTime(?) AND %s IN ? AND %s IN _tripline_ids",
		idCol, s.table(table), keyCol, idCol)
	qctx := clickhouse.Context(ctx, clickhouse.WithExternalTable(idt))
	rows, err := s.conn.Query(qctx, q, loSec, hiSec, clickhouse.GroupSet{Value: keyList})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: look up stored ids in %s.%s: %w", s.db, table, err)
	}
	defer rows.Close()
	stored := map[string]struct{}{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("clickhouse: look up stored ids in %s.%s: %w", s.db, table, err)
		}
		stored[id] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: look up stored ids in %s.%s: %w", s.db, table, err)
	}
	return stored, nil
}
