// Package config holds Tripline's configuration: YAML from a file, every
// key overridable from the environment as TRIPLINE_<SECTION>_<KEY>, and
// secrets from files through TRIPLINE_<SECTION>_<KEY>_FILE.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/ingest/tail"
	"github.com/tripline/tripline/rules"
)

// Config is the whole configuration of `tripline run`.
type Config struct {
	// DataDir holds the embedded NATS server's JetStream files.
	DataDir string `yaml:"data_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel   string     `yaml:"log_level"`
	NATS       NATS       `yaml:"nats"`
	HTTP       HTTP       `yaml:"http"`
	ClickHouse ClickHouse `yaml:"clickhouse"`
	Rules      Rules      `yaml:"rules"`
	Slack      Slack      `yaml:"slack"`
	Ingest     Ingest     `yaml:"ingest"`
	Detect     Detect     `yaml:"detect"`
	Store      Store      `yaml:"store"`
}

// NATS says where the event bus is.
type NATS struct {
	// URL of an external NATS server with JetStream; empty starts the
	// official server embedded in-process, storing under DataDir.
	URL string `yaml:"url"`
	// Listen is the embedded server's client address, loopback only ("" =
	// in-process only, no TCP port; `tripline bench` needs one).
	Listen string `yaml:"listen"`
	// Retention is the longest an event or finding waits on the bus for
	// a stage to process it (a stage down for longer loses it); processed
	// messages are removed at once.
	Retention time.Duration `yaml:"retention"`
	// MaxBytes caps each stream's backlog; when full, ingest answers 503
	// instead of dropping older events.
	MaxBytes int64 `yaml:"max_bytes"`
}

// HTTP configures the ingest listener.
type HTTP struct {
	// Listen is the ingest address.
	Listen string `yaml:"listen"`
	// MaxBodyBytes caps a request body, before and after decompression.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxRecordBytes caps one record.
	MaxRecordBytes int64 `yaml:"max_record_bytes"`
	// MaxRecords caps the records of one request.
	MaxRecords int `yaml:"max_records"`
	// MaxConcurrent caps the requests decoded at once; more wait up to a
	// second, then get 503.
	MaxConcurrent int `yaml:"max_concurrent"`
	// AuthToken, when set, is required as "Authorization: Bearer <token>"
	// on ingest endpoints. Required when Listen is not a loopback address.
	AuthToken string `yaml:"auth_token"`
	// Pprof serves Go's profiler under /debug/pprof/ (for performance
	// work; keep it off on a listener others can reach).
	Pprof bool `yaml:"pprof"`
}

// ClickHouse says where events and alerts are stored.
type ClickHouse struct {
	// Addr is host:port of the native protocol.
	Addr     string `yaml:"addr"`
	Database string `yaml:"database"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Rules says which detection rules are loaded.
type Rules struct {
	// Paths are rule files or directories loaded besides the built-in pack.
	Paths []string `yaml:"paths"`
	// Builtin loads the pack embedded in the binary.
	Builtin bool `yaml:"builtin"`
	// Optional names optional rules of the pack to load with it, by id
	// ("all": every one); see rules.Pack.
	Optional []string `yaml:"optional"`
	// WatchInterval is how often the files under Paths are checked for
	// changes, which reload the rules; 0 turns the check off (SIGHUP and
	// POST /v1/rules/reload still reload).
	WatchInterval time.Duration `yaml:"watch_interval"`
}

// Slack says where alerts are posted. With neither a webhook nor a token
// set, alerts go to the log.
type Slack struct {
	// WebhookURL is an incoming webhook.
	WebhookURL string `yaml:"webhook_url"`
	// Token is a bot token used with Channel (chat.postMessage).
	Token   string `yaml:"token"`
	Channel string `yaml:"channel"`
	// APIURL overrides the Web API base URL (tests, proxies).
	APIURL string `yaml:"api_url"`
}

// Ingest configures decoding.
type Ingest struct {
	// SourceConfig holds the decoders' settings (json, envoy, gcp, ...).
	ingest.SourceConfig `yaml:",inline"`
	// Firehose configures POST /v1/ingest/firehose.
	Firehose Firehose `yaml:"firehose"`
	// Files are container log files to tail (CRI or Docker json-file).
	Files tail.Config `yaml:"files"`
	// CloudWatch configures CloudWatch Logs batches (the cloudwatch and
	// firehose endpoints).
	CloudWatch CloudWatch `yaml:"cloudwatch"`
	// Tokens are bearer tokens accepted by one source each, by source
	// name ("otlp" for /v1/logs, "cloudwatch" for its endpoint); each is
	// also settable as TRIPLINE_INGEST_TOKENS_<SOURCE> (or _FILE), with
	// "-" in the source name written "_". http.auth_token is accepted by
	// every source.
	Tokens map[string]string `yaml:"tokens"`
}

// CloudWatch configures how CloudWatch Logs batches are decoded.
type CloudWatch struct {
	// LogGroups route log groups to a source by name pattern, before the
	// built-in choice by name.
	LogGroups []ingest.LogGroupRoute `yaml:"log_groups"`
}

// Firehose configures the Amazon Data Firehose HTTP endpoint.
type Firehose struct {
	// AccessKeys are accepted in X-Amz-Firehose-Access-Key (as is
	// http.auth_token); with none and no auth token, the listener must be
	// loopback.
	AccessKeys []string `yaml:"access_keys"`
}

// Detect configures detection.
type Detect struct {
	// Lateness is how late, in event time, a match of a stateful rule
	// may arrive and still be counted.
	Lateness time.Duration `yaml:"lateness"`
	// SeedMaxEvents bounds the stored events (the newest) that a
	// new_term rule learns its terms from when it is first loaded; 0
	// turns learning from history off.
	SeedMaxEvents int `yaml:"seed_max_events"`
	// SeedTimeout bounds one rule's pass over the stored history.
	SeedTimeout time.Duration `yaml:"seed_timeout"`
}

// Store configures the ClickHouse writer.
type Store struct {
	// BatchSize is the most rows written in one insert.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest an event waits before being written.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Default returns the one-machine defaults.
func Default() Config {
	return Config{
		DataDir:    "./data",
		LogLevel:   "info",
		NATS:       NATS{Retention: 7 * 24 * time.Hour, MaxBytes: 10 << 30},
		HTTP:       HTTP{Listen: "127.0.0.1:8080", MaxBodyBytes: 10 << 20, MaxRecordBytes: 1 << 20, MaxRecords: 100000, MaxConcurrent: 8},
		ClickHouse: ClickHouse{Addr: "127.0.0.1:9000", Database: "tripline", Username: "default"},
		Rules:      Rules{Builtin: true, WatchInterval: 2 * time.Second},
		Ingest:     Ingest{SourceConfig: ingest.DefaultSourceConfig},
		Store:      Store{BatchSize: 5000, FlushInterval: 250 * time.Millisecond},
		Detect:     Detect{Lateness: 2 * time.Minute, SeedMaxEvents: 1_000_000, SeedTimeout: 5 * time.Minute},
	}
}

// Load reads the YAML file at path (none when path is ""), applies the
// environment, and validates the result.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := decodeYAML(b, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

func decodeYAML(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	// Name the key of each error: yaml reports only a line.
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		var line int
		if _, scanErr := fmt.Sscanf(m, "line %d:", &line); scanErr == nil {
			if key := keyAtLine(&root, "", line); key != "" {
				m = key + ": " + m
			}
		}
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "; "))
}

// keyAtLine returns the dotted key whose key or value starts on line.
func keyAtLine(n *yaml.Node, prefix string, line int) string {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return keyAtLine(n.Content[0], prefix, line)
	}
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		if found := keyAtLine(v, key, line); found != "" {
			return found
		}
		if k.Line == line || v.Line == line {
			return key
		}
	}
	return ""
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxSeedEvents caps detect.seed_max_events: a pass keeps the terms of
// the events it reads in memory.
const maxSeedEvents = 100_000_000

// Validate checks values that the types alone do not, naming the key.
func (c *Config) Validate() error {
	decoders := ingest.Decoders(c.Ingest.SourceConfig)
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.NATS.Listen != "" && c.NATS.URL == "" {
		if host, _, err := net.SplitHostPort(c.NATS.Listen); err != nil {
			bad("nats.listen", "%v", err)
		} else if !IsLoopback(host) {
			bad("nats.listen", "%s is not a loopback address: the embedded NATS server has no authentication; use an external NATS cluster (nats.url) to share the bus between machines", c.NATS.Listen)
		}
	}
	if c.NATS.Retention < time.Minute {
		bad("nats.retention", "%s is shorter than a minute", c.NATS.Retention)
	}
	if c.NATS.MaxBytes < 0 {
		bad("nats.max_bytes", "must not be negative")
	}
	host, _, err := net.SplitHostPort(c.HTTP.Listen)
	if err != nil {
		bad("http.listen", "%v", err)
	} else if !IsLoopback(host) && c.HTTP.AuthToken == "" && len(c.Ingest.Tokens) == 0 {
		bad("http.auth_token", "required when http.listen (%s) is not a loopback address (or set ingest.tokens per source)", c.HTTP.Listen)
	}
	for src, tok := range c.Ingest.Tokens {
		if _, ok := decoders[src]; !ok && !slices.Contains(ingest.Endpoints, src) {
			bad("ingest.tokens."+src, "unknown source")
		} else if tok == "" {
			bad("ingest.tokens."+src, "empty token")
		}
	}
	if len(c.Ingest.Files.Paths) > 0 {
		if err := c.Ingest.Files.WithDefaults().Validate(); err != nil {
			bad("ingest.files", "%v", err)
		}
	}
	if err := ingest.ValidateLogGroupRoutes(c.Ingest.CloudWatch.LogGroups, decoders); err != nil {
		bad("ingest.cloudwatch.log_groups", "%v", err)
	}
	if c.HTTP.MaxBodyBytes <= 0 {
		bad("http.max_body_bytes", "must be positive")
	}
	if c.HTTP.MaxRecordBytes <= 0 || c.HTTP.MaxRecordBytes > c.HTTP.MaxBodyBytes {
		bad("http.max_record_bytes", "must be positive and at most http.max_body_bytes")
	}
	if _, _, err := net.SplitHostPort(c.ClickHouse.Addr); err != nil {
		bad("clickhouse.addr", "%v", err)
	}
	if !identRE.MatchString(c.ClickHouse.Database) {
		bad("clickhouse.database", "%q is not a valid identifier", c.ClickHouse.Database)
	}
	if c.HTTP.MaxRecords < 1 {
		bad("http.max_records", "must be positive")
	}
	if c.HTTP.MaxConcurrent < 1 {
		bad("http.max_concurrent", "must be positive")
	}
	if c.Slack.Token != "" && c.Slack.Channel == "" {
		bad("slack.channel", "required with slack.token")
	}
	if c.Slack.Token != "" && c.Slack.WebhookURL != "" {
		bad("slack.webhook_url", "set either slack.webhook_url or slack.token, not both")
	}
	if err := c.Ingest.SourceConfig.Validate(); err != nil {
		bad("ingest", "%v", err)
	}
	if c.Store.BatchSize < 1 || c.Store.BatchSize > 100000 {
		bad("store.batch_size", "%d is outside 1..100000", c.Store.BatchSize)
	}
	if c.Rules.WatchInterval < 0 {
		bad("rules.watch_interval", "must not be negative")
	}
	if _, err := rules.Pack(c.Rules.Optional); err != nil {
		bad("rules.optional", "%v", err)
	} else if len(c.Rules.Optional) > 0 && !c.Rules.Builtin {
		bad("rules.optional", "needs rules.builtin")
	}
	if c.Detect.Lateness <= 0 {
		bad("detect.lateness", "must be positive")
	}
	if c.Detect.SeedMaxEvents < 0 || c.Detect.SeedMaxEvents > maxSeedEvents {
		bad("detect.seed_max_events", "%d is outside 0..%d", c.Detect.SeedMaxEvents, maxSeedEvents)
	}
	if c.Detect.SeedTimeout <= 0 {
		bad("detect.seed_timeout", "must be positive")
	}
	if c.Store.FlushInterval <= 0 {
		bad("store.flush_interval", "must be positive")
	}
	return errors.Join(errs...)
}

// HTTPLoopback reports whether the HTTP listener is on a loopback
// address, where ingest needs no authentication.
func (c *Config) HTTPLoopback() bool {
	host, _, err := net.SplitHostPort(c.HTTP.Listen)
	return err == nil && IsLoopback(host)
}

// IsLoopback reports whether host names only this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
