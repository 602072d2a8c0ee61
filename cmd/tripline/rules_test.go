package main

import (
	"os"
	"path/filepath"
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
