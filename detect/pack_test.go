package detect

import (
	"testing"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
)

// TestBuiltinPack loads the embedded pack and runs every rule's inline
// tests; each rule needs a description, tags, a summary, a prefilter and
// at least one positive and one negative test.
func TestBuiltinPack(t *testing.T) {
	rules := builtinRules(t)
	if len(rules) < 50 {
		t.Errorf("%d rules, want at least 50", len(rules))
	}
	decoders := ingest.Decoders(ingest.DefaultSourceConfig)
	for _, r := range rules {
		t.Run(r.ID, func(t *testing.T) {
			if r.Description == "" || len(r.Tags) == 0 || r.Summary == "" {
				t.Error("rule needs a description, tags and a summary")
			}
			if r.Prefilter(r.Sources[0]) == "" && !unfilterable[r.ID] {
				t.Error("rule has no prefilter: every event of its source would be decoded for it")
			} else if r.Prefilter(r.Sources[0]) != "" && unfilterable[r.ID] {
				t.Error("rule has a prefilter now: take it off the unfilterable list")
			}
			pos, neg := 0, 0
			for _, res := range RunTests(r, decoders) {
				if res.Expect {
					pos++
				} else {
					neg++
				}
				if !res.Passed {
					t.Error(res)
				}
			}
			if pos == 0 || neg == 0 {
				t.Errorf("%d positive and %d negative tests, want at least one of each", pos, neg)
			}
		})
	}
}

// unfilterable are the built-in rules that cannot have a prefilter
// without missing events: the 401/403 rules, the authorizer-failure and
// large-response rules read normalized fields (status_code, error_code,
// bytes_out), whose raw form is a number or a string depending on the log
// format (a prefilter compares raw fields with string literals); the
// injection and secret rules scan the text of every request or log line,
// which no literal comparison can narrow. No other rule of their sources
// loses its prefilter by it (the engine prefilters a source only when all
// its rules have one): apigateway and envoy had none already (the 401/403
// rules), and container, json, otlp and syslog have no other rules. A
// CloudTrail, k8s-audit or lambda rule must never be here (the lambda
// secret rule is prefiltered on lambda.kind).
var unfilterable = map[string]bool{
	"apigateway-auth-failure-burst":       true,
	"envoy-auth-failure-burst":            true,
	"apigateway-authorizer-failure-burst": true,
	"apigateway-injection-attempt":        true,
	"envoy-injection-attempt":             true,
	"http-large-response-burst":           true,
	"container-secret-in-logs":            true,
	"logs-secret-exposed":                 true,
}

// TestBuiltinPackQuietOnBenign checks that no rule fires on routine
// activity: CI deployments through a role, application reads, scanners,
// SSO logins, data events.
func TestBuiltinPackQuietOnBenign(t *testing.T) {
	eng, _ := NewEngine(builtinRules(t))
	m := eng.NewMatcher()
	var out []event.Finding
	for _, raw := range readNDJSON(t, "testdata/benign.ndjson") {
		ev := ctEvent(t, string(raw))
		var err error
		if out, err = m.Match(ev, out[:0]); err != nil {
			t.Error(err)
		}
		for _, f := range out {
			t.Errorf("%s fired on benign event %s: %s", f.RuleID, ev.EventID, f.Summary)
		}
	}
}
