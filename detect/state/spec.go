package state

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"
)

// Kind is a stateful rule kind.
type Kind uint8

// The kinds. The zero Kind is invalid.
const (
	Threshold Kind = iota + 1 // N matches per key within a sliding window
	Distinct                  // N distinct values per key within a sliding window
	Sequence                  // ordered steps per key within a window, optionally not followed by an absent event
	NewTerm                   // first sighting of a term within a history window
	Spike                     // a bucket's count far above the key's baseline
	Absence                   // a key that stops sending
	Dedup                     // one firing per key per period, later matches update it
)

var kindNames = [...]string{
	Threshold: "threshold",
	Distinct:  "distinct",
	Sequence:  "sequence",
	NewTerm:   "new_term",
	Spike:     "spike",
	Absence:   "absence",
	Dedup:     "dedup",
}

// String returns the rule key of the kind ("new_term"), or "kind(N)".
func (k Kind) String() string {
	if k >= Threshold && k <= Dedup {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind returns the Kind named by its rule key ("threshold").
func ParseKind(s string) (Kind, error) {
	for k := Threshold; k <= Dedup; k++ {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown stateful kind %q", s)
}

// Defaults and limits of a Spec.
const (
	DefaultMaxKeys   = 100000
	DefaultSampleIDs = 20
	// MaxWindow bounds Window and the allowed lateness (about 36 years).
	MaxWindow = time.Duration(1 << 60)
	// MaxSteps bounds Spec.Steps.
	MaxSteps = 32
)

// Spec is the aggregation of one rule. Fields that a kind does not use
// must be zero.
type Spec struct {
	Kind Kind
	// Count is N for threshold (matches) and distinct (distinct values).
	Count int
	// Window is the sliding window of threshold and distinct, the bucket
	// width of spike, the silence of absence, the "within" of sequence,
	// the history of new_term and the period of dedup.
	Window time.Duration
	// Steps is the number of ordered steps of a sequence.
	Steps int
	// Absent makes a sequence fire when its steps are NOT followed by the
	// absent event (Match.Step == Steps) within Window of step 0.
	Absent bool
	// Factor and MinCount are spike's thresholds: a bucket fires when its
	// count >= MinCount and > Factor*max(baseline, 1).
	Factor   float64
	MinCount int
	// MaxKeys caps the live keys of the rule (new_term: live terms); 0
	// means DefaultMaxKeys.
	MaxKeys int
	// SampleIDs bounds the event ids (and distinct values) a firing
	// carries; 0 means DefaultSampleIDs.
	SampleIDs int
	// Keys identifies what the rule's group keys and values are made of
	// (a hash of its by, field and step expressions), or is 0: state
	// kept for other keys is dropped when it changes, like state kept
	// for other parameters.
	Keys uint64
}

// Validate reports whether the spec is complete and consistent.
func (s Spec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Kind < Threshold || s.Kind > Dedup {
		return fmt.Errorf("invalid kind %d", s.Kind)
	}
	if s.Window <= 0 || s.Window > MaxWindow {
		bad("%s: window must be > 0 and <= %v, got %v", s.Kind, MaxWindow, s.Window)
	}
	switch s.Kind {
	case Threshold, Distinct:
		if s.Count < 1 || s.Count > math.MaxInt32 {
			bad("%s: count must be >= 1, got %d", s.Kind, s.Count)
		}
	default:
		if s.Count != 0 {
			bad("%s: count is only for threshold and distinct", s.Kind)
		}
	}
	if s.Kind == Sequence {
		if s.Steps < 1 || s.Steps > MaxSteps {
			bad("sequence: steps must be 1..%d, got %d", MaxSteps, s.Steps)
		}
	} else if s.Steps != 0 || s.Absent {
		bad("%s: steps and absent are only for sequence", s.Kind)
	}
	if s.Kind == Spike {
		if !(s.Factor > 0) || math.IsInf(s.Factor, 0) {
			bad("spike: factor must be a finite number > 0, got %v", s.Factor)
		}
		if s.MinCount < 1 {
			bad("spike: min_count must be >= 1, got %d", s.MinCount)
		}
	} else if s.Factor != 0 || s.MinCount != 0 {
		bad("%s: factor and min_count are only for spike", s.Kind)
	}
	if s.MaxKeys < 0 {
		bad("%s: max_keys must be >= 0, got %d", s.Kind, s.MaxKeys)
	}
	if s.SampleIDs < 0 {
		bad("%s: sample_ids must be >= 0, got %d", s.Kind, s.SampleIDs)
	}
	return errors.Join(errs...)
}

// withDefaults fills MaxKeys and SampleIDs.
func (s Spec) withDefaults() Spec {
	if s.MaxKeys == 0 {
		s.MaxKeys = DefaultMaxKeys
	}
	if s.SampleIDs == 0 {
		s.SampleIDs = DefaultSampleIDs
	}
	return s
}

// fingerprint hashes the fields that give a rule's state its meaning, so
// Restore can tell whether saved state still applies.
func (s Spec) fingerprint() uint64 {
	h := fnv.New64a()
	var e encoder
	e.uint(uint64(s.Kind))
	e.int(int64(s.Count))
	e.int(int64(s.Window))
	e.int(int64(s.Steps))
	e.bool(s.Absent)
	e.float(s.Factor)
	e.int(int64(s.MinCount))
	if s.Keys != 0 { // 0 leaves the fingerprints of specs without it as they were
		e.uint(s.Keys)
	}
	h.Write(e.b)
	return h.Sum64()
}
