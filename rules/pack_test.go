package rules_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/rules"
)

// TestPack loads the pack with optional rules chosen by id, and refuses an
// unknown id with the list of optional rules.
func TestPack(t *testing.T) {
	ids := func(t *testing.T, optional []string) []string {
		t.Helper()
		fsys, err := rules.Pack(optional)
		if err != nil {
			t.Fatal(err)
		}
		rs, errs := detect.LoadFS(fsys, ".")
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	base := ids(t, nil)
	optional := rules.OptionalIDs()
	if len(optional) == 0 || slices.Contains(base, optional[0]) {
		t.Fatalf("optional rules %v, default pack %v", optional, base)
	}
	one := ids(t, []string{optional[0]})
	if len(one) != len(base)+1 || !slices.Contains(one, optional[0]) {
		t.Errorf("with %s: %d rules, want the %d of the pack and it", optional[0], len(one), len(base))
	}
	if all := ids(t, []string{"all"}); len(all) != len(base)+len(optional) {
		t.Errorf("with all: %d rules, want %d", len(all), len(base)+len(optional))
	}
	_, err := rules.Pack([]string{"aws-no-such-rule"})
	if err == nil || !strings.Contains(err.Error(), `"aws-no-such-rule"`) || !strings.Contains(err.Error(), optional[0]) {
		t.Errorf("unknown id: %v, want an error naming it and the optional rules", err)
	}
}
