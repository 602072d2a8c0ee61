package sigma

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// marshal renders the rule as a Tripline rule file, starting with the
// yaml-language-server comment that points editors at the schema.
func (r *rule) marshal(schema string) ([]byte, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v *yaml.Node) {
		m.Content = append(m.Content, str(k), v)
	}
	add("id", str(r.id))
	add("title", str(r.title))
	add("severity", str(r.severity))
	if len(r.sources) == 1 {
		add("source", str(r.sources[0]))
	} else {
		add("source", flowList(r.sources))
	}
	add("description", text(r.description))
	add("when", text(r.when))
	if r.stateKey != "" {
		st := &yaml.Node{Kind: yaml.MappingNode}
		for _, e := range r.state {
			v, err := value(e.v)
			if err != nil {
				return nil, err
			}
			st.Content = append(st.Content, str(e.k), v)
		}
		add(r.stateKey, st)
	}
	if r.summary != "" {
		add("summary", str(r.summary))
	}
	if len(r.tags) > 0 {
		add("tags", flowList(r.tags))
	}
	if len(r.references) > 0 {
		l := &yaml.Node{Kind: yaml.SequenceNode}
		for _, ref := range r.references {
			l.Content = append(l.Content, str(ref))
		}
		add("references", l)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# yaml-language-server: $schema=%s\n", schema)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// text is a string written as a literal block when it has several lines.
func text(s string) *yaml.Node {
	n := str(s)
	if strings.Contains(s, "\n") {
		n.Style = yaml.LiteralStyle
		if !strings.HasSuffix(s, "\n") {
			n.Value += "\n"
		}
	}
	return n
}

func flowList(items []string) *yaml.Node {
	l := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range items {
		l.Content = append(l.Content, str(s))
	}
	return l
}

// value renders the value of a stateful key's parameter.
func value(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case string:
		return str(x), nil
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(x)}, nil
	case []string:
		return flowList(x), nil
	case []kv: // a mapping
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, e := range x {
			n, err := value(e.v)
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, str(e.k), n)
		}
		return m, nil
	case [][]kv: // a list of mappings
		l := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range x {
			n, err := value(e)
			if err != nil {
				return nil, err
			}
			l.Content = append(l.Content, n)
		}
		return l, nil
	}
	return nil, fmt.Errorf("cannot render %T", v)
}
