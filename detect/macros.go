package detect

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/parser/lexer"
	"go.yaml.in/yaml/v3"
)

// Named lists and macros (Falco-style) are documents of a rule file next
// to its rules:
//
//	list: trusted_ci_roles
//	items: [arn:aws:iam::111122223333:role/ci, arn:aws:iam::111122223333:role/deploy]
//	---
//	macro: from_ci
//	condition: userIdentity.sessionContext.sessionIssuer.arn in $trusted_ci_roles
//
// A rule's when, exceptions and summary parts name them as $name: a list
// becomes an array literal (["a", "b"]), a macro becomes its condition in
// parentheses. Macros may use lists and other macros, and a list may
// include another list with a plain $name item. Names are global across
// what one loader call loads (every file of LoadFS, LoadPaths, LoadSet);
// a name defined twice is a load error, except that in LoadSet a user's
// definition replaces the built-in one. A cycle, an unknown $name (with a
// did-you-mean) and a macro that does not parse are load errors at their
// file:line:col; a rule that uses a broken definition fails to load with
// an error at its $name. An error inside an expanded macro (a type error
// for the rule's source) is reported at the rule's $name and names the
// position in the macro. $env keeps its expr meaning.

// definition is a named list or macro.
type definition struct {
	kind     string // "list" or "macro"
	name     string
	src      *source
	nameNode *yaml.Node
	items    []*yaml.Node // list
	cond     string       // macro
	condNode *yaml.Node   // macro

	refs []defRef
	// err is the first problem of the definition itself; cause is err or
	// that of a definition it uses, which makes it unusable.
	err, cause *LoadError
	state      int // cycle detection: 0 new, 1 on the path, 2 done

	items2 []string  // a list's item literals, once rendered
	exp    *expanded // a macro's expanded condition, once expanded
	expErr error
}

// defRef is a $name in a definition: at rune offset off of a macro's
// condition, or a list item node.
type defRef struct {
	name string
	off  int
	node *yaml.Node
}

func (d *definition) String() string { return d.kind + " $" + d.name }

// where is the definition's position, file:line.
func (d *definition) where() string { return fmt.Sprintf("%s:%d", d.src.name, d.nameNode.Line) }

// errAt makes a LoadError of the definition at rune offset off of its
// condition (off < 0: at node n).
func (d *definition) errAt(n *yaml.Node, off int, err error) *LoadError {
	err = fmt.Errorf("%s: %w", d, err)
	if off >= 0 {
		return d.src.errIn(d.condNode, off, "", err)
	}
	return d.src.errAt(n, "", err)
}

var defNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// defKeys are the keys of list and macro documents.
var (
	listKeys  = []string{"list", "items", "description"}
	macroKeys = []string{"macro", "condition", "description"}
)

// isDefinition reports whether a document is a list or a macro rather
// than a rule: it has a list or macro key and no id.
func isDefinition(n *yaml.Node) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	def := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "id":
			return false
		case "list", "macro":
			def = true
		}
	}
	return def
}

// parseDefinition reads a list or macro document.
func parseDefinition(src *source, n *yaml.Node) (*definition, []error) {
	d := &definition{src: src, nameNode: n}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], resolve(n.Content[i+1]); (k.Value == "list" || k.Value == "macro") && d.kind == "" {
			d.kind, d.nameNode = k.Value, v
			d.name, _ = scalar(v)
		}
	}
	keys := listKeys
	if d.kind == "macro" {
		keys = macroKeys
	}
	var errs []error
	fail := func(at *yaml.Node, err error) { errs = append(errs, src.errAt(at, "", fmt.Errorf("%s: %w", d, err))) }
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			fail(k, errors.New("keys must be strings"))
			continue
		}
		if seen[k.Value] {
			fail(k, fmt.Errorf("duplicate key %q", k.Value))
			continue
		}
		seen[k.Value] = true
		var err error
		switch {
		case k.Value == d.kind:
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				err = errors.New("the name must be a single value")
			} else if !defNamePattern.MatchString(d.name) || d.name == "env" {
				err = fmt.Errorf("name %q must match %s and not be env", d.name, defNamePattern)
			}
		case k.Value == "description" && slices.Contains(keys, "description"):
			_, err = scalar(v)
		case k.Value == "items" && d.kind == "list":
			if v.Kind != yaml.SequenceNode {
				err = errors.New("items: want a list")
				break
			}
			for _, it := range v.Content {
				it = resolve(it)
				if _, e := scalar(it); e != nil && !(it.Kind == yaml.ScalarNode && it.Tag == "!!null") {
					fail(it, fmt.Errorf("items: %w", e))
					continue
				}
				d.items = append(d.items, it)
			}
		case k.Value == "condition" && d.kind == "macro":
			d.cond, err = scalar(v)
			d.condNode = v
		default:
			err = fmt.Errorf("unknown key %q (want one of %s)", k.Value, strings.Join(keys, ", "))
			v = k
		}
		if err != nil {
			fail(v, err)
		}
	}
	need := "items"
	if d.kind == "macro" {
		need = "condition"
	}
	if v, ok := lookup(n, need); !ok || (d.kind == "macro" && strings.TrimSpace(d.cond) == "" && v.Kind == yaml.ScalarNode) {
		fail(n, fmt.Errorf("missing required key %q", need))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// lookup returns the value of key in mapping n.
func lookup(n *yaml.Node, key string) (*yaml.Node, bool) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1]), true
		}
	}
	return nil, false
}

// scope is the lists and macros rules are compiled with.
type scope struct {
	defs  map[string]*definition
	order []*definition
}

// newScope builds the scope of layers of definitions, each in load
// order: a name defined twice in one layer is an error (reported with the
// second definition, which is dropped), and a later layer's definition
// replaces an earlier layer's. It returns the names replaced, and the
// errors by definition. It then checks every definition.
func newScope(layers ...[]*definition) (*scope, []string, map[*definition][]error) {
	sc := &scope{defs: map[string]*definition{}}
	errs := map[*definition][]error{}
	var replaced []string
	for _, layer := range layers {
		mine := map[string]*definition{}
		for _, d := range layer {
			if first, dup := mine[d.name]; dup {
				errs[d] = append(errs[d], d.src.errAt(d.nameNode, "",
					fmt.Errorf("%s: duplicate name (first defined at %s as a %s)", d, first.where(), first.kind)))
				continue
			}
			mine[d.name] = d
			if _, ok := sc.defs[d.name]; ok {
				replaced = append(replaced, "$"+d.name)
			}
			sc.defs[d.name] = d
		}
	}
	for _, layer := range layers {
		for _, d := range layer {
			if sc.defs[d.name] == d {
				sc.order = append(sc.order, d)
			}
		}
	}
	for _, d := range sc.order {
		sc.checkOwn(d)
	}
	for _, d := range sc.order {
		sc.findCycles(d, nil)
	}
	for _, d := range sc.order {
		sc.findCause(d)
		if d.err != nil {
			errs[d] = append(errs[d], d.err)
		}
	}
	return sc, replaced, errs
}

// checkOwn finds a definition's references and checks what can be
// checked of it alone: a macro parses, its literal helper arguments are
// valid, and every $name exists.
func (sc *scope) checkOwn(d *definition) {
	fail := func(n *yaml.Node, off int, err error) {
		if d.err == nil {
			d.err = d.errAt(n, off, err)
		}
	}
	if d.kind == "list" {
		for _, it := range d.items {
			if it.Style == 0 && it.Tag == "!!str" && strings.HasPrefix(it.Value, "$") {
				d.refs = append(d.refs, defRef{name: it.Value[1:], off: -1, node: it})
			}
		}
	} else {
		if len(d.cond) > MaxExprLen {
			fail(d.condNode, -1, fmt.Errorf("condition longer than %d bytes", MaxExprLen))
			return
		}
		c := conf.CreateNew()
		c.MaxNodes = MaxNodes
		tree, err := parser.ParseWithConfig(d.cond, c)
		if fe, ok := asFileError(err); ok {
			fail(nil, fe.From, errors.New(fe.Message))
			return
		} else if err != nil {
			fail(d.condNode, -1, err)
			return
		}
		ast.Find(tree.Node, func(n ast.Node) bool {
			if at, msg := checkHelperCall(n); msg != "" {
				fail(nil, at.Location().From, errors.New(msg))
				return true
			}
			return false
		})
		toks, _ := lexer.Lex(file.NewSource(d.cond))
		for i, t := range toks {
			if name, ok := refName(toks, i); ok {
				d.refs = append(d.refs, defRef{name: name, off: t.From})
			}
		}
	}
	for _, r := range d.refs {
		target, ok := sc.defs[r.name]
		switch {
		case !ok:
			fail(r.node, r.off, sc.unknown(r.name))
		case d.kind == "list" && target.kind != "list":
			fail(r.node, r.off, fmt.Errorf("$%s is a macro: a list may only include lists", r.name))
		}
	}
}

// refName returns the name of token i of toks when it is a $name
// reference: an identifier starting with $, other than $env, that is not
// a member name (x.$y).
func refName(toks []lexer.Token, i int) (string, bool) {
	t := toks[i]
	if t.Kind != lexer.Identifier || len(t.Value) < 2 || t.Value[0] != '$' || t.Value == "$env" {
		return "", false
	}
	if i > 0 && toks[i-1].Is(lexer.Operator, ".", "?.") {
		return "", false
	}
	return t.Value[1:], true
}

// findCycles reports the cycles through d, at the reference that closes
// each one.
func (sc *scope) findCycles(d *definition, path []*definition) {
	if d.state == 2 {
		return
	}
	d.state = 1
	path = append(path, d)
	for _, r := range d.refs {
		t := sc.defs[r.name]
		if t == nil {
			continue
		}
		if t.state == 1 {
			i := slices.Index(path, t)
			names := make([]string, 0, len(path)-i+1)
			for _, p := range path[i:] {
				names = append(names, "$"+p.name)
			}
			names = append(names, "$"+t.name)
			if d.err == nil {
				d.err = d.errAt(r.node, r.off, fmt.Errorf("cycle %s", strings.Join(names, " -> ")))
			}
			continue
		}
		sc.findCycles(t, path)
	}
	d.state = 2
}

// findCause sets d.cause to the first error that makes d unusable: its
// own, or that of a definition it uses. It runs after findCycles, which
// leaves every definition in state 2, and marks those it has done 3.
func (sc *scope) findCause(d *definition) *LoadError {
	if d.state == 3 || d.state == 1 {
		return d.cause
	}
	d.state = 1 // a guard only: every cycle has an error on one of its definitions
	d.cause = d.err
	for _, r := range d.refs {
		if d.cause != nil {
			break
		}
		if t := sc.defs[r.name]; t != nil {
			d.cause = sc.findCause(t)
		}
	}
	d.state = 3
	return d.cause
}

// unknown is the error of an unknown $name, with the closest defined
// name as a suggestion.
func (sc *scope) unknown(name string) error {
	best, bestD := "", 0
	for _, d := range sc.order {
		dist := levenshtein(name, d.name)
		limit := max(2, len(name)/3)
		if dist <= limit && (best == "" || dist < bestD || (dist == bestD && d.name < best)) {
			best, bestD = d.name, dist
		}
	}
	if best != "" {
		return fmt.Errorf("unknown list or macro $%s (did you mean $%s?)", name, best)
	}
	return fmt.Errorf("unknown list or macro $%s", name)
}

// levenshtein is the edit distance between a and b, in bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// expanded is an expression with its $names replaced, and where each
// replacement came from.
type expanded struct {
	text  string
	spans []span
	uses  []*definition // the definitions used, directly or not
}

// span is one replaced $name: runes [out, outEnd) of the expanded text
// replace runes [at, atEnd) of the written one.
type span struct {
	out, outEnd int
	at, atEnd   int
	def         *definition
	inner       *expanded // a macro's expanded condition, at out+1
	innerLen    int       // its length in runes
}

// refError is a problem with a $name at a rune offset of an expression.
type refError struct {
	off int
	err error
}

// expand replaces the $names of code. Without any, it returns code as
// is. Code that does not lex is returned as is, for the compiler to
// report.
func (sc *scope) expand(code string) (*expanded, []refError) {
	e := &expanded{text: code}
	if !strings.Contains(code, "$") {
		return e, nil
	}
	toks, err := lexer.Lex(file.NewSource(code))
	if err != nil {
		return e, nil
	}
	var errs []refError
	var b strings.Builder
	byteOff := runeIndex(code)
	done, outRunes := 0, 0 // bytes of code written, runes of b
	for i, t := range toks {
		name, ok := refName(toks, i)
		if !ok {
			continue
		}
		d := sc.defs[name]
		if d == nil {
			errs = append(errs, refError{t.From, sc.unknown(name)})
			continue
		}
		if d.cause != nil {
			errs = append(errs, refError{t.From, fmt.Errorf("%s is not usable: %s:%d:%d: %v", d, d.cause.File, d.cause.Line, d.cause.Column, d.cause.Err)})
			continue
		}
		text, inner, err := sc.replacement(d)
		if err != nil {
			errs = append(errs, refError{t.From, err})
			continue
		}
		before := code[done:byteOff[t.From]]
		b.WriteString(before)
		outRunes += utf8.RuneCountInString(before)
		s := span{out: outRunes, at: t.From, atEnd: t.To, def: d, inner: inner}
		b.WriteString(text)
		outRunes += utf8.RuneCountInString(text)
		s.outEnd = outRunes
		e.uses = append(e.uses, d)
		e.uses = append(e.uses, sc.included(d)...)
		if inner != nil {
			s.innerLen = utf8.RuneCountInString(inner.text)
			e.uses = append(e.uses, inner.uses...)
		}
		e.spans = append(e.spans, s)
		done = byteOff[t.To]
		if b.Len() > MaxExpandedLen {
			errs = append(errs, refError{t.From, fmt.Errorf("expands to more than %d bytes", MaxExpandedLen)})
			break
		}
	}
	if len(errs) > 0 {
		return &expanded{text: code}, errs
	}
	if len(e.spans) > 0 {
		b.WriteString(code[done:])
		e.text = b.String()
	}
	return e, nil
}

// replacement is the text that replaces $name of d: a list's array
// literal, or a macro's expanded condition in parentheses (with a line
// break, so that a trailing // comment does not swallow the parenthesis).
func (sc *scope) replacement(d *definition) (string, *expanded, error) {
	if d.kind == "list" {
		items := sc.listItems(d)
		n := 2
		for _, it := range items {
			n += len(it) + 2
		}
		if n > MaxExpandedLen {
			return "", nil, fmt.Errorf("%s expands to more than %d bytes", d, MaxExpandedLen)
		}
		return "[" + strings.Join(items, ", ") + "]", nil, nil
	}
	if d.exp == nil && d.expErr == nil {
		exp, errs := sc.expand(d.cond)
		if len(errs) > 0 {
			d.expErr = fmt.Errorf("%s: %w", d, errs[0].err)
		} else {
			d.exp = exp
		}
	}
	if d.expErr != nil {
		return "", nil, d.expErr
	}
	return "(" + d.exp.text + "\n)", d.exp, nil
}

// included returns the lists list d includes, directly or not.
func (sc *scope) included(d *definition) []*definition {
	if d.kind != "list" {
		return nil
	}
	var out []*definition
	for _, r := range d.refs {
		t := sc.defs[r.name]
		out = append(append(out, t), sc.included(t)...)
	}
	return out
}

// listItems renders a list's items as expr literals, with the items of
// the lists it includes.
func (sc *scope) listItems(d *definition) []string {
	if d.items2 != nil {
		return d.items2
	}
	out := []string{}
	for _, it := range d.items {
		if it.Style == 0 && it.Tag == "!!str" && strings.HasPrefix(it.Value, "$") {
			out = append(out, sc.listItems(sc.defs[it.Value[1:]])...)
			continue
		}
		out = append(out, literal(it))
	}
	d.items2 = out
	return out
}

// literal renders a YAML scalar as an expr literal: a number, a bool,
// nil or a string.
func literal(n *yaml.Node) string {
	switch n.Tag {
	case "!!null":
		return "nil"
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return strconv.FormatBool(b)
		}
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && !isSpecial(f) {
			s := strconv.FormatFloat(f, 'f', -1, 64)
			if !strings.Contains(s, ".") {
				s += ".0"
			}
			return s
		}
	}
	return quote(n.Value)
}

func isSpecial(f float64) bool { return f != f || f > 1e300 || f < -1e300 }

// quote renders s as an expr string literal.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// runeIndex maps rune offsets of s (0..count) to byte offsets.
func runeIndex(s string) []int {
	idx := make([]int, 0, len(s)+1)
	for i := range s {
		idx = append(idx, i)
	}
	return append(idx, len(s))
}

// locate maps rune offset off of the expanded text to the written one.
// Inside a replacement it returns the $name's offset and the innermost
// definition and rune offset in its condition (-1 when there is none: a
// list literal or the parentheses around a macro).
func (e *expanded) locate(off int) (int, *definition, int) {
	shift := 0
	for i := range e.spans {
		s := &e.spans[i]
		if off < s.out {
			break
		}
		if off < s.outEnd {
			if in := off - s.out - 1; s.inner != nil && in >= 0 && in < s.innerLen {
				p, d, dOff := s.inner.locate(in)
				if d != nil {
					return s.at, d, dOff
				}
				return s.at, s.def, p
			}
			return s.at, s.def, -1
		}
		shift += (s.outEnd - s.out) - (s.atEnd - s.at)
	}
	return off - shift, nil, 0
}

// usedNames returns the names of the definitions e uses, sorted.
func (e *expanded) usedNames() []string {
	var out []string
	for _, d := range e.uses {
		out = append(out, d.name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// inDefError is an error inside an expanded list or macro.
type inDefError struct {
	err error
	def *definition
	off int // rune offset in a macro's condition, or -1
}

func (e *inDefError) Error() string {
	line, col := e.def.nameNode.Line, e.def.nameNode.Column
	if e.off >= 0 && e.def.condNode != nil {
		line, col = e.def.src.posIn(e.def.condNode, e.off)
	}
	return fmt.Sprintf("%v (in %s at %s:%d:%d)", e.err, e.def, e.def.src.name, line, col)
}

func (e *inDefError) Unwrap() error { return e.err }

// errExpanded makes the LoadError of err at rune offset off of e, the
// expansion of the scalar in node n.
func (s *source) errExpanded(n *yaml.Node, e *expanded, off int, id string, err error) *LoadError {
	pos, d, dOff := e.locate(off)
	if d != nil {
		err = &inDefError{err: err, def: d, off: dOff}
	}
	return s.errIn(n, pos, id, err)
}

// expandTemplate expands the $names inside the {{ }} parts of a summary.
func (sc *scope) expandTemplate(s string) (*expanded, []refError) {
	if !strings.Contains(s, "$") {
		return &expanded{text: s}, nil
	}
	out := &expanded{}
	var b strings.Builder
	var errs []refError
	rest, pos := s, 0
	outRunes, inRunes := 0, 0
	write := func(text string, written int) {
		b.WriteString(text)
		outRunes += utf8.RuneCountInString(text)
		inRunes += written
	}
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			break
		}
		lead := rest[:i+2]
		write(lead, utf8.RuneCountInString(lead))
		code := rest[i+2 : i+2+j]
		exp, cerrs := sc.expand(code)
		for _, ce := range cerrs {
			errs = append(errs, refError{inRunes + ce.off, ce.err})
		}
		for _, sp := range exp.spans {
			sp.out += outRunes
			sp.outEnd += outRunes
			sp.at += inRunes
			sp.atEnd += inRunes
			out.spans = append(out.spans, sp)
		}
		out.uses = append(out.uses, exp.uses...)
		write(exp.text, utf8.RuneCountInString(code))
		pos += i + 2 + j
		rest = s[pos:]
	}
	b.WriteString(rest)
	out.text = b.String()
	return out, errs
}
