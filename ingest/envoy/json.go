package envoy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// value is a JSON member the decoder reads: a string, a number (its
// text), null; or a type it cannot use, which decodeJSON reports.
type value struct {
	s    string
	kind byte // 0 absent, 's' string, 'n' number, 'z' null, 'b' boolean, 'o' object or array
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *value) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case '"':
		v.kind = 's'
		if in := b[1 : len(b)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			v.s = string(in)
			return nil
		}
		return json.Unmarshal(b, &v.s)
	case 'n':
		v.kind, v.s = 'z', ""
	case 't', 'f':
		v.kind, v.s = 'b', ""
	case '{', '[':
		v.kind, v.s = 'o', ""
	default:
		v.kind, v.s = 'n', string(b)
	}
	return nil
}

// text returns the value with "-" and null read as empty.
func (v *value) text() string {
	if v.s == "-" {
		return ""
	}
	return v.s
}

// jsonRecord holds the members of Istio's JSON encoding the normalized
// event needs; the record itself becomes Raw.
type jsonRecord struct {
	StartTime        value `json:"start_time"`
	Method           value `json:"method"`
	Path             value `json:"path"`
	ResponseCode     value `json:"response_code"`
	ResponseFlags    value `json:"response_flags"`
	BytesSent        value `json:"bytes_sent"`
	Duration         value `json:"duration"`
	XForwardedFor    value `json:"x_forwarded_for"`
	UserAgent        value `json:"user_agent"`
	Authority        value `json:"authority"`
	UpstreamCluster  value `json:"upstream_cluster"`
	DownstreamRemote value `json:"downstream_remote_address"`
	ServerName       value `json:"requested_server_name"`
	PeerURISAN       value `json:"downstream_peer_uri_san"`
	PeerSubject      value `json:"downstream_peer_subject"`
	MTLS             value `json:"mtls"`
}

// decodeJSON reads a JSON record into r and returns its Raw: the record,
// with "mtls" added when derived.
func decodeJSON(rec []byte, r *record) ([]byte, error) {
	var j jsonRecord
	if err := json.Unmarshal(rec, &j); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return nil, err
	}
	members := [...]struct {
		name string
		v    *value
		dst  *string
	}{
		{"start_time", &j.StartTime, &r.startTime},
		{"method", &j.Method, &r.method},
		{"path", &j.Path, &r.path},
		{"response_code", &j.ResponseCode, &r.responseCode},
		{"response_flags", &j.ResponseFlags, &r.responseFlags},
		{"bytes_sent", &j.BytesSent, &r.bytesSent},
		{"duration", &j.Duration, &r.duration},
		{"x_forwarded_for", &j.XForwardedFor, &r.xForwardedFor},
		{"user_agent", &j.UserAgent, &r.userAgent},
		{"authority", &j.Authority, &r.authority},
		{"upstream_cluster", &j.UpstreamCluster, &r.upstreamCluster},
		{"downstream_remote_address", &j.DownstreamRemote, &r.downstreamRemote},
		{"requested_server_name", &j.ServerName, &r.serverName},
		{"downstream_peer_uri_san", &j.PeerURISAN, &r.peerURISAN},
		{"downstream_peer_subject", &j.PeerSubject, &r.peerSubject},
	}
	for _, m := range members {
		switch m.v.kind {
		case 'o':
			return nil, fmt.Errorf("%s: want a string or number, got an object or array", m.name)
		case 'b':
			return nil, fmt.Errorf("%s: want a string or number, got a boolean", m.name)
		}
		*m.dst = m.v.text()
	}
	switch j.StartTime.kind {
	case 0, 'z':
		return nil, errors.New("start_time is required (not an Istio JSON access log?)")
	case 'n':
		return nil, fmt.Errorf("start_time %s: want an RFC 3339 string, got a number", j.StartTime.s)
	}
	if r.startTime == "" {
		return nil, errors.New("start_time is empty")
	}
	r.peerCarried = j.PeerURISAN.kind != 0 || j.PeerSubject.kind != 0
	if j.MTLS.kind != 0 {
		return rec, nil
	}
	var add string
	switch r.mtls() {
	case 't':
		add = `,"mtls":true}`
	case 'f':
		add = `,"mtls":false}`
	default:
		return rec, nil
	}
	// rec is an object with at least start_time and ends with '}'.
	raw := make([]byte, 0, len(rec)+len(add))
	raw = append(raw, rec[:len(rec)-1]...)
	return append(raw, add...), nil
}
