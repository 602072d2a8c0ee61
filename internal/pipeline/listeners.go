package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/ingest/syslog"
	"github.com/tripline/tripline/ingest/tail"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
)

// runListeners starts the ingest sources that are not HTTP endpoints (the
// syslog listeners and the container log tailer) in g, publishing to b.
func runListeners(ctx context.Context, g *errgroup.Group, all config.Config, b *bus.Bus, metrics *ingest.Metrics, log *slog.Logger) {
	cfg := all.Ingest
	if len(cfg.Files.Paths) > 0 {
		t := &tail.Tailer{Config: cfg.Files.WithDefaults(), StateDir: filepath.Join(all.DataDir, "tail"),
			Sink: countingSink{b, metrics},
			Log:  log.With("source", tail.Source)}
		g.Go(func() error {
			if err := t.Run(ctx); err != nil {
				return fmt.Errorf("ingest.files: %w", err)
			}
			return nil
		})
	}
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

// countingSink counts what a source without metrics of its own stores and
// rejects.
type countingSink struct {
	*bus.Bus
	metrics *ingest.Metrics
}

// PublishEvents stores evs and counts them.
func (s countingSink) PublishEvents(ctx context.Context, source string, evs []event.Event) error {
	if err := s.Bus.PublishEvents(ctx, source, evs); err != nil {
		return err
	}
	s.metrics.Accepted(source, len(evs))
	return nil
}

// Reject dead-letters rec and counts it.
func (s countingSink) Reject(ctx context.Context, source, reason string, rec []byte, err error) error {
	if err := s.Bus.Reject(ctx, source, reason, rec, err); err != nil {
		return err
	}
	s.metrics.RejectedRecord(source, reason)
	return nil
}
