package envoy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tripline/tripline/internal/jsonenc"
)

// maxFields bounds the fields of a text line: the longest default format
// has 22, which leaves 42 for fields the user appended.
const maxFields = 64

// kind says how a field's value is read.
type kind uint8

const (
	kindString  kind = iota
	kindCount        // a whole number; a JSON number in Raw
	kindNumber       // a header value: a JSON number when it is a whole number, else a string
	kindRequest      // "METHOD PATH PROTOCOL"
)

// field is one positional field of a text format after [START_TIME].
type field struct {
	name   string
	kind   kind
	quoted bool
}

// layout is a text format: its fields after [START_TIME].
type layout struct {
	name   string
	fields []field
}

func q(name string) field { return field{name: name, quoted: true} }
func u(name string) field { return field{name: name} }
func n(name string) field { return field{name: name, kind: kindCount} }

var (
	request     = field{name: "request", kind: kindRequest, quoted: true}
	serviceTime = field{name: "upstream_service_time", kind: kindNumber}
	// The fields every layout shares, from X-Forwarded-For on.
	envoyTail = []field{q("x_forwarded_for"), q("user_agent"), q("request_id"), q("authority"), q("upstream_host")}
	istioTail = []field{u("upstream_cluster"), u("upstream_local_address"), u("downstream_local_address"), u("downstream_remote_address"), u("requested_server_name")}
)

func fields(parts ...[]field) []field {
	var fs []field
	for _, p := range parts {
		fs = append(fs, p...)
	}
	return fs
}

// The text formats, as their [START_TIME] ... lines have them.
var (
	envoyDefault = layout{"Envoy default", fields(
		[]field{request, n("response_code"), u("response_flags"), n("bytes_received"), n("bytes_sent"), n("duration"), serviceTime},
		envoyTail)}
	istio19 = layout{"Istio (1.9+)", fields(
		[]field{request, n("response_code"), u("response_flags"), u("response_code_details"), u("connection_termination_details"),
			q("upstream_transport_failure_reason"), n("bytes_received"), n("bytes_sent"), n("duration"), serviceTime},
		envoyTail, istioTail, []field{u("route_name")})}
	istio14 = layout{"Istio 1.4–1.8", fields(
		[]field{request, n("response_code"), u("response_flags"), q("istio_policy_status"), q("upstream_transport_failure_reason"),
			n("bytes_received"), n("bytes_sent"), n("duration"), serviceTime},
		envoyTail, istioTail, []field{u("route_name")})}
	istio11 = layout{"Istio 1.1–1.3", fields(
		[]field{request, n("response_code"), u("response_flags"), q("istio_policy_status"),
			n("bytes_received"), n("bytes_sent"), n("duration"), serviceTime},
		envoyTail, istioTail)}
)

// reservedNames are the Raw keys a text line may have besides the names
// of Decoder.ExtraFields.
var reservedNames = func() map[string]bool {
	m := map[string]bool{"start_time": true, "method": true, "path": true, "protocol": true, "extra": true, "mtls": true, "line": true}
	for _, l := range []layout{envoyDefault, istio19, istio14, istio11} {
		for _, f := range l.fields {
			m[f.name] = true
		}
	}
	return m
}()

func reserved(name string) bool { return reservedNames[name] }

// token is one field of a text line without its brackets or quotes; delim
// is '[', '"' or 0.
type token struct {
	val   string
	delim byte
}

// tokenize splits a line into its fields: the first [bracketed], then
// "quoted" (up to a quote followed by a space or the end of the line:
// Envoy does not escape quotes) or bare ("[::1]:80" is bare), separated
// by spaces.
func tokenize(s string, toks []token) ([]token, error) {
	toks = toks[:0]
	for i := 0; ; {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i == len(s) {
			return toks, nil
		}
		if len(toks) == cap(toks) {
			return nil, fmt.Errorf("more than %d fields", cap(toks))
		}
		switch c := s[i]; {
		case c == '"' || c == '[' && len(toks) == 0:
			end := c
			if c == '[' {
				end = ']'
			}
			j := closing(s, i+1, end)
			if j < 0 {
				return nil, fmt.Errorf("field %d (%.40q) has no closing %c: truncated line?", len(toks)+1, s[i:], end)
			}
			toks = append(toks, token{val: s[i+1 : j], delim: c})
			i = j + 1
		default:
			j := strings.IndexByte(s[i:], ' ')
			if j < 0 {
				j = len(s) - i
			}
			toks = append(toks, token{val: s[i : i+j]})
			i += j
		}
	}
}

// closing returns the index of the first c at or after from that ends the
// line or is followed by a space, else -1.
func closing(s string, from int, c byte) int {
	for from < len(s) {
		j := strings.IndexByte(s[from:], c)
		if j < 0 {
			return -1
		}
		j += from
		if j+1 == len(s) || s[j+1] == ' ' {
			return j
		}
		from = j + 1
	}
	return -1
}

// pick returns the layout of a line from which of its fields are quoted:
// Istio ≥1.9 quotes field 7 (the transport failure reason), Istio 1.4–1.8
// fields 5 and 6 (mixer status and failure reason), Istio 1.1–1.3 field 5,
// and Envoy's default none of fields 3–8.
func pick(toks []token) (*layout, error) {
	if len(toks) < 1+len(envoyDefault.fields) {
		return nil, fmt.Errorf("line has %d fields, Envoy's default format has %d: truncated line?", len(toks), 1+len(envoyDefault.fields))
	}
	l := &envoyDefault
	switch {
	case toks[6].delim == '"':
		l = &istio19
	case toks[4].delim == '"' && toks[5].delim == '"':
		l = &istio14
	case toks[4].delim == '"':
		l = &istio11
	}
	if len(toks) < 1+len(l.fields) {
		return nil, fmt.Errorf("line has %d fields, the %s format has %d: truncated line?", len(toks), l.name, 1+len(l.fields))
	}
	if toks[0].delim != '[' {
		return nil, errors.New("field 1 (start_time) is not in [brackets]")
	}
	for i, f := range l.fields {
		if quoted := toks[i+1].delim == '"'; quoted != f.quoted {
			not := " not"
			if f.quoted {
				not = ""
			}
			return nil, fmt.Errorf("field %d (%s) %q should%s be quoted in the %s format", i+2, f.name, toks[i+1].val, not, l.name)
		}
	}
	return l, nil
}

// decodeText parses a text line into r and returns its Raw object.
func (d Decoder) decodeText(rec []byte, r *record) ([]byte, error) {
	line := string(rec)
	var buf [maxFields]token
	toks, err := tokenize(line, buf[:])
	if err != nil {
		return nil, err
	}
	l, err := pick(toks)
	if err != nil {
		return nil, err
	}
	o := object{b: make([]byte, 0, 2*len(line)+256)}
	r.startTime = toks[0].val
	o.str("start_time", r.startTime)
	for i, f := range l.fields {
		v := toks[i+1].val
		if v == "-" {
			v = ""
		}
		switch f.kind {
		case kindRequest:
			if err := r.request(v, &o); err != nil {
				return nil, err
			}
			continue
		case kindCount:
			max := int64(maxInt64)
			if f.name == "response_code" {
				max = 999
			}
			c, err := parseCount(f.name, v, max)
			if err != nil {
				return nil, err
			}
			if v != "" {
				o.int(f.name, c)
			}
		case kindNumber:
			if c, err := strconv.ParseInt(v, 10, 64); err == nil {
				o.int(f.name, c)
			} else {
				o.str(f.name, v)
			}
		default:
			o.str(f.name, v)
		}
		r.set(f.name, v)
	}
	d.extra(toks[1+len(l.fields):], r, &o)
	switch r.mtls() {
	case 't':
		o.raw("mtls", "true")
	case 'f':
		o.raw("mtls", "false")
	}
	o.str("line", line)
	return o.close(), nil
}

// request reads the request line "METHOD PATH PROTOCOL" ("- - -" for TCP).
func (r *record) request(v string, o *object) error {
	i, j := strings.IndexByte(v, ' '), strings.LastIndexByte(v, ' ')
	if i < 0 || i == j {
		return fmt.Errorf("request line %q: want \"METHOD PATH PROTOCOL\"", v)
	}
	dash := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	r.method, r.path = dash(v[:i]), dash(v[i+1:j])
	o.str("method", r.method)
	o.str("path", r.path)
	o.str("protocol", dash(v[j+1:]))
	return nil
}

// set keeps a field the normalized event needs.
func (r *record) set(name, v string) {
	switch name {
	case "response_code":
		r.responseCode = v
	case "response_flags":
		r.responseFlags = v
	case "bytes_sent":
		r.bytesSent = v
	case "duration":
		r.duration = v
	case "x_forwarded_for":
		r.xForwardedFor = v
	case "user_agent":
		r.userAgent = v
	case "authority":
		r.authority = v
	case "upstream_cluster":
		r.upstreamCluster = v
	case "downstream_remote_address":
		r.downstreamRemote = v
	case "requested_server_name":
		r.serverName = v
	case "downstream_peer_uri_san":
		r.peerURISAN, r.peerCarried = v, true
	case "downstream_peer_subject":
		r.peerSubject, r.peerCarried = v, true
	}
}

// extra handles the fields after the format's own: named by ExtraFields,
// or kept under "extra" with the peer identity recognised (see
// Decoder.ExtraFields).
func (d Decoder) extra(toks []token, r *record, o *object) {
	if len(toks) == 0 {
		return
	}
	var rest []token
	if len(d.ExtraFields) > 0 {
		for i, t := range toks {
			if i >= len(d.ExtraFields) || !d.usable(i) {
				rest = append(rest, t)
				continue
			}
			v := t.val
			if v == "-" {
				v = ""
			}
			o.str(d.ExtraFields[i], v)
			r.set(d.ExtraFields[i], v)
		}
	} else {
		rest = toks
		if !strings.HasPrefix(r.upstreamCluster, "outbound|") {
			recognise(toks, r, o)
		}
	}
	if len(rest) > 0 {
		o.key("extra")
		o.b = append(o.b, '[')
		for i, t := range rest {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = jsonenc.AppendString(o.b, t.val)
		}
		o.b = append(o.b, ']')
	}
}

// usable reports whether ExtraFields[i] names a Raw key: a valid name, not
// a default field, not named before.
func (d Decoder) usable(i int) bool {
	name := d.ExtraFields[i]
	if !validName(name) || reserved(name) {
		return false
	}
	for _, prev := range d.ExtraFields[:i] {
		if prev == name {
			return false
		}
	}
	return true
}

// recognise takes the first spiffe:// URI among appended fields as the
// downstream peer URI SAN and the first TLSv1.x as the downstream TLS
// version. Appended fields that are all "-" or TLS versions are taken as
// peer fields without a peer certificate (mtls false).
func recognise(toks []token, r *record, o *object) {
	var san, tls string
	empty := true
	for _, t := range toks {
		switch {
		case san == "" && strings.HasPrefix(t.val, "spiffe://"):
			san = t.val
		case tls == "" && tlsVersion(t.val):
			tls = t.val
		}
		if t.val != "-" && !tlsVersion(t.val) {
			empty = false
		}
	}
	if san != "" {
		o.str("downstream_peer_uri_san", san)
		r.peerURISAN = san
	}
	if tls != "" {
		o.str("downstream_tls_version", tls)
	}
	r.peerCarried = san != "" || empty
}

func tlsVersion(s string) bool {
	switch s {
	case "TLSv1", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3":
		return true
	}
	return false
}
