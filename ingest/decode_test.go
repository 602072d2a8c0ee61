package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/golden"
)

// TestGolden decodes every testdata/<source>/* (one body, framed as JSON,
// as NDJSON when named *.ndjson, as a text/plain body when named *.log or
// *.txt) and compares the normalized events
// with the .golden file beside it.
func TestGolden(t *testing.T) {
	fixed := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	decs := Decoders(DefaultSourceConfig)
	decs["json"] = JSONLog{Config: DefaultJSONConfig, Now: func() time.Time { return fixed }}
	files, _ := filepath.Glob("testdata/*/*")
	n := 0
	for _, in := range files {
		if fi, err := os.Stat(in); strings.HasSuffix(in, ".golden") || err != nil || fi.IsDir() {
			continue // testdata/fuzz holds fuzzing corpora
		}
		n++
		source := filepath.Base(filepath.Dir(in))
		t.Run(source+"/"+filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			framing := FrameJSON
			switch filepath.Ext(in) {
			case ".ndjson":
				framing = FrameNDJSON
			case ".log", ".txt":
				framing = framingFor(FrameLines, decs[source])
			}
			var evs []event.Event
			err = SplitRecords(body, framing, Envelopes(decs[source]), func(rec []byte) error {
				var ev event.Event
				if err := decs[source].Decode(rec, &ev); err != nil {
					return err
				}
				evs = append(evs, ev)
				return nil
			})
			var got bytes.Buffer
			if err != nil {
				got.WriteString("error: " + err.Error() + "\n")
			}
			for _, ev := range evs {
				ev.Raw = nil // the input file holds it
				b, _ := json.MarshalIndent(ev, "", "  ")
				got.Write(b)
				got.WriteByte('\n')
			}
			golden.Check(t, in+".golden", got.Bytes())
		})
	}
	if n == 0 {
		t.Fatal("no golden inputs in testdata")
	}
}

// FuzzSplitRecords: any body either yields records that the decoders
// accept or reject with a RecordError on a line of the body; it never
// panics or hangs. Every record starts as an object and is a sub-slice of
// the body; a body accepted as one JSON value is valid JSON.
func FuzzSplitRecords(f *testing.F) {
	for _, seed := range []string{
		`{"Records":[{"eventName":"A","eventSource":"b","eventTime":"2026-01-01T00:00:00Z"}]}`,
		`[{"a":1},{"b":2}]`, "{\"a\":1}\n{\"b\":\n", `{"detail-type":"x","detail":{"eventName":"A"}}`,
		"", "\n\n", `[`, `{"Records":null}`, `"str"`, `[{"a":"]"} , {"b":"\\\""}]`,
		"{\n \"Records\": [\n  {\"a\": 1},\n  {\"b\": [2, {}]}\n ],\n \"x\": tru\n}",
		`{"msg":"m","Records":[]}`, `[[{"a":1}], 1]`, `{"Records":[1]}`, "{}\v",
		`{"kind":"EventList","items":[{"auditID":"a","stage":"s","verb":"get","stageTimestamp":"2026-01-01T00:00:00Z"}]}`,
		`{"kind":"EventList","items":[{"kind":"EventList","items":[]}],"x":1}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	decs := Decoders(DefaultSourceConfig)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		framing := FrameJSON
		if ndjson {
			framing = FrameNDJSON
		}
		lines := bytes.Count(body, []byte{'\n'}) + 1
		for _, d := range decs {
			err := SplitRecords(body, framing, Envelopes(d), func(rec []byte) error {
				if len(rec) == 0 || rec[0] != '{' {
					t.Fatalf("record %q is not an object", rec)
				}
				if cap(rec) > 0 && !within(body, rec) {
					t.Fatalf("record %q is not part of the body", rec)
				}
				var ev event.Event
				if err := d.Decode(rec, &ev); err != nil {
					return err
				}
				if ev.EventID == "" || ev.Source == "" {
					t.Fatalf("decoded event without id or source from %q", rec)
				}
				if !timeInRange(ev.Time) {
					t.Fatalf("time %v out of range from %q", ev.Time, rec)
				}
				return nil
			})
			if err != nil {
				re, ok := err.(*RecordError)
				if !ok {
					t.Fatalf("error %v is not a *RecordError", err)
				}
				if re.Line < 1 || re.Line > lines {
					t.Fatalf("error %v: line %d of a body of %d lines", err, re.Line, lines)
				}
			} else if framing == FrameJSON && !json.Valid(body) {
				t.Fatalf("invalid JSON body %q accepted", body)
			}
			checkLenient(t, body, framing, Envelopes(d), d)
		}
	})
}

// checkLenient splits body as ingest does, rejecting bad records alone:
// every record is either decoded or rejected, and no decoded record lies
// inside a rejected one (a line is stored or rejected whole).
func checkLenient(t *testing.T, body []byte, framing Framing, env Envelope, d Decoder) {
	var kept, rejected [][]byte
	err := splitRecords(body, framing, env, func(rec []byte) error {
		var ev event.Event
		if err := d.Decode(rec, &ev); err != nil {
			return &Rejection{Reason: "bad_record", Err: err}
		}
		kept = append(kept, rec)
		return nil
	}, func(re *RecordError, rec []byte) error {
		if _, ok := errors.AsType[*Rejection](re.Err); !ok && !re.framing {
			t.Fatalf("rejected %q for %v, neither the record's nor the framing's fault", rec, re)
		}
		rejected = append(rejected, rec)
		return nil
	})
	if err != nil && framing == FrameNDJSON {
		t.Fatalf("lenient NDJSON split failed: %v", err)
	}
	for _, r := range rejected {
		for _, k := range kept {
			if len(k) > 0 && within(r, k) {
				t.Fatalf("record %q both kept and inside rejected %q", k, r)
			}
		}
	}
}

// within says whether sub is a sub-slice of b.
func within(b, sub []byte) bool {
	if len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= start && p+uintptr(len(sub)) <= start+uintptr(len(b))
}

// FuzzCloudTrail: a decoded record always has the fields rules rely on.
func FuzzCloudTrail(f *testing.F) {
	files, _ := filepath.Glob("testdata/cloudtrail/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"eventName":"X","eventSource":"y","eventTime":"2026-11-24T09:00:00Z","userIdentity":null,"requestParameters":"str"}`))
	f.Add([]byte(`{"eventName":"X","eventSource":"y","eventTime":"2026-11-24T09:00:00Z","userIdentity":{"userName":5},"requestParameters":{"name":{"first":"a"}},"errorCode":123}`))
	f.Add([]byte(`{"eventName":"X","eventSource":"y","eventTime":"9999-12-31T23:59:59Z"}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		var ev event.Event
		if err := (CloudTrail{}).Decode(rec, &ev); err != nil {
			return
		}
		if ev.Action == "" || ev.Service == "" || !timeInRange(ev.Time) || ev.EventID == "" {
			t.Fatalf("incomplete event %+v from %q", ev, rec)
		}
		if ev.Outcome != event.OutcomeSuccess && ev.Outcome != event.OutcomeFailure {
			t.Fatalf("outcome %q", ev.Outcome)
		}
	})
}

// TestSplitRecords checks which records a body holds and, for a bad body,
// the record and line an error names. fn fails on records that mention
// "bad", as a decoder would.
func TestSplitRecords(t *testing.T) {
	const ct = EnvelopeCloudTrailFile | EnvelopeEventBridge
	pretty := "{\n  \"Records\": [\n    {\n      \"n\": 1\n    },\n    {\n      \"n\": 2\n    },\n    {\n      \"n\": \"bad\"\n    }\n  ]\n}\n"
	tests := []struct {
		name      string
		body      string
		ndjson    bool
		envelopes Envelope
		want      []string // records, or with err the records before it
		err       string   // substring of the error
		line, idx int      // of the error
	}{
		{name: "object", body: ` {"a":1} `, want: []string{`{"a":1}`}},
		{name: "array", body: `[{"a":1}, {"b":"]}\"["}]`, want: []string{`{"a":1}`, `{"b":"]}\"["}`}},
		{name: "empty array", body: ` [ ] `},
		{name: "S3 file", body: `{"Records":[{"a":1},{"b":2}]}`, envelopes: ct, want: []string{`{"a":1}`, `{"b":2}`}},
		{name: "S3 file, no envelopes", body: `{"Records":[{"a":1}]}`, want: []string{`{"Records":[{"a":1}]}`}},
		{name: "log line with Records", body: `{"msg":"lambda got event","Records":[]}`, want: []string{`{"msg":"lambda got event","Records":[]}`}},
		{name: "empty S3 file", body: `{"Records": []}`, envelopes: ct},
		{name: "Records null", body: `{"Records":null}`, envelopes: ct, want: []string{`{"Records":null}`}},
		{name: "EventBridge", body: `{"detail-type":"x","source":"aws.s3","detail":{"a":1}}`, envelopes: ct, want: []string{`{"a":1}`}},
		{name: "EventBridge, no envelopes", body: `{"detail-type":"x","detail":{"a":1}}`, want: []string{`{"detail-type":"x","detail":{"a":1}}`}},
		{name: "detail without detail-type", body: `{"detail":{"a":1}}`, envelopes: ct, want: []string{`{"detail":{"a":1}}`}},
		{name: "array of S3 files", body: `[{"Records":[{"a":1}]},{"Records":[{"b":2}]}]`, envelopes: ct, want: []string{`{"a":1}`, `{"b":2}`}},
		{name: "records are not opened twice", body: `{"Records":[{"Records":[{"a":1}]}]}`, envelopes: ct, want: []string{`{"Records":[{"a":1}]}`}},
		{name: "malformed envelope goes to the decoder", body: `{"Records":[{"a":1}], "x": tru}`, envelopes: ct, want: []string{`{"Records":[{"a":1}], "x": tru}`}},
		{name: "EventList", body: `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"a":1},{"b":2}]}`, envelopes: EnvelopeEventList, want: []string{`{"a":1}`, `{"b":2}`}},
		{name: "EventList, CloudTrail envelopes only", body: `{"kind":"EventList","items":[{"a":1}]}`, envelopes: ct, want: []string{`{"kind":"EventList","items":[{"a":1}]}`}},
		{name: "S3 file, EventList envelopes only", body: `{"Records":[{"a":1}]}`, envelopes: EnvelopeEventList, want: []string{`{"Records":[{"a":1}]}`}},
		{name: "items without kind EventList", body: `{"kind":"List","items":[{"a":1}]}`, envelopes: EnvelopeEventList, want: []string{`{"kind":"List","items":[{"a":1}]}`}},
		{name: "empty EventList", body: `{"kind":"EventList","items":[]}`, envelopes: EnvelopeEventList},
		{name: "EventList items null", body: `{"kind":"EventList","items":null}`, envelopes: EnvelopeEventList, want: []string{`{"kind":"EventList","items":null}`}},
		{name: "EventList lines", body: "{\"kind\":\"EventList\",\"items\":[{\"a\":1}]}\n{\"b\":2}\n", ndjson: true, envelopes: EnvelopeEventList, want: []string{`{"a":1}`, `{"b":2}`}},
		{name: "bad item in a pretty EventList", body: "{\n \"kind\": \"EventList\",\n \"items\": [\n  {\"n\": 1},\n  {\"n\": \"bad\"}\n ]\n}", envelopes: EnvelopeEventList, want: []string{`{"n": 1}`}, err: "bad record", line: 5, idx: 1},
		{name: "NDJSON lines", body: "{\"a\":1}\r\n\n [{\"b\":2}]\n", ndjson: true, want: []string{`{"a":1}`, `{"b":2}`}},

		{name: "bad record in a pretty S3 file", body: pretty, envelopes: ct, want: []string{"{\n      \"n\": 1\n    }", "{\n      \"n\": 2\n    }"}, err: "bad record", line: 9, idx: 2},
		{name: "bad record in a pretty array", body: "[\n{\"a\":1},\n\n  {\"a\":\"bad\"}\n]", want: []string{`{"a":1}`}, err: "bad record", line: 4, idx: 1},
		{name: "bad record in an NDJSON array", body: "{\"a\":1}\n[{\"a\":2},\n", ndjson: true, want: []string{`{"a":1}`, `{"a":2}`}, err: "unexpected end of the array", line: 2, idx: 2},
		{name: "scalar", body: `42`, err: "want a JSON object or array", line: 1},
		{name: "scalar in an array", body: "[{\"a\":1},\n 42]", want: []string{`{"a":1}`}, err: `want a JSON object in the array, got "42"`, line: 2, idx: 1},
		{name: "scalar in Records", body: `{"Records":[1]}`, envelopes: ct, err: "want a JSON object in the array", line: 1},
		{name: "trailing comma", body: `[{"a":1},]`, want: []string{`{"a":1}`}, err: "invalid JSON", line: 1, idx: 1},
		{name: "missing comma", body: "[{\"a\":1}\n{\"b\":2}]", want: []string{`{"a":1}`}, err: "want ',' or ']'", line: 2, idx: 1},
		{name: "data after the array", body: "[{\"a\":1}]\n]", want: []string{`{"a":1}`}, err: "data after the array", line: 2, idx: 1},
		{name: "unterminated", body: "[\n{\"a\":\"}]", err: "unterminated", line: 2},
		{name: "empty", body: " \n ", err: "empty record", line: 1},
	}
	errBad := errors.New("bad record")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			framing := FrameJSON
			if tt.ndjson {
				framing = FrameNDJSON
			}
			var got []string
			err := SplitRecords([]byte(tt.body), framing, tt.envelopes, func(rec []byte) error {
				if bytes.Contains(rec, []byte("bad")) {
					return errBad
				}
				got = append(got, string(rec))
				return nil
			})
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("records %q, want %q", got, tt.want)
			}
			if tt.err == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			var re *RecordError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.err) || re.Line != tt.line || re.Index != tt.idx {
				t.Fatalf("error %v, want record %d line %d: …%s…", err, tt.idx+1, tt.line, tt.err)
			}
		})
	}
}

// TestDecodeTimeRange: times the bus or ClickHouse cannot hold are rejected
// naming the field (text), or are no usable time (JSON numbers).
func TestDecodeTimeRange(t *testing.T) {
	clock := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ct := func(tm string) string {
		return `{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com","eventTime":"` + tm + `","eventID":"x"}`
	}
	tests := []struct {
		source, rec string
		want        time.Time // zero with err
		err         string
	}{
		{"cloudtrail", ct("3000-01-01T00:00:00Z"), time.Time{}, "eventTime 3000-01-01T00:00:00Z is out of range (1970–2105)"},
		{"cloudtrail", ct("1969-12-31T23:59:59Z"), time.Time{}, "eventTime 1969-12-31T23:59:59Z is out of range (1970–2105)"},
		{"cloudtrail", ct("2106-01-01T00:00:00Z"), time.Time{}, "out of range"},
		{"cloudtrail", ct("2105-12-31T20:00:00-05:00"), time.Time{}, "out of range"}, // 2106 in UTC
		{"cloudtrail", ct("0001-01-01T00:00:00Z"), time.Time{}, "out of range"},
		{"cloudtrail", ct("1970-01-01T00:00:00Z"), time.Unix(0, 0).UTC(), ""},
		{"cloudtrail", ct("2105-12-31T23:59:59Z"), time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC), ""},
		{"json", `{"time":"3000-01-01T00:00:00Z"}`, time.Time{}, "time 3000-01-01T00:00:00Z is out of range (1970–2105)"},
		{"json", `{"@timestamp":"1900-01-01T00:00:00Z"}`, time.Time{}, "@timestamp 1900-01-01T00:00:00Z is out of range"},
		{"json", `{"ts":1e300}`, clock, ""},
		{"json", `{"ts":18446744073709551616}`, clock, ""},
		{"json", `{"ts":9223372036854775807}`, clock, ""}, // 2262 in ns
		{"json", `{"ts":-1764147600}`, clock, ""},
		{"json", `{"ts":0}`, clock, ""},
		{"json", `{"ts":4291747199}`, time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC), ""},
		{"json", `{"ts":1764147600123}`, time.UnixMilli(1764147600123).UTC(), ""},
		{"json", `{"ts":1764147600123456789}`, time.Unix(0, 1764147600123456789).UTC(), ""},
	}
	decs := map[string]Decoder{"cloudtrail": CloudTrail{}, "json": JSONLog{Config: DefaultJSONConfig, Now: func() time.Time { return clock }}}
	for _, tt := range tests {
		var ev event.Event
		err := decs[tt.source].Decode([]byte(tt.rec), &ev)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %s: error %v, want …%s…", tt.source, tt.rec, err, tt.err)
			}
			continue
		}
		if err != nil || !ev.Time.Equal(tt.want) {
			t.Errorf("%s %s: time %v, %v; want %v", tt.source, tt.rec, ev.Time, err, tt.want)
		}
	}
}

// TestCloudTrailLenient: fields of unexpected JSON types are left empty,
// but eventName, eventSource and eventTime must be strings.
func TestCloudTrailLenient(t *testing.T) {
	const base = `"eventName":"GetFunction","eventSource":"lambda.amazonaws.com","eventTime":"2026-11-24T09:00:00Z"`
	tests := []struct {
		rec    string
		err    string
		target string
		actor  string
	}{
		{rec: `{` + base + `,"requestParameters":{"name":{"first":"a"},"roleName":"r"}}`, target: "r"},
		{rec: `{` + base + `,"userIdentity":{"userName":5,"arn":"arn:x"}}`, actor: "arn:x"},
		{rec: `{` + base + `,"errorCode":123,"errorMessage":[],"awsRegion":{}}`},
		{rec: `{` + base + `,"userIdentity":"root","requestParameters":"str","responseElements":7}`},
		{rec: `{` + base + `,"userIdentity":{"sessionContext":{"sessionIssuer":"x"}},"eventID":{"id":1}}`},
		{rec: `{"eventName":5,"eventSource":"s","eventTime":"2026-11-24T09:00:00Z"}`, err: "eventName and eventSource are required, as strings"},
		{rec: `{"eventName":"n","eventSource":["s"],"eventTime":"2026-11-24T09:00:00Z"}`, err: "eventName and eventSource are required, as strings"},
		{rec: `{"eventName":"n","eventSource":"s","eventTime":1764147600}`, err: "eventTime is required, as an RFC 3339 string"},
		{rec: `{"eventName":"n","eventSource":"s","eventTime":"2026-11-24T09:00:00Z",}`, err: "invalid JSON"},
	}
	for _, tt := range tests {
		var ev event.Event
		err := CloudTrail{}.Decode([]byte(tt.rec), &ev)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want …%s…", tt.rec, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.rec, err)
			continue
		}
		if ev.Target != tt.target || ev.Actor != tt.actor || ev.ErrorCode != "" || ev.EventID == "" || string(ev.Raw) != tt.rec {
			t.Errorf("%s: got %+v", tt.rec, ev)
		}
	}
}

// FuzzK8sAudit: a decoded Kubernetes audit event always has the fields
// rules rely on, and its id is auditID/stage.
func FuzzK8sAudit(f *testing.F) {
	for _, p := range []string{"testdata/k8s-audit/single_event.json", "testdata/k8s-audit/webhook_eventlist.json"} {
		b, _ := os.ReadFile(p)
		_ = SplitRecords(b, FrameJSON, EnvelopeEventList, func(rec []byte) error { f.Add(rec); return nil })
	}
	f.Add([]byte(`{"auditID":"a","stage":"s","verb":"get","stageTimestamp":"2026-11-24T09:00:00Z","objectRef":"x","responseStatus":{"code":1e9},"sourceIPs":[1]}`))
	f.Add([]byte(`{"auditID":"a","stage":"s","verb":"get","requestReceivedTimestamp":"9999-12-31T23:59:59Z"}`))
	f.Add([]byte(`{"kind":"EventList","items":null}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		var ev event.Event
		if err := (K8sAudit{}).Decode(rec, &ev); err != nil {
			return
		}
		if ev.Action == "" || ev.Source != "k8s-audit" || !timeInRange(ev.Time) || ev.EventID == "" || !strings.Contains(ev.EventID, "/") {
			t.Fatalf("incomplete event %+v from %q", ev, rec)
		}
		switch {
		case ev.StatusCode == 0 && ev.Outcome != "",
			ev.StatusCode != 0 && ev.StatusCode < 400 && ev.Outcome != event.OutcomeSuccess,
			ev.StatusCode >= 400 && ev.Outcome != event.OutcomeFailure:
			t.Fatalf("outcome %q for status %d", ev.Outcome, ev.StatusCode)
		}
	})
}

// FuzzLambda: a decoded Lambda record always names its function and kind.
func FuzzLambda(f *testing.F) {
	in, _ := os.ReadFile("testdata/lambda/invocation.ndjson")
	for l := range strings.SplitSeq(string(in), "\n") {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var ev event.Event
		if err := (Lambda{}).Decode(rec, &ev); err != nil {
			return
		}
		if ev.Service == "" || ev.Action == "" || ev.EventID == "" || !timeInRange(ev.Time) {
			t.Fatalf("incomplete event %+v from %q", ev, rec)
		}
	})
}
