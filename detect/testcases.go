package detect

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// parseTests reads the tests list.
func parseTests(src *source, id string, n *yaml.Node) ([]RuleTest, []error) {
	if n.Kind != yaml.SequenceNode {
		return nil, []error{src.errAt(n, id, errors.New("tests must be a list"))}
	}
	var tests []RuleTest
	var errs []error
	for i, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			errs = append(errs, src.errAt(item, id, errors.New("a test must be a mapping with name, expect and event")))
			continue
		}
		t := RuleTest{Name: fmt.Sprintf("test %d", i+1), Line: item.Line}
		has := map[string]bool{}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], resolve(item.Content[j+1])
			if has[k.Value] {
				errs = append(errs, src.errAt(k, id, fmt.Errorf("duplicate key %q", k.Value)))
				continue
			}
			has[k.Value] = true
			var err error
			switch k.Value {
			case "name":
				t.Name, err = scalar(v)
			case "expect":
				if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
					err = errors.New("expect must be true or false")
				} else {
					err = v.Decode(&t.Expect)
				}
			case "event":
				t.Event, err = eventJSON(v)
			default:
				err, v = fmt.Errorf("unknown test key %q (want name, expect, event)", k.Value), k
			}
			if err != nil {
				errs = append(errs, src.errAt(v, id, err))
			}
		}
		for _, key := range []string{"expect", "event"} {
			if !has[key] {
				errs = append(errs, src.errAt(item, id, fmt.Errorf("test %q: missing %q", t.Name, key)))
			}
		}
		tests = append(tests, t)
	}
	return tests, errs
}

// eventJSON converts a test event, given as a YAML mapping or as a string
// holding a JSON object, to JSON.
func eventJSON(n *yaml.Node) (json.RawMessage, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		var m map[string]any
		if err := json.Unmarshal([]byte(n.Value), &m); err != nil || m == nil {
			return nil, errors.New("event must be a mapping or a string holding a JSON object")
		}
		return json.RawMessage(n.Value), nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("event must be a mapping or a string holding a JSON object")
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	v, err := jsonable(v)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	return b, nil
}

// jsonable converts YAML-decoded values into ones encoding/json accepts.
func jsonable(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("event: key %v is not a string", k)
			}
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			m[ks] = c
		}
		return m, nil
	case []any:
		for i, e := range x {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
	}
	return v, nil
}
