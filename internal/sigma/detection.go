package sigma

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// translator turns one rule's detection into an expression for a target,
// collecting warnings.
type translator struct {
	t     *target
	warns []string
}

func (tr *translator) warn(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if !slices.Contains(tr.warns, w) {
		tr.warns = append(tr.warns, w)
	}
}

// detection translates a detection mapping: its selections and condition.
func (tr *translator) detection(det *yaml.Node) (*node, error) {
	var names []string
	sels := map[string]*yaml.Node{}
	var conds []string
	for i := 0; i+1 < len(det.Content); i += 2 {
		k, v := det.Content[i].Value, det.Content[i+1]
		switch k {
		case "condition":
			switch v.Kind {
			case yaml.ScalarNode:
				conds = []string{v.Value}
			case yaml.SequenceNode:
				for _, c := range v.Content {
					conds = append(conds, c.Value)
				}
			}
		case "timeframe":
			return nil, errors.New("detection.timeframe (Sigma 1 aggregations) is not supported; use a correlation rule")
		default:
			names = append(names, k)
			sels[k] = v
		}
	}
	if len(conds) == 0 {
		return nil, errors.New("detection has no condition")
	}
	if len(conds) > 1 {
		tr.warn("detection has %d conditions: the rule matches when any of them does", len(conds))
	}
	cache := map[string]*node{}
	sel := func(name string) (*node, error) {
		if n, ok := cache[name]; ok {
			return n, nil
		}
		n, err := tr.selection(sels[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		cache[name] = n
		return n, nil
	}
	var out []*node
	for _, c := range conds {
		n, err := parseCondition(c, names, sel)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return or(out...), nil
}

// selection translates a search identifier: a mapping (and of its
// items), a list of mappings (or), or a list of plain values (keywords).
func (tr *translator) selection(n *yaml.Node) (*node, error) {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		var kids []*node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			item, err := tr.item(k, resolve(n.Content[i+1]))
			if err != nil {
				return nil, err
			}
			kids = append(kids, item)
		}
		if len(kids) == 0 {
			return nil, errors.New("empty selection")
		}
		return and(kids...), nil
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return nil, errors.New("empty selection")
		}
		if resolve(n.Content[0]).Kind == yaml.MappingNode {
			var kids []*node
			for _, e := range n.Content {
				if e = resolve(e); e.Kind != yaml.MappingNode {
					return nil, errors.New("a list of maps mixes in a plain value")
				}
				m, err := tr.selection(e)
				if err != nil {
					return nil, err
				}
				kids = append(kids, m)
			}
			return or(kids...), nil
		}
		return tr.keywords(n.Content)
	case yaml.ScalarNode:
		return tr.keywords([]*yaml.Node{n})
	}
	return nil, errors.New("a selection must be a map, a list of maps or a list of keywords")
}

// keywords translates a keyword search: any of the values anywhere in
// the event's text. Only targets with such a text allow it.
func (tr *translator) keywords(vals []*yaml.Node) (*node, error) {
	if tr.t.keywords == nil {
		return nil, fmt.Errorf("keyword search (values without a field) has no faithful translation for %s: Tripline's records are structured, with no full text to search", tr.t.name)
	}
	text, w := tr.t.keywords()
	tr.warn("%s", w)
	f := &field{sigma: "keywords", path: text, typ: typeString}
	var kids []*node
	var lits []string
	for _, v := range vals {
		v = resolve(v)
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return nil, errors.New("keywords must be plain values")
		}
		kind, s := classify(withOp(parseWildcards(v.Value), "contains"))
		switch kind {
		case mContains:
			lits = append(lits, strings.ToLower(s))
		case mAny:
			return trueNode, nil
		default:
			kids = append(kids, leaf("$1 matches $2", f.path, quote("(?is)"+s)))
		}
	}
	if len(lits) > 0 {
		kids = append([]*node{leaf("icontains_any($1, $2)", f.path, quoteList(lits))}, kids...)
	}
	return or(kids...), nil
}

// item translates one field item: field|modifiers: value or list.
func (tr *translator) item(key string, v *yaml.Node) (*node, error) {
	parts := strings.Split(key, "|")
	if parts[0] == "" {
		return nil, fmt.Errorf("%q: a modifier without a field (keyword modifiers) is not supported", key)
	}
	m, err := parseMods(parts[1:])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	f, w, err := tr.t.resolve(parts[0])
	if err != nil {
		return nil, err
	}
	if w != "" {
		tr.warn("%s", w)
	}
	var vals []*yaml.Node
	switch v.Kind {
	case yaml.SequenceNode:
		vals = v.Content
		if len(vals) == 0 {
			return nil, fmt.Errorf("%s: empty list of values", key)
		}
	case yaml.ScalarNode:
		vals = []*yaml.Node{v}
	default:
		return nil, fmt.Errorf("%s: a value must be a scalar or a list of scalars", key)
	}
	for i, e := range vals {
		if vals[i] = resolve(e); vals[i].Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s: a value must be a scalar", key)
		}
	}
	n, err := tr.values(f, m, vals)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return n, nil
}

// values translates a field's values: or of them, and with |all. A field
// read from list elements matches when an element does.
func (tr *translator) values(f *field, m mods, vals []*yaml.Node) (*node, error) {
	if f.list == "" {
		return tr.valuesOf(f, m, vals)
	}
	elem := *f
	elem.list = ""
	wrap := func(n *node) *node {
		if n.op == "true" || n.op == "false" {
			return n
		}
		return leaf("any($1, {$2})", f.list, n.render())
	}
	if !m.all {
		n, err := tr.valuesOf(&elem, m, vals)
		if err != nil {
			return nil, err
		}
		if m.exists && vals[0].Value == "false" {
			n, _ = tr.valuesOf(&elem, m, []*yaml.Node{{Kind: yaml.ScalarNode, Value: "true"}})
			return not(wrap(n)), nil // no element has it
		}
		return wrap(n), nil
	}
	var kids []*node
	for _, v := range vals {
		n, err := tr.valuesOf(&elem, m, []*yaml.Node{v})
		if err != nil {
			return nil, err
		}
		kids = append(kids, wrap(n))
	}
	return and(kids...), nil
}

func (tr *translator) valuesOf(f *field, m mods, vals []*yaml.Node) (*node, error) {
	switch {
	case m.exists:
		if len(vals) != 1 || (vals[0].Value != "true" && vals[0].Value != "false") {
			return nil, errors.New("exists takes true or false")
		}
		if vals[0].Value == "true" {
			return present(f), nil
		}
		return absent(f), nil
	case f.existsOnly:
		for _, v := range vals {
			if k, _ := classify(withOp(parseWildcards(v.Value), m.op)); k != mAny || v.Tag == "!!null" || len(m.transform) > 0 {
				return nil, fmt.Errorf("%s is mapped for presence only ('*' or |exists), not for values", f.sigma)
			}
		}
		return present(f), nil
	}
	if m.cidr && !m.all {
		// One call with every prefix.
		args := []string{(&comparer{f: f}).helperArg()}
		for _, v := range vals {
			if err := checkCIDR(v.Value); err != nil {
				return nil, err
			}
			args = append(args, quote(v.Value))
		}
		return leaf("cidr(" + strings.Join(args, ", ") + ")"), nil
	}
	cmp := &comparer{tr: tr, f: f, m: m}
	var kids []*node
	for _, v := range vals {
		n, err := cmp.value(v)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if m.all {
		return and(kids...), nil
	}
	return cmp.group(kids), nil
}

// present is "the field has a value": not "" for declared strings, not
// nil otherwise.
func present(f *field) *node {
	switch f.typ {
	case typeString:
		return leaf("$1 != \"\"", f.path)
	case typeInt:
		return leaf("$1 != 0", f.path)
	case typeBool:
		return trueNode
	}
	return leaf("$1 != nil", f.path)
}

// absent is "the field has no value", the negation of present.
func absent(f *field) *node {
	switch f.typ {
	case typeString:
		return leaf("$1 == \"\"", f.path)
	case typeInt:
		return leaf("$1 == 0", f.path)
	case typeBool:
		return falseNode
	}
	return leaf("$1 == nil", f.path)
}

func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}
