package detect

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/ingest"
)

// denied is a CloudTrail AccessDenied record of principal arn.
func denied(arn, api string) string {
	return `{"eventSource":"iam.amazonaws.com","eventName":"` + api + `","errorCode":"AccessDenied","userIdentity":{"type":"AssumedRole","arn":"` + arn + `"}}`
}

const fnArn = "arn:aws:sts::123456789012:assumed-role/fn/x"

func runTimedRule(t *testing.T, src string) []TestResult {
	t.Helper()
	rules := mustParse(t, src)
	return RunTests(rules[0], ingest.Decoders(ingest.DefaultSourceConfig))
}

// TestTimedThreshold: hand-computed threshold cases, the boundary at the
// window's edge included.
func TestTimedThreshold(t *testing.T) {
	src := `id: burst
title: Burst
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
threshold: {count: 25, window: 10m, by: [userIdentity.arn]}
tests:
  - name: 25 denials in 4 minutes fire once
    events:
      - {at: 0s, repeat: 25, every: 10s, event: ` + denied(fnArn, "ListUsers") + `}
    expect:
      - {count: 25, key: "` + fnArn + `"}
  - name: 50 denials are two findings of 25
    events:
      - {at: 0s, repeat: 50, every: 1s, event: ` + denied(fnArn, "ListUsers") + `}
    expect:
      - {count: 25, key: "` + fnArn + `"}
      - {count: 25, key: "` + fnArn + `"}
  - name: exactly 10 minutes between the first and the 25th count
    events:
      - {at: 0s, repeat: 24, every: 1s, event: ` + denied(fnArn, "ListUsers") + `}
      - {at: 10m, event: ` + denied(fnArn, "GetUser") + `}
    expect: [{count: 25, key: "` + fnArn + `"}]
  - name: one nanosecond more does not
    events:
      - {at: 0s, event: ` + denied(fnArn, "ListUsers") + `}
      - {at: 1s, repeat: 23, every: 1s, event: ` + denied(fnArn, "ListUsers") + `}
      - {at: 10m0.000000001s, event: ` + denied(fnArn, "GetUser") + `}
    expect: []
  - name: two principals below the threshold each
    events:
      - {at: 0s, repeat: 20, every: 1s, event: ` + denied(fnArn, "ListUsers") + `}
      - {at: 5s, repeat: 20, every: 1s, event: ` + denied("arn:aws:iam::123456789012:user/ana", "ListUsers") + `}
    expect: []
  - name: the when still decides single events
    expect: false
    event: {"eventSource":"iam.amazonaws.com","eventName":"ListUsers"}
`
	for _, res := range runTimedRule(t, src) {
		if !res.Passed {
			t.Errorf("%s", res)
		}
	}
}

// TestTimedAbsenceAndUntil: a silence fires only once the clock passes
// it; until stops the clock before.
func TestTimedAbsenceAndUntil(t *testing.T) {
	src := `id: quiet
title: Quiet
severity: medium
source: cloudtrail
when: "true"
absence: {window: 30m, by: [recipientAccountId, awsRegion]}
tests:
  - name: a region stops sending
    events:
      - {at: 0s, repeat: 10, every: 1m, event: {"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","recipientAccountId":"1","awsRegion":"eu-west-1"}}
    expect: [{count: 10, key: "1 | eu-west-1"}]
  - name: not yet decided at 35 minutes
    events:
      - {at: 0s, repeat: 10, every: 1m, event: {"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","recipientAccountId":"1","awsRegion":"eu-west-1"}}
    until: 35m
    expect: []
  - name: decided at 41 minutes (last + 30m + 2m lateness)
    events:
      - {at: 0s, repeat: 10, every: 1m, event: {"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","recipientAccountId":"1","awsRegion":"eu-west-1"}}
    until: 2026-01-01T00:41:00Z
    expect: [{count: 10, key: "1 | eu-west-1"}]
`
	for _, res := range runTimedRule(t, src) {
		if !res.Passed {
			t.Errorf("%s", res)
		}
	}
}

// TestTimedKinds: distinct values, new_term values, dedup updates folded
// into their finding, a sequence with absent.
func TestTimedKinds(t *testing.T) {
	for _, src := range []string{`id: recon
title: Recon
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
distinct: {field: eventName, count: 3, window: 10m, by: [userIdentity.arn]}
tests:
  - name: three distinct APIs
    events:
      - {at: 0s, event: ` + denied(fnArn, "ListUsers") + `}
      - {at: 1s, event: ` + denied(fnArn, "ListUsers") + `}
      - {at: 2s, event: ` + denied(fnArn, "ListRoles") + `}
      - {at: 3s, event: ` + denied(fnArn, "GetUser") + `}
    expect: [{count: 3, key: "` + fnArn + `", values: [ListUsers, ListRoles, GetUser]}]
`, `id: newip
title: New IP
severity: low
source: cloudtrail
when: sourceIPAddress != ""
new_term: {fields: [sourceIPAddress], by: [userIdentity.arn], history: 720h}
tests:
  - name: the second address is new, the repeat is not
    events:
      - {at: 0s, event: {"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"198.51.100.1","userIdentity":{"arn":"u"}}}
      - {at: 1h, event: {"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"198.51.100.1","userIdentity":{"arn":"u"}}}
      - {at: 2h, event: {"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"203.0.113.9","userIdentity":{"arn":"u"}}}
    expect:
      - {count: 1, key: u, value: 198.51.100.1}
      - {count: 1, key: u, value: 203.0.113.9}
`, `id: once
title: Once
severity: low
source: cloudtrail
when: eventName == "StopLogging"
dedup: {key: recipientAccountId, period: 1h}
tests:
  - name: later matches update the finding's count
    events:
      - {at: 0s, repeat: 3, every: 10m, event: {"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","recipientAccountId":"1"}}
      - {at: 2h, event: {"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","recipientAccountId":"1"}}
    expect: [{count: 3, key: "1"}, {count: 1, key: "1"}]
`, `id: deploy-no-approval
title: Deploy without approval
severity: low
source: cloudtrail
when: "true"
sequence:
  by: [requestParameters.functionName]
  within: 30m
  steps:
    - when: eventName == "UpdateFunctionCode"
  absent: eventName == "TagResource"
tests:
  - name: a deploy without the approval tag
    events:
      - {at: 0s, event: {"eventSource":"lambda.amazonaws.com","eventName":"UpdateFunctionCode","requestParameters":{"functionName":"f"}}}
      - {at: 1m, event: {"eventSource":"lambda.amazonaws.com","eventName":"UpdateFunctionCode","requestParameters":{"functionName":"g"}}}
      - {at: 5m, event: {"eventSource":"lambda.amazonaws.com","eventName":"TagResource","requestParameters":{"functionName":"g"}}}
    expect: [{count: 1, key: f}]
`} {
		for _, res := range runTimedRule(t, src) {
			if !res.Passed || !res.Timed || !res.Expect || !res.Got {
				t.Errorf("%s (%+v)", res, res)
			}
		}
	}
}

// TestTimedFailureDiff: a failed timed test says what it wanted and what
// it got, finding by finding.
func TestTimedFailureDiff(t *testing.T) {
	src := `id: burst
title: Burst
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
threshold: {count: 3, window: 10m, by: [userIdentity.arn]}
tests:
  - name: wrong expectation
    events:
      - {at: 0s, repeat: 7, every: 1m, event: ` + denied(fnArn, "ListUsers") + `}
    expect:
      - {count: 3, key: "` + fnArn + `"}
      - {count: 4, key: "` + fnArn + `"}
`
	res := runTimedRule(t, src)[0]
	if res.Passed || res.Err != nil || len(res.Findings) != 2 {
		t.Fatalf("%+v", res)
	}
	got := res.String()
	for _, want := range []string{
		"burst / wrong expectation: want 2 findings, got 2",
		`ok   [1] count 3, key "` + fnArn + `" (first 0s, last 2m0s)`,
		`want [2] count 4, key "` + fnArn + `"`,
		`got  [2] count 3, key "` + fnArn + `" (first 3m0s, last 5m0s)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	// Fewer findings than expected, and an unexpected one.
	src = strings.Replace(src, "repeat: 7", "repeat: 3", 1)
	if got := runTimedRule(t, src)[0].String(); !strings.Contains(got, "want 2 findings, got 1") || !strings.Contains(got, "got  [2] (none)") {
		t.Errorf("diff:\n%s", got)
	}
	src = strings.Replace(src, "      - {count: 4, key: \""+fnArn+"\"}\n", "", 1)
	src = strings.Replace(src, "repeat: 3", "repeat: 6", 1)
	if got := runTimedRule(t, src)[0].String(); !strings.Contains(got, "want 1 finding, got 2") || !strings.Contains(got, "want [2] (none)") {
		t.Errorf("diff:\n%s", got)
	}
}

// TestTimedRepeatIDs: repeated copies get distinct ids, and a record
// written twice is two events.
func TestTimedRepeatIDs(t *testing.T) {
	src := `id: burst
title: Burst
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
threshold: {count: 4, window: 10m}
tests:
  - name: ids
    events:
      - {at: 0s, repeat: 2, every: 1s, event: {"eventID":"e","eventSource":"iam.amazonaws.com","eventName":"ListUsers","errorCode":"AccessDenied"}}
      - {at: 5s, event: {"eventID":"e","eventSource":"iam.amazonaws.com","eventName":"ListUsers","errorCode":"AccessDenied"}}
      - {at: 6s, event: {"eventID":"e","eventSource":"iam.amazonaws.com","eventName":"ListUsers","errorCode":"AccessDenied"}}
    expect: [{count: 4}]
`
	res := runTimedRule(t, src)[0]
	if !res.Passed {
		t.Fatal(res)
	}
	if ids := strings.Join(res.Findings[0].EventIDs, ","); ids != "e-1,e-2,e,e#2" {
		t.Errorf("event ids %s", ids)
	}
	if f := res.Findings[0]; !f.First.Equal(TestBaseTime) || !f.Last.Equal(TestBaseTime.Add(6*time.Second)) {
		t.Errorf("first %v last %v", f.First, f.Last)
	}
}

// TestTimedTestErrors: malformed timed tests are load errors at their
// position.
func TestTimedTestErrors(t *testing.T) {
	head := "id: r\ntitle: T\nseverity: low\nsource: cloudtrail\nwhen: errorCode != \"\"\nthreshold: {count: 2, window: 1m}\ntests:\n"
	ev := `{"eventSource":"s3.amazonaws.com","eventName":"X"}`
	for _, tc := range []struct{ yaml, want string }{
		{"  - {name: a, events: [{at: 0s, event: " + ev + "}], expect: true}\n", "r.yaml:8:102: rule r: a timed test's expect is the list of findings"},
		{"  - {name: a, events: [{at: soon, event: " + ev + "}], expect: []}\n", `events[0].at: "soon" is neither a duration`},
		{"  - {name: a, events: [{at: 0s}], expect: []}\n", "events[0]: missing event"},
		{"  - {name: a, events: [{at: 0s, every: 1s, event: " + ev + "}], expect: []}\n", "every needs repeat"},
		{"  - {name: a, events: [{at: 0s, repeat: 0, event: " + ev + "}], expect: []}\n", "repeat must be 1.."},
		{"  - {name: a, events: [], expect: []}\n", "events must be a non-empty list"},
		{"  - {name: a, events: [{at: 0s, event: " + ev + "}], expect: [{key: x}]}\n", "expect[0]: missing count"},
		{"  - {name: a, events: [{at: 0s, event: " + ev + "}], expect: [{count: 1, keys: x}]}\n", `expect[0].keys: unknown key "keys"`},
		{"  - {name: a, events: [{at: 0s, event: " + ev + "}], event: " + ev + ", expect: []}\n", "a timed test has events, not event"},
		{"  - {name: a, events: [{at: 0s, event: " + ev + "}]}\n", `test "a": missing "expect"`},
		{"  - {name: a, event: " + ev + ", expect: true, until: 1m}\n", "until is for timed tests"},
	} {
		_, errs := Parse("r.yaml", []byte(head+tc.yaml))
		if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\nerror %v\nwant  %q", tc.yaml, err, tc.want)
		}
	}
	// A stateless rule has no timed tests.
	_, errs := Parse("r.yaml", []byte("id: r\ntitle: T\nseverity: low\nsource: cloudtrail\nwhen: errorCode != \"\"\ntests:\n"+
		"  - {name: a, events: [{at: 0s, event: "+ev+"}], expect: []}\n"))
	if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), "r.yaml:7:5: rule r: test \"a\": timed tests (events:) are for stateful rules") {
		t.Errorf("stateless rule with a timed test: %v", err)
	}
}

// TestTimedDecodeError: a record the decoder rejects fails the test and
// names the entry.
func TestTimedDecodeError(t *testing.T) {
	src := `id: r
title: T
severity: low
source: cloudtrail
when: errorCode != ""
threshold: {count: 2, window: 1m}
tests:
  - name: bad
    events:
      - {at: 0s, event: {"eventName":"X"}}
    expect: []
`
	res := runTimedRule(t, src)[0]
	if res.Passed || res.Err == nil || !strings.Contains(res.String(), "events[0] (line 10): decode test event") {
		t.Errorf("%s", res)
	}
}
