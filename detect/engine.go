package detect

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync/atomic"
)

// Engine evaluates a fixed set of compiled rules. It is safe for concurrent
// use; every worker goroutine evaluates events through its own Matcher.
type Engine struct {
	rules   []*Rule
	sources map[string]*sourceRules
	counts  []ruleCounts // by index in rules
	slots   int          // largest number of scanned fields of a source
	decodes atomic.Uint64
	badRaw  atomic.Uint64

	// Test hooks: noPrefilter evaluates every rule of the source;
	// decode replaces the record decoder.
	noPrefilter bool
	decode      func(raw []byte, env *map[string]any) error
}

// maxFieldBits is how many distinct record field names of a source the
// engine tracks for selective decoding; rules naming others decode the
// whole record.
const maxFieldBits = 64

// sourceRules are the rules of one source and what evaluating them needs.
type sourceRules struct {
	schema *schema
	rules  []*engineRule
	// scan reads the prefiltered fields and lists the record's members.
	scan *scanNode
	// filtered is set when every rule has a prefilter, so that an event
	// may be skipped without decoding.
	filtered bool
	// index narrows the rules by one scanned field, or is nil.
	index *ruleIndex
	// slots is the number of scanned fields; paths are their paths.
	slots int
	paths [][]string
	// fields gives each record field name the rules read a bit; names
	// holds them by bit position.
	fields map[string]uint64
	names  []string
	// kinds and norms say, by bit, whether the field is a schema field
	// to coerce (its kind, or 0) and a normalized field (its normFields
	// index, or -1).
	kinds  []kind
	norms  []int
	coerce []string // schema fields the rules read
	norm   []int    // normalized fields the rules read, as normFields indexes
}

// engineRule is a rule compiled for one source, with its prefilter checks.
type engineRule struct {
	rule   *Rule
	prog   *program
	idx    int
	checks []check
	// mask has the bits of the record fields the rule reads; all is set
	// when it may read any (it uses $env, or too many names).
	mask uint64
	all  bool
	// decides is set when passing the checks is the verdict wherever the
	// checked values are known (constraint.known).
	decides bool
	// indexed is set when the source's rule index holds the rule by its
	// check on the indexed field; others are its other checks.
	indexed bool
	others  []check
}

type check struct {
	slot int
	c    *constraint
}

type ruleCounts struct {
	matches atomic.Uint64
	errors  atomic.Uint64
}

// RuleStats counts one rule's results since the engine was made.
type RuleStats struct {
	// RuleID is the rule's id.
	RuleID string
	// Matches counts findings.
	Matches uint64
	// Errors counts runtime errors (the event did not match).
	Errors uint64
}

// NewEngine indexes compiled rules (from LoadFS, LoadPaths or Parse) by
// source. A rule it cannot use is left out and reported, and the engine of
// the other rules is returned all the same, so that one bad rule cannot
// disable detection: the returned engine is never nil, and err, when not
// nil, joins one error per rule left out. Rules left out are a nil rule, a
// rule not made by the loaders (not compiled), and a rule whose id an
// earlier rule has (a *LoadError at its id; the first rule of an id is
// kept). Combine rule sets that may share ids with Merge first.
func NewEngine(rules []*Rule) (*Engine, error) {
	e := &Engine{sources: map[string]*sourceRules{}}
	var errs []error
	seen := map[string]*Rule{}
	for i, r := range rules {
		if r == nil {
			errs = append(errs, fmt.Errorf("detect: rule %d is nil; left out", i))
			continue
		}
		if !r.compiled() {
			errs = append(errs, fmt.Errorf("detect: rule %d (%s) was not compiled (load rules with LoadFS, LoadPaths or Parse); left out", i, r.ID))
			continue
		}
		if first, dup := seen[r.ID]; dup {
			errs = append(errs, duplicateError(r, first))
			continue
		}
		seen[r.ID] = r
		e.rules = append(e.rules, r)
	}
	e.counts = make([]ruleCounts, len(e.rules))
	for i, r := range e.rules {
		for _, name := range r.Sources {
			sr := e.sources[name]
			if sr == nil {
				sr = &sourceRules{schema: sources[name]}
				e.sources[name] = sr
			}
			sr.rules = append(sr.rules, &engineRule{rule: r, prog: r.programs[name], idx: i})
		}
	}
	for _, sr := range e.sources {
		e.index(sr)
	}
	return e, errors.Join(errs...)
}

// index works out which fields a source's rules read and builds the
// prefilter scan tree.
func (e *Engine) index(sr *sourceRules) {
	names, all := map[string]bool{}, false
	filtered := true
	for _, r := range sr.rules {
		all = all || r.prog.all
		for n := range r.prog.names {
			names[n] = true
		}
		if len(r.prog.filter) == 0 {
			filtered = false
		}
	}
	if sr.schema != nil {
		for f := range sr.schema.fields {
			if all || names[f] {
				sr.coerce = append(sr.coerce, f)
			}
		}
		sort.Strings(sr.coerce)
	}
	for i, f := range normFields {
		if all || names[f.name] {
			sr.norm = append(sr.norm, i)
		}
	}
	sr.fields = map[string]uint64{}
	for _, r := range sr.rules {
		r.all = r.prog.all
		for _, n := range slices.Sorted(maps.Keys(r.prog.names)) {
			if sr.schema != nil && sr.schema.fields[n] == 0 {
				if _, norm := normIndex[n]; !norm {
					continue // let-bound names and functions are not record fields
				}
			}
			bit, ok := sr.fields[n]
			if !ok && len(sr.fields) < maxFieldBits {
				bit = 1 << len(sr.fields)
				sr.fields[n], ok = bit, true
				sr.names = append(sr.names, n)
				var k kind
				if sr.schema != nil {
					k = sr.schema.fields[n]
				}
				ni, norm := normIndex[n]
				if !norm {
					ni = -1
				}
				sr.kinds, sr.norms = append(sr.kinds, k), append(sr.norms, ni)
			}
			if !ok {
				r.all = true
			}
			r.mask |= bit
		}
	}
	sr.scan = &scanNode{slot: -1}
	sr.filtered = filtered
	if !filtered {
		return
	}
	next := 0
	for _, r := range sr.rules {
		for i := range r.prog.filter {
			c := &r.prog.filter[i]
			r.checks = append(r.checks, check{slot: sr.scan.add(c.path, &next), c: c})
		}
		r.decides = r.prog.decides
	}
	e.slots = max(e.slots, next)
	sr.slots, sr.paths = next, sr.scan.paths(next)
	sr.index = newRuleIndex(sr.rules)
}

// decided reports whether the rule, having passed its checks, matches
// without evaluating its expression.
func (r *engineRule) decided(sv *slotValues) bool {
	if !r.decides {
		return false
	}
	for _, ch := range r.checks {
		if !ch.c.known(sv.get(ch.slot)) {
			return false
		}
	}
	return true
}

// passes reports whether the scanned fields allow the rule to match;
// indexed is set when the index found it by its value of the indexed
// field, so that check is already passed.
func (r *engineRule) passes(sv *slotValues, indexed bool) bool {
	checks := r.checks
	if indexed && r.indexed {
		checks = r.others
	}
	for _, ch := range checks {
		if !ch.c.pass(sv.get(ch.slot)) {
			return false
		}
	}
	return true
}

// Rules returns the engine's rules in the order given to NewEngine,
// without those it left out.
func (e *Engine) Rules() []*Rule { return append([]*Rule(nil), e.rules...) }

// Stats returns per-rule counters, in the order of Rules.
func (e *Engine) Stats() []RuleStats {
	out := make([]RuleStats, len(e.rules))
	for i, r := range e.rules {
		out[i] = RuleStats{RuleID: r.ID, Matches: e.counts[i].matches.Load(), Errors: e.counts[i].errors.Load()}
	}
	return out
}

// Decoded returns how many events were decoded for evaluation and how
// many of those failed to decode. Events that the prefilters rule out are
// not decoded.
func (e *Engine) Decoded() (decoded, failed uint64) { return e.decodes.Load(), e.badRaw.Load() }

// RuleError is a rule's runtime error on one event; the event did not
// match that rule.
type RuleError struct {
	// RuleID is the id of the rule that failed.
	RuleID string
	// EventID is the id of the event it failed on.
	EventID string
	// Err is the expression's runtime error.
	Err error
}

// Error implements error.
func (e *RuleError) Error() string {
	return fmt.Sprintf("rule %s: event %s: %v", e.RuleID, e.EventID, e.Err)
}

// Unwrap returns the underlying error.
func (e *RuleError) Unwrap() error { return e.Err }

// ErrDecode wraps the error of an event whose raw record is not valid
// JSON; no rule was evaluated.
var ErrDecode = errors.New("detect: cannot decode event record")
