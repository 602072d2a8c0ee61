package detect

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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
	// stepNodes and absentNode are where Steps and Absent are written.
	stepNodes  []*yaml.Node
	absentNode *yaml.Node
}

// aggProgram is an aggregation's expressions compiled for one source.
type aggProgram struct {
	by, field []*vm.Program
	// steps and absent are a sequence's conditions (absent nil when
	// there is none).
	steps  []*vm.Program
	absent *vm.Program
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
		case "by", "fields":
			var list []string
			if list, err = scalarList(v, true); key == "by" {
				a.By = list
			} else {
				a.Field = list
			}
		case "field", "key":
			var s string
			if s, err = scalar(v); err == nil {
				if key == "key" {
					a.By = []string{s}
				} else {
					a.Field = []string{s}
				}
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

// compile compiles the by and field expressions for source sc.
func (a *Aggregation) compile(source string, sc *schema) error {
	p := &aggProgram{}
	for _, list := range []struct {
		exprs []string
		out   *[]*vm.Program
	}{{a.By, &p.by}, {a.Field, &p.field}} {
		for _, x := range list.exprs {
			prog, err := compileExpr(x, sc, false)
			if err != nil {
				return fmt.Errorf("%s %q: %w", a.Spec.Kind, x, err)
			}
			*list.out = append(*list.out, prog)
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
	render := func(progs []*vm.Program) (string, error) {
		if len(progs) == 1 { // the common case, without a copy
			out, err := v.Run(progs[0], env)
			return keyString(out), err
		}
		var b strings.Builder
		for i, prog := range progs {
			out, err := v.Run(prog, env)
			if err != nil {
				return "", err
			}
			if i > 0 {
				b.WriteString(keySep)
			}
			b.WriteString(keyString(out))
		}
		return b.String(), nil
	}
	if key, err = render(p.by); err != nil {
		return "", "", err
	}
	value, err = render(p.field)
	return key, value, err
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
