package detect

import (
	"encoding/json"
	"errors"
	"fmt"

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
	return s
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
		}
		results = append(results, res)
	}
	return results
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
