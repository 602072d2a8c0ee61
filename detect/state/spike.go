package state

import (
	"math"
	"strconv"
)

// Spike's baseline: an EWMA with this weight for the newest bucket; a
// baseline below spikeForget is 0; a bucket needs spikeWarmup buckets of
// the key's history before it to fire.
const (
	spikeAlpha  = 0.3
	spikeForget = 0.01
	spikeWarmup = 3
)

// spikeState counts matches per key in tumbling buckets.
type spikeState struct {
	keys map[string]*spkKey
}

// spkKey: buckets before next are folded into base; open holds the
// buckets from next on that have matches, by index. A bucket is folded
// once the watermark passes its end.
type spkKey struct {
	keyBase
	first int64 // index of the key's first bucket
	next  int64
	base  float64
	open  []spkBucket
	spare []string // a folded bucket's ids, for reuse
}

type spkBucket struct {
	idx   int64
	n     int
	fired bool
	first int64 // earliest match time
	ids   []string
}

// ewma folds one bucket of count c into baseline b.
func ewma(b float64, c int, first bool) float64 {
	if first {
		b = float64(c)
	} else {
		b = spikeAlpha*float64(c) + (1-spikeAlpha)*b
	}
	if b < spikeForget {
		b = 0
	}
	return b
}

// decay folds the empty buckets [from, to) into b.
func decay(b float64, from, to int64) float64 {
	for y := from; y < to && b != 0; y++ {
		b = ewma(b, 0, false)
	}
	return b
}

// baseline is the EWMA of the key's buckets before bucket x.
func (k *spkKey) baseline(x int64) float64 {
	b, y := k.base, k.next
	for _, o := range k.open {
		if o.idx >= x {
			break
		}
		b = decay(b, y, o.idx)
		b = ewma(b, o.n, o.idx == k.first)
		y = o.idx + 1
	}
	return decay(b, y, x)
}

// foldTo folds every bucket before fin into the baseline.
func (k *spkKey) foldTo(fin int64) {
	if fin <= k.next {
		return
	}
	k.base = k.baseline(fin)
	n := 0
	for n < len(k.open) && k.open[n].idx < fin {
		if k.spare == nil {
			k.spare = k.open[n].ids[:0]
		}
		clear(k.open[n].ids)
		n++
	}
	k.open = dropFront(k.open, n)
	k.next = fin
}

// forgotten reports whether the key decayed to nothing: it starts over.
func (k *spkKey) forgotten() bool {
	return len(k.open) == 0 && k.base == 0 && k.next > k.first
}

// deadline is when the watermark passes the first open bucket's end, or
// when the baseline will have decayed to 0.
func (k *spkKey) deadline(w int64) int64 {
	if len(k.open) > 0 {
		return mulSat(k.open[0].idx+1, w)
	}
	y := k.next
	for b := k.base; b != 0; y++ {
		b = ewma(b, 0, false)
	}
	return mulSat(y, w)
}

// mulSat is a*w, or never if it overflows.
func mulSat(a, w int64) int64 {
	if a > 0 && a > (math.MaxInt64-1)/w {
		return never
	}
	return a * w
}

func (s *spikeState) apply(p *Partition, r *rule, m Match, t int64) {
	w := r.window
	x := floorDiv(t, w)
	k := s.keys[m.Key]
	if k != nil {
		k.foldTo(floorDiv(p.wm(), w))
		if k.forgotten() {
			delete(s.keys, m.Key)
			r.live--
			k = nil
		}
	}
	if k == nil {
		if !p.admit(r) {
			return
		}
		k = &spkKey{first: x, next: x}
		s.keys[m.Key] = k
	}
	if x < k.first {
		// A late match before the key's first bucket; nothing is folded
		// yet (the watermark is before x's end).
		k.first = x
		k.next = min(k.next, x)
	}
	i := len(k.open)
	for i > 0 && k.open[i-1].idx > x {
		i--
	}
	if i == 0 || k.open[i-1].idx != x {
		k.open = append(k.open, spkBucket{})
		copy(k.open[i+1:], k.open[i:])
		k.open[i] = spkBucket{idx: x, first: t, ids: k.spare}
		k.spare = nil
		i++
	}
	b := &k.open[i-1]
	b.n++
	b.first = min(b.first, t)
	if len(b.ids) < r.spec.SampleIDs {
		b.ids = append(b.ids, m.EventID)
	}
	if !b.fired && x-k.first >= spikeWarmup && b.n >= r.spec.MinCount {
		if bl := k.baseline(x); float64(b.n) > r.spec.Factor*max(bl, 1) {
			b.fired = true
			p.emit(Firing{
				Rule: r.name, Key: m.Key, Kind: Spike,
				ID:       p.firingID(Spike, r.name, m.Key, x),
				Count:    b.n,
				First:    fromNanos(b.first),
				Last:     fromNanos(t),
				EventIDs: p.strs(b.ids...),
				Value:    strconv.FormatFloat(bl, 'f', 2, 64),
			})
		}
	}
	p.schedule(r, m.Key, &k.keyBase, k.deadline(w))
}

func (s *spikeState) timer(p *Partition, r *rule, key string, id uint64) {
	k := s.keys[key]
	if k == nil || !p.due(r, key, &k.keyBase, id, k.deadline(r.window)) {
		return
	}
	k.foldTo(floorDiv(p.wm(), r.window))
	if k.forgotten() {
		delete(s.keys, key)
		r.live--
		return
	}
	p.schedule(r, key, &k.keyBase, k.deadline(r.window))
}

func (s *spikeState) encode(e *encoder) {
	keys := sortedKeys(s.keys)
	e.uint(uint64(len(keys)))
	for _, key := range keys {
		k := s.keys[key]
		e.str(key)
		e.int(k.first)
		e.int(k.next)
		e.float(k.base)
		e.uint(uint64(len(k.open)))
		for _, b := range k.open {
			e.int(b.idx)
			e.uint(uint64(b.n))
			e.bool(b.fired)
			e.int(b.first)
			e.strs(b.ids)
		}
	}
}

func (s *spikeState) decode(d *decoder, p *Partition, r *rule) {
	w := r.window
	lo, hi := floorDiv(minNanos, w), floorDiv(maxNanos, w)
	n := d.count(12)
	for range n {
		key := d.str()
		k := &spkKey{first: d.int(), next: d.int(), base: d.float()}
		if k.first < lo || k.first > hi || k.next < k.first || k.next > hi+1 ||
			k.base < 0 || math.IsNaN(k.base) || math.IsInf(k.base, 0) {
			d.fail("spike key %q: bad state", key)
		}
		nb := d.count(5)
		for i := 0; i < nb && d.err == nil; i++ {
			b := spkBucket{idx: d.int(), n: int(min(d.uint(), 1<<40)), fired: d.bool(), first: d.time(), ids: d.strs()}
			if b.idx < k.next || b.idx > hi || b.n < 1 || i > 0 && b.idx <= k.open[i-1].idx {
				d.fail("spike key %q: bad bucket", key)
			}
			k.open = append(k.open, b)
		}
		if d.err != nil {
			return
		}
		if s.keys[key] != nil {
			d.fail("spike key %q repeated", key)
			return
		}
		s.keys[key] = k
		r.live++
		p.schedule(r, key, &k.keyBase, k.deadline(w))
	}
}
