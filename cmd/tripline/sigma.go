package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tripline/tripline/internal/sigma"
)

func newRulesImportSigmaCmd() *cobra.Command {
	var outDir, schema string
	var strict bool
	cmd := &cobra.Command{
		Use:   "import-sigma [--out DIR] FILE|DIR...",
		Short: "Convert Sigma rules into Tripline rule files",
		Long: `Import-sigma converts Sigma rules (detections and correlations) into Tripline
rules: AWS CloudTrail, Kubernetes audit, web server access logs (API Gateway
and Envoy), Google Cloud audit and Azure activity logs. Directories are read
recursively (*.yml, *.yaml). Each converted rule is compiled as Tripline
loads it. What has no faithful translation is refused with the reason; a
rule read slightly differently from Sigma's definition is converted with a
warning. See docs/sigma.md.

With --out, each rule is written to DIR/<id>.yaml; without it, the rules are
printed to stdout separated by ---. The summary (clean, with warnings,
refused, with each rule's reasons) goes to stderr. The exit status is
non-zero only for usage and I/O errors, or with --strict when a rule was
refused or converted with warnings.`,
		Example: `  tripline rules import-sigma --out my-rules/sigma sigma/rules/cloud/aws
  tripline rules import-sigma rule.yml > rule.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			inputs, err := readSigmaInputs(args)
			if err != nil {
				return err
			}
			results := sigma.Convert(inputs, sigma.Options{Schema: schema})
			if err := writeSigmaRules(cmd.OutOrStdout(), outDir, results); err != nil {
				return err
			}
			n := printSigmaSummary(cmd.ErrOrStderr(), results)
			if strict && (n.Refused > 0 || n.Warned > 0) {
				return fmt.Errorf("--strict: %d refused, %d with warnings", n.Refused, n.Warned)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&outDir, "out", "o", "", "write one rule file per rule into `DIR` (created if missing) instead of stdout")
	cmd.Flags().StringVar(&schema, "schema", "./schema.json", "the rule schema's `path or URL` in each file's yaml-language-server comment")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit non-zero when a rule is refused or converted with warnings")
	return cmd
}

// readSigmaInputs reads the files named and the *.yml/*.yaml files under
// the directories named, each directory in lexical order.
func readSigmaInputs(args []string) ([]sigma.Input, error) {
	var inputs []sigma.Input
	read := func(p string) error {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		inputs = append(inputs, sigma.Input{Name: p, Data: data})
		return nil
	}
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			if err := read(a); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := strings.ToLower(filepath.Ext(p)); d.IsDir() || (ext != ".yml" && ext != ".yaml") {
				return nil
			}
			return read(p)
		})
		if err != nil {
			return nil, err
		}
	}
	if len(inputs) == 0 {
		return nil, errors.New("no Sigma rule files (*.yml, *.yaml) found")
	}
	return inputs, nil
}

// writeSigmaRules writes the converted rules into dir, or to w separated
// by --- when dir is "".
func writeSigmaRules(w io.Writer, dir string, results []*sigma.Result) error {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	first := true
	for _, r := range results {
		if r.Rule == nil {
			continue
		}
		if dir != "" {
			if err := os.WriteFile(filepath.Join(dir, r.FileName()), r.Rule, 0o644); err != nil {
				return err
			}
			continue
		}
		if !first {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		first = false
		if _, err := w.Write(r.Rule); err != nil {
			return err
		}
	}
	return nil
}

// printSigmaSummary reports every rule that was not converted cleanly,
// then the counts.
func printSigmaSummary(w io.Writer, results []*sigma.Result) sigma.Counts {
	sorted := slices.Clone(results)
	slices.SortStableFunc(sorted, func(a, b *sigma.Result) int { return cmp.Compare(b.Status, a.Status) })
	for _, r := range sorted {
		switch r.Status {
		case sigma.Refused:
			fmt.Fprintf(w, "refused  %s (%s): %s\n", r.File, r.Title, r.Reason)
		case sigma.Merged:
			fmt.Fprintf(w, "merged   %s (%s): %s\n", r.File, r.Title, r.Reason)
		case sigma.Warned:
			for _, msg := range r.Warnings {
				fmt.Fprintf(w, "warning  %s (%s): %s\n", r.File, r.ID, msg)
			}
		}
	}
	n := sigma.Count(results)
	fmt.Fprintf(w, "%d Sigma rules: %d converted (%d clean, %d with warnings), %d refused",
		n.Total, n.Clean+n.Warned, n.Clean, n.Warned, n.Refused)
	if n.Merged > 0 {
		fmt.Fprintf(w, ", %d merged into correlations", n.Merged)
	}
	fmt.Fprintln(w)
	return n
}
