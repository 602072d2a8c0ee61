// Package tail follows the container log files of a Kubernetes node (CRI
// files under /var/log/pods, or docker json-file logs) and publishes
// every log entry as an event of source "container".
//
// # Lines and entries
//
// A line is a CRI line (`<time> <stdout|stderr> <P|F> <message>`) or a
// docker json-file line (`{"log":"…\n","stream":"…","time":"…"}`), see
// Decoder. A runtime splits a long entry into partial lines (CRI tag P;
// docker: a log without the final "\n"); the Tailer joins them per stream
// until the last part (CRI tag F, docker "\n"), also across reads, into
// one event whose time is the first part's. An entry longer than
// MaxLineBytes is published in parts of at most that size (Raw "partial"
// on all but the last, "continued" on all but the first). An entry whose
// end does not come within 5 s, or whose file goes away, is published as
// it is with "partial": true. Blank lines (which runtimes do not write)
// are skipped; a line that is neither format goes to Sink.Reject as
// "bad_record", a line longer than MaxLineBytes as "record_too_large".
//
// # Events
//
// Time is the entry's time (UTC); Service is "<namespace>/<pod>" and
// Target the container name (else the container id), from the file's
// path (PathInfo); Message is the text without its line end, or the
// msg/message member when the text is a JSON object. Outcome is "failure"
// when such an object's level is error, fatal or worse, else empty. Raw
// holds format, time, stream, message (CRI) or log (docker, with its
// "\n"), partial/continued, the path's namespace, pod, pod_uid, container,
// container_id and restart, docker's attrs, and json: the message parsed
// when it is a JSON object.
//
// # Files
//
// The Tailer matches its globs every PollInterval and reads what each
// file gained since. A file is known by its identity (device and inode,
// which a rename keeps) and its fingerprint (a hash of its first line,
// which tells a reused inode or a truncated and rewritten file from the
// file read before). So:
//
//   - A rename rotation (kubelet renames 0.log to 0.log.<time> and
//     creates a new 0.log; docker renames -json.log to -json.log.1) keeps
//     reading the renamed file to its end while the new one is read from
//     its start. A file no glob matches any more (renamed away, deleted)
//     stays open until it has been idle for a second (4 polls at least),
//     then is closed.
//   - A copytruncate rotation (the file shrinks, or its first line
//     changes) restarts the file at offset 0. The copy, when a glob
//     matches it, has the old fingerprint and is read from where the
//     original was left, so the lines written between the last read and
//     the copy are not lost.
//   - Compressed files (.gz, kubelet's .tmp while it compresses, or any
//     file starting with the gzip magic number) are never read: a rotated
//     file is read to its end before kubelet compresses it (at the
//     rotation after next). Replay a .gz file through the HTTP endpoint,
//     whose Decoder is this package's.
//   - A file rotated while the Tailer was stopped is found again: by its
//     fingerprint when a glob matches the rotated name (hence globs like
//     *.log*), else by its inode next to the path in its checkpoint.
//
// # Checkpoints and exactly-once delivery
//
// Records are published to the Sink in batches (up to 500 events, 8 MiB
// or one poll). After PublishEvents returns (the events are stored), the
// Tailer writes, for every file, the offset from which reading again
// yields exactly the records not published yet (the end of the last line
// handled, or the start of an entry still being joined) to a JSON file in
// StateDir, atomically (temporary file, fsync, rename, fsync of the
// directory). On start each file resumes from its checkpoint, found by
// fingerprint.
//
// A crash (or a failed publish) between PublishEvents and the checkpoint
// write makes the Tailer read and publish the same lines again. That is
// safe because an event's id is a hash of the file's fingerprint and the
// byte offset of the entry's first line, never of when or how often it
// was read: the same line always gets the same id, and the sinks
// downstream (JetStream's duplicate window, the store) drop a repeated
// id. Lines are therefore published at least once and land exactly once
// (as long as the downstream dedup remembers the ids: JetStream's window
// is minutes, so after a longer outage the store's dedup must).
// Two caveats: an entry published without its end (the 5 s timeout) gets
// a distinct id, so if it is read again with its end the end is stored
// twice (once alone, once in the whole entry) rather than lost; and
// rejected lines (Sink.Reject) may be rejected again after a crash.
//
// On the first start (no checkpoint file), files already there are read
// from their end (StartAt "end") or their beginning; files that appear
// later are always read from their beginning. One StateDir serves one
// Tailer at a time.
package tail

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// Sink stores what the Tailer reads.
type Sink interface {
	// PublishEvents returns once evs are stored durably.
	PublishEvents(ctx context.Context, source string, evs []event.Event) error
	// Reject keeps a line that could not be decoded, with the reason
	// ("bad_record", "record_too_large") and the error.
	Reject(ctx context.Context, source, reason string, rec []byte, err error) error
}

// Tailer follows container log files (see the package doc). Set the
// fields, then call Run.
type Tailer struct {
	// Config says which files to follow.
	Config Config
	// StateDir holds the checkpoint file (container-tail.json); it is
	// created if missing. Required.
	StateDir string
	// Sink receives the events and rejected lines. Required.
	Sink Sink
	// Log receives the Tailer's own messages; nil means slog.Default().
	Log *slog.Logger

	partialTimeout time.Duration // 0: 5 s
	closeAfter     time.Duration // 0: max(1 s, 4 polls)
	polls          atomic.Int64  // polls done, for tests
}

// Limits of one batch and of one file's reading in one poll.
const (
	maxBatchEvents = 500
	maxBatchBytes  = 8 << 20
	readBudget     = 8 << 20
	maxRetryDelay  = 30 * time.Second
	maxRetired     = 1024
)

// Run follows the files until ctx is done, then returns nil. It returns
// an error only when it cannot start: a bad Config, no Sink or StateDir,
// or a state directory it cannot use. A failed publish is retried (with
// backoff) from the last checkpoint; undecodable lines go to
// Sink.Reject.
func (t *Tailer) Run(ctx context.Context) error {
	if err := t.Config.Validate(); err != nil {
		return fmt.Errorf("container tailer: %w", err)
	}
	if t.Sink == nil {
		return errors.New("container tailer: no sink")
	}
	if t.StateDir == "" {
		return errors.New("container tailer: no state directory for the checkpoints")
	}
	if err := os.MkdirAll(t.StateDir, 0o700); err != nil {
		return fmt.Errorf("container tailer: state directory: %w", err)
	}
	r, err := t.newRun()
	if err != nil {
		return fmt.Errorf("container tailer: %w", err)
	}
	defer r.closeAll()
	if err := checkWritable(t.StateDir); err != nil { // fail now, not at the first checkpoint
		return fmt.Errorf("container tailer: state directory: %w", err)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var backoff time.Duration
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		more, err := r.poll(ctx)
		t.polls.Add(1)
		if ctx.Err() != nil {
			return nil
		}
		delay := r.cfg.PollInterval
		switch {
		case err != nil:
			r.rewind()
			backoff = min(max(2*backoff, r.cfg.PollInterval), maxRetryDelay)
			delay = backoff
			r.log.Warn("container logs not published; retrying from the last checkpoint", "err", err, "retry_in", delay)
		case more:
			backoff, delay = 0, 0
		default:
			backoff = 0
		}
		timer.Reset(delay)
	}
}

// run is the state of one Run.
type run struct {
	t              *Tailer
	cfg            Config
	log            *slog.Logger
	statePath      string
	firstStart     bool // there was no checkpoint file
	polled         bool // the first poll is done
	partialTimeout time.Duration
	closeAfter     time.Duration

	saved   map[fingerprint]int64 // checkpoints of the last run, by fingerprint
	lost    []checkpoint          // checkpoints of the last run no glob matched
	retired map[fingerprint]int64 // closed or rewritten files' last checkpoint
	order   []fingerprint         // retired, oldest first
	files   map[fileKey]*tailed
	warned  map[string]bool  // paths that could not be opened, logged once
	ignored map[fileKey]bool // gzip files the globs match

	buf     []byte
	batch   []event.Event
	bytes   int
	rejects []rejected
	dirty   map[*tailed]bool // files read since the last checkpoint
	changed bool             // the checkpoint file is out of date
}

type rejected struct {
	reason string
	rec    []byte
	err    error
}

func (t *Tailer) newRun() (*run, error) {
	cfg := t.Config.WithDefaults()
	r := &run{
		t: t, cfg: cfg, log: t.Log,
		statePath:      filepath.Join(t.StateDir, stateFileName),
		partialTimeout: cmp.Or(t.partialTimeout, 5*time.Second),
		closeAfter:     cmp.Or(t.closeAfter, max(time.Second, 4*cfg.PollInterval)),
		saved:          map[fingerprint]int64{},
		retired:        map[fingerprint]int64{},
		files:          map[fileKey]*tailed{},
		warned:         map[string]bool{},
		ignored:        map[fileKey]bool{},
		dirty:          map[*tailed]bool{},
		buf:            make([]byte, max(64<<10, cfg.MaxLineBytes+1)),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	st, exists, err := loadState(r.statePath)
	if err != nil {
		return nil, err
	}
	r.firstStart = !exists
	for _, c := range st.Files {
		if fp, ok := c.fingerprint(); ok {
			r.saved[fp] = max(r.saved[fp], c.Offset)
			r.lost = append(r.lost, c)
		}
	}
	return r, nil
}

// poll finds the files, reads what they gained, publishes it and closes
// the files read to their end. more says a file has more to read now.
func (r *run) poll(ctx context.Context) (more bool, err error) {
	now := time.Now()
	r.discover(now)
	files := make([]*tailed, 0, len(r.files))
	for _, f := range r.files {
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b *tailed) int { return strings.Compare(a.path, b.path) })
	for _, f := range files {
		m, err := r.readFile(ctx, f, now)
		if err != nil {
			return false, err
		}
		more = more || m
	}
	if err := r.flush(ctx); err != nil {
		return false, err
	}
	for _, f := range files {
		if f.done {
			r.log.Info("container log file closed", "path", f.path, "offset", f.pos)
			f.file.Close()
			delete(r.files, f.key)
			r.retire(f.fp, f.ckpt)
			r.changed = true
		}
	}
	if r.changed {
		r.saveOrLog()
	}
	return more, nil
}

// fileOutput collects the records of one file into the batch.
type fileOutput struct {
	r   *run
	f   *tailed
	ctx context.Context
}

func (o *fileOutput) event(ev event.Event) {
	o.r.batch = append(o.r.batch, ev)
	o.r.bytes += len(ev.Raw)
}

func (o *fileOutput) reject(reason string, rec []byte, err error) {
	err = fmt.Errorf("%s: %w", o.f.path, err)
	o.r.rejects = append(o.r.rejects, rejected{reason: reason, rec: append([]byte(nil), rec...), err: err})
	if !o.f.rejectLog {
		o.f.rejectLog = true
		o.r.log.Warn("container log line rejected (further ones of this file are logged at debug level)", "reason", reason, "err", err)
	} else {
		o.r.log.Debug("container log line rejected", "reason", reason, "err", err)
	}
}

func (o *fileOutput) checkpoint() error {
	if len(o.r.batch) < maxBatchEvents && o.r.bytes < maxBatchBytes {
		return nil
	}
	if err := o.r.flush(o.ctx); err != nil {
		return err
	}
	o.r.dirty[o.f] = true // the file goes on being read
	return nil
}

// flush publishes the batch and the rejected lines, then checkpoints the
// files read.
func (r *run) flush(ctx context.Context) error {
	if len(r.batch) > 0 {
		now := time.Now().UTC()
		for i := range r.batch {
			r.batch[i].IngestedAt = now
		}
		if err := r.t.Sink.PublishEvents(ctx, Source, r.batch); err != nil {
			return fmt.Errorf("publishing %d events: %w", len(r.batch), err)
		}
		r.batch, r.bytes = nil, 0
	}
	for len(r.rejects) > 0 {
		rj := r.rejects[0]
		if err := r.t.Sink.Reject(ctx, Source, rj.reason, rj.rec, rj.err); err != nil {
			return fmt.Errorf("keeping a rejected line: %w", err)
		}
		r.rejects = r.rejects[1:]
	}
	for f := range r.dirty {
		if c := f.safe(); c != f.ckpt {
			f.ckpt = c
			r.changed = true
		}
	}
	clear(r.dirty)
	if r.changed {
		r.saveOrLog()
	}
	return nil
}

// rewind drops what was read since the last checkpoint, after a failed
// publish: the next poll reads it again.
func (r *run) rewind() {
	for f := range r.dirty {
		f.rewind()
		f.done = false
	}
	clear(r.dirty)
	r.batch, r.bytes, r.rejects = nil, 0, nil
}

func (r *run) closeAll() {
	for _, f := range r.files {
		f.file.Close()
	}
}
