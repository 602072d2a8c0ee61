// Package bustest starts an embedded JetStream bus for tests.
package bustest

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/bus"
)

// Open starts an embedded server storing under a temporary directory,
// with no TCP listener, and closes it when the test ends.
func Open(t testing.TB) *bus.Bus {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Config{StoreDir: t.TempDir(), Retention: time.Hour},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("embedded nats: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}
