package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Reasons a message is rejected: the Sink's and the Metrics' label.
const (
	// ReasonBadRecord: not a syslog message, or a broken TCP frame.
	ReasonBadRecord = "bad_record"
	// ReasonTooLarge: longer than max_message_bytes.
	ReasonTooLarge = "record_too_large"
	// ReasonQueueFull: a UDP datagram dropped while publishing lags.
	ReasonQueueFull = "queue_full"
	// ReasonTooManyConns: a TCP connection over max_connections.
	ReasonTooManyConns = "too_many_connections"
	// ReasonPublishFailed: messages lost at shutdown, the Sink failing.
	ReasonPublishFailed = "publish_failed"
)

const (
	maxLengthDigits      = 10 // MSG-LEN of up to 9,999,999,999 octets
	frameReaderBufferLen = 16 << 10
)

// frameError is a frame that the reader cannot deliver whole: a message
// over the size cap (the stream goes on) or a broken frame (it cannot).
type frameError struct {
	reason string
	err    error
	fatal  bool
}

func (e *frameError) Error() string { return e.err.Error() }
func (e *frameError) Unwrap() error { return e.err }

// frameReader splits a TCP stream into syslog messages (RFC 6587). The
// framing is chosen by the stream's first byte: a digit means octet
// counting ("MSG-LEN SP MSG", §3.4.1, as RFC 5425 uses), anything else
// LF-delimited non-transparent framing (§3.4.2).
//
// go-syslog's own stream parsers are not used: they hand back parsed
// messages without their bytes (needed for content ids, Raw's line and
// dead letters), stop at the first frame over the cap, and the
// non-transparent one has no cap at all.
type frameReader struct {
	r       *bufio.Reader
	max     int
	mode    byte // 0 until the first byte, then 'o' (octet counting) or 'l' (LF)
	pending error
}

func newFrameReader(r io.Reader, maxBytes int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, frameReaderBufferLen), max: maxBytes}
}

// next returns the next message, without its frame, in a new slice. At
// the end of the stream it returns io.EOF or the read error. A
// *frameError comes with the first bytes of the message (up to the cap);
// after a fatal one the stream must be dropped.
func (f *frameReader) next() ([]byte, error) {
	if f.pending != nil {
		return nil, f.pending
	}
	if f.mode == 0 {
		b, err := f.r.Peek(1)
		if err != nil {
			return nil, err
		}
		f.mode = 'l'
		if b[0] >= '1' && b[0] <= '9' {
			f.mode = 'o'
		}
	}
	if f.mode == 'o' {
		return f.nextCounted()
	}
	return f.nextLine()
}

// nextCounted reads one octet-counted frame. Line ends and spaces between
// frames, which some senders add, are skipped.
func (f *frameReader) nextCounted() ([]byte, error) {
	var c byte
	var err error
	for {
		if c, err = f.r.ReadByte(); err != nil {
			return nil, err
		}
		if c != '\n' && c != '\r' && c != ' ' && c != 0 {
			break
		}
	}
	header := []byte{c}
	var n int64
	for c >= '0' && c <= '9' {
		if len(header) > maxLengthDigits || (len(header) == 1 && c == '0') {
			return header, f.fatal(fmt.Errorf("octet-counting frame length %q is not a number from 1 to %d digits", header, maxLengthDigits))
		}
		n = n*10 + int64(c-'0')
		if c, err = f.r.ReadByte(); err != nil {
			return header, f.fatal(fmt.Errorf("stream ended in the frame length %q: %w", header, orUnexpectedEOF(err)))
		}
		header = append(header, c)
	}
	if c != ' ' || len(header) == 1 {
		// Not a frame: keep what follows on the line for the dead letter.
		rest, _ := f.r.Peek(min(f.r.Buffered(), 256))
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[:i]
		}
		header = append(header, rest...)
		return header[:min(len(header), max(f.max, maxLengthDigits+1))], f.fatal(fmt.Errorf("octet-counting frame does not start with a length and a space: %q", header))
	}
	keep := int(min(n, int64(f.max)))
	rec := make([]byte, keep)
	if got, err := io.ReadFull(f.r, rec); err != nil {
		return rec[:got], f.fatal(fmt.Errorf("stream ended after %d of the frame's %d bytes: %w", got, n, orUnexpectedEOF(err)))
	}
	if n > int64(f.max) {
		if got, err := discard(f.r, n-int64(keep)); err != nil {
			return rec, f.fatal(fmt.Errorf("stream ended after %d of the frame's %d bytes: %w", int64(keep)+got, n, orUnexpectedEOF(err)))
		}
		return rec, &frameError{reason: ReasonTooLarge, err: fmt.Errorf("message of %d bytes exceeds max_message_bytes (%d)", n, f.max)}
	}
	return rec, nil
}

// nextLine reads one LF-terminated message; empty lines are skipped. The
// last line of a stream needs no LF.
func (f *frameReader) nextLine() ([]byte, error) {
	for {
		var rec []byte
		size := 0
		var err error
		for {
			var chunk []byte
			chunk, err = f.r.ReadSlice('\n')
			size += len(chunk)
			if room := f.max + 1 - len(rec); room > 0 { // +1: the LF
				rec = append(rec, chunk[:min(len(chunk), room)]...)
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil {
			if size == 0 {
				return nil, err
			}
			f.pending = err // deliver the unterminated last line first
		} else {
			size-- // the LF
			rec = bytes.TrimSuffix(rec, []byte{'\n'})
		}
		if size > f.max {
			return rec[:f.max], &frameError{reason: ReasonTooLarge, err: fmt.Errorf("message of %d bytes or more exceeds max_message_bytes (%d)", size, f.max)}
		}
		if len(trimEnd(rec)) > 0 {
			return rec, nil
		}
		if f.pending != nil {
			return nil, f.pending
		}
	}
}

func (f *frameReader) fatal(err error) error {
	f.pending = io.EOF
	return &frameError{reason: ReasonBadRecord, err: err, fatal: true}
}

// discard skips n bytes of r.
func discard(r *bufio.Reader, n int64) (int64, error) {
	var done int64
	for done < n {
		got, err := r.Discard(int(min(n-done, 1<<30)))
		done += int64(got)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func orUnexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
