package rules_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/event"
)

// The schema (schema.json) is what editors validate rule files with
// (yaml-language-server). These tests keep it in agreement with the
// parser: the bundled files validate, documents the parser rejects for a
// structural reason fail validation, documents it accepts validate, and
// the keys at every level are the parser's.

// modeline is the comment that points yaml-language-server at the schema.
const modeline = "# yaml-language-server: $schema="

// TestSchemaBundledRules validates every document of every rule file of
// the pack (rules/ and rules/optional/, lists and macros included).
func TestSchemaBundledRules(t *testing.T) {
	sch, _ := compileSchema(t)
	files := ruleFiles(t)
	if len(files) < 30 {
		t.Fatalf("%d rule files, want the whole pack", len(files))
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := documents(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for i, doc := range docs {
			if err := sch.Validate(doc); err != nil {
				t.Errorf("%s: document %d: %v", name, i+1, err)
			}
		}
	}
}

// TestSchemaModeline checks that every bundled file names the schema on
// its first line, by a path that leads to it.
func TestSchemaModeline(t *testing.T) {
	for _, name := range ruleFiles(t) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		rel, ok := strings.CutPrefix(first, modeline)
		switch {
		case !ok:
			t.Errorf("%s: first line %q, want %q and the schema's path", name, first, modeline)
		case path.Join(path.Dir(name), rel) != "schema.json":
			t.Errorf("%s: modeline points at %s, which is not schema.json", name, path.Join(path.Dir(name), rel))
		}
	}
}

// ruleBase is a valid rule of a source without a schema, so that any
// field name compiles; cases append keys to it.
const ruleBase = "id: r\ntitle: T\nseverity: low\nsource: json\nwhen: eventName == \"x\"\n"

// thresholdBase is a valid stateful rule.
const thresholdBase = ruleBase + "threshold: {count: 2, window: 1m, by: [actor]}\n"

// TestSchemaRejects checks documents that the parser rejects for a
// structural reason: the schema must reject them too. want is part of
// the parser's error, so that the case fails for the reason it names.
func TestSchemaRejects(t *testing.T) {
	sch, _ := compileSchema(t)
	steps33 := "sequence:\n  within: 1m\n  steps:\n" + strings.Repeat("    - when: \"true\"\n", 33)
	cases := []struct {
		name, doc, want string
	}{
		// Rule keys.
		{"unknown key", ruleBase + "titel: x\n", `unknown key "titel"`},
		{"missing id", "title: T\nseverity: low\nsource: json\nwhen: \"true\"\n", `missing required key "id"`},
		{"missing when", "id: r\ntitle: T\nseverity: low\nsource: json\n", `missing required key "when"`},
		{"blank title", strings.Replace(ruleBase, "title: T", `title: "  "`, 1), `missing required key "title"`},
		{"blank when", strings.Replace(ruleBase, `when: eventName == "x"`, `when: ""`, 1), `missing required key "when"`},
		{"bad id", strings.Replace(ruleBase, "id: r", "id: Not_OK", 1), `id "Not_OK" must match`},
		{"bad severity", strings.Replace(ruleBase, "severity: low", "severity: urgent", 1), `severity "urgent" must be one of`},
		{"unknown source", strings.Replace(ruleBase, "source: json", "source: jsonl", 1), `unknown source "jsonl"`},
		{"source twice", strings.Replace(ruleBase, "source: json", "source: [json, json]", 1), `source "json" listed twice`},
		{"no source", strings.Replace(ruleBase, "source: json", "source: []", 1), "want at least one value"},
		{"null description", ruleBase + "description:\n", "want a single value"},
		{"tags not a list", ruleBase + "tags: attack.t1078\n", "want a list"},
		{"blank exception", ruleBase + "exceptions: [actor == \"a\", \" \"]\n", "empty expression"},
		{"not a mapping", "- id: r\n", "a rule must be a YAML mapping"},
		{"id and list", ruleBase + "list: l\n", `unknown key "list"`},

		// Aggregations.
		{"two aggregations", thresholdBase + "dedup: {period: 1h}\n", "a rule has at most one of"},
		{"aggregation not a mapping", ruleBase + "absence: 30m\n", "absence must be a mapping"},
		{"threshold without count", ruleBase + "threshold: {window: 10m}\n", "count must be >= 1"},
		{"threshold count 0", ruleBase + "threshold: {count: 0, window: 10m}\n", "count must be >= 1"},
		{"threshold count too large", ruleBase + "threshold: {count: 2147483648, window: 10m}\n", "count must be >= 1"},
		{"threshold count a string", ruleBase + "threshold: {count: \"5\", window: 10m}\n", "threshold.count"},
		{"threshold without window", ruleBase + "threshold: {count: 5}\n", "window must be > 0"},
		{"threshold unknown key", ruleBase + "threshold: {count: 5, window: 10m, group_by: [actor]}\n", `threshold: unknown key "group_by"`},
		{"threshold by empty", ruleBase + "threshold: {count: 5, window: 10m, by: []}\n", "threshold.by: want at least one value"},
		{"duration without unit", ruleBase + "threshold: {count: 5, window: 10}\n", "threshold.window"},
		{"duration in words", ruleBase + "threshold: {count: 5, window: 10 minutes}\n", "threshold.window"},
		{"duration in days", ruleBase + "threshold: {count: 5, window: 30d}\n", "threshold.window"},
		{"zero duration", ruleBase + "threshold: {count: 5, window: 0s}\n", "window must be > 0"},
		{"negative duration", ruleBase + "threshold: {count: 5, window: -10m}\n", "window must be > 0"},
		{"negative max_keys", ruleBase + "threshold: {count: 5, window: 10m, max_keys: -1}\n", "max_keys must be >= 0"},
		{"distinct without field", ruleBase + "distinct: {count: 5, window: 10m}\n", "distinct: missing field"},
		{"distinct with fields", ruleBase + "distinct: {fields: [a], count: 5, window: 10m}\n", `distinct: unknown key "fields"`},
		{"new_term without fields", ruleBase + "new_term: {history: 720h}\n", "new_term: missing fields"},
		{"new_term without history", ruleBase + "new_term: {fields: [src_ip]}\n", "window must be > 0"},
		{"new_term with window", ruleBase + "new_term: {fields: [src_ip], window: 1h}\n", `new_term: unknown key "window"`},
		{"spike without factor", ruleBase + "spike: {window: 5m, min_count: 50}\n", "factor must be a finite number > 0"},
		{"spike factor 0", ruleBase + "spike: {window: 5m, factor: 0, min_count: 50}\n", "factor must be a finite number > 0"},
		{"spike without min_count", ruleBase + "spike: {window: 5m, factor: 10}\n", "min_count must be >= 1"},
		{"spike with count", ruleBase + "spike: {window: 5m, factor: 10, min_count: 5, count: 5}\n", `spike: unknown key "count"`},
		{"absence without window", ruleBase + "absence: {by: [service]}\n", "window must be > 0"},
		{"dedup with window", ruleBase + "dedup: {key: target, window: 1h}\n", `dedup: unknown key "window"`},
		{"dedup without period", ruleBase + "dedup: {key: target}\n", "window must be > 0"},
		{"sequence without steps", ruleBase + "sequence: {within: 10m}\n", "sequence: missing steps"},
		{"sequence without within", ruleBase + "sequence: {steps: [{when: a}]}\n", "window must be > 0"},
		{"sequence steps empty", ruleBase + "sequence: {within: 10m, steps: []}\n", "sequence: missing steps"},
		{"sequence step not a mapping", ruleBase + "sequence: {within: 10m, steps: [a == 1]}\n", "step 1: want a mapping"},
		{"sequence step unknown key", ruleBase + "sequence: {within: 10m, steps: [{when: a, then: b}]}\n", `step 1: unknown key "then"`},
		{"sequence step without when", ruleBase + "sequence: {within: 10m, steps: [{}]}\n", "step 1: missing when"},
		{"sequence 33 steps", ruleBase + steps33, "at most 32 steps"},
		{"sequence blank absent", ruleBase + "sequence: {within: 10m, steps: [{when: a}], absent: \"\"}\n", "sequence.absent: empty expression"},

		// Tests.
		{"tests not a list", ruleBase + "tests: {name: x}\n", "tests must be a list"},
		{"test not a mapping", ruleBase + "tests: [x]\n", "a test must be a mapping"},
		{"test unknown key", ruleBase + "tests: [{name: x, expect: true, event: {}, expected: true}]\n", `unknown test key "expected"`},
		{"test without expect", ruleBase + "tests: [{name: x, event: {}}]\n", `missing "expect"`},
		{"test without event", ruleBase + "tests: [{name: x, expect: true}]\n", `missing "event"`},
		{"test expect a string", ruleBase + "tests: [{name: x, expect: \"true\", event: {}}]\n", "expect must be true or false"},
		{"test expect yes", ruleBase + "tests: [{name: x, expect: yes, event: {}}]\n", "expect must be true or false"},
		{"test event a list", ruleBase + "tests: [{name: x, expect: true, event: [1]}]\n", "event must be a mapping or a string holding a JSON object"},
		{"test event a string", ruleBase + "tests: [{name: x, expect: true, event: eventName=x}]\n", "event must be a mapping or a string holding a JSON object"},
		{"test until without events", ruleBase + "tests: [{name: x, expect: true, event: {}, until: 1h}]\n", "until is for timed tests"},
		{"timed test of a stateless rule", ruleBase + "tests: [{name: x, events: [{event: {}}], expect: []}]\n", "timed tests (events:) are for stateful rules"},
		{"timed test expect true", thresholdBase + "tests: [{name: x, events: [{event: {}}], expect: true}]\n", "a timed test's expect is the list of findings"},
		{"timed test with event", thresholdBase + "tests: [{name: x, event: {}, events: [{event: {}}], expect: []}]\n", "a timed test has events, not event"},
		{"timed test without expect", thresholdBase + "tests: [{name: x, events: [{event: {}}]}]\n", `missing "expect"`},
		{"timed test no events", thresholdBase + "tests: [{name: x, events: [], expect: []}]\n", "events must be a non-empty list"},
		{"timed event without event", thresholdBase + "tests: [{name: x, events: [{at: 0s}], expect: []}]\n", "events[0]: missing event"},
		{"timed event unknown key", thresholdBase + "tests: [{name: x, events: [{time: 0s, event: {}}], expect: []}]\n", `unknown key "time"`},
		{"timed event every without repeat", thresholdBase + "tests: [{name: x, events: [{every: 10s, event: {}}], expect: []}]\n", "every needs repeat"},
		{"timed event every with repeat 1", thresholdBase + "tests: [{name: x, events: [{repeat: 1, every: 10s, event: {}}], expect: []}]\n", "every needs repeat"},
		{"timed event negative every", thresholdBase + "tests: [{name: x, events: [{repeat: 2, every: -10s, event: {}}], expect: []}]\n", "every must not be negative"},
		{"timed event repeat 0", thresholdBase + "tests: [{name: x, events: [{repeat: 0, event: {}}], expect: []}]\n", "repeat must be 1..100000"},
		{"timed event repeat too large", thresholdBase + "tests: [{name: x, events: [{repeat: 100001, event: {}}], expect: []}]\n", "repeat must be 1..100000"},
		{"timed event at in words", thresholdBase + "tests: [{name: x, events: [{at: 5 minutes, event: {}}], expect: []}]\n", "is neither a duration"},
		{"timed event at a number", thresholdBase + "tests: [{name: x, events: [{at: 10, event: {}}], expect: []}]\n", "is neither a duration"},
		{"timed event at a date", thresholdBase + "tests: [{name: x, events: [{at: 2026-01-01, event: {}}], expect: []}]\n", "is neither a duration"},
		{"timed until in words", thresholdBase + "tests: [{name: x, events: [{event: {}}], expect: [], until: tomorrow}]\n", "is neither a duration"},
		{"finding without count", thresholdBase + "tests: [{name: x, events: [{event: {}}], expect: [{key: a}]}]\n", "expect[0]: missing count"},
		{"finding count 0", thresholdBase + "tests: [{name: x, events: [{event: {}}], expect: [{count: 0}]}]\n", "count must be >= 1"},
		{"finding unknown key", thresholdBase + "tests: [{name: x, events: [{event: {}}], expect: [{count: 2, keys: [a]}]}]\n", `unknown key "keys"`},
		{"finding not a mapping", thresholdBase + "tests: [{name: x, events: [{event: {}}], expect: [2]}]\n", "expect[0]: want a mapping"},

		// Lists and macros.
		{"list bad name", "list: 1bad\nitems: []\n", `name "1bad" must match`},
		{"list named env", "list: env\nitems: []\n", `name "env" must match`},
		{"list without items", "list: l\n", `missing required key "items"`},
		{"list items not a list", "list: l\nitems: a\n", "items: want a list"},
		{"list item a mapping", "list: l\nitems: [{a: 1}]\n", "items: want a single value"},
		{"list with condition", "list: l\nitems: []\ncondition: \"true\"\n", `unknown key "condition"`},
		{"list and macro", "list: l\nmacro: m\nitems: []\n", `unknown key "macro"`},
		{"macro without condition", "macro: m\n", `missing required key "condition"`},
		{"macro blank condition", "macro: m\ncondition: \" \"\n", `missing required key "condition"`},
		{"macro with items", "macro: m\ncondition: \"true\"\nitems: []\n", `unknown key "items"`},
		{"definition after a bad one", "macro: m\ncondition: \"true\"\n---\nlist: l\n", `missing required key "items"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := detect.Parse("r.yaml", []byte(c.doc))
			if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), c.want) }) {
				t.Errorf("parser errors %v, want one containing %q", errs, c.want)
			}
			docs, err := documents([]byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(docs, func(d any) bool { return sch.Validate(d) != nil }) {
				t.Errorf("the schema accepts a document the parser rejects (%s)", c.want)
			}
		})
	}
}

// TestSchemaAccepts checks documents the parser accepts, some of them
// unusual: the schema must accept them too.
func TestSchemaAccepts(t *testing.T) {
	sch, _ := compileSchema(t)
	timed := func(test string) string { return thresholdBase + "tests:\n  - " + test + "\n" }
	cases := []struct{ name, doc string }{
		{"minimal", ruleBase},
		{"everything", ruleBase + "description: >\n  Why.\nexceptions:\n  - actor == \"a\"\nsummary: \"{{ actor }} did it\"\n" +
			"tags: [attack.t1078]\nreferences: [https://example.com]\n" +
			"tests:\n  - name: match\n    expect: true\n    event: {\"eventName\": \"x\"}\n  - {name: other, expect: false, event: {eventName: y}}\n"},
		{"scalars read as text", strings.Replace(ruleBase, "title: T", "title: 2024", 1) + "description: 5\nsummary: true\ntags: [1, true]\n"},
		{"when a boolean", strings.Replace(ruleBase, `when: eventName == "x"`, "when: true", 1)},
		{"sources", strings.Replace(ruleBase, "source: json", "source: [json, syslog]", 1)},
		{"one exception", ruleBase + "exceptions: actor == \"a\"\n"},
		{"no exceptions", ruleBase + "exceptions: []\ntags: []\nreferences: []\ntests: []\n"},
		{"empty summary", ruleBase + "summary: \"\"\n"},
		{"threshold", ruleBase + "threshold: {count: 25, window: 10m, by: [actor, src_ip], max_keys: 0}\n"},
		{"threshold by one", ruleBase + "threshold: {count: 1, window: 1h30m, by: actor}\n"},
		{"threshold count max", ruleBase + "threshold: {count: 2147483647, window: 720h}\n"},
		{"count written as a float", ruleBase + "threshold: {count: 1e3, window: 10m, max_keys: 1.0e5}\n"},
		{"distinct", ruleBase + "distinct: {field: eventName, count: 10, window: 10m, by: [actor]}\n"},
		{"sequence", ruleBase + "sequence:\n  by: [actor]\n  within: 10m\n  steps:\n    - when: eventName == \"a\"\n    - when: true\n  absent: eventName == \"c\"\n  max_keys: 10\n"},
		{"new_term", ruleBase + "new_term: {fields: [src_ip, user_agent], history: 720h, by: [actor]}\n"},
		{"new_term one field", ruleBase + "new_term: {fields: src_ip, history: 24h}\n"},
		{"spike", ruleBase + "spike: {window: 5m, factor: 2.5, min_count: 50, by: [service]}\n"},
		{"absence", ruleBase + "absence: {window: 30m}\n"},
		{"dedup by key", ruleBase + "dedup: {key: target, period: 1h}\n"},
		{"dedup by", ruleBase + "dedup: {by: [target, actor], period: 1h}\n"},
		{"dedup without key", ruleBase + "dedup: {period: 1h}\n"},
		{"durations", ruleBase + "spike: {window: +1.5h, factor: 1, min_count: 1}\n"},
		{"duration units", ruleBase + "absence: {window: 1h0m0.5s100ms10us10µs1ns}\n"},
		{"duration fractions", ruleBase + "absence: {window: .5h}\n"},
		{"duration trailing dot", ruleBase + "absence: {window: 1.m}\n"},
		{"duration zero then not", ruleBase + "absence: {window: 0h1m}\n"},
		{"single-event test of a stateful rule", timed("{name: one, expect: true, event: {actor: a}}")},
		{"timed test", timed("{name: t, events: [{at: 0s, repeat: 2, every: 10s, event: {actor: a}}], expect: [{count: 2, key: a}]}")},
		{"timed test no findings", timed("{events: [{event: {actor: a}}], expect: []}")},
		{"timed at zero", timed("{events: [{at: 0, event: {}}, {at: -0, event: {}}, {at: \"0\", event: {}}], expect: []}")},
		{"timed at negative", timed("{events: [{at: -1m30s, event: {}}], expect: []}")},
		{"timed at a time", timed("{events: [{at: 2026-01-01T00:05:00Z, event: {}}, {at: \"2026-03-02T10:05:33.5+02:00\", event: {}}], expect: []}")},
		{"timed every zero", timed("{events: [{repeat: 3, every: 0s, event: {}}, {repeat: 2, every: 0, event: {}}, {repeat: 2, every: -0s, event: {}}], expect: []}")},
		{"timed until", timed("{events: [{event: {}}], expect: [], until: 35m}")},
		{"timed until a time", timed("{events: [{event: {}}], expect: [], until: 2026-01-02T00:00:00Z}")},
		{"timed event JSON string", timed("{events: [{event: '{\"actor\": \"a\"}'}], expect: []}")},
		{"event JSON string", ruleBase + "tests: [{name: x, expect: true, event: ' {\"eventName\": \"x\"} '}]\n"},
		{"finding keys", timed("{events: [{event: {}}], expect: [{count: 1}, {count: 1, key: null}, {count: 2, key: \"\", value: \"1.00\", values: []}, {count: 1, key: 5, values: [a, 1]}]}")},
		{"anchors", ruleBase + "tests:\n  - {name: a, expect: true, event: &ev {eventName: x}}\n  - {name: b, expect: true, event: *ev}\n"},
		{"lists and macros", "# yaml-language-server: $schema=schema.json\nlist: names\ndescription: names\nitems: [x, 22, true, null, \"$more\"]\n---\nlist: more\nitems: []\n---\n" +
			"macro: is_x\ncondition: eventName in $names\ndescription: x\n---\n" + strings.Replace(ruleBase, `when: eventName == "x"`, "when: $is_x", 1)},
		{"empty documents", "---\n---\n" + ruleBase + "---\n"},
		{"two rules", ruleBase + "---\n" + strings.Replace(ruleBase, "id: r", "id: r2.v1_x-y", 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, errs := detect.Parse("r.yaml", []byte(c.doc)); len(errs) > 0 {
				t.Fatalf("the parser rejects the case: %v", errs)
			}
			docs, err := documents([]byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range docs {
				if err := sch.Validate(d); err != nil {
					t.Errorf("document %d: the schema rejects what the parser accepts: %v", i+1, err)
				}
			}
		})
	}
}

// TestSchemaKeys checks that the keys the schema knows at every level are
// the parser's, read from its "unknown key" errors, and that the
// aggregation keys are the detect/state kinds.
func TestSchemaKeys(t *testing.T) {
	_, doc := compileSchema(t)
	defs := object(t, doc, "$defs")
	props := func(def string, at ...string) []string {
		m := object(t, defs, def)
		for _, k := range at {
			m = object(t, m, k)
		}
		return sortedKeys(object(t, m, "properties"))
	}

	agg := parserAggKeys(t)
	var kinds []string
	for k := state.Threshold; k <= state.Dedup; k++ {
		kinds = append(kinds, k.String())
	}
	equalKeys(t, "aggregation keys (detect/state kinds)", agg, kinds)
	// oneAggregation holds, for each aggregation key, a rule that forbids
	// the others next to it.
	var schemaAgg []string
	for _, v := range array(t, object(t, defs, "oneAggregation"), "allOf") {
		m, _ := v.(map[string]any)
		req := array(t, object(t, m, "if"), "required")
		if len(req) != 1 {
			t.Fatalf("schema: oneAggregation: if %v", req)
		}
		k, _ := req[0].(string)
		schemaAgg = append(schemaAgg, k)
		others := sortedKeys(object(t, object(t, m, "then"), "properties"))
		want := slices.DeleteFunc(slices.Clone(agg), func(o string) bool { return o == k })
		equalKeys(t, "keys forbidden next to "+k, want, others)
	}
	equalKeys(t, "aggregation keys (oneAggregation)", agg, schemaAgg)
	ruleProps := object(t, object(t, defs, "rule"), "properties")
	for _, k := range agg {
		if ref := object(t, ruleProps, k)["$ref"]; ref != "#/$defs/"+k {
			t.Errorf("schema: rule property %s is %v, want a $ref to #/$defs/%s", k, ref, k)
		}
		equalKeys(t, k+" keys", parserKeys(t, ruleBase+k+": {zz_unknown: 1}\n"), props(k))
	}

	equalKeys(t, "rule keys", parserKeys(t, ruleBase+"zz_unknown: 1\n"), props("rule"))
	equalKeys(t, "sequence step keys", parserKeys(t, ruleBase+"sequence: {within: 1m, steps: [{zz_unknown: 1}]}\n"),
		props("sequence", "properties", "steps", "items"))
	equalKeys(t, "test keys", parserKeys(t, ruleBase+"tests: [{zz_unknown: 1}]\n"), props("test"))
	equalKeys(t, "timed test event keys", parserKeys(t, thresholdBase+"tests: [{events: [{zz_unknown: 1}], expect: []}]\n"), props("testEvent"))
	equalKeys(t, "expected finding keys", parserKeys(t, thresholdBase+"tests: [{events: [{event: {}}], expect: [{zz_unknown: 1}]}]\n"), props("finding"))
	equalKeys(t, "list keys", parserKeys(t, "list: l\nitems: []\nzz_unknown: 1\n"), props("list"))
	equalKeys(t, "macro keys", parserKeys(t, "macro: m\ncondition: \"true\"\nzz_unknown: 1\n"), props("macro"))

	equalKeys(t, "severities", event.Severities, enum(t, ruleProps, "severity"))
	equalKeys(t, "sources", detect.SourceNames(), enum(t, defs, "sourceName"))
}

// TestSchemaEditorKeywords keeps the schema to keywords that
// yaml-language-server applies (its validator implements draft-07): a
// keyword it ignores would make the editor accept what the loader rejects.
func TestSchemaEditorKeywords(t *testing.T) {
	_, doc := compileSchema(t)
	ignored := []string{"dependentSchemas", "dependentRequired", "unevaluatedProperties", "unevaluatedItems",
		"prefixItems", "minContains", "maxContains", "$dynamicRef", "$dynamicAnchor", "$anchor"}
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if slices.Contains(ignored, k) && !strings.HasSuffix(at, "/properties") {
					t.Errorf("schema: %s/%s: editors ignore %s", at, k, k)
				}
				walk(at+"/"+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s/%d", at, i), e)
			}
		}
	}
	walk("#", doc)
}

var (
	wantRE    = regexp.MustCompile(`unknown (?:test )?key "zz_unknown" \(want (?:one of )?([^)]*)\)`)
	aggRE     = regexp.MustCompile(`a rule has at most one of (.*)$`)
	keySepsRE = regexp.MustCompile(`,\s*(?:or\s+)?|\s+(?:and|or)\s+`)
)

// parserKeys returns the keys the parser names in its error about the
// unknown key zz_unknown in doc.
func parserKeys(t *testing.T, doc string) []string {
	t.Helper()
	_, errs := detect.Parse("r.yaml", []byte(doc))
	for _, err := range errs {
		if m := wantRE.FindStringSubmatch(err.Error()); m != nil {
			return keySepsRE.Split(m[1], -1)
		}
	}
	t.Fatalf("no unknown key error naming the keys for\n%s\ngot %v", doc, errs)
	return nil
}

// parserAggKeys returns the aggregation keys the parser names when a rule
// has two.
func parserAggKeys(t *testing.T) []string {
	t.Helper()
	_, errs := detect.Parse("r.yaml", []byte(thresholdBase+"absence: {window: 1m}\n"))
	for _, err := range errs {
		if m := aggRE.FindStringSubmatch(err.Error()); m != nil {
			return strings.Split(m[1], ", ")
		}
	}
	t.Fatalf("no error naming the aggregation keys: %v", errs)
	return nil
}

func equalKeys(t *testing.T, what string, parser, schema []string) {
	t.Helper()
	parser, schema = slices.Sorted(slices.Values(parser)), slices.Sorted(slices.Values(schema))
	if !slices.Equal(parser, schema) {
		t.Errorf("%s: parser %q, schema %q", what, parser, schema)
	}
}

func object(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("schema: %q is not an object", key)
	}
	return v
}

func array(t *testing.T, m map[string]any, key string) []any {
	t.Helper()
	v, ok := m[key].([]any)
	if !ok {
		t.Fatalf("schema: %q is not an array", key)
	}
	return v
}

func enum(t *testing.T, m map[string]any, key string) []string {
	t.Helper()
	var out []string
	for _, v := range array(t, object(t, m, key), "enum") {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("schema: %s enum holds %v", key, v)
		}
		out = append(out, s)
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// compileSchema compiles schema.json and returns it with its JSON.
func compileSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	data, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return sch, m
}

// ruleFiles returns the rule files of this directory and below, as
// slash-separated paths relative to it.
func ruleFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := fs.WalkDir(os.DirFS("."), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := path.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// documents reads the YAML documents of a rule file as the loader does
// and converts each to the JSON value an editor validates: scalars as
// YAML 1.2 types them (timestamps stay strings), aliases resolved, merge
// keys (<<) kept as keys, as the parser sees them.
func documents(data []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 {
			continue
		}
		v, err := jsonValue(n.Content[0])
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}

func jsonValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return jsonValue(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key that is not a string", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := jsonValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, nil
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
			if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
				return nil, fmt.Errorf("line %d: %s is not a JSON number", n.Line, n.Value)
			}
			return v, nil
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}
