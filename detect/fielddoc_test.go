package detect

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated field reference in docs/writing-rules.md")

const (
	guidePath   = "../docs/writing-rules.md"
	sourcesDoc  = "../docs/sources.md"
	fieldsBegin = "<!-- BEGIN GENERATED FIELDS: go test ./detect -run TestFieldReference -update -->"
	fieldsEnd   = "<!-- END GENERATED FIELDS -->"
)

// TestFieldReference checks that the field reference in
// docs/writing-rules.md is the one the source schemas and the normalized
// fields (with what they hold per source, from docs/sources.md's field
// mapping) give; -update rewrites it.
func TestFieldReference(t *testing.T) {
	mapping, err := os.ReadFile(sourcesDoc)
	if err != nil {
		t.Fatal(err)
	}
	want := fieldReference(fieldMapping(string(mapping)))
	data, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, fieldsBegin), strings.Index(doc, fieldsEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q and %q", guidePath, fieldsBegin, fieldsEnd)
	}
	got := doc[i+len(fieldsBegin) : j]
	if got == want {
		return
	}
	if !*update {
		t.Fatalf("the field reference in %s is out of date: run go test ./detect -run TestFieldReference -update", guidePath)
	}
	doc = doc[:i+len(fieldsBegin)] + want + doc[j:]
	if err := os.WriteFile(guidePath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGuideNamesEveryHelper: docs/writing-rules.md documents every
// helper function.
func TestGuideNamesEveryHelper(t *testing.T) {
	data, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range HelperNames {
		if !strings.Contains(string(data), "`"+name+"(") {
			t.Errorf("%s does not document %s", guidePath, name)
		}
	}
}

// mapping is docs/sources.md's field mapping: the sources it has a
// column for, and per normalized field what it holds for each.
type mapping struct {
	sources []string
	holds   map[string][]string
}

// fieldMapping reads the table under "## Field mapping".
func fieldMapping(doc string) mapping {
	m := mapping{holds: map[string][]string{}}
	_, rest, ok := strings.Cut(doc, "## Field mapping")
	if !ok {
		return m
	}
	rows := 0
	for _, line := range strings.Split(rest, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if rows > 0 {
				break
			}
			continue
		}
		cells := tableCells(line)
		rows++
		switch {
		case rows == 1:
			for _, c := range cells[1:] {
				m.sources = append(m.sources, strings.Trim(c, "`"))
			}
		case rows == 2: // the separator
		default:
			for _, name := range strings.Split(cells[0], ",") {
				m.holds[strings.Trim(strings.TrimSpace(name), "`")] = cells[1:]
			}
		}
	}
	return m
}

// tableCells splits a Markdown table row, keeping escaped pipes.
func tableCells(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			b.WriteString(`\|`)
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}

var kindNames = map[kind]string{
	kindString: "string", kindBool: "bool", kindMap: "object", kindList: "list",
	kindInt: "int", kindInt64: "int", kindFloat: "float", kindTime: "time",
}

// fieldReference renders the field reference: the normalized fields with
// what they hold per source, then each source's own fields.
func fieldReference(m mapping) string {
	var b strings.Builder
	b.WriteString("\n\n### Normalized fields (every source)\n\n")
	b.WriteString("What each holds per source is from [sources.md](sources.md#field-mapping); an empty cell means empty (`\"\"`, 0).\n\n")
	b.WriteString("| field | type |")
	for _, s := range m.sources {
		fmt.Fprintf(&b, " `%s` |", s)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(m.sources)) + "\n")
	for _, f := range normFields {
		fmt.Fprintf(&b, "| `%s` | %s |", f.name, kindNames[f.kind])
		holds := m.holds[f.name]
		for i := range m.sources {
			cell := ""
			if i < len(holds) {
				cell = holds[i]
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		b.WriteString("\n")
	}
	var schemaless []string
	for _, name := range SourceNames() {
		sc := sources[name]
		if sc == nil {
			schemaless = append(schemaless, "`"+name+"`")
			continue
		}
		fmt.Fprintf(&b, "\n### `%s`\n\n", name)
		b.WriteString("Top-level fields, typed: a name not listed here (or above) is a load error. A missing string reads as `\"\"`, a missing bool as `false`, a missing object or list as nil.\n\n")
		b.WriteString("| field | type |\n|---|---|\n")
		for _, f := range slices.Sorted(maps.Keys(sc.fields)) {
			fmt.Fprintf(&b, "| `%s` | %s |\n", f, kindNames[sc.fields[f]])
		}
	}
	fmt.Fprintf(&b, "\n### Sources without a schema\n\n%s: any field name is allowed (a missing one is nil), beside the normalized fields; values are what the record holds (numbers are float64). See [sources.md](sources.md) for each one's records.\n\n",
		strings.Join(schemaless, ", "))
	return b.String()
}
