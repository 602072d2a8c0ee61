package detect

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/event"
)

const seqRule = `id: exec-then-secrets
title: Exec then secrets
severity: high
source: k8s-audit
when: "true"
sequence:
  by: [user.username]
  within: 10m
  steps:
    - when: verb == "create" and objectRef.subresource == "exec"
    - when: objectRef.resource == "secrets" and verb in ["get", "list"]
  absent: verb == "delete" and objectRef.resource == "pods"
  max_keys: 500
`

// TestSequenceParse: the steps, absent and within map to the spec; the
// prefilter comes from the steps when when is "true"; the fields the steps
// name are decoded.
func TestSequenceParse(t *testing.T) {
	r := mustParse(t, seqRule)[0]
	a := r.Aggregation
	want := state.Spec{Kind: state.Sequence, Window: 10 * time.Minute, Steps: 2, Absent: true, MaxKeys: 500}
	if a != nil {
		want.Keys = a.Spec.Keys // the hash of the expressions; TestRuleVersion checks it
	}
	if a == nil || a.Spec != want || want.Keys == 0 {
		t.Fatalf("spec %+v, want %+v", a.Spec, want)
	}
	if len(a.Steps) != 2 || !strings.HasPrefix(a.Steps[1], "objectRef.resource") || !strings.HasPrefix(a.Absent, "verb ==") {
		t.Fatalf("steps %q absent %q", a.Steps, a.Absent)
	}
	if got, want := r.Prefilter("k8s-audit"), `verb == "create" | == "delete" | == "get" | == "list"`; got != want {
		t.Errorf("prefilter %q, want %q (from the steps and absent)", got, want)
	}
	p := r.programs["k8s-audit"]
	for _, name := range []string{"verb", "objectRef", "user"} {
		if !p.names[name] {
			t.Errorf("%s is not among the decoded names %v", name, p.names)
		}
	}
	// Without absent, and a when narrowing further.
	r = mustParse(t, strings.Replace(strings.Replace(seqRule, "  absent: verb == \"delete\" and objectRef.resource == \"pods\"\n", "", 1),
		`when: "true"`, `when: stage == "ResponseComplete"`, 1))[0]
	if s := r.Aggregation.Spec; s.Absent || s.Steps != 2 {
		t.Errorf("spec %+v", s)
	}
	if pf := r.Prefilter("k8s-audit"); !strings.Contains(pf, `stage == "ResponseComplete"`) || !strings.Contains(pf, "verb") {
		t.Errorf("prefilter %q, want the when's and the steps' constraints", pf)
	}
}

// TestSequenceLoadErrors: mistakes in a sequence are load errors at
// their file position.
func TestSequenceLoadErrors(t *testing.T) {
	head := "id: r\ntitle: T\nseverity: low\nsource: k8s-audit\nwhen: \"true\"\n"
	many := "sequence:\n  within: 1m\n  steps:\n" + strings.Repeat("    - when: verb == \"get\"\n", state.MaxSteps+1)
	for _, tc := range []struct{ yaml, want string }{
		{"sequence:\n  within: 10m\n  steps:\n    - when: verb == \"create\"\n    - when: verbb == \"get\"\n",
			`r.yaml:10:13: rule r: sequence.steps[1].when: unknown name verbb`},
		{"sequence:\n  within: 10m\n  steps:\n    - when: verb == \"create\"\n  absent: verb == \"get\" or stag == 1\n",
			`r.yaml:10:28: rule r: sequence.absent: unknown name stag`},
		{"sequence:\n  within: 10m\n  steps:\n    - when: verb\n", "r.yaml:9:13: rule r: sequence.steps[0].when: expected bool"},
		{"sequence:\n  within: 10m\n  steps: []\n", "sequence: missing steps"},
		{"sequence:\n  within: 10m\n", "sequence: missing steps"},
		{"sequence:\n  steps:\n    - when: verb == \"get\"\n", "sequence: window must be > 0"},
		{"sequence:\n  within: 10m\n  steps:\n    - verb == \"get\"\n", `r.yaml:9:7: rule r: sequence.steps: step 1: want a mapping {when: expr}`},
		{"sequence:\n  within: 10m\n  steps:\n    - {when: verb == \"get\", then: x}\n", `r.yaml:9:29: rule r: sequence.steps: step 1: unknown key "then"`},
		{"sequence:\n  within: 10m\n  window: 5m\n  steps:\n    - when: verb == \"get\"\n", `r.yaml:8:3: rule r: sequence: unknown key "window"`},
		{"sequence:\n  within: 10m\n  steps:\n    - when: $nope\n", "unknown list or macro $nope"},
		{many, fmt.Sprintf("at most %d steps", state.MaxSteps)},
		{"sequence:\n  within: 1m\n  steps:\n    - when: verb == \"get\"\nthreshold: {count: 2, window: 1m}\n", "at most one of"},
	} {
		_, errs := Parse("r.yaml", []byte(head+tc.yaml))
		if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\nerror %v\nwant  %q", tc.yaml, err, tc.want)
		}
	}
}

// TestSequenceMacros: steps may use lists and macros; Uses names them.
func TestSequenceMacros(t *testing.T) {
	src := "list: read_verbs\nitems: [get, list, watch]\n---\nmacro: is_exec\ncondition: verb == \"create\" and objectRef.subresource == \"exec\"\n---\n" +
		strings.Replace(strings.Replace(seqRule, `verb == "create" and objectRef.subresource == "exec"`, "$is_exec", 1),
			`verb in ["get", "list"]`, "verb in $read_verbs", 1)
	r := mustParse(t, src)[0]
	if !slices.Equal(r.Uses, []string{"is_exec", "read_verbs"}) {
		t.Errorf("uses %v", r.Uses)
	}
	if pf := r.Prefilter("k8s-audit"); !strings.Contains(pf, `"watch"`) {
		t.Errorf("prefilter %q: the expanded steps should narrow it", pf)
	}
}

func k8sEvent(id, user, verb, resource, sub string, at time.Duration) *event.Event {
	sr := ""
	if sub != "" {
		sr = fmt.Sprintf(`,"subresource":%q`, sub)
	}
	ts := TestBaseTime.Add(at)
	return &event.Event{Source: "k8s-audit", EventID: id, Time: ts, Actor: user, Raw: []byte(fmt.Sprintf(
		`{"auditID":%q,"stage":"ResponseComplete","verb":%q,"user":{"username":%q},"objectRef":{"resource":%q,"namespace":"shop","name":"x"%s},"responseStatus":{"code":200}}`,
		id, verb, user, resource, sr))}
}

// TestSequenceMatches: the matcher emits one match per true step, with
// the step's index, and Steps for absent; an event no step matches
// emits nothing.
func TestSequenceMatches(t *testing.T) {
	// Step 1 and absent can both hold for one event: two matches.
	src := strings.Replace(seqRule, `absent: verb == "delete" and objectRef.resource == "pods"`, `absent: objectRef.resource == "secrets" and verb == "list"`, 1)
	eng, err := NewEngine(mustParse(t, src))
	if err != nil {
		t.Fatal(err)
	}
	m := eng.NewMatcher()
	type got struct {
		key  string
		step int
	}
	for _, tc := range []struct {
		ev   *event.Event
		want []got
	}{
		{k8sEvent("a", "kim", "create", "pods", "exec", 0), []got{{"kim", 0}}},
		{k8sEvent("b", "kim", "get", "secrets", "", time.Minute), []got{{"kim", 1}}},
		{k8sEvent("c", "lee", "list", "secrets", "", time.Minute), []got{{"lee", 1}, {"lee", 2}}},
		{k8sEvent("d", "kim", "get", "pods", "", time.Minute), nil},
	} {
		if fs, err := m.Match(tc.ev, nil); err != nil || len(fs) != 0 {
			t.Fatalf("%s: findings %v, err %v", tc.ev.EventID, fs, err)
		}
		var gs []got
		for _, mt := range m.Matches() {
			if mt.RuleID != "exec-then-secrets" || mt.Event.EventID != tc.ev.EventID {
				t.Errorf("match %+v", mt)
			}
			gs = append(gs, got{mt.Key, mt.Step})
		}
		if !slices.Equal(gs, tc.want) {
			t.Errorf("%s: matches %v, want %v", tc.ev.EventID, gs, tc.want)
		}
	}
	if st := eng.Stats()[0]; st.Matches != 3 {
		t.Errorf("stats %+v: want 3 matching events", st)
	}
}

// TestSequencePrefilterNeverChangesMatches: the prefilter derived from the
// steps skips exactly the events that would give no match.
func TestSequencePrefilterNeverChangesMatches(t *testing.T) {
	rules := mustParse(t, seqRule)
	on, _ := NewEngine(rules)
	off, _ := NewEngine(rules)
	off.noPrefilter = true
	mOn, mOff := on.NewMatcher(), off.NewMatcher()
	n := 0
	for i, verb := range []string{"create", "get", "list", "delete", "watch", "patch"} {
		for _, res := range []string{"pods", "secrets", "configmaps"} {
			for _, sub := range []string{"", "exec", "log"} {
				ev := k8sEvent(fmt.Sprint(i, res, sub), "kim", verb, res, sub, 0)
				mOn.Match(ev, nil)
				mOff.Match(ev, nil)
				a, b := mOn.Matches(), mOff.Matches()
				if len(a) != len(b) {
					t.Errorf("%s %s/%s: %d matches with prefilter, %d without", verb, res, sub, len(a), len(b))
				}
				n += len(a)
			}
		}
	}
	d1, _ := on.Decoded()
	d2, _ := off.Decoded()
	if n == 0 || d1 >= d2 {
		t.Errorf("%d matches; decoded %d with prefilter, %d without", n, d1, d2)
	}
}

// TestSequenceThroughState: the matches, fed to a Partition, fire the
// sequence once per completed order, and not for the wrong order or a
// gap longer than within.
func TestSequenceThroughState(t *testing.T) {
	src := strings.Replace(seqRule, "  absent: verb == \"delete\" and objectRef.resource == \"pods\"\n", "", 1)
	rules := mustParse(t, src)
	eng, _ := NewEngine(rules)
	m := eng.NewMatcher()
	part, err := state.NewPartition(map[string]state.Spec{rules[0].ID: rules[0].Aggregation.Spec}, TestLateness)
	if err != nil {
		t.Fatal(err)
	}
	var fired []string
	seq := uint64(0)
	for _, ev := range []*event.Event{
		k8sEvent("s0", "ann", "get", "secrets", "", 0),               // secrets before exec: no
		k8sEvent("e1", "ann", "create", "pods", "exec", time.Minute), // exec
		k8sEvent("e2", "bob", "create", "pods", "exec", time.Minute), // bob: exec, secrets 11m later: no
		k8sEvent("s1", "ann", "list", "secrets", "", 9*time.Minute),  // ann: fires
		k8sEvent("s2", "bob", "get", "secrets", "", 12*time.Minute),
	} {
		m.Match(ev, nil)
		for _, mt := range m.Matches() {
			seq++
			for _, f := range part.Apply(state.Match{Rule: mt.RuleID, Key: mt.Key, Time: mt.Event.Time, EventID: mt.Event.EventID, Step: mt.Step, Seq: seq}) {
				fired = append(fired, fmt.Sprintf("%s %d %v", f.Key, f.Count, f.EventIDs))
			}
		}
	}
	fired = append(fired, "end")
	for _, f := range part.Advance(TestBaseTime.Add(time.Hour)) {
		fired = append(fired, fmt.Sprintf("%s %d %v", f.Key, f.Count, f.EventIDs))
	}
	if want := []string{"ann 2 [e1 s1]", "end"}; !slices.Equal(fired, want) {
		t.Errorf("fired %q, want %q", fired, want)
	}
}
