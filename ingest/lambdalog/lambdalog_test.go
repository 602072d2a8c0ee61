package lambdalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tripline/tripline/internal/golden"
)

// TestGolden parses every line of testdata/lines.txt (real platform lines
// from the AWS docs and grafana/agent, plus edge cases) and compares the
// results with testdata/lines.golden.
func TestGolden(t *testing.T) {
	in, err := os.ReadFile("testdata/lines.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(in))
	for sc.Scan() {
		l := Parse(sc.Text() + "\n")
		b, _ := json.Marshal(l)
		got.Write(b)
		got.WriteByte('\n')
	}
	golden.Check(t, "testdata/lines.golden", got.Bytes())
}

func TestReport(t *testing.T) {
	l := Parse("REPORT RequestId: 632d3270-354e-4504-96e1-e3a74218c002\tDuration: 37.18 ms\tBilled Duration: 38 ms\tMemory Size: 128 MB\tMax Memory Used: 65 MB\tInit Duration: 177.89 ms\t\n")
	if l.Kind != KindReport || l.RequestID != "632d3270-354e-4504-96e1-e3a74218c002" || l.DurationMS != 37.18 ||
		l.BilledDurationMS != 38 || l.MemorySizeMB != 128 || l.MaxMemoryUsedMB != 65 || !l.ColdStart() {
		t.Fatalf("%+v", l)
	}
	if warm := Parse("REPORT RequestId: x\tDuration: 1 ms"); warm.ColdStart() {
		t.Fatal("a REPORT without Init Duration is not a cold start")
	}
}

func FuzzParse(f *testing.F) {
	in, _ := os.ReadFile("testdata/lines.txt")
	for l := range strings.SplitSeq(string(in), "\n") {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := Parse(s)
		if l.Kind == "" {
			t.Fatalf("no kind for %q", s)
		}
		if utf8.ValidString(s) && !utf8.ValidString(l.Message) {
			t.Fatalf("invalid UTF-8 message from valid input %q", s)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	lines := []string{
		"START RequestId: 632d3270-354e-4504-96e1-e3a74218c002 Version: $LATEST\n",
		"2023-05-18T15:33:23.822Z\t632d3270-354e-4504-96e1-e3a74218c002\tINFO\thello i'm a lambda\n",
		"END RequestId: 632d3270-354e-4504-96e1-e3a74218c002\n",
		"REPORT RequestId: 632d3270-354e-4504-96e1-e3a74218c002\tDuration: 37.18 ms\tBilled Duration: 38 ms\tMemory Size: 128 MB\tMax Memory Used: 65 MB\t\n",
	}
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Parse(lines[i%len(lines)])
		i++
	}
}
