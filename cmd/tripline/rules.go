package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/pipeline"
)

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List and test detection rules",
		Long: `Rules work with the detection rule set: the built-in pack embedded in the
binary plus the files and directories in rules.paths (or given as arguments).
See docs/rules.md for the rule format.`,
	}
	cmd.AddCommand(newRulesListCmd(), newRulesTestCmd(), newRulesLintCmd(), newRulesBacktestCmd(), newRulesImportSigmaCmd())
	return cmd
}

// loadRuleSet loads the configured rules, or, with args, the pack (unless
// --no-builtin) plus those paths. Load errors are returned joined, after
// the rules that did load. A user's rule that replaces the built-in rule
// of the same id is not an error: it is noted on stderr.
func loadRuleSet(cmd *cobra.Command, args []string) ([]*detect.Rule, error) {
	noBuiltin, _ := cmd.Flags().GetBool("no-builtin")
	rc := config.Rules{Builtin: !noBuiltin, Paths: args}
	if len(args) == 0 {
		cfg, err := loadConfig(cmd)
		if err != nil {
			return nil, err
		}
		rc = cfg.Rules
		rc.Builtin = rc.Builtin && !noBuiltin
	}
	all, errs := pipeline.LoadRules(rc)
	for _, r := range all {
		if r.Overrides != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "notice: %s:%d: rule %s replaces the built-in rule of the same id (%s)\n",
				r.File, r.Line, r.ID, r.Overrides.File)
		}
	}
	return all, errors.Join(errs...)
}

func newRulesListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [PATH...]",
		Short: "List the loaded rules",
		Example: `  tripline rules list
  tripline rules list --no-builtin ./my-rules`,
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := loadRuleSet(cmd, args)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSEVERITY\tSOURCE\tTITLE")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", r.ID, r.Severity, r.Sources, r.Title)
			}
			_ = tw.Flush()
			return err
		},
	}
	cmd.Flags().Bool("no-builtin", false, "leave out the built-in pack")
	return cmd
}

func newRulesTestCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run every rule's inline tests",
		Long: `Test compiles each rule and runs the events in its tests: section through the
source's real decoder and the rule engine, comparing each verdict with the
expected one. A stateful rule's timed tests (events: with at/repeat/every)
also run the matches through the state machines, in event time, and must
give exactly the findings listed under expect: (count, group key); a
failure lists the expected and actual findings. A failing single-event test
shows the verdict expected, the one got (and the rule's error, if any) and
the fields the rule read from the event. It exits non-zero when a
rule fails to load or a test fails, so it fits CI and pre-commit hooks.`,
		Example: `  tripline rules test
  tripline rules test --no-builtin rules/custom/ -v`,
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, loadErr := loadRuleSet(cmd, args)
			decoders := ingest.Decoders(ingest.DefaultSourceConfig)
			out := cmd.OutOrStdout()
			passed, failed, timed, stateful := 0, 0, 0, 0
			for _, r := range rs {
				if r.Aggregation != nil {
					stateful++
				}
				for _, res := range detect.RunTests(r, decoders) {
					if res.Timed {
						timed++
					}
					if res.Passed {
						passed++
						if verbose {
							fmt.Fprintf(out, "ok    %s\n", res)
						}
						continue
					}
					failed++
					// A timed test's diff follows on the next lines.
					head, diff, _ := strings.Cut(res.String(), "\n")
					fmt.Fprintf(out, "FAIL  %s (%s:%d)\n", head, r.File, cmp.Or(res.Line, r.Line))
					if diff != "" {
						fmt.Fprintln(out, diff)
					}
				}
				if len(r.Tests) == 0 {
					fmt.Fprintf(out, "warn  %s has no tests\n", r.ID)
				} else if r.Aggregation != nil && !slices.ContainsFunc(r.Tests, func(t detect.RuleTest) bool { return t.Timed() }) {
					fmt.Fprintf(out, "warn  %s is stateful (%s) and has no timed tests (events:)\n", r.ID, r.Aggregation.Spec.Kind)
				}
			}
			if loadErr != nil {
				fmt.Fprintln(out, loadErr)
			}
			fmt.Fprintf(out, "%d rules (%d stateful): %d passed, %d failed (%d timed tests)\n", len(rs), stateful, passed, failed, timed)
			if failed > 0 || loadErr != nil {
				return errors.New("rule tests failed")
			}
			return nil
		},
	}
	cmd.Flags().Bool("no-builtin", false, "leave out the built-in pack")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print passing tests too")
	return cmd
}
