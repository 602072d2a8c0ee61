package tail

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Paths: []string{"/var/log/pods/*/*/*.log*"}}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		err  string
	}{
		{"defaults", func(*Config) {}, ""},
		{"all set", func(c *Config) {
			c.Format, c.PollInterval, c.StartAt, c.MaxLineBytes = "docker", time.Second, "beginning", 1024
		}, ""},
		{"no paths", func(c *Config) { c.Paths = nil }, "paths: want at least one glob"},
		{"bad glob", func(c *Config) { c.Paths = []string{"/var/log/[a"} }, `paths: "/var/log/[a" is not a valid glob`},
		{"empty glob", func(c *Config) { c.Paths = []string{""} }, `paths: "" is not a valid glob`},
		{"format", func(c *Config) { c.Format = "json" }, `format: "json" is not auto, cri or docker`},
		{"poll", func(c *Config) { c.PollInterval = -time.Second }, "poll_interval: -1s is negative"},
		{"start", func(c *Config) { c.StartAt = "now" }, `start_at: "now" is not end or beginning`},
		{"small line", func(c *Config) { c.MaxLineBytes = 100 }, "max_line_bytes: 100 is not within 1024 and 67108864"},
		{"negative line", func(c *Config) { c.MaxLineBytes = -1 }, "max_line_bytes: -1"},
	} {
		c := ok
		tc.mod(&c)
		err := c.Validate()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
	d := ok.WithDefaults()
	if d.Format != "auto" || d.PollInterval != 250*time.Millisecond || d.StartAt != "end" || d.MaxLineBytes != 256<<10 {
		t.Errorf("defaults %+v", d)
	}
}
