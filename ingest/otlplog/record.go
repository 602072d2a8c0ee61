package otlplog

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tripline/tripline/internal/event"
)

// Normalized fields come from attributes (semantic-convention names, the
// current name before the deprecated one). Request fields are read from
// the record's attributes first, then its resource's; resource fields
// (service, account, region) the other way round. Within each, the
// earlier key in a list wins.
//
//   - Service: service.name, faas.name, k8s.deployment.name,
//     k8s.statefulset.name, k8s.daemonset.name, k8s.cronjob.name,
//     k8s.job.name, k8s.container.name, k8s.pod.name; an SDK default
//     service.name "unknown_service[:exe]" only when none of those is set.
//   - Account: cloud.account.id. Region: cloud.region.
//   - Actor: enduser.id, user.id, user.name.
//   - SrcIP: client.address, source.address, http.client_ip, net.peer.ip,
//     network.peer.address, net.sock.peer.addr.
//   - UserAgent: user_agent.original, http.user_agent.
//   - Action: http.request.method, http.method, the record's event_name,
//     event.name.
//   - Target: url.path, http.target, url.full, http.url, http.route.
//   - StatusCode: http.response.status_code, http.status_code.
//   - BytesOut: http.response.body.size, http.response_content_length,
//     http.response.size.
//   - DurationMS: duration_ms (milliseconds), event.duration (nanoseconds).
//   - ErrorCode: exception.type, error.type.
//
// String fields take non-empty strings and ints (as text); numeric
// fields take ints, finite doubles and decimal strings (status and bytes
// only integral values). Any other value (bool, map, array, bytes, "")
// is no value, and the next key is tried.
const (
	fService = iota
	fAccount
	fRegion
	fActor
	fSrcIP
	fUserAgent
	fAction
	fTarget
	fStatus
	fBytesOut
	fDuration
	fErrorCode
	nFields
)

// fromResource marks the fields read from the resource first.
var fromResource = [nFields]bool{fService: true, fAccount: true, fRegion: true}

// attrKey is a field an attribute key fills and the key's rank among the
// keys of that field (lower wins).
type attrKey struct {
	field, rank int
}

// Ranks from here on are below every key's: an SDK default service name,
// and the event name fields of Action.
const (
	rankUnknownService = 50
	rankEventName      = 2 // LogRecord.event_name, after http.method
	rankOtherMap       = 100
)

var attrKeys = func() map[string]attrKey {
	lists := [nFields][]string{
		fService: {"service.name", "faas.name", "k8s.deployment.name", "k8s.statefulset.name",
			"k8s.daemonset.name", "k8s.cronjob.name", "k8s.job.name", "k8s.container.name", "k8s.pod.name"},
		fAccount:   {"cloud.account.id"},
		fRegion:    {"cloud.region"},
		fActor:     {"enduser.id", "user.id", "user.name"},
		fSrcIP:     {"client.address", "source.address", "http.client_ip", "net.peer.ip", "network.peer.address", "net.sock.peer.addr"},
		fUserAgent: {"user_agent.original", "http.user_agent"},
		fAction:    {"http.request.method", "http.method", "", "event.name"}, // "" is event_name's rank
		fTarget:    {"url.path", "http.target", "url.full", "http.url", "http.route"},
		fStatus:    {"http.response.status_code", "http.status_code"},
		fBytesOut:  {"http.response.body.size", "http.response_content_length", "http.response.size"},
		fDuration:  {"duration_ms", "event.duration"},
		fErrorCode: {"exception.type", "error.type"},
	}
	m := map[string]attrKey{}
	for f, keys := range lists {
		for r, k := range keys {
			if k != "" {
				m[k] = attrKey{field: f, rank: r}
			}
		}
	}
	return m
}()

// fields holds the best value found so far for each normalized field.
type fields struct {
	val  [nFields]pcommon.Value
	key  [nFields]string
	rank [nFields]int
	set  [nFields]bool
}

func (fs *fields) offer(f, rank int, key string, v pcommon.Value) {
	if fs.set[f] && fs.rank[f] <= rank {
		return
	}
	fs.val[f], fs.key[f], fs.rank[f], fs.set[f] = v, key, rank, true
}

// scan offers the attributes of m; resource tells which map m is.
func (fs *fields) scan(m pcommon.Map, resource bool) {
	for k, v := range m.All() {
		ak, ok := attrKeys[k]
		if !ok || !usable(ak.field, v) {
			continue
		}
		rank := ak.rank
		if fromResource[ak.field] != resource {
			rank += rankOtherMap
		}
		if ak.field == fService && strings.HasPrefix(v.Str(), "unknown_service") {
			rank += rankUnknownService
		}
		fs.offer(ak.field, rank, k, v)
	}
}

// numeric marks the fields that hold numbers.
var numeric = [nFields]bool{fStatus: true, fBytesOut: true, fDuration: true}

// usable reports whether v can fill field f: a string field takes a
// non-empty string or an int, a numeric field an int, a finite double or
// a decimal string.
func usable(f int, v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if !numeric[f] {
			return v.Str() != ""
		}
		_, err := strconv.ParseFloat(strings.TrimSpace(v.Str()), 64)
		return err == nil
	case pcommon.ValueTypeInt:
		return true
	case pcommon.ValueTypeDouble:
		return numeric[f] && !math.IsNaN(v.Double()) && !math.IsInf(v.Double(), 0)
	}
	return false
}

// str returns field f as text ("" when absent).
func (fs *fields) str(f int) string {
	if !fs.set[f] {
		return ""
	}
	return validUTF8(fs.val[f].AsString())
}

// int returns field f as an integer; ok is false when it is absent or
// not an integer.
func (fs *fields) int(f int) (int64, bool) {
	if !fs.set[f] {
		return 0, false
	}
	v := fs.val[f]
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if d == math.Trunc(d) && math.Abs(d) < 1<<53 {
			return int64(d), true
		}
	case pcommon.ValueTypeStr:
		i, err := strconv.ParseInt(strings.TrimSpace(v.Str()), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// float returns field f as a number.
func (fs *fields) float(f int) (float64, bool) {
	if !fs.set[f] {
		return 0, false
	}
	v := fs.val[f]
	var d float64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		d = float64(v.Int())
	case pcommon.ValueTypeDouble:
		d = v.Double()
	case pcommon.ValueTypeStr:
		var err error
		if d, err = strconv.ParseFloat(strings.TrimSpace(v.Str()), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return d, !math.IsNaN(d) && !math.IsInf(d, 0)
}

// recordContext is what the records of one scope share.
type recordContext struct {
	resource     pcommon.Map
	resourceJSON []byte // resource attributes as a JSON object
	scope        pcommon.InstrumentationScope
}

// decoded is an event and whether its id is a content hash.
type decoded struct {
	event.Event
	contentID bool
}

// maxTimeNanos is 2106-01-01 (what storage can hold) in Unix nanoseconds.
var maxTimeNanos = uint64(time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())

// decode maps one log record to an event, or says why it cannot (the
// reason and an error).
func (c *recordContext) decode(enc *rawEncoder, lr plog.LogRecord, maxBytes int64, now time.Time) (decoded, string, error) {
	ts, obs := uint64(lr.Timestamp()), uint64(lr.ObservedTimestamp())
	if ts >= maxTimeNanos {
		return decoded{}, ReasonBadTime, fmt.Errorf("time_unix_nano %d is out of range (1970–2105)", ts)
	}
	if obs >= maxTimeNanos {
		return decoded{}, ReasonBadTime, fmt.Errorf("observed_time_unix_nano %d is out of range (1970–2105)", obs)
	}
	enc.buf = enc.appendRaw(enc.buf[:0], c, lr)
	if maxBytes > 0 && int64(len(enc.buf)) > maxBytes {
		return decoded{}, ReasonRecordTooLarge, fmt.Errorf("record is %d bytes as JSON with its resource, limit %d", len(enc.buf), maxBytes)
	}
	raw := bytes.Clone(enc.buf)
	var d decoded
	ev := &d.Event
	ev.Source = Source
	ev.Raw = raw
	switch {
	case ts != 0:
		ev.Time = time.Unix(0, int64(ts)).UTC()
	case obs != 0:
		ev.Time = time.Unix(0, int64(obs)).UTC()
	default:
		ev.Time = now
	}
	if uid, ok := lr.Attributes().Get("log.record.uid"); ok && uid.Type() == pcommon.ValueTypeStr &&
		uid.Str() != "" && len(uid.Str()) <= maxUIDLen && utf8.ValidString(uid.Str()) {
		ev.EventID = uid.Str()
	} else {
		ev.EventID = event.ContentID(Source, raw)
		d.contentID = true
	}

	var fs fields
	fs.scan(lr.Attributes(), false)
	fs.scan(c.resource, true)
	if name := lr.EventName(); name != "" {
		fs.offer(fAction, rankEventName, "", pcommon.NewValueStr(name))
	}
	ev.Service = fs.str(fService)
	ev.Account = fs.str(fAccount)
	ev.Region = fs.str(fRegion)
	ev.Actor = fs.str(fActor)
	ev.SrcIP = fs.str(fSrcIP)
	ev.UserAgent = fs.str(fUserAgent)
	ev.Action = fs.str(fAction)
	ev.Target = fs.str(fTarget)
	ev.ErrorCode = fs.str(fErrorCode)
	if s, ok := fs.int(fStatus); ok && s > 0 && s < 1000 {
		ev.StatusCode = int(s)
	}
	if b, ok := fs.int(fBytesOut); ok && b > 0 {
		ev.BytesOut = b
	}
	if ms, ok := fs.float(fDuration); ok && ms > 0 {
		if fs.key[fDuration] == "event.duration" {
			ms /= 1e6
		}
		ev.DurationMS = ms
	}
	ev.Outcome = outcome(lr, ev.StatusCode)
	ev.Message = message(enc, lr.Body())
	return d, "", nil
}

// outcome is failure for a severity of ERROR or above (by number, or by
// text when the number is unset) or an HTTP status of 400 or above,
// success for a status below 400, else unknown.
func outcome(lr plog.LogRecord, status int) string {
	sev := lr.SeverityNumber()
	switch {
	case sev >= plog.SeverityNumberError:
		return event.OutcomeFailure
	case sev == plog.SeverityNumberUnspecified && errorText(lr.SeverityText()):
		return event.OutcomeFailure
	case status >= 400:
		return event.OutcomeFailure
	case status >= 100:
		return event.OutcomeSuccess
	}
	return ""
}

// errorText reports whether a severity text names ERROR or worse.
func errorText(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "ERROR", "ERR", "FATAL", "CRITICAL", "CRIT", "ALERT", "EMERGENCY", "EMERG", "PANIC", "SEVERE":
		return true
	}
	return false
}

// message is the body as text: a string as is, a map or array as JSON,
// bytes as base64, other scalars as text.
func message(enc *rawEncoder, body pcommon.Value) string {
	switch body.Type() {
	case pcommon.ValueTypeEmpty:
		return ""
	case pcommon.ValueTypeStr:
		return validUTF8(body.Str())
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		return string(enc.appendValue(nil, body))
	}
	return body.AsString()
}

func validUTF8(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
