package state

import (
	"testing"
	"time"
)

// FuzzRestart: for any workload (see genOps) and any restart point, a
// Snapshot and Restore followed by a replay of already-applied matches
// gives the same firings, counters and final state as no restart; nothing
// panics.
func FuzzRestart(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 8, 1, 2, 3, 16, 1, 2, 3, 7, 1, 2, 3}, uint16(2), uint8(1))
	f.Add([]byte("\x00\x00\x00\x01\x08\x00\x00\x01\x10\x00\x00\x01\x18\x04\x00\x01\x20\x08\x00\x01\x06\x00\x00\x01\x07\x07\x07\x07"), uint16(3), uint8(2))
	f.Add(make([]byte, 400), uint16(50), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, late uint8) {
		if len(data) > 4*2000 {
			return
		}
		ops := genOps(data)
		lateness := time.Duration(late%16) * 500 * time.Millisecond
		checkRestart(t, ops, int(cut)%(len(ops)+1), lateness)
	})
}

// FuzzRestore: Restore of arbitrary bytes returns an error or a partition
// that works; it never panics. (Bytes with a valid CRC are built from a
// real snapshot with a byte replaced, to get past the checksum.)
func FuzzRestore(f *testing.F) {
	p, _ := NewPartition(mixSpecs, 2*time.Second)
	data := make([]byte, 4*300)
	for i := range data {
		data[i] = byte(i * 7919 >> 3)
	}
	runWorkload(p, genOps(data))
	snap, _ := p.Snapshot()
	f.Add(snap, uint16(0), byte(0))
	f.Add(snap, uint16(100), byte(1))
	f.Fuzz(func(t *testing.T, b []byte, at uint16, x byte) {
		if len(b) > 4 {
			b = append([]byte(nil), b...)
			b[int(at)%(len(b)-4)] ^= x
			body := b[:len(b)-4]
			b = append(body, crc32le(body)...)
		}
		q, err := Restore(b, mixSpecs, 2*time.Second)
		if err != nil {
			return
		}
		runWorkload(q, genOps(data[:400]))
		q.Advance(t0.Add(24 * time.Hour))
		if _, err := q.Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}
