package lease

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/internal/bus/bustest"
)

// owners records which workers run each partition, failing on overlap.
type owners struct {
	mu      sync.Mutex
	running map[int]string
	t       *testing.T
}

func (o *owners) run(worker string) func(ctx context.Context, p int) {
	return func(ctx context.Context, p int) {
		o.mu.Lock()
		if w, ok := o.running[p]; ok {
			o.t.Errorf("partition %d run by %s while %s runs it", p, worker, w)
		}
		o.running[p] = worker
		o.mu.Unlock()
		<-ctx.Done()
		o.mu.Lock()
		delete(o.running, p)
		o.mu.Unlock()
	}
}

// byWorker counts the partitions each worker runs.
func (o *owners) byWorker() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := map[string]int{}
	for _, w := range o.running {
		n[w]++
	}
	return n
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSpreadAndFailover: three workers on their own connections share 64
// partitions evenly; a worker whose connection dies without giving its
// leases back loses them when they expire, and the two others take them
// over; no partition ever runs on two workers at once; a worker that
// stops cleanly hands its partitions over at once.
func TestSpreadAndFailover(t *testing.T) {
	b := bustest.Open(t)
	const ttl = 600 * time.Millisecond
	if _, err := b.JS.CreateOrUpdateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "test_leases", TTL: ttl, History: 1}); err != nil {
		t.Fatal(err)
	}
	o := &owners{running: map[int]string{}, t: t}
	type worker struct {
		cancel context.CancelFunc
		done   chan struct{}
		close  func()
	}
	start := func(name string) worker {
		nc, err := b.Connect(name)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(nc)
		kv, err := js.KeyValue(t.Context(), "test_leases")
		if err != nil {
			t.Fatal(err)
		}
		m := &Manager{KV: kv, Worker: name, Partitions: 64, TTL: ttl, Run: o.run(name)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := m.Start(ctx); err != nil {
				t.Error(err)
			}
		}()
		t.Cleanup(func() { cancel(); <-done; nc.Close() })
		return worker{cancel, done, nc.Close}
	}
	even := func(want map[string]int) func() bool {
		return func() bool {
			got := o.byWorker()
			return fmt.Sprint(got) == fmt.Sprint(want)
		}
	}
	w := map[string]worker{}
	for _, name := range []string{"a", "b", "c"} {
		w[name] = start(name)
	}
	// ceil(64/3) = 22: two workers hold 22 and one 20, or some such; every
	// partition is run and nobody is above the share.
	waitFor(t, 10*time.Second, "64 partitions spread over 3 workers", func() bool {
		got := o.byWorker()
		total := 0
		for _, n := range got {
			if n > 22 {
				return false
			}
			total += n
		}
		return len(got) == 3 && total == 64
	})

	// Kill c: its connection dies, so it cannot give anything back.
	w["c"].close()
	w["c"].cancel()
	<-w["c"].done
	waitFor(t, 10*time.Second, "c's partitions taken over by a and b", even(map[string]int{"a": 32, "b": 32}))

	// b stops cleanly: a takes everything without waiting for expiry.
	stopped := time.Now()
	w["b"].cancel()
	<-w["b"].done
	waitFor(t, 10*time.Second, "a runs all 64", even(map[string]int{"a": 64}))
	if d := time.Since(stopped); d > 3*ttl {
		t.Errorf("hand-over after a clean stop took %s, want well under the TTL-bound failover", d)
	}
}
