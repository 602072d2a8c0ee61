package state

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"
)

// TestSeedMark: MarkSeeded survives Snapshot and Restore, only for
// new_term rules, and goes with the rule's state when a spec change
// drops it.
func TestSeedMark(t *testing.T) {
	specs := map[string]Spec{
		"nt":    {Kind: NewTerm, Window: time.Hour},
		"other": {Kind: NewTerm, Window: time.Hour},
		"thr":   {Kind: Threshold, Count: 2, Window: time.Hour},
	}
	p, err := NewPartition(specs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Seeded("nt"); ok {
		t.Fatal("a new partition is seeded")
	}
	if err := p.MarkSeeded("thr", 1); err == nil {
		t.Error("marking a threshold rule: no error")
	}
	if err := p.MarkSeeded("nope", 1); err == nil {
		t.Error("marking an unknown rule: no error")
	}
	if err := p.Seed("nt", "k", "a", t0); err != nil {
		t.Fatal(err)
	}
	if err := p.MarkSeeded("nt", 42); err != nil {
		t.Fatal(err)
	}
	snap, _ := p.Snapshot()
	q, err := Restore(snap, specs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := q.Seeded("nt"); !ok || v != 42 {
		t.Errorf("restored mark = %d, %v; want 42, true", v, ok)
	}
	if _, ok := q.Seeded("other"); ok {
		t.Error("an unmarked rule is marked after Restore")
	}
	if fs := q.Apply(Match{Rule: "nt", Key: "k", Time: t0.Add(time.Minute), EventID: "e", Value: "a"}); len(fs) != 0 {
		t.Errorf("a seeded term fired after Restore: %s", descs(fs))
	}

	// A changed history drops the state, and the mark with it.
	changed := map[string]Spec{"nt": {Kind: NewTerm, Window: 2 * time.Hour}}
	r, err := Restore(snap, changed, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Seeded("nt"); ok {
		t.Error("mark kept though the spec changed")
	}
	// A changed cap keeps both.
	capped := map[string]Spec{"nt": {Kind: NewTerm, Window: time.Hour, MaxKeys: 5}}
	if r, err = Restore(snap, capped, 0); err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Seeded("nt"); !ok || v != 42 {
		t.Errorf("mark after a cap change = %d, %v", v, ok)
	}
}

// TestRestoreV1 reads a version 1 snapshot (before seed marks): the state
// comes back and no rule is marked seeded.
func TestRestoreV1(t *testing.T) {
	specs := map[string]Spec{
		"nt":  {Kind: NewTerm, Window: time.Hour},
		"thr": {Kind: Threshold, Count: 3, Window: time.Hour},
	}
	p, _ := NewPartition(specs, 0)
	p.Apply(Match{Rule: "nt", Key: "k", Time: t0, EventID: "e1", Value: "a", Seq: 1})
	p.Apply(Match{Rule: "thr", Key: "k", Time: t0, EventID: "e2", Seq: 2})
	v2, _ := p.Snapshot()

	q, err := Restore(snapshotV1(p), specs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := q.Seeded("nt"); ok {
		t.Error("a rule of a version 1 snapshot is marked seeded")
	}
	if again, _ := q.Snapshot(); string(again) != string(v2) {
		t.Error("the version 1 snapshot restored to a different state")
	}
}

// snapshotV1 encodes p as version 1 did: no seed marks.
func snapshotV1(p *Partition) []byte {
	e := &encoder{}
	e.b = append(e.b, snapshotMagicV1...)
	e.int(p.clock)
	e.uint(p.applied)
	e.uint(p.replayed)
	e.uint(p.late)
	e.uint(p.invalid)
	e.uint(uint64(len(p.rules)))
	for _, r := range p.rules {
		e.str(r.name)
		e.uint(r.spec.fingerprint())
		e.uint(r.refused)
		e.uint(r.late)
		var sec encoder
		r.st.encode(&sec)
		e.uint(uint64(len(sec.b)))
		e.b = append(e.b, sec.b...)
	}
	return binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, castagnoli))
}
