package state

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Match is one event that passed a stateful rule's when condition.
type Match struct {
	Rule string // rule id
	Key  string // group key: the rule's joined by values, rendered by the caller
	Time time.Time
	// EventID identifies the event in findings (EventIDs) and, for the
	// first event of a window or episode, in the firing ID.
	EventID string
	// Value is the value whose distinct count matters (distinct) or the
	// term, a joined tuple (new_term).
	Value string
	// Step is the sequence step (0-based) the event satisfied; for a
	// sequence with Absent, Step == Steps marks the absent event.
	Step int
	// Seq is the bus sequence of the match, increasing within the
	// partition; 0 means unsequenced. See the package doc, Replay.
	Seq uint64
}

// Firing is what becomes a finding.
type Firing struct {
	Rule string
	Key  string
	Kind Kind
	// ID is deterministic: a hash of the kind, rule, key and the identity
	// of the window or episode. A dedup update carries the ID of the
	// firing it updates.
	ID          string
	Count       int
	First, Last time.Time // UTC
	// EventIDs is a bounded sample (Spec.SampleIDs) of the contributing
	// events' ids, in event-time order (spike and dedup: arrival order).
	EventIDs []string
	// Values lists the distinct values of a distinct firing (bounded).
	Values []string
	// Value is the new term (new_term), the distinct values joined with
	// ", " (distinct) or the baseline (spike).
	Value string
	// Update marks a dedup update: the same ID as the period's first
	// firing, a larger Count, returned by Advance for the matches counted
	// since the key's last firing.
	Update bool
}

// Clone returns a copy of f that does not share memory with the
// Partition's buffers.
func (f Firing) Clone() Firing {
	f.EventIDs = slices.Clone(f.EventIDs)
	f.Values = slices.Clone(f.Values)
	return f
}

// Stats are a partition's counters and sizes.
type Stats struct {
	Applied   uint64    // Seq of the last sequenced match applied
	Clock     time.Time // largest event time seen (zero before any)
	Watermark time.Time // Clock minus the allowed lateness (zero before any)
	Replayed  uint64    // matches ignored because Seq <= Applied
	Late      uint64    // matches dropped because older than the watermark
	Invalid   uint64    // matches with an unknown rule, bad step or time out of range
	Rules     map[string]RuleStats
}

// RuleStats are one rule's counters and sizes.
type RuleStats struct {
	Keys    int    // live keys (new_term: live terms)
	Refused uint64 // matches (or seeded terms) refused at MaxKeys
	Late    uint64 // matches of this rule dropped as late
}

// Partition holds the state of the stateful rules for one partition of
// matches. See the package doc.
type Partition struct {
	lateness int64
	clock    int64
	applied  uint64
	replayed uint64
	late     uint64
	invalid  uint64

	rules  []*rule // sorted by name
	byName map[string]*rule

	timers  timerHeap
	tid     uint64
	inTimer bool // processing a timer: deadlines must lie after the watermark

	out   []Firing
	arena []string
	idbuf []byte
	picks []pick   // distinct firing scratch
	ends  []int64  // distinct window ends scratch
	chain []string // sequence ids scratch
}

// rule is one rule's spec, counters and kind state.
type rule struct {
	name    string
	idx     int32
	spec    Spec
	window  int64
	live    int
	refused uint64
	late    uint64
	st      kindState
	// seeded is set once the rule's state was learned from history
	// (MarkSeeded), with the version the runner gave.
	seeded  bool
	seedVer uint64
}

// kindState is the state of one rule of one kind.
type kindState interface {
	// apply counts a match at time t (>= watermark); firings go to p.out.
	apply(p *Partition, r *rule, m Match, t int64)
	// timer runs a key's timer (id from p.schedule) at the watermark.
	timer(p *Partition, r *rule, key string, id uint64)
	// encode writes every key, sorted; decode reads them back, counts
	// them in r.live and schedules their timers.
	encode(e *encoder)
	decode(d *decoder, p *Partition, r *rule)
}

// NewPartition returns an empty partition for the rules in specs (rule id
// to spec) with the given allowed lateness.
func NewPartition(specs map[string]Spec, lateness time.Duration) (*Partition, error) {
	if lateness < 0 || lateness > MaxWindow {
		return nil, fmt.Errorf("lateness must be 0..%v, got %v", MaxWindow, lateness)
	}
	names := make([]string, 0, len(specs))
	var errs []error
	for name, s := range specs {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", name, err))
		}
		names = append(names, name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.Sort(names)
	p := &Partition{
		lateness: int64(lateness),
		clock:    minNanos,
		byName:   make(map[string]*rule, len(names)),
	}
	for i, name := range names {
		s := specs[name].withDefaults()
		r := &rule{name: name, idx: int32(i), spec: s, window: int64(s.Window)}
		r.st = newKindState(s)
		p.rules = append(p.rules, r)
		p.byName[name] = r
	}
	return p, nil
}

func newKindState(s Spec) kindState {
	switch s.Kind {
	case Threshold:
		return &thresholdState{keys: map[string]*thrKey{}}
	case Distinct:
		return &distinctState{keys: map[string]*disKey{}}
	case Sequence:
		return &sequenceState{keys: map[string]*seqKey{}}
	case NewTerm:
		return &newTermState{keys: map[string]*ntKey{}}
	case Spike:
		return &spikeState{keys: map[string]*spkKey{}}
	case Absence:
		return &absenceState{keys: map[string]*absKey{}}
	default:
		return &dedupState{keys: map[string]*dedupKey{}}
	}
}

// wm returns the watermark.
func (p *Partition) wm() int64 { return p.clock - p.lateness }

// Apply counts one match and returns the firings it causes (valid until
// the next call). A match with 0 < Seq <= the last applied Seq is ignored.
func (p *Partition) Apply(m Match) []Firing {
	p.reset()
	if m.Seq != 0 {
		if m.Seq <= p.applied {
			p.replayed++
			return nil
		}
		p.applied = m.Seq
	}
	r := p.byName[m.Rule]
	t, ok := toNanos(m.Time)
	if r == nil || !ok {
		p.invalid++
		return nil
	}
	if t < p.wm() {
		p.late++
		r.late++
		return nil
	}
	if t > p.clock {
		p.clock = t
	}
	r.st.apply(p, r, m, t)
	return p.out
}

// Advance moves the clock to t if t is later (the watermark becomes t
// minus the lateness), expires what the watermark passed and returns the
// firings that time causes (absence, sequence with Absent) and the
// pending dedup updates, sorted by
// rule, key, First, Last and ID, valid until the next call. Advance with
// an earlier t (or the zero time) only runs what is already due.
func (p *Partition) Advance(t time.Time) []Firing {
	p.reset()
	if n, ok := toNanos(t); ok && n > p.clock {
		p.clock = n
	} else if !ok && t.After(maxTime) {
		p.clock = maxNanos
	}
	wm := p.wm()
	p.inTimer = true
	for len(p.timers) > 0 && p.timers[0].at <= wm {
		e := p.timers.pop()
		r := p.rules[e.rule]
		r.st.timer(p, r, e.key, e.id)
	}
	p.inTimer = false
	slices.SortFunc(p.out, func(a, b Firing) int {
		return cmp.Or(
			strings.Compare(a.Rule, b.Rule),
			strings.Compare(a.Key, b.Key),
			a.First.Compare(b.First),
			a.Last.Compare(b.Last),
			strings.Compare(a.ID, b.ID),
		)
	})
	return p.out
}

// Seed records that term was seen for a new_term rule and key at time t,
// without firing: learning from history before matches flow. A term seen
// before the watermark minus the history is ignored, as already
// forgotten; a new term beyond MaxKeys is refused and counted.
func (p *Partition) Seed(rule, key, term string, t time.Time) error {
	r := p.byName[rule]
	if r == nil {
		return fmt.Errorf("seed: unknown rule %q", rule)
	}
	st, ok := r.st.(*newTermState)
	if !ok {
		return fmt.Errorf("seed: rule %q is %s, not new_term", rule, r.spec.Kind)
	}
	n, ok := toNanos(t)
	if !ok {
		return fmt.Errorf("seed: time %v out of range", t)
	}
	st.seed(p, r, key, term, n)
	return nil
}

// MarkSeeded records that the state of new_term rule was learned from
// history (by Seed), with a version of the runner's choosing (such as a
// hash of the rule's definition). The mark is kept in snapshots, and
// dropped with the rule's state when Restore drops it (a changed spec),
// so that a runner seeds each rule once.
func (p *Partition) MarkSeeded(rule string, version uint64) error {
	r := p.byName[rule]
	if r == nil {
		return fmt.Errorf("mark seeded: unknown rule %q", rule)
	}
	if r.spec.Kind != NewTerm {
		return fmt.Errorf("mark seeded: rule %q is %s, not new_term", rule, r.spec.Kind)
	}
	r.seeded, r.seedVer = true, version
	return nil
}

// Seeded returns the version given to MarkSeeded for rule, and whether
// the rule's state was marked seeded at all.
func (p *Partition) Seeded(rule string) (version uint64, ok bool) {
	r := p.byName[rule]
	if r == nil || !r.seeded {
		return 0, false
	}
	return r.seedVer, true
}

// Stats returns the partition's counters and the live keys per rule.
func (p *Partition) Stats() Stats {
	s := Stats{
		Applied:  p.applied,
		Replayed: p.replayed,
		Late:     p.late,
		Invalid:  p.invalid,
		Rules:    make(map[string]RuleStats, len(p.rules)),
	}
	if p.clock != minNanos {
		s.Clock = fromNanos(p.clock)
		s.Watermark = fromNanos(p.wm())
	}
	for _, r := range p.rules {
		s.Rules[r.name] = RuleStats{Keys: r.live, Refused: r.refused, Late: r.late}
	}
	return s
}

// reset empties the output buffers for a new call.
func (p *Partition) reset() {
	clear(p.out) // drop references for the GC
	p.out = p.out[:0]
	p.arena = p.arena[:0]
}

// admit reserves a live key for r, or counts a refusal.
func (p *Partition) admit(r *rule) bool {
	if r.live >= r.spec.MaxKeys {
		r.refused++
		return false
	}
	r.live++
	return true
}

// strs copies ss into the output arena and returns the copy, capped so
// that appending to it cannot overwrite the arena.
func (p *Partition) strs(ss ...string) []string {
	if len(ss) == 0 {
		return nil
	}
	i := len(p.arena)
	p.arena = append(p.arena, ss...)
	return p.arena[i:len(p.arena):len(p.arena)]
}

// emit appends a firing.
func (p *Partition) emit(f Firing) { p.out = append(p.out, f) }

// schedule makes sure key's timer runs when the watermark reaches at (or
// earlier). A later deadline keeps the pending timer; the timer then
// reschedules itself.
func (p *Partition) schedule(r *rule, key string, kb *keyBase, at int64) {
	if at == never {
		return
	}
	if p.inTimer && at <= p.wm() {
		at = p.wm() + 1 // defensive: never loop within one Advance
	}
	if kb.tid != 0 && kb.tat <= at {
		return
	}
	p.tid++
	kb.tid, kb.tat = p.tid, at
	p.timers.push(timerEntry{at: at, id: p.tid, rule: r.idx, key: key})
}

// keyBase is embedded in every key state: its pending timer.
type keyBase struct {
	tid uint64 // 0: none
	tat int64
}

// due starts every timer: it reports whether entry id is the key's
// pending timer and the key's deadline at has come. An entry that is
// current but early (the deadline moved later) is replaced by one at the
// deadline. So a timer's work happens at the first Advance whose
// watermark reaches the deadline, a function of the state alone, whatever
// entries were pushed before: a restored partition, whose timers are
// rebuilt, does the same work at the same call.
func (p *Partition) due(r *rule, key string, kb *keyBase, id uint64, at int64) bool {
	if kb.tid != id {
		return false
	}
	kb.tid = 0
	if at > p.wm() {
		p.schedule(r, key, kb, at)
		return false
	}
	return true
}

// sampleN returns min(n, r's SampleIDs).
func (r *rule) sampleN(n int) int { return min(n, r.spec.SampleIDs) }
