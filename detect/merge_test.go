package detect

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/rules"
)

func ids(rs []*Rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestMerge(t *testing.T) {
	base := mustParse(t, rule("a", "cloudtrail", "true")+rule("b", "cloudtrail", "true")+rule("c", "json", "true"))
	over := mustParse(t, rule("d", "json", "true")+rule("b", "json", "true")+rule("e", "cloudtrail", "true"))
	got, replaced := Merge(base, over)
	if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(ids(got), want) {
		t.Errorf("Merge ids %q, want %q", ids(got), want)
	}
	if !slices.Equal(replaced, []string{"b"}) {
		t.Errorf("replaced %q, want [b]", replaced)
	}
	if b := got[1]; b.Sources[0] != "json" || b.Overrides != base[1] {
		t.Errorf("b is %v from %v overriding %v, want the override rule overriding base's b", b, b.Sources, b.Overrides)
	}
	for _, r := range slices.Concat(base, over) {
		if r.Overrides != nil {
			t.Errorf("Merge modified its input: %v.Overrides = %v", r, r.Overrides)
		}
	}
	if got[0] != base[0] || got[3] != over[0] {
		t.Error("rules that replace nothing are not passed through as is")
	}
	if _, err := NewEngine(got); err != nil {
		t.Errorf("NewEngine(Merge(...)): %v", err)
	}

	got, replaced = Merge(base, nil)
	if !slices.Equal(ids(got), []string{"a", "b", "c"}) || replaced != nil {
		t.Errorf("Merge(base, nil) = %q, %q", ids(got), replaced)
	}
	got, _ = Merge(nil, over)
	if !slices.Equal(ids(got), []string{"d", "b", "e"}) {
		t.Errorf("Merge(nil, over) = %q", ids(got))
	}
}

// TestUserRuleReplacesBuiltin loads the pack and a user's rule directory
// as pipeline.LoadRules does: a tuned copy of a built-in rule replaces it,
// and a duplicate id among the user's files is a load error that leaves
// the other rules in.
func TestUserRuleReplacesBuiltin(t *testing.T) {
	builtin := builtinRules(t)
	orig, err := fs.ReadFile(rules.Builtin, "aws-cloudtrail-stopped.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tuned := strings.Replace(string(orig), "severity: critical", "severity: low", 1)
	if tuned == string(orig) {
		t.Fatal("aws-cloudtrail-stopped.yaml has no 'severity: critical' to tune")
	}
	mine := "id: my-rule\ntitle: Mine\nseverity: info\nsource: cloudtrail\nwhen: eventName == \"StopLogging\"\n"
	dir := t.TempDir()
	for name, data := range map[string]string{
		"tuned.yaml":    tuned,
		"mine.yaml":     mine,
		"sub/copy.yaml": "# the same rule again\n" + mine,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	user, errs := LoadPaths([]string{dir})
	var le *LoadError
	wantErr := filepath.Join(dir, "sub", "copy.yaml") + ":2:5: rule my-rule: duplicate rule id (first defined at " + filepath.Join(dir, "mine.yaml") + ":1)"
	if len(errs) != 1 || !errors.As(errs[0], &le) || errs[0].Error() != wantErr {
		t.Fatalf("user load errors %v, want one *LoadError %q", errs, wantErr)
	}
	if want := []string{"my-rule", "aws-cloudtrail-stopped"}; !slices.Equal(ids(user), want) {
		t.Fatalf("user rules %q, want %q", ids(user), want)
	}

	// Without Merge the engine keeps the built-in rule and reports the
	// user's copy; it does not fail as a whole.
	eng, err := NewEngine(slices.Concat(builtin, user))
	if err == nil || !strings.Contains(err.Error(), "tuned.yaml:2:5: rule aws-cloudtrail-stopped: duplicate rule id") {
		t.Errorf("NewEngine(builtin + user): err = %v, want a duplicate id error at tuned.yaml:2:5", err)
	}
	if eng == nil || len(eng.Rules()) != len(builtin)+1 {
		t.Fatalf("NewEngine(builtin + user) kept %d rules, want %d", len(eng.Rules()), len(builtin)+1)
	}

	all, replaced := Merge(builtin, user)
	if !slices.Equal(replaced, []string{"aws-cloudtrail-stopped"}) {
		t.Errorf("replaced %q", replaced)
	}
	eng, err = NewEngine(all)
	if err != nil {
		t.Fatalf("NewEngine(Merge(builtin, user)): %v", err)
	}
	if n := len(eng.Rules()); n != len(builtin)+1 {
		t.Errorf("%d rules, want %d", n, len(builtin)+1)
	}
	ev := ctEvent(t, `{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventTime":"2026-03-02T10:05:33Z","eventID":"e1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/x"},"requestParameters":{"name":"audit"}}`)
	found, err := eng.NewMatcher().Match(ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	sev := map[string]string{}
	for _, f := range found {
		sev[f.RuleID] += f.Severity
	}
	if want := map[string]string{"aws-cloudtrail-stopped": "low", "my-rule": "info"}; !reflect.DeepEqual(sev, want) {
		t.Errorf("findings by rule %v, want %v (the tuned copy once, not the built-in)", sev, want)
	}
	for _, r := range eng.Rules() {
		if r.ID == "aws-cloudtrail-stopped" && (r.Overrides == nil || r.Overrides.File != "aws-cloudtrail-stopped.yaml" || r.File != filepath.Join(dir, "tuned.yaml")) {
			t.Errorf("%v overrides %v, want the user's file overriding the built-in one", r, r.Overrides)
		}
	}
}

// TestNormFieldsAreEventFields checks that normFields, the one list of the
// normalized fields, names every field of event.Event but IngestedAt and
// Raw by its JSON name, in order, with its type and value.
func TestNormFieldsAreEventFields(t *testing.T) {
	ev := event.Event{Time: time.Unix(1, 0).UTC(), Source: "s", EventID: "id", Account: "acct", Region: "r",
		Service: "svc", Actor: "a", SrcIP: "ip", UserAgent: "ua", Action: "act", Target: "tg", Outcome: "o",
		StatusCode: 7, ErrorCode: "ec", BytesOut: 8, DurationMS: 9.5, Message: "m"}
	v := reflect.ValueOf(ev)
	typ := v.Type()
	var names []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "IngestedAt" || f.Name == "Raw" {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
		j := len(names) - 1
		if j >= len(normFields) {
			continue
		}
		nf := normFields[j]
		got := nf.get(&ev)
		if nf.name != name || !reflect.DeepEqual(got, v.Field(i).Interface()) || !nf.kind.has(got) {
			t.Errorf("normFields[%d] = %s (%v), want event.Event.%s as %s (%v)", j, nf.name, got, f.Name, name, v.Field(i).Interface())
		}
		if v.Field(i).IsZero() {
			t.Errorf("test event leaves %s zero", f.Name)
		}
	}
	if len(names) != len(normFields) {
		t.Errorf("event.Event has %d normalized fields %q, normFields %d", len(names), names, len(normFields))
	}
}
