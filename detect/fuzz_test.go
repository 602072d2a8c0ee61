package detect

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/rules"
)

// FuzzLoad feeds arbitrary rule files to the loader: it must never panic,
// must position every error inside the file, and whatever loads must run.
func FuzzLoad(f *testing.F) {
	// Seeds stay small: every execution compiles expressions, and the
	// fuzzer minimizes each new input by running it thousands of times.
	// Three pack rules, without their prose and tests, bring the
	// expression features the pack uses (let, predicates, parseJSON).
	pack, _ := LoadFS(rules.Builtin, ".")
	for _, r := range pack {
		switch r.ID {
		case "aws-lambda-permission-public", "aws-ec2-security-group-world-open", "aws-cloudtrail-coverage-reduced":
			when := "  " + strings.ReplaceAll(strings.TrimSpace(r.When), "\n", "\n  ")
			f.Add([]byte(fmt.Sprintf("id: %s\ntitle: t\nseverity: %s\nsource: cloudtrail\nwhen: |\n%s\nsummary: %q\n",
				r.ID, r.Severity, when, r.Summary)))
		}
	}
	for _, s := range []string{
		okRule, okRule + "---\n" + okRule, "id: x\ntitle: t\n  severity: low\n", "- a\n- b\n", "",
		"id: a\ntitle: t\nseverity: low\nsource: json\nwhen: |\n  x.y.z == 1 and\n    $env[\"k\"] != nil\nsummary: \"{{ x }} {{\"\n",
		"id: a\ntitle: t\nseverity: low\nsource: cloudtrail\nwhen: >\n  eventName in [\"a\"]\n  and requestParameters?.x == 1\ntests:\n  - {expect: true, event: {eventSource: s, eventName: a}}\n",
		"id: &a x\ntitle: *a\nseverity: low\nsource: [cloudtrail]\nwhen: \"true\"\n",
		"id: a\ntitle: t\nseverity: low\nsource: cloudtrail\nwhen: 'let x = 1; eventName == \"a\" or x == 2'\n",
		"id: a\ntitle: t\nseverity: low\nsource: k8s-audit\nwhen: \"true\"\nsequence:\n  by: [user.username]\n  within: 1m\n  steps:\n    - when: verb == \"create\"\n    - when: verb == \"get\"\n  absent: verb == \"delete\"\n",
		"id: a\ntitle: t\nseverity: low\nsource: cloudtrail\nwhen: errorCode != \"\"\nthreshold: {count: 2, window: 1m, by: [eventName]}\ntests:\n" +
			"  - {name: n, events: [{at: 0s, repeat: 3, every: 10s, event: {eventSource: s, eventName: a, errorCode: x}}], until: 1h, expect: [{count: 2, key: a}]}\n",
	} {
		f.Add([]byte(s))
	}
	decoders := ingest.Decoders(ingest.DefaultSourceConfig)
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, errs := Parse("fuzz.yaml", data)
		for _, err := range errs {
			var le *LoadError
			if errors.As(err, &le) && (le.Line < 0 || le.Column < 0) {
				t.Errorf("bad position: %v", err)
			}
		}
		if _, err := NewEngine(rs); err != nil {
			t.Errorf("loaded rules rejected by NewEngine: %v", err)
		}
		for _, r := range rs {
			RunTests(r, decoders)
		}
	})
}
