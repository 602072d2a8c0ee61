package detect

import (
	"errors"
	"fmt"
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

	progs map[string]*aggProgram // by source
}

// aggProgram is an aggregation's expressions compiled for one source.
type aggProgram struct {
	by, field []*vm.Program
}

// aggKeys are the rule keys that make a rule stateful.
var aggKeys = []string{"threshold", "distinct", "new_term", "spike", "absence", "dedup"}

// isAggKey says whether a rule key names an aggregation.
func isAggKey(k string) bool {
	for _, a := range aggKeys {
		if a == k {
			return true
		}
	}
	return false
}

// parseAggregation reads the mapping of an aggregation key:
//
//	threshold: {count: N, window: D, by: [exprs]}
//	distinct:  {field: expr, count: N, window: D, by: [exprs]}
//	new_term:  {fields: [exprs], history: D, by: [exprs]}
//	spike:     {window: D, factor: F, min_count: N, by: [exprs]}
//	absence:   {window: D, by: [exprs]}
//	dedup:     {key: expr | by: [exprs], period: D}
//
// and max_keys for each.
func parseAggregation(kind string, n *yaml.Node) (*Aggregation, error) {
	k, err := state.ParseKind(kind)
	if err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s must be a mapping", kind)
	}
	a := &Aggregation{Spec: state.Spec{Kind: k}}
	allowed := map[state.Kind][]string{
		state.Threshold: {"count", "window", "by", "max_keys"},
		state.Distinct:  {"field", "count", "window", "by", "max_keys"},
		state.NewTerm:   {"fields", "history", "by", "max_keys"},
		state.Spike:     {"window", "factor", "min_count", "by", "max_keys"},
		state.Absence:   {"window", "by", "max_keys"},
		state.Dedup:     {"key", "by", "period", "max_keys"},
	}[k]
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, v := n.Content[i].Value, resolve(n.Content[i+1])
		if !contains(allowed, key) {
			return nil, fmt.Errorf("%s: unknown key %q (want one of %s)", kind, key, strings.Join(allowed, ", "))
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
		case "window", "history", "period":
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
		}
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", kind, key, err)
		}
	}
	if (k == state.Distinct || k == state.NewTerm) && len(a.Field) == 0 {
		return nil, fmt.Errorf("%s: missing %s", kind, map[state.Kind]string{state.Distinct: "field", state.NewTerm: "fields"}[k])
	}
	if err := a.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return a, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
		var b strings.Builder
		for i, prog := range progs {
			out, err := v.Run(prog, env)
			if err != nil {
				return "", err
			}
			if i > 0 {
				b.WriteString(keySep)
			}
			if out != nil {
				fmt.Fprint(&b, out)
			}
		}
		return b.String(), nil
	}
	if key, err = render(p.by); err != nil {
		return "", "", err
	}
	value, err = render(p.field)
	return key, value, err
}
