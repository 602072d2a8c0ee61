package detect

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// neverTrue looks for a part of a when expression that can never be true
// for any of the rule's sources and returns its rune offset and why, or
// "" when it finds none. It is sound, not complete: it only proves
// contradictions between comparisons of one field with literals
// (eventName == "A" and eventName == "B", x in [], a prefix the only
// allowed value lacks) and comparisons of a field whose values the
// source fixes (source, and outcome for the sources with a schema, whose
// decoder always sets it) with a value it never takes.
//
// An empty list from a $list (x in $roles, left empty for sites to fill)
// is a deliberate no-op where it is one branch of several: it is
// reported only when the whole expression depends on it. fromList tells
// whether the array at a rune offset comes from a $list.
func neverTrue(code string, sourceNames []string, fromList func(off int) bool) (int, string) {
	tree, err := parser.Parse(code)
	if err != nil || len(sourceNames) == 0 {
		return 0, ""
	}
	lets := map[string]bool{}
	ast.Walk(&tree.Node, letCollector(lets))
	as := make([]*neverAnalysis, len(sourceNames))
	for i, s := range sourceNames {
		as[i] = &neverAnalysis{source: s, fixed: fixedValues(s, lets)}
	}
	// self reports node n never true for every source, with the first
	// source's reason.
	self := func(n ast.Node) (ast.Node, string) {
		if b, ok := n.(*ast.BinaryNode); ok && b.Operator == "in" && fromList(b.Right.Location().From) {
			return nil, ""
		}
		var at ast.Node
		var why string
		for i, a := range as {
			p, r := a.self(n)
			if r == "" {
				return nil, ""
			}
			if i == 0 {
				at, why = p, r
			}
		}
		return at, why
	}
	at, why := findNever(tree.Node, self)
	deep := true
	for _, a := range as {
		deep = deep && a.deep(tree.Node)
	}
	if why == "" && deep {
		return startOf(tree.Node).Location().From, "can never be true while the $lists it needs a value of are empty"
	}
	if why == "" {
		return 0, ""
	}
	if deep {
		return startOf(at).Location().From, "can never be true: " + why
	}
	return startOf(at).Location().From, "this part can never be true: " + why
}

// findNever returns the outermost node that self proves never true, in
// the boolean structure of n (and, or, ?:, let, predicates). It does not
// look under not: not (x in $list) with a list left empty for sites to
// fill is a deliberate no-op, not a mistake.
func findNever(n ast.Node, self func(ast.Node) (ast.Node, string)) (ast.Node, string) {
	if at, why := self(n); why != "" {
		return at, why
	}
	var kids []ast.Node
	switch x := n.(type) {
	case *ast.BinaryNode:
		if isAnd(x.Operator) || isOr(x.Operator) {
			kids = []ast.Node{x.Left, x.Right}
		}
	case *ast.ConditionalNode:
		kids = []ast.Node{x.Cond, x.Exp1, x.Exp2}
	case *ast.VariableDeclaratorNode:
		kids = []ast.Node{x.Expr}
	case *ast.BuiltinNode:
		kids = x.Arguments
	case *ast.PredicateNode:
		kids = []ast.Node{x.Node}
	}
	for _, k := range kids {
		if at, why := findNever(k, self); why != "" {
			return at, why
		}
	}
	return nil, ""
}

func isAnd(op string) bool { return op == "and" || op == "&&" }
func isOr(op string) bool  { return op == "or" || op == "||" }
func isNot(op string) bool { return op == "not" || op == "!" }

// letCollector records the names let binds.
type letCollector map[string]bool

// Visit implements ast.Visitor.
func (c letCollector) Visit(node *ast.Node) {
	if v, ok := (*node).(*ast.VariableDeclaratorNode); ok {
		c[v.Name] = true
	}
}

// fixedValues returns the values that fields of source's events can only
// take, for the sources with a schema (whose records have no field of
// these names, so the normalized value is what rules read).
func fixedValues(source string, lets map[string]bool) map[string]map[string]any {
	sc := sources[source]
	if sc == nil {
		return nil
	}
	fixed := map[string]map[string]any{}
	add := func(field string, vals ...string) {
		if sc.fields[field] != 0 || lets[field] {
			return
		}
		m := map[string]any{}
		for _, v := range vals {
			m[litKey(v)] = v
		}
		fixed[field] = m
	}
	add("source", source)
	switch source {
	case "cloudtrail":
		add("outcome", "success", "failure")
	case "k8s-audit":
		add("outcome", "success", "failure", "")
	}
	return fixed
}

// neverAnalysis proves conditions never true for one source.
type neverAnalysis struct {
	source string
	fixed  map[string]map[string]any // field -> the values it can take
}

// deep reports whether n is never true, through and, or and ?:.
func (a *neverAnalysis) deep(n ast.Node) bool {
	if _, why := a.self(n); why != "" {
		return true
	}
	switch x := n.(type) {
	case *ast.BinaryNode:
		switch {
		case isAnd(x.Operator):
			return a.deep(x.Left) || a.deep(x.Right)
		case isOr(x.Operator):
			return a.deep(x.Left) && a.deep(x.Right)
		}
	case *ast.ConditionalNode:
		return a.deep(x.Exp1) && a.deep(x.Exp2)
	case *ast.VariableDeclaratorNode:
		return a.deep(x.Expr)
	}
	return false
}

// self proves n never true by itself: a constant false, x in [], an
// atom a fixed field contradicts, or a conjunction whose comparisons of
// one field contradict each other. It returns the node to point at.
func (a *neverAnalysis) self(n ast.Node) (ast.Node, string) {
	switch x := n.(type) {
	case *ast.BoolNode:
		if !x.Value {
			return n, "it is false"
		}
		return nil, ""
	case *ast.UnaryNode:
		if b, ok := x.Node.(*ast.BoolNode); ok && isNot(x.Operator) && b.Value {
			return n, "it is not true"
		}
	case *ast.BinaryNode:
		if arr, ok := x.Right.(*ast.ArrayNode); ok && x.Operator == "in" && len(arr.Nodes) == 0 {
			return n, "nothing is in []"
		}
		if isAnd(x.Operator) {
			return a.contradiction(flattenAnd(n, nil), 2)
		}
	}
	return a.contradiction([]ast.Node{n}, 1)
}

// flattenAnd appends the operands of a chain of and.
func flattenAnd(n ast.Node, out []ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && isAnd(b.Operator) {
		return flattenAnd(b.Right, flattenAnd(b.Left, out))
	}
	return append(out, n)
}

// fieldCons are the constraints a conjunction puts on one field.
type fieldCons struct {
	atoms []ast.Node
	// sets are the allowed values of each == or in, by litKey.
	sets                       []map[string]any
	ne                         map[string]bool
	prefix, suffix, substrings []string
}

// contradiction checks the comparisons of fields with literals among
// conj, taken together, for fields compared at least min times (counting
// a fixed field's own values as one).
func (a *neverAnalysis) contradiction(conj []ast.Node, min int) (ast.Node, string) {
	byField := map[string]*fieldCons{}
	var order []string
	for _, n := range conj {
		key, apply := atom(n)
		if key == "" {
			continue
		}
		fc := byField[key]
		if fc == nil {
			fc = &fieldCons{ne: map[string]bool{}}
			byField[key] = fc
			order = append(order, key)
		}
		fc.atoms = append(fc.atoms, n)
		apply(fc)
	}
	for _, key := range order {
		fc := byField[key]
		fixed, isFixed := a.fixed[key]
		count := len(fc.atoms)
		if isFixed {
			count++
		}
		if count < min || !fc.unsatisfiable(fixed, isFixed) {
			continue
		}
		texts := make([]string, len(fc.atoms))
		for i, n := range fc.atoms {
			texts[i] = n.String()
		}
		why := fmt.Sprintf("no value of %s satisfies %s", key, strings.Join(texts, " and "))
		if isFixed {
			why += fmt.Sprintf(" (%s is always %s for %s)", key, describeValues(fixed), a.source)
		}
		return fc.atoms[0], why
	}
	return nil, ""
}

// unsatisfiable reports whether no value meets every constraint.
func (fc *fieldCons) unsatisfiable(fixed map[string]any, isFixed bool) bool {
	var allowed map[string]any
	if isFixed {
		allowed = maps.Clone(fixed)
	}
	for _, s := range fc.sets {
		if allowed == nil {
			allowed = maps.Clone(s)
			continue
		}
		for k := range allowed {
			if _, ok := s[k]; !ok {
				delete(allowed, k)
			}
		}
	}
	if allowed == nil {
		// Only string operators: prefixes (suffixes) must nest.
		return !nested(fc.prefix, strings.HasPrefix) || !nested(fc.suffix, strings.HasSuffix)
	}
	for k, v := range allowed {
		s, isStr := v.(string)
		strOps := len(fc.prefix) + len(fc.suffix) + len(fc.substrings)
		if fc.ne[k] || (strOps > 0 && !isStr) ||
			slices.ContainsFunc(fc.prefix, func(p string) bool { return !strings.HasPrefix(s, p) }) ||
			slices.ContainsFunc(fc.suffix, func(p string) bool { return !strings.HasSuffix(s, p) }) ||
			slices.ContainsFunc(fc.substrings, func(p string) bool { return !strings.Contains(s, p) }) {
			delete(allowed, k)
		}
	}
	return len(allowed) == 0
}

// nested reports whether, of every two of ps, one has the other as
// prefix (suffix), so that one string can have them all.
func nested(ps []string, has func(s, p string) bool) bool {
	for _, p := range ps {
		for _, q := range ps {
			if !has(p, q) && !has(q, p) {
				return false
			}
		}
	}
	return true
}

// atom recognizes a comparison of a field with literals: f == lit, f !=
// lit, f in [lits], not (f == lit), not (f in [lits]), f startsWith,
// endsWith or contains a string. It returns the field's key and how the
// comparison constrains it, or "".
func atom(n ast.Node) (string, func(*fieldCons)) {
	neg := false
	if u, ok := n.(*ast.UnaryNode); ok && isNot(u.Operator) {
		neg, n = true, u.Node
	}
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return "", nil
	}
	field, other := b.Left, b.Right
	if !isField(field) && (b.Operator == "==" || b.Operator == "!=") {
		field, other = b.Right, b.Left
	}
	if !isField(field) {
		return "", nil
	}
	key := field.String()
	op := b.Operator
	if neg {
		switch op {
		case "==":
			op = "!="
		case "!=":
			op = "=="
		case "in":
			op = "not in"
		default:
			return "", nil
		}
	}
	switch op {
	case "==", "!=", "in", "not in":
		vals := map[string]any{}
		lits := []ast.Node{other}
		if op == "in" || op == "not in" {
			arr, ok := other.(*ast.ArrayNode)
			if !ok {
				return "", nil
			}
			lits = arr.Nodes
		}
		for _, l := range lits {
			v, ok := literalValue(l)
			if !ok {
				return "", nil
			}
			vals[litKey(v)] = v
		}
		if op == "==" || op == "in" {
			return key, func(fc *fieldCons) { fc.sets = append(fc.sets, vals) }
		}
		return key, func(fc *fieldCons) {
			for k := range vals {
				fc.ne[k] = true
			}
		}
	case "startsWith", "endsWith", "contains":
		s, ok := other.(*ast.StringNode)
		if !ok {
			return "", nil
		}
		return key, func(fc *fieldCons) {
			switch op {
			case "startsWith":
				fc.prefix = append(fc.prefix, s.Value)
			case "endsWith":
				fc.suffix = append(fc.suffix, s.Value)
			default:
				fc.substrings = append(fc.substrings, s.Value)
			}
		}
	}
	return "", nil
}

// isField reports whether n reads a value that is the same wherever it
// appears in one evaluation: a name, #, or a member of one by a literal
// name.
func isField(n ast.Node) bool {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return x.Value != "$env"
	case *ast.PointerNode:
		return true
	case *ast.ChainNode:
		return isField(x.Node)
	case *ast.MemberNode:
		_, lit := x.Property.(*ast.StringNode)
		return lit && !x.Method && isField(x.Node)
	}
	return false
}

// literalValue returns a literal's value: a string, a float64 (numbers
// compare as numbers), a bool or nil.
func literalValue(n ast.Node) (any, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.IntegerNode:
		return float64(x.Value), true
	case *ast.FloatNode:
		return x.Value, true
	case *ast.BoolNode:
		return x.Value, true
	case *ast.NilNode:
		return nil, true
	}
	return nil, false
}

// litKey makes equal literals equal keys: "s:abc", "n:1", "b:true",
// "nil".
func litKey(v any) string {
	switch x := v.(type) {
	case string:
		return "s:" + x
	case float64:
		return "n:" + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return "b:" + strconv.FormatBool(x)
	}
	return "nil"
}

// describeValues renders a fixed field's values: "cloudtrail", or
// "success" or "failure".
func describeValues(vals map[string]any) string {
	var qs []string
	for _, v := range vals {
		qs = append(qs, strconv.Quote(fmt.Sprint(v)))
	}
	slices.Sort(qs)
	return strings.Join(qs, " or ")
}

// startOf returns the leftmost node of n, where its text starts.
func startOf(n ast.Node) ast.Node {
	switch x := n.(type) {
	case *ast.BinaryNode:
		return startOf(x.Left)
	case *ast.MemberNode:
		return startOf(x.Node)
	case *ast.ChainNode:
		return startOf(x.Node)
	}
	return n
}
