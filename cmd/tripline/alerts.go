package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
)

// timeFlags are --since/--until shared by hunt and alerts.
type timeFlags struct {
	since, until string
}

func (t *timeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&t.since, "since", "24h", "start of the window: a duration ago (90m, 24h, 30d) or an RFC 3339 time")
	cmd.Flags().StringVar(&t.until, "until", "", "end of the window: a duration ago or an RFC 3339 time (default now)")
}

// load reads the configuration and the window, as hunt and alerts need.
func (t *timeFlags) load(cmd *cobra.Command) (cfg config.Config, since, until time.Time, err error) {
	if cfg, err = loadConfig(cmd); err != nil {
		return cfg, since, until, err
	}
	since, until, err = t.window(time.Now())
	return cfg, since, until, err
}

func (t *timeFlags) window(now time.Time) (since, until time.Time, err error) {
	until = now
	if t.until != "" {
		if until, err = parseWhen(t.until, now); err != nil {
			return since, until, fmt.Errorf("--until: %w", err)
		}
	}
	if since, err = parseWhen(t.since, now); err != nil {
		return since, until, fmt.Errorf("--since: %w", err)
	}
	if !since.Before(until) {
		return since, until, fmt.Errorf("--since (%s) is not before --until (%s)", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return since, until, nil
}

// parseWhen reads an RFC 3339 time or a duration before now; durations may
// use d for days and w for weeks.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	mult := time.Duration(1)
	num := s
	switch {
	case strings.HasSuffix(s, "d"):
		mult, num = 24*time.Hour, strings.TrimSuffix(s, "d")
	case strings.HasSuffix(s, "w"):
		mult, num = 7*24*time.Hour, strings.TrimSuffix(s, "w")
	}
	if mult != 1 {
		var n int
		if _, err := fmt.Sscanf(num, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != num {
			return time.Time{}, fmt.Errorf("%q: want a duration like 90m, 24h, 30d or an RFC 3339 time", s)
		}
		return now.Add(-time.Duration(n) * mult), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: want a duration like 90m, 24h, 30d or an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}

func openStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	return store.Open(ctx, store.Config{Addr: cfg.ClickHouse.Addr, Database: cfg.ClickHouse.Database,
		Username: cfg.ClickHouse.Username, Password: cfg.ClickHouse.Password})
}

func newAlertsCmd() *cobra.Command {
	var (
		tf     timeFlags
		ruleID string
		format string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List stored alerts",
		Long: `Alerts lists the findings stored in ClickHouse, newest first.

--since and --until select alerts by the time of the event that raised them
(the TIME column, as in hunt), not by when Tripline detected it: an alert
raised today for an event replayed from last month is listed under last
month's window, and newest first means newest event first.`,
		Example: `  tripline alerts --since 24h
  tripline alerts --since 7d --rule aws-lambda-permission-public --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, since, until, err := tf.load(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			fs, err := st.Alerts(ctx, store.AlertQuery{Since: since, Until: until, RuleID: ruleID, Limit: limit})
			if err != nil {
				return err
			}
			return printAlerts(cmd.OutOrStdout(), fs, format)
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVar(&ruleID, "rule", "", "only alerts of this rule id")
	cmd.Flags().StringVar(&format, "format", "table", "table or json (one object per line)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "most alerts to print")
	return cmd
}

func printAlerts(w io.Writer, fs []event.Finding, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		for i := range fs {
			if err := enc.Encode(&fs[i]); err != nil {
				return err
			}
		}
		return nil
	case "table":
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tSEVERITY\tRULE\tSUMMARY")
		for _, f := range fs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Time.Format(time.RFC3339), f.Severity, f.RuleID, oneLine(f.Summary, 160))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "(%d alerts)\n", len(fs))
		return err
	default:
		return fmt.Errorf("--format %q: want table or json", format)
	}
}

// oneLine makes s safe for a table cell: no control characters, clipped.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
