package state

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// distinctState counts distinct values per key in a sliding window.
type distinctState struct {
	keys map[string]*disKey
}

// disKey holds, per value, its occurrences in event-time order.
type disKey struct {
	keyBase
	vals []disVal
	idx  map[string]int32 // value -> index in vals, once there are many
	maxT int64            // latest occurrence time seen
}

type disVal struct {
	v   string
	occ []occ
}

// pick is one distinct value of a firing: its first occurrence in the
// window.
type pick struct {
	t   int64
	seq uint64
	v   string
	id  string
}

// disIndexAt is the number of values from which a key indexes them.
const disIndexAt = 8

func (k *disKey) find(v string) int {
	if k.idx != nil {
		if i, ok := k.idx[v]; ok {
			return int(i)
		}
		return -1
	}
	for i := range k.vals {
		if k.vals[i].v == v {
			return i
		}
	}
	return -1
}

func (k *disKey) add(v string) int {
	k.vals = append(k.vals, disVal{v: v})
	i := len(k.vals) - 1
	if k.idx != nil {
		k.idx[v] = int32(i)
	} else if len(k.vals) > disIndexAt {
		k.reindex()
	}
	return i
}

func (k *disKey) reindex() {
	if len(k.vals) <= disIndexAt {
		k.idx = nil
		return
	}
	if k.idx == nil {
		k.idx = make(map[string]int32, len(k.vals))
	}
	clear(k.idx)
	for i := range k.vals {
		k.idx[k.vals[i].v] = int32(i)
	}
}

// dropEmpty removes values without occurrences, keeping the order.
func (k *disKey) dropEmpty() {
	n := 0
	for _, v := range k.vals {
		if len(v.occ) > 0 {
			k.vals[n] = v
			n++
		}
	}
	if n == len(k.vals) {
		return
	}
	clear(k.vals[n:])
	k.vals = k.vals[:n]
	k.reindex()
}

// prune drops occurrences that no future match can share a window with.
func (k *disKey) prune(wm, w int64) {
	empty := false
	for i := range k.vals {
		v := &k.vals[i]
		n := 0
		for n < len(v.occ) && v.occ[n].t+w < wm {
			n++
		}
		if n > 0 {
			v.occ = dropFront(v.occ, n)
			empty = empty || len(v.occ) == 0
		}
	}
	if empty {
		k.dropEmpty()
	}
}

// dropFront removes the first n elements. It reslices instead of moving
// the rest, so that a long queue losing its head one element per match
// costs O(1) per match; append moves the survivors when the capacity
// runs out.
func dropFront[T any](s []T, n int) []T {
	clear(s[:n]) // drop references for the GC
	return s[n:]
}

// compact drops, among occurrences older than the watermark, the middle
// of any three consecutive ones within w of each other: a window
// containing it contains one of the others, so whether the value is in a
// window never changes. Occurrences at or after the watermark are kept,
// so a firing's reset (everything at or before its end, which is at or
// after the watermark) removes the same as without compaction.
//
// A pass runs once the occurrences older than the watermark are at least
// 8 and at least as many as the younger ones, so that a busy value's cost
// per match stays constant. When it runs depends only on the occurrences
// and the watermark, which a checkpoint restores, so a restarted
// partition keeps the same occurrences (and fires the same firings) as
// one that never stopped.
func (v *disVal) compact(wm, w int64) {
	os := v.occ
	old := sort.Search(len(os), func(i int) bool { return os[i].t >= wm })
	if old < 8 || old < len(os)-old {
		return
	}
	n, i := 1, 1 // os[:n] is the compacted result so far
	for ; i < old; i++ {
		if i+1 < len(os) && os[i+1].t-os[n-1].t <= w {
			continue
		}
		os[n] = os[i]
		n++
	}
	if n < i {
		m := copy(os[n:], os[i:])
		clear(os[n+m:])
		os = os[:n+m]
	}
	v.occ = os
}

// hasIn reports whether sorted occurrences have one in [lo, hi].
func hasIn(os []occ, lo, hi int64) bool {
	for i := len(os) - 1; i >= 0; i-- {
		if os[i].t <= hi {
			return os[i].t >= lo
		}
	}
	return false
}

// countAt counts the values with an occurrence in [e-w, e].
func (k *disKey) countAt(e, w int64) int { return k.countIn(e-w, e) }

// countIn counts the values with an occurrence in [lo, hi].
func (k *disKey) countIn(lo, hi int64) int {
	n := 0
	for i := range k.vals {
		if hasIn(k.vals[i].occ, lo, hi) {
			n++
		}
	}
	return n
}

func (s *distinctState) apply(p *Partition, r *rule, m Match, t int64) {
	wm, w := p.wm(), r.window
	k := s.keys[m.Key]
	if k != nil {
		k.prune(wm, w)
	}
	if k == nil {
		if !p.admit(r) {
			return
		}
		k = &disKey{maxT: minNanos}
		s.keys[m.Key] = k
	}
	vi := k.find(m.Value)
	if vi < 0 {
		vi = k.add(m.Value)
	}
	v := &k.vals[vi]
	v.occ, _ = insertOcc(v.occ, occ{t: t, seq: m.Seq, id: m.EventID})
	v.compact(wm, w)
	n := r.spec.Count
	if t >= k.maxT {
		// In order: the only new window is the one ending at t.
		k.maxT = t
		if k.countAt(t, w) >= n {
			s.fire(p, r, m.Key, k, t)
		}
	} else if k.countIn(t-w, t+w) >= n {
		// Late, and enough values near t: every window containing t
		// ends at t or at a later occurrence within w.
		ends := append(p.ends[:0], t)
		for i := range k.vals {
			for _, o := range k.vals[i].occ {
				if o.t > t && o.t <= t+w {
					ends = append(ends, o.t)
				}
			}
		}
		slices.Sort(ends)
		ends = slices.Compact(ends)
		p.ends = ends
		for _, e := range ends {
			if k.countAt(e, w) >= n {
				s.fire(p, r, m.Key, k, e)
				break
			}
		}
	}
	if len(k.vals) == 0 {
		delete(s.keys, m.Key)
		r.live--
		return
	}
	p.schedule(r, m.Key, &k.keyBase, t+w+1)
}

// fire emits the window [e-w, e] and resets the key: every occurrence at
// or before e is forgotten.
func (s *distinctState) fire(p *Partition, r *rule, key string, k *disKey, e int64) {
	w := r.window
	picks := p.picks[:0]
	for i := range k.vals {
		v := &k.vals[i]
		for _, o := range v.occ {
			if o.t >= e-w {
				if o.t <= e {
					picks = append(picks, pick{t: o.t, seq: o.seq, v: v.v, id: o.id})
				}
				break
			}
		}
	}
	slices.SortFunc(picks, func(a, b pick) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.seq, b.seq), strings.Compare(a.v, b.v))
	})
	ns := r.sampleN(len(picks))
	start := len(p.arena)
	for _, pk := range picks[:ns] {
		p.arena = append(p.arena, pk.v)
	}
	values := p.arena[start:len(p.arena):len(p.arena)]
	start = len(p.arena)
	for _, pk := range picks[:ns] {
		p.arena = append(p.arena, pk.id)
	}
	ids := p.arena[start:len(p.arena):len(p.arena)]
	p.emit(Firing{
		Rule: r.name, Key: key, Kind: Distinct,
		ID:       p.firingID(Distinct, r.name, key, picks[0].t, picks[0].id),
		Count:    len(picks),
		First:    fromNanos(picks[0].t),
		Last:     fromNanos(e),
		EventIDs: ids,
		Values:   values,
		Value:    strings.Join(values, ", "),
	})
	clear(picks)
	p.picks = picks[:0]
	for i := range k.vals {
		v := &k.vals[i]
		n := 0
		for n < len(v.occ) && v.occ[n].t <= e {
			n++
		}
		v.occ = dropFront(v.occ, n)
	}
	k.dropEmpty()
}

func (k *disKey) deadline(w int64) int64 {
	d := int64(never)
	for i := range k.vals {
		d = min(d, k.vals[i].occ[0].t+w+1)
	}
	return d
}

func (s *distinctState) timer(p *Partition, r *rule, key string, id uint64) {
	k := s.keys[key]
	if k == nil || !p.due(r, key, &k.keyBase, id, k.deadline(r.window)) {
		return
	}
	wm, w := p.wm(), r.window
	k.prune(wm, w)
	for i := range k.vals {
		k.vals[i].compact(wm, w)
	}
	if len(k.vals) == 0 {
		delete(s.keys, key)
		r.live--
		return
	}
	p.schedule(r, key, &k.keyBase, k.deadline(w))
}

// unique reports whether no value repeats.
func (k *disKey) unique() bool {
	if k.idx != nil {
		return len(k.idx) == len(k.vals)
	}
	for i := range k.vals {
		for j := range i {
			if k.vals[i].v == k.vals[j].v {
				return false
			}
		}
	}
	return true
}

func (s *distinctState) encode(e *encoder) {
	keys := sortedKeys(s.keys)
	e.uint(uint64(len(keys)))
	for _, key := range keys {
		k := s.keys[key]
		e.str(key)
		e.int(k.maxT)
		e.uint(uint64(len(k.vals)))
		for _, v := range k.vals {
			e.str(v.v)
			e.occs(v.occ)
		}
	}
}

func (s *distinctState) decode(d *decoder, p *Partition, r *rule) {
	n := d.count(4)
	for range n {
		key := d.str()
		k := &disKey{maxT: d.int()}
		nv := d.count(2)
		for range nv {
			v := disVal{v: d.str(), occ: d.occs()}
			if d.err == nil && len(v.occ) == 0 {
				d.fail("distinct key %q: value without occurrences", key)
			}
			if d.err != nil {
				return
			}
			k.vals = append(k.vals, v)
		}
		if d.err != nil {
			return
		}
		k.reindex()
		if !k.unique() {
			d.fail("distinct key %q: repeated value", key)
			return
		}
		if len(k.vals) == 0 || s.keys[key] != nil {
			d.fail("distinct key %q: empty or repeated", key)
			return
		}
		s.keys[key] = k
		r.live++
		p.schedule(r, key, &k.keyBase, k.deadline(r.window))
	}
}
