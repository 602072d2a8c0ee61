package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// parseTests reads the tests list: single-event cases and timed cases of
// stateful rules:
//
//	tests:
//	  - {name: ..., expect: true, event: {...}}
//	  - name: ...
//	    events: [{at: 0s, repeat: 25, every: 10s, event: {...}}, ...]
//	    expect: [{count: 25, key: "..."}, ...]    # [] for none
//	    until: 1h                                  # optional
func parseTests(src *source, id string, n *yaml.Node) ([]RuleTest, []error) {
	if n.Kind != yaml.SequenceNode {
		return nil, []error{src.errAt(n, id, errors.New("tests must be a list"))}
	}
	var tests []RuleTest
	var errs []error
	for i, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			errs = append(errs, src.errAt(item, id, errors.New("a test must be a mapping with name, expect and event (or events)")))
			continue
		}
		t := RuleTest{Name: fmt.Sprintf("test %d", i+1), Line: item.Line, node: item}
		has := map[string]*yaml.Node{}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], resolve(item.Content[j+1])
			if has[k.Value] != nil {
				errs = append(errs, src.errAt(k, id, fmt.Errorf("duplicate key %q", k.Value)))
				continue
			}
			has[k.Value] = v
		}
		timed := has["events"] != nil
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], resolve(item.Content[j+1])
			if has[k.Value] != v {
				continue // a duplicate, reported
			}
			var err error
			at := v
			switch k.Value {
			case "name":
				t.Name, err = scalar(v)
			case "expect":
				switch {
				case timed && v.Kind == yaml.SequenceNode:
					var bad *yaml.Node
					if t.Findings, bad, err = parseExpectedFindings(v); bad != nil {
						at = bad
					}
				case timed:
					err = errors.New("a timed test's expect is the list of findings it must give, [] for none: [{count: N, key: ...}]")
				case v.Kind != yaml.ScalarNode || v.Tag != "!!bool":
					err = errors.New("expect must be true or false (or, with events, a list of findings)")
				default:
					err = v.Decode(&t.Expect)
				}
			case "event":
				if timed {
					err = errors.New("a timed test has events, not event")
				} else {
					t.Event, err = eventJSON(v)
				}
			case "events":
				var bad *yaml.Node
				if t.Events, bad, err = parseTestEvents(v); bad != nil {
					at = bad
				}
			case "until":
				if !timed {
					err = errors.New("until is for timed tests (with events)")
				} else {
					t.Until, err = parseTestTime(v)
				}
			default:
				err, at = fmt.Errorf("unknown test key %q (want name, expect, event, or events and until)", k.Value), k
			}
			if err != nil {
				errs = append(errs, src.errAt(at, id, err))
			}
		}
		want := []string{"expect", "event"}
		if timed {
			want = []string{"expect"}
			t.Expect = len(t.Findings) > 0
		}
		for _, key := range want {
			if has[key] == nil {
				errs = append(errs, src.errAt(item, id, fmt.Errorf("test %q: missing %q", t.Name, key)))
			}
		}
		tests = append(tests, t)
	}
	return tests, errs
}

// parseTestEvents reads a timed test's events. On error it returns the
// node at fault.
func parseTestEvents(n *yaml.Node) ([]TestEvent, *yaml.Node, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, nil, errors.New("events must be a non-empty list of {at, event} (with repeat and every)")
	}
	out := make([]TestEvent, 0, len(n.Content))
	total := 0
	for i, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			return nil, item, fmt.Errorf("events[%d]: want a mapping {at, event}", i)
		}
		te := TestEvent{Line: item.Line}
		var hasEvent, hasEvery bool
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], resolve(item.Content[j+1])
			var err error
			switch k.Value {
			case "at":
				te.At, err = parseTestTime(v)
			case "repeat":
				if err = v.Decode(&te.Repeat); err == nil && (te.Repeat < 1 || te.Repeat > MaxTestEvents) {
					err = fmt.Errorf("repeat must be 1..%d", MaxTestEvents)
				}
			case "every":
				var s string
				if s, err = scalar(v); err == nil {
					if te.Every, err = time.ParseDuration(s); err == nil && te.Every < 0 {
						err = errors.New("every must not be negative")
					}
				}
				hasEvery = true
			case "event":
				te.Event, err = eventJSON(v)
				hasEvent = true
			default:
				err, v = fmt.Errorf("unknown key %q (want at, repeat, every, event)", k.Value), k
			}
			if err != nil {
				return nil, v, fmt.Errorf("events[%d].%s: %w", i, k.Value, err)
			}
		}
		if !hasEvent {
			return nil, item, fmt.Errorf("events[%d]: missing event", i)
		}
		if hasEvery && te.Repeat <= 1 {
			return nil, item, fmt.Errorf("events[%d]: every needs repeat", i)
		}
		if total += max(te.Repeat, 1); total > MaxTestEvents {
			return nil, item, fmt.Errorf("more than %d events in one test", MaxTestEvents)
		}
		out = append(out, te)
	}
	return out, nil, nil
}

// parseTestTime reads an offset from TestBaseTime (0s, 90s, 1h30m, -1m)
// or an RFC 3339 time.
func parseTestTime(n *yaml.Node) (time.Time, error) {
	s, err := scalar(n)
	if err != nil {
		return time.Time{}, err
	}
	if d, err := time.ParseDuration(s); err == nil {
		return TestBaseTime.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (90s, 1h) from %s nor an RFC 3339 time", s, DefaultTestEventTime)
	}
	return t.UTC(), nil
}

// parseExpectedFindings reads a timed test's expect list. On error it
// returns the node at fault.
func parseExpectedFindings(n *yaml.Node) ([]TestFinding, *yaml.Node, error) {
	out := []TestFinding{}
	for i, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			return nil, item, fmt.Errorf("expect[%d]: want a mapping {count, key}", i)
		}
		var f TestFinding
		var hasCount bool
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], resolve(item.Content[j+1])
			var err error
			switch k.Value {
			case "count":
				if err = v.Decode(&f.Count); err == nil && f.Count < 1 {
					err = errors.New("count must be >= 1")
				}
				hasCount = true
			case "key":
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					f.Key = ""
				} else {
					f.Key, err = scalar(v)
				}
			case "value":
				var s string
				if s, err = scalar(v); err == nil {
					f.Value = &s
				}
			case "values":
				if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
					f.Values = []string{}
				} else {
					f.Values, err = scalarList(v, false)
				}
			default:
				err, v = fmt.Errorf("unknown key %q (want count, key, value, values)", k.Value), k
			}
			if err != nil {
				return nil, v, fmt.Errorf("expect[%d].%s: %w", i, k.Value, err)
			}
		}
		if !hasCount {
			return nil, item, fmt.Errorf("expect[%d]: missing count", i)
		}
		out = append(out, f)
	}
	return out, nil, nil
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
