package store

import (
	"context"
	"fmt"
	"strings"
)

// column is one column of a table: its name, its ClickHouse type and a
// comment shown by DESCRIBE.
type column struct {
	name, typ, comment string
}

// tableDef is a table's portable definition. Columns are only ever appended
// to (migrate adds the ones an existing table lacks); the engine and keys
// are fixed at creation.
type tableDef struct {
	name    string
	columns []column
	engine  string
}

// Time columns are DateTime('UTC') (second precision, the only DateTime in
// 18.16) plus a UInt32 of nanoseconds within that second, so Event.Time
// survives a round trip exactly. The explicit UTC keeps toYYYYMMDD
// partitions on UTC days whatever the server's time zone.
var eventsTable = tableDef{
	name: "events",
	columns: []column{
		{"time", "DateTime('UTC')", "when the record says it happened"},
		{"time_nsec", "UInt32", "nanoseconds within the second of time"},
		{"source", "String", "ingest source, e.g. cloudtrail"},
		{"event_id", "String", "stable event id"},
		{"account", "String", ""},
		{"region", "String", ""},
		{"service", "String", ""},
		{"actor", "String", ""},
		{"src_ip", "String", ""},
		{"user_agent", "String", ""},
		{"action", "String", ""},
		{"target", "String", ""},
		{"outcome", "String", "success, failure or empty"},
		{"status_code", "Int32", "HTTP-style status, 0 when absent"},
		{"error_code", "String", ""},
		{"bytes_out", "Int64", ""},
		{"duration_ms", "Float64", ""},
		{"message", "String", ""},
		{"ingested_at", "DateTime('UTC')", "when Tripline accepted the record"},
		{"ingested_nsec", "UInt32", "nanoseconds within the second of ingested_at"},
		{"raw", "String", "the original record"},
	},
	// source first: hunts usually name sources, and rows of one source
	// compress well together. event_id last makes the key unique, which
	// ReplacingMergeTree needs to fold a duplicate that slipped through.
	engine: "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(time) ORDER BY (source, time, event_id)",
}

var alertsTable = tableDef{
	name: "alerts",
	columns: []column{
		{"alert_id", "String", "stable id of rule and matching events"},
		{"time", "DateTime('UTC')", "time of the (last) matching event"},
		{"time_nsec", "UInt32", "nanoseconds within the second of time"},
		{"detected_at", "DateTime('UTC')", "when the rule matched"},
		{"detected_nsec", "UInt32", "nanoseconds within the second of detected_at"},
		{"rule_id", "String", ""},
		{"rule_title", "String", ""},
		{"title", "String", "the rendered summary"},
		{"severity", "String", "info, low, medium, high or critical"},
		{"tags", "Array(String)", ""},
		{"event_ids", "Array(String)", "ids of the matching events"},
		{"actor", "String", ""},
		{"src_ip", "String", ""},
		{"account", "String", ""},
		{"region", "String", ""},
		{"service", "String", ""},
		{"event", "String", "the (last) matching event as JSON"},
		{"group_key", "String", "a stateful rule's group key"},
		{"count", "UInt32", "the matches a stateful rule counted (the row's version: a dedup update replaces the row with a larger count)"},
		{"first_seen", "DateTime('UTC')", "the first counted match (stateful rules)"},
		{"last_seen", "DateTime('UTC')", "the last counted match (stateful rules)"},
		{"rule_version", "String", "content hash of the rule version that raised it"},
	},
	// Alerts are few: monthly partitions keep the part count low. A dedup
	// finding's updates have its alert id and time and a larger count:
	// count is the version, so merges and FINAL keep the latest state.
	// (A table created before it was, ReplacingMergeTree(), keeps the last
	// row inserted, which is the latest too: InsertAlerts never writes a
	// count below the stored one.)
	engine: "ENGINE = ReplacingMergeTree(count) PARTITION BY toYYYYMM(time) ORDER BY (rule_id, time, alert_id)",
}

// names returns the column names joined for an INSERT or SELECT list.
func (t tableDef) names() string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func (c column) ddl() string {
	d := "`" + c.name + "` " + c.typ
	if c.comment != "" {
		d += " COMMENT '" + strings.ReplaceAll(c.comment, "'", "\\'") + "'"
	}
	return d
}

// migrate creates the database and tables and adds missing columns. 18.16
// has no ALTER TABLE ... ADD COLUMN IF NOT EXISTS, so the existing columns
// are read from system.columns first; a concurrent migrator adding the same
// column is tolerated by checking again after a failed ALTER.
func (s *Store) migrate(ctx context.Context) error {
	if err := s.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+s.db+"`"); err != nil {
		return fmt.Errorf("clickhouse: create database %s (does user have CREATE rights?): %w", s.db, err)
	}
	for _, t := range []tableDef{eventsTable, alertsTable} {
		if err := s.migrateTable(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) migrateTable(ctx context.Context, t tableDef) error {
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = "    " + c.ddl()
	}
	create := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n%s\n) %s",
		s.table(t.name), strings.Join(cols, ",\n"), t.engine)
	if err := s.conn.Exec(ctx, create); err != nil {
		return fmt.Errorf("clickhouse: create table %s.%s: %w", s.db, t.name, err)
	}
	have, err := s.columnNames(ctx, t.name)
	if err != nil {
		return err
	}
	for i, c := range t.columns {
		if have[c.name] {
			continue
		}
		alter := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s", s.table(t.name), c.ddl())
		if i > 0 {
			alter += " AFTER `" + t.columns[i-1].name + "`"
		}
		if err := s.conn.Exec(ctx, alter); err != nil {
			again, cerr := s.columnNames(ctx, t.name)
			if cerr != nil || !again[c.name] {
				return fmt.Errorf("clickhouse: add column %s to %s.%s: %w", c.name, s.db, t.name, err)
			}
		}
		have[c.name] = true
	}
	return nil
}

// checkTables verifies, for a read-only user, that the tables exist.
func (s *Store) checkTables(ctx context.Context) error {
	for _, t := range []tableDef{eventsTable, alertsTable} {
		have, err := s.columnNames(ctx, t.name)
		if err != nil {
			return err
		}
		if len(have) == 0 {
			return fmt.Errorf("clickhouse: table %s.%s does not exist and this user is read-only; run Tripline's store stage (or any Open) once with a writable user to create it", s.db, t.name)
		}
	}
	return nil
}

func (s *Store) columnNames(ctx context.Context, table string) (map[string]bool, error) {
	rows, err := s.conn.Query(ctx,
		"SELECT name FROM system.columns WHERE database = ? AND table = ?", s.db, table)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: list columns of %s.%s: %w", s.db, table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("clickhouse: list columns of %s.%s: %w", s.db, table, err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: list columns of %s.%s: %w", s.db, table, err)
	}
	return have, nil
}
