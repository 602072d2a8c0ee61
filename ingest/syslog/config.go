package syslog

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxMessageBytes = 64 << 10
	DefaultMaxConnections  = 256
	DefaultIdleTimeout     = 5 * time.Minute
)

// Config configures the syslog listeners. An empty address turns that
// listener off.
type Config struct {
	// UDP is the host:port of the UDP listener (one message per
	// datagram), e.g. "127.0.0.1:5514".
	UDP string `yaml:"udp"`
	// TCP is the host:port of the TCP listener (octet-counted or
	// LF-delimited frames, detected per connection).
	TCP string `yaml:"tcp"`
	// AllowRemote permits non-loopback addresses. Syslog has no
	// authentication: whoever reaches the port writes events. Set it
	// only on a trusted network segment (or behind a firewall that admits
	// only the senders).
	AllowRemote bool `yaml:"allow_remote"`
	// MaxMessageBytes caps one message; a longer one is dead-lettered
	// (reason record_too_large). Default 64 KiB.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxConnections caps concurrent TCP connections; more are closed
	// at once. Default 256.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes a TCP connection that sends nothing for this
	// long. Default 5m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Timezone is the IANA zone of RFC 3164 timestamps, which carry
	// none. Default UTC.
	Timezone string `yaml:"timezone"`
}

// Defaults fills the zero limits with their defaults.
func (c *Config) Defaults() {
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Timezone == "" {
		c.Timezone = "UTC"
	}
}

// Enabled reports whether any listener is configured.
func (c *Config) Enabled() bool { return c.UDP != "" || c.TCP != "" }

// Validate checks the config (after Defaults), naming the yaml key of each
// problem.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	for _, a := range []struct{ key, addr string }{{"udp", c.UDP}, {"tcp", c.TCP}} {
		if a.addr == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a.addr)
		if err != nil {
			bad(a.key, "%v", err)
		} else if !isLoopback(host) && !c.AllowRemote {
			bad(a.key, "%s is not a loopback address: syslog has no authentication, so anyone who reaches it can write events; set allow_remote: true only on a trusted network segment", a.addr)
		}
	}
	if c.MaxMessageBytes < 480 || c.MaxMessageBytes > 16<<20 {
		bad("max_message_bytes", "%d is not between 480 (RFC 3164's minimum) and 16 MiB", c.MaxMessageBytes)
	}
	if c.MaxConnections < 1 {
		bad("max_connections", "must be positive")
	}
	if c.IdleTimeout <= 0 {
		bad("idle_timeout", "must be positive")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		bad("timezone", "%v", err)
	}
	return errors.Join(errs...)
}

// Decoder returns the decoder of messages under this configuration.
func (c *Config) Decoder() Decoder {
	return Decoder{Now: time.Now, Location: c.location()}
}

// location returns the zone of Timezone (UTC when empty or unknown:
// Validate reports the latter).
func (c *Config) location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// isLoopback reports whether host is "localhost" or a loopback IP. An
// empty host (":514") listens on every interface, so it is not.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
