package otlplog

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tripline/tripline/internal/golden"
)

// goldenNow is the ingest clock of the golden tests.
var goldenNow = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// goldenMaxRecordBytes is small enough for huge_record.json to need it.
const goldenMaxRecordBytes = 2048

// protoInputs make the protobuf inputs of the golden test. TestProtoInputs
// checks the committed .pb files against them (and -update rewrites
// them), so that the binary inputs are reviewable as code.
var protoInputs = map[string]func(t *testing.T) []byte{
	// The JSON examples in protobuf.
	"example.pb":        func(t *testing.T) []byte { return jsonToProto(t, "example.json") },
	"multi_resource.pb": func(t *testing.T) []byte { return jsonToProto(t, "multi_resource.json") },
	// Cut off inside the last record.
	"truncated.pb": func(t *testing.T) []byte {
		b := jsonToProto(t, "example.json")
		return b[:len(b)-5]
	},
	// A JSON body sent as protobuf, a common client mistake.
	"json_as_proto.pb": func(t *testing.T) []byte { return readInput(t, "example.json") },
	// A trace id of 8 bytes (must be 16).
	"short_trace_id.pb": func(*testing.T) []byte {
		var rec []byte
		rec = protowire.AppendTag(rec, 1, protowire.Fixed64Type) // time_unix_nano
		rec = protowire.AppendFixed64(rec, 1700000000000000000)
		rec = protowire.AppendTag(rec, 9, protowire.BytesType) // trace_id
		rec = protowire.AppendBytes(rec, []byte{1, 2, 3, 4, 5, 6, 7, 8})
		var sl, rl, req []byte
		sl = protowire.AppendTag(sl, 2, protowire.BytesType) // log_records
		sl = protowire.AppendBytes(sl, rec)
		rl = protowire.AppendTag(rl, 2, protowire.BytesType) // scope_logs
		rl = protowire.AppendBytes(rl, sl)
		req = protowire.AppendTag(req, 1, protowire.BytesType) // resource_logs
		return protowire.AppendBytes(req, rl)
	},
	"edge.pb": edgeProto,
}

// edgeProto has what JSON cannot carry or rarely does: NaN and infinite
// doubles, invalid UTF-8, bytes, a time past 2106, a too-long uid, an SDK
// default service name with a StatefulSet, numbers of odd types.
func edgeProto(*testing.T) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("service.name", "unknown_service")
	ra.PutStr("k8s.statefulset.name", "kafka")
	ra.PutStr("k8s.pod.name", "kafka-0")
	ra.PutStr("cloud.account.id", "my-gcp-project")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("edge")
	sl.Scope().SetVersion("0.0.1")
	t0 := pcommon.Timestamp(1700000000000000000)

	r := sl.LogRecords().AppendEmpty()
	r.SetTimestamp(t0)
	r.SetSeverityNumber(plog.SeverityNumberInfo)
	r.SetSeverityText("ERROR") // the number wins
	r.Body().SetEmptyBytes().FromRaw([]byte{0xde, 0xad, 0xbe, 0xef})
	a := r.Attributes()
	a.PutDouble("nan", math.NaN())
	a.PutDouble("inf", math.Inf(1))
	a.PutDouble("-inf", math.Inf(-1))
	a.PutDouble("tiny", 1e-7)
	a.PutEmptyBytes("bytes").FromRaw([]byte("hi"))
	a.PutStr("bad\xffkey", "bad\xfe\xffvalue")
	a.PutStr("enduser.id", "caf\xe9")
	a.PutDouble("http.response.status_code", 500)
	a.PutInt("http.response.body.size", -1)
	a.PutBool("user_agent.original", true)

	r = sl.LogRecords().AppendEmpty()
	r.SetTimestamp(pcommon.Timestamp(uint64(math.MaxUint64)))
	r.Body().SetStr("time past 2106")

	r = sl.LogRecords().AppendEmpty()
	r.SetTimestamp(t0)
	r.Body().SetStr("a uid over 128 bytes is not an id")
	r.Attributes().PutStr("log.record.uid", strings.Repeat("u", 129))
	r.Attributes().PutDouble("http.status_code", 404.5)
	r.Attributes().PutStr("duration_ms", " 12.5 ")
	r.Attributes().PutEmptyMap("client.address").PutStr("not", "a scalar")

	r = sl.LogRecords().AppendEmpty()
	r.SetObservedTimestamp(t0 + 1)
	r.SetSeverityNumber(plog.SeverityNumberFatal4)
	r.SetTraceID(pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c})
	r.SetSpanID(pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74})
	r.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	r.SetEventName("app.crash")
	r.Body().SetEmptySlice().AppendEmpty().SetDouble(math.NaN())
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		panic(err)
	}
	return b
}

func readInput(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "otlp", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonToProto(t testing.TB, name string) []byte {
	t.Helper()
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalJSON(readInput(t, name)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProtoInputs(t *testing.T) {
	names := make([]string, 0, len(protoInputs))
	for name := range protoInputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		golden.Check(t, filepath.Join("testdata", "otlp", name), protoInputs[name](t))
	}
}

// TestGolden decodes every request in testdata/otlp (the example of
// log-formats.md §8 and edge cases; .json as JSON, .pb as protobuf) and
// compares the events, rejections and response with <input>.golden.
func TestGolden(t *testing.T) {
	var inputs []string
	for _, pat := range []string{"*.json", "*.pb"} {
		m, err := filepath.Glob(filepath.Join("testdata", "otlp", pat))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, m...)
	}
	if len(inputs) < 10 {
		t.Fatalf("only %d inputs", len(inputs))
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			ct := ContentTypeJSON
			if strings.HasSuffix(in, ".pb") {
				ct = ContentTypeProto
			}
			golden.Check(t, in+".golden", render(t, body, ct))
		})
	}
}

// render decodes body and writes what the handler would make of it.
func render(t *testing.T, body []byte, ct string) []byte {
	var out bytes.Buffer
	res, err := Decode(body, ct, goldenMaxRecordBytes, goldenNow)
	if err != nil {
		code := HTTPStatus(err)
		fmt.Fprintf(&out, "error: %v\n", err)
		sb, sct := Status(ct, code, err.Error())
		fmt.Fprintf(&out, "status %d %s: %s\n", code, sct, showStatus(t, sb, sct))
		return out.Bytes()
	}
	for i, ev := range res.Events {
		b, err := json.MarshalIndent(ev, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "event %d:\n%s\n", i, b)
	}
	for _, r := range res.Rejected {
		fmt.Fprintf(&out, "rejected %d (%s): %v\ndead letter: %s\n", r.Index, r.Reason, r.Err, r.Record)
	}
	rb, rct, err := Response(ct, len(res.Rejected), res.Message())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "response 200 %s: %s\n", rct, showResponse(t, rb, rct))
	return out.Bytes()
}

// showResponse renders a response body; a protobuf one as hex and JSON.
func showResponse(t *testing.T, b []byte, ct string) string {
	if ct == ContentTypeJSON {
		return string(b)
	}
	resp := plogotlp.NewExportResponse()
	if err := resp.UnmarshalProto(b); err != nil {
		t.Fatalf("response does not unmarshal: %v", err)
	}
	j, err := resp.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s (hex %s)", j, hex.EncodeToString(b))
}

// showStatus renders a google.rpc.Status body; a protobuf one decoded.
func showStatus(t *testing.T, b []byte, ct string) string {
	if ct == ContentTypeJSON {
		return string(b)
	}
	st := decodeStatusProto(t, b)
	return fmt.Sprintf("code=%d message=%q", st.GetCode(), st.GetMessage())
}
