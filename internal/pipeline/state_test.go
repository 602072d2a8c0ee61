package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tripline/tripline/detect/state"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/bus/bustest"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/pipeline"
)

// TestStateFailover runs the state stage on three workers, each on its
// own NATS connection, feeds them threshold matches of many keys, kills
// one worker mid-stream (its connection dies: no checkpoint, no lease
// given back) and checks that the others take its partitions over from
// the checkpoints and that the findings are exactly those of one worker:
// every window counted once, none lost, none raised twice.
func TestStateFailover(t *testing.T) {
	b := bustest.Open(t)
	rules := map[string]pipeline.StatefulRule{
		"burst": {Spec: state.Spec{Kind: state.Threshold, Count: 3, Window: 10 * time.Minute}, Title: "Burst", Severity: "medium"},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	type worker struct {
		cancel context.CancelFunc
		done   chan struct{}
		nc     interface{ Close() }
	}
	start := func(name string) worker {
		nc, err := b.Connect(name)
		if err != nil {
			t.Fatal(err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		s := &pipeline.State{Bus: &bus.Bus{NC: nc, JS: js}, Rules: rules, Lateness: time.Hour, Worker: name,
			Checkpoint: 50 * time.Millisecond, LeaseTTL: 600 * time.Millisecond, Log: log}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done; nc.Close() })
		return worker{cancel, done, nc}
	}
	const keys, perKey = 40, 9 // 3 windows of 3 per key
	base := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	publish := func(from, to int) {
		var ms []event.Match
		for i := from; i < to; i++ {
			for k := range keys {
				ms = append(ms, event.Match{RuleID: "burst", Key: fmt.Sprintf("role-%02d", k),
					Event: event.Event{Time: base.Add(time.Duration(i) * time.Second), EventID: fmt.Sprintf("e-%02d-%d", k, i), Source: "cloudtrail"}})
			}
		}
		if err := b.PublishMatches(t.Context(), ms); err != nil {
			t.Fatal(err)
		}
	}
	findings := func() map[string]int {
		s, err := b.JS.Stream(t.Context(), bus.FindingsStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]int{}
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := s.GetMsg(t.Context(), seq)
			if err != nil {
				continue
			}
			f, err := event.UnmarshalFinding(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			ids[f.AlertID]++
		}
		return ids
	}
	a := start("a")
	start("b")
	start("c")
	publish(0, 4) // one window per key complete, the second in progress
	eventually(t, 20*time.Second, "the first windows fired", func() bool { return len(findings()) == keys })
	a.nc.Close()
	a.cancel()
	<-a.done
	publish(4, perKey)
	eventually(t, 20*time.Second, "every window fired", func() bool { return len(findings()) >= keys*perKey/3 })
	got := findings()
	if len(got) != keys*perKey/3 {
		t.Fatalf("%d distinct findings, want %d", len(got), keys*perKey/3)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("finding %s stored %d times", id, n)
		}
	}
}
