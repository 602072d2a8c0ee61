package detect

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parseRule reads one rule document and compiles it. It returns a nil rule
// when the rule has any problem.
func parseRule(src *source, n *yaml.Node) (*Rule, []error) {
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
			err = fmt.Errorf("unknown key %q (want one of %s)", k.Value, strings.Join(ruleKeys, ", "))
			v = k
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
	if len(errs) > 0 {
		return nil, errs
	}
	if errs = r.compile(src, nodes["when"], nodes["summary"]); len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// compile compiles the rule's expressions for each of its sources.
func (r *Rule) compile(src *source, whenNode, summaryNode *yaml.Node) []error {
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
	}
	r.programs = make(map[string]*program, len(r.Sources))
	for _, name := range r.Sources {
		sc := sources[name]
		p := &program{source: name, schema: sc}
		var err error
		if p.when, err = compileExpr(r.When, sc, true); err != nil {
			if fe, ok := asFileError(err); ok {
				report(src.errIn(whenNode, fe.From, r.ID, &exprError{field: "when", err: fe}))
			} else {
				report(src.errAt(whenNode, r.ID, fmt.Errorf("when: %w", err)))
			}
		}
		if p.summary, err = compileTemplate(summary, sc); err != nil {
			var te *templateError
			if errors.As(err, &te) && summaryNode != nil {
				report(src.errIn(summaryNode, te.offset, r.ID, te.err))
			} else {
				report(src.errAt(whenNode, r.ID, err))
			}
		}
		if err == nil && p.when != nil {
			p.names, p.all = usedNames(r.When)
			for _, code := range p.summary.codes {
				names, all := usedNames(code)
				for k := range names {
					p.names[k] = true
				}
				p.all = p.all || all
			}
			p.filter = analyze(r.When, sc)
		}
		r.programs[name] = p
	}
	if len(errs) > 0 {
		r.programs = nil
	}
	return errs
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
