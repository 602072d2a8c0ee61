// Package bus is Tripline's NATS JetStream plumbing: the embedded server,
// the EVENTS and FINDINGS streams, publishing batches and the key-value
// bucket that records sent alerts.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and subject names.
const (
	EventsStream      = "EVENTS"
	EventsSubject     = "tl.events."
	FindingsStream    = "FINDINGS"
	FindingsSubject   = "tl.findings."
	DeadLetterStream  = "DEADLETTER"
	DeadLetterSubject = "tl.deadletter."
	SentBucket        = "tripline_alerts_sent"
)

// Config says how to reach NATS.
type Config struct {
	// URL of an external server; empty starts an embedded one.
	URL string
	// Listen is the embedded server's client address; "" accepts
	// in-process connections only.
	Listen string
	// StoreDir holds the embedded server's JetStream files.
	StoreDir string
	// Retention is the max age of stream messages and sent-alert records.
	Retention time.Duration
	// MaxBytes caps each stream; when a stream is full, new events are
	// refused (ingest answers 503) rather than old ones dropped. 0 means
	// no cap besides the server's.
	MaxBytes int64
}

// Bus is a connection to JetStream with Tripline's streams in place.
type Bus struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	srv *server.Server
	url string
	log *slog.Logger
}

// maxPayload is the embedded server's message size limit.
const maxPayload = 8 << 20

// Open connects to NATS (starting the embedded server when cfg.URL is
// empty) and creates or updates the streams and the sent-alert bucket.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Bus, error) {
	b := &Bus{log: log, url: cfg.URL}
	var opts []nats.Option
	url := cfg.URL
	if url == "" {
		srv, err := startEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
	}
	opts = append(opts, nats.Name("tripline"), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("connect to nats %s: %w", redactURL(url), err)
	}
	b.NC = nc
	b.JS, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := b.ensure(ctx, cfg); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func startEmbedded(cfg Config) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "tripline",
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.StoreDir, "jetstream"),
		MaxPayload: maxPayload,
		NoSigs:     true,
		NoLog:      true,
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats.listen %q: %w", cfg.Listen, err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("nats.listen %q: %w", cfg.Listen, err)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats did not start within 30s (is %s in use, or %s not writable?)", cfg.Listen, opts.StoreDir)
	}
	return srv, nil
}

// ensure creates or updates the streams, the durable consumers and the
// sent-alert bucket. EVENTS and FINDINGS keep a message until every
// consumer has acknowledged it (interest retention), so they hold only the
// backlog; the consumers are created here, before anything is published,
// so that no message is published without interest whichever roles run.
func (b *Bus) ensure(ctx context.Context, cfg Config) error {
	for _, sc := range []jetstream.StreamConfig{
		{Name: EventsStream, Subjects: []string{EventsSubject + ">"}, Retention: jetstream.InterestPolicy},
		{Name: FindingsStream, Subjects: []string{FindingsSubject + ">"}, Retention: jetstream.InterestPolicy},
		// A partition's consumer is made by the worker that first owns
		// it; work-queue retention keeps its matches until then.
		{Name: MatchesStream, Subjects: []string{MatchesSubject + ">"}, Retention: jetstream.WorkQueuePolicy},
		{Name: DeadLetterStream, Subjects: []string{DeadLetterSubject + ">"}, Retention: jetstream.LimitsPolicy,
			Description: "messages a stage gave up on, with the reason in the Tripline-Reason header"},
	} {
		sc.Storage = jetstream.FileStorage
		sc.MaxAge = cfg.Retention
		sc.Duplicates = 2 * time.Minute
		sc.Discard = jetstream.DiscardNew
		if cfg.MaxBytes > 0 {
			sc.MaxBytes = cfg.MaxBytes
		}
		if _, err := b.JS.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("create stream %s: %w (a stream made by an older Tripline may need its data dir removed)", sc.Name, err)
		}
	}
	for _, c := range Consumers {
		if _, err := b.JS.CreateOrUpdateConsumer(ctx, c.Stream, c.Config()); err != nil {
			return fmt.Errorf("consumer %s on %s: %w", c.Durable, c.Stream, err)
		}
	}
	for _, kv := range []jetstream.KeyValueConfig{
		{Bucket: StateBucket, Storage: jetstream.FileStorage, History: 1,
			Description: "checkpoints of the stateful detection partitions"},
		{Bucket: LeaseBucket, TTL: LeaseTTL, Storage: jetstream.FileStorage, History: 1,
			Description: "which detect worker owns each partition, and worker heartbeats"},
	} {
		if _, err := b.JS.CreateOrUpdateKeyValue(ctx, kv); err != nil {
			return fmt.Errorf("create key-value bucket %s: %w", kv.Bucket, err)
		}
	}
	_, err := b.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: SentBucket, TTL: cfg.Retention, Storage: jetstream.FileStorage,
		Description: "alert ids claimed or delivered by the notifier",
	})
	if err != nil {
		return fmt.Errorf("create key-value bucket %s: %w", SentBucket, err)
	}
	return nil
}

// Connect opens another connection to the bus's NATS server (in-process
// for the embedded one), named name; the caller closes it.
func (b *Bus) Connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}
	if b.srv != nil {
		opts = append(opts, nats.InProcessServer(b.srv))
	}
	nc, err := nats.Connect(b.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", redactURL(b.url), err)
	}
	return nc, nil
}

// Ping checks that JetStream answers.
func (b *Bus) Ping(ctx context.Context) error {
	if b.NC == nil || !b.NC.IsConnected() {
		return errors.New("nats: not connected")
	}
	_, err := b.JS.AccountInfo(ctx)
	return err
}

// ClientURL is the embedded server's client URL, or "" when it accepts
// in-process connections only or NATS is external.
func (b *Bus) ClientURL() string {
	if b.srv == nil || b.srv.Addr() == nil {
		return ""
	}
	return b.srv.ClientURL()
}

// Close drains the connection and stops the embedded server.
func (b *Bus) Close() {
	if b.NC != nil {
		_ = b.NC.Flush()
		b.NC.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// redactURL hides a password in a NATS URL.
func redactURL(u string) string {
	if p, err := neturl.Parse(u); err == nil {
		return p.Redacted()
	}
	return "(unparsable URL)"
}
