package detect

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/tripline/tripline/detect/state"
)

// A sequence rule:
//
//	when: "true"                     # the common condition of every step
//	sequence:
//	  by: [user.username]
//	  within: 10m
//	  steps:
//	    - when: verb == "create" and objectRef.subresource == "exec"
//	    - when: objectRef.resource == "secrets"
//	  absent: verb == "approve"      # optional
//
// For an event for which the rule's when (and no exception) is true, the
// Matcher evaluates every step and the absent condition, and emits one
// match per condition that is true: Step i for steps[i], Step len(steps)
// for absent. The state stage orders them per key (detect/state,
// sequence).

// parseSteps reads a sequence's steps: a list of {when: expr}. On error
// it returns the node at fault.
func (a *Aggregation) parseSteps(n *yaml.Node) (*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("want a list of {when: expr}")
	}
	if len(n.Content) > state.MaxSteps {
		return nil, fmt.Errorf("at most %d steps, got %d", state.MaxSteps, len(n.Content))
	}
	for i, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			return item, fmt.Errorf("step %d: want a mapping {when: expr}", i+1)
		}
		var when *yaml.Node
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], resolve(item.Content[j+1])
			if k.Value != "when" {
				return k, fmt.Errorf("step %d: unknown key %q (want when)", i+1, k.Value)
			}
			if when != nil {
				return k, fmt.Errorf("step %d: duplicate key %q", i+1, k.Value)
			}
			when = v
		}
		if when == nil {
			return item, fmt.Errorf("step %d: missing when", i+1)
		}
		s, err := scalar(when)
		if err == nil && strings.TrimSpace(s) == "" {
			err = errors.New("empty expression")
		}
		if err != nil {
			return when, fmt.Errorf("step %d: %w", i+1, err)
		}
		a.Steps = append(a.Steps, s)
		a.stepNodes = append(a.stepNodes, when)
	}
	return nil, nil
}

// seqExprs are a sequence's step and absent conditions with their
// $lists and $macros expanded (absent nil when there is none).
type seqExprs struct {
	steps  []*expanded
	absent *expanded
}

// expandSequence expands the $names of a sequence's conditions, reporting
// their problems at their position in the file. It returns nil for a rule
// that is not a sequence.
func (r *Rule) expandSequence(src *source, defs *scope, report func(*LoadError)) *seqExprs {
	a := r.Aggregation
	if a == nil || a.Spec.Kind != state.Sequence {
		return nil
	}
	out := &seqExprs{}
	expand := func(field string, n *yaml.Node, code string) *expanded {
		e, errs := defs.expand(code)
		for _, re := range errs {
			report(src.errIn(n, re.off, r.ID, fmt.Errorf("%s: %w", field, re.err)))
		}
		return e
	}
	for i, s := range a.Steps {
		out.steps = append(out.steps, expand(stepField(i), a.stepNodes[i], s))
	}
	if a.Absent != "" {
		out.absent = expand("sequence.absent", a.absentNode, a.Absent)
	}
	return out
}

func stepField(i int) string { return fmt.Sprintf("sequence.steps[%d].when", i) }

// all returns the expanded conditions, steps then absent.
func (s *seqExprs) all() []*expanded {
	if s == nil {
		return nil
	}
	out := append([]*expanded(nil), s.steps...)
	if s.absent != nil {
		out = append(out, s.absent)
	}
	return out
}

// filterCode is the condition under which a rule whose when (with its
// exceptions) is code emits any match: code and at least one of the
// sequence's conditions. The prefilter is computed from it, so that a
// sequence rule with `when: "true"` is prefiltered by its steps.
func (s *seqExprs) filterCode(code string) string {
	conds := s.all()
	if len(conds) == 0 {
		return code
	}
	var b strings.Builder
	b.WriteString("(" + code + "\n) and (")
	for i, e := range conds {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("(" + e.text + "\n)")
	}
	b.WriteString(")")
	return b.String()
}

// compile compiles the conditions for source sc as booleans, reporting
// errors at their file position. It returns nil programs on failure.
func (s *seqExprs) compile(src *source, r *Rule, sc *schema, report func(*LoadError)) (steps []*vm.Program, absent *vm.Program, failed bool) {
	a := r.Aggregation
	for i, e := range s.steps {
		prog, f := compileField(src, r.ID, stepField(i), a.stepNodes[i], a.Steps[i], e, sc, report)
		failed = failed || f
		steps = append(steps, prog)
	}
	if s.absent != nil {
		var f bool
		absent, f = compileField(src, r.ID, "sequence.absent", a.absentNode, a.Absent, s.absent, sc, report)
		failed = failed || f
	}
	if failed {
		return nil, nil, true
	}
	return steps, absent, false
}

// evalSteps evaluates a sequence's conditions for the event in env and
// appends the step of each that is true to out: i for steps[i],
// len(steps) for absent.
func (a *Aggregation) evalSteps(v *vm.VM, source string, env map[string]any, out []int) ([]int, error) {
	p := a.progs[source]
	if p == nil || len(p.steps) != len(a.Steps) {
		return out, errors.New("sequence not compiled for source " + source)
	}
	for i, prog := range p.steps {
		res, err := v.Run(prog, env)
		if err != nil {
			return out, fmt.Errorf("%s: %w", stepField(i), err)
		}
		if res == true {
			out = append(out, i)
		}
	}
	if p.absent != nil {
		res, err := v.Run(p.absent, env)
		if err != nil {
			return out, fmt.Errorf("sequence.absent: %w", err)
		}
		if res == true {
			out = append(out, len(p.steps))
		}
	}
	return out, nil
}
