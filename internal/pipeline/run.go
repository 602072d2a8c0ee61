package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/internal/bus"
	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/rules"
)

// Roles are the stages `tripline run` can start.
var Roles = []string{"ingest", "detect", "store", "alert"}

// Options are what Run needs besides the configuration.
type Options struct {
	// Roles to run; empty runs all.
	Roles []string
	Log   *slog.Logger
	// Ready, if set, is called with the HTTP listener's address once
	// ingest accepts requests.
	Ready func(addr net.Addr)
}

// LoadRules loads the built-in pack (unless cfg.Builtin is false) and the
// rule files and directories of cfg.Paths; a user rule replaces the
// built-in rule of the same id. Rules that fail to load are reported in the
// errors and left out; the rest are returned.
func LoadRules(cfg config.Rules) ([]*detect.Rule, []error) {
	var builtin fs.FS
	if cfg.Builtin {
		var err error
		if builtin, err = rules.Pack(cfg.Optional); err != nil {
			return nil, []error{err}
		}
	}
	// One load: the pack's and the user's lists and macros are shared,
	// and a user's definition of a name replaces the pack's.
	all, _, errs := detect.LoadSet(builtin, cfg.Paths)
	return all, errs
}

// NewNotifier picks Slack by webhook or bot token, else the log.
func NewNotifier(cfg config.Slack, log *slog.Logger) alert.Notifier {
	client := &http.Client{Timeout: 10 * time.Second}
	var n alert.Notifier
	switch {
	case cfg.WebhookURL != "":
		n = alert.NewWebhook(cfg.WebhookURL, client)
	case cfg.Token != "":
		n = alert.NewBot(cfg.Token, cfg.Channel, cfg.APIURL, client)
	default:
		return alert.NewConsole(log)
	}
	return alert.WithRetry(n, alert.RetryPolicy{})
}

// Run starts the configured stages and the HTTP listener, and blocks until
// ctx ends or a stage fails.
func Run(ctx context.Context, cfg config.Config, opt Options) error {
	log := opt.Log
	roles := opt.Roles
	if len(roles) == 0 {
		roles = Roles
	}
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			return fmt.Errorf("--role %q: want some of %v", r, Roles)
		}
	}
	has := func(r string) bool { return slices.Contains(roles, r) }

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	b, err := bus.Open(ctx, bus.Config{
		URL: cfg.NATS.URL, Listen: cfg.NATS.Listen, Retention: cfg.NATS.Retention, MaxBytes: cfg.NATS.MaxBytes,
		StoreDir: filepath.Join(cfg.DataDir, "nats"),
	}, log)
	if err != nil {
		return err
	}
	defer b.Close()
	if u := b.ClientURL(); u != "" {
		log.Info("embedded nats started", "url", u)
	}

	ch := &lazyStore{cfg: store.Config{Addr: cfg.ClickHouse.Addr, Database: cfg.ClickHouse.Database,
		Username: cfg.ClickHouse.Username, Password: cfg.ClickHouse.Password}, log: log}
	defer ch.Close()

	// Bind the listener first: if it fails, no stage has started.
	reg := prometheus.NewRegistry()
	metrics := ingest.NewMetrics(reg)
	var rules *Rules // the detect role's, reloadable
	if has("detect") {
		rules = NewRules(cfg.Rules, log)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tripline_rules_generation",
			Help: "Generation of the running rules: 1 at start, one more per reload that changed them."},
			func() float64 { return float64(rules.Generation()) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tripline_rules_loaded",
			Help: "Rules running."}, func() float64 { return float64(len(rules.Engine().Rules())) }))
	}
	srv, ln, err := newHTTPServer(cfg, b, ch, has("ingest"), rules, reg, metrics, log)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	if has("ingest") {
		runListeners(ctx, g, cfg, b, metrics, log)
	}
	if rules != nil {
		// new_term rules learn from the events that the rules loaded
		// now will not see: those ingested before the cutoff.
		cutoff := historyCutoff(ctx, b, time.Now(), log)
		d := &Detect{Bus: b, Workers: 2, Log: log, Generation: rules.Generation,
			NewMatcher: func() Matcher { return rules.Engine().NewMatcher() }}
		g.Go(func() error { return d.Run(ctx) })
		loaded := rules.Engine().Rules()
		seeder := NewSeeder(ctx, SeedConfig{History: lazyHistory{ch}, Rules: loaded, Until: cutoff,
			Lateness: cfg.Detect.Lateness, MaxEvents: cfg.Detect.SeedMaxEvents, Timeout: cfg.Detect.SeedTimeout,
			Metrics: NewSeedMetrics(reg), Log: log})
		// The state stage runs even without stateful rules, so that a
		// reload can add some.
		s := &State{Bus: b, Rules: statefulRules(loaded), Lateness: cfg.Detect.Lateness, Worker: workerName(cfg.DataDir),
			Metrics: NewStateMetrics(reg), Seeder: seeder, Log: log}
		rules.OnSwap = func(next []*detect.Rule, gen uint64) {
			if seeder != nil {
				seeder.SetRules(next, historyCutoff(ctx, b, time.Now(), log))
			}
			s.SetRules(statefulRules(next), gen)
		}
		g.Go(func() error { return s.Run(ctx) })
		g.Go(func() error { return rules.Watch(ctx, cfg.Rules.WatchInterval) })
	}
	// Every role connects to ClickHouse in the background (readiness
	// reports it); the store role then writes to it.
	g.Go(func() error {
		w, err := ch.wait(ctx)
		if err != nil || !has("store") {
			return nil
		}
		s := &Store{Bus: b, Writer: w, BatchSize: cfg.Store.BatchSize, Flush: cfg.Store.FlushInterval, Log: log}
		return s.Run(ctx)
	})
	if has("alert") {
		a := &Alert{Bus: b, Notifier: NewNotifier(cfg.Slack, log), Workers: 8, RetryDelay: 30 * time.Second, Log: log}
		g.Go(func() error { return a.Run(ctx) })
	}
	// Health and metrics are served by every role; ingest routes only by
	// the ingest role.
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	log.Info("listening", "addr", ln.Addr().String(), "roles", roles)
	if opt.Ready != nil {
		opt.Ready(ln.Addr())
	}
	return g.Wait()
}

func newHTTPServer(cfg config.Config, b *bus.Bus, ch *lazyStore, ingestRole bool, rules *Rules, reg *prometheus.Registry, metrics *ingest.Metrics, log *slog.Logger) (*http.Server, net.Listener, error) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	if ingestRole {
		h, err := ingest.NewHandler(ingest.HTTPConfig{
			MaxBodyBytes: cfg.HTTP.MaxBodyBytes, MaxRecordBytes: cfg.HTTP.MaxRecordBytes,
			MaxRecords: cfg.HTTP.MaxRecords, MaxConcurrent: cfg.HTTP.MaxConcurrent,
			FirehoseKeys: cfg.Ingest.Firehose.AccessKeys,
			AuthToken:    cfg.HTTP.AuthToken, SourceTokens: cfg.Ingest.Tokens, RequireAuth: !cfg.HTTPLoopback(),
			LogGroups: cfg.Ingest.CloudWatch.LogGroups, Decoders: ingest.Decoders(cfg.Ingest.SourceConfig),
			Publisher: b, Rejecter: b, Metrics: metrics, Log: log,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("ingest.cloudwatch.log_groups: %w", err)
		}
		h.Register(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := errors.Join(b.Ping(ctx), ch.Ping(ctx)); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if rules != nil {
		mux.HandleFunc("POST /v1/rules/reload", rules.reloadHandler(cfg.HTTP.AuthToken, cfg.HTTPLoopback()))
	}
	if cfg.HTTP.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("http.listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	return srv, ln, nil
}
