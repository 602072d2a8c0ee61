package alert

import (
	"context"
	"log/slog"

	"github.com/tripline/tripline/internal/event"
)

// NewConsole returns a Notifier that logs each finding to logger (the
// default logger if nil), at Warn for high and critical findings and at
// Info otherwise. It is meant for runs without Slack. It never fails.
func NewConsole(logger *slog.Logger) Notifier {
	if logger == nil {
		logger = slog.Default()
	}
	return &console{log: logger}
}

// console is the Notifier of NewConsole.
type console struct {
	log *slog.Logger
}

// Notify implements Notifier.
func (c *console) Notify(ctx context.Context, f event.Finding) error {
	level := slog.LevelInfo
	if f.Severity == "high" || f.Severity == "critical" {
		level = slog.LevelWarn
	}
	e := &f.Event
	c.log.LogAttrs(ctx, level, "alert",
		slog.String("alert_id", f.AlertID),
		slog.String("severity", f.Severity),
		slog.String("rule_id", f.RuleID),
		slog.String("rule_title", f.RuleTitle),
		slog.String("summary", f.Summary),
		slog.Time("time", f.Time.UTC()),
		slog.Any("tags", f.Tags),
		slog.String("actor", e.Actor),
		slog.String("src_ip", e.SrcIP),
		slog.String("account", e.Account),
		slog.String("region", e.Region),
		slog.String("service", e.Service),
		slog.String("action", e.Action),
		slog.String("target", e.Target),
		slog.String("event_id", e.EventID),
	)
	return nil
}
