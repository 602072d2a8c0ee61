package tail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// memSink keeps events by id, as the sinks downstream do (a repeated id
// is dropped), and counts every publish.
type memSink struct {
	mu      sync.Mutex
	byID    map[string]event.Event
	calls   int // PublishEvents calls
	total   int // events stored, repeats included
	rejects []rejected
	// hook, when set, decides for the n-th call whether the events are
	// stored and what PublishEvents returns.
	hook func(call int) (store bool, err error)
}

func newMemSink() *memSink { return &memSink{byID: map[string]event.Event{}} }

func (s *memSink) PublishEvents(_ context.Context, source string, evs []event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	store, err := true, error(nil)
	if s.hook != nil {
		store, err = s.hook(s.calls)
	}
	if store {
		for _, ev := range evs {
			if source != Source || ev.IngestedAt.IsZero() {
				panic(fmt.Sprintf("source %q, ingested at %v", source, ev.IngestedAt))
			}
			s.byID[ev.EventID] = ev
			s.total++
		}
	}
	return err
}

func (s *memSink) Reject(_ context.Context, source, reason string, rec []byte, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejects = append(s.rejects, rejected{reason: reason, rec: rec, err: err})
	return nil
}

func (s *memSink) setHook(h func(int) (bool, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

func (s *memSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *memSink) stats() (distinct, total, calls, rejects int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID), s.total, s.calls, len(s.rejects)
}

func (s *memSink) events() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := make([]event.Event, 0, len(s.byID))
	for _, ev := range s.byID {
		evs = append(evs, ev)
	}
	slices.SortFunc(evs, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	return evs
}

// checkOnce asserts that the sink holds every message of want exactly
// once, and nothing else.
func (s *memSink) checkOnce(t *testing.T, want []string) {
	t.Helper()
	n := map[string]int{}
	for _, ev := range s.events() {
		checkEvent(t, ev)
		n[ev.Message]++
	}
	for _, m := range want {
		if n[m] != 1 {
			t.Errorf("message %q stored %d times", m, n[m])
		}
		delete(n, m)
	}
	for m, c := range n {
		t.Errorf("unexpected message %q stored %d times", m, c)
	}
	if t.Failed() {
		d, total, calls, _ := s.stats()
		t.Fatalf("%d distinct events, %d published in %d calls; want %d", d, total, calls, len(want))
	}
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitPolls waits until tl has polled n more times.
func waitPolls(t *testing.T, tl *Tailer, n int64) {
	t.Helper()
	p := tl.polls.Load()
	waitFor(t, fmt.Sprintf("%d polls", n), func() bool { return tl.polls.Load() >= p+n })
}

// start runs tl until the returned stop is called.
func start(t *testing.T, tl *Tailer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newTailer(t testing.TB, dir string, sink Sink, paths ...string) *Tailer {
	return &Tailer{
		Config:   Config{Paths: paths, PollInterval: 5 * time.Millisecond, StartAt: "beginning"},
		StateDir: filepath.Join(dir, "state"),
		Sink:     sink,
		Log:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// testWriter shows the Tailer's log with the test's output.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// lines writes CRI lines "<prefix>-<i>" for i in [from, to) and returns
// their messages.
type lineLog struct {
	t    *testing.T
	msgs []string
}

func (l *lineLog) write(w *os.File, prefix string, from, to int) {
	l.t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		m := fmt.Sprintf("%s-%d", prefix, i)
		fmt.Fprintf(&b, "2026-01-02T15:04:05.%09dZ stdout F %s\n", i, m)
		l.msgs = append(l.msgs, m)
	}
	if _, err := w.WriteString(b.String()); err != nil {
		l.t.Fatal(err)
	}
}

func create(t *testing.T, path string) *os.File {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestRotateRestart writes lines, rotates kubelet style (rename, create;
// the runtime still writes a little to the renamed file), stops the
// tailer mid-stream, writes while it is down, starts a new one on the
// same state, rotates again and writes more: every line is stored once.
func TestRotateRestart(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "pods", "ns_web-1_uid-1", "app")
	cur := filepath.Join(logDir, "0.log")
	sink := newMemSink()
	l := &lineLog{t: t}

	w := create(t, cur)
	l.write(w, "a", 0, 100)
	tl := newTailer(t, dir, sink, filepath.Join(dir, "pods", "*", "*", "*.log"))
	stop := start(t, tl)
	waitFor(t, "100 events", func() bool { return sink.count() == 100 })

	l.write(w, "a", 100, 150)
	if err := os.Rename(cur, cur+".20260102-150405"); err != nil {
		t.Fatal(err)
	}
	l.write(w, "a", 150, 160) // the runtime has not reopened yet
	w2 := create(t, cur)
	l.write(w2, "b", 0, 40)
	waitFor(t, "200 events", func() bool { return sink.count() == 200 })

	l.write(w2, "b", 40, 90)
	stop() // mid-stream
	l.write(w2, "b", 90, 140)

	tl2 := newTailer(t, dir, sink, filepath.Join(dir, "pods", "*", "*", "*.log"))
	start(t, tl2)
	l.write(w2, "b", 140, 150)
	if err := os.Rename(cur, cur+".20260102-160000"); err != nil {
		t.Fatal(err)
	}
	w3 := create(t, cur)
	l.write(w3, "c", 0, 50)
	l.write(w2, "b", 150, 155)
	l.write(w3, "c", 50, 100)
	waitFor(t, "all events", func() bool { return sink.count() >= len(l.msgs) })
	waitPolls(t, tl2, 3)
	sink.checkOnce(t, l.msgs)

	for _, ev := range sink.events() {
		if ev.Service != "ns/web-1" || ev.Target != "app" {
			t.Fatalf("service %q target %q", ev.Service, ev.Target)
		}
	}
}

// TestCrashBeforeCheckpoint: the sink stores a batch, then the process
// dies before the checkpoint (ctx canceled) or the publish fails after
// storing: the lines are published again with the same ids.
func TestCrashBeforeCheckpoint(t *testing.T) {
	for _, mode := range []string{"crash", "error after storing", "error before storing"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "pods", "ns_p_u", "c", "0.log")
			sink := newMemSink()
			l := &lineLog{t: t}
			w := create(t, path)
			l.write(w, "x", 0, 1200) // batches of 500, 500, 200

			tl := newTailer(t, dir, sink, filepath.Join(dir, "pods", "*", "*", "*.log"))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			sink.setHook(func(call int) (bool, error) {
				if call != 2 {
					return true, nil
				}
				switch mode {
				case "crash":
					cancel()
					return true, context.Canceled
				case "error after storing":
					return true, errors.New("stored, but the acknowledgement was lost")
				}
				return false, errors.New("unavailable")
			})
			done := make(chan error, 1)
			go func() { done <- tl.Run(ctx) }()
			if mode == "crash" {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if d, _, _, _ := sink.stats(); d != 1000 {
					t.Fatalf("%d events before the crash, want 1000", d)
				}
				l.write(w, "x", 1200, 1300)
				tl = newTailer(t, dir, sink, filepath.Join(dir, "pods", "*", "*", "*.log"))
				ctx, cancel = context.WithCancel(t.Context())
				defer cancel()
				go func() { done <- tl.Run(ctx) }()
			}
			waitFor(t, "all events", func() bool { return sink.count() >= len(l.msgs) })
			waitPolls(t, tl, 3)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			sink.checkOnce(t, l.msgs)
			d, total, _, _ := sink.stats()
			if mode != "error before storing" && total != d+500 {
				t.Fatalf("%d events published for %d distinct: want the second batch again", total, d)
			}
		})
	}
}

// TestPartialAcrossWrites joins the parts of an entry written in pieces,
// a line cut in the middle included.
func TestPartialAcrossWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pods", "ns_p_u", "c", "0.log")
	sink := newMemSink()
	w := create(t, path)
	w.WriteString("2026-01-02T15:04:05Z stdout F first\n")
	tl := newTailer(t, dir, sink, filepath.Join(dir, "pods", "*", "*", "*.log"))
	start(t, tl)
	waitFor(t, "first", func() bool { return sink.count() == 1 })

	w.WriteString("2026-01-02T15:04:06Z stdout P one, ")
	waitPolls(t, tl, 2)
	w.WriteString("\n2026-01-02T15:04:06Z stderr F meanwhile on stderr\n2026-01-02T15:04:07Z stdout P two, \n2026-01-02T15:04")
	waitPolls(t, tl, 2)
	w.WriteString(":08Z stdout F three\n")
	waitFor(t, "the entry", func() bool { return sink.count() == 3 })
	waitPolls(t, tl, 2)
	sink.checkOnce(t, []string{"first", "one, two, three", "meanwhile on stderr"})
	for _, ev := range sink.events() {
		if ev.Message == "one, two, three" && !ev.Time.Equal(time.Date(2026, 1, 2, 15, 4, 6, 0, time.UTC)) {
			t.Errorf("joined entry time %v, want the first part's", ev.Time)
		}
	}
}

// TestPartialTimeout publishes an entry whose end does not come, then its
// end as a continued event.
func TestPartialTimeout(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pods", "ns_p_u", "c", "0.log")
	sink := newMemSink()
	w := create(t, path)
	w.WriteString("2026-01-02T15:04:05Z stdout P waiting for input: ")
	w.WriteString("\n")
	tl := newTailer(t, dir, sink, filepath.Join(dir, "pods", "*", "*", "*.log"))
	tl.partialTimeout = 50 * time.Millisecond
	start(t, tl)
	waitFor(t, "the partial entry", func() bool { return sink.count() == 1 })
	w.WriteString("2026-01-02T15:04:09Z stdout F yes\n")
	waitFor(t, "its end", func() bool { return sink.count() == 2 })
	evs := sink.events()
	if string(evs[0].Raw) != `{"format":"cri","time":"2026-01-02T15:04:05Z","stream":"stdout","message":"waiting for input: ","partial":true,"namespace":"ns","pod":"p","pod_uid":"u","container":"c","restart":0}` ||
		string(evs[1].Raw) != `{"format":"cri","time":"2026-01-02T15:04:09Z","stream":"stdout","message":"yes","continued":true,"namespace":"ns","pod":"p","pod_uid":"u","container":"c","restart":0}` {
		t.Fatalf("raw:\n%s\n%s", evs[0].Raw, evs[1].Raw)
	}
}

// TestCopyTruncate: the file is copied and truncated; the tailer starts
// it over, and reads the copy (matched by the glob) from where the
// original was left.
func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	sink := newMemSink()
	l := &lineLog{t: t}
	w := create(t, path)
	l.write(w, "a", 0, 50)
	tl := newTailer(t, dir, sink, filepath.Join(dir, "app.log*"))
	start(t, tl)
	waitFor(t, "50 events", func() bool { return sink.count() == 50 })

	l.write(w, "a", 50, 60)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Truncate(0); err != nil {
		t.Fatal(err)
	}
	l.write(w, "b", 0, 30)
	waitFor(t, "90 events", func() bool { return sink.count() >= 90 })
	waitPolls(t, tl, 3)
	l.write(w, "b", 30, 40)
	waitFor(t, "100 events", func() bool { return sink.count() >= 100 })
	waitPolls(t, tl, 3)
	sink.checkOnce(t, l.msgs)
}

// testRun makes a run whose polls the test drives.
func testRun(t *testing.T, tl *Tailer) *run {
	t.Helper()
	if err := os.MkdirAll(tl.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := tl.newRun()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.closeAll)
	return r
}

func mustPoll(t *testing.T, r *run) {
	t.Helper()
	if _, err := r.poll(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestRewrittenBetweenPolls: truncated and regrown past the old size
// between two polls, the file is told from the old one by its
// fingerprint.
func TestRewrittenBetweenPolls(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	sink := newMemSink()
	l := &lineLog{t: t}
	w := create(t, path)
	l.write(w, "a", 0, 10)
	r := testRun(t, newTailer(t, dir, sink, path))
	mustPoll(t, r)
	if err := w.Truncate(0); err != nil {
		t.Fatal(err)
	}
	l.write(w, "b", 0, 40)
	mustPoll(t, r)
	sink.checkOnce(t, l.msgs)
}

// TestDeletedWhileOpen: lines written just before the file is deleted are
// read, and the file is closed once idle.
func TestDeletedWhileOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	sink := newMemSink()
	l := &lineLog{t: t}
	w := create(t, path)
	l.write(w, "a", 0, 20)
	tl := newTailer(t, dir, sink, path)
	tl.closeAfter = time.Nanosecond
	r := testRun(t, tl)
	mustPoll(t, r)
	l.write(w, "a", 20, 30)
	w.WriteString("2026-01-02T15:04:05Z stdout P cut short")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mustPoll(t, r) // vanished: reads the lines
	mustPoll(t, r) // idle: reads the torn last line and closes
	if len(r.files) != 0 {
		t.Fatalf("%d files still open", len(r.files))
	}
	sink.checkOnce(t, append(l.msgs, "cut short"))
	st, _, err := loadState(r.statePath)
	if err != nil || len(st.Files) != 0 {
		t.Fatalf("checkpoints %+v, %v", st, err)
	}
}

// TestHugeLines: a line over MaxLineBytes is rejected and skipped, an
// entry of partial lines over it is published in parts, nothing else is
// lost.
func TestHugeLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	sink := newMemSink()
	w := create(t, path)
	big := strings.Repeat("0123456789", 500)
	w.WriteString("2026-01-02T15:04:05Z stdout F before\n")
	w.WriteString("2026-01-02T15:04:05Z stdout F " + big + "\n")
	w.WriteString("2026-01-02T15:04:05Z stdout F after\n")
	var parts []string
	for i := 0; i < len(big); i += 700 {
		tag := "P"
		if i+700 >= len(big) {
			tag = "F"
		}
		parts = append(parts, big[i:min(i+700, len(big))])
		fmt.Fprintf(w, "2026-01-02T15:04:06.%09dZ stderr %s %s\n", i, tag, parts[len(parts)-1])
	}
	w.WriteString("2026-01-02T15:04:07Z stdout F end\n")
	tl := newTailer(t, dir, sink, path)
	tl.Config.MaxLineBytes = 1024
	r := testRun(t, tl)
	mustPoll(t, r)

	var joined strings.Builder
	var msgs []string
	for _, ev := range sink.events() {
		var raw struct{ Partial, Continued bool }
		json.Unmarshal(ev.Raw, &raw)
		if ev.Time.Second() == 6 {
			joined.WriteString(ev.Message)
			if raw.Partial == (joined.Len() == len(big)) || raw.Continued == (len(ev.Message) == joined.Len()) {
				t.Errorf("part %d: partial %v continued %v", joined.Len(), raw.Partial, raw.Continued)
			}
			if len(ev.Message) > 1024 {
				t.Errorf("part of %d bytes", len(ev.Message))
			}
		} else {
			msgs = append(msgs, ev.Message)
		}
	}
	if joined.String() != big {
		t.Errorf("parts give %d bytes, want %d", joined.Len(), len(big))
	}
	slices.Sort(msgs)
	if !slices.Equal(msgs, []string{"after", "before", "end"}) {
		t.Errorf("messages %q", msgs)
	}
	if len(sink.rejects) != 1 || sink.rejects[0].reason != "record_too_large" || len(sink.rejects[0].rec) != 1024 ||
		!strings.Contains(sink.rejects[0].err.Error(), "x.log: line at offset 37 is longer than max_line_bytes (1024)") {
		t.Fatalf("rejects %+v", sink.rejects)
	}
}

// TestNewFilesAndBadLines: files appearing later under the glob are read
// from their start; bad lines are rejected and the tailer goes on.
func TestNewFilesAndBadLines(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	l := &lineLog{t: t}
	tl := newTailer(t, dir, sink, filepath.Join(dir, "pods", "*", "*", "*.log"))
	tl.Config.StartAt = "end"
	start(t, tl)
	waitPolls(t, tl, 2)
	w := create(t, filepath.Join(dir, "pods", "ns_a_u1", "c", "0.log"))
	l.write(w, "a", 0, 10)
	w.WriteString("this is not a CRI line\n{\"log\":1}\n")
	l.write(w, "a", 10, 20)
	waitFor(t, "a", func() bool { return sink.count() == 20 })
	w2 := create(t, filepath.Join(dir, "pods", "other_b_u2", "side", "3.log"))
	l.write(w2, "b", 0, 10)
	waitFor(t, "b", func() bool { return sink.count() == 30 })
	waitPolls(t, tl, 2)
	sink.checkOnce(t, l.msgs)
	_, _, _, rejects := sink.stats()
	if rejects != 2 {
		t.Fatalf("%d rejects, want 2", rejects)
	}
	for _, ev := range sink.events() {
		if strings.HasPrefix(ev.Message, "b-") && (ev.Service != "other/b" || ev.Target != "side" || !strings.Contains(string(ev.Raw), `"restart":3`)) {
			t.Fatalf("%+v", ev)
		}
	}
}

// TestStartAtEnd: on the first start existing lines are skipped; after a
// restart, lines written while stopped and files created meanwhile are
// read.
func TestStartAtEnd(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	glob := filepath.Join(dir, "*.log")
	old := create(t, filepath.Join(dir, "old.log"))
	(&lineLog{t: t}).write(old, "history", 0, 10)
	old.WriteString("2026-01-02T15:04:05Z stdout F incomplete") // the end of the last complete line is where reading starts
	l := &lineLog{t: t, msgs: []string{"incomplete line"}}
	tl := newTailer(t, dir, sink, glob)
	tl.Config.StartAt = ""
	stop := start(t, tl)
	waitPolls(t, tl, 2)
	old.WriteString(" line\n")
	l.write(old, "new", 0, 5)
	waitFor(t, "new lines", func() bool { return sink.count() == 6 })
	stop()
	l.write(old, "new", 5, 10)
	l.write(create(t, filepath.Join(dir, "later.log")), "later", 0, 5)
	tl = newTailer(t, dir, sink, glob)
	tl.Config.StartAt = ""
	start(t, tl)
	waitFor(t, "all", func() bool { return sink.count() == len(l.msgs) })
	waitPolls(t, tl, 2)
	sink.checkOnce(t, l.msgs)
}

// TestRotatedWhileStopped: kubelet rotates while the tailer is down and
// the glob matches only *.log: the renamed file is found by its inode
// next to its old path and read to its end.
func TestRotatedWhileStopped(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	l := &lineLog{t: t}
	cur := filepath.Join(dir, "pods", "ns_p_u", "c", "0.log")
	glob := filepath.Join(dir, "pods", "*", "*", "*.log")
	w := create(t, cur)
	l.write(w, "a", 0, 10)
	r := testRun(t, newTailer(t, dir, sink, glob))
	mustPoll(t, r)
	r.closeAll()

	l.write(w, "a", 10, 20)
	if err := os.Rename(cur, cur+".20260102-150405"); err != nil {
		t.Fatal(err)
	}
	l.write(create(t, cur), "b", 0, 10)
	tl := newTailer(t, dir, sink, glob)
	tl.closeAfter = time.Nanosecond
	r = testRun(t, tl)
	mustPoll(t, r)
	mustPoll(t, r)
	sink.checkOnce(t, l.msgs)
	if len(r.files) != 1 {
		t.Fatalf("%d files open, want the new one", len(r.files))
	}
}

// TestSymlinkMetadata: kubelet's /var/log/containers symlinks give the
// container id, their targets the pod uid and restart count.
func TestSymlinkMetadata(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	id := strings.Repeat("ab", 32)
	target := filepath.Join(dir, "pods", "ns_p_u", "c", "1.log")
	w := create(t, target)
	w.WriteString("2026-01-02T15:04:05Z stdout F hi\n")
	links := filepath.Join(dir, "containers")
	os.MkdirAll(links, 0o755)
	if err := os.Symlink(target, filepath.Join(links, "p_ns_c-"+id+".log")); err != nil {
		t.Fatal(err)
	}
	r := testRun(t, newTailer(t, dir, sink, filepath.Join(links, "*.log"), filepath.Join(dir, "pods", "*", "*", "*.log")))
	mustPoll(t, r)
	evs := sink.events()
	if len(evs) != 1 || len(r.files) != 1 ||
		!strings.HasSuffix(string(evs[0].Raw), `"namespace":"ns","pod":"p","pod_uid":"u","container":"c","container_id":"`+id+`","restart":1}`) {
		t.Fatalf("%d files, events %+v", len(r.files), evs)
	}
}

// TestCheckpointFile: the checkpoint is the end of the last published
// line, or the start of an entry still being joined.
func TestCheckpointFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	w := create(t, path)
	line := "2026-01-02T15:04:05Z stdout F done\n"
	w.WriteString(line + "2026-01-02T15:04:06Z stdout P pending\n")
	r := testRun(t, newTailer(t, dir, newMemSink(), path))
	mustPoll(t, r)
	st, exists, err := loadState(r.statePath)
	if err != nil || !exists || len(st.Files) != 1 {
		t.Fatalf("%+v %v %v", st, exists, err)
	}
	c := st.Files[0]
	if c.Offset != int64(len(line)) || c.Path != path || c.FingerprintBytes != len(line) || c.Inode == 0 {
		t.Fatalf("checkpoint %+v", c)
	}
	if fp, ok := c.fingerprint(); !ok || fp != r.files[keyOfPath(t, path)].fp {
		t.Fatalf("fingerprint %+v", c)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		tl   *Tailer
		want string
	}{
		{&Tailer{StateDir: dir, Sink: newMemSink()}, "paths"},
		{&Tailer{Config: Config{Paths: []string{"*"}}, StateDir: dir}, "no sink"},
		{&Tailer{Config: Config{Paths: []string{"*"}}, Sink: newMemSink()}, "no state directory"},
	} {
		if err := tc.tl.Run(t.Context()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run: %v, want %q", err, tc.want)
		}
	}
	os.WriteFile(filepath.Join(dir, stateFileName), []byte("{"), 0o600)
	tl := &Tailer{Config: Config{Paths: []string{"*"}}, StateDir: dir, Sink: newMemSink()}
	if err := tl.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Run: %v, want a corrupt checkpoint file", err)
	}
}

// BenchmarkTail reads a 10 000-line file from the start to its end and
// publishes it, checkpoints (fsync) included.
func BenchmarkTail(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "pods", "ns_p_u", "c", "0.log")
	os.MkdirAll(filepath.Dir(path), 0o755)
	var sb strings.Builder
	for i := range 10000 {
		if i%2 == 0 {
			fmt.Fprintf(&sb, "2026-01-02T15:04:05.%09dZ stdout F %s\n", i, strings.SplitN(benchLines["cri"], " ", 4)[3])
		} else {
			fmt.Fprintf(&sb, "2026-01-02T15:04:05.%09dZ stderr F %s\n", i, strings.SplitN(benchLines["cri_json"], " ", 4)[3])
		}
	}
	os.WriteFile(path, []byte(sb.String()), 0o644)
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		sink := &countSink{}
		tl := newTailer(b, dir, sink, path)
		tl.Log = slog.New(slog.DiscardHandler)
		tl.StateDir = filepath.Join(dir, fmt.Sprint("state", n))
		os.MkdirAll(tl.StateDir, 0o700)
		r, err := tl.newRun()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.poll(b.Context()); err != nil {
			b.Fatal(err)
		}
		r.closeAll()
		if sink.n != 10000 {
			b.Fatalf("%d events", sink.n)
		}
	}
}

type countSink struct{ n int }

func (s *countSink) PublishEvents(_ context.Context, _ string, evs []event.Event) error {
	s.n += len(evs)
	return nil
}

func (s *countSink) Reject(context.Context, string, string, []byte, error) error { return nil }

// TestDockerRotation: docker renames <id>-json.log to .log.1 (the glob
// matches both) and starts a new file; partial records are joined.
func TestDockerRotation(t *testing.T) {
	dir := t.TempDir()
	id := strings.Repeat("0f", 32)
	cur := filepath.Join(dir, "containers", id, id+"-json.log")
	sink := newMemSink()
	w := create(t, cur)
	rec := func(w *os.File, log, stream string, i int) {
		b, _ := json.Marshal(map[string]string{"log": log, "stream": stream, "time": fmt.Sprintf("2026-01-02T15:04:05.%09dZ", i)})
		w.Write(append(b, '\n'))
	}
	rec(w, "one\n", "stdout", 1)
	rec(w, "two, ", "stdout", 2)
	r := testRun(t, newTailer(t, dir, sink, filepath.Join(dir, "containers", "*", "*-json.log*")))
	mustPoll(t, r)
	rec(w, "still two\n", "stdout", 3)
	if err := os.Rename(cur, cur+".1"); err != nil {
		t.Fatal(err)
	}
	rec(w, "three\n", "stderr", 4)
	w2 := create(t, cur)
	rec(w2, "four\n", "stdout", 5)
	mustPoll(t, r)
	sink.checkOnce(t, []string{"one", "two, still two", "three", "four"})
	if len(r.files) != 2 {
		t.Fatalf("%d files followed, want both", len(r.files))
	}
	for _, ev := range sink.events() {
		if ev.Target != id || ev.Service != "" {
			t.Fatalf("target %q service %q", ev.Target, ev.Service)
		}
	}
}

func keyOfPath(t *testing.T, path string) fileKey {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return keyOf(path, fi)
}

// TestCompressedSkipped: gzip files the glob matches are not read, by
// name or by content.
func TestCompressedSkipped(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	logDir := filepath.Join(dir, "pods", "ns_p_u", "c")
	gz := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, '\n', 0xff}
	os.MkdirAll(logDir, 0o755)
	for _, name := range []string{"0.log.20260102-150405.tmp", "0.log.20260102-140000.gz", "0.log.20260102-130000"} {
		os.WriteFile(filepath.Join(logDir, name), gz, 0o644)
	}
	l := &lineLog{t: t}
	l.write(create(t, filepath.Join(logDir, "0.log")), "a", 0, 3)
	r := testRun(t, newTailer(t, dir, sink, filepath.Join(dir, "pods", "*", "*", "*.log*")))
	mustPoll(t, r)
	mustPoll(t, r)
	sink.checkOnce(t, l.msgs)
	if len(sink.rejects) != 0 || len(r.files) != 1 || len(r.ignored) != 1 {
		t.Fatalf("%d rejects, %d files, %d ignored", len(sink.rejects), len(r.files), len(r.ignored))
	}
}
