package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
)

// mustParse loads rules from YAML text or fails the test.
func mustParse(t testing.TB, src string) []*Rule {
	t.Helper()
	rules, errs := Parse("test.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatalf("load: %v", errs)
	}
	return rules
}

// rule builds a one-source rule document.
func rule(id, source, when string) string {
	return fmt.Sprintf("id: %s\ntitle: %s\nseverity: medium\nsource: %s\nwhen: %q\n---\n", id, id, source, when)
}

// ctEvent decodes a CloudTrail record with the ingest decoder.
func ctEvent(t testing.TB, rec string) *event.Event {
	t.Helper()
	var ev event.Event
	if err := (ingest.CloudTrail{}).Decode([]byte(rec), &ev); err != nil {
		t.Fatalf("decode %s: %v", rec, err)
	}
	return &ev
}

// rawEvent makes an event around a raw record without an ingest decoder,
// to feed records the decoders would reject.
func rawEvent(source, raw string) *event.Event {
	return &event.Event{Source: source, EventID: "raw", Raw: []byte(raw)}
}

func matchIDs(t testing.TB, m *Matcher, ev *event.Event) ([]string, error) {
	t.Helper()
	out, err := m.Match(ev, nil)
	var ids []string
	for _, f := range out {
		ids = append(ids, f.RuleID)
	}
	return ids, err
}

func TestNilSafety(t *testing.T) {
	rules := mustParse(t,
		rule("principal", "cloudtrail", `requestParameters.principal == "*"`)+
			rule("deep", "cloudtrail", `userIdentity.sessionContext.attributes.mfaAuthenticated == "false"`)+
			rule("deep-not", "cloudtrail", `userIdentity.sessionContext.attributes.mfaAuthenticated != "true"`)+
			rule("index", "cloudtrail", `requestParameters["x-amz-acl"][0] == "public-read"`)+
			rule("len", "cloudtrail", `len(requestParameters.layers) == 0 and !any(resources, .type == "x") and all(requestParameters.items, false)`)+
			rule("missing-string", "cloudtrail", `errorCode == "" and sessionCredentialFromConsole == "" and readOnly == false`))
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	m := eng.NewMatcher()
	for _, rec := range []string{
		`{"eventTime":"2026-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","requestParameters":null,"userIdentity":null,"resources":null}`,
		`{"eventTime":"2026-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets"}`,
		`{"eventTime":"2026-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","requestParameters":"not an object","userIdentity":{"sessionContext":null}}`,
	} {
		ids, err := matchIDs(t, m, rawEvent("cloudtrail", rec))
		if err != nil {
			t.Errorf("%s: %v", rec, err)
		}
		if want := []string{"deep-not", "len", "missing-string"}; !slices.Equal(ids, want) {
			t.Errorf("%s: matched %v, want %v", rec, ids, want)
		}
	}
	ids, err := matchIDs(t, m, ctEvent(t, `{"eventTime":"2026-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl",
		"requestParameters":{"principal":"*","x-amz-acl":["public-read"],"layers":["l"]},"errorCode":"Denied",
		"userIdentity":{"sessionContext":{"attributes":{"mfaAuthenticated":"false"}}}}`))
	if err != nil || !slices.Equal(ids, []string{"principal", "deep", "deep-not", "index"}) {
		t.Errorf("matched %v, %v", ids, err)
	}
}

func TestRuntimeErrorIsolation(t *testing.T) {
	rules := mustParse(t,
		rule("breaks", "cloudtrail", `requestParameters.policy startsWith "x"`)+
			rule("fine", "cloudtrail", `eventName == "PutBucketPolicy"`)+
			rule("also-breaks", "cloudtrail", `requestParameters.items[5] == 1`))
	eng, _ := NewEngine(rules)
	m := eng.NewMatcher()
	ev := ctEvent(t, `{"eventTime":"2026-01-01T00:00:00Z","eventID":"e-1","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"policy":{"a":1},"items":[]}}`)
	out, err := m.Match(ev, nil)
	if len(out) != 1 || out[0].RuleID != "fine" {
		t.Fatalf("findings %v", out)
	}
	var re *RuleError
	if !errors.As(err, &re) || re.RuleID != "breaks" || re.EventID != "e-1" {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(err.Error(), "rule also-breaks: event e-1:") {
		t.Errorf("error %v does not mention also-breaks", err)
	}
	stats := eng.Stats()
	if stats[0].Errors != 1 || stats[1].Matches != 1 || stats[2].Errors != 1 {
		t.Errorf("stats %+v", stats)
	}
}

func TestMatchFinding(t *testing.T) {
	rules := mustParse(t, `id: stop
title: Trail stopped
severity: critical
source: cloudtrail
when: eventName == "StopLogging"
summary: "{{ actor }} stopped {{ requestParameters.name }} from {{ src_ip }} ({{ requestParameters.nope }})"
tags: [attack.t1562.008]
`)
	eng, _ := NewEngine(rules)
	m := eng.NewMatcher()
	ev := ctEvent(t, `{"eventTime":"2026-11-24T09:21:02Z","eventID":"8a1c","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",
		"sourceIPAddress":"45.137.21.9","requestParameters":{"name":"acct-audit"},"userIdentity":{"arn":"arn:aws:iam::1:user/kim"},"recipientAccountId":"1"}`)
	before := time.Now().UTC()
	out, err := m.Match(ev, []event.Finding{{RuleID: "earlier"}})
	if err != nil || len(out) != 2 {
		t.Fatalf("Match: %v %v", out, err)
	}
	f := out[1]
	if f.AlertID != event.AlertID("stop", "8a1c") || f.RuleID != "stop" || f.RuleTitle != "Trail stopped" ||
		f.Severity != "critical" || !slices.Equal(f.Tags, []string{"attack.t1562.008"}) ||
		!slices.Equal(f.EventIDs, []string{"8a1c"}) || !f.Time.Equal(ev.Time) || f.DetectedAt.Before(before) ||
		f.Event.EventID != "8a1c" || f.Event.Actor != "arn:aws:iam::1:user/kim" {
		t.Errorf("finding %+v", f)
	}
	if want := "arn:aws:iam::1:user/kim stopped acct-audit from 45.137.21.9 (-)"; f.Summary != want {
		t.Errorf("summary %q, want %q", f.Summary, want)
	}
	f.Tags[0] = "changed"
	again, _ := m.Match(ev, nil)
	if again[0].AlertID != f.AlertID || again[0].Tags[0] != "attack.t1562.008" {
		t.Errorf("redelivery: %+v", again[0])
	}
}

func TestDecodeOncePerEvent(t *testing.T) {
	rules := mustParse(t,
		rule("a", "cloudtrail", `eventName startsWith "Update" and requestParameters.x == 1`)+
			rule("b", "cloudtrail", `eventName == "UpdateTrail" and requestParameters.y == 2`)+
			rule("c", "cloudtrail", `eventName in ["UpdateTrail", "StopLogging"]`))
	eng, _ := NewEngine(rules)
	decodes := 0
	eng.decode = func(raw []byte, env *map[string]any) error {
		decodes++
		return json.Unmarshal(raw, env)
	}
	m := eng.NewMatcher()
	ids, err := matchIDs(t, m, ctEvent(t, `{"eventTime":"2026-01-01T00:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateTrail","requestParameters":{"x":1,"y":2}}`))
	if err != nil || !slices.Equal(ids, []string{"a", "b", "c"}) || decodes != 1 {
		t.Errorf("matched %v (%v) with %d decodes, want 3 rules, 1 decode", ids, err, decodes)
	}
	ids, _ = matchIDs(t, m, ctEvent(t, `{"eventTime":"2026-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"}`))
	if len(ids) != 0 || decodes != 1 {
		t.Errorf("prefiltered event: matched %v with %d decodes, want none and no decode", ids, decodes)
	}
	if d, _ := eng.Decoded(); d != 1 {
		t.Errorf("Decoded() = %d", d)
	}
}

func TestNormalizedFields(t *testing.T) {
	rules := mustParse(t,
		rule("ct", "cloudtrail", `actor endsWith "user/kim" and src_ip == "45.137.21.9" and account == "1" and region == "eu-west-1"
			and service == "iam.amazonaws.com" and action == "CreateUser" and target == "bob" and outcome == "success"
			and time.Year() == 2026 and status_code == 0 and source == "cloudtrail" and event_id == "e1"`)+
			rule("json-typed", "json", `time.Hour() == 9 and message == "boom" and status_code == 0 and level == "error" and nested.x == nil and undefinedName == nil`)+
			rule("json-dur", "json", `duration_ms > 12 and bytes_out == 0`))
	eng, _ := NewEngine(rules)
	m := eng.NewMatcher()
	ids, err := matchIDs(t, m, ctEvent(t, `{"eventTime":"2026-03-01T00:00:00Z","eventID":"e1","eventSource":"iam.amazonaws.com","eventName":"CreateUser",
		"awsRegion":"eu-west-1","sourceIPAddress":"45.137.21.9","recipientAccountId":"1","userIdentity":{"arn":"arn:aws:iam::1:user/kim"},"requestParameters":{"userName":"bob"}}`))
	if err != nil || !slices.Equal(ids, []string{"ct"}) {
		t.Errorf("cloudtrail: %v %v", ids, err)
	}
	// A JSON record's own "time" (a string) cannot replace the normalized
	// time.Time; its "message" (a string) wins; its "status_code" (a
	// float64) gives way to the int; its "duration_ms" (float64) wins.
	var ev event.Event
	dec := ingest.Decoders(ingest.DefaultSourceConfig)["json"]
	if err := dec.Decode([]byte(`{"time":"2026-03-01T09:30:00Z","message":"boom","level":"error","status_code":500,"duration_ms":12.5}`), &ev); err != nil {
		t.Fatal(err)
	}
	ids, err = matchIDs(t, m, &ev)
	if err != nil || !slices.Equal(ids, []string{"json-typed", "json-dur"}) {
		t.Errorf("json: %v %v", ids, err)
	}
}

func TestRecordTypes(t *testing.T) {
	rules := mustParse(t,
		rule("numbers", "cloudtrail", `requestParameters.fromPort == 22 and requestParameters.fromPort in [22, 3389] and requestParameters.toPort > 21.5 and int(requestParameters.s) == 443`)+
			rule("coerced", "cloudtrail", `readOnly and sessionCredentialFromConsole == "true" and errorCode == "" and responseElements == nil`)+
			rule("parse-json", "cloudtrail", `parseJSON(responseElements.statement)?.Principal?.AWS == "*" or parseJSON(requestParameters.doc).Effect == "Allow"`))
	eng, _ := NewEngine(rules)
	m := eng.NewMatcher()
	ids, err := matchIDs(t, m, rawEvent("cloudtrail", `{"eventTime":"2026-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"X",
		"requestParameters":{"fromPort":22,"toPort":22.0,"s":"443","doc":"{\"Effect\":\"Allow\"}"},
		"readOnly":"true","sessionCredentialFromConsole":true,"errorCode":42,"responseElements":"oops"}`))
	if err != nil || !slices.Equal(ids, []string{"numbers", "coerced", "parse-json"}) {
		t.Errorf("matched %v, %v", ids, err)
	}
	ids, err = matchIDs(t, m, ctEvent(t, `{"eventTime":"2026-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"X",
		"requestParameters":{"fromPort":22,"toPort":22,"s":"443","doc":"not json"},"responseElements":{"statement":12}}`))
	if err != nil || !slices.Equal(ids, []string{"numbers"}) {
		t.Errorf("matched %v, %v", ids, err)
	}
}

func TestMatchRawShapes(t *testing.T) {
	rules := mustParse(t, rule("any-json", "json", `message == "hello" or x == 1`))
	eng, _ := NewEngine(rules)
	m := eng.NewMatcher()
	// A line-format record kept as a JSON string adds no fields.
	ids, err := matchIDs(t, m, &event.Event{Source: "json", EventID: "1", Message: "hello", Raw: []byte(`"hello"`)})
	if err != nil || !slices.Equal(ids, []string{"any-json"}) {
		t.Errorf("string raw: %v %v", ids, err)
	}
	if _, err := m.Match(&event.Event{Source: "json", EventID: "2", Raw: []byte(`{"x":`)}, nil); !errors.Is(err, ErrDecode) {
		t.Errorf("bad raw: %v", err)
	}
	if ids, err := matchIDs(t, m, &event.Event{Source: "k8s", Raw: []byte(`{}`)}); err != nil || ids != nil {
		t.Errorf("source without rules: %v %v", ids, err)
	}
	if _, bad := eng.Decoded(); bad != 1 {
		t.Errorf("decode failures %d", bad)
	}
}

func TestNewEngineErrors(t *testing.T) {
	if _, err := NewEngine([]*Rule{{ID: "raw"}}); err == nil {
		t.Error("uncompiled rule accepted")
	}
	rules := mustParse(t, rule("same", "cloudtrail", "true"))
	if _, err := NewEngine([]*Rule{rules[0], rules[0]}); err == nil {
		t.Error("duplicate id accepted")
	}
	// A bad rule is left out; the others still run.
	good := mustParse(t, rule("good", "cloudtrail", "true")+rule("other", "json", "true"))
	eng, err := NewEngine([]*Rule{good[0], {ID: "raw"}, nil, good[0], good[1]})
	var le *LoadError
	if err == nil || !errors.As(err, &le) || le.RuleID != "good" || le.Line != 1 || le.Column != 5 ||
		!strings.Contains(err.Error(), "rule 1 (raw) was not compiled") || !strings.Contains(err.Error(), "rule 2 is nil") {
		t.Errorf("NewEngine with bad rules: err = %v", err)
	}
	if eng == nil {
		t.Fatal("NewEngine with bad rules returned no engine")
	}
	if got := ids(eng.Rules()); !slices.Equal(got, []string{"good", "other"}) {
		t.Errorf("engine rules %q, want [good other]", got)
	}
	if out, err := eng.NewMatcher().Match(ctEvent(t, `{"eventName":"x","eventSource":"s3.amazonaws.com","eventTime":"2026-01-01T00:00:00Z","eventID":"1"}`), nil); err != nil || len(out) != 1 || out[0].RuleID != "good" {
		t.Errorf("partial engine: %v, %v", ruleIDs(out), err)
	}
	if st := eng.Stats(); len(st) != 2 || st[0].RuleID != "good" || st[0].Matches != 1 {
		t.Errorf("stats %+v", st)
	}
	eng, err = NewEngine(nil)
	if err != nil || len(eng.Rules()) != 0 {
		t.Errorf("empty engine: %v", err)
	}
}

func TestRunTests(t *testing.T) {
	rules := mustParse(t, `id: stop
title: t
severity: high
source: cloudtrail
when: eventName == "StopLogging" and requestParameters.name startsWith "a"
tests:
  - name: pass, eventTime filled in
    expect: true
    event: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging, requestParameters: {name: audit}}
  - name: wrong expectation
    expect: true
    event: {eventSource: cloudtrail.amazonaws.com, eventName: StartLogging}
  - name: undecodable
    expect: false
    event: {eventName: StopLogging}
  - name: runtime error
    expect: false
    event: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging, requestParameters: {name: 7}}
`)
	dec := ingest.Decoders(ingest.DefaultSourceConfig)
	res := RunTests(rules[0], dec)
	var got []string
	for _, r := range res {
		got = append(got, fmt.Sprintf("%s:%v:%v:%v", r.Name, r.Got, r.Passed, r.Err != nil))
	}
	want := []string{"pass, eventTime filled in:true:true:false", "wrong expectation:false:false:false",
		"undecodable:false:false:true", "runtime error:false:false:true"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if res := RunTests(rules[0], nil); len(res) != 4 || res[0].Err == nil || res[0].Passed {
		t.Errorf("no decoder: %+v", res[0])
	}
}

func TestConcurrentMatchers(t *testing.T) {
	rules := mustParse(t, rule("stop", "cloudtrail", `eventName == "StopLogging" and requestParameters.name != ""`)+
		"id: sum\ntitle: t\nseverity: low\nsource: cloudtrail\nwhen: eventName == \"StopLogging\"\nsummary: \"{{ requestParameters.name }}\"\n")
	eng, _ := NewEngine(rules)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := eng.NewMatcher()
			for i := range 200 {
				name := fmt.Sprintf("trail-%d-%d", w, i)
				ev := ctEvent(t, `{"eventTime":"2026-01-01T00:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","requestParameters":{"name":"`+name+`"}}`)
				out, err := m.Match(ev, nil)
				if err != nil || len(out) != 2 || out[1].Summary != name {
					t.Errorf("worker %d: %v %v", w, out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s := eng.Stats(); s[0].Matches != 800 || s[1].Matches != 800 {
		t.Errorf("stats %+v", s)
	}
}
