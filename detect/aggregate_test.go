package detect

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/event"
)

// TestAggregationParse: each kind's keys parse into its spec, and
// mistakes are load errors naming the rule and the key.
func TestAggregationParse(t *testing.T) {
	ok := func(extra string) string {
		return "id: r\ntitle: T\nseverity: low\nsource: cloudtrail\nwhen: errorCode == \"AccessDenied\"\n" + extra
	}
	rules := mustParse(t, ok("threshold: {count: 25, window: 10m, by: [userIdentity.arn]}\n"))
	a := rules[0].Aggregation
	if a == nil || a.Spec.Kind != state.Threshold || a.Spec.Count != 25 || a.Spec.Window != 10*time.Minute || strings.Join(a.By, ",") != "userIdentity.arn" {
		t.Fatalf("threshold: %+v", a)
	}
	rules = mustParse(t, ok("distinct: {field: eventName, count: 5, window: 10m, by: [userIdentity.arn, sourceIPAddress]}\n"))
	if a := rules[0].Aggregation; a.Spec.Kind != state.Distinct || a.Field[0] != "eventName" || len(a.By) != 2 {
		t.Fatalf("distinct: %+v", a)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"threshold: {count: 25, window: soon}\n", "threshold.window"},
		{"threshold: {count: 25, window: 10m, bye: [x]}\n", `threshold: unknown key "bye"`},
		{"distinct: {count: 5, window: 10m}\n", "distinct: missing field"},
		{"threshold: {count: 2, window: 1m}\ndedup: {key: eventName, period: 1h}\n", "at most one of"},
		{"threshold: {count: 2, window: 1m, by: [eventNmae]}\n", "eventNmae"},
	} {
		_, errs := Parse("r.yaml", []byte(ok(tc.yaml)))
		if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestAggregationMatches: a stateful rule's match is not a finding but a
// match with its rendered group key and value; fields named only in by
// and field are decoded.
func TestAggregationMatches(t *testing.T) {
	rules := mustParse(t, "id: recon\ntitle: Recon\nseverity: medium\nsource: cloudtrail\nwhen: errorCode == \"AccessDenied\"\n"+
		"distinct: {field: eventName, count: 5, window: 10m, by: [userIdentity.arn, sourceIPAddress]}\n")
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	m := eng.NewMatcher()
	ev := &event.Event{Source: "cloudtrail", EventID: "e1", Time: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		Raw: []byte(`{"eventName":"ListUsers","errorCode":"AccessDenied","sourceIPAddress":"198.51.100.7","userIdentity":{"arn":"arn:aws:iam::1:role/fn"}}`)}
	fs, err := m.Match(ev, nil)
	if err != nil || len(fs) != 0 {
		t.Fatalf("findings %v, %v; want none", fs, err)
	}
	ms := m.Matches()
	if len(ms) != 1 || ms[0].RuleID != "recon" || ms[0].Key != "arn:aws:iam::1:role/fn | 198.51.100.7" || ms[0].Value != "ListUsers" || ms[0].Event.EventID != "e1" {
		t.Fatalf("matches %+v", ms)
	}
	if len(m.Matches()) != 0 {
		t.Fatal("Matches did not forget")
	}
}
