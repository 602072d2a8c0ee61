package detect

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/rules"
)

// ctRule is a cloudtrail rule with when and extra keys.
func ctRule(id, when, extra string) string {
	return "id: " + id + "\ntitle: t\nseverity: low\nsource: cloudtrail\nwhen: " + when + "\n" + extra
}

const testDefs = `list: stop_events
items: [StopLogging, DeleteTrail]
---
list: ci_roles
description: the deployment roles
items:
  - arn:aws:iam::111122223333:role/ci
  - $more_ci_roles
---
list: more_ci_roles
items: ["arn:aws:iam::111122223333:role/deploy"]
---
list: admin_ports
items: [22, 3389]
---
macro: from_ci
condition: userIdentity.sessionContext.sessionIssuer.arn in $ci_roles
---
macro: trail_stopped
condition: |
  eventSource == "cloudtrail.amazonaws.com" and eventName in $stop_events
  // a comment at the end of a macro
---
macro: trail_stopped_by_human
condition: $trail_stopped and not $from_ci
`

func loadTestFS(t *testing.T, files map[string]string) ([]*Rule, []string) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	rules, errs := LoadFS(fsys, ".")
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
		var le *LoadError
		if !errors.As(err, &le) {
			t.Errorf("%v is not a *LoadError", err)
		}
	}
	return rules, got
}

func TestListsMacrosExceptionsLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "unknown name with a suggestion",
			files: map[string]string{"defs.yaml": testDefs, "r.yaml": ctRule("r", "$trail_stoped", "")},
			want:  []string{"r.yaml:5:7: rule r: when: unknown list or macro $trail_stoped (did you mean $trail_stopped?)"},
		},
		{
			name:  "unknown name without a suggestion",
			files: map[string]string{"defs.yaml": testDefs, "r.yaml": ctRule("r", `eventName == "x" and $nothing_like_it`, "")},
			want:  []string{"r.yaml:5:28: rule r: when: unknown list or macro $nothing_like_it"},
		},
		{
			name: "unknown name in an exception and a summary",
			files: map[string]string{"defs.yaml": testDefs, "r.yaml": ctRule("r", "$trail_stopped",
				"exceptions:\n  - $from_cii\nsummary: \"{{ actor }} {{ $stop_event }}\"\n")},
			want: []string{
				"r.yaml:7:5: rule r: exceptions[0]: unknown list or macro $from_cii (did you mean $from_ci?)",
				"r.yaml:8:26: rule r: summary: unknown list or macro $stop_event (did you mean $stop_events?)",
			},
		},
		{
			name: "unknown name in a macro and a list",
			files: map[string]string{"defs.yaml": "macro: m\ncondition: eventName in $lst\n---\nlist: lst2\nitems: [a, $lsts]\n",
				"r.yaml": ctRule("r", "$m", "")},
			want: []string{
				"defs.yaml:2:25: macro $m: unknown list or macro $lst (did you mean $lst2?)",
				"defs.yaml:5:12: list $lst2: unknown list or macro $lsts (did you mean $lst2?)",
				"r.yaml:5:7: rule r: when: macro $m is not usable: defs.yaml:2:25: macro $m: unknown list or macro $lst (did you mean $lst2?)",
			},
		},
		{
			name: "cycle",
			files: map[string]string{"defs.yaml": "macro: a\ncondition: eventName == \"x\" or $b\n---\nmacro: b\ncondition: |\n  $c and true\n---\nmacro: c\ncondition: $a\n",
				"r.yaml": ctRule("r", "$b", "")},
			want: []string{
				"defs.yaml:9:12: macro $c: cycle $a -> $b -> $c -> $a",
				"r.yaml:5:7: rule r: when: macro $b is not usable: defs.yaml:9:12: macro $c: cycle $a -> $b -> $c -> $a",
			},
		},
		{
			name:  "self reference",
			files: map[string]string{"defs.yaml": "macro: a\ncondition: not $a\n"},
			want:  []string{"defs.yaml:2:16: macro $a: cycle $a -> $a"},
		},
		{
			name:  "list cycle",
			files: map[string]string{"defs.yaml": "list: a\nitems: [$b]\n---\nlist: b\nitems: [x, $a]\n"},
			want:  []string{"defs.yaml:5:12: list $b: cycle $a -> $b -> $a"},
		},
		{
			name:  "list including a macro",
			files: map[string]string{"defs.yaml": "macro: m\ncondition: \"true\"\n---\nlist: l\nitems: [$m]\n"},
			want:  []string{"defs.yaml:5:9: list $l: $m is a macro: a list may only include lists"},
		},
		{
			name: "duplicate names across files",
			files: map[string]string{"a.yaml": "list: x\nitems: [a]\n", "b.yaml": "macro: x\ncondition: \"true\"\n",
				"r.yaml": ctRule("r", `eventName in $x`, "")},
			want: []string{"b.yaml:1:8: macro $x: duplicate name (first defined at a.yaml:1 as a list)"},
		},
		{
			name:  "macro syntax error",
			files: map[string]string{"defs.yaml": "macro: m\ncondition: |\n  eventName == \"x\" and\n    (errorCode == \"\"\n"},
			want:  []string{"defs.yaml:4:21: macro $m: unexpected token EOF"},
		},
		{
			name:  "invalid literal in a macro",
			files: map[string]string{"defs.yaml": "macro: m\ncondition: cidr(sourceIPAddress, \"10.0.0.0/8\", \"10.0.0.300/32\")\n"},
			want:  []string{`defs.yaml:2:48: macro $m: cidr: "10.0.0.300/32" is not an IP address or CIDR prefix`},
		},
		{
			name: "type error inside a macro is reported at the use",
			files: map[string]string{"defs.yaml": "macro: m\ncondition: |\n  eventName == \"x\"\n    and readOnly > 1\n",
				"r.yaml": ctRule("r", `errorCode == "" and $m`, "")},
			want: []string{"r.yaml:5:27: rule r: when: invalid operation: > (mismatched types bool and int) (in macro $m at defs.yaml:4:18)"},
		},
		{
			name: "unknown field inside a nested macro",
			files: map[string]string{"defs.yaml": "macro: inner\ncondition: eventNmae == \"x\"\n---\nmacro: outer\ncondition: errorCode == \"\" and $inner\n",
				"r.yaml": ctRule("r", `$outer`, "summary: \"{{ $outer }}\"\n")},
			want: []string{
				"r.yaml:5:7: rule r: when: unknown name eventNmae (in macro $inner at defs.yaml:2:12)",
				"r.yaml:6:14: rule r: summary: unknown name eventNmae (in macro $inner at defs.yaml:2:12)",
			},
		},
		{
			name: "list of the wrong type for a helper",
			files: map[string]string{"defs.yaml": "list: nets\nitems: [10.0.0.0/8, 300.0.0.0/8]\n",
				"r.yaml": ctRule("r", `cidr(sourceIPAddress, $nets)`, "")},
			want: []string{`r.yaml:5:29: rule r: when: cidr: "300.0.0.0/8" is not an IP address or CIDR prefix (in list $nets at defs.yaml:1:7)`},
		},
		{
			name:  "definition keys",
			files: map[string]string{"defs.yaml": "list: l\nitems: a\n---\nlist: 1bad\nitems: []\n---\nmacro: m\n---\nmacro: n\ncondition: x\ncolour: red\n---\nlist: env\nitems: []\n---\nlist: nested\nitems: [[a]]\n"},
			want: []string{
				"defs.yaml:2:8: list $l: items: want a list",
				`defs.yaml:4:7: list $1bad: name "1bad" must match ^[A-Za-z_][A-Za-z0-9_]*$ and not be env`,
				`defs.yaml:7:1: macro $m: missing required key "condition"`,
				`defs.yaml:11:1: macro $n: unknown key "colour" (want one of macro, condition, description)`,
				`defs.yaml:13:7: list $env: name "env" must match ^[A-Za-z_][A-Za-z0-9_]*$ and not be env`,
				"defs.yaml:17:9: list $nested: items: want a single value",
			},
		},
		{
			name: "exceptions: type errors and shape",
			files: map[string]string{"r.yaml": ctRule("r", `eventName == "x"`,
				"exceptions:\n  - eventName\n  - eventNmae == \"y\"\n") + "---\n" +
				ctRule("r2", `eventName == "x"`, "exceptions: {a: b}\n") + "---\n" +
				ctRule("r3", `eventName == "x"`, "exceptions: [\"\"]\n")},
			want: []string{
				"r.yaml:7:5: rule r: exceptions[0]: expected bool, but got string",
				"r.yaml:8:5: rule r: exceptions[1]: unknown name eventNmae",
				"r.yaml:15:13: rule r2: list item: want a single value",
				"r.yaml:22:14: rule r3: list item: empty expression",
			},
		},
		{
			name: "helpers: invalid literals and misuse",
			files: map[string]string{"r.yaml": ctRule("r", `cidr(sourceIPAddress, "10.0.0.0/33")`, "") + "---\n" +
				ctRule("r2", `regex(eventName, "(")`, "") + "---\n" +
				ctRule("r3", `json(requestParameters.policy, "Statement[0") == "*"`, "") + "---\n" +
				ctRule("r4", `cidr(readOnly, "10.0.0.0/8")`, "") + "---\n" +
				ctRule("r5", `contains_any(eventName, 3)`, "") + "---\n" +
				ctRule("r6", `entropy(eventName) > "x"`, "") + "---\n" +
				ctRule("r7", `base64decode(eventName, 1) == ""`, "") + "---\n" +
				ctRule("r8", `cidr(sourceIPAddress)`, "") + "---\n" +
				ctRule("r9", `json(readOnly, "a") == nil`, "")},
			want: []string{
				`r.yaml:5:29: rule r: when: cidr: "10.0.0.0/33" is not an IP address or CIDR prefix`,
				"r.yaml:11:24: rule r2: when: regex: invalid pattern: error parsing regexp: missing closing ): `(`",
				`r.yaml:17:38: rule r3: when: json: invalid path "Statement[0": unclosed [ at offset 9`,
				"r.yaml:23:12: rule r4: when: cannot use bool as argument (type string) to call cidr",
				"r.yaml:29:31: rule r5: when: cannot use int as argument (type string) to call contains_any",
				"r.yaml:35:26: rule r6: when: invalid operation: > (mismatched types float64 and string)",
				"r.yaml:41:7: rule r7: when: too many arguments to call base64decode",
				"r.yaml:47:7: rule r8: when: not enough arguments to call cidr",
				"r.yaml:53:12: rule r9: when: cannot use bool as argument (type []interface {}) to call json",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, got := loadTestFS(t, tt.files)
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
			for _, r := range rules {
				if r.ID != "" && len(got) > 0 && strings.Contains(strings.Join(got, "\n"), "rule "+r.ID+":") {
					t.Errorf("rule %s loaded despite its errors", r.ID)
				}
			}
		})
	}
}

func TestListsMacrosExceptionsMatch(t *testing.T) {
	rules, errs := loadTestFS(t, map[string]string{
		// The rules' file sorts before the definitions' one: names are
		// global to what one loader call loads.
		"a-rules.yaml": ctRule("stopped", "$trail_stopped_by_human", `exceptions:
  - userIdentity.arn endsWith ":root"
  - 'requestParameters.name in ["scratch", "tmp"]'
summary: "{{ actor }} ran {{ eventName }} (one of {{ $stop_events }}); from CI: {{ $from_ci }}"
`) + "---\n" + ctRule("ports", `eventName == "AuthorizeSecurityGroupIngress" and requestParameters.fromPort in $admin_ports`, "") +
			"---\n" + ctRule("ci", `$from_ci and not contains_any(eventName, ["Get", "List", "Describe"])`, "") +
			"---\n" + ctRule("env", `$env["eventName"] == "StopLogging" and $env.errorCode == ""`, ""),
		"z-defs.yaml": testDefs,
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	m := eng.NewMatcher()
	const human = `"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory"}`
	const ci = `"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/deploy/x","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::111122223333:role/deploy"}}}`
	const root = `"userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root"}`
	for _, tt := range []struct {
		name, rec string
		want      []string
	}{
		{"stop by a human", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",` + human + `,"requestParameters":{"name":"audit"}}`, []string{"stopped", "env"}},
		{"delete by a human", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"DeleteTrail",` + human + `,"requestParameters":{"name":"audit"}}`, []string{"stopped"}},
		{"stop by CI (macro in a macro, list including a list)", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",` + ci + `,"requestParameters":{"name":"audit"}}`, []string{"ci", "env"}},
		{"stop by root (first exception)", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",` + root + `,"requestParameters":{"name":"audit"}}`, []string{"env"}},
		{"stop of a scratch trail (second exception)", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",` + human + `,"requestParameters":{"name":"tmp"}}`, []string{"env"}},
		{"exception on a missing field", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",` + human + `}`, []string{"stopped", "env"}},
		{"CI reads", `{"eventSource":"lambda.amazonaws.com","eventName":"GetFunction",` + ci + `}`, nil},
		{"port in a list of numbers", `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress",` + human + `,"requestParameters":{"fromPort":3389}}`, []string{"ports"}},
		{"port not in the list", `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress",` + human + `,"requestParameters":{"fromPort":443}}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := matchIDs(t, m, ctEventAt(t, tt.rec))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("matched %q, want %q", got, tt.want)
			}
		})
	}
	out, err := m.Match(ctEventAt(t, `{"eventSource":"cloudtrail.amazonaws.com","eventName":"DeleteTrail",`+human+`}`), nil)
	if err != nil || len(out) != 1 {
		t.Fatalf("findings %v, %v", out, err)
	}
	if want := `arn:aws:iam::111122223333:user/mallory ran DeleteTrail (one of ["StopLogging","DeleteTrail"]); from CI: false`; out[0].Summary != want {
		t.Errorf("summary %q, want %q", out[0].Summary, want)
	}
	byID := map[string]*Rule{}
	for _, r := range rules {
		byID[r.ID] = r
	}
	// Lists and macros are expanded before the prefilter analysis, so a
	// macro's conditions skip events like written ones; exceptions never
	// narrow the prefilter.
	if got, want := byID["stopped"].Prefilter("cloudtrail"), `eventName == "DeleteTrail" | == "StopLogging" and eventSource == "cloudtrail.amazonaws.com"`; got != want {
		t.Errorf("prefilter %q, want %q", got, want)
	}
	if got, want := byID["stopped"].Uses, []string{"ci_roles", "from_ci", "more_ci_roles", "stop_events", "trail_stopped", "trail_stopped_by_human"}; !slices.Equal(got, want) {
		t.Errorf("uses %q, want %q", got, want)
	}
	if got := byID["stopped"].Exceptions; len(got) != 2 || got[1] != `requestParameters.name in ["scratch", "tmp"]` {
		t.Errorf("exceptions %q", got)
	}
	if byID["stopped"].When != "$trail_stopped_by_human" {
		t.Errorf("When %q, want it as written", byID["stopped"].When)
	}
	if len(byID["env"].Uses) != 0 {
		t.Errorf("$env is not a list or macro: uses %q", byID["env"].Uses)
	}
}

// TestExceptionsInlineTests runs a rule's inline tests through exceptions.
func TestExceptionsInlineTests(t *testing.T) {
	rules := mustParse(t, `id: key-created
title: Access key created
severity: medium
source: cloudtrail
when: eventSource == "iam.amazonaws.com" and eventName == "CreateAccessKey"
exceptions:
  - cidr(sourceIPAddress, $office)
  - userIdentity.arn endsWith "/break-glass"
tests:
  - name: from outside
    expect: true
    event: {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, sourceIPAddress: 203.0.113.9, eventTime: "2026-01-02T03:04:05Z"}
  - name: from the office
    expect: false
    event: {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, sourceIPAddress: 10.20.1.5, eventTime: "2026-01-02T03:04:05Z"}
  - name: break glass
    expect: false
    event: {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, sourceIPAddress: 203.0.113.9, userIdentity: {arn: "arn:aws:iam::1:user/break-glass"}, eventTime: "2026-01-02T03:04:05Z"}
---
list: office
items: [10.20.0.0/16, "2001:db8:1::/48"]
`)
	results := RunTests(rules[0], ingest.Decoders(ingest.DefaultSourceConfig))
	if len(results) != 3 {
		t.Fatalf("%d results", len(results))
	}
	for _, res := range results {
		if !res.Passed {
			t.Error(res)
		}
	}
}

// TestParseScope checks that Parse, LoadFS and LoadPaths each resolve
// names within what they load only.
func TestParseScope(t *testing.T) {
	if _, errs := Parse("r.yaml", []byte(ctRule("r", "$trail_stopped", ""))); len(errs) != 1 ||
		errs[0].Error() != "r.yaml:5:7: rule r: when: unknown list or macro $trail_stopped" {
		t.Errorf("errors %v", errs)
	}
	dir := t.TempDir()
	defs := filepath.Join(dir, "defs.yaml")
	if err := os.WriteFile(defs, []byte(testDefs), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "rules")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "r.yaml"), []byte(ctRule("r", "$trail_stopped", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, errs := LoadPaths([]string{sub, defs})
	if len(errs) != 0 || len(rules) != 1 || rules[0].File != filepath.Join(sub, "r.yaml") {
		t.Fatalf("LoadPaths: %v %v", rules, errs)
	}
}

// TestLoadSet loads a built-in pack and a user's directory as one set: a
// user's rule uses a built-in macro, a user's list replaces the built-in
// one for the built-in rules too, and a user's rule replaces the built-in
// rule of the same id.
func TestLoadSet(t *testing.T) {
	builtin := fstest.MapFS{
		"defs.yaml": {Data: []byte(testDefs)},
		"stopped.yaml": {Data: []byte(ctRule("trail-stopped", "$trail_stopped_by_human", "") + "---\n" +
			ctRule("tuned", `eventName == "DeleteBucket"`, ""))},
	}
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mine.yaml", ctRule("mine", `$trail_stopped and userIdentity.type == "Root"`, "")+"---\n"+
		strings.Replace(ctRule("tuned", `eventName == "DeleteBucket"`, ""), "severity: low", "severity: high", 1))
	// The site's own CI roles, for every rule using $ci_roles.
	write("site.yaml", "list: ci_roles\nitems: [arn:aws:iam::111122223333:role/site-ci]\n")

	rules, replaced, errs := LoadSet(builtin, []string{dir})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if want := []string{"tuned", "$ci_roles"}; !slices.Equal(replaced, want) {
		t.Errorf("replaced %q, want %q", replaced, want)
	}
	if got, want := ids(rules), []string{"trail-stopped", "tuned", "mine"}; !slices.Equal(got, want) {
		t.Fatalf("rules %q, want %q", got, want)
	}
	if rules[1].Severity != "high" || rules[1].Overrides == nil {
		t.Errorf("tuned: %+v", rules[1])
	}
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	m := eng.NewMatcher()
	stop := func(issuer, typ string) string {
		return `{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","userIdentity":{"type":"` + typ +
			`","sessionContext":{"sessionIssuer":{"arn":"` + issuer + `"}}}}`
	}
	for _, tt := range []struct {
		rec  string
		want []string
	}{
		{stop("arn:aws:iam::111122223333:role/site-ci", "AssumedRole"), nil},                  // the user's list
		{stop("arn:aws:iam::111122223333:role/ci", "AssumedRole"), []string{"trail-stopped"}}, // the replaced built-in list
		{stop("arn:aws:iam::111122223333:role/deploy", "AssumedRole"), []string{"trail-stopped"}},
		{stop("", "Root"), []string{"trail-stopped", "mine"}},
	} {
		got, err := matchIDs(t, m, ctEventAt(t, tt.rec))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: matched %q, want %q", tt.rec, got, tt.want)
		}
	}

	// Without the built-in pack, the user's rule has no $trail_stopped;
	// a name defined twice among the user's files is an error.
	write("again.yaml", "list: ci_roles\nitems: []\n")
	_, _, errs = LoadSet(nil, []string{dir})
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{
		filepath.Join(dir, "mine.yaml") + ":5:7: rule mine: when: unknown list or macro $trail_stopped",
		filepath.Join(dir, "site.yaml") + ":1:7: list $ci_roles: duplicate name (first defined at " + filepath.Join(dir, "again.yaml") + ":1 as a list)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n got %q\nwant %q", got, want)
	}
}

// TestExpansionPositions checks that positions map back through
// expansions that come before the error.
func TestExpansionPositions(t *testing.T) {
	_, got := loadTestFS(t, map[string]string{
		"defs.yaml": testDefs,
		"r.yaml": ctRule("r", `|
  eventName in $stop_events and $trail_stopped and
    eventNmae == "x"`, ""),
	})
	want := []string{"r.yaml:7:5: rule r: when: unknown name eventNmae"}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n got %q\nwant %q", got, want)
	}
}

func TestExpansionLimits(t *testing.T) {
	// Each macro doubles the one before: the expansion is capped.
	defs := "macro: m0\ncondition: eventName == \"" + strings.Repeat("x", 1000) + "\"\n"
	for i := 1; i <= 12; i++ {
		defs += "---\nmacro: m" + itoa(i) + "\ncondition: $m" + itoa(i-1) + " or $m" + itoa(i-1) + "\n"
	}
	_, got := loadTestFS(t, map[string]string{"defs.yaml": defs, "r.yaml": ctRule("r", "$m12", "")})
	if len(got) != 1 || !strings.Contains(got[0], "r.yaml:5:7: rule r: when: macro $m12: macro $m11:") ||
		!strings.HasSuffix(got[0], "expands to more than 1048576 bytes") {
		t.Errorf("errors %q", got)
	}
	// A long list is fine, up to MaxExpandedNodes.
	items := make([]string, 5000)
	for i := range items {
		items[i] = "user" + itoa(i)
	}
	rules, got := loadTestFS(t, map[string]string{
		"defs.yaml": "list: users\nitems: [" + strings.Join(items, ", ") + "]\n",
		"r.yaml":    ctRule("r", `userIdentity.userName in $users`, ""),
	})
	if len(got) != 0 || len(rules) != 1 {
		t.Fatalf("long list: %q", got)
	}
	items = append(items, items...)
	_, got = loadTestFS(t, map[string]string{
		"defs.yaml": "list: users\nitems: [" + strings.Join(items, ", ") + "]\n",
		"r.yaml":    ctRule("r", `userIdentity.userName in $users`, ""),
	})
	if len(got) != 1 || !strings.Contains(got[0], "exceeds maximum allowed nodes") {
		t.Errorf("too long a list: %q", got)
	}
}

// ctEventAt decodes a CloudTrail record, adding an eventTime.
func ctEventAt(t testing.TB, rec string) *event.Event {
	t.Helper()
	return ctEvent(t, `{"eventTime":"2026-01-02T03:04:05Z",`+rec[1:])
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestListLiterals(t *testing.T) {
	var u unit
	u.parse("d.yaml", []byte(`list: mixed
items: [a, "quote\"and\\back", 'new
  line', 42, 0x10, -3, 1.5, 2e3, true, false, null, ~, "$not_a_ref", 2026-01-02, "tab	x", "é", "a\u0001b"]
`))
	sc, _, errs := newScope(u.defs())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	e, rerrs := sc.expand("$mixed")
	if len(rerrs) > 0 {
		t.Fatal(rerrs)
	}
	want := []any{"a", `quote"and\back`, "new line", 42, 16, -3, 1.5, 2000.0, true, false, nil, nil, "$not_a_ref",
		"2026-01-02", "tab\tx", "é", "a\x01b"}
	if got := evalExpr(t, e.text, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("list %s is\n %#v\nwant\n %#v", e.text, got, want)
	}
}

// FuzzLoadDefinitions is FuzzLoad for files with lists, macros and
// exceptions: the loader must never panic and must position every error.
func FuzzLoadDefinitions(f *testing.F) {
	// Seeds stay small, as in FuzzLoad.
	f.Add([]byte("list: s\nitems: [a, $t]\n---\nlist: t\nitems: [b]\n---\nmacro: m\ncondition: eventName in $s\n---\n" +
		ctRule("r", "$m", "exceptions: [cidr(sourceIPAddress, \"10.0.0.0/8\")]\nsummary: \"{{ $s }}\"\n")))
	f.Add([]byte("macro: a\ncondition: $b\n---\nmacro: b\ncondition: $a or json(x, \"a[0]\") == 1\n---\n" + ctRule("r", "$a", "")))
	f.Add([]byte("list: l\nitems: [1, a, $m]\n---\nlist: m\nitems: [\"x\"]\n---\n" + ctRule("r", "eventName in $l and regex(eventName, \"^a\")", "")))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, errs := Parse("fuzz.yaml", data)
		for _, err := range errs {
			var le *LoadError
			if !errors.As(err, &le) || le.Line < 1 || le.Column < 1 {
				t.Errorf("bad position: %v", err)
			}
		}
		if _, err := NewEngine(rs); err != nil {
			t.Errorf("loaded rules rejected by NewEngine: %v", err)
		}
	})
}

// TestLoadSetBuiltinOnly checks that LoadSet of the pack alone loads what
// LoadFS does.
func TestLoadSetBuiltinOnly(t *testing.T) {
	want := builtinRules(t)
	got, replaced, errs := LoadSet(rules.Builtin, nil)
	if len(errs) > 0 || len(replaced) > 0 || !slices.Equal(ids(got), ids(want)) {
		t.Errorf("LoadSet: %q, replaced %q, errors %v; want %q", ids(got), replaced, errs, ids(want))
	}
}

// TestMacrosInAggregation: by and field expressions expand $macros and
// $lists like when does, and a bad $name there is reported where it is
// written.
func TestMacrosInAggregation(t *testing.T) {
	defs := testDefs + "---\nmacro: issuer\ncondition: userIdentity.sessionContext.sessionIssuer.arn\n"
	rs, errs := loadTestFS(t, map[string]string{
		"defs.yaml": defs,
		"r.yaml": ctRule("ci-distinct", `eventName != ""`,
			"distinct: {field: 'eventName in $stop_events ? \"stop\" : eventName', count: 2, window: 10m, by: [$issuer]}"),
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eng, err := NewEngine(rs)
	if err != nil {
		t.Fatal(err)
	}
	m := eng.NewMatcher()
	ev := ctEvent(t, `{"eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com","eventTime":"2026-11-24T09:00:00Z","userIdentity":{"sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/ci"}}}}`)
	if _, err := m.Match(ev, nil); err != nil {
		t.Fatal(err)
	}
	got := m.Matches()
	if len(got) != 1 || got[0].Key != "arn:aws:iam::1:role/ci" || got[0].Value != "stop" {
		t.Fatalf("matches %+v, want key arn:aws:iam::1:role/ci and value stop", got)
	}

	_, errs = loadTestFS(t, map[string]string{
		"defs.yaml": defs,
		"r.yaml":    ctRule("bad-by", `eventName != ""`, "threshold: {count: 2, window: 10m, by: [eventName, $nope]}"),
	})
	if len(errs) != 1 || !strings.Contains(errs[0], "r.yaml:6:52") || !strings.Contains(errs[0], "threshold.by") || !strings.Contains(errs[0], "$nope") {
		t.Fatalf("errors %q, want one at r.yaml:6:52 naming threshold.by and $nope", errs)
	}
}
