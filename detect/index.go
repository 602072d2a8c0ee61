package detect

import "slices"

// ruleIndex narrows a source's rules by the value of one prefiltered
// field, the one most rules require to equal one of a few strings
// (CloudTrail's eventName, typically): an event's value of it is looked up
// once instead of every rule's check being tried. The rules it returns
// still pass through their checks; it only leaves out rules whose check
// on that field the value fails, so verdicts are unchanged.
type ruleIndex struct {
	slot    int
	coerced bool
	// byValue lists, per value some indexed rule accepts, the rules that
	// may match it: those accepting it and the rest; rest lists the rules
	// without an exact-only check on the field. Both keep rule order.
	byValue map[string][]*engineRule
	rest    []*engineRule
	all     []*engineRule
}

// minIndexed is how many rules must share an exact-only check on one
// field for an index on it to be worth its lookup.
const minIndexed = 4

// newRuleIndex indexes rules by the field most of them check against
// exact values only, or returns nil when no field has minIndexed such
// rules.
func newRuleIndex(rules []*engineRule) *ruleIndex {
	exactOn := func(r *engineRule, slot int) *constraint {
		for _, ch := range r.checks {
			if ch.slot == slot && len(ch.c.prefixes) == 0 && len(ch.c.suffixes) == 0 {
				return ch.c
			}
		}
		return nil
	}
	counts := map[int]int{}
	for _, r := range rules {
		for _, ch := range r.checks {
			if exactOn(r, ch.slot) != nil {
				counts[ch.slot]++
			}
		}
	}
	best := -1
	for slot, n := range counts {
		if n >= minIndexed && (best < 0 || n > counts[best] || n == counts[best] && slot < best) {
			best = slot
		}
	}
	if best < 0 {
		return nil
	}
	ix := &ruleIndex{slot: best, byValue: map[string][]*engineRule{}, all: rules}
	for _, r := range rules {
		c := exactOn(r, best)
		if c == nil {
			ix.rest = append(ix.rest, r)
			continue
		}
		ix.coerced = c.coerced
		r.indexed = true
		r.others = slices.DeleteFunc(slices.Clone(r.checks), func(ch check) bool { return ch.slot == best })
		for v := range c.exact {
			ix.byValue[v] = nil
		}
	}
	for v := range ix.byValue {
		var rs []*engineRule
		for _, r := range rules {
			if c := exactOn(r, best); c == nil || hasExact(c, v) {
				rs = append(rs, r)
			}
		}
		ix.byValue[v] = slices.Clip(rs)
	}
	return ix
}

func hasExact(c *constraint, v string) bool {
	_, ok := c.exact[v]
	return ok
}

// candidates returns the rules that the scanned value of the indexed field
// allows, in rule order, mirroring constraint.pass: a value a check could
// not judge leaves every rule in. checked is set when the indexed rules
// among them are known to pass their check on the field.
func (ix *ruleIndex) candidates(sv *slotValues) (rules []*engineRule, checked bool) {
	b, ok := judged(sv.get(ix.slot), ix.coerced)
	if !ok {
		return ix.all, false
	}
	if rs, ok := ix.byValue[b]; ok {
		return rs, true
	}
	return ix.rest, true
}
