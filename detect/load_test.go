package detect

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// okRule is a valid rule; tests append or replace lines.
const okRule = `id: ok-rule
title: A valid rule
severity: low
source: cloudtrail
when: eventName == "StopLogging"
`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // error texts, in order
		ids   []string // rules that still load
	}{
		{
			name:  "bad YAML",
			files: map[string]string{"r/a.yaml": "id: x\ntitle: t\n  severity: low\n"},
			want:  []string{"r/a.yaml:3:1: yaml: mapping values are not allowed in this context"},
		},
		{
			name:  "unknown key",
			files: map[string]string{"r/a.yaml": okRule + "colour: red\n"},
			want:  []string{`r/a.yaml:6:1: rule ok-rule: unknown key "colour" (want one of id, title, severity, source, description, when, exceptions, summary, tags, references, tests, threshold, distinct, sequence, new_term, spike, absence, dedup)`},
		},
		{
			name:  "bad severity",
			files: map[string]string{"r/a.yaml": strings.Replace(okRule, "severity: low", "severity: urgent", 1)},
			want:  []string{`r/a.yaml:3:11: rule ok-rule: severity "urgent" must be one of info, low, medium, high, critical`},
		},
		{
			name: "misspelled field in a block scalar",
			files: map[string]string{"r/a.yaml": `id: typo
title: t
severity: high
source: cloudtrail
when: |
  eventSource == "cloudtrail.amazonaws.com"
    and eventNmae == "StopLogging"
`},
			want: []string{"r/a.yaml:7:9: rule typo: when: unknown name eventNmae"},
		},
		{
			name: "misspelled field in a plain scalar",
			files: map[string]string{"r/a.yaml": strings.Replace(okRule, `when: eventName == "StopLogging"`,
				`when: eventName == "StopLogging" and userIdentty.type == "Root"`, 1)},
			want: []string{"r/a.yaml:5:38: rule ok-rule: when: unknown name userIdentty"},
		},
		{
			name: "misspelled field in a quoted scalar",
			files: map[string]string{"r/a.yaml": strings.Replace(okRule, `when: eventName == "StopLogging"`,
				`when: "errorCode == '' and eventSorce == 'x'"`, 1)},
			want: []string{"r/a.yaml:5:28: rule ok-rule: when: unknown name eventSorce"},
		},
		{
			name:  "type error",
			files: map[string]string{"r/a.yaml": strings.Replace(okRule, `when: eventName == "StopLogging"`, `when: readOnly > 1`, 1)},
			want:  []string{"r/a.yaml:5:16: rule ok-rule: when: invalid operation: > (mismatched types bool and int)"},
		},
		{
			name:  "not boolean",
			files: map[string]string{"r/a.yaml": strings.Replace(okRule, `when: eventName == "StopLogging"`, `when: eventName`, 1)},
			want:  []string{"r/a.yaml:5:7: rule ok-rule: when: expected bool, but got string"},
		},
		{
			name:  "string field compared with nil",
			files: map[string]string{"r/a.yaml": strings.Replace(okRule, `when: eventName == "StopLogging"`, `when: eventName == "X" and errorCode == nil`, 1)},
			want:  []string{`r/a.yaml:5:38: rule ok-rule: when: errorCode is a string and never nil (a missing field reads as ""): compare with ""`},
		},
		{
			name:  "summary expression error",
			files: map[string]string{"r/a.yaml": okRule + "summary: \"{{ actor }} stopped {{ requestParameters.name }} in {{ regoin }}\"\n"},
			want:  []string{"r/a.yaml:6:66: rule ok-rule: summary: unknown name regoin"},
		},
		{
			name:  "summary not closed",
			files: map[string]string{"r/a.yaml": okRule + "summary: \"{{ actor }} stopped {{ requestParameters.name\"\n"},
			want:  []string{"r/a.yaml:6:31: rule ok-rule: summary: unclosed {{"},
		},
		{
			name:  "unknown source",
			files: map[string]string{"r/a.yaml": strings.Replace(okRule, "source: cloudtrail", "source: [cloudtrial]", 1)},
			want:  []string{`r/a.yaml:4:9: rule ok-rule: unknown source "cloudtrial" (known: apigateway, azure, cloudtrail, container, envoy, gcp, json, k8s-audit, lambda, otlp, syslog)`},
		},
		{
			name:  "bad id",
			files: map[string]string{"r/a.yaml": strings.Replace(okRule, "id: ok-rule", "id: Not OK", 1)},
			want:  []string{`r/a.yaml:1:5: rule Not OK: id "Not OK" must match ^[a-z0-9][a-z0-9._-]{0,127}$`},
		},
		{
			name:  "missing keys",
			files: map[string]string{"r/a.yaml": "id: bare\ntitle: t\n"},
			want: []string{`r/a.yaml:1:1: rule bare: missing required key "severity"`,
				`r/a.yaml:1:1: rule bare: missing required key "source"`,
				`r/a.yaml:1:1: rule bare: missing required key "when"`},
		},
		{
			name:  "not a mapping",
			files: map[string]string{"r/a.yaml": "- just\n- a list\n"},
			want:  []string{"r/a.yaml:1:1: a rule must be a YAML mapping"},
		},
		{
			name: "bad tests",
			files: map[string]string{"r/a.yaml": okRule + `tests:
  - name: one
    expect: maybe
    event: {eventName: StopLogging}
  - name: two
    expect: true
    evnt: {}
`},
			want: []string{"r/a.yaml:8:13: rule ok-rule: expect must be true or false (or, with events, a list of findings)",
				`r/a.yaml:12:5: rule ok-rule: unknown test key "evnt" (want name, expect, event, or events and until)`,
				`r/a.yaml:10:5: rule ok-rule: test "two": missing "event"`},
		},
		{
			name: "duplicate id across files",
			files: map[string]string{
				"r/a.yaml":     okRule,
				"r/sub/b.yml":  okRule,
				"r/ignored.md": "not a rule",
			},
			want: []string{"r/sub/b.yml:1:5: rule ok-rule: duplicate rule id (first defined at r/a.yaml:1)"},
			ids:  []string{"ok-rule"},
		},
		{
			name: "one bad rule does not stop the others",
			files: map[string]string{
				"r/a.yaml": okRule + "---\n" + strings.Replace(okRule, "ok-rule", "bad-rule", 1) +
					"summary: \"{{ nope }}\"\n---\n" + strings.Replace(okRule, "ok-rule", "ok-two", 1) + "---\n",
				"r/b.yaml": strings.Replace(okRule, "ok-rule", "ok-three", 1),
			},
			want: []string{"r/a.yaml:12:14: rule bad-rule: summary: unknown name nope"},
			ids:  []string{"ok-rule", "ok-two", "ok-three"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			rules, errs := LoadFS(fsys, "r")
			var got []string
			for _, err := range errs {
				got = append(got, err.Error())
				var le *LoadError
				if !errors.As(err, &le) {
					t.Errorf("%v is not a *LoadError", err)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
			var ids []string
			for _, r := range rules {
				ids = append(ids, r.ID)
			}
			if !slices.Equal(ids, tt.ids) {
				t.Errorf("loaded %q, want %q", ids, tt.ids)
			}
		})
	}
}

func TestLoadRuleFields(t *testing.T) {
	src := `id: full
title: Full rule
severity: critical
source: [cloudtrail, json]
description: why
when: |
  action == "StopLogging"
summary: "{{ actor }} did it"
tags: [attack.defense-evasion, attack.t1562.008]
references: [https://example.com/a]
tests:
  - name: positive
    expect: true
    event: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging, eventTime: 2026-01-02T03:04:05Z, count: 3, ok: true, none: null}
  - expect: false
    event: '{"eventSource": "cloudtrail.amazonaws.com", "eventName": "StartLogging"}'
`
	rules, errs := Parse("full.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := rules[0]
	if r.ID != "full" || r.Title != "Full rule" || r.Severity != "critical" || r.Description != "why" ||
		!slices.Equal(r.Sources, []string{"cloudtrail", "json"}) || r.When != "action == \"StopLogging\"\n" ||
		r.Summary != "{{ actor }} did it" || len(r.Tags) != 2 || len(r.References) != 1 || r.File != "full.yaml" || r.Line != 1 {
		t.Errorf("rule fields: %+v", r)
	}
	if len(r.Tests) != 2 || r.Tests[0].Name != "positive" || !r.Tests[0].Expect || r.Tests[1].Name != "test 2" || r.Tests[1].Line != 15 {
		t.Fatalf("tests: %+v", r.Tests)
	}
	// YAML timestamps stay strings; numbers, bools and null keep their JSON types.
	want := `{"count":3,"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","eventTime":"2026-01-02T03:04:05Z","none":null,"ok":true}`
	if string(r.Tests[0].Event) != want {
		t.Errorf("event JSON %s, want %s", r.Tests[0].Event, want)
	}
	if r.Prefilter("json") != "" || r.Prefilter("cloudtrail") != "" {
		t.Errorf("action is a normalized field, not a prefilter: %q", r.Prefilter("cloudtrail"))
	}
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "pack")
	if err := os.MkdirAll(filepath.Join(sub, "nested"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, data string) {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(sub, "a.yaml"), okRule)
	write(filepath.Join(sub, "nested", "b.yml"), strings.Replace(okRule, "ok-rule", "ok-b", 1)+"bogus: 1\n")
	single := filepath.Join(dir, "single.rule")
	write(single, strings.Replace(okRule, "ok-rule", "ok-single", 1))

	rules, errs := LoadPaths([]string{sub, single, filepath.Join(dir, "missing")})
	if len(rules) != 2 || rules[0].ID != "ok-rule" || rules[0].File != filepath.Join(sub, "a.yaml") || rules[1].ID != "ok-single" {
		t.Errorf("rules: %v", rules)
	}
	if len(errs) != 2 {
		t.Fatalf("errors: %v", errs)
	}
	wantPrefix := filepath.Join(sub, "nested", "b.yml") + ":6:1: rule ok-b: unknown key"
	if !strings.HasPrefix(errs[0].Error(), wantPrefix) {
		t.Errorf("error %q, want prefix %q", errs[0], wantPrefix)
	}
	if !errors.Is(errs[1], os.ErrNotExist) {
		t.Errorf("error %v, want not exist", errs[1])
	}
}

func TestLoadFoldedScalarPosition(t *testing.T) {
	src := "id: folded\ntitle: t\nseverity: low\nsource: cloudtrail\nwhen: >\n  eventName == \"A\"\n  and evntName == \"B\"\n"
	_, errs := Parse("f.yaml", []byte(src))
	if len(errs) != 1 || errs[0].Error() != "f.yaml:7:7: rule folded: when: unknown name evntName" {
		t.Errorf("got %v", errs)
	}
}

func TestLoadLimits(t *testing.T) {
	big := okRule + "description: " + strings.Repeat("x", MaxRuleFile) + "\n"
	if _, errs := Parse("big.yaml", []byte(big)); len(errs) != 1 || !strings.Contains(errs[0].Error(), "larger than") {
		t.Errorf("big file: %v", errs)
	}
	long := strings.Replace(okRule, `when: eventName == "StopLogging"`,
		"when: "+strings.Repeat(`eventName == "x" or `, 1000)+"false", 1)
	if _, errs := Parse("long.yaml", []byte(long)); len(errs) != 1 || !strings.Contains(errs[0].Error(), "longer than") {
		t.Errorf("long expression: %v", errs)
	}
	many := strings.Replace(okRule, `when: eventName == "StopLogging"`,
		"when: "+strings.Repeat(`eventName == "x" or `, 300)+"false", 1)
	if _, errs := Parse("many.yaml", []byte(many)); len(errs) != 1 || !strings.Contains(errs[0].Error(), "exceeds maximum allowed nodes") {
		t.Errorf("many nodes: %v", errs)
	}
}

// TestRuleVersion: a rule's version changes with what decides its
// findings (and a stateful rule's Spec.Keys with its keys' expressions),
// not with its description or tests.
func TestRuleVersion(t *testing.T) {
	const base = "id: r\ntitle: T\nseverity: low\nsource: cloudtrail\nwhen: eventName == \"A\"\n"
	parse := func(extra string) *Rule {
		t.Helper()
		rs, errs := Parse("r.yaml", []byte(base+extra))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return rs[0]
	}
	thr := "threshold: {count: 3, window: 10m, by: [userIdentity.arn]}\n"
	r := parse(thr)
	if len(r.Version) != 16 || r.Aggregation.Spec.Keys == 0 {
		t.Fatalf("version %q, keys %d", r.Version, r.Aggregation.Spec.Keys)
	}
	if same := parse(thr + "description: more words\n"); same.Version != r.Version {
		t.Error("a description changed the version")
	}
	for _, other := range []string{
		"threshold: {count: 4, window: 10m, by: [userIdentity.arn]}\n",
		"threshold: {count: 3, window: 10m, by: [sourceIPAddress]}\n",
		thr + "exceptions: [readOnly]\n",
		thr + "summary: \"{{ group.key }}\"\n",
		thr + "tags: [attack.t1078]\n",
	} {
		o := parse(other)
		if o.Version == r.Version {
			t.Errorf("%q: same version as the original", other)
		}
		if strings.Contains(other, "sourceIPAddress") && o.Aggregation.Spec.Keys == r.Aggregation.Spec.Keys {
			t.Error("another by kept Spec.Keys")
		}
		if strings.Contains(other, "count: 4") && o.Aggregation.Spec.Keys != r.Aggregation.Spec.Keys {
			t.Error("another count changed Spec.Keys")
		}
	}
}
