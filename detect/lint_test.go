package detect

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tripline/tripline/rules"
)

// lintRule writes a rule file with the given when (and extra keys, by
// default a test) and lints it alone.
func lintRule(t *testing.T, source, when, extra string) []Diagnostic {
	t.Helper()
	return lintRuleTags(t, source, "[attack.t1078]", when, extra)
}

// lintRuleTags is lintRule with the given tags.
func lintRuleTags(t *testing.T, source, tags, when, extra string) []Diagnostic {
	t.Helper()
	doc := "id: r\ntitle: T\nseverity: low\nsource: " + source + "\ntags: " + tags + "\nwhen: " + when + "\n"
	if extra == "" {
		extra = "tests:\n  - {name: x, expect: false, event: {\"eventSource\": \"s\", \"eventName\": \"E\"}}\n"
	}
	path := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(path, []byte(doc+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	ds := LintSet(nil, []string{path}, false)
	for i := range ds {
		ds[i].File = filepath.Base(ds[i].File)
	}
	return ds
}

// TestLintErrors: each documented lint error, with its exact message,
// code, position and caret.
func TestLintErrors(t *testing.T) {
	for _, tc := range []struct {
		name, source, when string
		code, want         string
	}{
		{"misspelled field", "cloudtrail", `eventSource == "iam.amazonaws.com" and eventNme == "CreateUser"`,
			CodeUnknownField, `r.yaml:6:46: error: rule r: when: unknown name eventNme (did you mean eventName?) [unknown-field]`},
		{"misspelled nested field root", "k8s-audit", `objectRf.resource == "pods"`,
			CodeUnknownField, `r.yaml:6:7: error: rule r: when: unknown name objectRf (did you mean objectRef?) [unknown-field]`},
		{"misspelled normalized field", "cloudtrail", `src_iip == "1.2.3.4"`,
			CodeUnknownField, `r.yaml:6:7: error: rule r: when: unknown name src_iip (did you mean src_ip?) [unknown-field]`},
		{"misspelled helper", "cloudtrail", `cidrr(sourceIPAddress, "10.0.0.0/8")`,
			CodeUnknownFunction, `r.yaml:6:7: error: rule r: when: unknown name cidrr (did you mean cidr?) [unknown-function]`},
		{"misspelled builtin", "cloudtrail", `lowr(eventName) == "createuser"`,
			CodeUnknownFunction, `r.yaml:6:7: error: rule r: when: unknown name lowr (did you mean lower?) [unknown-function]`},
		{"unknown function without a schema", "json", `lowr(msg) == "x"`,
			CodeUnknownFunction, `r.yaml:6:7: error: rule r: when: unknown function lowr (did you mean lower?) [unknown-function]`},
		{"no field suggestion without a schema", "json", `contains_anyy(msg, "a")`,
			CodeUnknownFunction, `r.yaml:6:7: error: rule r: when: unknown function contains_anyy (did you mean contains_any?) [unknown-function]`},
		{"string field compared with a number", "cloudtrail", `eventName > 3`,
			CodeType, `r.yaml:6:17: error: rule r: when: invalid operation: > (mismatched types string and int) [type]`},
		{"int field compared with a string", "cloudtrail", `status_code == "x"`,
			CodeType, `r.yaml:6:19: error: rule r: when: invalid operation: == (mismatched types int and string) [type]`},
		{"string field compared with nil", "cloudtrail", `errorCode == nil`,
			CodeType, `r.yaml:6:17: error: rule r: when: errorCode is a string and never nil (a missing field reads as ""): compare with "" [type]`},
		{"non-boolean when", "cloudtrail", `eventName`,
			CodeNotBoolean, `r.yaml:6:7: error: rule r: when: expected bool, but got string [not-boolean]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := lintRule(t, tc.source, tc.when, "")
			if len(ds) != 1 {
				t.Fatalf("got %d diagnostics, want 1: %v", len(ds), ds)
			}
			d := ds[0]
			head, snippet, _ := strings.Cut(d.String(), "\n")
			if head != tc.want || d.Code != tc.code || d.Severity != LintError {
				t.Errorf("got  %s (%s)\nwant %s", head, d.Code, tc.want)
			}
			wantSnippet := "  | when: " + tc.when + "\n  | " + strings.Repeat(" ", d.Column-1) + "^"
			if snippet != wantSnippet {
				t.Errorf("snippet:\n%s\nwant:\n%s", snippet, wantSnippet)
			}
		})
	}
}

// TestLintWarnings: each warning, and that lint never says a condition
// that can be true is never true.
func TestLintWarnings(t *testing.T) {
	const stateful = "threshold: {count: 3, window: 10m}\ntests:\n  - {name: x, expect: false, event: {\"eventSource\": \"s\", \"eventName\": \"E\"}}\n"
	for _, tc := range []struct {
		name, source, when, extra string
		want                      string // "" for no warning
	}{
		{"no tests", "cloudtrail", `eventName == "A"`, "tests: []\n",
			`r.yaml:1:5: warning: rule r: no tests: add a test that matches and a benign look-alike that does not [no-tests]`},
		{"stateful without timed tests", "cloudtrail", `eventName == "A"`, stateful,
			`r.yaml:1:5: warning: rule r: stateful (threshold) without timed tests (events:) [no-timed-tests]`},
		{"two values of one field", "cloudtrail", `eventName == "A" and errorCode == "" and eventName == "B"`, "",
			`r.yaml:6:7: warning: rule r: when: can never be true: no value of eventName satisfies eventName == "A" and eventName == "B" [never-true]`},
		{"in and not in", "k8s-audit", `verb in ["get", "list"] and verb not in ["get", "list"]`, "",
			`r.yaml:6:7: warning: rule r: when: can never be true: no value of verb satisfies verb in ["get", "list"] and not (verb in ["get", "list"]) [never-true]`},
		{"prefix the value lacks", "cloudtrail", `eventName startsWith "Put" and eventName in ["DeleteX", "GetY"]`, "",
			`r.yaml:6:7: warning: rule r: when: can never be true: no value of eventName satisfies eventName startsWith "Put" and eventName in ["DeleteX", "GetY"] [never-true]`},
		{"empty list", "cloudtrail", `eventName in []`, "",
			`r.yaml:6:7: warning: rule r: when: can never be true: nothing is in [] [never-true]`},
		{"dead branch", "cloudtrail", `eventName == "A" or (userAgent == "x" and userAgent == "y")`, "",
			`r.yaml:6:28: warning: rule r: when: this part can never be true: no value of userAgent satisfies userAgent == "x" and userAgent == "y" [never-true]`},
		{"source is fixed", "cloudtrail", `source == "k8s-audit" and eventName == "A"`, "",
			`r.yaml:6:7: warning: rule r: when: can never be true: no value of source satisfies source == "k8s-audit" (source is always "cloudtrail" for cloudtrail) [never-true]`},
		{"outcome is fixed", "cloudtrail", `outcome == "failed"`, "",
			`r.yaml:6:7: warning: rule r: when: can never be true: no value of outcome satisfies outcome == "failed" (outcome is always "failure" or "success" for cloudtrail) [never-true]`},
		{"no MITRE tag", "cloudtrail", `eventName == "A"`, "tags: [team.iam]",
			`r.yaml:5:7: warning: rule r: no MITRE ATT&CK tag (attack.t1234 or attack.<tactic>) [no-mitre]`},

		// Sound: none of these can be ruled out.
		{"one value", "cloudtrail", `eventName == "A" and eventName != "B"`, "", ""},
		{"nested prefixes", "cloudtrail", `eventName startsWith "Put" and eventName startsWith "PutUser"`, "", ""},
		{"different fields", "cloudtrail", `eventName == "A" and eventSource == "A"`, "", ""},
		{"or of values", "cloudtrail", `eventName == "A" or eventName == "B"`, "", ""},
		{"number and float", "json", `port == 22 and port == 22.0`, "", ""},
		{"source per branch", "[cloudtrail, k8s-audit]", `(source == "cloudtrail" and userAgent == "a") or (source == "k8s-audit" and userAgent == "b")`, "", ""},
		{"source of a schemaless source", "json", `source == "other"`, "", ""},
		{"let of a fixed field", "cloudtrail", `let s = userAgent; s == "k8s-audit" and source == "cloudtrail"`, "", ""},
		{"empty list under not", "cloudtrail", `eventName == "A" and not (userAgent in [])`, "", ""},
		{"predicate elements", "cloudtrail", `any(resources, .type == "A") and any(resources, .type == "B")`, "", ""},
		{"k8s outcome empty", "k8s-audit", `outcome == ""`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ds []Diagnostic
			if tags, ok := strings.CutPrefix(tc.extra, "tags: "); ok {
				ds = lintRuleTags(t, tc.source, tags, tc.when, "")
			} else {
				ds = lintRule(t, tc.source, tc.when, tc.extra)
			}
			var got []string
			for _, d := range ds {
				got = append(got, strings.SplitN(d.String(), "\n", 2)[0])
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("unexpected warnings:\n%s", strings.Join(got, "\n"))
			case tc.want != "" && !slices.Contains(got, tc.want):
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), tc.want)
			}
		})
	}
}

// TestLintMacros: positions and suggestions through lists and macros; an
// empty $list in one branch of several is a tuning hook, not a warning,
// but a when that needs a value of it is.
func TestLintMacros(t *testing.T) {
	dir := t.TempDir()
	defs := "list: roles\nitems: []\n---\nmacro: from_role\ncondition: userIdentity.arn in $roles\n---\nmacro: typo\ncondition: eventNmae == \"A\"\n"
	rule := `id: %s
title: T
severity: low
source: cloudtrail
tags: [attack.t1078]
when: %s
tests:
  - {name: x, expect: false, event: {"eventSource": "s", "eventName": "E"}}
`
	var doc strings.Builder
	for _, r := range [][2]string{
		{"hook", `eventName == "A" and (userAgent == "x" or $from_role)`},
		{"needs-list", `eventName == "A" and $from_role`},
		{"in-macro", `$typo`},
	} {
		doc.WriteString("---\n" + strings.Replace(strings.Replace(rule, "%s", r[0], 1), "%s", r[1], 1))
	}
	if err := os.WriteFile(filepath.Join(dir, "defs.yaml"), []byte(defs), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(doc.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range LintSet(nil, []string{dir}, false) {
		got = append(got, strings.ReplaceAll(strings.SplitN(d.String(), "\n", 2)[0], dir+string(filepath.Separator), ""))
	}
	want := []string{
		`r.yaml:16:7: warning: rule needs-list: when: can never be true while the $lists it needs a value of are empty [never-true]`,
		`r.yaml:25:7: error: rule in-macro: when: unknown name eventNmae (did you mean eventName?) (in macro $typo at defs.yaml:8:12) [unknown-field]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLintPackClean: the built-in pack, optional rules included, lints
// without errors or warnings.
func TestLintPackClean(t *testing.T) {
	for _, fsys := range []struct {
		name string
		ds   []Diagnostic
	}{
		{"builtin", LintSet(rules.Builtin, nil, true)},
		{"optional", LintSet(rules.Optional, nil, true)},
	} {
		for _, d := range fsys.ds {
			t.Errorf("%s: %s", fsys.name, d)
		}
	}
}

// TestHelperNames: every name of HelperNames is a function rules can
// call.
func TestHelperNames(t *testing.T) {
	for _, name := range HelperNames {
		if _, err := compileExpr(name+`("")`, cloudTrailSchema, false); err != nil && strings.Contains(err.Error(), "unknown name") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
