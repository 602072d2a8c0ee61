package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
)

// memEvents is an in-memory Events.
type memEvents struct {
	evs     []event.Event
	queries []store.EventQuery
}

func (m *memEvents) ScanEvents(ctx context.Context, q store.EventQuery, fn func(event.Event) error) error {
	m.queries = append(m.queries, q)
	evs := slices.Clone(m.evs)
	slices.SortStableFunc(evs, func(a, b event.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.EventID, b.EventID)
	})
	for _, ev := range evs {
		if ev.Time.Before(q.Since) || !ev.Time.Before(q.Until) || (len(q.Sources) > 0 && !slices.Contains(q.Sources, ev.Source)) {
			continue
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

func (m *memEvents) ScanHistory(_ context.Context, q store.HistoryQuery, fn func(event.Event) error) error {
	for _, ev := range m.evs {
		if ev.Time.Before(q.Since) || !ev.Time.Before(q.Until) || !slices.Contains(q.Sources, ev.Source) {
			continue
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

func (m *memEvents) EventsByID(_ context.Context, ids, _ []string, _, _ time.Time) ([]event.Event, error) {
	var out []event.Event
	for _, ev := range m.evs {
		if slices.Contains(ids, ev.EventID) && !slices.ContainsFunc(out, func(e event.Event) bool { return e.EventID == ev.EventID }) {
			out = append(out, ev)
		}
	}
	return out, nil
}

var base = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// denied is a CloudTrail AccessDenied event of a user at base+at.
func denied(t *testing.T, id, user string, at time.Duration) event.Event {
	t.Helper()
	rec := fmt.Sprintf(`{"eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":"ListRoles","errorCode":"AccessDenied","eventID":%q,"sourceIPAddress":"198.51.100.7","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/%s"},"requestParameters":{"roleName":"r-%s"}}`,
		base.Add(at).Format(time.RFC3339), id, user, id)
	var ev event.Event
	if err := (ingest.CloudTrail{}).Decode([]byte(rec), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func parse(t *testing.T, doc string) []*detect.Rule {
	t.Helper()
	rs, errs := detect.Parse("test.yaml", []byte(doc))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return rs
}

const testRules = `id: burst
title: Denied burst
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
threshold: {count: 3, window: 10m, by: [userIdentity.arn]}
---
id: every-denial
title: Denied
severity: low
source: cloudtrail
when: errorCode == "AccessDenied"
---
id: quiet
title: User went quiet
severity: info
source: cloudtrail
when: errorCode == "AccessDenied"
absence: {window: 6h, by: [userIdentity.arn]}
---
id: once
title: Denied once a day
severity: low
source: cloudtrail
when: errorCode == "AccessDenied"
dedup: {period: 24h, by: [userIdentity.arn]}
`

// TestReport checks the per-day buckets, the top keys, actors and
// targets, the samples with their events, a dedup finding counted once
// with its last count, and an absence fired by the clock at the end.
func TestReport(t *testing.T) {
	var evs []event.Event
	// Day 1: eve 7 denials in 6 minutes (two bursts of 3), bob 2.
	for i := range 7 {
		evs = append(evs, denied(t, fmt.Sprintf("e1-%d", i), "eve", 9*time.Hour+time.Duration(i)*time.Minute))
	}
	evs = append(evs, denied(t, "b1-0", "bob", 10*time.Hour), denied(t, "b1-1", "bob", 10*time.Hour+time.Minute))
	// Day 3: bob 3 denials (a burst); nothing on day 2.
	for i := range 3 {
		evs = append(evs, denied(t, fmt.Sprintf("b3-%d", i), "bob", 48*time.Hour+time.Duration(i)*time.Second))
	}
	evs = append(evs, evs[3]) // a duplicate row
	src := &memEvents{evs: evs}
	var got []event.Finding
	rep, err := Run(t.Context(), src, Config{Rules: parse(t, testRules), Since: base.Add(time.Hour), Until: base.Add(72 * time.Hour),
		Lateness: 2 * time.Minute, Chunk: 7 * time.Hour, OnFinding: func(f event.Finding) { got = append(got, f) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 12 || rep.Duplicates != 1 {
		t.Fatalf("events %d, duplicates %d", rep.Events, rep.Duplicates)
	}
	if len(src.queries) != 11 || !slices.Equal(src.queries[0].Sources, []string{"cloudtrail"}) {
		t.Fatalf("queries %+v: want 11 chunks of 7h over cloudtrail", src.queries)
	}
	byID := map[string]*RuleReport{}
	for _, rr := range rep.Rules {
		byID[rr.ID] = rr
	}
	days := func(rr *RuleReport) string {
		var s []string
		for _, d := range rr.PerDay {
			s = append(s, fmt.Sprintf("%s=%d", d.Day, d.Findings))
		}
		return strings.Join(s, " ")
	}
	burst := byID["burst"]
	if burst.Findings != 3 || days(burst) != "2026-03-02=2 2026-03-03=0 2026-03-04=1" {
		t.Fatalf("burst: %d findings, days %s", burst.Findings, days(burst))
	}
	wantKeys := []Count{{"arn:aws:iam::1:user/eve", 2, 6}, {"arn:aws:iam::1:user/bob", 1, 3}}
	if !slices.Equal(burst.TopKeys, wantKeys) || burst.Matches != 12 {
		t.Fatalf("burst top keys %+v, matches %d", burst.TopKeys, burst.Matches)
	}
	if s := burst.Samples; len(s) != 3 || len(s[0].Events) != 3 || s[0].Events[0].EventID != "e1-0" || s[0].Finding.Count != 3 {
		t.Fatalf("burst samples %+v", s)
	}
	every := byID["every-denial"]
	if every.Findings != 12 || every.TopActors[0] != (Count{"arn:aws:iam::1:user/eve", 7, 7}) || len(every.TopTargets) != 10 || len(every.Samples) != 3 {
		t.Fatalf("every-denial: %+v", every)
	}
	// eve's silence from 9:06 fires at 15:06 (+lateness); bob's at
	// 10:01 and again after day 3's last denial, at 54:00:02, in range.
	quiet := byID["quiet"]
	if quiet.Findings != 3 || days(quiet) != "2026-03-02=2 2026-03-03=0 2026-03-04=1" {
		t.Fatalf("quiet: %d findings, days %s", quiet.Findings, days(quiet))
	}
	// One dedup finding per user and day; eve's is updated to 7.
	once := byID["once"]
	if once.Findings != 3 || !slices.Contains(once.TopKeys, Count{"arn:aws:iam::1:user/eve", 1, 7}) {
		t.Fatalf("once: %d findings, keys %+v", once.Findings, once.TopKeys)
	}
	if i := slices.IndexFunc(once.Samples, func(s Sample) bool { return s.Finding.GroupKey == "arn:aws:iam::1:user/eve" }); i < 0 ||
		once.Samples[i].Finding.Count != 7 || !once.Samples[i].Finding.Update {
		t.Fatalf("once samples: %+v", once.Samples)
	}
	if rep.Findings != 3+12+3+3 || len(got) < rep.Findings {
		t.Fatalf("findings %d, OnFinding %d", rep.Findings, len(got))
	}

	// Chunks and the range's cut into queries change nothing.
	var again []event.Finding
	if _, err := Run(t.Context(), src, Config{Rules: parse(t, testRules), Since: base.Add(time.Hour), Until: base.Add(72 * time.Hour),
		Lateness: 2 * time.Minute, OnFinding: func(f event.Finding) { again = append(again, f) }}); err != nil {
		t.Fatal(err)
	}
	if ids(got) != ids(again) {
		t.Fatalf("chunk 7h: %s\nchunk 24h: %s", ids(got), ids(again))
	}

	var text, js bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"12 events scanned", "burst (threshold, medium): Denied burst", "2026-03-03  0", "top group keys:", "e1-0"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Findings != rep.Findings || len(back.Rules[0].PerDay) != 3 {
		t.Fatalf("json: %v %+v", err, back)
	}
}

func ids(fs []event.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, fmt.Sprintf("%s/%d", f.AlertID, f.Count))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// TestStartsEmpty: a window straddling Since counts only its part after
// Since.
func TestStartsEmpty(t *testing.T) {
	var evs []event.Event
	for i := range 4 {
		evs = append(evs, denied(t, fmt.Sprintf("s-%d", i), "eve", 9*time.Hour+time.Duration(i)*time.Minute))
	}
	rules := parse(t, testRules)[:1]
	for since, want := range map[time.Duration]int{0: 1, 9*time.Hour + 90*time.Second: 0} {
		rep, err := Run(t.Context(), &memEvents{evs: evs}, Config{Rules: rules, Since: base.Add(since), Until: base.Add(24 * time.Hour), Lateness: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Findings != want {
			t.Errorf("since +%s: %d findings, want %d", since, rep.Findings, want)
		}
	}
}

func TestCounterCapsDistinctValues(t *testing.T) {
	c := counter{}
	for i := range maxDistinct + 5 {
		c.add(fmt.Sprint(i), 1, 1)
	}
	c.add("0", 1, 1)
	top := c.top(2)
	if len(c) != maxDistinct+1 || top[0] != (Count{otherValue, 5, 5}) || top[1] != (Count{"0", 2, 2}) {
		t.Fatalf("len %d, top %+v", len(c), top)
	}
}

func TestRunChecksConfig(t *testing.T) {
	rules := parse(t, testRules)
	for name, cfg := range map[string]Config{
		"no range":      {Rules: rules, Lateness: time.Minute},
		"inverted":      {Rules: rules, Since: base, Until: base.Add(-time.Hour), Lateness: time.Minute},
		"no rules":      {Since: base, Until: base.Add(time.Hour)},
		"zero lateness": {Rules: rules, Since: base, Until: base.Add(time.Hour), Lateness: -time.Second},
	} {
		if _, err := Run(t.Context(), &memEvents{}, cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestDuplicateRows: a row stored twice is counted once, by the table's
// key (source, time, event_id): the same id and time from two sources are
// two events, however the scan orders their rows.
func TestDuplicateRows(t *testing.T) {
	ev := func(id, source string) event.Event {
		e := denied(t, id, "eve", 9*time.Hour)
		e.Source = source
		return e
	}
	rules := parse(t, "id: all\ntitle: All\nseverity: low\nsource: [cloudtrail, json]\nwhen: \"true\"\n")
	tests := []struct {
		name               string
		evs                []event.Event
		events, duplicates int64
	}{
		{"one source, stored twice", []event.Event{ev("a", "cloudtrail"), ev("a", "cloudtrail")}, 1, 1},
		{"two sources, one id", []event.Event{ev("a", "cloudtrail"), ev("a", "json")}, 2, 0},
		{"two sources, both stored twice, interleaved", []event.Event{ev("a", "cloudtrail"), ev("a", "json"), ev("a", "cloudtrail"), ev("a", "json")}, 2, 2},
		{"two ids, one time", []event.Event{ev("a", "cloudtrail"), ev("b", "cloudtrail"), ev("b", "cloudtrail")}, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(t.Context(), &memEvents{evs: tc.evs}, Config{Rules: rules, Since: base, Until: base.Add(24 * time.Hour), Lateness: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Events != tc.events || rep.Duplicates != tc.duplicates || int64(rep.Findings) != tc.events {
				t.Errorf("events %d, duplicates %d, findings %d; want %d, %d, %d", rep.Events, rep.Duplicates, rep.Findings, tc.events, tc.duplicates, tc.events)
			}
		})
	}
}

// TestNewTermLearnsBeforeSince: a new_term rule backtested from Since
// knows the terms of the events before it within its history, as the rule
// loaded at Since would learn them: only terms unseen before fire.
func TestNewTermLearnsBeforeSince(t *testing.T) {
	rules, errs := detect.Parse("nt.yaml", []byte(`id: bt-new-role
title: New role name per user
severity: low
source: cloudtrail
when: errorCode == "AccessDenied"
new_term: {fields: [sourceIPAddress], by: [userIdentity.arn], history: 24h}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	src := &memEvents{evs: []event.Event{
		denied(t, "old-a", "alice", -2*time.Hour), // before Since: learned
		denied(t, "old-b", "bob", -30*time.Hour),  // before the history: not learned
		denied(t, "new-a", "alice", time.Hour),    // alice's address again: known
		denied(t, "new-b", "bob", time.Hour),      // bob's, last seen 31h ago: new
	}}
	run := func(seed int) []string {
		var ids []string
		rep, err := Run(t.Context(), src, Config{Rules: rules, Since: base, Until: base.Add(24 * time.Hour), SeedMaxEvents: seed,
			OnFinding: func(f event.Finding) { ids = append(ids, f.EventIDs...) }})
		if err != nil {
			t.Fatal(err)
		}
		if h := rep.Rules[0].HistoryEvents; (seed >= 0) != (h == 1) {
			t.Errorf("seed bound %d: %d history events read, want 1 (0 when learning is off)", seed, h)
		}
		return ids
	}
	if got := run(0); !slices.Equal(got, []string{"new-b"}) {
		t.Errorf("with history: findings of %v, want new-b", got)
	}
	if got := run(-1); !slices.Equal(got, []string{"new-a", "new-b"}) {
		t.Errorf("without history: findings of %v, want new-a and new-b", got)
	}
}
