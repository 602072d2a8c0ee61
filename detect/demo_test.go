package detect

import (
	"slices"
	"testing"
)

// TestDemoStory replays deploy/demo/attack.ndjson: a leaked IAM user
// (dev-ops-kim) signs in without MFA from an unusual address, reads
// secrets, mints a key for svc-reporting and makes it admin, then as
// svc-reporting stops CloudTrail, overwrites a Lambda function and exposes
// it through a public permission and an unauthenticated function URL, all
// among routine CI and application activity that must stay quiet.
func TestDemoStory(t *testing.T) {
	eng, _ := NewEngine(builtinRules(t))
	m := eng.NewMatcher()
	var got []string
	lines := readNDJSON(t, demoFile)
	if len(lines) < 40 || len(lines) > 80 {
		t.Errorf("%d records, want 40 to 80", len(lines))
	}
	for _, raw := range lines {
		ev := ctEvent(t, string(raw))
		out, err := m.Match(ev, nil)
		if err != nil {
			t.Error(err)
		}
		for _, f := range out {
			got = append(got, f.RuleID)
			if f.Event.SrcIP != "45.137.21.9" {
				t.Errorf("%s fired on event %s from %s, outside the attack", f.RuleID, ev.EventID, f.Event.SrcIP)
			}
			t.Logf("%-8s %s", f.Severity, f.Summary)
		}
	}
	want := []string{
		"aws-console-login-without-mfa",
		"aws-secrets-read-by-human",
		"aws-secrets-read-by-human",
		"aws-iam-access-key-for-other-user",
		"aws-iam-admin-policy-attached",
		"aws-cloudtrail-stopped",
		"aws-lambda-code-updated-by-human",
		"aws-lambda-permission-public",
		"aws-lambda-function-url-public",
	}
	if !slices.Equal(got, want) {
		t.Errorf("fired\n %q\nwant\n %q", got, want)
	}
}
