package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/internal/backtest"
	"github.com/tripline/tripline/rules"
)

func newRulesBacktestCmd() *cobra.Command {
	var (
		tf        timeFlags
		format    string
		ids       []string
		samples   int
		top       int
		noBuiltin bool
	)
	cmd := &cobra.Command{
		Use:   "backtest [flags] RULE_FILE...",
		Short: "Replay rules over stored events and report what they would have raised",
		Long: `Backtest replays the rules of the given files (or directories) over the events
stored in ClickHouse, through the same engine as the live pipeline: each
rule's condition, then the state machines of stateful rules (partitioned as
live, with detect.lateness), the clock moved to --until at the end so that
absences and sequence timeouts within the range fire. It reports the
findings per day, the top group keys (stateful rules) or actors and targets
(other rules), a few sample findings with their events, totals, the events
scanned and the time it took. Use it to tune a threshold before enabling a
rule.

The findings are those the live pipeline would raise for the same events fed
in event-time order, started at --since with these rules: stateful rules
start empty, so a window that straddles --since counts only its part after
it, and new_term rules know no term from before --since. Only the rules'
sources and the time range reach ClickHouse; queries run read-only, one per
day of the range. The built-in pack's lists and macros are available to the
rules (--no-builtin leaves them out); its rules are not replayed.`,
		Example: `  tripline rules backtest --since 7d rules/custom/denied-burst.yaml
  tripline rules backtest --since 30d --until 2026-11-01T00:00:00Z --rule my-rule rules/custom/
  tripline rules backtest --since 24h --format json my-rules.yaml | jq '.rules[].per_day'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: want text or json", format)
			}
			if samples < 0 || top < 1 {
				return fmt.Errorf("--samples %d, --top %d: want --samples 0 or more and --top 1 or more", samples, top)
			}
			cfg, since, until, err := tf.load(cmd)
			if err != nil {
				return err
			}
			rs, err := loadBacktestRules(args, ids, !noBuiltin, cfg.Rules.Optional)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			bc := backtest.Config{Rules: rs, Since: since, Until: until, Lateness: cfg.Detect.Lateness,
				Samples: samples, Top: top}
			if samples == 0 {
				bc.Samples = -1
			}
			// new_term rules learn the history before --since as the
			// pipeline's do when loaded (detect.seed_max_events; 0: off).
			if bc.SeedMaxEvents = cfg.Detect.SeedMaxEvents; bc.SeedMaxEvents == 0 {
				bc.SeedMaxEvents = -1
			}
			var bar *progressbar.ProgressBar
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar = progressbar.NewOptions64(int64(until.Sub(since)/time.Second),
					progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("backtest"),
					progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionClearOnFinish(),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth())
				bc.Progress = func(at time.Time) { _ = bar.Set64(int64(at.Sub(since) / time.Second)) }
			}
			rep, err := backtest.Run(ctx, st, bc)
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			if format == "json" {
				return backtest.WriteJSON(cmd.OutOrStdout(), rep)
			}
			return backtest.WriteText(cmd.OutOrStdout(), rep)
		},
	}
	tf.add(cmd)
	since := cmd.Flags().Lookup("since")
	since.DefValue, tf.since = "7d", "7d"
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.Flags().StringSliceVar(&ids, "rule", nil, "only the rules of these ids among those of the files")
	cmd.Flags().IntVar(&samples, "samples", backtest.DefaultSamples, "sample findings per rule, shown with their events")
	cmd.Flags().IntVar(&top, "top", backtest.DefaultTop, "group keys, actors and targets listed per rule")
	cmd.Flags().BoolVar(&noBuiltin, "no-builtin", false, "leave out the built-in pack's lists and macros")
	return cmd
}

// loadBacktestRules loads the rules of paths, with the built-in pack's
// lists and macros unless builtin is false, and returns those of paths
// (of ids, when given). A load error is an error: a backtest of part of
// the rules would mislead.
func loadBacktestRules(paths, ids []string, builtin bool, optional []string) ([]*detect.Rule, error) {
	var pack fs.FS
	if builtin {
		var err error
		if pack, err = rules.Pack(optional); err != nil {
			return nil, err
		}
	}
	all, _, errs := detect.LoadSet(pack, paths)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var out []*detect.Rule
	for _, r := range all {
		if !fromPaths(r.File, paths) || (len(ids) > 0 && !slices.Contains(ids, r.ID)) {
			continue
		}
		out = append(out, r)
	}
	for _, id := range ids {
		if !slices.ContainsFunc(out, func(r *detect.Rule) bool { return r.ID == id }) {
			return nil, fmt.Errorf("--rule %s: no rule of that id in %s", id, strings.Join(paths, ", "))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no rules in %s", strings.Join(paths, ", "))
	}
	return out, nil
}

// fromPaths reports whether file is one of paths or lies under one, and
// exists: a built-in rule's file is named relative to the pack.
func fromPaths(file string, paths []string) bool {
	file = filepath.Clean(file)
	for _, p := range paths {
		p = filepath.Clean(p)
		if file == p || p == "." || strings.HasPrefix(file, p+string(filepath.Separator)) {
			if _, err := os.Stat(file); err == nil {
				return true
			}
		}
	}
	return false
}
