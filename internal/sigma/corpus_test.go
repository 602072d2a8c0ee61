package sigma

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

// corpusDir holds SigmaHQ rules (see its SOURCE file).
const corpusDir = "../../../shared/corpus/sigma/rules"

func readCorpus(t *testing.T) []Input {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("Sigma corpus not present: %v", err))
	}
	var inputs []Input
	err := filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yml") {
			return err
		}
		data, err := os.ReadFile(p)
		inputs = append(inputs, Input{Name: p, Data: data})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return inputs
}

// category is a corpus file's folder below rules/, e.g. cloud/aws/cloudtrail.
func category(file string) string {
	rel, _ := filepath.Rel(corpusDir, file)
	parts := strings.Split(filepath.ToSlash(filepath.Dir(rel)), "/")
	if len(parts) > 3 {
		parts = parts[:3]
	}
	return strings.Join(parts, "/")
}

// TestCorpus converts every corpus rule: each converted rule compiled
// (Convert checks it with detect.Parse), and the counts are pinned.
func TestCorpus(t *testing.T) {
	results := Convert(readCorpus(t), Options{})
	byCat := map[string][]*Result{}
	reasons := map[string]int{}
	for _, r := range results {
		c := category(r.File)
		byCat[c] = append(byCat[c], r)
		if r.Status == Refused {
			reasons[reasonKind(r.Reason)]++
		}
		if r.Status == Clean || r.Status == Warned {
			if !strings.HasPrefix(string(r.Rule), "# yaml-language-server: $schema=") {
				t.Errorf("%s: no schema comment", r.File)
			}
		}
	}
	cats := sortedKeys(byCat)
	for _, c := range cats {
		n := Count(byCat[c])
		t.Logf("%-32s total %3d  clean %3d  warnings %3d  refused %3d", c, n.Total, n.Clean, n.Warned, n.Refused)
	}
	type reason struct {
		k string
		n int
	}
	var rs []reason
	for k, n := range reasons {
		rs = append(rs, reason{k, n})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].n > rs[j].n || (rs[i].n == rs[j].n && rs[i].k < rs[j].k) })
	for _, r := range rs {
		t.Logf("refused %2d: %s", r.n, r.k)
	}
	for _, r := range results {
		if r.Status == Refused && testing.Verbose() {
			t.Logf("refused %s: %s", filepath.Base(r.File), r.Reason)
		}
	}

	// The acceptance: 90% of the CloudTrail and Kubernetes audit
	// rules convert.
	for _, c := range []string{"cloud/aws/cloudtrail", "application/kubernetes/audit"} {
		n := Count(byCat[c])
		if n.Total == 0 || float64(n.Clean+n.Warned) < 0.9*float64(n.Total) {
			t.Errorf("%s: %d of %d converted, want at least 90%%", c, n.Clean+n.Warned, n.Total)
		}
	}
	want := map[string]Counts{
		"cloud/aws/cloudtrail":         {Total: 57, Clean: 53, Warned: 3, Refused: 1},
		"application/kubernetes/audit": {Total: 16, Clean: 11, Warned: 4, Refused: 1},
		"web/webserver_generic":        {Total: 13, Clean: 1, Warned: 11, Refused: 1},
		"cloud/gcp/audit":              {Total: 16, Clean: 15, Warned: 0, Refused: 1},
		"cloud/gcp/gworkspace":         {Total: 10, Clean: 0, Warned: 0, Refused: 10},
		"cloud/azure/activity_logs":    {Total: 35, Clean: 30, Warned: 0, Refused: 5},
	}
	for c, w := range want {
		if got := Count(byCat[c]); got != w {
			t.Errorf("%s: got %+v, want %+v", c, got, w)
		}
	}
	if n := Count(results); n.Total != 147 {
		t.Errorf("%d corpus rules, want 147", n.Total)
	}
}

// reasonKind shortens a refusal reason to its kind, for the tally.
func reasonKind(reason string) string {
	switch {
	case strings.Contains(reason, "has no Tripline source"):
		return "logsource has no Tripline source"
	case strings.Contains(reason, "keyword search"):
		return "keyword search on structured records"
	case strings.Contains(reason, "does not exist in"), strings.Contains(reason, "has no Tripline equivalent"):
		return "field does not exist for the source"
	case strings.Contains(reason, "can never match"):
		return "value can never match the field's type"
	case strings.Contains(reason, "does not compile"):
		return "converted rule does not compile"
	}
	return reason
}
