package sigma

import (
	"strings"
	"testing"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/ingest"
)

const baseRules = `
---
title: Secret read
name: secret_read
logsource: {product: kubernetes, service: audit}
level: low
detection:
    sel: {verb: get, objectRef.resource: secrets}
    condition: sel
---
title: Pod exec
name: pod_exec
logsource: {product: kubernetes, service: audit}
level: low
detection:
    sel: {verb: create, objectRef.resource: pods, objectRef.subresource: exec}
    condition: sel
---
title: Denied call
name: denied
logsource: {product: aws, service: cloudtrail}
level: low
detection:
    sel: {errorCode: [AccessDenied, Client.UnauthorizedOperation]}
    condition: sel
`

func correlation(body string) string {
	return "title: Correlated\nlevel: high\ncorrelation:\n" + indent(body, "    ") + baseRules
}

func TestCorrelations(t *testing.T) {
	tests := []struct {
		name, body string
		key        string
		want       map[string]any // expected parameters of key
		when       string
	}{
		{"event_count", "type: event_count\nrules: [denied]\ngroup-by: [userIdentity.arn]\ntimespan: 15m\ncondition: {gte: 25}",
			"threshold", map[string]any{"count": 25, "window": "15m", "by": []any{"userIdentity.arn"}},
			`errorCode in ["AccessDenied", "Client.UnauthorizedOperation"]`},
		{"event_count gt, days", "type: event_count\nrules: [denied]\ntimespan: 1d\ncondition: {gt: 9}",
			"threshold", map[string]any{"count": 10, "window": "24h"}, ""},
		{"value_count", "type: value_count\nrules: [denied]\ngroup-by: [userIdentity.arn]\ntimespan: 10m\ncondition: {gte: 5, field: eventName}",
			"distinct", map[string]any{"field": "eventName", "count": 5, "window": "10m", "by": []any{"userIdentity.arn"}}, ""},
		{"temporal_ordered", "type: temporal_ordered\nrules: [pod_exec, secret_read]\ngroup-by: [user.username]\ntimespan: 10m",
			"sequence", map[string]any{"within": "10m", "by": []any{"user.username"}, "steps": []any{
				map[string]any{"when": "verb == \"create\"\nand objectRef.resource == \"pods\"\nand objectRef.subresource == \"exec\""},
				map[string]any{"when": "verb == \"get\"\nand objectRef.resource == \"secrets\""},
			}}, "true"},
		// The type's case does not matter: Value_Count counts distinct
		// values, it is not a threshold.
		{"value_count mixed case", "type: Value_Count\nrules: [denied]\ngroup-by: [userIdentity.arn]\ntimespan: 10m\ncondition: {gte: 5, field: eventName}",
			"distinct", map[string]any{"field": "eventName", "count": 5, "window": "10m", "by": []any{"userIdentity.arn"}}, ""},
		{"event_count upper case", "type: EVENT_COUNT\nrules: [denied]\ntimespan: 10m\ncondition: {gte: 3}",
			"threshold", map[string]any{"count": 3, "window": "10m"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := Convert([]Input{{Name: "c.yml", Data: []byte(correlation(tc.body))}}, Options{})
			r := rs[0]
			if r.Status != Clean {
				t.Fatalf("%s: %s %v", r.Status, r.Reason, r.Warnings)
			}
			got, _ := ruleKey(t, r.Rule, tc.key).(map[string]any)
			for k, w := range tc.want {
				if g := got[k]; !equalYAML(g, w) {
					t.Errorf("%s.%s = %#v, want %#v", tc.key, k, g, w)
				}
			}
			if tc.when != "" {
				if w := strings.TrimSpace(ruleKey(t, r.Rule, "when").(string)); w != tc.when {
					t.Errorf("when %q, want %q", w, tc.when)
				}
			}
			merged := 0
			for _, b := range rs[1:] {
				if b.Status == Merged {
					merged++
				}
			}
			if merged == 0 {
				t.Errorf("no base rule merged")
			}
		})
	}
}

func equalYAML(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalYAML(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equalYAML(x[k], y[k]) {
				return false
			}
		}
		return true
	case string:
		y, ok := b.(string)
		return ok && strings.TrimSpace(x) == strings.TrimSpace(y)
	}
	return a == b
}

func TestCorrelationRefusals(t *testing.T) {
	tests := []struct{ name, body, reason string }{
		{"temporal", "type: temporal\nrules: [pod_exec, secret_read]\ntimespan: 10m", "any order"},
		{"lt", "type: event_count\nrules: [denied]\ntimespan: 10m\ncondition: {lt: 3}", "lt has no equivalent"},
		{"unknown rule", "type: event_count\nrules: [nope]\ntimespan: 10m\ncondition: {gte: 3}", `rule "nope"`},
		{"mixed sources", "type: temporal_ordered\nrules: [denied, pod_exec]\ntimespan: 10m", "different Tripline sources"},
		{"month", "type: event_count\nrules: [denied]\ntimespan: 1M\ncondition: {gte: 3}", "timespan"},
		{"aliases", "type: event_count\nrules: [denied]\ntimespan: 10m\ncondition: {gte: 3}\naliases: {x: {denied: eventName}}", "aliases"},
		{"value_count without field", "type: value_count\nrules: [denied]\ntimespan: 10m\ncondition: {gte: 3}", "condition.field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := Convert([]Input{{Name: "c.yml", Data: []byte(correlation(tc.body))}}, Options{})
			if rs[0].Status != Refused || !strings.Contains(rs[0].Reason, tc.reason) {
				t.Fatalf("%s: %q, want refused with %q", rs[0].Status, rs[0].Reason, tc.reason)
			}
			for _, b := range rs[1:] { // base rules stand alone then
				if b.Status == Merged {
					t.Errorf("%s merged into a refused correlation", b.Title)
				}
			}
		})
	}
}

// TestCorrelationEngine runs a converted event_count rule's timed tests:
// 3 denials of one principal fire once; 2 do not.
func TestCorrelationEngine(t *testing.T) {
	r := Convert([]Input{{Name: "c.yml", Data: []byte(correlation(
		"type: event_count\nrules: [denied]\ngroup-by: [userIdentity.arn]\ntimespan: 10m\ncondition: {gte: 3}"))}}, Options{})[0]
	ev := `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","errorCode":"AccessDenied","userIdentity":{"arn":"arn:aws:iam::1:user/x"}}`
	miss := `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","errorCode":"NoSuchKey","userIdentity":{"arn":"arn:aws:iam::1:user/x"}}`
	tests := "tests:\n" +
		"  - name: three denials\n    events: [{at: 0s, repeat: 3, every: 1m, event: " + ev + "}]\n    expect: [{count: 3, key: \"arn:aws:iam::1:user/x\"}]\n" +
		"  - name: two denials and a near miss\n    events: [{at: 0s, repeat: 2, every: 1m, event: " + ev + "}, {at: 3m, event: " + miss + "}]\n    expect: []\n"
	rules, errs := detect.Parse("c.yaml", append(r.Rule, tests...))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, res := range detect.RunTests(rules[0], ingest.Decoders(ingest.DefaultSourceConfig)) {
		if !res.Passed {
			t.Error(res)
		}
	}
}
