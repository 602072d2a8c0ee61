package rules_test

import (
	"io/fs"
	"testing"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/rules"
)

// TestBuiltin compiles every embedded rule and runs its inline tests (the
// detect package also runs the pack over real attack logs).
func TestBuiltin(t *testing.T) {
	files, err := fs.Glob(rules.Builtin, "*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded files: %v %v", files, err)
	}
	rs, errs := detect.LoadFS(rules.Builtin, ".")
	for _, err := range errs {
		t.Error(err)
	}
	if len(rs) != len(files) {
		t.Errorf("%d rules from %d files, want one rule per file", len(rs), len(files))
	}
	for _, r := range rs {
		if want := r.ID + ".yaml"; r.File != want {
			t.Errorf("rule %s is in %s, want %s", r.ID, r.File, want)
		}
		for _, res := range detect.RunTests(r, ingest.Decoders(ingest.DefaultSourceConfig)) {
			if !res.Passed {
				t.Error(res)
			}
		}
	}
}
