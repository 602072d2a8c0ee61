package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/event"
)

// DefaultTestEventTime is the eventTime given to a CloudTrail test event
// that has none, since the CloudTrail decoder requires one; test events
// may thus leave eventTime (and eventID, which defaults to a content hash)
// out. eventName and eventSource are required.
const DefaultTestEventTime = "2026-01-01T00:00:00Z"

// TestResult is the outcome of one inline rule test.
type TestResult struct {
	// Rule is the rule id and Name the test's name.
	Rule, Name string
	// Line is where the test is in the rule's file.
	Line int
	// Expect is what the test wants and Got what the rule did: whether
	// the rule matched the event, or, for a timed test, whether there
	// were any findings.
	Expect, Got bool
	// Timed marks a timed multi-event test; Want are the findings it
	// expects and Findings the firings it got, in order.
	Timed    bool
	Want     []TestFinding
	Findings []state.Firing
	// Read are the fields the rule's when and exceptions read and their
	// values in the test's event, as `name "value"`, for a failed
	// single-event test whose event decoded: what the rule saw.
	Read []string
	// Err is a decode or runtime error; a test with an error fails.
	Err error
	// Passed is Err == nil and the rule did what the test expects.
	Passed bool
}

// String renders a result for test logs; a failed timed test lists the
// expected and actual findings, one per line.
func (t TestResult) String() string {
	var s string
	switch {
	case !t.Timed:
		s = fmt.Sprintf("%s / %s: expect %v, got %v", t.Rule, t.Name, t.Expect, t.Got)
	case t.Passed:
		s = fmt.Sprintf("%s / %s: %s, as expected", t.Rule, t.Name, plural(len(t.Findings), "finding"))
	case t.Err != nil && t.Findings == nil:
		s = fmt.Sprintf("%s / %s: want %s", t.Rule, t.Name, plural(len(t.Want), "finding"))
	default:
		s = fmt.Sprintf("%s / %s: %s", t.Rule, t.Name, diffFindings(t.Want, t.Findings))
	}
	if t.Err != nil {
		s += ": " + t.Err.Error()
	}
	if !t.Timed && !t.Passed {
		s += fmt.Sprintf("\n      - expected: %s\n      + got:      %s", verdict(t.Expect), verdict(t.Got))
		if t.Err != nil {
			s += " (error: " + t.Err.Error() + ")"
		}
		if len(t.Read) > 0 {
			s += "\n      the rule read: " + strings.Join(t.Read, ", ")
		}
	}
	return s
}

func verdict(match bool) string {
	if match {
		return "match"
	}
	return "no match"
}

// RunTests runs a rule's inline tests: it decodes each test event with
// the decoder of the rule's first source (Event.Raw is the test event's
// JSON), evaluates the rule alone through the engine, prefilter included,
// and compares the verdict with the test's expectation. A timed test of a
// stateful rule also runs the matches through a detect/state Partition
// (see TestEvent) and compares the findings.
func RunTests(r *Rule, decoders map[string]ingest.Decoder) []TestResult {
	results := make([]TestResult, 0, len(r.Tests))
	var eng *Engine
	var setupErr error
	if len(r.Sources) == 0 {
		setupErr = errors.New("rule has no source")
	} else if eng, setupErr = NewEngine([]*Rule{r}); setupErr == nil {
		if decoders[r.Sources[0]] == nil {
			setupErr = fmt.Errorf("no decoder for source %q", r.Sources[0])
		}
	}
	for i := range r.Tests {
		t := &r.Tests[i]
		res := TestResult{Rule: r.ID, Name: t.Name, Line: t.Line, Expect: t.Expect, Timed: t.Timed(), Want: t.Findings, Err: setupErr}
		if res.Err == nil {
			// A fresh matcher per test: no state leaks between tests.
			m, dec := eng.NewMatcher(), decoders[r.Sources[0]]
			if res.Timed {
				res.Findings, res.Err = runTimed(r, m, dec, t)
				res.Got = len(res.Findings) > 0
			} else {
				res.Got, res.Err = runTest(m, dec, r.Sources[0], t.Event)
			}
		}
		if res.Timed {
			res.Passed = res.Err == nil && findingsEqual(res.Want, res.Findings)
		} else {
			res.Passed = res.Err == nil && res.Got == res.Expect
			if !res.Passed && setupErr == nil {
				res.Read = readFields(r, decoders[r.Sources[0]], t.Event)
			}
		}
		results = append(results, res)
	}
	return results
}

// MaxReadValue caps the rendering of one value in TestResult.Read.
const MaxReadValue = 80

// readFields returns the fields r's when and exceptions read (all the
// fields its expressions read when they use $lists or $macros) with their
// values in the test event raw, as the rule sees them; nil when the
// event does not decode.
func readFields(r *Rule, dec ingest.Decoder, raw json.RawMessage) []string {
	source := r.Sources[0]
	ev, err := decodeTestEvent(dec, source, raw)
	if err != nil {
		return nil
	}
	var rec map[string]any
	if err := json.Unmarshal(ev.Raw, &rec); err != nil || rec == nil {
		rec = map[string]any{}
	}
	sc := sources[source]
	names := map[string]bool{}
	macros := false
	for _, code := range append([]string{r.When}, r.Exceptions...) {
		ns, _ := usedNames(code)
		maps.Copy(names, ns)
		macros = macros || strings.Contains(code, "$")
	}
	if p := r.programs[source]; macros && p != nil {
		maps.Copy(names, p.names)
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(names)) {
		_, inRec := rec[name]
		ni, norm := normIndex[name]
		declared := sc != nil && sc.fields[name] != 0
		if !inRec && !norm && !declared {
			continue // a function, a let name, a $name, an absent field
		}
		if declared {
			coerceField(rec, name, sc.fields[name])
		}
		if norm {
			addNormalizedField(rec, &ev, ni)
		}
		v := rec[name]
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprint(v))
		}
		text := string(b)
		if len(text) > MaxReadValue {
			text = text[:MaxReadValue] + "..."
		}
		out = append(out, name+" "+text)
	}
	return out
}

func runTest(m *Matcher, dec ingest.Decoder, source string, raw json.RawMessage) (bool, error) {
	ev, err := decodeTestEvent(dec, source, raw)
	if err != nil {
		return false, err
	}
	found, err := m.Match(&ev, nil)
	// A stateful rule's case says whether the event is one the rule
	// counts (a match), not whether it alone makes a finding.
	return len(found) > 0 || len(m.Matches()) > 0, err
}

// decodeTestEvent decodes a test record with the source's decoder,
// giving a CloudTrail record without eventTime DefaultTestEventTime.
func decodeTestEvent(dec ingest.Decoder, source string, raw json.RawMessage) (event.Event, error) {
	if source == "cloudtrail" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err == nil && obj != nil {
			if _, ok := obj["eventTime"]; !ok {
				obj["eventTime"] = json.RawMessage(`"` + DefaultTestEventTime + `"`)
				if b, err := json.Marshal(obj); err == nil {
					raw = b
				}
			}
		}
	}
	var ev event.Event
	if err := dec.Decode(raw, &ev); err != nil {
		return ev, fmt.Errorf("decode test event: %w", err)
	}
	if ev.Source != source {
		ev.Source = source
	}
	return ev, nil
}
