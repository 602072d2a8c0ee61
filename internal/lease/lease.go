// Package lease shares a fixed set of partitions among the workers that
// run on one NATS: every partition has exactly one owner at a time, the
// partitions are spread evenly over the live workers, and the partitions
// of a worker that dies move to the others once its leases expire.
//
// Leases live in a JetStream key-value bucket whose entries expire after
// TTL: the key "p.<n>" holds the owner of partition n and "w.<id>" is a
// worker's heartbeat. A worker renews what it holds every TTL/3 with a
// compare-and-swap on the key's revision, so a worker that was paused
// past TTL finds its lease taken and stops the partition instead of
// processing it alongside the new owner. A worker claims free partitions
// (Create fails when a key exists) up to its fair share, ceil(partitions /
// live workers), and gives back what is above it, so a new worker gets
// its share within a few renewals.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Manager holds one worker's leases. A worker restarted under the same
// name takes its leases back at once instead of waiting for them to
// expire.
type Manager struct {
	// KV is the lease bucket; its TTL must be TTL.
	KV jetstream.KeyValue
	// Worker names this worker; unique among the live workers.
	Worker string
	// Partitions is how many partitions there are.
	Partitions int
	// TTL is how long a lease outlives its last renewal.
	TTL time.Duration
	// Run processes partition p until ctx ends (the lease was lost or
	// given back, or the manager stops); Run returns when it has stopped
	// touching the partition. It is called in its own goroutine.
	Run func(ctx context.Context, p int)
	// Log receives lease changes; nil logs nothing.
	Log *slog.Logger

	mu   sync.Mutex
	held map[int]*held
}

// held is one partition this worker owns.
type held struct {
	rev    uint64
	cancel context.CancelFunc
	done   chan struct{}
	// ended is set when Run returned on its own (it failed): the lease
	// is given back at the next round so the partition is tried again.
	ended atomic.Bool
}

func partKey(p int) string { return "p." + strconv.Itoa(p) }

// Start runs the manager until ctx ends, then stops every partition and
// gives its lease back (so others need not wait for it to expire).
func (m *Manager) Start(ctx context.Context) error {
	if m.Partitions < 1 || m.TTL <= 0 || m.Worker == "" || m.Run == nil {
		return errors.New("lease: Partitions, TTL, Worker and Run must be set")
	}
	if m.Log == nil {
		m.Log = slog.New(slog.DiscardHandler)
	}
	m.held = map[int]*held{}
	t := time.NewTicker(m.TTL / 3)
	defer t.Stop()
	defer m.releaseAll()
	for {
		if err := m.round(ctx); err != nil && ctx.Err() == nil {
			m.Log.Warn("lease round failed", "worker", m.Worker, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Held lists the partitions this worker owns, in order.
func (m *Manager) Held() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int
	for p := range m.Partitions {
		if m.held[p] != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// round renews the heartbeat and the leases held, then claims or gives
// back partitions to reach the fair share.
func (m *Manager) round(ctx context.Context) error {
	if _, err := m.KV.Put(ctx, "w."+m.Worker, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	for _, p := range m.Held() {
		m.mu.Lock()
		h := m.held[p]
		m.mu.Unlock()
		if h.ended.Load() {
			m.Log.Warn("partition stopped by itself; giving its lease back", "worker", m.Worker, "partition", p)
			m.release(ctx, p)
			continue
		}
		rev, err := m.KV.Update(ctx, partKey(p), []byte(m.Worker), h.rev)
		if err != nil {
			m.Log.Warn("partition lease lost", "worker", m.Worker, "partition", p, "err", err)
			m.stop(p)
			continue
		}
		h.rev = rev
	}
	share, err := m.fairShare(ctx)
	if err != nil {
		return err
	}
	held := m.Held()
	for i := len(held) - 1; i >= share; i-- {
		m.release(ctx, held[i])
	}
	for p := 0; p < m.Partitions && len(m.Held()) < share; p++ {
		if m.isHeld(p) {
			continue
		}
		rev, err := m.KV.Create(ctx, partKey(p), []byte(m.Worker))
		if err != nil {
			// Owned: by another worker, or by this worker before a
			// restart (same name), whose lease it takes back at once.
			e, gerr := m.KV.Get(ctx, partKey(p))
			if gerr != nil || string(e.Value()) != m.Worker {
				continue
			}
			if rev, err = m.KV.Update(ctx, partKey(p), []byte(m.Worker), e.Revision()); err != nil {
				continue
			}
		}
		m.start(ctx, p, rev)
	}
	return nil
}

// fairShare is ceil(partitions / live workers).
func (m *Manager) fairShare(ctx context.Context) (int, error) {
	lister, err := m.KV.ListKeysFiltered(ctx, "w.>")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return m.Partitions, nil
		}
		return 0, fmt.Errorf("list workers: %w", err)
	}
	workers := 0
	for range lister.Keys() {
		workers++
	}
	workers = max(workers, 1)
	return (m.Partitions + workers - 1) / workers, nil
}

func (m *Manager) isHeld(p int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held[p] != nil
}

// start runs partition p under a lease of revision rev.
func (m *Manager) start(ctx context.Context, p int, rev uint64) {
	pctx, cancel := context.WithCancel(ctx)
	h := &held{rev: rev, cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	m.held[p] = h
	m.mu.Unlock()
	m.Log.Info("partition acquired", "worker", m.Worker, "partition", p)
	go func() {
		defer close(h.done)
		m.Run(pctx, p)
		if pctx.Err() == nil {
			h.ended.Store(true)
		}
	}()
}

// stop ends partition p's processing and forgets its lease.
func (m *Manager) stop(p int) *held {
	m.mu.Lock()
	h := m.held[p]
	delete(m.held, p)
	m.mu.Unlock()
	if h != nil {
		h.cancel()
		<-h.done
	}
	return h
}

// release stops partition p, then deletes its lease if still ours, so
// another worker may claim it at once.
func (m *Manager) release(ctx context.Context, p int) {
	h := m.stop(p)
	if h == nil {
		return
	}
	if err := m.KV.Delete(ctx, partKey(p), jetstream.LastRevision(h.rev)); err != nil {
		m.Log.Debug("partition lease not deleted", "partition", p, "err", err)
	}
	m.Log.Info("partition released", "worker", m.Worker, "partition", p)
}

// releaseAll gives every lease back when the manager stops.
func (m *Manager) releaseAll() {
	ctx, cancel := context.WithTimeout(context.Background(), m.TTL)
	defer cancel()
	for _, p := range m.Held() {
		m.release(ctx, p)
	}
	_ = m.KV.Delete(ctx, "w."+m.Worker)
}
