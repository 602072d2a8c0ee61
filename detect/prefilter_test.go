package detect

import (
	"encoding/json"
	"reflect"
	"testing"

	gojson "github.com/goccy/go-json"
)

func TestAnalyze(t *testing.T) {
	tests := []struct {
		when, want string
		decides    bool
	}{
		{`eventName == "StopLogging"`, `eventName == "StopLogging"`, true},
		{`"StopLogging" == eventName and errorCode == ""`, `errorCode == "" and eventName == "StopLogging"`, true},
		{`eventName in ["A", "B"] and eventSource startsWith "iam"`, `eventName == "A" | == "B" and eventSource startsWith "iam"`, true},
		{`(eventName == "A" and x()) or eventName endsWith "B"`, `eventName == "A" | endsWith "B"`, false},
		{`(eventName == "A" or eventName endsWith "B") and userIdentity.type == "Root"`, `eventName == "A" | endsWith "B" and userIdentity.type == "Root"`, true},
		{`eventName == "A" or eventSource == "B"`, ``, false},
		{`(eventName == "A" or eventSource == "B") and eventName == "A"`, `eventName == "A"`, false},
		{`not (eventName == "A")`, ``, false},
		{`eventName == "A" and eventName == "B"`, `eventName == "A"`, false},
		{`eventName == "A" and readOnly != true`, `eventName == "A"`, false},
		{`let x = 1; userIdentity.type == "Root" and x == 1`, `userIdentity.type == "Root"`, false},
		{`let eventName = "q"; eventName == "A"`, ``, false},
		{`userIdentity.sessionContext.sessionIssuer.arn == "a"`, ``, false},
		{`actor == "a" and requestParameters.name == "n"`, `requestParameters.name == "n"`, false},
		{`eventName == requestParameters.name`, ``, false},
		{`eventName in ["A", 1]`, ``, false},
		{`eventName in []`, `eventName in []`, true},
	}
	for _, tt := range tests {
		cs, decides := analyze(tt.when, cloudTrailSchema)
		if got := describeConstraints(cs); got != tt.want || decides != tt.decides {
			t.Errorf("%s: got %q (decides %v), want %q (decides %v)", tt.when, got, decides, tt.want, tt.decides)
		}
	}
	// Without a schema, any non-normalized top-level name is a record field.
	if cs, _ := analyze(`level == "error" and message == "x"`, nil); describeConstraints(cs) != `level == "error"` {
		t.Errorf("json source: %q", describeConstraints(cs))
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
		if tt.name != "" && vals[0].s != tt.name {
			t.Errorf("%s: eventName %q", tt.raw, vals[0].s)
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
	checkFill(t, raw, env, vals)
	cloudTrailSchema.coerce(env, []string{"eventName", "readOnly"})
	c := &constraint{coerced: true}
	switch v := vals[0]; v.kind {
	case scanUnknown:
	case scanString:
		if env["eventName"] != v.s {
			t.Fatalf("%q: scanned eventName %q, decoded %q", raw, v.s, env["eventName"])
		}
	default:
		c.exact = map[string]struct{}{env["eventName"].(string): {}}
		if !c.pass(v) {
			t.Fatalf("%q: scanned %v, decoded eventName %q", raw, v.kind, env["eventName"])
		}
	}
	ui, _ := env["userIdentity"].(map[string]any)
	if v := vals[1]; v.kind == scanString && (ui == nil || ui["type"] != v.s) {
		t.Fatalf("%q: scanned userIdentity.type %q, decoded %v", raw, v.s, ui)
	}
	if v := vals[3]; (v.kind == scanTrue || v.kind == scanFalse) && env["readOnly"] != (v.kind == scanTrue) {
		t.Fatalf("%q: scanned readOnly %v, decoded %v", raw, v.kind, env["readOnly"])
	}
}

// checkFill verifies that looking the scanned paths up in the decoded
// record agrees with the raw scan wherever the scan could tell.
func checkFill(t *testing.T, raw []byte, env map[string]any, scanned []scanValue) {
	for i, v := range scanned {
		if v.kind == scanUnknown {
			continue
		}
		if f := lookupSlot(env, scanPaths[i]); f.kind != v.kind || f.s != v.s {
			t.Fatalf("%q: path %v scanned %v %q, filled from the decoded record %v %q", raw, scanPaths[i], v.kind, v.s, f.kind, f.s)
		}
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
		var fields map[string]any
		if json.Unmarshal(ev.Raw, &fields) == nil {
			c, _ := mOn.matchDecoded(ev, fields, nil)
			if !reflect.DeepEqual(ruleIDs(a), ruleIDs(c)) {
				t.Errorf("event %s: Match %v, matchDecoded %v", ev.EventID, ruleIDs(a), ruleIDs(c))
			}
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
