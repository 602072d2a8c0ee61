package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/rules"
)

func newRulesLintCmd() *cobra.Command {
	var (
		format    string
		strict    bool
		noBuiltin bool
	)
	cmd := &cobra.Command{
		Use:   "lint [PATH...]",
		Short: "Check rules for errors and likely mistakes",
		Long: `Lint parses and type-checks every rule against its source's fields, as the
loader does, and reports each problem at its file:line:column with the line
and a caret under the column: a misspelled field or function (with a
suggestion), a type error, a when that is not a boolean. It also warns about
a rule without tests (or a stateful rule without timed tests), a rule
without MITRE ATT&CK tags (attack.t1234, attack.<tactic>) and a condition
that can never be true for the rule's sources.

Without PATH it lints the configured rules: the built-in pack and
rules.paths. With PATHs it lints those files and directories only; the
built-in pack (unless --no-builtin) still provides its lists and macros.
It exits 1 on any error, and with --strict on any warning too.`,
		Example: `  tripline rules lint
  tripline rules lint ./my-rules
  tripline rules lint --strict --format json ./my-rules > lint.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: want text or json", format)
			}
			diags, err := lintRules(cmd, args, noBuiltin)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			errs, warns := 0, 0
			for _, d := range diags {
				if d.Severity == detect.LintError {
					errs++
				} else {
					warns++
				}
			}
			if format == "json" {
				if diags == nil {
					diags = []detect.Diagnostic{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(diags); err != nil {
					return err
				}
			} else {
				for _, d := range diags {
					fmt.Fprintln(out, d)
				}
				fmt.Fprintf(out, "%s, %s\n", lintCount(errs, "error"), lintCount(warns, "warning"))
			}
			switch {
			case errs > 0:
				return fmt.Errorf("lint: %s", lintCount(errs, "error"))
			case strict && warns > 0:
				return fmt.Errorf("lint: %s (--strict)", lintCount(warns, "warning"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json (an array of {file, line, column, rule, severity, code, message})")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 on warnings too")
	cmd.Flags().BoolVar(&noBuiltin, "no-builtin", false, "leave out the built-in pack (its lists and macros too)")
	return cmd
}

// lintRules lints the configured rules, or, with args, the files and
// directories they name.
func lintRules(cmd *cobra.Command, args []string, noBuiltin bool) ([]detect.Diagnostic, error) {
	builtin, optional, paths, all := true, []string(nil), args, false
	if len(args) == 0 {
		cfg, err := loadConfig(cmd)
		if err != nil {
			return nil, err
		}
		builtin, optional, paths, all = cfg.Rules.Builtin, cfg.Rules.Optional, cfg.Rules.Paths, true
	}
	var pack fs.FS
	if builtin && !noBuiltin {
		var err error
		if pack, err = rules.Pack(optional); err != nil {
			return nil, err
		}
	}
	if pack == nil && len(paths) == 0 {
		return nil, errors.New("no rules to lint")
	}
	return detect.LintSet(pack, paths, all), nil
}

func lintCount(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
