package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const timedRule = `id: my-burst
title: Denied calls
severity: medium
source: cloudtrail
description: test
when: errorCode == "AccessDenied"
threshold: {count: 3, window: 10m, by: [userIdentity.arn]}
summary: "{{ actor }}"
tags: [attack.discovery]
tests:
  - name: a match
    expect: true
    event: {"eventSource":"iam.amazonaws.com","eventName":"ListUsers","errorCode":"AccessDenied","userIdentity":{"arn":"u"}}
  - name: seven denials
    events:
      - {at: 0s, repeat: 7, every: 1m, event: {"eventSource":"iam.amazonaws.com","eventName":"ListUsers","errorCode":"AccessDenied","userIdentity":{"arn":"u"}}}
    expect:
      - {count: 3, key: u}
      - {count: 3, key: u}
`

// TestRulesTestTimed: rules test runs timed tests, counts them, and on a
// failure prints the expected and actual findings under the failing test.
func TestRulesTestTimed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "burst.yaml")
	if err := os.WriteFile(path, []byte(timedRule), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := execute(t, "rules", "test", "--no-builtin", "-v", dir)
	if err != nil || !strings.Contains(out, "ok    my-burst / seven denials: 2 findings, as expected") ||
		!strings.Contains(out, "1 rules (1 stateful): 2 passed, 0 failed (1 timed tests)") {
		t.Fatalf("rules test: %v\n%s", err, out)
	}
	bad := strings.Replace(timedRule, "      - {count: 3, key: u}\n      - {count: 3, key: u}\n", "      - {count: 3, key: u}\n      - {count: 4, key: u}\n", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = execute(t, "rules", "test", "--no-builtin", dir)
	for _, want := range []string{
		"FAIL  my-burst / seven denials: want 2 findings, got 2 (" + path + ":14)\n",
		`      ok   [1] count 3, key "u" (first 0s, last 2m0s)`,
		`      want [2] count 4, key "u"`,
		`      got  [2] count 3, key "u" (first 3m0s, last 5m0s)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if err == nil || !strings.Contains(out, "1 passed, 1 failed (1 timed tests)") {
		t.Errorf("a failed timed test must fail the command: %v\n%s", err, out)
	}
	// A stateful rule without timed tests gets a warning.
	noTimed := timedRule[:strings.Index(timedRule, "  - name: seven denials")]
	if err := os.WriteFile(path, []byte(noTimed), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ = execute(t, "rules", "test", "--no-builtin", dir); !strings.Contains(out, "warn  my-burst is stateful (threshold) and has no timed tests") {
		t.Errorf("no warning:\n%s", out)
	}
}

// TestRulesTestSingleEventDiff: a failing single-event test prints what
// was expected, what the rule did and the fields it read.
func TestRulesTestSingleEventDiff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.yaml")
	rule := `id: create-user
title: User created
severity: low
source: cloudtrail
tags: [attack.persistence, attack.t1136.003]
when: eventSource == "iam.amazonaws.com" and eventName == "CreateUser" and errorCode == ""
tests:
  - name: a denied call is no match
    expect: true
    event: {"eventSource":"iam.amazonaws.com","eventName":"CreateUser","errorCode":"AccessDenied"}
  - name: another call
    expect: false
    event: {"eventSource":"iam.amazonaws.com","eventName":"DeleteUser"}
`
	if err := os.WriteFile(path, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := execute(t, "rules", "test", "--no-builtin", path)
	want := "FAIL  create-user / a denied call is no match: expect true, got false (" + path + ":8)\n" +
		"      - expected: match\n" +
		"      + got:      no match\n" +
		`      the rule read: errorCode "AccessDenied", eventName "CreateUser", eventSource "iam.amazonaws.com"` + "\n"
	if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "1 passed, 1 failed") {
		t.Errorf("got %v:\n%s\nwant:\n%s", err, out, want)
	}
}

// TestRulesLint: exit codes (errors fail; warnings fail only with
// --strict), the text output with its caret and the JSON output.
func TestRulesLint(t *testing.T) {
	dir := t.TempDir()
	write := func(name, when, tags string) string {
		path := filepath.Join(dir, name)
		doc := "id: " + strings.TrimSuffix(name, ".yaml") + "\ntitle: T\nseverity: low\nsource: cloudtrail\ntags: " + tags +
			"\nwhen: " + when + "\ntests:\n  - {name: x, expect: false, event: {\"eventSource\":\"s\",\"eventName\":\"E\"}}\n"
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	clean := write("clean.yaml", `eventName == "A"`, "[attack.t1078]")
	warned := write("warned.yaml", `eventName == "A"`, "[team.iam]")
	broken := write("broken.yaml", `eventNme == "A"`, "[attack.t1078]")

	if out, err := execute(t, "rules", "lint", clean); err != nil || !strings.Contains(out, "0 errors, 0 warnings") {
		t.Errorf("clean: %v\n%s", err, out)
	}
	out, err := execute(t, "rules", "lint", warned)
	if err != nil || !strings.Contains(out, "warning: rule warned: no MITRE ATT&CK tag") {
		t.Errorf("warnings alone must not fail: %v\n%s", err, out)
	}
	if _, err := execute(t, "rules", "lint", "--strict", warned); err == nil {
		t.Error("--strict: warnings must fail")
	}
	out, err = execute(t, "rules", "lint", broken)
	want := broken + ":6:7: error: rule broken: when: unknown name eventNme (did you mean eventName?) [unknown-field]\n" +
		"  | when: eventNme == \"A\"\n" +
		"  |       ^\n"
	if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "1 error, 0 warnings") {
		t.Errorf("got %v:\n%s\nwant:\n%s", err, out, want)
	}

	out, err = execute(t, "rules", "lint", "--format", "json", dir)
	if err == nil {
		t.Error("an error must fail the command with --format json too")
	}
	var ds []map[string]any
	if err := json.Unmarshal([]byte(out), &ds); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	wantJSON := []map[string]any{
		{"file": broken, "line": 6.0, "column": 7.0, "rule": "broken", "severity": "error", "code": "unknown-field",
			"message": "when: unknown name eventNme (did you mean eventName?)"},
		{"file": warned, "line": 5.0, "column": 7.0, "rule": "warned", "severity": "warning", "code": "no-mitre",
			"message": "no MITRE ATT&CK tag (attack.t1234 or attack.<tactic>)"},
	}
	if !reflect.DeepEqual(ds, wantJSON) {
		t.Errorf("json:\n%s", out)
	}
	if out, err := execute(t, "rules", "lint", "--format", "json", clean); err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("clean json: %v %q", err, out)
	}
}

// TestRulesLintPack: the bundled pack lints without errors or warnings.
func TestRulesLintPack(t *testing.T) {
	out, err := execute(t, "rules", "lint", "--strict")
	if err != nil || !strings.Contains(out, "0 errors, 0 warnings") {
		t.Fatalf("rules lint: %v\n%s", err, out)
	}
}
