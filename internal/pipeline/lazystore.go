package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tripline/tripline/internal/store"
)

// lazyStore connects to ClickHouse in the background, so ingest keeps
// storing events in JetStream while ClickHouse is down; the writers start
// once it answers.
type lazyStore struct {
	cfg store.Config
	log *slog.Logger

	mu sync.Mutex
	s  *store.Store
}

var errNotConnected = errors.New("clickhouse: not connected yet")

// wait connects, retrying with backoff, until it succeeds or ctx ends.
func (l *lazyStore) wait(ctx context.Context) (*store.Store, error) {
	delay := 500 * time.Millisecond
	for {
		s, err := store.Open(ctx, l.cfg)
		if err == nil {
			l.mu.Lock()
			l.s = s
			l.mu.Unlock()
			l.log.Info("clickhouse connected", "addr", l.cfg.Addr, "database", l.cfg.Database, "server", s.ServerVersion())
			return s, nil
		}
		l.log.Warn("clickhouse not reachable, retrying", "addr", l.cfg.Addr, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// Ping reports whether ClickHouse answers.
func (l *lazyStore) Ping(ctx context.Context) error {
	l.mu.Lock()
	s := l.s
	l.mu.Unlock()
	if s == nil {
		return errNotConnected
	}
	return s.Ping(ctx)
}

// Close closes the connection if there is one.
func (l *lazyStore) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		_ = l.s.Close()
	}
}
