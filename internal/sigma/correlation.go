package sigma

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// correlate converts a correlation rule into a stateful Tripline rule:
//
//	event_count      → threshold {count, window, by}
//	value_count      → distinct {field, count, window, by}
//	temporal_ordered → sequence {by, within, steps}
//
// Its base rules are folded into it and, unless generate is true, not
// converted alone.
func (c *converter) correlate(it *item) {
	res, d, co := it.res, it.doc, it.doc.Correlation
	fail := func(err error) { res.Status, res.Reason = Refused, err.Error() }
	if len(co.Rules) == 0 {
		fail(errors.New("correlation names no rules"))
		return
	}
	if co.Aliases.Kind != 0 {
		fail(errors.New("correlation aliases (field names that differ between the base rules) are not supported"))
		return
	}
	var bases []*item
	for _, ref := range co.Rules {
		b, ok := c.byRef[ref]
		switch {
		case !ok:
			fail(fmt.Errorf("correlation names rule %q, which is not among the inputs", ref))
			return
		case b.doc.Err != nil:
			fail(fmt.Errorf("base rule %q: %v", ref, b.doc.Err))
			return
		case b.doc.Correlation != nil:
			fail(fmt.Errorf("base rule %q is a correlation: chained correlations are not supported", ref))
			return
		case b.err != nil:
			fail(fmt.Errorf("base rule %q: %v", ref, b.err))
			return
		case b.t != bases0(bases, b).t:
			fail(fmt.Errorf("base rules have different Tripline sources (%s, %s)", bases[0].t.name, b.t.name))
			return
		}
		bases = append(bases, b)
	}
	t := bases[0].t
	window, err := timespan(co.Timespan)
	if err != nil {
		fail(err)
		return
	}
	tr := &translator{t: t}
	var by []string
	for _, g := range co.GroupBy {
		p, err := tr.plainField(g)
		if err != nil {
			fail(fmt.Errorf("group-by: %w", err))
			return
		}
		by = append(by, p)
	}
	var warns []string
	for _, b := range bases {
		for _, w := range b.warns {
			if !slices.Contains(warns, w) {
				warns = append(warns, w)
			}
		}
	}
	r := c.header(d, t, append(warns, tr.warns...))
	whens := make([]*node, len(bases))
	for i, b := range bases {
		whens[i] = b.when
	}
	params := []kv{}
	typ := strings.ToLower(strings.TrimSpace(co.Type)) // compared once, in one case
	switch typ {
	case "event_count", "value_count":
		n, err := atLeast(co.Condition)
		if err != nil {
			fail(err)
			return
		}
		r.when = or(whens...).render()
		if typ == "value_count" {
			name, _ := co.Condition["field"].(string)
			if name == "" {
				fail(errors.New("value_count needs condition.field"))
				return
			}
			p, err := tr.plainField(name)
			if err != nil {
				fail(fmt.Errorf("condition.field: %w", err))
				return
			}
			r.stateKey = "distinct"
			params = append(params, kv{"field", p})
		} else {
			r.stateKey = "threshold"
		}
		params = append(params, kv{"count", n}, kv{"window", window})
	case "temporal_ordered":
		if len(bases) < 2 {
			fail(errors.New("temporal_ordered needs at least two rules"))
			return
		}
		if co.Condition != nil {
			n, err := atLeast(co.Condition)
			if err != nil || n != len(bases) {
				fail(errors.New("temporal_ordered: only a condition of all the rules (gte: number of rules) is supported"))
				return
			}
		}
		r.when, r.stateKey = "true", "sequence"
		steps := make([][]kv, len(bases))
		for i, w := range whens {
			steps[i] = []kv{{"when", w.render()}}
		}
		params = append(params, kv{"within", window}, kv{"steps", steps})
	case "temporal":
		fail(errors.New("temporal correlations (all rules in any order) have no Tripline equivalent: sequence steps are ordered; use temporal_ordered if the order is known"))
		return
	default:
		fail(fmt.Errorf("correlation type %q is not supported (event_count, value_count, temporal_ordered)", co.Type))
		return
	}
	if len(by) > 0 {
		params = append([]kv{{"by", by}}, params...)
	}
	r.state = params
	r.warns = append(r.warns, tr.warns...)
	c.finish(res, r)
	if res.Status == Refused || co.Generate {
		return
	}
	for _, b := range bases {
		b.res.Status, b.res.Reason = Merged, "base rule of correlation "+strconv.Quote(d.Title)+" ("+res.ID+")"
	}
}

func bases0(bases []*item, b *item) *item {
	if len(bases) == 0 {
		return b
	}
	return bases[0]
}

// plainField resolves a field read whole: a group-by key or a counted
// value.
func (tr *translator) plainField(name string) (string, error) {
	f, w, err := tr.t.resolve(name)
	if err != nil {
		return "", err
	}
	if f.list != "" {
		return "", fmt.Errorf("%s is read from list elements and cannot be a key", name)
	}
	if w != "" {
		tr.warn("%s", w)
	}
	return f.path, nil
}

// atLeast reads a correlation condition that Tripline can express: a
// count of at least N (gte: N, or gt: N-1).
func atLeast(cond map[string]any) (int, error) {
	var n int
	var found bool
	for k, v := range cond {
		if k == "field" {
			continue
		}
		i, ok := v.(int)
		if !ok {
			return 0, fmt.Errorf("condition %s: want an integer", k)
		}
		switch k {
		case "gte":
			n = i
		case "gt":
			n = i + 1
		default:
			return 0, fmt.Errorf("condition %s: Tripline fires when a count reaches a minimum (gte, gt); %s has no equivalent", k, k)
		}
		if found {
			return 0, errors.New("condition: more than one comparison")
		}
		found = true
	}
	if !found {
		return 0, errors.New("correlation condition missing (gte: N)")
	}
	if n < 1 {
		return 0, fmt.Errorf("condition: a count of %d", n)
	}
	return n, nil
}

var timespanRE = regexp.MustCompile(`^(\d+)([smhdw])$`)

// timespan turns a Sigma timespan (30s, 5m, 1h, 2d, 1w) into a Go
// duration.
func timespan(s string) (string, error) {
	m := timespanRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return "", fmt.Errorf("timespan %q: want a number and s, m, h, d or w", s)
	}
	n, _ := strconv.Atoi(m[1])
	switch m[2] {
	case "d":
		return strconv.Itoa(n*24) + "h", nil
	case "w":
		return strconv.Itoa(n*24*7) + "h", nil
	}
	return m[1] + m[2], nil
}
