package tail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// fingerprintMax caps the bytes a fingerprint covers.
const fingerprintMax = 1024

// fingerprint identifies a file's content: the SHA-256 (first 128 bits)
// of its first line with its "\n", or of its first fingerprintMax bytes
// when the first line is longer. Container log lines start with a
// nanosecond time, so two files share a fingerprint only when one is a
// copy of the other. The zero fingerprint is not known yet.
type fingerprint struct {
	n   int // bytes covered; 0 while unknown
	sum [16]byte
}

func (f fingerprint) known() bool    { return f.n > 0 }
func (f fingerprint) String() string { return hex.EncodeToString(f.sum[:]) }

// readFingerprint returns the fingerprint of r, or the zero fingerprint
// while r has neither a complete first line nor fingerprintMax bytes.
// With final (the file will not grow), whatever r holds is enough. buf
// has at least fingerprintMax bytes.
func readFingerprint(r io.ReaderAt, buf []byte, final bool) (fingerprint, error) {
	buf = buf[:fingerprintMax]
	n, err := r.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return fingerprint{}, fmt.Errorf("reading the first bytes: %w", err)
	}
	b := buf[:n]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else if n < fingerprintMax && !(final && n > 0) {
		return fingerprint{}, nil
	}
	f := fingerprint{n: len(b)}
	sum := sha256.Sum256(b)
	copy(f.sum[:], sum[:])
	return f, nil
}

// matches reports whether r still starts with the bytes f was made from;
// buf has at least fingerprintMax bytes.
func (f fingerprint) matches(r io.ReaderAt, buf []byte) (bool, error) {
	buf = buf[:f.n]
	n, err := r.ReadAt(buf, 0)
	if n < f.n {
		if err != nil && err != io.EOF {
			return false, fmt.Errorf("reading the first bytes: %w", err)
		}
		return false, nil
	}
	sum := sha256.Sum256(buf)
	return [16]byte(sum[:16]) == f.sum, nil
}

// recordID is the event id of the record whose first line starts at off
// in the file with fingerprint fp: the same on every read of the file, so
// that a record published again after a crash is dropped downstream as a
// repeat. A record published without its end (partial) gets another id:
// read again later with its end, the entry is a different event.
func recordID(fp fingerprint, off int64, partial bool) string {
	var b [64]byte
	k := hex.AppendEncode(b[:0], fp.sum[:])
	k = append(k, ':')
	k = strconv.AppendInt(k, off, 10)
	if partial {
		k = append(k, ":p"...)
	}
	return event.ContentID(Source, k)
}

// output receives what a follower reads. event and reject collect;
// checkpoint publishes what was collected once enough is (checkpointing
// the follower at a line boundary); an error stops the reading.
type output interface {
	event(ev event.Event)
	reject(reason string, rec []byte, err error)
	checkpoint() error
}

// readError is a failure to read the file (not to publish).
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// pending is an entry whose partial lines are being joined.
type pending struct {
	record
	start   int64     // offset of its first line
	touched time.Time // when its last part was read
}

// follower reads the records of one file: it splits lines, joins
// partial lines per stream and tracks the offset up to which the file's
// records have been handed over.
type follower struct {
	r       io.ReaderAt
	meta    *fileMeta
	format  uint8
	maxLine int

	now  time.Time // when the current read started (set by the reader)
	fp   fingerprint
	pos  int64 // the first byte not consumed: a line start, or inside the line being skipped
	ckpt int64 // the offset in the last checkpoint: everything before it is published
	skip int64 // the start of the too-long line being skipped, or -1
	pend [2]*pending
	cont [2]bool // the stream's next record continues an entry published in parts
}

func newFollower(r io.ReaderAt, meta *fileMeta, format uint8, maxLine int) follower {
	return follower{r: r, meta: meta, format: format, maxLine: maxLine, skip: -1}
}

// safe returns the offset from which reading again yields exactly the
// records not handed over yet: the start of the earliest pending entry or
// skipped line, else pos.
func (f *follower) safe() int64 {
	s := f.pos
	if f.skip >= 0 {
		s = min(s, f.skip)
	}
	for _, p := range f.pend {
		if p != nil {
			s = min(s, p.start)
		}
	}
	return s
}

// rewind forgets what was read after the last checkpoint.
func (f *follower) rewind() {
	f.pos, f.skip = f.ckpt, -1
	f.pend, f.cont = [2]*pending{}, [2]bool{}
}

func (f *follower) hasPending() bool { return f.pend[0] != nil || f.pend[1] != nil }

// read consumes the complete lines from pos on, about budget bytes at
// most, using buf (at least maxLine+1 bytes). With final (the file will
// not grow), a last line without "\n" is read too. It reports whether it
// stopped at the budget.
func (f *follower) read(out output, buf []byte, budget int64, final bool) (more bool, err error) {
	begin := f.pos
	for {
		if f.pos-begin >= budget {
			return true, nil
		}
		n, err := f.r.ReadAt(buf, f.pos)
		if err != nil && err != io.EOF {
			return false, &readError{fmt.Errorf("reading at offset %d: %w", f.pos, err)}
		}
		if n == 0 {
			return false, nil
		}
		data := buf[:n]
		if f.skip >= 0 { // the rest of a too-long line
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				f.pos += int64(n)
				if n < len(buf) {
					return false, nil
				}
				continue
			}
			f.pos += int64(i + 1)
			f.skip = -1
			continue
		}
		off := 0
		for {
			i := bytes.IndexByte(data[off:], '\n')
			if i < 0 {
				break
			}
			start := f.pos
			f.pos += int64(i + 1)
			if i > f.maxLine {
				out.reject("record_too_large", data[off:off+f.maxLine], tooLong(start, f.maxLine))
			} else {
				f.line(out, data[off:off+i], start)
			}
			off += i + 1
			if err := out.checkpoint(); err != nil {
				return false, err
			}
		}
		rest := data[off:]
		if len(rest) > f.maxLine {
			f.skip = f.pos
			f.pos += int64(len(rest))
			out.reject("record_too_large", rest[:f.maxLine], tooLong(f.skip, f.maxLine))
			continue
		}
		if n < len(buf) { // the end of the file
			if final && len(rest) > 0 {
				start := f.pos
				f.pos += int64(len(rest))
				f.line(out, rest, start)
			}
			return false, nil
		}
	}
}

func tooLong(off int64, maxLine int) error {
	return fmt.Errorf("line at offset %d is longer than max_line_bytes (%d): skipped to its end", off, maxLine)
}

// line handles the line b (without "\n") that starts at offset off.
func (f *follower) line(out output, b []byte, off int64) {
	if len(b) == 0 {
		return // runtimes write no blank lines; a blank line holds nothing
	}
	p, err := parseLine(b, f.format)
	if err != nil {
		out.reject("bad_record", b, fmt.Errorf("line at offset %d: %w", off, err))
		return
	}
	s := p.stream
	if pd := f.pend[s]; pd != nil {
		if len(pd.text)+len(p.text) <= f.maxLine {
			pd.text = append(pd.text, p.text...)
			pd.touched = f.now
			if !p.partial {
				pd.partial = false
				f.pend[s] = nil
				f.emit(out, pd)
			}
			return
		}
		// The entry is too long: publish what it has, go on with a new part.
		f.emitPending(out, s)
	}
	rec := &pending{record: record{part: p, text: p.text, partial: p.partial, continued: f.cont[s]}, start: off, touched: f.now}
	f.cont[s] = false
	if !p.partial {
		f.emit(out, rec)
		return
	}
	// p.text and p.attrs may alias the read buffer.
	rec.text = append(make([]byte, 0, 2*len(p.text)), p.text...)
	rec.attrs = bytes.Clone(p.attrs)
	f.pend[s] = rec
}

// emitPending publishes the pending entry of stream s as it is (partial).
func (f *follower) emitPending(out output, s int) {
	pd := f.pend[s]
	f.pend[s] = nil
	f.cont[s] = true
	f.emit(out, pd)
}

// flushPartials publishes the pending entries as they are.
func (f *follower) flushPartials(out output) {
	f.flushStale(out, time.Time{})
}

// flushStale publishes as they are the pending entries last extended
// before since (all of them when since is zero).
func (f *follower) flushStale(out output, since time.Time) {
	for s, p := range f.pend {
		if p != nil && (since.IsZero() || p.touched.Before(since)) {
			f.emitPending(out, s)
		}
	}
}

// stale reports whether a pending entry was last extended before since.
func (f *follower) stale(since time.Time) bool {
	for _, p := range f.pend {
		if p != nil && p.touched.Before(since) {
			return true
		}
	}
	return false
}

func (f *follower) emit(out output, p *pending) {
	var ev event.Event
	buildEvent(&ev, &p.record, f.meta, recordID(f.fp, p.start, p.partial))
	out.event(ev)
}
