package detect

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tripline/tripline/internal/event"
)

// Rule is one detection rule: a boolean expr-lang expression over the
// records of one or more sources, and what to say when it matches. Rules
// come from LoadFS, LoadPaths or Parse, which compile them; a Rule is
// immutable afterwards and safe to share between engines and goroutines.
type Rule struct {
	// ID is unique within a rule set and made of [a-z0-9._-].
	ID string
	// Title is the rule's fixed name.
	Title string
	// Severity is one of event.Severities.
	Severity string
	// Sources are the sources whose events the rule evaluates.
	Sources []string
	// Description says why the rule matters and how to triage it.
	Description string
	// When is the boolean expression, as written.
	When string
	// Exceptions are boolean expressions of which none must be true for
	// the rule to match, as written.
	Exceptions []string
	// Summary is the alert title template; its {{ }} parts are
	// expressions. Empty means Title.
	Summary string
	// Tags are MITRE ATT&CK ids and other labels.
	Tags []string
	// References are links for the responder.
	References []string
	// Tests are the rule's inline test cases.
	Tests []RuleTest
	// Aggregation makes the rule stateful (threshold, distinct, ...):
	// its matches are counted per group key, not each a finding; nil for
	// a rule whose every match is a finding.
	Aggregation *Aggregation
	// Uses are the names of the lists and macros the rule's expressions
	// use, directly or through macros, sorted, without the $.
	Uses []string
	// File is the rule's file, as named to the loader.
	File string
	// Line is the line of the rule's document in File.
	Line int
	// Version is a content hash of everything that decides the rule's
	// findings: its sources, title, severity, tags, expressions with
	// their lists and macros expanded, summary and aggregation. A rule
	// reloaded unchanged keeps its version; findings carry it.
	Version string
	// Overrides is the rule of the same id that this rule replaced when
	// Merge combined rule sets (a built-in rule the user copied and
	// tuned), or nil.
	Overrides *Rule

	programs      map[string]*program // by source
	idLine, idCol int
}

// RuleTest is an inline test case: a raw record of the rule's first
// source and whether the rule must match it, or, for a stateful rule, a
// timed list of records and the exact findings they must give (see
// TestEvent).
type RuleTest struct {
	// Name describes the case.
	Name string
	// Expect is whether the rule must match (a single-event case); for a
	// timed case, whether it expects any finding.
	Expect bool
	// Event is the raw record, as JSON (a single-event case).
	Event json.RawMessage
	// Events are a timed case's records (nil for a single-event case).
	Events []TestEvent
	// Findings are the findings a timed case expects, exactly and in
	// order (none: the rule must stay silent).
	Findings []TestFinding
	// Until, if not zero, is the event time a timed case's clock is moved
	// to at the end; zero moves it far past the last event, so that every
	// pending silence (absence, a sequence's absent event) is decided.
	Until time.Time
	// Line is where the case starts in the rule's file.
	Line int

	node *yaml.Node
}

// Timed reports whether the case is a timed multi-event case.
func (t *RuleTest) Timed() bool { return t.Events != nil }

// ruleKeys are the keys a rule document may have, in canonical order.
var ruleKeys = append([]string{"id", "title", "severity", "source", "description", "when", "exceptions",
	"summary", "tags", "references", "tests"}, aggKeys...)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// Prefilter describes, for source, the conditions on raw record fields
// that the rule's expression requires and that the engine checks before
// decoding an event, or "" when there are none (the rule is then evaluated
// on every event of the source).
func (r *Rule) Prefilter(source string) string {
	p := r.programs[source]
	if p == nil {
		return ""
	}
	return describeConstraints(p.filter)
}

func (r *Rule) compiled() bool { return len(r.programs) == len(r.Sources) && len(r.Sources) > 0 }

func validSeverity(s string) bool { return slices.Contains(event.Severities, s) }

// String names the rule and where it was defined.
func (r *Rule) String() string { return fmt.Sprintf("rule %s (%s:%d)", r.ID, r.File, r.Line) }
