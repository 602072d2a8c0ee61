package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/pipeline"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/store/storetest"
)

// TestTailerEndToEnd tails kubelet-style CRI log files through the whole
// pipeline: lines are written, the file is rotated, the pipeline is
// stopped mid-stream and started again on the same data directory, more
// lines and another rotation follow, and every line is in ClickHouse
// exactly once with its pod and container.
func TestTailerEndToEnd(t *testing.T) {
	sc := storetest.Config(t)
	logs := filepath.Join(t.TempDir(), "pods", "shop_web-7d9f_0b6c1a2e-1111-2222-3333-444455556666", "app")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = sc.Addr, sc.Database
	cfg.Store.FlushInterval = 50 * time.Millisecond
	cfg.Ingest.Files.Paths = []string{filepath.Join(filepath.Dir(filepath.Dir(logs)), "*", "*", "*.log*")}
	cfg.Ingest.Files.StartAt = "beginning"
	cfg.Ingest.Files.PollInterval = 20 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		ready := make(chan net.Addr, 1)
		go func() {
			done <- pipeline.Run(ctx, cfg, pipeline.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a net.Addr) { ready <- a }})
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("pipeline did not start: %v", err)
		}
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("pipeline.Run: %v", err)
			}
		}
	}
	current := filepath.Join(logs, "0.log")
	n := 0
	write := func(count int) {
		f, err := os.OpenFile(current, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for range count {
			n++
			fmt.Fprintf(f, "2026-11-24T09:%02d:%02d.000000001Z stdout F line %d\n", n/60%60, n%60, n)
		}
	}
	rotate := func(suffix string) {
		if err := os.Rename(current, current+"."+suffix); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored := func() map[string]int {
		byMsg := map[string]int{}
		err := st.ScanEvents(t.Context(), store.EventQuery{Sources: []string{"container"}}, func(e event.Event) error {
			if e.Service != "shop/web-7d9f" || e.Target != "app" {
				return fmt.Errorf("event %s has service %q target %q", e.EventID, e.Service, e.Target)
			}
			byMsg[e.Message]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return byMsg
	}

	stop := run()
	write(100)
	rotate("20261124-090100")
	write(50)
	eventually(t, 15*time.Second, "the first lines stored", func() bool { return len(stored()) >= 120 })
	write(30) // the pipeline stops while these may still be read
	stop()
	write(40)
	rotate("20261124-090200")
	write(60)
	stop = run()
	defer stop()
	eventually(t, 20*time.Second, fmt.Sprintf("all %d lines stored", n), func() bool { return len(stored()) == n })
	got := stored()
	for i := 1; i <= n; i++ {
		if c := got[fmt.Sprintf("line %d", i)]; c != 1 {
			t.Errorf("line %d stored %d times", i, c)
		}
	}
}
