package pipeline

import (
	"context"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/ingest/syslog"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/config"
)

// runListeners starts the ingest sources that are not HTTP endpoints (the
// syslog listeners) in g, publishing to b.
func runListeners(ctx context.Context, g *errgroup.Group, cfg config.Ingest, b *bus.Bus, metrics *ingest.Metrics, log *slog.Logger) {
	if cfg.Syslog.Enabled() {
		l := &syslog.Listener{Config: cfg.Syslog, Sink: b, Metrics: metrics, Log: log.With("source", "syslog")}
		g.Go(func() error {
			if err := l.Run(ctx); err != nil {
				return fmt.Errorf("syslog: %w", err)
			}
			return nil
		})
		go func() {
			select {
			case <-l.Ready():
				udp, tcp := l.Addrs()
				log.Info("syslog listening", "udp", udp, "tcp", tcp)
			case <-ctx.Done():
			}
		}()
	}
}
