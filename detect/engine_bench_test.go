package detect

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/event"
)

// mixedRules returns 100 rules: the built-in pack (stateless), and
// stateful rules over the same CloudTrail events, grouped by principal,
// source IP or event name, so that most events are matches of some
// stateful rule.
func mixedRules(b testing.TB) []*Rule {
	b.Helper()
	rules := builtinRules(b)
	aggs := []string{
		"threshold: {count: 25, window: 10m, by: [userIdentity.arn]}",
		"distinct: {field: eventName, count: 10, window: 10m, by: [userIdentity.arn]}",
		"new_term: {fields: [userIdentity.arn, sourceIPAddress], history: 720h}",
		"spike: {window: 5m, factor: 10, min_count: 50, by: [eventSource]}",
		"absence: {window: 30m, by: [recipientAccountId, awsRegion]}",
		"dedup: {key: sourceIPAddress, period: 1h}",
	}
	// Selective conditions, as real rules have: an event name of the
	// benchmark corpus and one more condition.
	names := []string{"AssumeRoleWithWebIdentity", "UpdateFunctionCode20150331v2", "UpdateFunctionConfiguration20150331v2",
		"PublishVersion20150331", "GetFunction20150331v2", "GetSecretValue", "Decrypt", "GetObject", "Invoke",
		"DescribeSecurityGroups", "GetTrailStatus", "ListAttachedUserPolicies", "ConsoleLogin", "StartQuery",
		"AuthorizeSecurityGroupIngress", "PutBucketPolicy", "AttachRolePolicy", "AssumeRole", "CreateAccessKey"}
	extra := []string{`errorCode == ""`, `userIdentity.type == "AssumedRole"`, `sourceIPAddress != "10.0.0.1"`, `readOnly != true`}
	var src strings.Builder
	for i := 0; len(rules)+i < 100; i++ {
		agg := "" // every other generated rule is stateless
		if i%2 == 0 {
			agg = aggs[(i/2)%len(aggs)]
		}
		fmt.Fprintf(&src, "---\nid: generated-%d\ntitle: G%d\nseverity: low\nsource: cloudtrail\nwhen: eventName == %q and %s\n%s\n",
			i, i, names[i%len(names)], extra[(i/len(names))%len(extra)], agg)
	}
	stateful, errs := Parse("mixed.yaml", []byte(src.String()))
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	return append(rules, stateful...)
}

// BenchmarkEngineMixed measures the whole detection path per event with
// 100 rules, stateless and stateful: the matcher, then every stateful
// match counted by its partition's state machine (one partition: what one
// core does). "predecoded" is the measure: events whose records
// are already decoded (Matcher.matchDecoded); "raw" decodes each record
// from its JSON bytes as the detect stage does (Matcher.Match).
func BenchmarkEngineMixed(b *testing.B) {
	evs, _ := benchEvents(b)
	fields := make([]map[string]any, len(evs))
	for i, ev := range evs {
		if err := decodeAll(ev.Raw, &fields[i]); err != nil {
			b.Fatal(err)
		}
	}
	rules := mixedRules(b)
	eng, err := NewEngine(rules)
	if err != nil {
		b.Fatal(err)
	}
	specs := map[string]state.Spec{}
	stateful := 0
	for _, r := range rules {
		if r.Aggregation != nil {
			specs[r.ID] = r.Aggregation.Spec
			stateful++
		}
	}
	for _, predecoded := range []bool{true, false} {
		b.Run(map[bool]string{true: "predecoded", false: "raw"}[predecoded], func(b *testing.B) {
			part, err := state.NewPartition(specs, 2*time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			m := eng.NewMatcher()
			base := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
			matches, seq := 0, uint64(0)
			var out []event.Finding
			var ev event.Event // one copy, as the detect stage matches events in place
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ev = *evs[i%len(evs)]
				ev.Time = base.Add(time.Duration(i) * time.Millisecond)
				if predecoded {
					out, err = m.matchDecoded(&ev, fields[i%len(evs)], out[:0])
				} else {
					out, err = m.Match(&ev, out[:0])
				}
				if err != nil {
					b.Fatal(err)
				}
				for _, mt := range m.Matches() {
					seq++
					part.Apply(state.Match{Rule: mt.RuleID, Key: mt.Key, Time: mt.Event.Time, EventID: mt.Event.EventID, Value: mt.Value, Seq: seq})
					matches++
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(matches)/float64(b.N), "matches/event")
			b.ReportMetric(float64(len(rules)), "rules")
			b.ReportMetric(float64(stateful), "stateful")
		})
	}
}

// TestMixedRulesSameMatches checks, on the benchmark's 100 rules and
// events, that the rule index and matchDecoded change no verdict: findings
// and stateful matches are those of evaluating every rule on the whole
// decoded record.
func TestMixedRulesSameMatches(t *testing.T) {
	evs, _ := benchEvents(t)
	rules := mixedRules(t)
	on, _ := NewEngine(rules)
	off, _ := NewEngine(rules)
	off.noPrefilter = true
	if on.sources["cloudtrail"].index == nil {
		t.Fatal("no rule index for cloudtrail")
	}
	mOn, mOff := on.NewMatcher(), off.NewMatcher()
	type result struct {
		findings []string
		matches  []string
	}
	run := func(m *Matcher, ev *event.Event, fields map[string]any) result {
		var fs []event.Finding
		var err error
		if fields != nil {
			fs, err = m.matchDecoded(ev, fields, nil)
		} else {
			fs, err = m.Match(ev, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		r := result{findings: ruleIDs(fs)}
		for _, mt := range m.Matches() {
			r.matches = append(r.matches, mt.RuleID+"/"+mt.Key+"/"+mt.Value)
		}
		return r
	}
	total := 0
	for _, ev := range evs {
		var fields map[string]any
		if err := decodeAll(ev.Raw, &fields); err != nil {
			t.Fatal(err)
		}
		want := run(mOff, ev, nil)
		total += len(want.matches) + len(want.findings)
		if got := run(mOn, ev, nil); !reflect.DeepEqual(got, want) {
			t.Fatalf("event %s: Match %+v, every rule %+v", ev.EventID, got, want)
		}
		if got := run(mOn, ev, fields); !reflect.DeepEqual(got, want) {
			t.Fatalf("event %s: matchDecoded %+v, every rule %+v", ev.EventID, got, want)
		}
	}
	if total < len(evs) {
		t.Fatalf("only %d findings and matches on %d events", total, len(evs))
	}
}
