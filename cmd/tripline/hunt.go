package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
)

func newHuntCmd() *cobra.Command {
	var (
		tf      timeFlags
		sources []string
		format  string
		limit   int
	)
	cmd := &cobra.Command{
		Use:   "hunt [flags] EXPR",
		Short: "Search stored events with a rule expression",
		Long: `Hunt runs a detection expression over the events stored in ClickHouse and
prints those that match. The expression is the same language, compiled the
same way, as a rule's when: a source's own fields (eventName,
userIdentity.arn, ...) and the normalized fields (actor, src_ip, action,
target, outcome, ...) are available. Queries run read-only with limits.`,
		Example: `  tripline hunt --since 24h 'actor endsWith "user/kim" and outcome == "failure"'
  tripline hunt --since 30d --source cloudtrail 'eventName startsWith "AddPermission" and requestParameters.principal == "*"'
  tripline hunt --since 7d --format json 'src_ip == "203.0.113.7"' | jq .action`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, since, until, err := tf.load(cmd)
			if err != nil {
				return err
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (no limit) or more", limit)
			}
			var m *detect.Matcher
			if len(sources) == 0 {
				m, sources, err = compileHuntAll(args[0])
			} else {
				m, err = compileHunt(args[0], sources)
			}
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			out := newHuntPrinter(cmd.OutOrStdout(), format)
			matched, scanned := 0, 0
			var findings []event.Finding
			errStop := errors.New("limit reached")
			err = st.ScanEvents(ctx, store.EventQuery{Since: since, Until: until, Sources: sources}, func(ev event.Event) error {
				scanned++
				findings, _ = m.Match(&ev, findings[:0]) // a runtime error is no match
				if len(findings) == 0 {
					return nil
				}
				matched++
				if err := out.print(&ev); err != nil {
					return err
				}
				if limit > 0 && matched >= limit {
					return errStop
				}
				return nil
			})
			if err != nil && !errors.Is(err, errStop) {
				return err
			}
			return out.done(matched, scanned, limit > 0 && matched >= limit)
		},
	}
	tf.add(cmd)
	cmd.Flags().StringSliceVar(&sources, "source", nil, "only events of these sources (default: every source whose fields the expression names)")
	cmd.Flags().StringVar(&format, "format", "table", "table or json (one event per line)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "stop after this many matches; 0 means no limit")
	return cmd
}

// huntHeader is the rule document a hunt expression is compiled in; the
// expression starts on the line after it, indented by two spaces.
const huntHeader = "id: hunt\ntitle: hunt\nseverity: info\n"

// compileHuntAll compiles expr for the sources whose fields it names: every
// source with a schema (cloudtrail, k8s-audit) that accepts it, plus the
// sources without one (json), which accept any field. An expression no
// schema accepts (a misspelled field) is an error, the first source's.
func compileHuntAll(expr string) (*detect.Matcher, []string, error) {
	var ok, open []string
	var firstErr error
	for _, s := range detect.SourceNames() {
		if !detect.SourceHasSchema(s) {
			open = append(open, s)
			continue
		}
		if _, err := compileHunt(expr, []string{s}); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		ok = append(ok, s)
	}
	if len(ok) == 0 && firstErr != nil {
		return nil, nil, firstErr
	}
	sources := append(ok, open...)
	m, err := compileHunt(expr, sources)
	return m, sources, err
}

// compileHunt compiles expr as the when of a rule over sources, exactly as
// rules are compiled, and reports errors at their position in expr.
func compileHunt(expr string, sources []string) (*detect.Matcher, error) {
	src, err := yaml.Marshal(map[string]any{"source": sources})
	if err != nil {
		return nil, err
	}
	doc := huntHeader + string(src) + "when: |-\n"
	first := strings.Count(doc, "\n") + 1
	for l := range strings.SplitSeq(expr, "\n") {
		doc += "  " + l + "\n"
	}
	rules, errs := detect.Parse("hunt", []byte(doc))
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			var le *detect.LoadError
			if errors.As(e, &le) && le.Line >= first {
				msgs[i] = fmt.Sprintf("expression %d:%d: %v", le.Line-first+1, max(le.Column-2, 1), le.Err)
			} else {
				msgs[i] = e.Error()
			}
		}
		return nil, errors.New(strings.Join(msgs, "\n"))
	}
	eng, err := detect.NewEngine(rules)
	if err != nil {
		return nil, err
	}
	return eng.NewMatcher(), nil
}

type huntPrinter struct {
	w      io.Writer
	tw     *tabwriter.Writer
	enc    *json.Encoder
	format string
}

func newHuntPrinter(w io.Writer, format string) *huntPrinter {
	p := &huntPrinter{w: w, format: format}
	if format == "json" {
		p.enc = json.NewEncoder(w)
		return p
	}
	p.tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(p.tw, "TIME\tSOURCE\tACTION\tOUTCOME\tACTOR\tSRC_IP\tTARGET")
	return p
}

func (p *huntPrinter) print(ev *event.Event) error {
	if p.enc != nil {
		return p.enc.Encode(ev)
	}
	_, err := fmt.Fprintf(p.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.Format(time.RFC3339), ev.Source,
		oneLine(ev.Action, 60), ev.Outcome, oneLine(ev.Actor, 80), oneLine(ev.SrcIP, 40), oneLine(ev.Target, 80))
	return err
}

func (p *huntPrinter) done(matched, scanned int, truncated bool) error {
	if p.tw == nil {
		return nil
	}
	more := ""
	if truncated {
		more = " (limit reached; narrow the window or raise --limit)"
	}
	if err := p.tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(p.w, "(%d of %d events matched%s)\n", matched, scanned, more)
	return err
}
