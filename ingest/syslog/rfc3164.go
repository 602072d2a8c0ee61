package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/ciscoios"
	"github.com/leodido/go-syslog/v4/rfc3164"
)

// futureSlack is how far ahead of Now an RFC 3164 timestamp (which has no
// year) may be before it is taken to be from the year before.
const futureSlack = 7 * 24 * time.Hour

// pools3164 hold the RFC 3164 machines, tried in order: plain BSD syslog
// (also with an RFC 3339 timestamp, or without PRI as in syslog files),
// then Cisco IOS with a message counter, then Cisco with every extension.
// A machine is not safe for concurrent use; a pool gives each call its own.
var pools3164 = []*sync.Pool{
	machinePool(rfc3164.WithRFC3339(), rfc3164.WithSecondFractions(), rfc3164.WithLenientDay(),
		rfc3164.WithOptionalPriority(), rfc3164.WithEmbeddedNewlines()),
	machinePool(rfc3164.WithLenientDay(), rfc3164.WithEmbeddedNewlines(),
		rfc3164.WithCiscoIOSComponents(ciscoios.DisableSequenceNumber|ciscoios.DisableHostname)),
	machinePool(rfc3164.WithLenientDay(), rfc3164.WithEmbeddedNewlines(),
		rfc3164.WithCiscoIOSComponents(ciscoios.All)),
}

func machinePool(opts ...gosyslog.MachineOption) *sync.Pool {
	return &sync.Pool{New: func() any { return rfc3164.NewMachine(opts...) }}
}

// fill3164 decodes a BSD syslog message into raw and returns its time. A
// message that no machine parses but that has a valid PRI is kept whole,
// at the receipt time (RFC 3164 §4.3.2).
func (d Decoder) fill3164(line []byte, raw *rawRecord) (time.Time, error) {
	raw.Format = FormatRFC3164
	var msg gosyslog.Message
	var err error
	for i, p := range pools3164 {
		if i > 0 && line[0] != '<' {
			break // the Cisco machines need a PRI
		}
		msg, err = parseWith(p, line)
		if err == nil && msg.(*rfc3164.SyslogMessage).Timestamp != nil {
			break
		}
		msg = nil
	}
	if msg == nil {
		// RFC 3164 §4.3.2: a valid PRI without a valid header is kept,
		// with the receipt time and the rest as the message.
		pri, rest, ok := cutPRI(line)
		if !ok {
			return time.Time{}, fmt.Errorf("neither RFC 5424 nor RFC 3164: %s", why3164(line))
		}
		if len(bytes.TrimSpace(rest)) == 0 {
			return time.Time{}, errors.New("no message after the PRI")
		}
		var b gosyslog.Base
		b.ComputeFromPriority(pri)
		fillBase(raw, &b)
		raw.Message = string(rest)
		return d.now(), nil
	}
	m := msg.(*rfc3164.SyslogMessage)
	fillBase(raw, &m.Base)
	raw.MessageCounter = m.MessageCounter
	raw.Sequence = m.Sequence
	t := *m.Timestamp
	if t.Year() == 0 { // a BSD "Mmm dd hh:mm:ss" stamp: no year, no zone
		loc := d.Location
		if loc == nil {
			loc = time.UTC
		}
		t, err = inferYear(t, d.now(), loc)
		if err != nil {
			return time.Time{}, err
		}
	}
	raw.Timestamp = t.Format(time.RFC3339Nano)
	return t, nil
}

// cutPRI splits a leading <PRI> (0–191) from b.
func cutPRI(b []byte) (pri uint8, rest []byte, ok bool) {
	if len(b) < 3 || b[0] != '<' {
		return 0, nil, false
	}
	n := 0
	i := 1
	for ; i < len(b) && i <= 4 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int(b[i]-'0')
	}
	if i == 1 || i > 4 || i >= len(b) || b[i] != '>' || n > 191 || (i > 2 && b[1] == '0') {
		return 0, nil, false
	}
	return uint8(n), b[i+1:], true
}

// why3164 explains why line is not a message.
func why3164(line []byte) string {
	if line[0] != '<' {
		return "no <PRI> and no RFC 3164 timestamp at the start"
	}
	end := bytes.IndexByte(line, '>')
	if end < 0 || end > 5 {
		return "PRI is not closed by '>' within 3 digits"
	}
	return fmt.Sprintf("PRI %q is not a number from 0 to 191", line[:end+1])
}

// inferYear places a month-day-clock stamp (parsed in year 0, UTC) in loc,
// in the latest year that puts it at most futureSlack after now. This
// handles the turn of the year both ways: "Dec 31 23:59:59" received on
// January 1 is from last year, "Jan 1 00:00:01" received a second before
// midnight on December 31 from a sender whose clock runs ahead is next
// year's.
func inferYear(stamp, now time.Time, loc *time.Location) (time.Time, error) {
	limit := now.Add(futureSlack)
	y := now.In(loc).Year()
	for _, year := range []int{y + 1, y, y - 1, y - 2, y - 3, y - 4} {
		t := time.Date(year, stamp.Month(), stamp.Day(), stamp.Hour(), stamp.Minute(),
			stamp.Second(), stamp.Nanosecond(), loc)
		if t.Day() != stamp.Day() {
			continue // February 29 in a common year
		}
		if !t.After(limit) {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %s has no valid year near %d", stamp.Format(time.Stamp), y)
}
