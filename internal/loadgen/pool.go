package loadgen

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"time"
)

// Pool hands out records cheaply: it renders a fixed set once and then only
// rewrites each copy's eventID and eventTime, so a load generator sharing
// the machine with the pipeline spends little CPU of its own.
type Pool struct {
	recs    [][]byte
	attack  []bool
	idAt    []int // offset of the id digits in each record
	timeAt  []int // offset of the eventTime value
	next    int
	seq     uint64
	prefix  string
	scratch [8]byte
}

// idWidth is the width of the rewritten part of each eventID.
const idWidth = 16

// NewPool renders n records, one in attackEvery an attack (0: none). The
// ids it hands out start with prefix, which must differ between pools.
func NewPool(prefix string, seed uint64, n, attackEvery int) *Pool {
	g := New("", seed)
	p := &Pool{prefix: prefix}
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	for i := range n {
		attack := attackEvery > 0 && i%attackEvery == 0
		rec, id := g.Record(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), attack)
		// Give the record an id of prefix + fixed-width digits to rewrite.
		newID := prefix + "-" + fmt.Sprintf("%0*d", idWidth, 0)
		rec = bytes.Replace(rec, []byte(`"eventID":"`+id+`"`), []byte(`"eventID":"`+newID+`"`), 1)
		idAt := bytes.Index(rec, []byte(`"eventID":"`+newID)) + len(`"eventID":"`+prefix+"-")
		timeAt := bytes.Index(rec, []byte(`"eventTime":"`+ts)) + len(`"eventTime":"`)
		if idAt < len(`"eventID":"`) || timeAt < len(`"eventTime":"`) {
			panic("loadgen: record layout changed")
		}
		p.recs = append(p.recs, rec)
		p.attack = append(p.attack, attack)
		p.idAt = append(p.idAt, idAt)
		p.timeAt = append(p.timeAt, timeAt)
	}
	return p
}

// Next returns a fresh copy of the next record with a new id and the
// given time, the id, and whether it is an attack.
func (p *Pool) Next(t time.Time) (rec []byte, id string, attack bool) {
	i := p.next
	p.next = (p.next + 1) % len(p.recs)
	p.seq++
	rec = bytes.Clone(p.recs[i])
	digits := rec[p.idAt[i] : p.idAt[i]+idWidth]
	for j := range p.scratch {
		p.scratch[j] = byte(p.seq >> (56 - 8*j))
	}
	hex.Encode(digits, p.scratch[:])
	copy(rec[p.timeAt[i]:], t.UTC().Format(time.RFC3339))
	return rec, p.prefix + "-" + string(digits), p.attack[i]
}
