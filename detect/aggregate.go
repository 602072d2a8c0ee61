package detect

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/tripline/tripline/detect/state"
)

// Aggregation is what makes a rule stateful: its matches are counted per
// group key by a detect/state kind instead of each becoming a finding.
// A rule has at most one.
type Aggregation struct {
	// Spec is the kind and its parameters.
	Spec state.Spec
	// By are the expressions whose values, joined, are the group key
	// (empty: one key for the whole rule).
	By []string
	// Field is distinct's counted value, or new_term's term expressions.
	Field []string
	// Steps are a sequence's ordered step conditions, as written (with
	// their $lists and $macros); Spec.Steps is their number.
	Steps []string
	// Absent is a sequence's absent-event condition, as written, or "".
	Absent string

	progs map[string]*aggProgram // by source
	// stepNodes and absentNode are where Steps and Absent are written;
	// byNodes and fieldNodes where By and Field are.
	stepNodes           []*yaml.Node
	absentNode          *yaml.Node
	byNodes, fieldNodes []*yaml.Node
}

// aggProgram is an aggregation's expressions compiled for one source.
type aggProgram struct {
	by, field []*vm.Program
	// byPath and fieldPath hold, for an expression that only reads a
	// field (a or a.b.c), its path, read without the VM; nil otherwise.
	byPath, fieldPath [][]string
	// steps and absent are a sequence's conditions (absent nil when
	// there is none).
	steps  []*vm.Program
	absent *vm.Program
}

// spec renders the aggregation's parameters for Rule.Version ("" for a
// rule without one).
func (a *Aggregation) spec() string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("%+v", a.Spec)
}

// aggKeys are the rule keys that make a rule stateful.
var aggKeys = []string{"threshold", "distinct", "sequence", "new_term", "spike", "absence", "dedup"}

// parseAggregation reads the mapping of an aggregation key:
//
//	threshold: {count: N, window: D, by: [exprs]}
//	distinct:  {field: expr, count: N, window: D, by: [exprs]}
//	sequence:  {by: [exprs], within: D, steps: [{when: expr}, ...], absent: expr}
//	new_term:  {fields: [exprs], history: D, by: [exprs]}
//	spike:     {window: D, factor: F, min_count: N, by: [exprs]}
//	absence:   {window: D, by: [exprs]}
//	dedup:     {key: expr | by: [exprs], period: D}
//
// and max_keys for each. On error, at is the node at fault (nil: n).
func parseAggregation(kind string, n *yaml.Node) (a *Aggregation, at *yaml.Node, err error) {
	k, err := state.ParseKind(kind)
	if err != nil {
		return nil, nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("%s must be a mapping", kind)
	}
	a = &Aggregation{Spec: state.Spec{Kind: k}}
	allowed := map[state.Kind][]string{
		state.Threshold: {"count", "window", "by", "max_keys"},
		state.Distinct:  {"field", "count", "window", "by", "max_keys"},
		state.Sequence:  {"by", "within", "steps", "absent", "max_keys"},
		state.NewTerm:   {"fields", "history", "by", "max_keys"},
		state.Spike:     {"window", "factor", "min_count", "by", "max_keys"},
		state.Absence:   {"window", "by", "max_keys"},
		state.Dedup:     {"key", "by", "period", "max_keys"},
	}[k]
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, v := n.Content[i].Value, resolve(n.Content[i+1])
		if !slices.Contains(allowed, key) {
			return nil, n.Content[i], fmt.Errorf("%s: unknown key %q (want one of %s)", kind, key, strings.Join(allowed, ", "))
		}
		var err error
		switch key {
		case "count":
			err = v.Decode(&a.Spec.Count)
		case "min_count":
			err = v.Decode(&a.Spec.MinCount)
		case "max_keys":
			err = v.Decode(&a.Spec.MaxKeys)
		case "factor":
			err = v.Decode(&a.Spec.Factor)
		case "window", "history", "period", "within":
			var s string
			if err = v.Decode(&s); err == nil {
				a.Spec.Window, err = time.ParseDuration(s)
			}
		case "by", "fields", "field", "key":
			var list []string
			if key == "by" || key == "fields" {
				list, err = scalarList(v, true)
			} else {
				var s string
				s, err = scalar(v)
				list = []string{s}
			}
			nodes := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				nodes = v.Content
			}
			if key == "by" || key == "key" {
				a.By, a.byNodes = list, nodes
			} else {
				a.Field, a.fieldNodes = list, nodes
			}
		case "steps":
			var bad *yaml.Node
			if bad, err = a.parseSteps(v); bad != nil {
				v = bad
			}
		case "absent":
			var s string
			if s, err = scalar(v); err == nil && strings.TrimSpace(s) == "" {
				err = errors.New("empty expression")
			}
			a.Absent, a.absentNode = s, v
		}
		if err != nil {
			return nil, v, fmt.Errorf("%s.%s: %w", kind, key, err)
		}
	}
	if (k == state.Distinct || k == state.NewTerm) && len(a.Field) == 0 {
		return nil, nil, fmt.Errorf("%s: missing %s", kind, map[state.Kind]string{state.Distinct: "field", state.NewTerm: "fields"}[k])
	}
	if k == state.Sequence {
		if len(a.Steps) == 0 {
			return nil, nil, errors.New("sequence: missing steps")
		}
		a.Spec.Steps, a.Spec.Absent = len(a.Steps), a.Absent != ""
	}
	if err := a.Spec.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", kind, err)
	}
	return a, nil, nil
}

// expand expands the $lists and $macros of the by and field expressions,
// reporting errors where they are written.
func (a *Aggregation) expand(src *source, defs *scope, ruleID string, report func(*LoadError)) (by, field []*expanded) {
	one := func(what string, codes []string, nodes []*yaml.Node) []*expanded {
		out := make([]*expanded, len(codes))
		for i, code := range codes {
			e, errs := defs.expand(code)
			for _, re := range errs {
				report(src.errIn(nodes[min(i, len(nodes)-1)], re.off, ruleID, fmt.Errorf("%s.%s: %w", a.Spec.Kind, what, re.err)))
			}
			out[i] = e
		}
		return out
	}
	what := map[bool]string{true: "fields", false: "field"}[a.Spec.Kind == state.NewTerm]
	return one("by", a.By, a.byNodes), one(what, a.Field, a.fieldNodes)
}

// compile compiles the expanded by and field expressions for source sc.
func (a *Aggregation) compile(source string, sc *schema, by, field []*expanded) error {
	p := &aggProgram{}
	texts := func(es []*expanded) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.text
		}
		return out
	}
	for _, list := range []struct {
		exprs []string
		out   *[]*vm.Program
		paths *[][]string
	}{{texts(by), &p.by, &p.byPath}, {texts(field), &p.field, &p.fieldPath}} {
		for _, x := range list.exprs {
			prog, err := compileExpr(x, sc, false)
			if err != nil {
				return fmt.Errorf("%s %q: %w", a.Spec.Kind, x, err)
			}
			*list.out = append(*list.out, prog)
			*list.paths = append(*list.paths, readPath(x))
		}
	}
	if a.progs == nil {
		a.progs = map[string]*aggProgram{}
	}
	a.progs[source] = p
	return nil
}

// keySep joins the values of a group key or term.
const keySep = " | "

// eval renders the group key and the counted value for the event in env.
func (a *Aggregation) eval(v *vm.VM, source string, env map[string]any) (key, value string, err error) {
	p := a.progs[source]
	if p == nil {
		return "", "", errors.New("aggregation not compiled for source " + source)
	}
	run := func(prog *vm.Program, path []string) (any, error) {
		if path != nil {
			if out, ok := lookupPath(env, path); ok {
				return out, nil
			}
		}
		return v.Run(prog, env)
	}
	render := func(progs []*vm.Program, paths [][]string) (string, error) {
		switch len(progs) {
		case 0:
			return "", nil
		case 1: // the common case, without a copy
			out, err := run(progs[0], paths[0])
			return keyString(out), err
		}
		var buf [8]string
		parts := buf[:0]
		size := len(keySep) * (len(progs) - 1)
		for i, prog := range progs {
			out, err := run(prog, paths[i])
			if err != nil {
				return "", err
			}
			parts = append(parts, keyString(out))
			size += len(parts[i])
		}
		var b strings.Builder
		b.Grow(size)
		for i, p := range parts {
			if i > 0 {
				b.WriteString(keySep)
			}
			b.WriteString(p)
		}
		return b.String(), nil
	}
	if key, err = render(p.by, p.byPath); err != nil {
		return "", "", err
	}
	value, err = render(p.field, p.fieldPath)
	return key, value, err
}

// readPath returns the field path an expression only reads (name, or
// name.a.b with identifier members), or nil.
func readPath(code string) []string {
	tree, err := parser.Parse(code)
	if err != nil {
		return nil
	}
	var rev []string
	node := tree.Node
	for {
		switch n := node.(type) {
		case *ast.MemberNode:
			s, ok := n.Property.(*ast.StringNode)
			if !ok || n.Method || n.Optional {
				return nil
			}
			rev = append(rev, s.Value)
			node = n.Node
			continue
		case *ast.IdentifierNode:
			if strings.HasPrefix(n.Value, "$") {
				return nil
			}
			path := []string{n.Value}
			for i := len(rev) - 1; i >= 0; i-- {
				path = append(path, rev[i])
			}
			return path
		}
		return nil
	}
}

// lookupPath reads a field path from env with the VM's nil-safe member
// access: a missing or null member reads as nil. It reports false, so
// that the VM decides, when a member is read from something other than an
// object.
func lookupPath(env map[string]any, path []string) (any, bool) {
	v := env[path[0]]
	for _, name := range path[1:] {
		switch x := v.(type) {
		case map[string]any:
			v = x[name]
		case nil:
			return nil, true
		default:
			return nil, false
		}
	}
	return v, true
}

// keyString renders one value of a group key or term: nil as "".
func keyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}
