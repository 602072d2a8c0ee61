package state

import "math"

// sequenceState finds ordered steps per key within a window.
//
// The search is a dynamic program over a key's step matches in event-time
// order: for every step i it keeps the partial sequence (steps 0..i) with
// the latest start t0. A later start dominates, since matches still to
// come lie after every match scanned so far and only the deadline t0+W
// limits them. Matches older than the watermark can no longer be
// preceded by a new match, so they are folded into a per-step summary
// (fold) and dropped; the matches at or after the watermark stay in buf,
// where a late match can be inserted and the program rerun from the
// summary.
type sequenceState struct {
	keys map[string]*seqKey
}

// noNode marks a step-0 match: its chain has no parent.
const noNode = math.MinInt32

// seqEv is a buffered step match. parent is the node that its chain
// extends: >= 0 a buf index, < 0 a fold partial -(i+1), noNode none; it
// is valid for the matches that cur's chains pass through.
type seqEv struct {
	occ
	step   int32
	parent int32
}

// seqBest is a partial sequence: start t0 and, in cur, the node of its
// last step.
type seqBest struct {
	t0   int64
	node int32
	ok   bool
}

// seqEpisode is a completed sequence of an Absent rule waiting for the
// watermark to pass t0+W.
type seqEpisode struct {
	t0, tl int64
	id     string   // firing ID
	ids    []string // sample of the steps' ids
}

type seqKey struct {
	keyBase
	fold    []seqBest // per step: best partial among folded matches
	foldIDs []string  // ids of fold[i] at tri(i)..tri(i)+i
	buf     []seqEv   // matches at or after the watermark when folded
	cur     []seqBest // per step: best partial over fold and all of buf
	foldAt  int       // len(buf) at which Apply folds
	absent  []occ     // absent events (Absent rules), compacted
	pending []seqEpisode
}

// tri is the offset of fold partial i's ids.
func tri(i int) int { return i * (i + 1) / 2 }

func newSeqKey(steps int) *seqKey {
	b := make([]seqBest, 2*steps)
	return &seqKey{fold: b[:steps:steps], cur: b[steps:], foldIDs: make([]string, tri(steps)), foldAt: 16}
}

func (k *seqKey) empty() bool {
	if len(k.buf) > 0 || len(k.absent) > 0 || len(k.pending) > 0 {
		return false
	}
	for _, f := range k.fold {
		if f.ok {
			return false
		}
	}
	return true
}

// deadline is when the key's timer must run: to fold and expire its
// matches and partials, prune its absent events, fire pending episodes.
func (k *seqKey) deadline(w int64) int64 {
	d := int64(never)
	if len(k.buf) > 0 {
		d = k.buf[0].t + w + 1
	}
	for _, f := range k.fold {
		if f.ok {
			d = min(d, f.t0+w+1)
		}
	}
	if len(k.absent) > 0 {
		d = min(d, k.absent[0].t+w+1)
	}
	if len(k.pending) > 0 {
		d = min(d, k.pending[0].t0+w+1)
	}
	return d
}

// extend runs the program's step for buf[j] on cur and reports the start
// of the sequence it completes, if it does.
func (k *seqKey) extend(j int, w int64) (t0 int64, done bool) {
	ev := &k.buf[j]
	st := int(ev.step)
	steps := len(k.cur)
	ev.parent = noNode
	if st == 0 {
		k.cur[0] = seqBest{t0: ev.t, node: int32(j), ok: true}
		return ev.t, steps == 1
	}
	prev, c := k.cur[st-1], k.cur[st]
	if !prev.ok || ev.t-prev.t0 > w || c.ok && prev.t0 < c.t0 {
		return 0, false
	}
	ev.parent = prev.node
	k.cur[st] = seqBest{t0: prev.t0, node: int32(j), ok: true}
	return prev.t0, st == steps-1
}

// rescan reruns the program over fold and buf; it returns the index of
// the first match completing a sequence, or -1.
func (k *seqKey) rescan(w int64) (j int, t0 int64) {
	for i := range k.cur {
		k.cur[i] = seqBest{t0: k.fold[i].t0, node: int32(-(i + 1)), ok: k.fold[i].ok}
	}
	for j := range k.buf {
		if t0, done := k.extend(j, w); done {
			return j, t0
		}
	}
	return -1, 0
}

func (s *sequenceState) apply(p *Partition, r *rule, m Match, t int64) {
	steps := r.spec.Steps
	if m.Step < 0 || m.Step > steps || m.Step == steps && !r.spec.Absent {
		p.invalid++
		return
	}
	k := s.keys[m.Key]
	if k == nil {
		if !p.admit(r) {
			return
		}
		k = newSeqKey(steps)
		s.keys[m.Key] = k
	}
	wm, w := p.wm(), r.window
	o := occ{t: t, seq: m.Seq, id: m.EventID}
	if m.Step == steps {
		k.addAbsent(o, w)
	} else {
		i := len(k.buf)
		for i > 0 && o.before(k.buf[i-1].occ) {
			i--
		}
		k.buf = append(k.buf, seqEv{})
		copy(k.buf[i+1:], k.buf[i:])
		k.buf[i] = seqEv{occ: o, step: int32(m.Step)}
		if i == len(k.buf)-1 {
			if t0, done := k.extend(i, w); done {
				s.complete(p, r, m.Key, k, i, t0)
				s.settle(p, r, m.Key, k)
			}
		} else {
			s.settle(p, r, m.Key, k)
		}
		if len(k.buf) >= k.foldAt {
			s.fold(p, r, m.Key, k, wm)
		}
	}
	k.pruneAbsent(wm, w)
	if k.empty() {
		delete(s.keys, m.Key)
		r.live--
		return
	}
	p.schedule(r, m.Key, &k.keyBase, k.deadline(w))
}

// addAbsent records an absent event and cancels the pending episodes it
// falls in.
func (k *seqKey) addAbsent(o occ, w int64) {
	k.absent, _ = insertOcc(k.absent, o)
	// Only whether some absent event lies in [t0, t0+w] matters: of three
	// within w the middle one never decides it.
	out := k.absent[:0]
	for i, a := range k.absent {
		if len(out) > 0 && i+1 < len(k.absent) && k.absent[i+1].t-out[len(out)-1].t <= w {
			continue
		}
		out = append(out, a)
	}
	clear(k.absent[len(out):])
	k.absent = out
	n := 0
	for _, ep := range k.pending {
		if o.t >= ep.t0 && o.t <= ep.t0+w {
			continue
		}
		k.pending[n] = ep
		n++
	}
	clear(k.pending[n:])
	k.pending = k.pending[:n]
}

// pruneAbsent drops absent events before any live partial could start.
func (k *seqKey) pruneAbsent(wm, w int64) {
	n := 0
	for n < len(k.absent) && k.absent[n].t+w < wm {
		n++
	}
	if n > 0 {
		k.absent = dropFront(k.absent, n)
	}
}

// settle reruns the program and handles completions until none is left.
func (s *sequenceState) settle(p *Partition, r *rule, key string, k *seqKey) {
	for {
		j, t0 := k.rescan(r.window)
		if j < 0 {
			return
		}
		s.complete(p, r, key, k, j, t0)
	}
}

// complete handles the sequence ending at buf[j]: it fires it (or, for an
// Absent rule, makes it pending unless an absent event cancels it), then
// resets the key: matches at or before its last step and every folded
// partial are consumed. The caller reruns the program.
func (s *sequenceState) complete(p *Partition, r *rule, key string, k *seqKey, j int, t0 int64) {
	w := r.window
	tl := k.buf[j].t
	// The chain's ids, collected backwards: buffered steps, then the
	// folded partial it extends, if any.
	chain := p.chain[:0]
	node := int32(j)
	for node >= 0 {
		chain = append(chain, k.buf[node].id)
		node = k.buf[node].parent
	}
	if node != noNode {
		f := int(-node - 1)
		for i := f; i >= 0; i-- {
			chain = append(chain, k.foldIDs[tri(f)+i])
		}
	}
	for a, b := 0, len(chain)-1; a < b; a, b = a+1, b-1 {
		chain[a], chain[b] = chain[b], chain[a]
	}
	p.chain = chain
	id := p.firingID(Sequence, r.name, key, t0, chain[0])
	sample := chain[:r.sampleN(len(chain))]
	switch {
	case !r.spec.Absent:
		p.emit(Firing{
			Rule: r.name, Key: key, Kind: Sequence, ID: id,
			Count: len(k.cur), First: fromNanos(t0), Last: fromNanos(tl),
			EventIDs: p.strs(sample...),
		})
	case hasIn(k.absent, t0, t0+w):
		// The absent event came: nothing to report.
	default:
		ep := seqEpisode{t0: t0, tl: tl, id: id, ids: append([]string(nil), sample...)}
		i := len(k.pending)
		for i > 0 && (k.pending[i-1].t0 > t0 || k.pending[i-1].t0 == t0 && k.pending[i-1].tl > tl) {
			i--
		}
		k.pending = append(k.pending, seqEpisode{})
		copy(k.pending[i+1:], k.pending[i:])
		k.pending[i] = ep
	}
	n := 0
	for n < len(k.buf) && k.buf[n].t <= tl {
		n++
	}
	k.buf = dropFront(k.buf, n)
	clear(k.fold)
	clear(k.foldIDs)
}

// fold moves the matches before the watermark into the per-step summary,
// expires partials that can no longer complete, and reruns the program.
func (s *sequenceState) fold(p *Partition, r *rule, key string, k *seqKey, wm int64) {
	w := r.window
	steps := len(k.fold)
	n := 0
	for ; n < len(k.buf) && k.buf[n].t < wm; n++ {
		ev := k.buf[n]
		st := int(ev.step)
		switch {
		case st == steps-1:
			// Would complete: the program already fired it.
		case st == 0:
			k.fold[0] = seqBest{t0: ev.t, ok: true}
			k.foldIDs[0] = ev.id
		default:
			prev, c := k.fold[st-1], k.fold[st]
			if !prev.ok || ev.t-prev.t0 > w || c.ok && prev.t0 < c.t0 {
				continue
			}
			k.fold[st] = seqBest{t0: prev.t0, ok: true}
			copy(k.foldIDs[tri(st):tri(st)+st], k.foldIDs[tri(st-1):tri(st-1)+st])
			k.foldIDs[tri(st)+st] = ev.id
		}
	}
	k.buf = dropFront(k.buf, n)
	for i := range k.fold {
		if k.fold[i].ok && k.fold[i].t0+w < wm {
			k.fold[i] = seqBest{}
			clear(k.foldIDs[tri(i) : tri(i)+i+1])
		}
	}
	s.settle(p, r, key, k)
	k.foldAt = 2*len(k.buf) + 16
}

func (s *sequenceState) timer(p *Partition, r *rule, key string, id uint64) {
	k := s.keys[key]
	if k == nil || !p.due(r, key, &k.keyBase, id, k.deadline(r.window)) {
		return
	}
	wm, w := p.wm(), r.window
	s.fold(p, r, key, k, wm)
	k.pruneAbsent(wm, w)
	n := 0
	for n < len(k.pending) && k.pending[n].t0+w < wm {
		ep := k.pending[n]
		p.emit(Firing{
			Rule: r.name, Key: key, Kind: Sequence, ID: ep.id,
			Count: r.spec.Steps, First: fromNanos(ep.t0), Last: fromNanos(ep.tl),
			EventIDs: p.strs(ep.ids...),
		})
		n++
	}
	k.pending = dropFront(k.pending, n)
	if k.empty() {
		delete(s.keys, key)
		r.live--
		return
	}
	p.schedule(r, key, &k.keyBase, k.deadline(w))
}

func (s *sequenceState) encode(e *encoder) {
	keys := sortedKeys(s.keys)
	e.uint(uint64(len(keys)))
	for _, key := range keys {
		k := s.keys[key]
		e.str(key)
		e.uint(uint64(k.foldAt))
		for i, f := range k.fold {
			e.bool(f.ok)
			if f.ok {
				e.int(f.t0)
				for _, id := range k.foldIDs[tri(i) : tri(i)+i+1] {
					e.str(id)
				}
			}
		}
		e.uint(uint64(len(k.buf)))
		for _, ev := range k.buf {
			e.occ(ev.occ)
			e.uint(uint64(ev.step))
		}
		e.occs(k.absent)
		e.uint(uint64(len(k.pending)))
		for _, ep := range k.pending {
			e.int(ep.t0)
			e.int(ep.tl)
			e.str(ep.id)
			e.strs(ep.ids)
		}
	}
}

func (s *sequenceState) decode(d *decoder, p *Partition, r *rule) {
	steps := r.spec.Steps
	n := d.count(4)
	for range n {
		key := d.str()
		k := newSeqKey(steps)
		k.foldAt = int(min(d.uint(), 1<<30))
		for i := range k.fold {
			if !d.bool() {
				continue
			}
			k.fold[i] = seqBest{t0: d.time(), ok: true}
			for j := range i + 1 {
				k.foldIDs[tri(i)+j] = d.str()
			}
		}
		nb := d.count(4)
		for i := 0; i < nb && d.err == nil; i++ {
			ev := seqEv{occ: d.occ(), step: int32(min(d.uint(), math.MaxInt32))}
			if int(ev.step) >= steps || i > 0 && ev.before(k.buf[i-1].occ) {
				d.fail("sequence key %q: bad buffered step", key)
			}
			k.buf = append(k.buf, ev)
		}
		k.absent = d.occs()
		np := d.count(4)
		for i := 0; i < np && d.err == nil; i++ {
			ep := seqEpisode{t0: d.time(), tl: d.time(), id: d.str(), ids: d.strs()}
			if i > 0 && ep.t0 < k.pending[i-1].t0 {
				d.fail("sequence key %q: pending out of order", key)
			}
			k.pending = append(k.pending, ep)
		}
		if d.err != nil {
			return
		}
		if j, _ := k.rescan(r.window); j >= 0 || k.empty() || s.keys[key] != nil {
			d.fail("sequence key %q: inconsistent, empty or repeated", key)
			return
		}
		s.keys[key] = k
		r.live++
		p.schedule(r, key, &k.keyBase, k.deadline(r.window))
	}
}
