package state

// newTermState remembers, per key, when each term was last seen.
type newTermState struct {
	keys map[string]*ntKey
}

type ntKey struct {
	keyBase
	terms map[string]int64 // term -> last seen
	next  int64            // when to sweep forgotten terms
}

func (s *newTermState) apply(p *Partition, r *rule, m Match, t int64) {
	k := s.keys[m.Key]
	if k != nil {
		if last, ok := k.terms[m.Value]; ok {
			if t-last <= r.window {
				if t > last {
					k.terms[m.Value] = t
				}
				return
			}
			// Last seen more than the history ago: new again.
			k.terms[m.Value] = t
			s.fire(p, r, &m, t)
			return
		}
	}
	if !s.add(p, r, m.Key, m.Value, t) {
		return
	}
	s.fire(p, r, &m, t)
}

func (s *newTermState) fire(p *Partition, r *rule, m *Match, t int64) {
	p.emit(Firing{
		Rule: r.name, Key: m.Key, Kind: NewTerm,
		ID:       p.firingID(NewTerm, r.name, m.Key, t, m.Value, m.EventID),
		Count:    1,
		First:    fromNanos(t),
		Last:     fromNanos(t),
		EventIDs: p.strs(m.EventID),
		Value:    m.Value,
	})
}

// add records a term the key does not hold, if the cap allows.
func (s *newTermState) add(p *Partition, r *rule, key, term string, t int64) bool {
	if !p.admit(r) {
		return false
	}
	k := s.keys[key]
	if k == nil {
		k = &ntKey{terms: map[string]int64{}, next: t + r.window + 1}
		s.keys[key] = k
	}
	k.terms[term] = t
	p.schedule(r, key, &k.keyBase, k.next)
	return true
}

// seed records a sighting from history without firing.
func (s *newTermState) seed(p *Partition, r *rule, key, term string, t int64) {
	if t+r.window < p.wm() {
		return // already forgotten
	}
	if k := s.keys[key]; k != nil {
		if last, ok := k.terms[term]; ok {
			k.terms[term] = max(last, t)
			return
		}
	}
	s.add(p, r, key, term, t)
}

// timer sweeps the key's forgotten terms. Sweeps run at most every
// history/8, so a term may outlive its history by that much (memory only:
// lookups compare times).
func (s *newTermState) timer(p *Partition, r *rule, key string, id uint64) {
	k := s.keys[key]
	if k == nil || !p.due(r, key, &k.keyBase, id, k.next) {
		return
	}
	wm, h := p.wm(), r.window
	oldest := int64(never)
	for term, last := range k.terms {
		if last+h < wm {
			delete(k.terms, term)
			r.live--
			continue
		}
		oldest = min(oldest, last)
	}
	if len(k.terms) == 0 {
		delete(s.keys, key)
		return
	}
	k.next = max(oldest+h+1, wm+max(h/8, 1))
	p.schedule(r, key, &k.keyBase, k.next)
}

func (s *newTermState) encode(e *encoder) {
	keys := sortedKeys(s.keys)
	e.uint(uint64(len(keys)))
	for _, key := range keys {
		k := s.keys[key]
		e.str(key)
		e.int(k.next)
		terms := sortedKeys(k.terms)
		e.uint(uint64(len(terms)))
		for _, term := range terms {
			e.str(term)
			e.int(k.terms[term])
		}
	}
}

func (s *newTermState) decode(d *decoder, p *Partition, r *rule) {
	n := d.count(3)
	for range n {
		key := d.str()
		k := &ntKey{next: d.int()}
		nt := d.count(2)
		k.terms = make(map[string]int64, nt)
		for range nt {
			term, last := d.str(), d.time()
			if _, dup := k.terms[term]; dup && d.err == nil {
				d.fail("new_term key %q: repeated term", key)
			}
			k.terms[term] = last
		}
		if d.err != nil {
			return
		}
		if len(k.terms) == 0 || s.keys[key] != nil {
			d.fail("new_term key %q: empty or repeated", key)
			return
		}
		s.keys[key] = k
		r.live += len(k.terms)
		p.schedule(r, key, &k.keyBase, k.next)
	}
}
