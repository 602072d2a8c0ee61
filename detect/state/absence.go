package state

// absenceState notices keys that stop sending.
type absenceState struct {
	keys map[string]*absKey
}

// absKey: matches at or before the watermark are final and summarized by
// the episode (start, last, count); later ones wait in pend, where a late
// match may still land between them.
type absKey struct {
	keyBase
	started     bool
	start, last int64
	lastID      string
	count       uint64
	pend        []absMark
}

// absMark is a pending match time; n counts the matches merged into it.
type absMark struct {
	t  int64
	n  uint64
	id string
}

func (s *absenceState) apply(p *Partition, r *rule, m Match, t int64) {
	w := r.window
	k := s.keys[m.Key]
	if k == nil {
		if !p.admit(r) {
			return
		}
		k = &absKey{}
		s.keys[m.Key] = k
	}
	i := len(k.pend)
	for i > 0 && k.pend[i-1].t > t {
		i--
	}
	k.pend = append(k.pend, absMark{})
	copy(k.pend[i+1:], k.pend[i:])
	k.pend[i] = absMark{t: t, n: 1, id: m.EventID}
	// Of three pending matches less than w apart the middle one can never
	// bound a silence (a late match only shortens gaps): merge it into the
	// next.
	out := k.pend[:0]
	for j := range k.pend {
		if len(out) > 0 && j+1 < len(k.pend) && k.pend[j+1].t-out[len(out)-1].t < w {
			k.pend[j+1].n += k.pend[j].n
			continue
		}
		out = append(out, k.pend[j])
	}
	clear(k.pend[len(out):])
	k.pend = out
	s.settle(p, r, m.Key, k)
}

// settle finalizes the pending matches the watermark reached, fires the
// silences it finds, then drops or reschedules the key.
func (s *absenceState) settle(p *Partition, r *rule, key string, k *absKey) {
	wm, w := p.wm(), r.window
	n := 0
	for ; n < len(k.pend) && k.pend[n].t <= wm; n++ {
		b := k.pend[n]
		if k.started && b.t-k.last >= w {
			s.fire(p, r, key, k)
		}
		if !k.started {
			k.started, k.start, k.count = true, b.t, 0
		}
		k.count += b.n
		k.last, k.lastID = b.t, b.id
	}
	k.pend = dropFront(k.pend, n)
	if k.started && wm-k.last >= w {
		s.fire(p, r, key, k)
	}
	if !k.started && len(k.pend) == 0 {
		delete(s.keys, key)
		r.live--
		return
	}
	p.schedule(r, key, &k.keyBase, k.deadline(w))
}

// deadline is when the silence after the episode is due or, before the
// episode starts, when its first pending match becomes final.
func (k *absKey) deadline(w int64) int64 {
	if k.started {
		return k.last + w
	}
	return k.pend[0].t
}

// fire reports the silence after the episode and ends it.
func (s *absenceState) fire(p *Partition, r *rule, key string, k *absKey) {
	p.emit(Firing{
		Rule: r.name, Key: key, Kind: Absence,
		ID:       p.firingID(Absence, r.name, key, k.last, k.lastID),
		Count:    int(min(k.count, 1<<62)),
		First:    fromNanos(k.start),
		Last:     fromNanos(k.last),
		EventIDs: p.strs(k.lastID),
	})
	k.started, k.lastID = false, ""
}

func (s *absenceState) timer(p *Partition, r *rule, key string, id uint64) {
	k := s.keys[key]
	if k == nil || !p.due(r, key, &k.keyBase, id, k.deadline(r.window)) {
		return
	}
	s.settle(p, r, key, k)
}

func (s *absenceState) encode(e *encoder) {
	keys := sortedKeys(s.keys)
	e.uint(uint64(len(keys)))
	for _, key := range keys {
		k := s.keys[key]
		e.str(key)
		e.bool(k.started)
		if k.started {
			e.int(k.start)
			e.int(k.last)
			e.str(k.lastID)
			e.uint(k.count)
		}
		e.uint(uint64(len(k.pend)))
		for _, b := range k.pend {
			e.int(b.t)
			e.uint(b.n)
			e.str(b.id)
		}
	}
}

func (s *absenceState) decode(d *decoder, p *Partition, r *rule) {
	n := d.count(3)
	for range n {
		key := d.str()
		k := &absKey{started: d.bool()}
		if k.started {
			k.start, k.last, k.lastID, k.count = d.time(), d.time(), d.str(), d.uint()
		}
		np := d.count(3)
		for i := 0; i < np && d.err == nil; i++ {
			b := absMark{t: d.time(), n: d.uint(), id: d.str()}
			if i > 0 && b.t < k.pend[i-1].t {
				d.fail("absence key %q: pending out of order", key)
			}
			k.pend = append(k.pend, b)
		}
		if d.err != nil {
			return
		}
		if !k.started && len(k.pend) == 0 || s.keys[key] != nil {
			d.fail("absence key %q: empty or repeated", key)
			return
		}
		s.keys[key] = k
		r.live++
		p.schedule(r, key, &k.keyBase, k.deadline(r.window))
	}
}
