// Package envoy decodes Envoy and Istio access logs: one record per
// request (or TCP connection), written by a proxy as a text line in
// Envoy's default format or Istio's, or as a JSON object in Istio's JSON
// encoding (meshConfig.accessLogEncoding: JSON).
//
// # Text lines
//
// A text line is parsed positionally. The layout is recognised from which
// fields are quoted, so these formats need no configuration:
//
//   - Envoy's default format (13 fields, from [%START_TIME%] to
//     "%UPSTREAM_HOST%");
//   - Istio's default format since 1.9 (22 fields: Envoy's, with
//     %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
//     "%UPSTREAM_TRANSPORT_FAILURE_REASON%" after the response flags, and
//     %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS%
//     %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME% at
//     the end);
//   - Istio 1.4–1.8 (21 fields: "%DYNAMIC_METADATA(istio.mixer:status)%"
//     "%UPSTREAM_TRANSPORT_FAILURE_REASON%" after the flags);
//   - Istio 1.1–1.3 (20 fields: the mixer status, no transport failure
//     reason, no route name).
//
// Fields the user appended after those of the format are kept in order
// under "extra". Without Decoder.ExtraFields, two shapes among them are
// recognised (see Decoder.ExtraFields for when): a spiffe:// URI as
// downstream_peer_uri_san and TLSv1.x as downstream_tls_version.
//
// Envoy's text format does not escape quotes: a quoted value that holds
// `" ` (a user agent, say) shifts the fields after it, and such a line
// usually fails to parse. The JSON encoding has no such problem.
//
// # Raw
//
// ev.Raw of a text line is a JSON object with the field names of Istio's
// JSON encoding (start_time, method, path, protocol, response_code, ...,
// route_name); a "-" field is left out, numbers are JSON numbers, and
// "line" is the line itself. ev.Raw of a JSON record is the record.
//
// Both may get a derived boolean "mtls": true when the record has a
// downstream peer certificate identity (downstream_peer_uri_san or
// downstream_peer_subject not empty, i.e. the caller presented a client
// certificate: mutual TLS), false when the record carries those fields but
// they are empty, absent when the record does not carry them. It describes
// the connection from the caller to this proxy, so it is meaningful on a
// server sidecar's lines (upstream_cluster "inbound|…"); on a client
// sidecar's outbound lines the caller is the local application over
// plaintext. A JSON record that has its own "mtls" keeps it.
package envoy

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// Source is the source name of the events.
const Source = "envoy"

// Decoder decodes Envoy and Istio access log records (see the package
// doc). The zero Decoder accepts every format the package doc lists.
type Decoder struct {
	// ExtraFields names, in order, the fields a text format has after the
	// default ones, as Istio's JSON encoding would name them (e.g.
	// downstream_peer_uri_san, downstream_tls_version,
	// upstream_peer_uri_san, downstream_peer_subject for
	// %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_TLS_VERSION%
	// %UPSTREAM_PEER_URI_SAN% %DOWNSTREAM_PEER_SUBJECT%). Each named field
	// goes into Raw under its name (left out when "-"); fields past the
	// names stay under "extra". A name that is not lower-case snake_case or
	// that a default field already uses is ignored.
	//
	// Empty (the default), the appended fields stay under "extra" and a
	// spiffe:// URI among them is taken as downstream_peer_uri_san and a
	// TLSv1.x as downstream_tls_version, except on a sidecar's outbound
	// lines (upstream_cluster "outbound|…"), where such a value may be
	// the upstream's (%UPSTREAM_PEER_URI_SAN%) and so is not named. Name
	// the fields here to get the downstream identity on gateway lines too,
	// and to be sure of which is which.
	ExtraFields []string `yaml:"extra_fields"`
}

// ContentIDs implements ingest.ContentIDs: an access log line has no id of
// its own (the x-request-id is on both the client sidecar's and the server
// sidecar's line of a request), so ids are content hashes.
func (Decoder) ContentIDs() bool { return true }

// LineRecords implements ingest.LineRecords: a text/plain body has one
// record per line.
func (Decoder) LineRecords() bool { return true }

// Validate reports names in ExtraFields that Decode would ignore.
func (d Decoder) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, n := range d.ExtraFields {
		switch {
		case !validName(n):
			errs = append(errs, fmt.Errorf("extra_fields[%d] %q: want a lower-case snake_case name", i, n))
		case reserved(n):
			errs = append(errs, fmt.Errorf("extra_fields[%d] %q: the default format already has this field", i, n))
		case seen[n]:
			errs = append(errs, fmt.Errorf("extra_fields[%d] %q: named twice", i, n))
		}
		seen[n] = true
	}
	return errors.Join(errs...)
}

// Decode implements ingest.Decoder. rec is a text line or a JSON object.
func (d Decoder) Decode(rec []byte, ev *event.Event) error {
	rec = bytes.TrimRight(rec, " \t\r\n")
	rec = bytes.TrimLeft(rec, " \t")
	if len(rec) == 0 {
		return errors.New("envoy access log: empty record")
	}
	var (
		r   record
		raw []byte
		err error
	)
	switch rec[0] {
	case '{':
		raw, err = decodeJSON(rec, &r)
	case '[':
		raw, err = d.decodeText(rec, &r)
	default:
		err = errors.New(`not an access log record: want a text line starting with "[START_TIME]" or a JSON object`)
	}
	if err != nil {
		return fmt.Errorf("envoy access log: %w", err)
	}
	if err := r.fill(ev); err != nil {
		return fmt.Errorf("envoy access log: %w", err)
	}
	ev.EventID = event.ContentID(Source, rec)
	ev.Raw = raw
	return nil
}

// record holds the fields the normalized event needs, "-" already read
// as empty.
type record struct {
	startTime                           string
	method, path                        string
	responseCode, responseFlags         string
	bytesSent, duration                 string
	xForwardedFor, userAgent, authority string
	upstreamCluster                     string
	downstreamRemote, serverName        string
	peerURISAN, peerSubject             string
	// peerCarried says the record carries the downstream peer fields.
	peerCarried bool
}

// fill sets every field of ev from r.
func (r *record) fill(ev *event.Event) error {
	t, err := time.Parse(time.RFC3339Nano, r.startTime)
	if err != nil {
		return fmt.Errorf("start_time %q is not an RFC 3339 time", r.startTime)
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return fmt.Errorf("start_time %s is out of range (1970–2105)", r.startTime)
	}
	code, err := parseCount("response_code", r.responseCode, 999)
	if err != nil {
		return err
	}
	sent, err := parseCount("bytes_sent", r.bytesSent, maxInt64)
	if err != nil {
		return err
	}
	dur, err := parseCount("duration", r.duration, maxInt64)
	if err != nil {
		return err
	}
	*ev = event.Event{
		Time:       t.UTC(),
		Source:     Source,
		Service:    service(r.upstreamCluster, r.serverName, r.authority),
		Actor:      actor(r.peerURISAN),
		SrcIP:      srcIP(r.xForwardedFor, r.downstreamRemote),
		UserAgent:  r.userAgent,
		Action:     r.method,
		Target:     r.path,
		StatusCode: int(code),
		ErrorCode:  r.responseFlags,
		BytesOut:   sent,
		DurationMS: float64(dur),
	}
	switch {
	case code >= 400:
		ev.Outcome = event.OutcomeFailure
	case code > 0:
		ev.Outcome = event.OutcomeSuccess
	case r.responseFlags != "":
		// No response at all, and Envoy says why (UF, UH, NR, ...).
		ev.Outcome = event.OutcomeFailure
	}
	return nil
}

// mtls returns the derived "mtls" value: 0 when the record does not carry
// the peer fields, else 't' or 'f'.
func (r *record) mtls() byte {
	switch {
	case r.peerURISAN != "" || r.peerSubject != "":
		return 't'
	case r.peerCarried:
		return 'f'
	}
	return 0
}

// Event times must fit storage: [minTime, maxTime).
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// validName accepts lower-case snake_case names.
func validName(n string) bool {
	if n == "" || len(n) > 64 || n[0] < 'a' || n[0] > 'z' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
