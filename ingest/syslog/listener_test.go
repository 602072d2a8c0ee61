package syslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// memSink keeps what the listener hands it and signals every change.
type memSink struct {
	mu       sync.Mutex
	evs      []event.Event
	batches  []int
	rejects  []rejectCall
	failNext int // PublishEvents calls to fail before succeeding
	failures int
	changed  chan struct{}
}

type rejectCall struct {
	reason string
	rec    string
	err    error
}

func newMemSink() *memSink { return &memSink{changed: make(chan struct{}, 1)} }

func (s *memSink) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *memSink) PublishEvents(_ context.Context, source string, evs []event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signal()
	if source != Source {
		return fmt.Errorf("source %q", source)
	}
	if s.failNext > 0 {
		s.failNext--
		s.failures++
		return errors.New("bus down")
	}
	s.evs = append(s.evs, evs...)
	s.batches = append(s.batches, len(evs))
	return nil
}

func (s *memSink) Reject(_ context.Context, source, reason string, rec []byte, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signal()
	s.rejects = append(s.rejects, rejectCall{reason: reason, rec: string(rec), err: err})
	return nil
}

// waitFor waits until cond holds for the sink (checked on every change),
// failing the test after 10 seconds.
func (s *memSink) waitFor(t *testing.T, what string, cond func(s *memSink) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ok := cond(s)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.changed:
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("timed out waiting for %s; events %d, rejects %+v", what, len(s.evs), s.rejects)
		}
	}
}

func (s *memSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.evs {
		out = append(out, ev.Message)
	}
	return out
}

// countMetrics implements Metrics.
type countMetrics struct {
	mu       sync.Mutex
	accepted int
	rejected map[string]int
}

func (m *countMetrics) Accepted(_ string, n int) {
	m.mu.Lock()
	m.accepted += n
	m.mu.Unlock()
}

func (m *countMetrics) Rejected(_, reason string) {
	m.mu.Lock()
	if m.rejected == nil {
		m.rejected = map[string]int{}
	}
	m.rejected[reason]++
	m.mu.Unlock()
}

func (m *countMetrics) RejectedRecord(source, reason string) { m.Rejected(source, reason) }

func (m *countMetrics) get(reason string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rejected[reason]
}

type harness struct {
	l       *Listener
	sink    *memSink
	metrics *countMetrics
	udp     net.Addr
	tcp     net.Addr
	cancel  context.CancelFunc
	done    chan error
}

// start runs a listener on 127.0.0.1:0 (UDP and TCP) until the test ends.
func start(t *testing.T, cfg Config, tweak ...func(*Listener)) *harness {
	t.Helper()
	if cfg.UDP == "" && cfg.TCP == "" {
		cfg.UDP, cfg.TCP = "127.0.0.1:0", "127.0.0.1:0"
	}
	h := &harness{sink: newMemSink(), metrics: &countMetrics{}, done: make(chan error, 1)}
	h.l = &Listener{
		Config:  cfg,
		Sink:    h.sink,
		Metrics: h.metrics,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:     func() time.Time { return testNow },
	}
	for _, f := range tweak {
		f(h.l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.l.Run(ctx) }()
	select {
	case <-h.l.Ready():
	case err := <-h.done:
		t.Fatalf("Run: %v", err)
	}
	h.udp, h.tcp = h.l.Addrs()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop cancels the listener and waits (at most 5 seconds) for Run.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	select {
	case err, ok := <-h.done:
		if ok {
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
			close(h.done)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
}

func dial(t *testing.T, network string, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

func TestUDP(t *testing.T) {
	h := start(t, Config{})
	c := dial(t, "udp", h.udp)
	same := "<38>Oct 11 22:14:15 web-1 sshd[1]: Failed password for root from 203.0.113.7 port 22 ssh2\n"
	write(t, c, same)
	write(t, c, "not syslog")
	write(t, c, same) // identical lines are distinct events
	write(t, c, `<165>1 2003-10-11T22:14:15.003Z host app - ID47 [a@1 src_ip="192.0.2.9"] five`)
	h.sink.waitFor(t, "3 events and 1 reject", func(s *memSink) bool { return len(s.evs) == 3 && len(s.rejects) == 1 })

	evs := h.sink.evs
	if evs[0].EventID == evs[1].EventID {
		t.Errorf("identical messages share the id %s", evs[0].EventID)
	}
	for _, ev := range evs {
		var raw map[string]any
		if err := json.Unmarshal(ev.Raw, &raw); err != nil {
			t.Fatal(err)
		}
		if raw["peer"] != c.LocalAddr().String() {
			t.Errorf("peer %v, want %s", raw["peer"], c.LocalAddr())
		}
		if !ev.IngestedAt.Equal(testNow) {
			t.Errorf("ingested_at %s", ev.IngestedAt)
		}
	}
	if !strings.HasPrefix(evs[0].EventID, event.ContentID(Source, []byte(strings.TrimSuffix(same, "\n")))+"-") {
		t.Errorf("id %s does not start with the content hash", evs[0].EventID)
	}
	if evs[2].SrcIP != "192.0.2.9" || evs[2].Action != "ID47" {
		t.Errorf("5424 event %+v", evs[2])
	}
	if r := h.sink.rejects[0]; r.reason != ReasonBadRecord || r.rec != "not syslog" || r.err == nil {
		t.Errorf("reject %+v", r)
	}
	h.stop(t) // the metrics are counted after the Sink returns
	if h.metrics.get(ReasonBadRecord) != 1 {
		t.Errorf("metrics %+v", h.metrics.rejected)
	}
}

func TestUDPTooLarge(t *testing.T) {
	h := start(t, Config{MaxMessageBytes: 512})
	c := dial(t, "udp", h.udp)
	write(t, c, "<13>Oct 11 22:14:15 host app: "+strings.Repeat("x", 600))
	write(t, c, "<13>Oct 11 22:14:15 host app: fits")
	h.sink.waitFor(t, "1 event and 1 reject", func(s *memSink) bool { return len(s.evs) == 1 && len(s.rejects) == 1 })
	if r := h.sink.rejects[0]; r.reason != ReasonTooLarge || len(r.rec) != 512 {
		t.Errorf("reject %s of %d bytes", r.reason, len(r.rec))
	}
}

func TestTCPNewlineFraming(t *testing.T) {
	h := start(t, Config{})
	c := dial(t, "tcp", h.tcp)
	write(t, c, "<13>Oct 11 22:14:15 host app: one\r\n\n<13>1 2024-05-01T10:00:00Z host app - - - two\n")
	write(t, c, "<13>Oct 11 22:14:15 host app: thr")
	write(t, c, "ee\n")
	h.sink.waitFor(t, "3 events", func(s *memSink) bool { return len(s.evs) == 3 })
	if got := fmt.Sprint(h.sink.messages()); got != "[one two three]" {
		t.Errorf("messages %s", got)
	}
}

func TestTCPOctetCounting(t *testing.T) {
	h := start(t, Config{})
	c := dial(t, "tcp", h.tcp)
	msgs := []string{
		"<13>Oct 11 22:14:15 host app: one",
		"<13>1 2024-05-01T10:00:00Z host app - - - two\nlines",
		"<13>Oct 11 22:14:15 host app: three\n",
	}
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%d %s", len(m), m)
	}
	write(t, c, b.String())
	h.sink.waitFor(t, "3 events", func(s *memSink) bool { return len(s.evs) == 3 })
	if got := fmt.Sprintf("%q", h.sink.messages()); got != `["one" "two\nlines" "three"]` {
		t.Errorf("messages %s", got)
	}
}

func TestTCPGoodAndBad(t *testing.T) {
	h := start(t, Config{MaxMessageBytes: 512})
	c := dial(t, "tcp", h.tcp)
	write(t, c, strings.Join([]string{
		"<13>Oct 11 22:14:15 host app: good 1",
		"garbage line",
		"<13>Oct 11 22:14:15 host app: good 2",
		"<13>Oct 11 22:14:15 host app: " + strings.Repeat("x", 1000),
		"<999>bad pri",
		"<13>Oct 11 22:14:15 host app: good 3",
	}, "\n")+"\n")
	h.sink.waitFor(t, "3 events and 3 rejects", func(s *memSink) bool { return len(s.evs) == 3 && len(s.rejects) == 3 })
	if got := fmt.Sprint(h.sink.messages()); got != "[good 1 good 2 good 3]" {
		t.Errorf("messages %s", got)
	}
	var reasons []string
	for _, r := range h.sink.rejects {
		reasons = append(reasons, r.reason)
	}
	if got := fmt.Sprint(reasons); got != "[bad_record record_too_large bad_record]" {
		t.Errorf("reasons %s", got)
	}
	if h.sink.rejects[0].rec != "garbage line" || !strings.Contains(h.sink.rejects[0].err.Error(), "PRI") {
		t.Errorf("reject %+v", h.sink.rejects[0])
	}
}

func TestTCPOctetTooLarge(t *testing.T) {
	h := start(t, Config{MaxMessageBytes: 512})
	c := dial(t, "tcp", h.tcp)
	big := "<13>Oct 11 22:14:15 host app: " + strings.Repeat("x", 100000)
	ok := "<13>Oct 11 22:14:15 host app: after"
	write(t, c, fmt.Sprintf("%d %s%d %s", len(big), big, len(ok), ok))
	h.sink.waitFor(t, "1 event and 1 reject", func(s *memSink) bool { return len(s.evs) == 1 && len(s.rejects) == 1 })
	if r := h.sink.rejects[0]; r.reason != ReasonTooLarge || len(r.rec) != 512 {
		t.Errorf("reject %s of %d bytes", r.reason, len(r.rec))
	}
	if h.sink.evs[0].Message != "after" {
		t.Errorf("event %+v", h.sink.evs[0])
	}
}

func TestTCPClosedMidMessage(t *testing.T) {
	h := start(t, Config{})
	// Octet counting: the cut frame is a bad record.
	c := dial(t, "tcp", h.tcp)
	one := "<13>Oct 11 22:14:15 host app: one"
	write(t, c, fmt.Sprintf("%d %s100 <13>Oct 11 22:14:15 host", len(one), one))
	c.Close()
	h.sink.waitFor(t, "1 event and 1 reject", func(s *memSink) bool { return len(s.evs) == 1 && len(s.rejects) == 1 })
	if r := h.sink.rejects[0]; r.reason != ReasonBadRecord || r.rec != "<13>Oct 11 22:14:15 host" || !strings.Contains(r.err.Error(), "after 24 of the frame's 100 bytes") {
		t.Errorf("reject %+v", r)
	}
	// LF framing: a last line without its LF is a message.
	c = dial(t, "tcp", h.tcp)
	write(t, c, "<13>Oct 11 22:14:15 host app: two\n<13>Oct 11 22:14:15 host app: three")
	c.Close()
	h.sink.waitFor(t, "3 events", func(s *memSink) bool { return len(s.evs) == 3 })
	if got := fmt.Sprint(h.sink.messages()); got != "[one two three]" {
		t.Errorf("messages %s", got)
	}
}

func TestTCPBadFrameDropsConnection(t *testing.T) {
	h := start(t, Config{})
	c := dial(t, "tcp", h.tcp)
	write(t, c, "5 <13>a<13>x not a frame\n")
	h.sink.waitFor(t, "1 event and 1 reject", func(s *memSink) bool { return len(s.evs) == 1 && len(s.rejects) == 1 })
	if r := h.sink.rejects[0]; r.reason != ReasonBadRecord || r.rec != "<13>x not a frame" {
		t.Errorf("reject %+v", r)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("connection not closed: %v", err)
	}
}

// TestTCPBackpressure fails the first publishes: the batch is retried
// until stored, once.
func TestTCPBackpressure(t *testing.T) {
	h := start(t, Config{})
	h.sink.mu.Lock()
	h.sink.failNext = 2
	h.sink.mu.Unlock()
	c := dial(t, "tcp", h.tcp)
	write(t, c, "<13>Oct 11 22:14:15 host app: one\n<13>Oct 11 22:14:15 host app: two\n")
	h.sink.waitFor(t, "2 events", func(s *memSink) bool { return len(s.evs) >= 2 })
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	if len(h.sink.evs) != 2 || h.sink.failures != 2 {
		t.Errorf("%d events after %d failures", len(h.sink.evs), h.sink.failures)
	}
}

func TestBatching(t *testing.T) {
	h := start(t, Config{}, func(l *Listener) { l.MaxBatch = 3; l.BatchDelay = time.Hour })
	c := dial(t, "tcp", h.tcp)
	var b strings.Builder
	for i := range 7 {
		fmt.Fprintf(&b, "<13>Oct 11 22:14:15 host app: %d\n", i)
	}
	write(t, c, b.String())
	// Two full batches now; the 7th waits for the delay or the end.
	h.sink.waitFor(t, "2 batches", func(s *memSink) bool { return len(s.batches) == 2 })
	c.Close()
	h.sink.waitFor(t, "3 batches", func(s *memSink) bool { return len(s.batches) == 3 })
	if got := fmt.Sprint(h.sink.batches); got != "[3 3 1]" {
		t.Errorf("batches %s", got)
	}
	h.stop(t)
	h.metrics.mu.Lock()
	defer h.metrics.mu.Unlock()
	if h.metrics.accepted != 7 {
		t.Errorf("accepted %d", h.metrics.accepted)
	}
}

func TestMaxConnections(t *testing.T) {
	h := start(t, Config{MaxConnections: 1})
	c1 := dial(t, "tcp", h.tcp)
	write(t, c1, "<13>Oct 11 22:14:15 host app: first\n")
	h.sink.waitFor(t, "the first connection's event", func(s *memSink) bool { return len(s.evs) == 1 })
	c2 := dial(t, "tcp", h.tcp)
	if err := c2.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatal("second connection was not closed")
	}
	if n := h.metrics.get(ReasonTooManyConns); n != 1 {
		t.Errorf("too_many_connections counted %d", n)
	}
	// The first connection still works.
	write(t, c1, "<13>Oct 11 22:14:15 host app: second\n")
	h.sink.waitFor(t, "the second event", func(s *memSink) bool { return len(s.evs) == 2 })
}

func TestIdleTimeout(t *testing.T) {
	h := start(t, Config{IdleTimeout: 50 * time.Millisecond})
	c := dial(t, "tcp", h.tcp)
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection not closed: %v", err)
	}
}

// TestCancel stops a listener with connections open and an event waiting
// in its batch: Run returns promptly, after storing the event.
func TestCancel(t *testing.T) {
	h := start(t, Config{}, func(l *Listener) { l.BatchDelay = time.Hour })
	c := dial(t, "tcp", h.tcp)
	// The bad line is dead-lettered at once, so once it is, the line
	// before it is in the batch.
	write(t, c, "<13>Oct 11 22:14:15 host app: kept\nbad\n<13>Oct 11 22:14:15 host app: half")
	dial(t, "tcp", h.tcp) // idle
	h.sink.waitFor(t, "the reject", func(s *memSink) bool { return len(s.rejects) == 1 })
	if n := len(h.sink.messages()); n != 0 {
		t.Fatalf("%d events before the batch delay", n)
	}
	began := time.Now()
	h.stop(t)
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("Run took %s to return", d)
	}
	if got := h.sink.messages(); len(got) == 0 || got[0] != "kept" {
		t.Errorf("messages at shutdown %q", got)
	}
}

func TestRunErrors(t *testing.T) {
	cases := []struct {
		name string
		l    *Listener
		want string
	}{
		{"nothing to listen on", &Listener{Sink: newMemSink()}, "neither udp nor tcp"},
		{"no sink", &Listener{Config: Config{UDP: "127.0.0.1:0"}}, "no Sink"},
		{"remote", &Listener{Config: Config{TCP: "0.0.0.0:0"}, Sink: newMemSink()}, "not a loopback address"},
		{"bad address", &Listener{Config: Config{TCP: "127.0.0.1"}, Sink: newMemSink()}, "missing port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.l.Run(t.Context())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
	// A port in use: the error names the transport.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := Listener{Config: Config{TCP: ln.Addr().String()}, Sink: newMemSink()}
	if err := l.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "syslog: tcp") {
		t.Errorf("port in use: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"defaults", Config{}, ""},
		{"loopback", Config{UDP: "127.0.0.1:514", TCP: "[::1]:514"}, ""},
		{"localhost", Config{TCP: "localhost:514"}, ""},
		{"all interfaces", Config{UDP: ":514"}, "udp: :514 is not a loopback address"},
		{"remote", Config{TCP: "10.0.0.1:514"}, "tcp: 10.0.0.1:514 is not a loopback address"},
		{"remote allowed", Config{TCP: "0.0.0.0:514", UDP: ":514", AllowRemote: true}, ""},
		{"no port", Config{TCP: "127.0.0.1"}, "tcp: address 127.0.0.1: missing port"},
		{"small max", Config{MaxMessageBytes: 100}, "max_message_bytes: 100 is not between"},
		{"negative conns", Config{MaxConnections: -1}, "max_connections: must be positive"},
		{"negative idle", Config{IdleTimeout: -time.Second}, "idle_timeout: must be positive"},
		{"bad zone", Config{Timezone: "Mars/Olympus"}, "timezone:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Defaults()
			err := c.cfg.Validate()
			if c.want == "" {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
	var c Config
	c.Defaults()
	if c.MaxMessageBytes != 64<<10 || c.MaxConnections != 256 || c.IdleTimeout != 5*time.Minute || c.Timezone != "UTC" {
		t.Errorf("defaults %+v", c)
	}
}
