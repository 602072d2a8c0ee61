package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// mixSpecs has one rule of every kind, with small windows and caps so a
// short random workload reaches every path (firing, expiry, refusal).
var mixSpecs = map[string]Spec{
	"thr":    {Kind: Threshold, Count: 3, Window: 5 * s, MaxKeys: 2},
	"dis":    {Kind: Distinct, Count: 3, Window: 5 * s, SampleIDs: 2},
	"seq":    {Kind: Sequence, Steps: 3, Window: 5 * s},
	"seqabs": {Kind: Sequence, Steps: 2, Absent: true, Window: 5 * s},
	"new":    {Kind: NewTerm, Window: 10 * s, MaxKeys: 6},
	"spk":    {Kind: Spike, Window: 2 * s, Factor: 2, MinCount: 3},
	"abs":    {Kind: Absence, Window: 4 * s},
	"ddp":    {Kind: Dedup, Window: 3 * s},
}

var mixRules = sortedKeys(mixSpecs)

// wop is one step of a workload: Apply m, or Advance to at.
type wop struct {
	adv bool
	at  time.Time
	m   Match
}

// genOps turns bytes into a workload: matches whose times wander forward
// with jitter around a cursor (some out of order, some too late), bursts
// on one key, and Advances.
func genOps(data []byte) []wop {
	var ops []wop
	cur := t0
	var prev Match
	for i := 0; i+4 <= len(data); i += 4 {
		b0, b1, b2, b3 := data[i], data[i+1], data[i+2], data[i+3]
		cur = cur.Add(time.Duration(b3%8) * 50 * time.Millisecond)
		switch b0 % 8 {
		case 7:
			ops = append(ops, wop{adv: true, at: cur.Add(time.Duration(b1%8) * 250 * time.Millisecond)})
			continue
		case 6:
			if prev.Rule != "" {
				break // a burst: same rule and key
			}
			fallthrough
		default:
			prev.Rule = mixRules[int(b0/8)%len(mixRules)]
			prev.Key = fmt.Sprint("k", b1%3)
		}
		m := prev
		m.Time = cur
		if b2%4 == 0 { // out of order, sometimes too late
			m.Time = cur.Add(time.Duration(int(b2/4%64)-40) * 100 * time.Millisecond)
		}
		m.EventID = fmt.Sprint("e", len(ops))
		m.Value = fmt.Sprint("v", b3%5)
		m.Step = int(b1/4) % (mixSpecs[m.Rule].Steps + 1)
		m.Seq = uint64(len(ops) + 1)
		ops = append(ops, wop{m: m})
	}
	return ops
}

// runWorkload applies ops to p and returns every firing, cloned.
func runWorkload(p *Partition, ops []wop) []Firing {
	var fs []Firing
	for _, o := range ops {
		var got []Firing
		if o.adv {
			got = p.Advance(o.at)
		} else {
			got = p.Apply(o.m)
		}
		for _, f := range got {
			fs = append(fs, f.Clone())
		}
	}
	return fs
}

// checkRestart runs ops straight through, and again with a Snapshot and
// Restore before op cut followed by a replay of the last matches before
// it; the firings, final state and counters must be the same.
func checkRestart(t *testing.T, ops []wop, cut int, lateness time.Duration) {
	t.Helper()
	a, err := NewPartition(mixSpecs, lateness)
	if err != nil {
		t.Fatal(err)
	}
	want := runWorkload(a, ops)

	b, _ := NewPartition(mixSpecs, lateness)
	got := runWorkload(b, ops[:cut])
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Restore(snap, mixSpecs, lateness)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	again, _ := c.Snapshot()
	if !bytes.Equal(snap, again) {
		t.Fatal("snapshot of the restored partition differs")
	}
	replayed := 0
	for _, o := range ops[max(0, cut-8):cut] {
		if !o.adv {
			replayed++
			if fs := c.Apply(o.m); len(fs) != 0 {
				t.Fatalf("replayed match %+v fired %v", o.m, fs)
			}
		}
	}
	got = append(got, runWorkload(c, ops[cut:])...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("firings differ after a restart at %d/%d:\n got %s\nwant %s", cut, len(ops), descsAll(got), descsAll(want))
	}
	sa, _ := a.Snapshot()
	sc, _ := c.Snapshot()
	stA, stC := a.Stats(), c.Stats()
	stC.Replayed -= uint64(replayed)
	// The snapshot holds Replayed too: compare it after the adjustment.
	if !reflect.DeepEqual(stA, stC) {
		t.Fatalf("stats differ:\n got %+v\nwant %+v", stC, stA)
	}
	if replayed == 0 && !bytes.Equal(sa, sc) {
		t.Fatal("final snapshots differ")
	}
}

func descsAll(fs []Firing) string {
	var b bytes.Buffer
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s %s", f.Rule, f.ID[:8], desc(f))
	}
	return b.String()
}

// TestRestart: for random workloads of every kind, a Snapshot and Restore
// anywhere changes nothing, and replaying applied matches fires nothing.
func TestRestart(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		data := make([]byte, 4*(50+rng.IntN(400)))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		ops := genOps(data)
		lateness := []time.Duration{0, s, 3 * s, 10 * s}[i%4]
		cut := rng.IntN(len(ops) + 1)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkRestart(t, ops, cut, lateness) })
	}
}

// TestRestartFirings makes sure the random workloads do fire every kind,
// so TestRestart compares something.
func TestRestartFirings(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 4*5000)
	for j := range data {
		data[j] = byte(rng.Uint32())
	}
	p, _ := NewPartition(mixSpecs, 2*s)
	fired := map[string]int{}
	for _, f := range runWorkload(p, genOps(data)) {
		fired[f.Rule]++
	}
	st := p.Stats()
	for _, r := range mixRules {
		if fired[r] == 0 {
			t.Errorf("rule %s never fired (%v)", r, fired)
		}
	}
	if st.Late == 0 || st.Rules["thr"].Refused == 0 || st.Rules["new"].Refused == 0 {
		t.Errorf("late %d, refused %+v", st.Late, st.Rules)
	}
	t.Logf("firings %v, stats %+v", fired, st)
}

// TestRestoreSpecChange: state of a removed rule or one whose semantics
// changed is dropped; a changed cap or sample keeps it.
func TestRestoreSpecChange(t *testing.T) {
	specs := map[string]Spec{
		"a": {Kind: Threshold, Count: 2, Window: time.Hour},
		"b": {Kind: Threshold, Count: 2, Window: time.Hour},
		"c": {Kind: Threshold, Count: 2, Window: time.Hour},
	}
	p, _ := NewPartition(specs, 0)
	for _, r := range []string{"a", "b", "c"} {
		p.Apply(Match{Rule: r, Key: "k", Time: t0, EventID: "x"})
	}
	snap, _ := p.Snapshot()
	changed := map[string]Spec{
		"a": {Kind: Threshold, Count: 2, Window: time.Hour, MaxKeys: 7, SampleIDs: 1},
		"b": {Kind: Threshold, Count: 3, Window: time.Hour},
	}
	q, err := Restore(snap, changed, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	if st.Rules["a"].Keys != 1 || st.Rules["b"].Keys != 0 || len(st.Rules) != 2 {
		t.Errorf("stats %+v", st.Rules)
	}
	if fs := q.Apply(Match{Rule: "a", Key: "k", Time: t0.Add(s), EventID: "y"}); len(fs) != 1 || desc(fs[0]) != "k:2:0s-1s:x" {
		t.Errorf("a after restore: %v", descs(fs))
	}
}

// TestRestoreBad: malformed snapshots are errors, never panics.
func TestRestoreBad(t *testing.T) {
	p, _ := NewPartition(mixSpecs, s)
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 4*300)
	for j := range data {
		data[j] = byte(rng.Uint32())
	}
	runWorkload(p, genOps(data))
	snap, _ := p.Snapshot()
	for _, b := range [][]byte{nil, []byte("tlstate"), snap[:len(snap)-1], append([]byte("x"), snap[1:]...)} {
		if _, err := Restore(b, mixSpecs, s); !errors.Is(err, ErrSnapshot) {
			t.Errorf("Restore(%d bytes): %v", len(b), err)
		}
	}
	flipped := bytes.Clone(snap)
	flipped[len(flipped)/2] ^= 1
	if _, err := Restore(flipped, mixSpecs, s); !errors.Is(err, ErrSnapshot) {
		t.Errorf("flipped bit: %v", err)
	}
}

// crc32le is the snapshot trailer for body.
func crc32le(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli))
}
