// Package testenv is what tests share about their environment.
package testenv

import (
	"os"
	"testing"
)

// SkipOrFail skips the test with msg, or fails it when the environment
// variable CI is set: CI provides every prerequisite (ClickHouse, the
// shared corpus), so a missing one there is a broken setup, not a reason
// to skip.
func SkipOrFail(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatal(msg + " [CI is set, so this fails instead of skipping]")
		return
	}
	tb.Skip(msg)
}
