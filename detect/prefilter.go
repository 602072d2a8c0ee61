package detect

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// A prefilter lets the engine skip a rule, and skip decoding an event that
// no rule could match, by looking at a few raw fields only.
//
// analyze finds, in a when expression, comparisons of a record field with
// string literals that the whole expression requires: terms of the
// top-level `and` chain (also inside `let`) of the forms
//
//	field == "lit", "lit" == field, field in ["a", "b"],
//	field startsWith "lit", field endsWith "lit",
//
// and `or` of such terms on the same field. field is a record field path
// (eventName, userIdentity.type). Whatever the expression's other terms,
// it cannot be true when one of these fails, so skipping the rule never
// changes a verdict. The raw values are read by scanRecord, which mirrors
// the decoder and the schema coercion exactly and says "unknown" whenever
// it cannot be sure (escapes, invalid UTF-8, malformed JSON, nested values
// that are not plain strings); an unknown value never skips a rule.

// constraint is one required condition on a record field: its value is one
// of exact, or starts with one of prefixes, or ends with one of suffixes.
type constraint struct {
	path []string
	// coerced is set for a top-level string field of the source's schema,
	// whose value rules see coerced to a string (see schema.coerce).
	coerced bool
	exact   map[string]struct{}
	// few lists exact when small is set: it has at most maxFew values,
	// which are faster compared than hashed.
	few      []string
	small    bool
	prefixes []string
	suffixes []string
}

func (c *constraint) key() string { return strings.Join(c.path, ".") }

// judged returns the string a check on a field compares for its scanned
// value v, or false when no check can judge v: nil or a non-string in a
// field rules do not see coerced to a string, or a value the scanner could
// not read (the rule is then evaluated, to be exact). coerced says whether
// rules see the field coerced to a string (see schema.coerce).
func judged(v scanValue, coerced bool) (string, bool) {
	switch v.kind {
	case scanString:
		return v.s, true
	case scanTrue, scanFalse, scanAbsent, scanOther:
		switch {
		case !coerced:
			return "", false
		case v.kind == scanTrue:
			return "true", true
		case v.kind == scanFalse:
			return "false", true
		}
		return "", true
	}
	return "", false
}

// pass reports whether a raw value may satisfy the constraint.
func (c *constraint) pass(v scanValue) bool {
	b, ok := judged(v, c.coerced)
	if !ok {
		return true
	}
	if c.small {
		if slices.Contains(c.few, b) {
			return true
		}
	} else if _, ok := c.exact[b]; ok {
		return true
	}
	for _, p := range c.prefixes {
		if len(b) >= len(p) && b[:len(p)] == p {
			return true
		}
	}
	for _, s := range c.suffixes {
		if len(b) >= len(s) && b[len(b)-len(s):] == s {
			return true
		}
	}
	return false
}

// maxFew is how many exact values a constraint compares one by one.
const maxFew = 4

// union widens c to also accept what o accepts.
func (c *constraint) union(o *constraint) *constraint {
	u := &constraint{path: c.path, coerced: c.coerced, exact: map[string]struct{}{}}
	for k := range c.exact {
		u.exact[k] = struct{}{}
	}
	for k := range o.exact {
		u.exact[k] = struct{}{}
	}
	u.prefixes = append(append(u.prefixes, c.prefixes...), o.prefixes...)
	u.suffixes = append(append(u.suffixes, c.suffixes...), o.suffixes...)
	return u
}

// analyze returns the constraints a when expression requires, sorted by
// field path. decides is set when the expression is nothing but them (an
// `and` of leaves on distinct fields, each leaf possibly an `or` of
// leaves on one field): then, wherever every constrained value is known,
// passing the constraints is the verdict.
func analyze(code string, sc *schema) (cs []constraint, decides bool) {
	tree, err := parser.Parse(code)
	if err != nil {
		return nil, false
	}
	m := constraintsOf(tree.Node, sc, nil)
	out := make([]constraint, 0, len(m))
	for _, c := range m {
		if c.small = len(c.exact) <= maxFew; c.small {
			c.few = slices.Sorted(maps.Keys(c.exact))
		}
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	n, ok := leafTerms(tree.Node, sc)
	return out, ok && n == len(out)
}

// leafTerms counts the terms of node's `and` tree, or reports false when
// one of them is not a leaf constraint or an `or` of leaf constraints on
// one field.
func leafTerms(node ast.Node, sc *schema) (int, bool) {
	n, ok := node.(*ast.BinaryNode)
	if !ok {
		return 0, false
	}
	switch n.Operator {
	case "and", "&&":
		l, okL := leafTerms(n.Left, sc)
		r, okR := leafTerms(n.Right, sc)
		return l + r, okL && okR
	case "or", "||":
		if !leafAlternatives(n, sc) || len(constraintsOf(n, sc, nil)) != 1 {
			return 0, false
		}
		return 1, true
	}
	return 1, leaf(n, sc, nil) != nil
}

// leafAlternatives reports whether node is a leaf constraint or an `or`
// tree of them.
func leafAlternatives(node ast.Node, sc *schema) bool {
	n, ok := node.(*ast.BinaryNode)
	if !ok {
		return false
	}
	if n.Operator == "or" || n.Operator == "||" {
		return leafAlternatives(n.Left, sc) && leafAlternatives(n.Right, sc)
	}
	return leaf(n, sc, nil) != nil
}

// known reports whether a scanned value is one a constraint judges
// exactly: a string, or for a coerced field any value but an unknown one.
func (c *constraint) known(v scanValue) bool {
	_, ok := judged(v, c.coerced)
	return ok
}

// constraintsOf returns, by field path, constraints node requires to be
// true. shadowed lists let-bound names.
func constraintsOf(node ast.Node, sc *schema, shadowed []string) map[string]*constraint {
	switch n := node.(type) {
	case *ast.VariableDeclaratorNode:
		return constraintsOf(n.Expr, sc, append(shadowed, n.Name))
	case *ast.BinaryNode:
		switch n.Operator {
		case "and", "&&":
			l := constraintsOf(n.Left, sc, shadowed)
			for k, c := range constraintsOf(n.Right, sc, shadowed) {
				if _, ok := l[k]; !ok {
					l[k] = c
				}
			}
			return l
		case "or", "||":
			l := constraintsOf(n.Left, sc, shadowed)
			r := constraintsOf(n.Right, sc, shadowed)
			out := map[string]*constraint{}
			for k, c := range l {
				if o, ok := r[k]; ok {
					out[k] = c.union(o)
				}
			}
			return out
		}
		if c := leaf(n, sc, shadowed); c != nil {
			return map[string]*constraint{c.key(): c}
		}
	}
	return map[string]*constraint{}
}

// leaf recognises field == "lit", "lit" == field, field in [...],
// field startsWith "lit" and field endsWith "lit".
func leaf(n *ast.BinaryNode, sc *schema, shadowed []string) *constraint {
	left, right := n.Left, n.Right
	if n.Operator == "==" {
		if _, ok := left.(*ast.StringNode); ok {
			left, right = right, left
		}
	}
	path := fieldPath(left, sc, shadowed)
	if path == nil {
		return nil
	}
	c := &constraint{path: path, exact: map[string]struct{}{}}
	if len(path) == 1 && sc != nil && sc.fields[path[0]] == kindString {
		c.coerced = true
	}
	switch n.Operator {
	case "==", "startsWith", "endsWith":
		s, ok := right.(*ast.StringNode)
		if !ok {
			return nil
		}
		switch n.Operator {
		case "==":
			c.exact[s.Value] = struct{}{}
		case "startsWith":
			c.prefixes = []string{s.Value}
		default:
			c.suffixes = []string{s.Value}
		}
	case "in":
		arr, ok := right.(*ast.ArrayNode)
		if !ok {
			return nil
		}
		for _, e := range arr.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nil
			}
			c.exact[s.Value] = struct{}{}
		}
	default:
		return nil
	}
	return c
}

// fieldPath returns the record field path node reads (ident or
// ident.a.b, at most three levels), or nil. Normalized fields, let-bound
// names and, for sources with a schema, undeclared fields are not record
// fields.
func fieldPath(node ast.Node, sc *schema, shadowed []string) []string {
	var rev []string
	for {
		switch n := node.(type) {
		case *ast.ChainNode:
			node = n.Node
			continue
		case *ast.MemberNode:
			s, ok := n.Property.(*ast.StringNode)
			if !ok || n.Method || len(rev) == 2 {
				return nil
			}
			rev = append(rev, s.Value)
			node = n.Node
			continue
		case *ast.IdentifierNode:
			name := n.Value
			for _, s := range shadowed {
				if s == name {
					return nil
				}
			}
			if sc != nil {
				if _, ok := sc.fields[name]; !ok {
					return nil
				}
			} else if _, norm := normIndex[name]; norm || strings.HasPrefix(name, "$") {
				return nil
			}
			path := []string{name}
			for i := len(rev) - 1; i >= 0; i-- {
				path = append(path, rev[i])
			}
			return path
		}
		return nil
	}
}

// describeConstraints renders constraints for people.
func describeConstraints(cs []constraint) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		var alts []string
		keys := make([]string, 0, len(c.exact))
		for k := range c.exact {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			alts = append(alts, "== "+strconv.Quote(k))
		}
		for _, p := range c.prefixes {
			alts = append(alts, "startsWith "+strconv.Quote(p))
		}
		for _, s := range c.suffixes {
			alts = append(alts, "endsWith "+strconv.Quote(s))
		}
		if len(alts) == 0 {
			alts = []string{"in []"}
		}
		parts = append(parts, c.key()+" "+strings.Join(alts, " | "))
	}
	return strings.Join(parts, " and ")
}
