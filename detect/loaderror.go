package detect

import (
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// LoadError is a problem with one rule file or rule, at a position in the
// file. Line and Column are 1-based; an error inside an expression points
// at the offending token in the file.
type LoadError struct {
	// File is the rule file, as named to the loader.
	File string
	// Line is the 1-based line in File.
	Line int
	// Column is the 1-based column on Line.
	Column int
	// RuleID is the id of the rule the error belongs to, if known.
	RuleID string
	// Err is the problem.
	Err error
}

// Error reads "file:line:col: rule <id>: <message>" ("file:line:col:
// <message>" when the rule id is unknown).
func (e *LoadError) Error() string {
	if e.RuleID == "" {
		return fmt.Sprintf("%s:%d:%d: %v", e.File, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("%s:%d:%d: rule %s: %v", e.File, e.Line, e.Column, e.RuleID, e.Err)
}

// Unwrap returns the underlying error.
func (e *LoadError) Unwrap() error { return e.Err }

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlError positions a YAML syntax error, whose text carries only a line.
func yamlError(file string, err error) *LoadError {
	le := &LoadError{File: file, Line: 1, Column: 1, Err: err}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		le.Line, _ = strconv.Atoi(m[1])
		le.Err = fmt.Errorf("yaml: %s", err.Error()[len(m[0]):])
	}
	return le
}

// source is a rule file's text split into lines, to map positions inside
// scalars back to the file.
type source struct {
	name  string
	lines []string
}

func newSource(name string, data []byte) *source {
	s := &source{name: name}
	start := 0
	for i, c := range data {
		if c == '\n' {
			s.lines = append(s.lines, string(data[start:i]))
			start = i + 1
		}
	}
	s.lines = append(s.lines, string(data[start:]))
	return s
}

// line returns file line n (1-based), or "".
func (s *source) line(n int) string {
	if n < 1 || n > len(s.lines) {
		return ""
	}
	return s.lines[n-1]
}

// errAt makes a LoadError at a node.
func (s *source) errAt(n *yaml.Node, id string, err error) *LoadError {
	return &LoadError{File: s.name, Line: n.Line, Column: n.Column, RuleID: id, Err: err}
}

// errIn makes a LoadError at rune offset off of scalar node n's value.
func (s *source) errIn(n *yaml.Node, off int, id string, err error) *LoadError {
	line, col := s.posIn(n, off)
	return &LoadError{File: s.name, Line: line, Column: col, RuleID: id, Err: err}
}

// posIn maps rune offset off of scalar n's value to a file line and
// column. It is exact for literal block scalars (when: |) and single-line
// plain or quoted scalars without escapes, and close for folded and
// multi-line flow scalars, whose line breaks YAML folds into spaces.
func (s *source) posIn(n *yaml.Node, off int) (int, int) {
	v := n.Value
	switch {
	case n.Style&yaml.LiteralStyle != 0:
		line, col, k := 0, 0, 0
		for _, r := range v {
			if k >= off {
				break
			}
			if r == '\n' {
				line++
				col = 0
			} else {
				col++
			}
			k++
		}
		first := n.Line + 1
		return first + line, s.indent(first) + col + 1
	case n.Style&yaml.FoldedStyle != 0:
		return s.walkFolded(n.Line+1, s.indent(n.Line+1), off)
	}
	quote := 0
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		quote = 1
	}
	first := s.line(n.Line)
	startCol := n.Column + quote // 1-based column of the value's first rune
	// Runes of the value on its first line.
	firstRunes := utf8.RuneCountInString(first) - (startCol - 1)
	if off <= firstRunes || firstRunes < 0 {
		return n.Line, startCol + off
	}
	line, col := s.walkFolded(n.Line+1, -1, off-firstRunes-1)
	return line, col
}

// indent returns the indentation of the first non-blank line at or after
// line n.
func (s *source) indent(n int) int {
	for ; n <= len(s.lines); n++ {
		l := s.line(n)
		i := 0
		for i < len(l) && l[i] == ' ' {
			i++
		}
		if i < len(l) {
			return i
		}
	}
	return 0
}

// walkFolded finds rune offset off in text made of the lines from line
// `from` on, each stripped of `indent` spaces (-1: of all leading blanks)
// and joined by one character.
func (s *source) walkFolded(from, indent, off int) (int, int) {
	for n := from; n <= len(s.lines); n++ {
		l := s.line(n)
		lead := 0
		for lead < len(l) && (l[lead] == ' ' || (indent < 0 && l[lead] == '\t')) && (indent < 0 || lead < indent) {
			lead++
		}
		runes := utf8.RuneCountInString(l[lead:])
		if off <= runes {
			return n, lead + off + 1
		}
		off -= runes + 1
	}
	return from, 1
}
