// Package golden compares test output with golden files in testdata,
// rewriting them when the test runs with -update.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/tripline/tripline/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Check compares got with the file at path, or writes got there when the
// test runs with -update.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update if the change is right):\n%s", path, got)
	}
}

// Files runs render on every file matching pattern (but .golden files)
// as a subtest, and compares what it returns with <file>.golden. It fails
// when nothing matches.
func Files(t *testing.T, pattern string, render func(t *testing.T, in []byte) []byte) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	n := 0
	for _, in := range files {
		if filepath.Ext(in) == ".golden" {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			Check(t, in+".golden", render(t, body))
		})
	}
	if err != nil || n == 0 {
		t.Fatalf("no golden inputs match %s (%v)", pattern, err)
	}
}

// Lines decodes each non-blank line of body with decode and renders the
// event as indented JSON, or the line's error as "error: ...".
func Lines(body []byte, decode func(rec []byte, ev *event.Event) error) []byte {
	var out bytes.Buffer
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev event.Event
		if err := decode(line, &ev); err != nil {
			out.WriteString("error: " + err.Error() + "\n")
			continue
		}
		b, err := json.MarshalIndent(ev, "", "  ")
		if err != nil {
			out.WriteString("marshal error: " + err.Error() + "\n")
			continue
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
