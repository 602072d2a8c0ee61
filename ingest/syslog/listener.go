package syslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// Sink stores what the listener receives.
type Sink interface {
	// PublishEvents stores evs durably and returns once they are stored.
	PublishEvents(ctx context.Context, source string, evs []event.Event) error
	// Reject dead-letters a message that could not be decoded, with the
	// reason (a metric label) and the error.
	Reject(ctx context.Context, source, reason string, rec []byte, err error) error
}

// Metrics counts messages; *ingest.Metrics implements it.
type Metrics interface {
	// Accepted counts n events stored.
	Accepted(source string, n int)
	// Rejected counts one datagram or connection refused or lost, not
	// kept anywhere: queue_full, too_many_connections, publish_failed.
	Rejected(source, reason string)
	// RejectedRecord counts one dead-lettered message: bad_record,
	// record_too_large.
	RejectedRecord(source, reason string)
}

// Tuning of the listener.
const (
	udpQueueLen      = 1024 // datagrams waiting for the publisher
	tcpQueueLen      = 64   // frames of one connection waiting for it
	shutdownFlushFor = 2 * time.Second
)

// Listener receives syslog over UDP and TCP and hands the events to Sink
// in batches (up to MaxBatch events or BatchDelay after the first).
//
// On TCP a failing Sink stops the reading of that connection until the
// batch is stored (retried with backoff), so the sender's buffers take the
// pressure. UDP cannot push back: datagrams that arrive while the
// publisher's queue is full are dropped, logged and counted (queue_full).
//
// Every event id is the content hash of the message plus a number unique
// to this listener run ("<hash>-<n>", n counting up from the start time
// in nanoseconds). Syslog messages have no id, and two identical lines in
// the same second are two events, so the content alone cannot be the id.
// The ids are fixed before publishing, so the listener's own retries
// deduplicate; a sender that resends a message after reconnecting makes
// a new event.
type Listener struct {
	// Config is the listener configuration; Run applies its Defaults.
	Config Config
	// Sink stores events and dead letters. Required.
	Sink Sink
	// Metrics counts events and rejections; nil counts nothing.
	Metrics Metrics
	// Log receives warnings; nil means slog.Default().
	Log *slog.Logger
	// Now is the clock (event times of messages without one, the year
	// of RFC 3164 timestamps, IngestedAt); nil means time.Now.
	Now func() time.Time

	// MaxBatch and BatchDelay bound a batch; zero means 500 and 100ms.
	MaxBatch   int
	BatchDelay time.Duration

	once      sync.Once
	ready     chan struct{}
	udpAddr   net.Addr
	tcpAddr   net.Addr
	seq       atomic.Uint64
	warnings  throttle // refused connections, dropped datagrams
	retryWarn throttle // Sink failures
}

func (l *Listener) init() {
	l.once.Do(func() { l.ready = make(chan struct{}) })
}

// Ready is closed once Run has bound its sockets; Addrs then tells where.
// It is never closed when Run fails before that.
func (l *Listener) Ready() <-chan struct{} {
	l.init()
	return l.ready
}

// Addrs returns the bound UDP and TCP addresses (nil when off, or before
// Ready is closed).
func (l *Listener) Addrs() (udp, tcp net.Addr) {
	select {
	case <-l.Ready():
		return l.udpAddr, l.tcpAddr
	default:
		return nil, nil
	}
}

// Run serves until ctx ends, then closes the sockets, flushes what was
// received and waits for its goroutines. It returns nil after ctx ends,
// or an error if a socket cannot be bound or fails. Call it once.
func (l *Listener) Run(ctx context.Context) error {
	l.init()
	cfg := l.Config
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	if !cfg.Enabled() {
		return errors.New("syslog: neither udp nor tcp is set")
	}
	if l.Sink == nil {
		return errors.New("syslog: no Sink")
	}
	l.Config = cfg
	l.seq.Store(uint64(l.now().UnixNano()))

	var lc net.ListenConfig
	var pc net.PacketConn
	var ln net.Listener
	var err error
	if cfg.UDP != "" {
		if pc, err = lc.ListenPacket(ctx, "udp", cfg.UDP); err != nil {
			return fmt.Errorf("syslog: udp: %w", err)
		}
		l.udpAddr = pc.LocalAddr()
	}
	if cfg.TCP != "" {
		if ln, err = lc.Listen(ctx, "tcp", cfg.TCP); err != nil {
			if pc != nil {
				pc.Close()
			}
			return fmt.Errorf("syslog: tcp: %w", err)
		}
		l.tcpAddr = ln.Addr()
	}
	close(l.ready)
	l.logger().Info("syslog listening", "udp", l.udpAddr, "tcp", l.tcpAddr)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if pc != nil {
			pc.Close()
		}
		if ln != nil {
			ln.Close()
		}
	})
	defer stop()

	var wg sync.WaitGroup
	errs := make([]error, 2)
	if pc != nil {
		wg.Go(func() {
			if errs[0] = l.serveUDP(ctx, pc); errs[0] != nil {
				cancel()
			}
		})
	}
	if ln != nil {
		wg.Go(func() {
			if errs[1] = l.serveTCP(ctx, ln, cfg.MaxConnections); errs[1] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// serveUDP reads datagrams until pc is closed.
func (l *Listener) serveUDP(ctx context.Context, pc net.PacketConn) error {
	frames := make(chan frame, udpQueueLen)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.process(ctx, frames)
	}()
	defer func() {
		close(frames)
		<-done
	}()
	maxBytes := l.Config.MaxMessageBytes
	buf := make([]byte, min(maxBytes, 65535)+1) // one more: a longer datagram fills it
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("syslog: udp: %w", err)
		}
		f := frame{peer: addr.String(), rec: append([]byte(nil), buf[:min(n, maxBytes)]...)}
		if n > maxBytes {
			f.err = &frameError{reason: ReasonTooLarge, err: fmt.Errorf("datagram of more than %d bytes exceeds max_message_bytes", maxBytes)}
		}
		select {
		case frames <- f:
		default:
			l.count(ReasonQueueFull)
			l.warnings.warn(l.logger(), "syslog: udp datagrams dropped: the publisher is behind", "queue", udpQueueLen)
		}
	}
}

// serveTCP accepts connections until ln is closed, then waits for them.
func (l *Listener) serveTCP(ctx context.Context, ln net.Listener, maxConns int) error {
	slots := make(chan struct{}, maxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	backoff := 5 * time.Millisecond
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: wait, then go on.
			l.warnings.warn(l.logger(), "syslog: tcp accept failed", "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		select {
		case slots <- struct{}{}:
		default:
			l.count(ReasonTooManyConns)
			l.warnings.warn(l.logger(), "syslog: tcp connection refused: too many connections", "max_connections", maxConns, "peer", conn.RemoteAddr().String())
			conn.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			l.serveConn(ctx, conn)
		})
	}
}

// serveConn reads one TCP connection until it ends, ctx ends, or it is
// idle for IdleTimeout.
func (l *Listener) serveConn(ctx context.Context, conn net.Conn) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	peer := conn.RemoteAddr().String()
	frames := make(chan frame, tcpQueueLen)
	go func() {
		defer close(frames)
		fr := newFrameReader(conn, l.Config.MaxMessageBytes)
		for {
			if err := conn.SetReadDeadline(time.Now().Add(l.Config.IdleTimeout)); err != nil {
				return
			}
			rec, err := fr.next()
			var fe *frameError
			if err != nil && !errors.As(err, &fe) {
				if ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					l.logger().Debug("syslog: tcp connection ended", "peer", peer, "err", err)
				}
				return
			}
			select {
			case frames <- frame{peer: peer, rec: rec, err: fe}:
			case <-ctx.Done():
				return
			}
			if fe != nil && fe.fatal {
				l.logger().Debug("syslog: tcp connection dropped", "peer", peer, "err", fe)
				return
			}
		}
	}()
	l.process(ctx, frames)
}

func (l *Listener) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Listener) logger() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.Default()
}

func (l *Listener) count(reason string) {
	if l.Metrics != nil {
		l.Metrics.Rejected(Source, reason)
	}
}

// throttle logs a warning at most once every 10 seconds, so that a flood
// of bad input does not flood the log.
type throttle struct {
	mu   sync.Mutex
	last time.Time
}

func (t *throttle) warn(log *slog.Logger, msg string, args ...any) {
	t.mu.Lock()
	now := time.Now()
	ok := now.Sub(t.last) >= 10*time.Second
	if ok {
		t.last = now
	}
	t.mu.Unlock()
	if ok {
		log.Warn(msg, args...)
	}
}
