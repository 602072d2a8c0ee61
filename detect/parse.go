package detect

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"
)

// pendingRule is a rule read from its document, to be compiled once every
// list and macro is known.
type pendingRule struct {
	rule     *Rule
	src      *source
	nodes    map[string]*yaml.Node
	excNodes []*yaml.Node
}

// parseRule reads one rule document. It returns nil when the rule has any
// problem.
func parseRule(src *source, n *yaml.Node) (*pendingRule, []error) {
	if n.Kind != yaml.MappingNode {
		return nil, []error{src.errAt(n, "", errors.New("a rule must be a YAML mapping"))}
	}
	r := &Rule{File: src.name, Line: n.Line, idLine: n.Line, idCol: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "id" && v.Kind == yaml.ScalarNode {
			r.ID, r.idLine, r.idCol = v.Value, v.Line, v.Column
		}
	}
	var errs []error
	var excNodes []*yaml.Node
	fail := func(at *yaml.Node, format string, args ...any) {
		errs = append(errs, src.errAt(at, r.ID, fmt.Errorf(format, args...)))
	}
	nodes := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			fail(k, "rule keys must be strings")
			continue
		}
		if _, dup := nodes[k.Value]; dup {
			fail(k, "duplicate key %q", k.Value)
			continue
		}
		nodes[k.Value] = v
		var err error
		switch k.Value {
		case "id":
			if r.ID, err = scalar(v); err == nil && !idPattern.MatchString(r.ID) {
				err = fmt.Errorf("id %q must match %s", r.ID, idPattern)
			}
		case "title":
			r.Title, err = scalar(v)
		case "severity":
			if r.Severity, err = scalar(v); err == nil && !validSeverity(r.Severity) {
				err = fmt.Errorf("severity %q must be one of info, low, medium, high, critical", r.Severity)
			}
		case "source":
			if r.Sources, err = scalarList(v, true); err == nil {
				err = checkSources(r.Sources)
			}
		case "description":
			r.Description, err = scalar(v)
		case "when":
			r.When, err = scalar(v)
		case "exceptions":
			var bad *yaml.Node
			if r.Exceptions, excNodes, bad, err = exprList(v); bad != nil {
				v = bad
			}
		case "summary":
			r.Summary, err = scalar(v)
		case "tags":
			r.Tags, err = scalarList(v, false)
		case "references":
			r.References, err = scalarList(v, false)
		case "tests":
			var terrs []error
			r.Tests, terrs = parseTests(src, r.ID, v)
			errs = append(errs, terrs...)
		default:
			switch {
			case !slices.Contains(aggKeys, k.Value):
				err = fmt.Errorf("unknown key %q (want one of %s)", k.Value, strings.Join(ruleKeys, ", "))
				v = k
			case r.Aggregation != nil:
				err = fmt.Errorf("%s: a rule has at most one of %s", k.Value, strings.Join(aggKeys, ", "))
			default:
				var at *yaml.Node
				if r.Aggregation, at, err = parseAggregation(k.Value, v); at != nil {
					v = at
				}
			}
		}
		if err != nil {
			errs = append(errs, src.errAt(v, r.ID, err))
		}
	}
	for _, key := range []string{"id", "title", "severity", "source", "when"} {
		if v, ok := nodes[key]; !ok || (v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) == "") {
			fail(n, "missing required key %q", key)
		}
	}
	if r.Aggregation == nil {
		for _, t := range r.Tests {
			if t.Timed() {
				errs = append(errs, src.errAt(t.node, r.ID, fmt.Errorf("test %q: timed tests (events:) are for stateful rules; use event: and expect: true/false", t.Name)))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &pendingRule{rule: r, src: src, nodes: nodes, excNodes: excNodes}, nil
}

// compile compiles a pending rule with the lists and macros of defs, and
// returns it, or nil and its problems.
func (pr *pendingRule) compile(defs *scope) (*Rule, []error) {
	if errs := pr.rule.compile(pr.src, defs, pr.nodes, pr.excNodes); len(errs) > 0 {
		return nil, errs
	}
	return pr.rule, nil
}

// compile compiles the rule's expressions for each of its sources: when
// and exceptions, with their $lists and $macros expanded, into one
// program "(when) and not (exception) and not ...", and the summary.
func (r *Rule) compile(src *source, defs *scope, nodes map[string]*yaml.Node, excNodes []*yaml.Node) []error {
	whenNode, summaryNode := nodes["when"], nodes["summary"]
	var errs []error
	seen := map[string]bool{}
	report := func(e *LoadError) {
		if key := e.Error(); !seen[key] {
			seen[key] = true
			errs = append(errs, e)
		}
	}
	summary := r.Summary
	if summary == "" {
		summary = strings.ReplaceAll(r.Title, "{{", "{ {")
		summaryNode = nil
	}
	// Expand $names, once for all sources.
	when, rerrs := defs.expand(r.When)
	for _, e := range rerrs {
		report(src.errIn(whenNode, e.off, r.ID, fmt.Errorf("when: %w", e.err)))
	}
	excs := make([]*expanded, len(r.Exceptions))
	for i, x := range r.Exceptions {
		excs[i], rerrs = defs.expand(x)
		for _, e := range rerrs {
			report(src.errIn(excNodes[i], e.off, r.ID, fmt.Errorf("exceptions[%d]: %w", i, e.err)))
		}
	}
	sum, rerrs := defs.expandTemplate(summary)
	for _, e := range rerrs {
		report(src.errIn(summaryNode, e.off, r.ID, fmt.Errorf("summary: %w", e.err)))
	}
	seq := r.expandSequence(src, defs, report)
	var aggBy, aggField []*expanded
	if r.Aggregation != nil {
		aggBy, aggField = r.Aggregation.expand(src, defs, r.ID, report)
	}
	if len(errs) > 0 {
		return errs
	}
	code := when.text
	if len(excs) > 0 {
		var b strings.Builder
		b.WriteString("(" + when.text + "\n)")
		for _, e := range excs {
			b.WriteString(" and not (" + e.text + "\n)")
		}
		code = b.String()
	}
	var uses []string
	for _, e := range slices.Concat([]*expanded{when, sum}, excs, seq.all(), aggBy, aggField) {
		uses = append(uses, e.usedNames()...)
	}
	slices.Sort(uses)
	r.Uses = slices.Compact(uses)

	r.programs = make(map[string]*program, len(r.Sources))
	for _, name := range r.Sources {
		sc := sources[name]
		p := &program{source: name, schema: sc}
		var failed bool
		p.when, failed = compileField(src, r.ID, "when", whenNode, r.When, when, sc, report)
		for i, e := range excs {
			_, f := compileField(src, r.ID, fmt.Sprintf("exceptions[%d]", i), excNodes[i], r.Exceptions[i], e, sc, report)
			failed = failed || f
		}
		if !failed && len(excs) > 0 {
			var err error
			if p.when, err = compileLimited(code, sc, true, len(code), MaxExpandedNodes); err != nil {
				report(src.errAt(whenNode, r.ID, fmt.Errorf("when with exceptions: %w", err)))
			}
		}
		var steps []*vm.Program
		var absent *vm.Program
		if seq != nil {
			var f bool
			steps, absent, f = seq.compile(src, r, sc, report)
			failed = failed || f
		}
		var err error
		if p.summary, err = r.compileSummary(sum.text, sc); err != nil {
			var te *templateError
			if errors.As(err, &te) && summaryNode != nil {
				report(src.errExpanded(summaryNode, sum, te.offset, r.ID, te.err))
			} else {
				report(src.errAt(whenNode, r.ID, err))
			}
		}
		if err == nil && p.when != nil {
			p.names, p.all = usedNames(code)
			codes := slices.Clone(p.summary.codes)
			if r.Aggregation != nil {
				for _, e := range slices.Concat(aggBy, aggField) {
					codes = append(codes, e.text)
				}
			}
			for _, e := range seq.all() {
				codes = append(codes, e.text)
			}
			for _, c := range codes {
				names, all := usedNames(c)
				for k := range names {
					p.names[k] = true
				}
				p.all = p.all || all
			}
			// A sequence rule emits a match only when a step (or absent)
			// is true too, so its steps narrow the prefilter.
			p.filter, p.decides = analyze(seq.filterCode(code), sc)
		}
		r.programs[name] = p
		if r.Aggregation != nil {
			if err := r.Aggregation.compile(name, sc, aggBy, aggField); err != nil {
				report(src.errAt(whenNode, r.ID, err))
			} else if seq != nil && !failed {
				r.Aggregation.progs[name].steps, r.Aggregation.progs[name].absent = steps, absent
			}
		}
	}
	if len(errs) > 0 {
		r.programs = nil
		return errs
	}
	var keys []*expanded // what a stateful rule's keys and values are made of
	if r.Aggregation != nil {
		keys = slices.Concat(aggBy, []*expanded{nil}, aggField, []*expanded{nil}, seq.all())
		r.Aggregation.Spec.Keys = hashTexts(keys)
	}
	r.Version = fmt.Sprintf("%016x", hashTexts(
		[]*expanded{{text: r.Title}, {text: r.Severity}, {text: strings.Join(r.Sources, ",")},
			{text: strings.Join(r.Tags, ",")}, {text: code}, sum, nil},
		keys, []*expanded{{text: r.Aggregation.spec()}}))
	return nil
}

// hashTexts hashes expanded expressions (nil separates groups).
func hashTexts(parts ...[]*expanded) uint64 {
	h := fnv.New64a()
	for _, group := range parts {
		for _, e := range group {
			if e != nil {
				h.Write([]byte(e.text))
			}
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	return h.Sum64()
}

// compileField compiles a when or exception expression e, written as
// text in node n, as a boolean for schema sc, reporting its problems at
// their position in the file. It reports whether it failed.
func compileField(src *source, id, field string, n *yaml.Node, text string, e *expanded, sc *schema,
	report func(*LoadError)) (*vm.Program, bool) {
	if len(text) > MaxExprLen {
		report(src.errAt(n, id, fmt.Errorf("%s: expression longer than %d bytes", field, MaxExprLen)))
		return nil, true
	}
	maxLen, maxNodes := MaxExprLen, uint(MaxNodes)
	if len(e.spans) > 0 {
		maxLen, maxNodes = MaxExpandedLen, MaxExpandedNodes
	}
	prog, err := compileLimited(e.text, sc, true, maxLen, maxNodes)
	if err != nil {
		if fe, ok := asFileError(err); ok {
			report(src.errExpanded(n, e, fe.From, id, &exprError{field: field, err: fe}))
		} else {
			report(src.errAt(n, id, fmt.Errorf("%s: %w", field, err)))
		}
		return nil, true
	}
	return prog, false
}

// exprList reads a list of expressions, or one expression, and their
// nodes; on error, it returns the node at fault.
func exprList(n *yaml.Node) ([]string, []*yaml.Node, *yaml.Node, error) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []string
	var nodes []*yaml.Node
	for _, e := range items {
		e = resolve(e)
		s, err := scalar(e)
		if err == nil && strings.TrimSpace(s) == "" {
			err = errors.New("empty expression")
		}
		if err != nil {
			return nil, nil, e, fmt.Errorf("list item: %w", err)
		}
		out = append(out, s)
		nodes = append(nodes, e)
	}
	return out, nodes, nil, nil
}

// resolve follows an alias.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// scalar returns a non-null scalar's text.
func scalar(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", errors.New("want a single value")
	}
	return n.Value, nil
}

// scalarList reads a list of scalars, or one scalar when one is allowed.
func scalarList(n *yaml.Node, oneOK bool) ([]string, error) {
	if oneOK && n.Kind == yaml.ScalarNode {
		s, err := scalar(n)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("want a list")
	}
	out := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		s, err := scalar(resolve(e))
		if err != nil {
			return nil, fmt.Errorf("list item: %w", err)
		}
		out = append(out, s)
	}
	if oneOK && len(out) == 0 {
		return nil, errors.New("want at least one value")
	}
	return out, nil
}

func checkSources(names []string) error {
	seen := map[string]bool{}
	for _, s := range names {
		if _, ok := sources[s]; !ok {
			return fmt.Errorf("unknown source %q (known: %s)", s, strings.Join(SourceNames(), ", "))
		}
		if seen[s] {
			return fmt.Errorf("source %q listed twice", s)
		}
		seen[s] = true
	}
	return nil
}
