package state

// dedupState keeps one open firing per key and period.
type dedupState struct {
	keys map[string]*dedupKey
}

type dedupKey struct {
	keyBase
	start  int64 // time of the first match: the period is [start, start+W]
	lo, hi int64 // First and Last
	count  int
	id     string
}

func (s *dedupState) apply(p *Partition, r *rule, m Match, t int64) {
	k := s.keys[m.Key]
	if k != nil && t <= k.start+r.window {
		k.count++
		k.lo, k.hi = min(k.lo, t), max(k.hi, t)
		p.emit(Firing{
			Rule: r.name, Key: m.Key, Kind: Dedup, ID: k.id,
			Count: k.count, First: fromNanos(k.lo), Last: fromNanos(k.hi),
			EventIDs: p.strs(m.EventID), Update: true,
		})
		return
	}
	if k == nil {
		if !p.admit(r) {
			return
		}
		k = &dedupKey{}
		s.keys[m.Key] = k
	}
	k.start, k.lo, k.hi, k.count = t, t, t, 1
	k.id = p.firingID(Dedup, r.name, m.Key, t, m.EventID)
	p.emit(Firing{
		Rule: r.name, Key: m.Key, Kind: Dedup, ID: k.id,
		Count: 1, First: fromNanos(t), Last: fromNanos(t),
		EventIDs: p.strs(m.EventID),
	})
	p.schedule(r, m.Key, &k.keyBase, t+r.window+1)
}

func (s *dedupState) timer(p *Partition, r *rule, key string, id uint64) {
	k := s.keys[key]
	if k == nil || !p.due(r, key, &k.keyBase, id, k.start+r.window+1) {
		return
	}
	delete(s.keys, key)
	r.live--
}

func (s *dedupState) encode(e *encoder) {
	keys := sortedKeys(s.keys)
	e.uint(uint64(len(keys)))
	for _, key := range keys {
		k := s.keys[key]
		e.str(key)
		e.int(k.start)
		e.int(k.lo)
		e.int(k.hi)
		e.uint(uint64(k.count))
		e.str(k.id)
	}
}

func (s *dedupState) decode(d *decoder, p *Partition, r *rule) {
	n := d.count(6)
	for range n {
		key := d.str()
		k := &dedupKey{start: d.time(), lo: d.time(), hi: d.time(), count: int(min(d.uint(), 1<<40)), id: d.str()}
		if d.err != nil {
			return
		}
		if s.keys[key] != nil {
			d.fail("dedup key %q repeated", key)
			return
		}
		s.keys[key] = k
		r.live++
		p.schedule(r, key, &k.keyBase, k.start+r.window+1)
	}
}
