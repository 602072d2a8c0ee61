package envoy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/golden"
)

// named is the decoder of the *.named.log files: the peer fields the
// user appended to the Istio format, named.
var named = Decoder{ExtraFields: []string{"downstream_peer_uri_san", "downstream_tls_version", "upstream_peer_uri_san", "downstream_peer_subject"}}

// records splits a file into its records as a text/plain body is split:
// one per non-blank line.
func records(b []byte) [][]byte {
	var recs [][]byte
	for l := range bytes.SplitSeq(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			recs = append(recs, l)
		}
	}
	return recs
}

// TestGolden decodes every line of testdata/envoy/* and compares the
// events (or errors) with the .golden files.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/envoy/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dec := Decoder{}
			if strings.HasSuffix(f, ".named.log") {
				dec = named
			}
			var got bytes.Buffer
			for _, rec := range records(in) {
				var ev event.Event
				if err := dec.Decode(rec, &ev); err != nil {
					got.WriteString("error: " + err.Error() + "\n")
					continue
				}
				if !json.Valid(ev.Raw) {
					t.Errorf("invalid raw JSON for %q: %s", rec, ev.Raw)
				}
				b, err := json.MarshalIndent(ev, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got.Write(b)
				got.WriteByte('\n')
			}
			golden.Check(t, f+".golden", got.Bytes())
		})
	}
	if n == 0 {
		t.Fatal("no test data")
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		line string
		want []token
		err  string
	}{
		{line: `[t] "a b" c`, want: []token{{"t", '['}, {"a b", '"'}, {"c", 0}}},
		{line: `  "-"   -  `, want: []token{{"-", '"'}, {"-", 0}}},
		{line: `"say "hi" now" x`, want: []token{{`say "hi`, '"'}, {`now"`, 0}, {"x", 0}}},
		{line: `"a"b" c`, want: []token{{`a"b`, '"'}, {"c", 0}}},
		{line: `""`, want: []token{{"", '"'}}},
		{line: `[] x`, want: []token{{"", '['}, {"x", 0}}},
		{line: `[t] [::1]:80 "[x]" [y`, want: []token{{"t", '['}, {"[::1]:80", 0}, {"[x]", '"'}, {"[y", 0}}},
		{line: `"unterminated`, err: "no closing"},
		{line: `"x" "y`, err: "field 2"},
		{line: `[2020`, err: "no closing ]"},
		{line: strings.Repeat("x ", maxFields+1), err: "more than 64 fields"},
	}
	for _, tt := range tests {
		var buf [maxFields]token
		got, err := tokenize(tt.line, buf[:])
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("tokenize(%q) error = %v, want %q", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("tokenize(%q): %v", tt.line, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("tokenize(%q) = %q, want %q", tt.line, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("tokenize(%q)[%d] = %q, want %q", tt.line, i, got[i], tt.want[i])
			}
		}
	}
}

func TestService(t *testing.T) {
	tests := []struct{ cluster, sni, authority, want string }{
		{"outbound|8080||reviews.default.svc.cluster.local", "", "reviews:8080", "reviews.default"},
		{"outbound|8080|v2|reviews.default.svc.cluster.local", "", "", "reviews.default"},
		{"outbound|443||www.google.com", "", "www.google.com", "www.google.com"},
		{"inbound|8000||", "outbound_.8000_._.httpbin.foo.svc.cluster.local", "httpbin:8000", "httpbin.foo"},
		{"inbound|8000||", "outbound_.8000_.v1_.httpbin.foo.svc.cluster.local", "", "httpbin.foo"},
		{"inbound|8000||", "", "httpbin:8000", "httpbin"},
		{"inbound|8000||", "api.example.com", "httpbin.foo.svc:8000", "httpbin.foo"},
		{"inbound|9080|http|reviews.default.svc.cluster.local", "", "", "reviews.default"},
		{"reviews.default.svc.corp.example", "", "", "reviews.default"},
		{"service_backend", "", "example.com", "service_backend"},
		{"PassthroughCluster", "", "httpbin.org", "httpbin.org"},
		{"BlackHoleCluster", "", "evil.example:443", "evil.example"},
		{"InboundPassthroughClusterIpv4", "", "10.0.0.1:8080", "10.0.0.1"},
		{"", "", "[::1]:15021", "::1"},
		{"", "", "[::1", "[::1"},
		{"", "", "::1", "::1"},
		{"", "", "host:port", "host:port"},
		{"", "", "", ""},
	}
	for _, tt := range tests {
		if got := service(tt.cluster, tt.sni, tt.authority); got != tt.want {
			t.Errorf("service(%q, %q, %q) = %q, want %q", tt.cluster, tt.sni, tt.authority, got, tt.want)
		}
	}
}

func TestSrcIP(t *testing.T) {
	tests := []struct{ xff, remote, want string }{
		{"203.0.113.9, 10.0.0.1", "10.0.0.2:1234", "203.0.113.9"},
		{"203.0.113.9:4711", "", "203.0.113.9"},
		{"[2001:db8::1]:443", "", "2001:db8::1"},
		{"[2001:db8::1]", "", "2001:db8::1"},
		{"2001:DB8::1", "", "2001:db8::1"},
		{"::ffff:192.0.2.1", "", "192.0.2.1"},
		{"unknown, 198.51.100.4", "10.0.0.2:1234", "10.0.0.2"},
		{"", "[::1]:41854", "::1"},
		{"", "[fe80::1%eth0]:80", "fe80::1"},
		{"", "10.44.1.23", "10.44.1.23"},
		{"", "envoy://internal_client_address/", ""},
		{"", "/var/run/envoy.sock", ""},
		{"", "[]", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := srcIP(tt.xff, tt.remote); got != tt.want {
			t.Errorf("srcIP(%q, %q) = %q, want %q", tt.xff, tt.remote, got, tt.want)
		}
	}
}

func TestParseCount(t *testing.T) {
	tests := []struct {
		s    string
		max  int64
		want int64
		err  string
	}{
		{"", 999, 0, ""},
		{"418", 999, 418, ""},
		{"007", 999, 7, ""},
		{"2.0e2", 999, 200, ""},
		{"1000", 999, 0, "out of range"},
		{"-1", maxInt64, 0, "is negative"},
		{"9223372036854775807", maxInt64, maxInt64, ""},
		{"9223372036854775808", maxInt64, 0, "too large"},
		{"1e19", maxInt64, 0, "too large"},
		{"-2e3", 999, 0, "is negative"},
		{"1e400", maxInt64, 0, "not a whole number"},
		{"NaN", maxInt64, 0, "not a whole number"},
		{"1.5", maxInt64, 0, "not a whole number"},
		{"abc", maxInt64, 0, "not a whole number"},
	}
	for _, tt := range tests {
		got, err := parseCount("f", tt.s, tt.max)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseCount(%q) error = %v, want %q", tt.s, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseCount(%q) = %d, %v, want %d", tt.s, got, err, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := named.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	err := Decoder{ExtraFields: []string{"ok_name", "Bad", "path", "ok_name", ""}}.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad names")
	}
	for _, want := range []string{`extra_fields[1] "Bad"`, `extra_fields[2] "path"`, `extra_fields[3] "ok_name": named twice`, `extra_fields[4] ""`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q lacks %q", err, want)
		}
	}
}

// TestExtraFieldsIgnored checks that names Validate rejects do not reach
// Raw: a field named like a default one would make a duplicate key.
func TestExtraFieldsIgnored(t *testing.T) {
	d := Decoder{ExtraFields: []string{"path", "x", "x", "Bad"}}
	line := `[2016-04-15T20:17:00.310Z] "GET /a HTTP/1.1" 200 - 0 0 0 - "-" "-" "-" "-" "-" p1 x1 x2 b1 more`
	var ev event.Event
	if err := d.Decode([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(ev.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["path"] != "/a" || raw["x"] != "x1" {
		t.Errorf("raw = %s", ev.Raw)
	}
	extra, _ := json.Marshal(raw["extra"])
	if string(extra) != `["p1","x2","b1","more"]` {
		t.Errorf("extra = %s, want [p1 x2 b1 more]", extra)
	}
	if bytes.Count(ev.Raw, []byte(`"path":`)) != 1 {
		t.Errorf("duplicate path in %s", ev.Raw)
	}
}

// TestSameRequestTwoSidecars checks that the client's and the server's
// line of one request (same x-request-id) are distinct events.
func TestSameRequestTwoSidecars(t *testing.T) {
	in, err := os.ReadFile("testdata/envoy/istio_text.log")
	if err != nil {
		t.Fatal(err)
	}
	recs := records(in)
	var a, b event.Event
	if err := (Decoder{}).Decode(recs[0], &a); err != nil {
		t.Fatal(err)
	}
	if err := (Decoder{}).Decode(recs[1], &b); err != nil {
		t.Fatal(err)
	}
	if a.EventID == b.EventID {
		t.Errorf("both sidecars' lines have event id %s", a.EventID)
	}
	if a.Service != "httpbin.foo" || b.Service != "httpbin.foo" {
		t.Errorf("services %q, %q, want httpbin.foo for both", a.Service, b.Service)
	}
}
