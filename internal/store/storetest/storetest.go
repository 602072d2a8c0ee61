// Package storetest gives tests outside internal/store a fresh database on
// the real ClickHouse server started by deploy/clickhouse/ch.sh.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/testenv"
)

// Addr is the server the tests use: TRIPLINE_TEST_CLICKHOUSE or the
// default address of ch.sh.
func Addr() string {
	if a := os.Getenv("TRIPLINE_TEST_CLICKHOUSE"); a != "" {
		return a
	}
	return store.DefaultAddr
}

// Config returns a store configuration for a new random database, dropped
// when the test ends. Without a server the test is skipped, or failed when
// CI is set.
func Config(tb testing.TB) store.Config {
	tb.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{Addr()}, DialTimeout: 3 * time.Second})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = conn.Ping(ctx)
		cancel()
	}
	if err != nil {
		msg := fmt.Sprintf("no ClickHouse at %s (run deploy/clickhouse/ch.sh start or set TRIPLINE_TEST_CLICKHOUSE): %v", Addr(), err)
		testenv.SkipOrFail(tb, msg)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "tripline_test_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		conn.Close()
	})
	return store.Config{Addr: Addr(), Database: db}
}

// StopMerges stops background merges of a table of cfg's database, so a
// test counting rows sees every row inserted, even ones a
// ReplacingMergeTree would fold later.
func StopMerges(tb testing.TB, cfg store.Config, table string) {
	tb.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{cfg.Addr}, DialTimeout: 3 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(tb.Context(), "SYSTEM STOP MERGES "+cfg.Database+"."+table); err != nil {
		tb.Fatalf("stop merges of %s: %v", table, err)
	}
}
