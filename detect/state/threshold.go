package state

import "slices"

// thresholdState counts matches per key in a sliding window.
type thresholdState struct {
	keys map[string]*thrKey
}

func (s *thresholdState) drop(r *rule, key string) {
	delete(s.keys, key)
	r.live--
}

// thrKey holds a key's unconsumed matches in event-time order. No N of
// them ever lie within one window (they would have fired), and none is
// older than the watermark minus the window (pruned), which bounds it.
type thrKey struct {
	keyBase
	evs []occ
}

// prune drops matches that no future match can share a window with.
func (k *thrKey) prune(wm, w int64) {
	n := 0
	for n < len(k.evs) && k.evs[n].t+w < wm {
		n++
	}
	if n > 0 {
		k.evs = dropFront(k.evs, n)
	}
}

func (s *thresholdState) apply(p *Partition, r *rule, m Match, t int64) {
	k := s.keys[m.Key]
	if k != nil {
		k.prune(p.wm(), r.window)
	}
	if k == nil {
		if !p.admit(r) {
			return
		}
		k = &thrKey{}
		s.keys[m.Key] = k
	}
	var pos int
	k.evs, pos = insertOcc(k.evs, occ{t: t, seq: m.Seq, id: m.EventID})
	n := r.spec.Count
	for i := max(0, pos-n+1); i <= pos && i+n-1 < len(k.evs); i++ {
		j := i + n - 1
		if k.evs[j].t-k.evs[i].t > r.window {
			continue
		}
		first, last := k.evs[i], k.evs[j]
		start := len(p.arena)
		for _, e := range k.evs[i : i+r.sampleN(n)] {
			p.arena = append(p.arena, e.id)
		}
		p.emit(Firing{
			Rule: r.name, Key: m.Key, Kind: Threshold,
			ID:       p.firingID(Threshold, r.name, m.Key, first.t, first.id),
			Count:    n,
			First:    fromNanos(first.t),
			Last:     fromNanos(last.t),
			EventIDs: p.arena[start:len(p.arena):len(p.arena)],
		})
		k.evs = slices.Delete(k.evs, i, j+1)
		break
	}
	if len(k.evs) == 0 {
		s.drop(r, m.Key)
		return
	}
	p.schedule(r, m.Key, &k.keyBase, k.evs[0].t+r.window+1)
}

func (s *thresholdState) timer(p *Partition, r *rule, key string, id uint64) {
	k := s.keys[key]
	if k == nil || !p.due(r, key, &k.keyBase, id, k.evs[0].t+r.window+1) {
		return
	}
	k.prune(p.wm(), r.window)
	if len(k.evs) == 0 {
		s.drop(r, key)
		return
	}
	p.schedule(r, key, &k.keyBase, k.evs[0].t+r.window+1)
}

func (s *thresholdState) encode(e *encoder) {
	keys := sortedKeys(s.keys)
	e.uint(uint64(len(keys)))
	for _, key := range keys {
		e.str(key)
		e.occs(s.keys[key].evs)
	}
}

func (s *thresholdState) decode(d *decoder, p *Partition, r *rule) {
	n := d.count(2)
	for range n {
		key := d.str()
		evs := d.occs()
		if d.err != nil {
			return
		}
		if len(evs) == 0 || s.keys[key] != nil {
			d.fail("threshold key %q: empty or repeated", key)
			return
		}
		k := &thrKey{evs: evs}
		s.keys[key] = k
		r.live++
		p.schedule(r, key, &k.keyBase, evs[0].t+r.window+1)
	}
}
