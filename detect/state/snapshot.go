package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"
)

// snapshotMagic starts every snapshot; its last byte is the version.
// Version 2 added each rule's seed mark; Restore still reads version 1
// (rules unmarked).
const (
	snapshotMagic   = "tlstate\x02"
	snapshotMagicV1 = "tlstate\x01"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrSnapshot is wrapped by every error Restore returns for bad bytes.
var ErrSnapshot = errors.New("invalid state snapshot")

// Snapshot encodes the partition's whole state. Layout: magic, clock,
// applied Seq, counters, then per rule (sorted) its name, spec
// fingerprint, counters, seed mark (a bool, then the version when set)
// and a length-prefixed section of its keys (sorted), then a CRC-32C of
// everything before it.
func (p *Partition) Snapshot() ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 4096)}
	e.b = append(e.b, snapshotMagic...)
	e.int(p.clock)
	e.uint(p.applied)
	e.uint(p.replayed)
	e.uint(p.late)
	e.uint(p.invalid)
	e.uint(uint64(len(p.rules)))
	var sec encoder
	for _, r := range p.rules {
		e.str(r.name)
		e.uint(r.spec.fingerprint())
		e.uint(r.refused)
		e.uint(r.late)
		e.bool(r.seeded)
		if r.seeded {
			e.uint(r.seedVer)
		}
		sec.b = sec.b[:0]
		r.st.encode(&sec)
		e.uint(uint64(len(sec.b)))
		e.b = append(e.b, sec.b...)
	}
	e.b = binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, castagnoli))
	return e.b, nil
}

// Restore rebuilds a partition from a Snapshot for the given specs and
// lateness (which may differ from the snapshot's: state of a rule that is
// gone, or whose semantic fields changed, is dropped; see the package
// doc). Errors for malformed input wrap ErrSnapshot.
func Restore(b []byte, specs map[string]Spec, lateness time.Duration) (*Partition, error) {
	p, err := NewPartition(specs, lateness)
	if err != nil {
		return nil, err
	}
	if len(b) < len(snapshotMagic)+4 {
		return nil, fmt.Errorf("%w: bad header", ErrSnapshot)
	}
	var v1 bool
	switch string(b[:len(snapshotMagic)]) {
	case snapshotMagic:
	case snapshotMagicV1:
		v1 = true
	default:
		return nil, fmt.Errorf("%w: bad header", ErrSnapshot)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrSnapshot)
	}
	d := &decoder{b: body[len(snapshotMagic):]}
	p.clock = d.int()
	p.applied = d.uint()
	p.replayed = d.uint()
	p.late = d.uint()
	p.invalid = d.uint()
	if d.err == nil && (p.clock < minNanos || p.clock > maxNanos) {
		d.fail("clock out of range")
	}
	n := d.count(4)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		name := d.str()
		fp := d.uint()
		refused, late := d.uint(), d.uint()
		var seeded bool
		var seedVer uint64
		if !v1 {
			if seeded = d.bool(); seeded {
				seedVer = d.uint()
			}
		}
		sec := d.bytes()
		if d.err != nil {
			break
		}
		if i > 0 && name <= prev {
			d.fail("rules not sorted")
			break
		}
		prev = name
		r := p.byName[name]
		if r == nil {
			continue
		}
		r.refused, r.late = refused, late
		if fp != r.spec.fingerprint() {
			continue
		}
		if seeded && r.spec.Kind != NewTerm {
			d.fail("rule %q: seed mark on a %s rule", name, r.spec.Kind)
			break
		}
		r.seeded, r.seedVer = seeded, seedVer
		sd := &decoder{b: sec}
		r.st.decode(sd, p, r)
		if sd.err == nil && len(sd.b) != 0 {
			sd.fail("trailing bytes")
		}
		if sd.err != nil {
			d.fail("rule %q: %v", name, sd.err)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshot, d.err)
	}
	return p, nil
}

// encoder appends varints, strings and floats.
type encoder struct{ b []byte }

func (e *encoder) uint(v uint64)   { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)     { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) float(f float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f)) }
func (e *encoder) str(s string)    { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
func (e *encoder) bool(v bool) { e.b = append(e.b, b2u(v)) }
func (e *encoder) occ(o occ)   { e.int(o.t); e.uint(o.seq); e.str(o.id) }
func (e *encoder) occs(os []occ) {
	e.uint(uint64(len(os)))
	for _, o := range os {
		e.occ(o)
	}
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// decoder reads what encoder wrote; the first error sticks and every
// later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// time reads a time and checks its range.
func (d *decoder) time() int64 {
	t := d.int()
	if t < minNanos || t > maxNanos {
		d.fail("time out of range")
		return 0
	}
	return t
}

func (d *decoder) float() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("short float")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return f
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < 1 || d.b[0] > 1 {
		d.fail("bad bool")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

// count reads a length whose elements take at least min bytes each and
// checks it against what is left, so bad input cannot make huge
// allocations.
func (d *decoder) count(min int) int {
	v := d.uint()
	if d.err == nil && v > uint64(len(d.b)/max(min, 1)) {
		d.fail("length %d exceeds input", v)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes() []byte {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) strs() []string {
	n := d.count(1)
	var ss []string
	for i := 0; i < n && d.err == nil; i++ {
		ss = append(ss, d.str())
	}
	return ss
}

func (d *decoder) occ() occ {
	return occ{t: d.time(), seq: d.uint(), id: d.str()}
}

// occs reads occurrences and checks they are in order.
func (d *decoder) occs() []occ {
	n := d.count(3)
	if n == 0 {
		return nil
	}
	os := make([]occ, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		o := d.occ()
		if i > 0 && o.before(os[i-1]) {
			d.fail("occurrences out of order")
		}
		os = append(os, o)
	}
	return os
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
