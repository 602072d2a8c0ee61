package detect

import (
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/expr-lang/expr/vm"

	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/event"
)

// Matcher evaluates events against an engine's rules. It holds the expr
// VM and scratch space, so it is not safe for concurrent use: make one
// per worker goroutine with Engine.NewMatcher.
type Matcher struct {
	e       *Engine
	vm      vm.VM
	env     map[string]any
	vals    slotValues
	members []member
	cand    []*engineRule
	matches []event.Match
	steps   []int // sequence steps scratch
}

// Matches returns the matches of stateful rules that Match found since
// the last call, and forgets them. They go to the state stage, which
// counts them per group key. The slice is reused: it is valid until the
// next call to Match.
func (m *Matcher) Matches() []event.Match {
	out := m.matches
	m.matches = m.matches[:0]
	return out
}

// NewMatcher returns a Matcher for one goroutine.
func (e *Engine) NewMatcher() *Matcher {
	return &Matcher{e: e, env: make(map[string]any, 64),
		vals: slotValues{vals: make([]scanValue, e.slots), at: make([]uint32, e.slots)}}
}

// Match evaluates the rules of ev.Source against ev and appends one
// finding per matching rule to out, in rule order. The record (ev.Raw) is
// decoded once for all rules (only the fields they name), and not at all
// when the rules' prefilters rule the event out. The returned error joins
// the rules' runtime errors (*RuleError, each counted in Stats); findings
// of the other rules are returned all the same. A record that is not
// valid JSON yields an error wrapping ErrDecode and no findings. Findings
// share ev.Raw's bytes.
func (m *Matcher) Match(ev *event.Event, out []event.Finding) ([]event.Finding, error) {
	sr := m.e.sources[ev.Source]
	if sr == nil {
		return out, nil
	}
	var scanned bool
	m.vals.fields = nil
	m.members, scanned = scanRecord(ev.Raw, sr.scan, m.vals.vals, m.members)
	mask, whole := m.candidates(sr)
	if len(m.cand) == 0 {
		return out, nil
	}
	whole = whole || !scanned || m.e.decode != nil
	env := m.resetEnv(sr, mask, whole)
	m.e.decodes.Add(1)
	var err error
	if whole {
		err = m.e.decodeRecord(ev.Raw, &env)
	} else {
		err = decodeMembers(ev.Raw, m.members, sr.fields, mask, env)
	}
	if err != nil {
		m.e.badRaw.Add(1)
		return out, fmt.Errorf("%w: event %s: %v", ErrDecode, ev.EventID, err)
	}
	return m.evaluate(ev, sr, env, mask, whole, out)
}

// matchDecoded is Match for an event whose record is already decoded
// into fields (as encoding/json decodes a JSON object into
// map[string]any); ev.Raw is not read and fields is not modified. It is
// the engine's work without JSON decoding, which BenchmarkEngineMixed
// measures apart: the figure is for pre-decoded events, while the
// detect stage decodes each record (Match).
func (m *Matcher) matchDecoded(ev *event.Event, fields map[string]any, out []event.Finding) ([]event.Finding, error) {
	sr := m.e.sources[ev.Source]
	if sr == nil {
		return out, nil
	}
	m.vals.decoded(fields, sr.paths)
	mask, whole := m.candidates(sr)
	if len(m.cand) == 0 {
		return out, nil
	}
	env := m.env
	if whole {
		clear(env)
		maps.Copy(env, fields)
	} else {
		// A missing field is set to nil, which every expression reads
		// as it reads a missing one ($env, which would tell them apart,
		// makes the decode whole).
		for b := mask; b != 0; b &= b - 1 {
			name := sr.names[bits.TrailingZeros64(b)]
			env[name] = fields[name]
		}
	}
	return m.evaluate(ev, sr, env, mask, whole, out)
}

// resetEnv empties the environment of the record fields in mask (all of
// them when whole): the candidates read no others, so the values of
// earlier records that stay are never read, and emptying a few names
// costs less than clearing the map.
func (m *Matcher) resetEnv(sr *sourceRules, mask uint64, whole bool) map[string]any {
	if whole {
		clear(m.env)
		return m.env
	}
	for b := mask; b != 0; b &= b - 1 {
		delete(m.env, sr.names[bits.TrailingZeros64(b)])
	}
	return m.env
}

// candidates sets m.cand to the rules of sr that the scanned fields allow
// to match, and returns the record fields they read (whole: any).
func (m *Matcher) candidates(sr *sourceRules) (mask uint64, whole bool) {
	rules, indexed := sr.rules, false
	if sr.index != nil && !m.e.noPrefilter {
		rules, indexed = sr.index.candidates(&m.vals)
	}
	cand := m.cand[:0]
	for _, r := range rules {
		if sr.filtered && !m.e.noPrefilter && !r.passes(&m.vals, indexed) {
			continue
		}
		cand = append(cand, r)
		mask |= r.mask
		whole = whole || r.all
	}
	m.cand = cand
	return mask, whole
}

// evaluate runs the candidate rules on the event's decoded record; mask
// has the bits of the record fields they read, all is set when one may
// read any.
func (m *Matcher) evaluate(ev *event.Event, sr *sourceRules, env map[string]any, mask uint64, all bool, out []event.Finding) ([]event.Finding, error) {
	if all {
		if sr.schema != nil {
			sr.schema.coerce(env, sr.coerce)
		}
		addNormalized(env, ev, sr.norm)
	} else {
		for b := mask; b != 0; b &= b - 1 {
			i := bits.TrailingZeros64(b)
			if k := sr.kinds[i]; k != 0 {
				coerceField(env, sr.names[i], k)
			}
			if n := sr.norms[i]; n >= 0 {
				addNormalizedField(env, ev, n)
			}
		}
	}
	decide := sr.filtered && !m.e.noPrefilter
	var errs []error
	var now time.Time
	for _, r := range m.cand {
		var err error
		if !decide || !r.decided(&m.vals) {
			var res any
			res, err = m.vm.Run(r.prog.when, env)
			if err != nil {
				m.e.counts[r.idx].errors.Add(1)
				errs = append(errs, &RuleError{RuleID: r.rule.ID, EventID: ev.EventID, Err: err})
				continue
			}
			if res != true {
				continue
			}
		}
		if agg := r.rule.Aggregation; agg != nil {
			steps := m.steps[:0]
			if agg.Spec.Kind == state.Sequence {
				// One match per step (and absent) the event satisfies.
				steps, err = agg.evalSteps(&m.vm, ev.Source, env, steps)
				m.steps = steps
				if err == nil && len(steps) == 0 {
					continue
				}
			}
			var key, value string
			if err == nil {
				key, value, err = agg.eval(&m.vm, ev.Source, env)
			}
			if err != nil {
				m.e.counts[r.idx].errors.Add(1)
				errs = append(errs, &RuleError{RuleID: r.rule.ID, EventID: ev.EventID, Err: err})
				continue
			}
			m.e.counts[r.idx].matches.Add(1)
			if agg.Spec.Kind != state.Sequence {
				m.matches = append(m.matches, event.Match{RuleID: r.rule.ID, Key: key, Value: value, Event: *ev})
				continue
			}
			for _, step := range steps {
				m.matches = append(m.matches, event.Match{RuleID: r.rule.ID, Key: key, Value: value, Step: step, Event: *ev})
			}
			continue
		}
		summary, err := r.prog.summary.render(&m.vm, env)
		if err != nil {
			m.e.counts[r.idx].errors.Add(1)
			errs = append(errs, &RuleError{RuleID: r.rule.ID, EventID: ev.EventID, Err: err})
		}
		if now.IsZero() {
			now = time.Now().UTC()
		}
		m.e.counts[r.idx].matches.Add(1)
		out = append(out, event.Finding{
			AlertID:     event.AlertID(r.rule.ID, ev.EventID),
			Time:        ev.Time,
			DetectedAt:  now,
			RuleID:      r.rule.ID,
			RuleTitle:   r.rule.Title,
			RuleVersion: r.rule.Version,
			Summary:     summary,
			Severity:    r.rule.Severity,
			Tags:        slices.Clone(r.rule.Tags),
			EventIDs:    []string{ev.EventID},
			Event:       *ev,
		})
	}
	return out, errors.Join(errs...)
}

// decodeRecord decodes a raw record into env. A record that is valid JSON
// but not an object (a line format kept as a JSON string) adds no fields.
func (e *Engine) decodeRecord(raw []byte, env *map[string]any) error {
	i := skipWS(raw, 0)
	if i == len(raw) {
		return nil // no record
	}
	if raw[i] != '{' {
		if !gojson.Valid(raw) {
			return errors.New("invalid JSON")
		}
		return nil
	}
	if e.decode != nil {
		return e.decode(raw, env)
	}
	return decodeAll(raw, env)
}
