package otlplog

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tripline/tripline/internal/event"
)

func decodeStatusProto(t testing.TB, b []byte) *rpcstatus.Status {
	t.Helper()
	var st rpcstatus.Status
	if err := proto.Unmarshal(b, &st); err != nil {
		t.Fatalf("status does not unmarshal as google.rpc.Status: %v", err)
	}
	return &st
}

func TestMediaType(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"application/json", ContentTypeJSON},
		{"application/json; charset=utf-8", ContentTypeJSON},
		{"Application/JSON", ContentTypeJSON},
		{"application/x-protobuf", ContentTypeProto},
		{"application/x-protobuf ; proto=opentelemetry", ContentTypeProto},
		{"application/protobuf", ""},
		{"text/plain", ""},
		{"application/x-ndjson", ""},
		{"", ""},
		{"application/json; =", ""},
	} {
		got, err := mediaType(tc.in)
		if got != tc.want || (tc.want == "") != errors.Is(err, ErrUnsupportedMediaType) {
			t.Errorf("mediaType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	_, err := Decode([]byte("{}"), "text/plain", 0, time.Now())
	if !errors.Is(err, ErrUnsupportedMediaType) || HTTPStatus(err) != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %v", err)
	}
	if _, _, err := Response("text/plain", 0, ""); !errors.Is(err, ErrUnsupportedMediaType) {
		t.Fatalf("Response(text/plain): %v", err)
	}
}

func TestHTTPStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{ErrBadRequest, 400},
		{ErrUnsupportedMediaType, 415},
		{ErrTooManyRecords, 413},
		{errors.New("other"), 500},
	} {
		if got := HTTPStatus(tc.err); got != tc.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// manyRecords is a request of n records in resources of 3 records.
func manyRecords(n int) plog.Logs {
	ld := plog.NewLogs()
	var sl plog.ScopeLogs
	for i := range n {
		if i%3 == 0 {
			sl = ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
		}
		sl.LogRecords().AppendEmpty() // an empty record: 2 bytes of protobuf
	}
	return ld
}

func TestTooManyRecords(t *testing.T) {
	req := plogotlp.NewExportRequestFromLogs(manyRecords(10))
	pb, _ := req.MarshalProto()
	js, _ := req.MarshalJSON()
	if n, ok := countProtoRecords(pb); !ok || n != 10 {
		t.Fatalf("countProtoRecords = %d, %v; want 10", n, ok)
	}
	for _, tc := range []struct {
		body []byte
		ct   string
	}{{pb, ContentTypeProto}, {js, ContentTypeJSON}} {
		_, err := DecodeLimits(tc.body, tc.ct, Limits{MaxRecords: 9}, time.Now())
		if !errors.Is(err, ErrTooManyRecords) || HTTPStatus(err) != http.StatusRequestEntityTooLarge {
			t.Errorf("%s, 10 records, limit 9: %v", tc.ct, err)
		}
		res, err := DecodeLimits(tc.body, tc.ct, Limits{MaxRecords: 10}, time.Now())
		if err != nil || len(res.Events) != 10 {
			t.Errorf("%s, 10 records, limit 10: %d events, %v", tc.ct, len(res.Events), err)
		}
	}
	if n, ok := countProtoRecords([]byte{0x0a, 0x05, 0x12}); ok {
		t.Fatalf("a truncated body counted %d", n)
	}
}

// TestCountRecords: the counts before unmarshaling agree with pdata's.
func TestCountRecords(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "otlp", "*.json"))
	for _, f := range files {
		body, _ := os.ReadFile(f)
		req := plogotlp.NewExportRequest()
		if _, err := Decode(body, ContentTypeJSON, 0, time.Now()); err != nil || req.UnmarshalJSON(body) != nil {
			continue
		}
		want := req.Logs().LogRecordCount()
		if got, end := scanJSON(body); got != want || end != len(bytes.TrimRight(body, " \n")) {
			t.Errorf("%s: scanJSON = %d, %d; want %d records", f, got, end, want)
		}
		pb, _ := req.MarshalProto()
		if got, ok := countProtoRecords(pb); !ok || got != want {
			t.Errorf("%s: countProtoRecords = %d, %v, want %d", f, got, ok, want)
		}
	}
	for _, tc := range []struct {
		body      string
		want, end int
	}{
		{`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"body":{"stringValue":"\"logRecords\":[{},{}]"}}]}]}]}`, 2, 0},
		{`{"resource_logs":[{"scope_logs":[{"log_records" : [ {"attributes":[{"key":"a","value":{}}]} ]}]}]} `, 1, 0},
		{`{"logRecords":[{}, {`, 2, 0},
		{`"unterminated`, 0, 0},
		{`{}{"logRecords":[{}]}`, 1, 2},
	} {
		end := tc.end
		if end == 0 && strings.HasSuffix(strings.TrimSpace(tc.body), "}") {
			end = len(strings.TrimSpace(tc.body))
		}
		if got, gotEnd := scanJSON([]byte(tc.body)); got != tc.want || gotEnd != end {
			t.Errorf("scanJSON(%s) = %d, %d; want %d, %d", tc.body, got, gotEnd, tc.want, end)
		}
	}
}

func TestResponse(t *testing.T) {
	for _, tc := range []struct {
		ct       string
		rejected int
		msg      string
		wantJSON string
	}{
		{ContentTypeJSON, 0, "", `{}`}, // partial_success unset
		{ContentTypeJSON, -1, "", `{}`},
		{ContentTypeJSON, 2, "2 log records rejected", `{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"2 log records rejected"}}`},
		{ContentTypeJSON, 0, "a warning", `{"partialSuccess":{"errorMessage":"a warning"}}`},
		{"application/json; charset=utf-8", 1, "", `{"partialSuccess":{"rejectedLogRecords":"1"}}`},
		{ContentTypeProto, 0, "", `{}`},
		{ContentTypeProto, 3, "bad time", `{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"bad time"}}`},
	} {
		b, ct, err := Response(tc.ct, tc.rejected, tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		resp := plogotlp.NewExportResponse()
		if strings.HasPrefix(tc.ct, ContentTypeJSON) {
			if ct != ContentTypeJSON || string(b) != tc.wantJSON {
				t.Errorf("Response(%q, %d, %q) = %s %s, want %s", tc.ct, tc.rejected, tc.msg, ct, b, tc.wantJSON)
			}
			continue
		}
		if ct != ContentTypeProto || (tc.rejected == 0 && tc.msg == "" && len(b) != 0) {
			t.Errorf("Response(%q, %d, %q) = %s %x", tc.ct, tc.rejected, tc.msg, ct, b)
		}
		if len(b) == 0 && tc.wantJSON == `{}` {
			continue // pdata would render the unset field as {"partialSuccess":{}}
		}
		if err := resp.UnmarshalProto(b); err != nil {
			t.Fatal(err)
		}
		if j, _ := resp.MarshalJSON(); string(j) != tc.wantJSON {
			t.Errorf("Response(%q, %d, %q) = %s, want %s", tc.ct, tc.rejected, tc.msg, j, tc.wantJSON)
		}
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		http int
		code int32
	}{
		{400, 3}, {401, 16}, {403, 7}, {404, 12}, {413, 2}, {415, 2}, {429, 8},
		{500, 2}, {502, 14}, {503, 14}, {504, 14},
	} {
		msg := "events not stored, retry"
		b, ct := Status(ContentTypeProto, tc.http, msg)
		st := decodeStatusProto(t, b)
		if ct != ContentTypeProto || st.GetCode() != tc.code || st.GetMessage() != msg {
			t.Errorf("Status(proto, %d) = %s %v, want code %d", tc.http, ct, st, tc.code)
		}
		b, ct = Status("application/json; charset=utf-8", tc.http, msg)
		var js rpcstatus.Status
		if err := protojson.Unmarshal(b, &js); err != nil || ct != ContentTypeJSON || js.GetCode() != tc.code || js.GetMessage() != msg {
			t.Errorf("Status(json, %d) = %s %s (%v), want code %d", tc.http, ct, b, err, tc.code)
		}
	}
	// An unsupported content type is answered in JSON; an empty message
	// is left out; invalid UTF-8 cannot break the protobuf string.
	if b, ct := Status("text/plain", 415, ""); ct != ContentTypeJSON || string(b) != `{"code":2}` {
		t.Errorf("Status(text/plain) = %s %s", ct, b)
	}
	b, _ := Status(ContentTypeProto, 400, "bad \xff byte")
	if st := decodeStatusProto(t, b); st.GetMessage() != "bad \uFFFD byte" {
		t.Errorf("message %q", st.GetMessage())
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		sev    plog.SeverityNumber
		text   string
		status int
		want   string
	}{
		{0, "", 0, ""},
		{plog.SeverityNumberInfo, "INFO", 0, ""},
		{plog.SeverityNumberWarn4, "", 0, ""},
		{plog.SeverityNumberError, "", 0, event.OutcomeFailure},
		{plog.SeverityNumberFatal4, "", 200, event.OutcomeFailure},
		{0, "error", 0, event.OutcomeFailure},
		{0, " Critical ", 0, event.OutcomeFailure},
		{plog.SeverityNumberInfo, "ERROR", 0, ""}, // the number wins over the text
		{0, "", 200, event.OutcomeSuccess},
		{0, "", 302, event.OutcomeSuccess},
		{0, "", 404, event.OutcomeFailure},
		{plog.SeverityNumberDebug, "", 503, event.OutcomeFailure},
	} {
		lr := plog.NewLogRecord()
		lr.SetSeverityNumber(tc.sev)
		lr.SetSeverityText(tc.text)
		if got := outcome(lr, tc.status); got != tc.want {
			t.Errorf("outcome(%d, %q, %d) = %q, want %q", tc.sev, tc.text, tc.status, got, tc.want)
		}
	}
}

// TestRawMapOrder: keys are sorted, the first of repeated keys is kept,
// and the encoder's scratch space survives nested maps.
func TestRawMapOrder(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("b", "1")
	inner := m.PutEmptyMap("a")
	inner.PutInt("z", 1)
	inner.PutEmptyMap("y").PutBool("x", true)
	inner.PutInt("w", 2)
	m.PutEmptySlice("c").AppendEmpty().SetEmptyMap().PutStr("k", "v")
	var enc rawEncoder
	for range 2 {
		if got, want := string(enc.appendMap(nil, m)), `{"a":{"w":2,"y":{"x":true},"z":1},"b":"1","c":[{"k":"v"}]}`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	// Repeated keys come only from the wire.
	req := plogotlp.NewExportRequest()
	err := req.UnmarshalJSON([]byte(`{"resourceLogs":[{"resource":{"attributes":[
		{"key":"k","value":{"stringValue":"first"}},{"key":"a","value":{}},{"key":"k","value":{"stringValue":"second"}}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	attrs := req.Logs().ResourceLogs().At(0).Resource().Attributes()
	if got, want := string(enc.appendMap(nil, attrs)), `{"a":null,"k":"first"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestDeadLetterReplay: a rejected record's dead letter is a request that
// decodes (once the limit is lifted) to the event it would have been,
// with the same id.
func TestDeadLetterReplay(t *testing.T) {
	body := readInput(t, "huge_record.json")
	all, err := Decode(body, ContentTypeJSON, 0, goldenNow)
	if err != nil || len(all.Rejected) != 0 || len(all.Events) != 4 {
		t.Fatalf("without a limit: %d events, %d rejected, %v", len(all.Events), len(all.Rejected), err)
	}
	res, err := Decode(body, ContentTypeJSON, goldenMaxRecordBytes, goldenNow)
	if err != nil || len(res.Rejected) != 2 {
		t.Fatalf("with a limit: %d rejected, %v", len(res.Rejected), err)
	}
	for _, r := range res.Rejected {
		again, err := Decode(r.Record, ContentTypeJSON, 0, goldenNow)
		if err != nil || len(again.Events) != 1 {
			t.Fatalf("dead letter %d: %d events, %v", r.Index, len(again.Events), err)
		}
		if !reflect.DeepEqual(again.Events[0], all.Events[r.Index]) {
			t.Errorf("dead letter %d decodes to\n%+v\nwant\n%+v", r.Index, again.Events[0], all.Events[r.Index])
		}
	}
}

// TestDecodeBothEncodings: a request decodes to the same result as
// protobuf and as JSON.
func TestDecodeBothEncodings(t *testing.T) {
	for _, name := range []string{"example.json", "multi_resource.json", "map_body.json", "ids.json", "unicode.json", "huge_record.json", "bad_time.json"} {
		js := readInput(t, name)
		a, err := Decode(js, ContentTypeJSON, goldenMaxRecordBytes, goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Decode(jsonToProto(t, name), ContentTypeProto, goldenMaxRecordBytes, goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Events, b.Events) || len(a.Rejected) != len(b.Rejected) {
			t.Errorf("%s: JSON and protobuf decode differently", name)
		}
	}
}
