package state

// dedupState keeps one open firing per key and period. The first match of
// a period fires at once; later ones only count, and the key's pending
// update is returned by the next Advance (or by the match that opens the
// key's next period), so that a runner advancing once per checkpoint
// publishes at most one update per key and checkpoint.
type dedupState struct {
	keys map[string]*dedupKey
}

type dedupKey struct {
	keyBase
	start int64 // time of the match that opened the period [start, start+W]: First
	hi    int64 // Last
	count int
	sent  int // the Count last returned; count > sent: an update is pending
	id    string
	ids   []string // the first SampleIDs event ids of the period
}

func (s *dedupState) apply(p *Partition, r *rule, m Match, t int64) {
	k := s.keys[m.Key]
	if k != nil && t <= k.start+r.window {
		k.count++
		k.hi = max(k.hi, t)
		if len(k.ids) < r.spec.SampleIDs {
			k.ids = append(k.ids, m.EventID)
		}
		// Due at once: the next Advance returns the update.
		p.schedule(r, m.Key, &k.keyBase, p.wm())
		return
	}
	if k == nil {
		if !p.admit(r) {
			return
		}
		k = &dedupKey{}
		s.keys[m.Key] = k
	} else {
		s.update(p, r, m.Key, k) // the last of the period that ended
	}
	k.start, k.hi, k.count, k.sent = t, t, 1, 1
	k.ids = append(k.ids[:0], m.EventID)
	k.id = p.firingID(Dedup, r.name, m.Key, t, m.EventID)
	p.emit(Firing{
		Rule: r.name, Key: m.Key, Kind: Dedup, ID: k.id,
		Count: 1, First: fromNanos(t), Last: fromNanos(t),
		EventIDs: p.strs(m.EventID),
	})
	p.schedule(r, m.Key, &k.keyBase, t+r.window+1)
}

// update emits the key's pending update, if matches came since the count
// it last returned.
func (s *dedupState) update(p *Partition, r *rule, key string, k *dedupKey) {
	if k.count == k.sent {
		return
	}
	k.sent = k.count
	p.emit(Firing{
		Rule: r.name, Key: key, Kind: Dedup, ID: k.id,
		Count: k.count, First: fromNanos(k.start), Last: fromNanos(k.hi),
		EventIDs: p.strs(k.ids...), Update: true,
	})
}

// timer returns the pending update and, once the watermark passed the
// period, forgets the key.
func (s *dedupState) timer(p *Partition, r *rule, key string, id uint64) {
	k := s.keys[key]
	if k == nil || k.tid != id {
		return
	}
	k.tid = 0
	s.update(p, r, key, k)
	if end := k.start + r.window + 1; end > p.wm() {
		p.schedule(r, key, &k.keyBase, end)
		return
	}
	delete(s.keys, key)
	r.live--
}

// encode writes per key its key, start, start again (where snapshots
// before updates were coalesced kept the earliest match), last, count and
// id; then, after every key, per key in the same order the matches not yet
// returned in an update and the sampled event ids.
func (s *dedupState) encode(e *encoder) {
	keys := sortedKeys(s.keys)
	e.uint(uint64(len(keys)))
	for _, key := range keys {
		k := s.keys[key]
		e.str(key)
		e.int(k.start)
		e.int(k.start)
		e.int(k.hi)
		e.uint(uint64(k.count))
		e.str(k.id)
	}
	for _, key := range keys {
		k := s.keys[key]
		e.uint(uint64(k.count - k.sent))
		e.strs(k.ids)
	}
}

func (s *dedupState) decode(d *decoder, p *Partition, r *rule) {
	n := d.count(6)
	keys := make([]string, 0, n)
	for range n {
		key := d.str()
		k := &dedupKey{start: d.time()}
		d.time() // the earliest match: First is the period's start
		k.hi = d.time()
		k.count = int(min(d.uint(), 1<<40))
		k.id = d.str()
		k.sent = k.count
		if d.err != nil {
			return
		}
		if k.count < 1 || k.hi < k.start {
			d.fail("dedup key %q: bad count or times", key)
			return
		}
		if s.keys[key] != nil {
			d.fail("dedup key %q repeated", key)
			return
		}
		s.keys[key] = k
		r.live++
		keys = append(keys, key)
	}
	// A snapshot of an older version ends here: its keys have no pending
	// update and no sample.
	if d.err == nil && len(d.b) > 0 {
		for _, key := range keys {
			k := s.keys[key]
			unsent := d.uint()
			k.ids = d.strs()
			if d.err != nil {
				return
			}
			if unsent >= uint64(k.count) {
				d.fail("dedup key %q: %d unsent of %d", key, unsent, k.count)
				return
			}
			k.sent = k.count - int(unsent)
			k.ids = k.ids[:min(len(k.ids), r.spec.SampleIDs)]
		}
	}
	for _, key := range keys {
		k := s.keys[key]
		p.schedule(r, key, &k.keyBase, k.start+r.window+1)
		if k.count > k.sent {
			p.schedule(r, key, &k.keyBase, p.wm())
		}
	}
}
