package detect

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/parser"
)

// Severities of a Diagnostic.
const (
	LintError   = "error"
	LintWarning = "warning"
)

// Codes of a Diagnostic: what kind of problem it is.
const (
	CodeLoad            = "load"             // any other load error
	CodeUnknownField    = "unknown-field"    // a misspelled or undeclared field
	CodeUnknownFunction = "unknown-function" // a call of a function that does not exist
	CodeType            = "type"             // a type error (eventName > 3)
	CodeNotBoolean      = "not-boolean"      // a when or exception that is not a boolean
	CodeNoTests         = "no-tests"         // a rule without inline tests
	CodeNoTimedTests    = "no-timed-tests"   // a stateful rule without timed tests
	CodeNoMitre         = "no-mitre"         // a rule without MITRE ATT&CK tags
	CodeNeverTrue       = "never-true"       // a condition that can never be true
)

// Diagnostic is one problem Lint found, at a position in a rule file.
type Diagnostic struct {
	// File is the rule file, as named to the loader.
	File string `json:"file"`
	// Line and Column are 1-based; 0 when unknown.
	Line   int `json:"line"`
	Column int `json:"column"`
	// Rule is the rule's id, if known.
	Rule string `json:"rule"`
	// Severity is LintError or LintWarning.
	Severity string `json:"severity"`
	// Code is one of the Code constants.
	Code string `json:"code"`
	// Message says what is wrong, without the position and rule.
	Message string `json:"message"`
	// Text is the file's line Line, for a caret under Column ("" when
	// unknown).
	Text string `json:"-"`
}

// String renders the diagnostic as "file:line:col: severity: rule <id>:
// message [code]", followed by the file's line and a caret under the
// column when they are known.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		fmt.Fprintf(&b, "%s:%d:%d: ", d.File, d.Line, d.Column)
	}
	fmt.Fprintf(&b, "%s: ", d.Severity)
	if d.Rule != "" {
		fmt.Fprintf(&b, "rule %s: ", d.Rule)
	}
	fmt.Fprintf(&b, "%s [%s]", d.Message, d.Code)
	if d.Text != "" && d.Column > 0 {
		b.WriteString("\n  | " + strings.TrimRight(d.Text, " \t\r"))
		b.WriteString("\n  | " + caretPad(d.Text, d.Column) + "^")
	}
	return b.String()
}

// caretPad returns the blanks that put a caret under rune column col of
// line, keeping its tabs so that the caret lines up.
func caretPad(line string, col int) string {
	var b strings.Builder
	i := 1
	for _, r := range line {
		if i >= col {
			break
		}
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
		i++
	}
	for ; i < col; i++ {
		b.WriteByte(' ')
	}
	return b.String()
}

// LintSet loads the built-in pack (builtin, nil for none) and the user's
// rule files and directories (paths) as LoadSet does and reports every
// load error, with a suggestion for a misspelled field or function, and
// warnings: a rule without tests, a stateful rule without timed tests, a
// rule without MITRE ATT&CK tags, a when expression (or a part of it)
// that can never be true for any of the rule's sources. Calls of unknown
// functions in rules of a source without a schema, which load but fail on
// every event, are errors. The pack's problems are reported only when
// lintBuiltin is set: otherwise it only provides its lists and macros.
// Diagnostics come in load order, each file's in file order.
func LintSet(builtin fs.FS, paths []string, lintBuiltin bool) []Diagnostic {
	var b, u unit
	if builtin != nil {
		b.walk(builtin, ".", func(p string) string { return p })
	}
	u.paths(paths)
	defs, _, defErrs := newScope(b.defs(), u.defs())
	l := &linter{defs: defs, srcs: map[string]*source{}}
	var out []Diagnostic
	if builtin != nil && lintBuiltin {
		l.read = func(name string) ([]byte, error) { return fs.ReadFile(builtin, name) }
		out = append(out, l.unit(&b, defErrs)...)
	}
	l.read = os.ReadFile
	out = append(out, l.unit(&u, defErrs)...)
	return out
}

// linter lints the units of one LintSet.
type linter struct {
	defs *scope
	srcs map[string]*source // by file name
	read func(name string) ([]byte, error)
}

// unit lints the documents of one unit, as unit.compile loads them.
func (l *linter) unit(u *unit, defErrs map[*definition][]error) []Diagnostic {
	var out []Diagnostic
	var c collector
	pending := map[*Rule]*pendingRule{}
	for _, it := range u.items {
		var errs []error
		errs = append(errs, it.errs...)
		var sources []string
		if it.def != nil {
			l.srcs[it.def.src.name] = it.def.src
			errs = append(errs, defErrs[it.def]...)
		}
		if it.rule != nil {
			l.srcs[it.rule.src.name] = it.rule.src
			sources = it.rule.rule.Sources
			r, cerrs := it.rule.compile(l.defs)
			errs = append(errs, cerrs...)
			if r != nil {
				c.rules = append(c.rules, r)
				pending[r] = it.rule
			}
		}
		for _, err := range errs {
			out = append(out, l.loadError(err, sources))
		}
	}
	rules, dupErrs := c.finish()
	for _, err := range dupErrs {
		out = append(out, l.loadError(err, nil))
	}
	for _, r := range rules {
		out = append(out, l.rule(r, pending[r])...)
	}
	// Files stay in load order; a file's diagnostics are sorted.
	order := map[string]int{}
	for _, d := range out {
		if _, ok := order[d.File]; !ok {
			order[d.File] = len(order)
		}
	}
	slices.SortStableFunc(out, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(order[a.File], order[b.File]), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return out
}

// text returns line n of file, or "".
func (l *linter) text(file string, n int) string {
	s, ok := l.srcs[file]
	if !ok {
		if data, err := l.read(file); err == nil {
			s = newSource(file, data)
		}
		l.srcs[file] = s
	}
	if s == nil {
		return ""
	}
	return s.line(n)
}

var unknownName = regexp.MustCompile(`unknown name ([A-Za-z_][A-Za-z0-9_]*)`)

// loadError turns a load error of a rule of the given sources (nil if
// unknown) into a diagnostic, classified, with a suggestion for an
// unknown name.
func (l *linter) loadError(err error, sources []string) Diagnostic {
	d := Diagnostic{Severity: LintError, Code: CodeLoad, Message: err.Error()}
	var le *LoadError
	if !errors.As(err, &le) {
		return d
	}
	d.File, d.Line, d.Column, d.Rule, d.Message = le.File, le.Line, le.Column, le.RuleID, le.Err.Error()
	d.Text = l.text(d.File, d.Line)
	msg := d.Message
	switch {
	case strings.Contains(msg, "mismatched types") || strings.Contains(msg, "invalid operation") ||
		strings.Contains(msg, "cannot use ") || strings.Contains(msg, "is a string and never nil") ||
		strings.Contains(msg, "is a bool and never nil"):
		d.Code = CodeType
	case strings.Contains(msg, "expected bool, but got"):
		d.Code = CodeNotBoolean
	}
	m := unknownName.FindStringSubmatchIndex(msg)
	if m == nil {
		return d
	}
	name := msg[m[2]:m[3]]
	// Whether the name is called: the file shows it followed by "(". In
	// a macro, the position is the rule's $name: suggest from both.
	call, known := calledAt(d.Text, d.Column, name)
	var cands []string
	if !known || call {
		cands = append(cands, functionNames()...)
	}
	if !known || !call {
		cands = append(cands, fieldNames(sources)...)
	}
	d.Code = CodeUnknownField
	if known && call {
		d.Code = CodeUnknownFunction
	}
	if best := closest(name, cands); best != "" {
		d.Message = msg[:m[1]] + " (did you mean " + best + "?)" + msg[m[1]:]
	}
	return d
}

// calledAt reports whether name is at rune column col of line and
// followed by "(" (call), and whether it is there at all (known).
func calledAt(line string, col int, name string) (call, known bool) {
	r := []rune(line)
	if col < 1 || col-1 > len(r) {
		return false, false
	}
	rest, ok := strings.CutPrefix(string(r[col-1:]), name)
	if !ok {
		return false, false
	}
	return strings.HasPrefix(strings.TrimLeft(rest, " \t"), "("), true
}

// HelperNames are the helper functions of the rule language, beside
// expr's builtins (see docs/rules.md).
var HelperNames = []string{"base64decode", "cidr", "contains_any", "entropy", "icontains_any", "json", "parseJSON", "regex", "urldecode"}

// functionNames returns every function a rule may call: the helpers and
// expr's builtins but now.
func functionNames() []string {
	names := slices.Clone(HelperNames)
	for _, f := range builtin.Builtins {
		if f.Name != "now" && !strings.HasPrefix(f.Name, "$") {
			names = append(names, f.Name)
		}
	}
	return names
}

// fieldNames returns the fields declared for the sources: their schemas'
// and the normalized fields.
func fieldNames(sourceNames []string) []string {
	var names []string
	for _, f := range normFields {
		names = append(names, f.name)
	}
	for _, s := range sourceNames {
		if sc := sources[s]; sc != nil {
			for n := range sc.fields {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// closest returns the candidate nearest to name (by edit distance, case
// differences counting little), or "" when none is close.
func closest(name string, cands []string) string {
	best, bestD := "", 0
	limit := max(2, len(name)/3)
	for _, c := range cands {
		if c == name {
			continue
		}
		d := levenshtein(name, c)
		if strings.EqualFold(name, c) {
			d = 0
		}
		if d <= limit && (best == "" || d < bestD || (d == bestD && c < best)) {
			best, bestD = c, d
		}
	}
	return best
}

// mitreTag matches an ATT&CK technique (attack.t1098, attack.t1098.003)
// or tactic tag (attack.persistence; with - or _).
var mitreTag = regexp.MustCompile(`^attack\.(t\d{4}(\.\d{3})?|reconnaissance|resource[-_]development|initial[-_]access|execution|persistence|privilege[-_]escalation|defense[-_]evasion|credential[-_]access|discovery|lateral[-_]movement|collection|command[-_]and[-_]control|exfiltration|impact)$`)

// rule lints a rule that loaded.
func (l *linter) rule(r *Rule, pr *pendingRule) []Diagnostic {
	var out []Diagnostic
	warn := func(line, col int, code, msg string) {
		out = append(out, Diagnostic{File: r.File, Line: line, Column: col, Rule: r.ID, Severity: LintWarning,
			Code: code, Message: msg, Text: l.text(r.File, line)})
	}
	switch {
	case len(r.Tests) == 0:
		warn(r.idLine, r.idCol, CodeNoTests, "no tests: add a test that matches and a benign look-alike that does not")
	case r.Aggregation != nil && !slices.ContainsFunc(r.Tests, func(t RuleTest) bool { return t.Timed() }):
		warn(r.idLine, r.idCol, CodeNoTimedTests, fmt.Sprintf("stateful (%s) without timed tests (events:)", r.Aggregation.Spec.Kind))
	}
	if !slices.ContainsFunc(r.Tags, mitreTag.MatchString) {
		line, col := r.idLine, r.idCol
		if n := pr.nodes["tags"]; n != nil {
			line, col = n.Line, n.Column
		}
		warn(line, col, CodeNoMitre, "no MITRE ATT&CK tag (attack.t1234 or attack.<tactic>)")
	}
	whenNode := pr.nodes["when"]
	when, _ := l.defs.expand(r.When)
	if at, msg := neverTrue(when.text, r.Sources, when.listAt); msg != "" {
		le := pr.src.errExpanded(whenNode, when, at, r.ID, errors.New(msg))
		warn(le.Line, le.Column, CodeNeverTrue, "when: "+le.Err.Error())
	}
	// Calls of unknown functions load for a source without a schema but
	// fail on every event.
	if slices.ContainsFunc(r.Sources, func(s string) bool { return sources[s] == nil }) {
		for i, text := range slices.Concat([]string{r.When}, r.Exceptions) {
			field, n := "when", whenNode
			if i > 0 {
				field, n = fmt.Sprintf("exceptions[%d]", i-1), pr.excNodes[i-1]
			}
			e, _ := l.defs.expand(text)
			for _, c := range unknownCalls(e.text) {
				msg := fmt.Sprintf("%s: unknown function %s", field, c.name)
				if best := closest(c.name, functionNames()); best != "" {
					msg += " (did you mean " + best + "?)"
				}
				le := pr.src.errExpanded(n, e, c.at, r.ID, errors.New(msg))
				out = append(out, Diagnostic{File: r.File, Line: le.Line, Column: le.Column, Rule: r.ID,
					Severity: LintError, Code: CodeUnknownFunction, Message: le.Err.Error(), Text: l.text(r.File, le.Line)})
			}
		}
	}
	return out
}

// listAt reports whether the text at rune offset off of the expanded
// expression is where a $list was put.
func (e *expanded) listAt(off int) bool {
	for _, sp := range e.spans {
		switch {
		case sp.out == off && sp.def != nil && sp.def.kind == "list":
			return true
		case sp.inner != nil && off > sp.out && off < sp.outEnd:
			return sp.inner.listAt(off - sp.out - 1)
		}
	}
	return false
}

// call is a call in an expression, at a rune offset.
type call struct {
	name string
	at   int
}

// unknownCalls returns the calls of names that are not functions.
func unknownCalls(code string) []call {
	tree, err := parser.Parse(code)
	if err != nil {
		return nil
	}
	known := functionNames()
	v := &callCollector{known: known}
	ast.Walk(&tree.Node, v)
	return v.calls
}

type callCollector struct {
	known []string
	calls []call
}

// Visit implements ast.Visitor.
func (c *callCollector) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	if id, ok := n.Callee.(*ast.IdentifierNode); ok && !slices.Contains(c.known, id.Value) {
		c.calls = append(c.calls, call{id.Value, id.Location().From})
	}
}
