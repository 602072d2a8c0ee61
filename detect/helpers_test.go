package detect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/testenv"
	"github.com/tripline/tripline/rules"
)

// corpusDir is the shared corpus, next to the repository (CI has it there;
// a user's clone may not).
var corpusDir = filepath.Join("..", "..", "shared", "corpus")

// requireCorpus checks that the shared corpus and its parts (paths under
// corpusDir) exist, and skips the test when one does not, or fails it in
// CI, where the corpus is always present.
func requireCorpus(tb testing.TB, parts ...string) {
	tb.Helper()
	for _, p := range append([]string{"."}, parts...) {
		path := filepath.Join(corpusDir, p)
		if _, err := os.Stat(path); err != nil {
			skipOrFail(tb, fmt.Sprintf("shared corpus: %v (the corpus sits next to the repository, at %s, in CI; clone it there to run this test)", err, corpusDir))
			return
		}
	}
}

// skipOrFail is testenv.SkipOrFail.
var skipOrFail = testenv.SkipOrFail

const demoFile = "../deploy/demo/attack.ndjson"

func builtinRules(t testing.TB) []*Rule {
	t.Helper()
	rs, errs := LoadFS(rules.Builtin, ".")
	for _, err := range errs {
		t.Error(err)
	}
	if len(rs) == 0 {
		t.Fatal("no built-in rules")
	}
	return rs
}

func ruleIDs(fs []event.Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.RuleID)
	}
	return ids
}

// readNDJSON returns the lines of an NDJSON file.
func readNDJSON(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, append([]byte(nil), line...))
		}
	}
	return out
}

// stratusFiles returns the stratus-red-team detonation logs by technique.
func stratusFiles(t testing.TB) map[string][]json.RawMessage {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(corpusDir, "stratus-red-team", "*.json"))
	out := map[string][]json.RawMessage{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var recs []json.RawMessage
		if err := json.Unmarshal(data, &recs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f[:len(f)-len(".json")])] = recs
	}
	return out
}

// pantherRow is one labelled test of Panther's CloudTrail rules.
type pantherRow struct {
	RuleID    string          `json:"rule_id"`
	Test      string          `json:"test"`
	Expected  bool            `json:"expected"`
	UsesMocks bool            `json:"uses_mocks"`
	Log       json.RawMessage `json:"log"`
}

func pantherRows(t testing.TB) []pantherRow {
	t.Helper()
	path := filepath.Join(corpusDir, "panther-tests", "aws_cloudtrail_rules.jsonl")
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	var rows []pantherRow
	for _, line := range readNDJSON(t, path) {
		var r pantherRow
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

// normalizeTime gives a record an RFC 3339 eventTime when it has none or
// another format (Panther's tests use "2024-10-17 21:48:45.000000000"), as
// RunTests does for rule tests.
func normalizeTime(rec []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(rec, &m) != nil || m == nil {
		return rec
	}
	var s string
	if v, ok := m["eventTime"]; ok && json.Unmarshal(v, &s) == nil {
		if _, err := time.Parse(time.RFC3339, s); err == nil {
			return rec
		}
	}
	m["eventTime"] = json.RawMessage(`"` + DefaultTestEventTime + `"`)
	out, _ := json.Marshal(m)
	return out
}

var (
	recordsOnce sync.Once
	records     [][]byte
)

// testRecords returns every CloudTrail record at hand: the benign test
// data, the demo story, the pack's inline tests and, when present, the
// shared corpus.
func testRecords(t testing.TB) [][]byte {
	t.Helper()
	recordsOnce.Do(func() {
		records = append(records, readNDJSON(t, "testdata/benign.ndjson")...)
		records = append(records, readNDJSON(t, demoFile)...)
		for _, r := range builtinRules(t) {
			for _, tc := range r.Tests {
				if tc.Event != nil {
					records = append(records, normalizeTime(tc.Event))
				}
				for _, te := range tc.Events {
					records = append(records, normalizeTime(te.Event))
				}
			}
		}
		for _, recs := range stratusFiles(t) {
			for _, r := range recs {
				records = append(records, r)
			}
		}
		for _, row := range pantherRows(t) {
			records = append(records, normalizeTime(row.Log))
		}
	})
	return records
}

// testEvents decodes testRecords with the CloudTrail decoder, skipping
// records it rejects.
func testEvents(t testing.TB) []*event.Event {
	t.Helper()
	var out []*event.Event
	for _, raw := range testRecords(t) {
		var ev event.Event
		if (ingest.CloudTrail{}).Decode(raw, &ev) == nil {
			out = append(out, &ev)
		}
	}
	return out
}
