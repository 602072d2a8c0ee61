package sigma

import (
	"strconv"
	"strings"
)

// node is a boolean expression under construction: an and, or or not of
// other nodes, or a leaf holding expr-lang text that needs no
// parentheses as an operand of "and" (a comparison or a call).
type node struct {
	op   string // "and", "or", "not", "leaf", "true", "false"
	kids []*node
	text string
}

func leaf(format string, args ...string) *node {
	if len(args) == 0 {
		return &node{op: "leaf", text: format}
	}
	r := strings.NewReplacer(pairs(args)...)
	return &node{op: "leaf", text: r.Replace(format)}
}

// pairs turns args into the old/new pairs of strings.NewReplacer for the
// placeholders $1, $2, ... of a leaf format.
func pairs(args []string) []string {
	out := make([]string, 0, 2*len(args))
	for i := len(args) - 1; i >= 0; i-- { // $10 before $1
		out = append(out, "$"+strconv.Itoa(i+1), args[i])
	}
	return out
}

var (
	trueNode  = &node{op: "true"}
	falseNode = &node{op: "false"}
)

// and joins nodes with "and", flattening nested ands and dropping trues.
func and(kids ...*node) *node { return join("and", kids) }

// or joins nodes with "or", flattening nested ors and dropping falses.
func or(kids ...*node) *node { return join("or", kids) }

func join(op string, kids []*node) *node {
	unit, zero := "true", "false"
	if op == "or" {
		unit, zero = "false", "true"
	}
	var out []*node
	for _, k := range kids {
		switch {
		case k.op == unit:
			continue
		case k.op == zero:
			return k
		case k.op == op:
			out = append(out, k.kids...)
		default:
			out = append(out, k)
		}
	}
	switch len(out) {
	case 0:
		if op == "and" {
			return trueNode
		}
		return falseNode
	case 1:
		return out[0]
	}
	return &node{op: op, kids: out}
}

// not negates a node.
func not(n *node) *node {
	switch n.op {
	case "true":
		return falseNode
	case "false":
		return trueNode
	case "not":
		return n.kids[0]
	}
	return &node{op: "not", kids: []*node{n}}
}

// render writes the node as an expression. The top-level and/or puts each
// operand on its own line, so converted rules read like written ones.
func (n *node) render() string {
	switch n.op {
	case "and", "or":
		parts := make([]string, len(n.kids))
		for i, k := range n.kids {
			parts[i] = k.inline(n.op)
		}
		return strings.Join(parts, "\n"+n.op+" ")
	}
	return n.inline("")
}

// inline renders n as an operand of parent ("" at the top).
func (n *node) inline(parent string) string {
	switch n.op {
	case "true", "false":
		return n.op
	case "leaf":
		return n.text
	case "not":
		// expr's not binds tighter than comparisons: not (a == b).
		k := n.kids[0]
		if k.op == "leaf" || k.op == "true" || k.op == "false" {
			return "not (" + k.inline("not") + ")"
		}
		return "not " + k.inline("not")
	}
	parts := make([]string, len(n.kids))
	for i, k := range n.kids {
		parts[i] = k.inline(n.op)
	}
	s := strings.Join(parts, " "+n.op+" ")
	// "and" binds tighter than "or"; "not" binds tighter than both.
	if parent == "not" || (parent == "and" && n.op == "or") {
		return "(" + s + ")"
	}
	return s
}

// quote is an expr-lang string literal.
func quote(s string) string { return strconv.Quote(s) }

// quoteList is an expr-lang array of string literals.
func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
