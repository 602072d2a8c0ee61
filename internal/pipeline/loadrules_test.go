package pipeline

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/rules"
)

// TestLoadRulesUserReplacesBuiltin: a user's copy of a built-in rule
// replaces it instead of failing the engine.
func TestLoadRulesUserReplacesBuiltin(t *testing.T) {
	orig, err := rules.Builtin.ReadFile("aws-cloudtrail-stopped.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tuned := strings.Replace(string(orig), "severity: critical", "severity: low", 1)
	if err := os.WriteFile(filepath.Join(dir, "tuned.yaml"), []byte(tuned), 0o644); err != nil {
		t.Fatal(err)
	}
	all, errs := LoadRules(config.Rules{Builtin: true, Paths: []string{dir}})
	if len(errs) != 0 {
		t.Fatalf("load errors: %v", errs)
	}
	builtin, _ := LoadRules(config.Rules{Builtin: true})
	if len(all) != len(builtin) {
		t.Errorf("%d rules, want %d (the copy replaces the built-in rule)", len(all), len(builtin))
	}
	for _, r := range all {
		if r.ID == "aws-cloudtrail-stopped" && (r.Severity != "low" || r.Overrides == nil) {
			t.Errorf("%v: severity %s, overrides %v; want the user's copy", r, r.Severity, r.Overrides)
		}
	}
	if eng := NewRules(config.Rules{Builtin: true, Paths: []string{dir}}, slog.New(slog.NewTextHandler(io.Discard, nil))).Engine(); len(eng.Rules()) != len(all) {
		t.Fatalf("engine of %d rules, want the %d loaded", len(eng.Rules()), len(all))
	}
}
