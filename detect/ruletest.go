package detect

import (
	"encoding/json"
	"errors"
	"fmt"

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
	// Expect is what the test wants and Got what the rule did.
	Expect, Got bool
	// Err is a decode or runtime error; a test with an error fails.
	Err error
	// Passed is Err == nil && Got == Expect.
	Passed bool
}

// String renders a result for test logs.
func (t TestResult) String() string {
	s := fmt.Sprintf("%s / %s: expect %v, got %v", t.Rule, t.Name, t.Expect, t.Got)
	if t.Err != nil {
		s += ": " + t.Err.Error()
	}
	return s
}

// RunTests runs a rule's inline tests: it decodes each test event with
// the decoder of the rule's first source (Event.Raw is the test event's
// JSON), evaluates the rule alone through the engine, prefilter included,
// and compares the verdict with the test's expectation.
func RunTests(r *Rule, decoders map[string]ingest.Decoder) []TestResult {
	results := make([]TestResult, 0, len(r.Tests))
	var m *Matcher
	var setupErr error
	if len(r.Sources) == 0 {
		setupErr = errors.New("rule has no source")
	} else if eng, err := NewEngine([]*Rule{r}); err != nil {
		setupErr = err
	} else {
		m = eng.NewMatcher()
	}
	var dec ingest.Decoder
	if setupErr == nil {
		if dec = decoders[r.Sources[0]]; dec == nil {
			setupErr = fmt.Errorf("no decoder for source %q", r.Sources[0])
		}
	}
	for _, t := range r.Tests {
		res := TestResult{Rule: r.ID, Name: t.Name, Expect: t.Expect, Err: setupErr}
		if res.Err == nil {
			res.Got, res.Err = runTest(m, dec, r.Sources[0], t.Event)
		}
		res.Passed = res.Err == nil && res.Got == res.Expect
		results = append(results, res)
	}
	return results
}

func runTest(m *Matcher, dec ingest.Decoder, source string, raw json.RawMessage) (bool, error) {
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
		return false, fmt.Errorf("decode test event: %w", err)
	}
	if ev.Source != source {
		ev.Source = source
	}
	found, err := m.Match(&ev, nil)
	// A stateful rule's case says whether the event is one the rule
	// counts (a match), not whether it alone makes a finding.
	return len(found) > 0 || len(m.Matches()) > 0, err
}
