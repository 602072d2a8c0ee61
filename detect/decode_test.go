package detect

import (
	"encoding/json"
	"reflect"
	"testing"

	gojson "github.com/goccy/go-json"
)

var decodeEdgeCases = []string{
	`{"a":1,"a":2}`, "{\"a\":\"x\xffy\"}", `{"a":"\ud800"}`, `{"a":"\u00e9\n"}`, `{"a":12345678901234567890}`,
	`{"a":1.0,"b":-0,"c":1E2,"d":1e-7}`, `{"eventName":"X","eventName":null}`, `{"a":{"b":1},"a":{"c":2}}`,
	`{"a" : [1, {"x":null}] , "b":true,"c":false}`, `{"a":"\u0000"}`, `{"A":1,"a":2}`, `{}`, ` {"a":[]} `,
	`{"a":1e400}`, `{"a":1}x`, `{"a":tru}`, `{"a":01}`, `{"a":[1,]}`, "{\"a\":\"\x01\"}", `{"a\u0062":1}`,
}

// checkDecode compares, for one record, goccy/go-json with encoding/json
// and the selective decode of each field with the full decode.
func checkDecode(t *testing.T, raw []byte) {
	var std, goccy map[string]any
	errStd := json.Unmarshal(raw, &std)
	errGoccy := gojson.Unmarshal(raw, &goccy)
	if (errStd == nil) != (errGoccy == nil) {
		t.Fatalf("%q: encoding/json error %v, goccy error %v", raw, errStd, errGoccy)
	}
	if errStd != nil {
		return
	}
	if !reflect.DeepEqual(std, goccy) {
		t.Fatalf("%q: encoding/json %v, goccy %v", raw, std, goccy)
	}
	members, ok := scanRecord(raw, &scanNode{slot: -1}, nil, nil)
	if !ok || std == nil {
		return // decoded whole
	}
	fields := map[string]uint64{}
	for k := range std {
		fields[k] = 1 << (len(fields) % 64)
	}
	for k, bit := range fields {
		env := map[string]any{}
		if err := decodeMembers(raw, members, fields, bit, env); err != nil {
			t.Fatalf("%q: selective decode: %v", raw, err)
		}
		if !reflect.DeepEqual(env[k], std[k]) {
			t.Fatalf("%q: field %s: selective %#v, full %#v", raw, k, env[k], std[k])
		}
	}
}

func TestDecodeMatchesStdlib(t *testing.T) {
	for _, s := range decodeEdgeCases {
		checkDecode(t, []byte(s))
	}
	for _, raw := range testRecords(t) {
		checkDecode(t, raw)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeEdgeCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkDecode(t, raw) })
}
