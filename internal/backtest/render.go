package backtest

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as one JSON document.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// maxDayLines is the longest range whose days are all listed; beyond
// it only the days with findings are.
const maxDayLines = 31

// WriteText writes the report for a terminal.
func WriteText(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	p("backtest %s .. %s: %d events scanned in %s, %d findings\n",
		rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339), rep.Events,
		rep.Elapsed.Round(time.Millisecond), rep.Findings)
	if rep.Duplicates > 0 || rep.Undecodable > 0 {
		p("(%d duplicate rows skipped, %d undecodable records)\n", rep.Duplicates, rep.Undecodable)
	}
	for _, rr := range rep.Rules {
		p("\n%s (%s, %s): %s\n", rr.ID, rr.Kind, rr.Severity, rr.Title)
		p("  findings %d, matching events %d", rr.Findings, rr.Matches)
		if rr.Errors > 0 {
			p(", runtime errors %d", rr.Errors)
		}
		if rr.SummaryErrors > 0 {
			p(", summary errors %d", rr.SummaryErrors)
		}
		if rr.Late > 0 {
			p(", late matches dropped %d", rr.Late)
		}
		if rr.Refused > 0 {
			p(", matches refused at max_keys %d", rr.Refused)
		}
		if rr.HistoryEvents > 0 {
			p(", learned %d terms from %d events before the range", rr.HistoryTerms, rr.HistoryEvents)
		}
		p("\n")
		if rr.Findings == 0 {
			continue
		}
		p("  per day:\n")
		most := 0
		for _, d := range rr.PerDay {
			most = max(most, d.Findings)
		}
		for _, d := range rr.PerDay {
			if len(rr.PerDay) > maxDayLines && d.Findings == 0 {
				continue
			}
			p("    %s\t%d\t%s\n", d.Day, d.Findings, bar(d.Findings, most, 40))
		}
		writeCounts(p, "top group keys", rr.TopKeys, true)
		writeCounts(p, "top actors", rr.TopActors, false)
		writeCounts(p, "top targets", rr.TopTargets, false)
		if len(rr.Samples) > 0 {
			p("  samples:\n")
		}
		for _, s := range rr.Samples {
			f := &s.Finding
			p("    %s  %s  %s\n", f.Time.UTC().Format(time.RFC3339), f.AlertID, oneLine(f.Summary, 160))
			if f.Count > 0 {
				p("      count %d, key %q, first %s, last %s\n", f.Count, f.GroupKey,
					f.FirstSeen.UTC().Format(time.RFC3339), f.LastSeen.UTC().Format(time.RFC3339))
			}
			for _, ev := range s.Events {
				p("      %s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.UTC().Format(time.RFC3339), ev.EventID, oneLine(ev.Action, 50),
					ev.Outcome, oneLine(ev.Actor, 70), ev.SrcIP, oneLine(ev.Target, 60))
			}
			if n := len(f.EventIDs) - len(s.Events); n > 0 {
				p("      (%d of its events not shown: not stored in the range)\n", n)
			}
		}
	}
	return tw.Flush()
}

func writeCounts(p func(string, ...any), title string, cs []Count, events bool) {
	if len(cs) == 0 {
		return
	}
	p("  %s:\n", title)
	for _, c := range cs {
		if events {
			p("    %d\t%s\t(%d events)\n", c.Findings, oneLine(c.Value, 100), c.Events)
		} else {
			p("    %d\t%s\n", c.Findings, oneLine(c.Value, 100))
		}
	}
}

// bar draws n of most as up to width blocks (at least one for n > 0).
func bar(n, most, width int) string {
	if n == 0 || most == 0 {
		return ""
	}
	return strings.Repeat("█", max(1, n*width/most))
}

// oneLine keeps a value on one line and cuts it to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
