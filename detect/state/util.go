package state

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"time"
)

// Event times are int64 nanoseconds since 1970 within ±2^62, so that a
// time plus or minus a window or lateness (<= 2^60) cannot overflow.
const (
	minNanos = -1 << 62
	maxNanos = 1<<62 - 1
	never    = math.MaxInt64 // no deadline
)

var (
	minTime = time.Unix(0, minNanos)
	maxTime = time.Unix(0, maxNanos)
)

// toNanos converts t, reporting whether it is in the supported range.
func toNanos(t time.Time) (int64, bool) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, false
	}
	return t.UnixNano(), true
}

// fromNanos converts back, in UTC.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// floorDiv is a/b rounded toward minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// firingID hashes the identity of a firing: kind, rule, key, a time and
// further identifying strings, into 32 hex digits (128 bits of SHA-256).
func (p *Partition) firingID(k Kind, rule, key string, t int64, parts ...string) string {
	b := p.idbuf[:0]
	b = append(b, byte(k))
	b = binary.AppendUvarint(b, uint64(len(rule)))
	b = append(b, rule...)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	for _, s := range parts {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	p.idbuf = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// timerEntry asks for rule's key to be looked at when the watermark
// reaches at; id must match the key's pending timer (else it is stale).
type timerEntry struct {
	at   int64
	id   uint64
	rule int32
	key  string
}

// timerHeap is a min-heap by (at, id).
type timerHeap []timerEntry

func (h timerHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].id < h[j].id
}

func (h *timerHeap) push(e timerEntry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *timerHeap) pop() timerEntry {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = timerEntry{}
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// occ is one occurrence of a match: time, bus sequence, event id.
type occ struct {
	t   int64
	seq uint64
	id  string
}

// before orders occurrences by time, then Seq.
func (o occ) before(x occ) bool {
	return o.t < x.t || o.t == x.t && o.seq < x.seq
}

// insertOcc inserts o after every occurrence not after it (searching from
// the end: in-order input appends) and returns the slice and o's index.
func insertOcc(s []occ, o occ) ([]occ, int) {
	i := len(s)
	for i > 0 && o.before(s[i-1]) {
		i--
	}
	s = append(s, occ{})
	copy(s[i+1:], s[i:])
	s[i] = o
	return s, i
}
