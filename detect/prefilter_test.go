package detect

import (
	"encoding/json"
	"reflect"
	"testing"

	gojson "github.com/goccy/go-json"
)

func TestAnalyze(t *testing.T) {
	tests := []struct{ when, want string }{
		{`eventName == "StopLogging"`, `eventName == "StopLogging"`},
		{`"StopLogging" == eventName and errorCode == ""`, `errorCode == "" and eventName == "StopLogging"`},
		{`eventName in ["A", "B"] and eventSource startsWith "iam"`, `eventName == "A" | == "B" and eventSource startsWith "iam"`},
		{`(eventName == "A" and x()) or eventName endsWith "B"`, `eventName == "A" | endsWith "B"`},
		{`eventName == "A" or eventSource == "B"`, ``},
		{`not (eventName == "A")`, ``},
		{`eventName == "A" and eventName == "B"`, `eventName == "A"`},
		{`let x = 1; userIdentity.type == "Root" and x == 1`, `userIdentity.type == "Root"`},
		{`let eventName = "q"; eventName == "A"`, ``},
		{`userIdentity.sessionContext.sessionIssuer.arn == "a"`, ``},
		{`actor == "a" and requestParameters.name == "n"`, `requestParameters.name == "n"`},
		{`eventName == requestParameters.name`, ``},
		{`eventName in ["A", 1]`, ``},
		{`eventName in []`, `eventName in []`},
	}
	for _, tt := range tests {
		got := describeConstraints(analyze(tt.when, cloudTrailSchema))
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.when, got, tt.want)
		}
	}
	// Without a schema, any non-normalized top-level name is a record field.
	if got := describeConstraints(analyze(`level == "error" and message == "x"`, nil)); got != `level == "error"` {
		t.Errorf("json source: %q", got)
	}
}

// scanPaths are the paths the scanner tests read.
var scanPaths = [][]string{{"eventName"}, {"userIdentity", "type"}, {"userIdentity"}, {"readOnly"}}

func scanAll(raw []byte) []scanValue {
	root := &scanNode{slot: -1}
	next := 0
	for _, p := range scanPaths {
		root.add(p, &next)
	}
	vals := make([]scanValue, next)
	scanRecord(raw, root, vals, nil)
	return vals
}

func TestScanRecord(t *testing.T) {
	type kinds [4]scanKind
	tests := []struct {
		raw  string
		want kinds
		name string // eventName when a string
	}{
		{`{"eventName":"StopLogging","userIdentity":{"type":"Root"},"readOnly":false}`, kinds{scanString, scanString, scanOther, scanFalse}, "StopLogging"},
		{` { "a" : [1, {"eventName": "nested"}], "eventName" : "X" } `, kinds{scanString, scanAbsent, scanAbsent, scanAbsent}, "X"},
		{`{"eventName":"A","eventName":null}`, kinds{scanOther, scanAbsent, scanAbsent, scanAbsent}, ""},
		{`{"eventName":"A\"B"}`, kinds{scanUnknown, scanAbsent, scanAbsent, scanAbsent}, ""},
		{`{"event\u004eame":"A"}`, kinds{scanUnknown, scanUnknown, scanUnknown, scanUnknown}, ""},
		{`{"userIdentity":{"type":"Root"},"userIdentity":"x"}`, kinds{scanAbsent, scanAbsent, scanString, scanAbsent}, ""},
		{`{"userIdentity":{"type":{"x":1}}, "readOnly": true}`, kinds{scanAbsent, scanOther, scanOther, scanTrue}, ""},
		{`{"eventName":"A"`, kinds{scanUnknown, scanUnknown, scanUnknown, scanUnknown}, ""},
		{`{"eventName":"A"} x`, kinds{scanUnknown, scanUnknown, scanUnknown, scanUnknown}, ""},
		{`["eventName"]`, kinds{scanUnknown, scanUnknown, scanUnknown, scanUnknown}, ""},
		{"{\"eventName\":\"\xff\"}", kinds{scanUnknown, scanAbsent, scanAbsent, scanAbsent}, ""},
		{`{"eventName":"a\\"}`, kinds{scanUnknown, scanAbsent, scanAbsent, scanAbsent}, ""},
	}
	for _, tt := range tests {
		vals := scanAll([]byte(tt.raw))
		var got kinds
		for i := range got {
			got[i] = vals[i].kind
		}
		if got != tt.want {
			t.Errorf("%s: kinds %v, want %v", tt.raw, got, tt.want)
		}
		if tt.name != "" && string(vals[0].b) != tt.name {
			t.Errorf("%s: eventName %q", tt.raw, vals[0].b)
		}
	}
}

// checkScan verifies the scanner against a full decode: whatever the
// scanner claims to know must equal what rules would see.
func checkScan(t *testing.T, raw []byte) {
	var env map[string]any
	if err := gojson.Unmarshal(raw, &env); err != nil || env == nil {
		return // the event is not decoded; no verdict can depend on it
	}
	var std map[string]any
	if err := json.Unmarshal(raw, &std); err != nil {
		t.Fatalf("goccy accepted what encoding/json rejects: %q: %v", raw, err)
	}
	vals := scanAll(raw)
	cloudTrailSchema.coerce(env, []string{"eventName", "readOnly"})
	c := &constraint{coerced: true}
	switch v := vals[0]; v.kind {
	case scanUnknown:
	case scanString:
		if env["eventName"] != string(v.b) {
			t.Fatalf("%q: scanned eventName %q, decoded %q", raw, v.b, env["eventName"])
		}
	default:
		c.exact = map[string]struct{}{env["eventName"].(string): {}}
		if !c.pass(v) {
			t.Fatalf("%q: scanned %v, decoded eventName %q", raw, v.kind, env["eventName"])
		}
	}
	ui, _ := env["userIdentity"].(map[string]any)
	if v := vals[1]; v.kind == scanString && (ui == nil || ui["type"] != string(v.b)) {
		t.Fatalf("%q: scanned userIdentity.type %q, decoded %v", raw, v.b, ui)
	}
	if v := vals[3]; (v.kind == scanTrue || v.kind == scanFalse) && env["readOnly"] != (v.kind == scanTrue) {
		t.Fatalf("%q: scanned readOnly %v, decoded %v", raw, v.kind, env["readOnly"])
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`{"eventName":"StopLogging","userIdentity":{"type":"Root"},"readOnly":false}`,
		`{"eventName":"A","eventName":"B","userIdentity":{"type":"IAMUser"},"userIdentity":{}}`,
		`{"eventName":"\u0041","readOnly":"true"}`, `{"eventName":true}`, `{"eventName":12}`,
		`{"userIdentity":[{"type":"Root"}],"eventName":["x"]}`, `{"eventName":"a\\\"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkScan(t, raw) })
}

func TestScanMatchesDecodeOnRecords(t *testing.T) {
	for _, raw := range testRecords(t) {
		checkScan(t, raw)
	}
}

// TestPrefilterNeverChangesVerdict runs the built-in pack with and
// without prefilters over every record at hand.
func TestPrefilterNeverChangesVerdict(t *testing.T) {
	rules := builtinRules(t)
	on, _ := NewEngine(rules)
	off, _ := NewEngine(rules)
	off.noPrefilter = true
	mOn, mOff := on.NewMatcher(), off.NewMatcher()
	n := 0
	for _, ev := range testEvents(t) {
		a, errA := mOn.Match(ev, nil)
		b, _ := mOff.Match(ev, nil)
		if !reflect.DeepEqual(ruleIDs(a), ruleIDs(b)) {
			t.Errorf("event %s: with prefilter %v, without %v", ev.EventID, ruleIDs(a), ruleIDs(b))
		}
		if errA != nil {
			t.Errorf("event %s: %v", ev.EventID, errA)
		}
		n += len(a)
	}
	if n == 0 {
		t.Error("no findings at all")
	}
	d1, _ := on.Decoded()
	d2, _ := off.Decoded()
	t.Logf("%d events, %d findings; decoded %d with prefilters, %d without", len(testEvents(t)), n, d1, d2)
}
