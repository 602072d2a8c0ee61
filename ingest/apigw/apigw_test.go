package apigw

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/golden"
)

// The ingest package's decoder interfaces.
var _ interface {
	Decode([]byte, *event.Event) error
	ContentIDs() bool
	LineRecords() bool
} = Decoder{}

var fixedNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func testDecoder(cfg Config) Decoder {
	return Decoder{Config: cfg, Now: func() time.Time { return fixedNow }}
}

// cwlMessage is one case of a *.cwl.json golden input for DecodeMessage.
type cwlMessage struct {
	LogGroup  string `json:"logGroup"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

// TestGolden decodes testdata/apigateway/*.log line by line (with the
// Config of <name>.keymap.json when there is one) and the CloudWatch Logs
// messages of *.cwl.json with DecodeMessage, and compares the events (or
// "error: ..." lines) with the .golden file beside each input.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/apigateway/*")
	n := 0
	for _, in := range files {
		if strings.HasSuffix(in, ".golden") || strings.HasSuffix(in, ".keymap.json") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			write := func(ev *event.Event, err error) {
				if err != nil {
					got.WriteString("error: " + err.Error() + "\n")
					return
				}
				b, err := json.MarshalIndent(ev, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got.Write(b)
				got.WriteByte('\n')
			}
			if strings.HasSuffix(in, ".cwl.json") {
				var msgs []cwlMessage
				if err := json.Unmarshal(body, &msgs); err != nil {
					t.Fatal(err)
				}
				dec := testDecoder(Config{})
				for _, m := range msgs {
					var ev event.Event
					err := dec.DecodeMessage(m.Message, m.LogGroup, time.UnixMilli(m.Timestamp), &ev)
					write(&ev, err)
				}
			} else {
				dec := testDecoder(loadKeyMap(t, strings.TrimSuffix(in, filepath.Ext(in))+".keymap.json"))
				for line := range strings.SplitSeq(string(body), "\n") {
					if strings.TrimSpace(line) == "" {
						continue
					}
					var ev event.Event
					err := dec.Decode([]byte(line), &ev)
					write(&ev, err)
				}
			}
			golden.Check(t, in+".golden", got.Bytes())
		})
	}
	if n == 0 {
		t.Fatal("no golden inputs in testdata/apigateway")
	}
}

func loadKeyMap(t *testing.T, path string) Config {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return Config{}
	}
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg.KeyMap); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg
}

func TestLooks(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{`{"requestId":"a","ip":"1.2.3.4","requestTime":"x","httpMethod":"GET","status":"200"}`, true},
		{` {"request_id":"a", "status": 200, "path": "/x"} `, true},
		{`{"requestId":"a","routeKey":"$connect","status":"500","connectionId":"x"}`, true},
		{`{"requestId":"a","status":"200"}`, false}, // nothing else an access log has
		{`{"requestId":"a","ip":"1.2.3.4","protocol":"HTTP/1.1"}`, false},
		{`{"ip":"1.2.3.4","httpMethod":"GET","status":"200"}`, false},
		// Lambda Telemetry API and application JSON logs.
		{`{"time":"2026-01-01T00:00:00Z","type":"platform.report","record":{"requestId":"a","status":"success","metrics":{}}}`, false},
		{`{"timestamp":"2026-01-01T00:00:00Z","level":"INFO","requestId":"a","message":"status 200 GET /x"}`, false},
		{`{"level":"info","msg":"x","requestId":"a\"status\":1,\"httpMethod\":\"GET\""}`, false},
		// Malformed or not JSON.
		{`{"requestId":"a","httpMethod":"GET","status":"200"`, false},
		{`{"requestId":"a","httpMethod":"GET","status":"200"} x`, false},
		{`1.2.3.4 - - [10/Jun/2023:15:36:28 +0000] "GET / HTTP/1.1" 200 1 abc`, false},
		{``, false}, {`{}`, false}, {`{"a"}`, false}, {`{"a":}`, false}, {`[{"requestId":"a"}]`, false},
		{`{"requestId":{"nested":[1,{"x":"]"}]},"httpMethod":"GET","ip":"1"}`, true},
	} {
		if got := Looks([]byte(tc.msg)); got != tc.want {
			t.Errorf("Looks(%s) = %v, want %v", tc.msg, got, tc.want)
		}
	}
	custom := Decoder{Config: Config{KeyMap: map[string]string{"request_id": "rid", "status_code": "http.code"}}}
	if !custom.Looks([]byte(`{"rid":"a","http":{"code":200},"clientIp":"x","ip":"1.2.3.4"}`)) {
		t.Error("a configured key map is not used")
	}
	if custom.Looks([]byte(`{"requestId":"a","status":"200","ip":"1.2.3.4"}`)) {
		t.Error("a configured key replaces the default keys of its role")
	}
}

func TestLogGroups(t *testing.T) {
	for _, tc := range []struct {
		name         string
		exec, access bool
		api, stage   string
	}{
		{"API-Gateway-Execution-Logs_a1b2c3d4e5/prod", true, false, "a1b2c3d4e5", "prod"},
		{"API-Gateway-Execution-Logs/a1b2c3d4e5/$default", true, false, "a1b2c3d4e5", "$default"},
		{"api-gateway-execution-logs_abc/dev", true, false, "abc", "dev"},
		{"API-Gateway-Execution-Logs_a1b2c3d4e5", false, true, "", ""},
		{"API-Gateway-Execution-Logs_/prod", false, true, "", ""},
		{"/aws/apigateway/orders", false, true, "", ""},
		{"/aws/vendedlogs/API-Gateway/orders", false, true, "", ""},
		{"my_api_gateway_access", false, true, "", ""},
		{"/ecs/apigw-access", false, true, "", ""},
		{"/aws/lambda/fn", false, false, "", ""},
		{"", false, false, "", ""},
	} {
		api, stage, ok := ExecutionLogGroup(tc.name)
		if ok != tc.exec || api != tc.api || stage != tc.stage || IsExecutionLogGroup(tc.name) != tc.exec {
			t.Errorf("ExecutionLogGroup(%q) = %q, %q, %v", tc.name, api, stage, ok)
		}
		if got := IsAccessLogGroup(tc.name); got != tc.access {
			t.Errorf("IsAccessLogGroup(%q) = %v", tc.name, got)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{KeyMap: map[string]string{"src_ip": "clientIp", "error_type": "e.t"}}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{KeyMap: map[string]string{"srcip": "x", "actor": " "}}.Validate()
	if err == nil || !strings.Contains(err.Error(), `unknown role "srcip"`) || !strings.Contains(err.Error(), `role "actor" has an empty key`) {
		t.Fatalf("got %v", err)
	}
	if len(Roles()) != int(numRoles) || DefaultKeys("src_ip")[0] != "ip" || DefaultKeys("nope") != nil {
		t.Fatal("Roles or DefaultKeys")
	}
}

func TestSplitRoute(t *testing.T) {
	for _, tc := range []struct{ in, method, path string }{
		{"GET /pets/{id}", "GET", "/pets/{id}"},
		{"ANY /{proxy+}", "ANY", "/{proxy+}"},
		{"$default", "", "$default"},
		{"/pets", "", "/pets"},
		{"get /pets", "", "get /pets"},
		{"GET pets", "", "GET pets"},
		{"", "", ""},
	} {
		if m, p := splitRoute(tc.in); m != tc.method || p != tc.path {
			t.Errorf("splitRoute(%q) = %q, %q", tc.in, m, p)
		}
	}
}

func TestFromDomain(t *testing.T) {
	for _, tc := range []struct{ in, api, region string }{
		{"asad15n3p0.execute-api.us-east-1.amazonaws.com", "asad15n3p0", "us-east-1"},
		{"AbC.execute-api.cn-north-1.amazonaws.com.cn", "AbC", "cn-north-1"},
		{"api.example.com", "", ""},
		{"x.y.execute-api.us-east-1.amazonaws.com", "", ""},
		{"x.execute-api.us-east-1.example.com", "", ""},
		{".execute-api.us-east-1.amazonaws.com", "", ""},
		{"İİİ.execute-api.us-east-1.amazonaws.com", "", ""}, // lower case is longer
	} {
		if api, region := fromDomain(tc.in); api != tc.api || region != tc.region {
			t.Errorf("fromDomain(%q) = %q, %q", tc.in, api, region)
		}
	}
}

func TestParseEpoch(t *testing.T) {
	want := time.Date(2026, 3, 7, 13, 15, 3, 0, time.UTC)
	for _, s := range []string{"1772889303", "1772889303000", "1772889303000000", "1772889303000000000", "1772889303.0"} {
		got, err := parseEpoch("k", s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseEpoch(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"0", "-1", "1e9", "0x10", "NaN", "Inf", "9999999999999999999999", "1.2.3", ""} {
		if _, err := parseEpoch("k", s); err == nil {
			t.Errorf("parseEpoch(%q) did not fail", s)
		}
	}
}

func TestRepairDashes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":-,"b": - }`, `{"a":null,"b": null }`},
		{`{"a":[-, -],"s":"x - y","t":"-","n":-1}`, `{"a":[null, null],"s":"x - y","t":"-","n":-1}`},
		{`{"a":"\"-","b":-}`, `{"a":"\"-","b":null}`},
		{`{"a":-1}`, ``},
	} {
		got, ok := repairDashes([]byte(tc.in))
		if string(got) != tc.want || ok != (tc.want != "") {
			t.Errorf("repairDashes(%s) = %s, %v", tc.in, got, ok)
		}
	}
}

func TestTimeFallback(t *testing.T) {
	line := []byte(`{"requestId":"a","status":"200"}`)
	var ev event.Event
	if err := (Decoder{}).Decode(line, &ev); err == nil {
		t.Fatal("a record without time decoded without a clock")
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	if err := testDecoder(Config{}).DecodeMessage(string(line), "/aws/apigateway/x", ts, &ev); err != nil || !ev.Time.Equal(ts) {
		t.Fatalf("DecodeMessage time = %v, %v; want the log event's", ev.Time, err)
	}
	if err := testDecoder(Config{}).Decode(line, &ev); err != nil || !ev.Time.Equal(fixedNow) {
		t.Fatalf("Decode time = %v, %v; want Now", ev.Time, err)
	}
}

// Identical lines without a request id get the same content id; the
// ingest handler numbers repeats because ContentIDs is true.
func TestContentIDs(t *testing.T) {
	dec := testDecoder(Config{})
	line := []byte(`{"ip":"1.2.3.4","requestTime":"10/Jun/2023:15:36:28 +0000","status":"200"}`)
	var a, b event.Event
	if err := dec.Decode(line, &a); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(append([]byte(nil), line...), &b); err != nil {
		t.Fatal(err)
	}
	if a.EventID != b.EventID || a.EventID != event.ContentID(Source, line) || !dec.ContentIDs() || !dec.LineRecords() {
		t.Fatalf("ids %q %q", a.EventID, b.EventID)
	}
}
