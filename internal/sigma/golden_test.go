package sigma

import (
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/golden"
)

// TestGolden converts the Sigma files in testdata and compares the rule
// files and warnings with testdata/<file>.golden (go test -update
// rewrites them).
func TestGolden(t *testing.T) {
	golden.Files(t, "testdata/*.yml", func(t *testing.T, in []byte) []byte {
		var b strings.Builder
		for _, r := range Convert([]Input{{Name: "in.yml", Data: in}}, Options{Schema: "../schema.json"}) {
			b.WriteString("# " + r.File + ": " + r.Status.String())
			if r.Reason != "" {
				b.WriteString(": " + r.Reason)
			}
			b.WriteString("\n")
			for _, w := range r.Warnings {
				b.WriteString("# warning: " + w + "\n")
			}
			b.Write(r.Rule)
		}
		return []byte(b.String())
	})
}
