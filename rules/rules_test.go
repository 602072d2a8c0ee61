package rules_test

import (
	"io/fs"
	"path"
	"testing"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/rules"
)

// TestBuiltin compiles every embedded rule and runs its inline tests (the
// detect package also runs the pack over real attack logs).
func TestBuiltin(t *testing.T) {
	testPack(t, rules.Builtin, ".")
}

// TestOptional does the same for the optional rules.
func TestOptional(t *testing.T) {
	testPack(t, rules.Optional, "optional")
}

func testPack(t *testing.T, pack fs.FS, dir string) {
	files, err := fs.Glob(pack, dir+"/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded files: %v %v", files, err)
	}
	rs, errs := detect.LoadFS(pack, dir)
	for _, err := range errs {
		t.Error(err)
	}
	if len(rs) != len(files) {
		t.Errorf("%d rules from %d files, want one rule per file", len(rs), len(files))
	}
	for _, r := range rs {
		if want := r.ID + ".yaml"; path.Base(r.File) != want {
			t.Errorf("rule %s is in %s, want %s", r.ID, r.File, want)
		}
		for _, res := range detect.RunTests(r, ingest.Decoders(ingest.DefaultSourceConfig)) {
			if !res.Passed {
				t.Error(res)
			}
		}
	}
}
