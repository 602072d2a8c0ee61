package detect

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// Limits on rule expressions.
const (
	// MaxNodes caps the AST nodes of one expression (expr.MaxNodes).
	MaxNodes = 1000
	// MaxExprLen caps the length in bytes of a when expression or summary.
	MaxExprLen = 16 << 10
	// MaxExpandedNodes and MaxExpandedLen cap a when or exception
	// expression once its $lists and $macros are expanded.
	MaxExpandedNodes = 10000
	MaxExpandedLen   = 1 << 20
)

// program is a rule compiled for one source.
type program struct {
	source  string
	schema  *schema
	when    *vm.Program
	summary *template
	// filter holds the conditions on raw record fields that the when
	// expression requires; see prefilter.go. decides is set when they
	// are all it requires.
	filter  []constraint
	decides bool
	// names are the identifiers the rule's expressions use; all is set
	// when they use $env and so may read any field.
	names map[string]bool
	all   bool
}

// envOptions returns the expr options shared by every expression compiled
// for a source whose environment declares decl (declaration(sc), or more).
func envOptions(sc *schema, decl map[string]any) []expr.Option {
	opts := []expr.Option{
		expr.Env(decl),
		expr.MaxNodes(MaxNodes),
		// now() would make a rule's verdict depend on when it runs, and
		// hunts and backtests must agree with live detection.
		expr.DisableBuiltin("now"),
		expr.Patch(nilSafe{}),
		getMemberFunc,
	}
	opts = append(opts, helperFuncs...)
	if sc == nil {
		opts = append(opts, expr.AllowUndefinedVariables())
	}
	return opts
}

// compileExpr compiles one expression for a source. asBool selects a
// boolean result (when) or any result (summary parts).
func compileExpr(code string, sc *schema, asBool bool) (*vm.Program, error) {
	return compileLimited(code, sc, asBool, MaxExprLen, MaxNodes)
}

// compileLimited is compileExpr with other limits, for expressions whose
// lists and macros were expanded.
func compileLimited(code string, sc *schema, asBool bool, maxLen int, maxNodes uint) (*vm.Program, error) {
	return compileIn(code, sc, declaration(sc), asBool, maxLen, maxNodes)
}

// compileIn is compileLimited for an environment that declares decl.
func compileIn(code string, sc *schema, decl map[string]any, asBool bool, maxLen int, maxNodes uint) (*vm.Program, error) {
	if len(code) > maxLen {
		return nil, fmt.Errorf("expression longer than %d bytes", maxLen)
	}
	lint := &nilLint{schema: sc}
	helpers := &helperLint{}
	opts := append(envOptions(sc, decl), expr.Patch(lint), expr.Patch(helpers), expr.MaxNodes(maxNodes))
	if asBool {
		opts = append(opts, expr.AsBool())
	} else {
		opts = append(opts, expr.AsAny())
	}
	prog, err := expr.Compile(code, opts...)
	if err != nil {
		return nil, err
	}
	if lint.err != nil {
		return nil, lint.err.Bind(file.NewSource(code))
	}
	if helpers.err != nil {
		return nil, helpers.err.Bind(file.NewSource(code))
	}
	return prog, nil
}

// nilSafe is an expr patcher that makes every member access optional
// (a.b behaves as a?.b), so that reading a field of a missing or null
// value yields nil instead of a runtime error, and that lets collection
// builtins (any, all, len, ...) treat a nil collection as empty. Reading a
// field of a value that is neither nil nor a map (e.g. a string) is still
// a runtime error.
type nilSafe struct{}

// getMemberName names getMember for the expressions nilSafe rewrites; no
// rule can name it (it is not an identifier).
const getMemberName = "$member"

// getMember reads a.b for nilSafe: nil when a is nil or lacks b, and
// otherwise the VM's own member access (a runtime error when a is not an
// object).
func getMember(params ...any) (any, error) {
	switch a := params[0].(type) {
	case map[string]any:
		return a[params[1].(string)], nil
	case nil:
		return nil, nil
	}
	return runtime.Fetch(params[0], params[1]), nil
}

// untypedObject reports whether a member of a value of type t is only
// known at run time: t is a map or an interface (not a struct, whose
// fields the checker types).
func untypedObject(t reflect.Type) bool {
	return t == nil || t.Kind() == reflect.Map || t.Kind() == reflect.Interface
}

var getMemberFunc = expr.Function(getMemberName, getMember, new(func(any, string) any))

// stringBuiltins take a string as their first argument, which nilSafe
// makes default to "".
var stringBuiltins = map[string]bool{"lower": true, "upper": true, "trim": true}

// collectionBuiltins take a collection as their first argument.
var collectionBuiltins = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true,
	"count": true, "sum": true, "find": true, "findIndex": true, "findLast": true,
	"findLastIndex": true, "groupBy": true, "sortBy": true, "reduce": true, "len": true,
}

// Visit implements ast.Visitor.
func (nilSafe) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if n.Method {
			return
		}
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
			return
		}
		if name, ok := n.Property.(*ast.StringNode); ok && untypedObject(n.Node.Type()) {
			// a.b reads through getMember, which looks into a decoded
			// object without the reflection of the VM's member access.
			call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: getMemberName}, Arguments: []ast.Node{n.Node, name}}
			call.Callee.SetLocation(n.Location())
			ast.Patch(node, call)
			return
		}
		n.Optional = true
		chain := &ast.ChainNode{Node: n}
		ast.Patch(node, chain)
	case *ast.BuiltinNode:
		str := stringBuiltins[n.Name]
		if (!collectionBuiltins[n.Name] && !str) || len(n.Arguments) == 0 {
			return
		}
		arg := n.Arguments[0]
		if t := arg.Type(); t != nil && t.Kind() == reflect.String {
			return
		}
		if b, ok := arg.(*ast.BinaryNode); ok && b.Operator == "??" {
			return
		}
		var empty ast.Node = &ast.ArrayNode{}
		if str {
			empty = &ast.StringNode{}
		}
		empty.SetLocation(arg.Location())
		or := &ast.BinaryNode{Operator: "??", Left: arg, Right: empty}
		or.SetLocation(arg.Location())
		n.Arguments[0] = or
	}
}

// nilLint rejects comparisons with nil of declared fields that are never
// nil: typed string and bool fields read as "" and false when missing, so
// `errorCode == nil` would silently never be true.
type nilLint struct {
	schema *schema
	err    *file.Error
}

// Visit implements ast.Visitor.
func (l *nilLint) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || l.err != nil || (b.Operator != "==" && b.Operator != "!=") {
		return
	}
	other := b.Left
	if _, isNil := b.Left.(*ast.NilNode); isNil {
		other = b.Right
	} else if _, isNil := b.Right.(*ast.NilNode); !isNil {
		return
	}
	id, ok := other.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if _, norm := normIndex[id.Value]; !norm && (l.schema == nil || l.schema.fields[id.Value] == 0) {
		return
	}
	t := other.Type()
	if t == nil {
		return
	}
	var msg string
	switch t.Kind() {
	case reflect.String:
		msg = "is a string and never nil (a missing field reads as \"\"): compare with \"\""
	case reflect.Bool:
		msg = "is a bool and never nil (a missing field reads as false)"
	default:
		return
	}
	l.err = &file.Error{Location: b.Location(), Message: id.Value + " " + msg}
}

// helperLint checks the literal arguments of helper functions that would
// otherwise fail at run time: cidr's prefixes, regex's pattern, json's
// path.
type helperLint struct{ err *file.Error }

// Visit implements ast.Visitor.
func (l *helperLint) Visit(node *ast.Node) {
	if l.err != nil {
		return
	}
	if at, msg := checkHelperCall(*node); msg != "" {
		l.err = &file.Error{Location: at.Location(), Message: msg}
	}
}

// checkHelperCall checks node when it is a call of a helper with literal
// arguments, and returns the offending argument and the problem.
func checkHelperCall(node ast.Node) (ast.Node, string) {
	c, ok := node.(*ast.CallNode)
	if !ok {
		return nil, ""
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok {
		return nil, ""
	}
	args := c.Arguments
	switch {
	case id.Value == "cidr" && len(args) > 1:
		for _, a := range args[1:] {
			elems := []ast.Node{a}
			if arr, ok := a.(*ast.ArrayNode); ok {
				elems = arr.Nodes
			}
			for _, e := range elems {
				if s, ok := e.(*ast.StringNode); ok {
					if _, ok := parsePrefix(s.Value); !ok {
						return e, fmt.Sprintf("cidr: %q is not an IP address or CIDR prefix", s.Value)
					}
				}
			}
		}
	case id.Value == "regex" && len(args) == 2:
		if s, ok := args[1].(*ast.StringNode); ok {
			if _, err := regexp.Compile(s.Value); err != nil {
				return s, "regex: invalid pattern: " + err.Error()
			}
		}
	case id.Value == "json" && len(args) == 2:
		if s, ok := args[1].(*ast.StringNode); ok {
			if _, err := jsonPath(nil, s.Value); err != nil {
				return s, fmt.Sprintf("json: invalid path %q: %v", s.Value, err)
			}
		}
	}
	return nil, ""
}

// usedNames returns the identifiers an expression mentions (a superset of
// the fields it reads) and whether it uses $env.
func usedNames(code string) (map[string]bool, bool) {
	v := &nameCollector{names: map[string]bool{}}
	tree, err := parser.Parse(code)
	if err != nil {
		return v.names, true
	}
	ast.Walk(&tree.Node, v)
	return v.names, v.names["$env"]
}

type nameCollector struct{ names map[string]bool }

// Visit implements ast.Visitor.
func (c *nameCollector) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok {
		c.names[id.Value] = true
	}
}

// exprError is the error of a rule expression, without expr's snippet
// (whose positions are relative to the expression); LoadError carries the
// file position instead.
type exprError struct {
	field string
	err   *file.Error
}

// Error implements error.
func (e *exprError) Error() string { return e.field + ": " + strings.TrimSpace(e.err.Message) }

// Unwrap returns expr's error.
func (e *exprError) Unwrap() error { return e.err }

// asFileError extracts expr's positioned error.
func asFileError(err error) (*file.Error, bool) {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fe, true
	}
	return nil, false
}
