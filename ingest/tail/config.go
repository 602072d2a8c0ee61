package tail

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Defaults of Config fields left zero.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultMaxLineBytes = 256 << 10
	// MinMaxLineBytes is the smallest MaxLineBytes: a line of this size
	// always fixes a file's fingerprint (see the package doc).
	MinMaxLineBytes = fingerprintMax
)

// Config says which files the Tailer follows and how. Zero fields take
// their defaults.
type Config struct {
	// Paths are file globs (filepath.Match syntax), e.g.
	// "/var/log/pods/*/*/*.log*". Matching the rotated files too (the
	// trailing *) lets a restart finish a file that was rotated while
	// the tailer was down; compressed files are never read.
	Paths []string `yaml:"paths"`
	// Format is "auto" (default: CRI, or docker json-file for a line
	// starting with '{'), "cri" or "docker".
	Format string `yaml:"format"`
	// PollInterval is how often the globs are matched and the files read
	// (default 250ms).
	PollInterval time.Duration `yaml:"poll_interval"`
	// StartAt is where files found at the first start (no checkpoint
	// file in the state directory yet) are read from: "end" (default:
	// the end of their last complete line, so years of history are not
	// ingested by surprise) or "beginning". Files that appear later, and
	// files without a checkpoint on a later start, are read from the
	// beginning.
	StartAt string `yaml:"start_at"`
	// MaxLineBytes caps a line and a joined entry (default 256 KiB, at
	// least 1 KiB). A longer line is rejected as "record_too_large"; a
	// longer entry of partial lines is split into events of at most this
	// size.
	MaxLineBytes int `yaml:"max_line_bytes"`
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Format == "" {
		c.Format = "auto"
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.StartAt == "" {
		c.StartAt = "end"
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	return c
}

// Validate reports what is wrong with c; zero fields are valid (they
// take their defaults), except Paths.
func (c Config) Validate() error {
	var errs []error
	if len(c.Paths) == 0 {
		errs = append(errs, errors.New("paths: want at least one glob, e.g. /var/log/pods/*/*/*.log*"))
	}
	for _, p := range c.Paths {
		if _, err := filepath.Match(p, ""); err != nil || p == "" {
			errs = append(errs, fmt.Errorf("paths: %q is not a valid glob", p))
		}
	}
	switch c.Format {
	case "", "auto", "cri", "docker":
	default:
		errs = append(errs, fmt.Errorf("format: %q is not auto, cri or docker", c.Format))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("poll_interval: %v is negative", c.PollInterval))
	}
	switch c.StartAt {
	case "", "end", "beginning":
	default:
		errs = append(errs, fmt.Errorf("start_at: %q is not end or beginning", c.StartAt))
	}
	if c.MaxLineBytes != 0 && (c.MaxLineBytes < MinMaxLineBytes || c.MaxLineBytes > 64<<20) {
		errs = append(errs, fmt.Errorf("max_line_bytes: %d is not within %d and %d", c.MaxLineBytes, MinMaxLineBytes, 64<<20))
	}
	return errors.Join(errs...)
}

// format returns the line format code of c.Format.
func (c Config) format() uint8 {
	switch c.Format {
	case "cri":
		return formatCRI
	case "docker":
		return formatDocker
	}
	return formatAuto
}
