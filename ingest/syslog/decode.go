// Package syslog receives syslog messages (RFC 5424 and RFC 3164) over UDP
// and TCP and decodes each into one event of source "syslog".
//
// Decoder decodes one message and is also usable on its own, for syslog
// files replayed line by line or a text/plain body of syslog lines.
// Listener serves the network transports: one message per UDP datagram
// (RFC 5426), and on TCP octet-counted or LF-delimited frames (RFC 6587).
//
// Syslog has no authentication: anyone who can reach the port can write
// events. Config.Validate refuses a non-loopback address unless
// allow_remote is set, which should only be done on a trusted network
// segment.
package syslog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/tripline/tripline/internal/event"
)

// Source is the ingest source name of syslog events.
const Source = "syslog"

// Formats of Raw's "format".
const (
	FormatRFC5424 = "rfc5424"
	FormatRFC3164 = "rfc3164"
)

// Event times must fit ClickHouse's DateTime: [minTime, maxTime).
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Decoder decodes one syslog message: RFC 5424 when the header says so
// (<PRI>VERSION SP), else RFC 3164 (BSD syslog, best effort). It is safe
// for concurrent use.
type Decoder struct {
	// Now is the time of a message that carries none, and the reference
	// for the year of an RFC 3164 timestamp. nil means time.Now.
	Now func() time.Time
	// Location is the zone of RFC 3164 timestamps, which carry none. nil
	// means UTC.
	Location *time.Location
}

// LineRecords reports that a text/plain body holds one message per line.
func (Decoder) LineRecords() bool { return true }

// ContentIDs reports that event ids are content hashes: syslog messages
// have no id of their own.
func (Decoder) ContentIDs() bool { return true }

// Decode decodes one message (without its frame) into ev.
func (d Decoder) Decode(rec []byte, ev *event.Event) error {
	return d.decode(rec, "", ev)
}

// rawRecord is ev.Raw: the message's fields under their RFC 5424 names.
type rawRecord struct {
	Format         string                       `json:"format"`
	Priority       *uint8                       `json:"priority,omitempty"`
	Facility       *uint8                       `json:"facility,omitempty"`
	FacilityName   string                       `json:"facility_name,omitempty"`
	Severity       *uint8                       `json:"severity,omitempty"`
	SeverityName   string                       `json:"severity_name,omitempty"`
	Version        uint16                       `json:"version,omitempty"`
	Timestamp      string                       `json:"timestamp,omitempty"`
	Hostname       string                       `json:"hostname,omitempty"`
	AppName        string                       `json:"app_name,omitempty"`
	ProcID         string                       `json:"proc_id,omitempty"`
	MsgID          string                       `json:"msg_id,omitempty"`
	StructuredData map[string]map[string]string `json:"structured_data,omitempty"`
	MessageCounter *uint32                      `json:"message_counter,omitempty"`
	Sequence       *uint32                      `json:"sequence,omitempty"`
	Message        string                       `json:"message,omitempty"`
	Peer           string                       `json:"peer,omitempty"`
	Line           string                       `json:"line"`
}

// decode decodes rec; peer, when known, is the sender's address.
func (d Decoder) decode(rec []byte, peer string, ev *event.Event) error {
	line := trimEnd(rec)
	if len(line) == 0 {
		return errors.New("empty message")
	}
	raw := rawRecord{Peer: peer, Line: string(line)}
	var t time.Time
	var err error
	if looks5424(line) {
		t, err = d.fill5424(line, &raw)
	} else {
		t, err = d.fill3164(line, &raw)
	}
	if err != nil {
		return err
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return fmt.Errorf("timestamp %s is out of range (1970–2105)", t.Format(time.RFC3339Nano))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<PRI>" readable in the line
	if err := enc.Encode(&raw); err != nil {
		return fmt.Errorf("encode raw record: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	*ev = event.Event{
		Time:    t.UTC(),
		Source:  Source,
		EventID: event.ContentID(Source, line),
		Service: raw.AppName,
		Action:  raw.MsgID,
		SrcIP:   srcIP(raw.StructuredData),
		Message: raw.Message,
		Raw:     b,
	}
	if raw.Severity != nil && *raw.Severity <= 3 {
		ev.Outcome = event.OutcomeFailure
	}
	return nil
}

func (d Decoder) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// trimEnd drops the line end (LF, CRLF) and NUL trailers of a message.
func trimEnd(b []byte) []byte {
	return bytes.TrimRight(b, "\r\n\x00")
}

// looks5424 reports whether b starts like RFC 5424: <PRI>VERSION SP, with
// a version of 1 to 3 digits. RFC 3164 has a timestamp after the PRI.
func looks5424(b []byte) bool {
	i := bytes.IndexByte(b[:min(len(b), 5)], '>')
	if len(b) == 0 || b[0] != '<' || i < 2 {
		return false
	}
	j := i + 1
	for j < len(b) && j-i <= 3 && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	return j > i+1 && j < len(b) && b[j] == ' '
}

// pool5424 holds RFC 5424 machines (not safe for concurrent use).
var pool5424 = sync.Pool{New: func() any { return rfc5424.NewMachine() }}

// parseWith parses b with a machine of p. go-syslog may return neither a
// message nor an error; that is an error here.
func parseWith(p *sync.Pool, b []byte) (gosyslog.Message, error) {
	m := p.Get().(gosyslog.Machine)
	defer p.Put(m)
	msg, err := m.Parse(b)
	if err == nil && msg == nil {
		err = errors.New("no message")
	}
	return msg, err
}

// fill5424 decodes an RFC 5424 message into raw and returns its time.
func (d Decoder) fill5424(line []byte, raw *rawRecord) (time.Time, error) {
	msg, err := parseWith(&pool5424, line)
	if err != nil && strings.Contains(err.Error(), rfc5424.ErrTimestamp) {
		// RFC 5424 allows 6 fraction digits; some senders write 9.
		if fixed, ok := truncateFraction(line); ok {
			msg, err = parseWith(&pool5424, fixed)
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("RFC 5424 message: %w", err)
	}
	m := msg.(*rfc5424.SyslogMessage)
	raw.Format = FormatRFC5424
	fillBase(raw, &m.Base)
	raw.Version = m.Version
	raw.Message = strings.TrimPrefix(raw.Message, "\ufeff")
	if m.StructuredData != nil {
		raw.StructuredData = *m.StructuredData
	}
	if m.Timestamp == nil {
		return d.now(), nil // "-": the message has no time
	}
	raw.Timestamp = m.Timestamp.Format(time.RFC3339Nano)
	return *m.Timestamp, nil
}

// truncateFraction cuts the fraction of an RFC 5424 timestamp to 6 digits.
func truncateFraction(line []byte) ([]byte, bool) {
	start := bytes.IndexByte(line, ' ') + 1 // after <PRI>VERSION
	end := bytes.IndexByte(line[start:], ' ')
	if end < 0 {
		return nil, false
	}
	ts := line[start : start+end]
	dot := bytes.IndexByte(ts, '.')
	if dot < 0 {
		return nil, false
	}
	n := 0
	for dot+1+n < len(ts) && ts[dot+1+n] >= '0' && ts[dot+1+n] <= '9' {
		n++
	}
	if n <= 6 {
		return nil, false
	}
	cut := start + dot + 1 + 6
	fixed := append(slices.Clip(line[:cut]), line[start+dot+1+n:]...)
	return fixed, true
}

func fillBase(raw *rawRecord, b *gosyslog.Base) {
	raw.Priority, raw.Facility, raw.Severity = b.Priority, b.Facility, b.Severity
	if b.Facility != nil && int(*b.Facility) < len(facilityNames) {
		raw.FacilityName = facilityNames[*b.Facility]
	}
	if b.Severity != nil && int(*b.Severity) < len(severityNames) {
		raw.SeverityName = severityNames[*b.Severity]
	}
	raw.Hostname = deref(b.Hostname)
	raw.AppName = deref(b.Appname)
	raw.ProcID = deref(b.ProcID)
	raw.MsgID = deref(b.MsgID)
	raw.Message = deref(b.Message)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Keywords of facilities and severities (RFC 5424 §6.2.1, as rsyslog names
// them).
var (
	facilityNames = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
		"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}
	severityNames = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}
)

// srcIPParams are the structured-data parameters taken as the client
// address of the logged action, in order of preference. RFC 5424's own
// origin@ip is the sender's address, not a client's, so it is not one.
var srcIPParams = []string{"src_ip", "srcip", "client_ip", "clientip", "remote_addr", "remote_ip", "src"}

// srcIP returns the first parameter of srcIPParams that holds an IP
// address, looking through the elements in order of their ids.
func srcIP(sd map[string]map[string]string) string {
	if len(sd) == 0 {
		return ""
	}
	ids := make([]string, 0, len(sd))
	for id := range sd {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, name := range srcIPParams {
		for _, id := range ids {
			if v, ok := sd[id][name]; ok {
				if a, err := netip.ParseAddr(v); err == nil {
					return a.String()
				}
			}
		}
	}
	return ""
}
