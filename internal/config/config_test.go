package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tripline.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "./data" || cfg.NATS.URL != "" || cfg.HTTP.Listen != "127.0.0.1:8080" ||
		cfg.ClickHouse.Addr != "127.0.0.1:9000" || cfg.ClickHouse.Database != "tripline" ||
		!cfg.Rules.Builtin || len(cfg.Rules.Paths) != 0 || cfg.HTTP.MaxBodyBytes != 10<<20 {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("xoxb-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, "data_dir: /var/lib/tripline\nstore:\n  flush_interval: 1s\nslack:\n  channel: '#sec'\nrules:\n  paths: [a, b]\n")
	cfg, err := Load(p, []string{
		"TRIPLINE_CLICKHOUSE_DATABASE=sec",
		"TRIPLINE_SLACK_TOKEN_FILE=" + secret,
		"TRIPLINE_RULES_BUILTIN=false",
		"TRIPLINE_INGEST_JSON_TIME_FIELDS=ts, when",
		"TRIPLINE_TEST_CLICKHOUSE=ignored",
		"TRIPLINE_INGEST_TOKENS_K8S_AUDIT_FILE=" + secret,
		"TRIPLINE_INGEST_TOKENS_OTLP=otlp-token",
		"TRIPLINE_INGEST_TOKENS_FIREHOSE=fh-key",
		"HOME=/root",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Ingest.Tokens) != 3 || cfg.Ingest.Tokens["k8s-audit"] != "xoxb-from-file" || cfg.Ingest.Tokens["otlp"] != "otlp-token" {
		t.Fatalf("tokens %v", cfg.Ingest.Tokens)
	}
	if cfg.DataDir != "/var/lib/tripline" || cfg.Store.FlushInterval != time.Second || cfg.ClickHouse.Database != "sec" ||
		cfg.Slack.Token != "xoxb-from-file" || cfg.Rules.Builtin || strings.Join(cfg.Rules.Paths, ",") != "a,b" ||
		strings.Join(cfg.Ingest.JSON.TimeFields, ",") != "ts,when" {
		t.Fatalf("unexpected config: %+v", cfg)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"unknown key", "http:\n  listn: x\n", nil, "listn"},
		{"unknown section", "slakc: {}\n", nil, "slakc"},
		{"bad duration", "store:\n  flush_interval: soon\n", nil, "flush_interval"},
		{"bad database", "clickhouse:\n  database: 'a;drop'\n", nil, "clickhouse.database"},
		{"public listener without auth", "http:\n  listen: 0.0.0.0:8080\n", nil, "http.auth_token"},
		{"token without channel", "slack:\n  token: xoxb-1\n", nil, "slack.channel"},
		{"bad log level", "log_level: loud\n", nil, "log_level"},
		{"embedded nats on a public address", "nats:\n  listen: 0.0.0.0:4222\n", nil, "nats.listen"},
		{"unknown env", "", []string{"TRIPLINE_SLACK_CHANEL=x"}, "TRIPLINE_SLACK_CHANEL"},
		{"bad env bool", "", []string{"TRIPLINE_RULES_BUILTIN=maybe"}, "TRIPLINE_RULES_BUILTIN"},
		{"missing secret file", "", []string{"TRIPLINE_SLACK_TOKEN_FILE=/nonexistent"}, "TRIPLINE_SLACK_TOKEN_FILE"},
		{"token for an unknown source", "ingest:\n  tokens: {cloudtrial: x}\n", nil, "ingest.tokens.cloudtrial: unknown source"},
		{"log group to an unknown source", "ingest:\n  cloudwatch:\n    log_groups: [{match: '/ecs/*', source: envoi}]\n", nil,
			`ingest.cloudwatch.log_groups: log group route 1 (/ecs/*): unknown source "envoi"`},
		{"missing token file", "", []string{"TRIPLINE_INGEST_TOKENS_JSON_FILE=/nonexistent"}, "TRIPLINE_INGEST_TOKENS_JSON_FILE"},
		{"negative seed bound", "detect:\n  seed_max_events: -1\n", nil, "detect.seed_max_events"},
		{"zero seed timeout", "", []string{"TRIPLINE_DETECT_SEED_TIMEOUT=0s"}, "detect.seed_timeout"},
		{"unknown optional rule", "rules:\n  optional: [aws-new-ip]\n", nil, `rules.optional: no optional rule "aws-new-ip"`},
		{"optional rules without the pack", "", []string{"TRIPLINE_RULES_BUILTIN=false", "TRIPLINE_RULES_OPTIONAL=all"}, "rules.optional: needs rules.builtin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, tt.yaml)
			}
			_, err := Load(path, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v does not name %q", err, tt.want)
			}
		})
	}
}

func TestPublicListenerWithToken(t *testing.T) {
	if _, err := Load("", []string{"TRIPLINE_HTTP_LISTEN=0.0.0.0:8080", "TRIPLINE_HTTP_AUTH_TOKEN=s3cret"}); err != nil {
		t.Fatal(err)
	}
}

func TestSeedKeys(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Detect.SeedMaxEvents != 1_000_000 || cfg.Detect.SeedTimeout != 5*time.Minute {
		t.Fatalf("seed defaults: %+v", cfg.Detect)
	}
	cfg, err = Load(writeFile(t, "detect:\n  seed_max_events: 0\n"), []string{"TRIPLINE_DETECT_SEED_TIMEOUT=30s"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Detect.SeedMaxEvents != 0 || cfg.Detect.SeedTimeout != 30*time.Second {
		t.Fatalf("seed keys: %+v", cfg.Detect)
	}
}
