// Package store keeps events and alerts in ClickHouse.
//
// It speaks the native protocol through clickhouse-go (its HTTP mode fails
// against ClickHouse 18.16) and uses one schema and one SQL dialect that are
// valid on Debian's clickhouse-server 18.16 and on current releases: DateTime
// plus a nanosecond column instead of DateTime64, plain String columns, no
// TTL, codecs, skip indexes, LowCardinality or server-side query parameters,
// and an explicit column list in every INSERT.
//
// Writes are idempotent for the pipeline's redeliveries: InsertEvents and
// InsertAlerts drop ids already stored when asked to (checkExisting), and the
// tables are ReplacingMergeTree keyed on the id as a backstop. Reads for hunt
// and the alerts command run with readonly=2 and resource limits.
package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDatabase is the database used when Config.Database is empty.
const DefaultDatabase = "tripline"

// DefaultAddr is the server address used when Config.Addr is empty: the
// native port of the server that deploy/clickhouse/ch.sh starts.
const DefaultAddr = "127.0.0.1:9000"

// Config says where the ClickHouse server is and which database to use.
type Config struct {
	// Addr is the server's native protocol address, host:port
	// (DefaultAddr when empty).
	Addr string
	// Database is the database holding the events and alerts tables
	// (DefaultDatabase when empty). It must be a plain identifier.
	Database string
	// Username and Password authenticate; empty Username is "default".
	Username string
	Password string
	// DialTimeout bounds connecting (10s when zero).
	DialTimeout time.Duration
}

// Store is a connection pool to ClickHouse with Tripline's tables created.
// It is safe for concurrent use.
type Store struct {
	conn    driver.Conn
	db      string
	addr    string
	version string
	// readonly is the user's own readonly setting (from its profile):
	// 0 for a writable user. A read-only user gets no DDL at Open and no
	// readonly setting per query (the server refuses to change it).
	readonly uint64
}

// codeReadonly is ClickHouse's error code READONLY.
const codeReadonly = 164

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Open connects to ClickHouse, creates the database and tables if they do
// not exist and adds any column a newer Tripline defines. It is idempotent
// and safe to run from several processes at once. For a user that is
// read-only by its profile (readonly=2, as hunt may use), Open creates
// nothing and only checks that the tables exist.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	if !identRE.MatchString(cfg.Database) {
		return nil, fmt.Errorf("clickhouse: database name %q is not an identifier (letters, digits and _, not starting with a digit, at most 64)", cfg.Database)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.Username == "" {
		cfg.Username = "default"
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.Native,
		Addr:     []string{cfg.Addr},
		// No Auth.Database: the database may not exist yet, and every
		// statement names it explicitly.
		Auth:        clickhouse.Auth{Username: cfg.Username, Password: cfg.Password},
		DialTimeout: cfg.DialTimeout,
		// LZ4 blocks: raw JSON compresses well, which matters on a
		// network; over loopback to 18.16 it measured the same total CPU
		// as no compression (~2.5-3 µs/row client, ~7-9 µs/row server).
		Compression:     &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
		MaxOpenConns:    8,
		MaxIdleConns:    4,
		ConnMaxLifetime: time.Hour,
		ClientInfo: clickhouse.ClientInfo{Products: []struct{ Name, Version string }{
			{Name: "tripline", Version: "0"},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.Addr, err)
	}
	s := &Store{conn: conn, db: cfg.Database, addr: cfg.Addr}
	if err := s.Ping(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if v, err := conn.ServerVersion(); err == nil {
		s.version = fmt.Sprintf("%d.%d.%d", v.Version.Major, v.Version.Minor, v.Version.Patch)
	}
	if s.readonly, err = s.userReadonly(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if s.readonly == 0 {
		err = s.migrate(ctx)
	} else {
		err = s.checkTables(ctx)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// userReadonly returns the readonly setting the server gives this user.
func (s *Store) userReadonly(ctx context.Context) (uint64, error) {
	var v string
	err := s.conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = 'readonly'").Scan(&v)
	if err != nil {
		var ex *clickhouse.Exception
		if errors.As(err, &ex) && ex.Code == codeReadonly {
			return 0, fmt.Errorf("clickhouse %s: the user has readonly=1, which refuses the settings clickhouse-go sends with each query; give it a profile with readonly=2: %w", s.addr, err)
		}
		return 0, fmt.Errorf("clickhouse %s: read the readonly setting: %w", s.addr, err)
	}
	ro, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("clickhouse %s: readonly setting %q is not a number: %w", s.addr, v, err)
	}
	return ro, nil
}

// ReadOnly reports whether the server gives this user read-only access:
// then Open creates nothing and the Insert methods fail.
func (s *Store) ReadOnly() bool {
	return s.readonly != 0
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		var ex *clickhouse.Exception
		if errors.As(err, &ex) {
			return fmt.Errorf("clickhouse %s: %w", s.addr, err)
		}
		return fmt.Errorf("clickhouse %s unreachable (is it running? deploy/clickhouse/ch.sh start): %w", s.addr, err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	return s.conn.Close()
}

// ServerVersion is the server's major.minor.patch version as reported at
// connect time, e.g. "18.16.1".
func (s *Store) ServerVersion() string {
	return s.version
}

// Database is the database name the store uses.
func (s *Store) Database() string {
	return s.db
}

// table is the fully qualified name of one of the store's tables.
func (s *Store) table(name string) string {
	return "`" + s.db + "`.`" + name + "`"
}
