package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/rules"
)

func parseOne(t *testing.T, doc string) *Rule {
	t.Helper()
	rs, errs := Parse("rule.yaml", []byte(doc))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return rs[0]
}

func TestGroupSummary(t *testing.T) {
	r := parseOne(t, `id: burst
title: Denied burst
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
distinct: {field: eventName, count: 2, window: 10m, by: [actor]}
summary: "{{ group.key }} denied {{ group.count }} times in {{ group.duration }} ({{ group.first_seen }} to {{ group.last_seen }}): {{ group.value }}; last {{ eventName }} from {{ src_ip }}{{ group.count > 1 ? \"!\" : \"\" }}"
`)
	raw := `{"eventVersion":"1.08","eventTime":"2026-01-01T00:05:00Z","eventSource":"iam.amazonaws.com","eventName":"ListRoles","sourceIPAddress":"198.51.100.7","errorCode":"AccessDenied","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/eve"}}`
	var ev event.Event
	if err := ingest.Decoders(ingest.DefaultSourceConfig)["cloudtrail"].Decode([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := Group{Key: "arn:aws:iam::1:user/eve", Count: 2, FirstSeen: first, LastSeen: first.Add(5*time.Minute + 400*time.Millisecond), Value: "ListUsers, ListRoles"}
	got, err := r.GroupSummary(&ev, g)
	want := "arn:aws:iam::1:user/eve denied 2 times in 5m0s (2026-01-01T00:00:00Z to 2026-01-01T00:05:00Z): ListUsers, ListRoles; last ListRoles from 198.51.100.7!"
	if err != nil || got != want {
		t.Errorf("with the event:\n got %q, %v\nwant %q", got, err, want)
	}
	// A finding of silence has no event: its fields read as empty.
	got, err = r.GroupSummary(nil, g)
	want = "arn:aws:iam::1:user/eve denied 2 times in 5m0s (2026-01-01T00:00:00Z to 2026-01-01T00:05:00Z): ListUsers, ListRoles; last - from -!"
	if err != nil || got != want {
		t.Errorf("without an event:\n got %q, %v\nwant %q", got, err, want)
	}

	// Without a summary, the title.
	r = parseOne(t, `id: burst
title: Denied burst
severity: medium
source: json
when: status == 403
threshold: {count: 2, window: 10m, by: [client]}
`)
	if got, err := r.GroupSummary(nil, g); err != nil || got != "Denied burst" {
		t.Errorf("no summary: %q, %v", got, err)
	}
}

// TestGroupSummaryCompile: group is declared for stateful rules only, and
// typed: a misspelled member fails to load.
func TestGroupSummaryCompile(t *testing.T) {
	stateful := "id: x\ntitle: X\nseverity: low\nsource: cloudtrail\nwhen: errorCode != \"\"\nthreshold: {count: 2, window: 1m, by: [actor]}\nsummary: %q\n"
	stateless := "id: x\ntitle: X\nseverity: low\nsource: cloudtrail\nwhen: errorCode != \"\"\nsummary: %q\n"
	for _, tt := range []struct {
		doc, summary, err string
	}{
		{stateful, "{{ group.count + 1 }} {{ group.key }}", ""},
		{stateful, "{{ group.nope }}", "nope"},
		{stateful, "{{ group.count + \"a\" }}", "invalid operation"},
		{stateless, "{{ group.count }}", "unknown name group"},
	} {
		_, errs := Parse("rule.yaml", []byte(strings.ReplaceAll(tt.doc, "%q", `"`+strings.ReplaceAll(tt.summary, `"`, `\"`)+`"`)))
		switch {
		case tt.err == "" && len(errs) > 0:
			t.Errorf("%q: %v", tt.summary, errs)
		case tt.err != "" && (len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.err)):
			t.Errorf("%q: got %v, want an error with %q", tt.summary, errs, tt.err)
		}
	}
}

// TestBundledGroupSummaries renders the summary of every bundled stateful
// rule with the expected findings of its timed tests and the test's last
// event (none for absence): no part fails, and the summary names the
// group key, the entity the responder acts on (possibly reformatted: an
// "account | region" key as "account/region").
func TestBundledGroupSummaries(t *testing.T) {
	decoders := ingest.Decoders(ingest.DefaultSourceConfig)
	n := 0
	for _, pack := range []struct {
		name string
		dir  string
	}{{"builtin", "."}, {"optional", "optional"}} {
		fsys := rules.Builtin
		if pack.name == "optional" {
			fsys = rules.Optional
		}
		rs, errs := LoadFS(fsys, pack.dir)
		for _, err := range errs {
			t.Error(err)
		}
		for _, r := range rs {
			if r.Aggregation == nil {
				continue
			}
			if r.Summary == "" {
				t.Errorf("%s: a stateful rule without a summary", r.ID)
			}
			for _, tc := range r.Tests {
				if !tc.Timed() || len(tc.Findings) == 0 {
					continue
				}
				// The last event of each key stands for the one that
				// caused its finding.
				last := map[string]event.Event{}
				eng, err := NewEngine([]*Rule{r})
				if err != nil {
					t.Fatal(err)
				}
				m := eng.NewMatcher()
				for _, te := range tc.Events {
					e, err := decodeTestEvent(decoders[r.Sources[0]], r.Sources[0], te.Event)
					if err != nil {
						t.Fatalf("%s / %s: %v", r.ID, tc.Name, err)
					}
					if _, err := m.Match(&e, nil); err != nil {
						t.Fatalf("%s / %s: %v", r.ID, tc.Name, err)
					}
					for _, mt := range m.Matches() {
						last[mt.Key] = mt.Event
					}
				}
				for _, f := range tc.Findings {
					var ev *event.Event
					if e, ok := last[f.Key]; ok && r.Aggregation.Spec.Kind != state.Absence {
						ev = &e
					}
					g := Group{Key: f.Key, Count: f.Count, FirstSeen: TestBaseTime, LastSeen: TestBaseTime.Add(90 * time.Second)}
					if f.Value != nil {
						g.Value = *f.Value
					} else if f.Values != nil {
						g.Value = strings.Join(f.Values, ", ")
					}
					got, err := r.GroupSummary(ev, g)
					t.Logf("%s: %s", r.ID, got)
					n++
					if err != nil || strings.Contains(got, "?") {
						t.Errorf("%s / %s: %q, %v", r.ID, tc.Name, got, err)
					}
					if !namesKey(got, f.Key) {
						t.Errorf("%s / %s: %q does not name the key %q", r.ID, tc.Name, got, f.Key)
					}
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d findings rendered", n)
	}
}

// namesKey reports whether a summary names a group key: whole, as
// "a/b" for "a | b", or each of its parts.
func namesKey(summary, key string) bool {
	if strings.Contains(summary, key) || strings.Contains(summary, strings.ReplaceAll(key, " | ", "/")) {
		return true
	}
	for _, part := range strings.Split(key, " | ") {
		if !strings.Contains(summary, part) {
			return false
		}
	}
	return true
}
