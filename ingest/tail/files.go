package tail

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fileKey identifies a file across renames.
type fileKey struct {
	dev, ino uint64
	path     string // without inodes
}

// tailed is a file being followed.
type tailed struct {
	follower
	file      *os.File
	path      string
	key       fileKey
	size      int64
	mod       time.Time
	lastData  time.Time // when the file last changed
	vanished  bool      // no glob matches it any more
	done      bool      // read to its end, to be closed
	rejectLog bool      // a rejected line of the file was logged
}

// discover matches the globs: it opens the files not followed yet and
// marks those no glob matches as vanished.
func (r *run) discover(now time.Time) {
	seen := map[fileKey]bool{}
	for _, pat := range r.cfg.Paths {
		paths, _ := filepath.Glob(pat) // the pattern is valid (Validate)
		for _, p := range paths {
			// kubelet compresses a rotated file into <name>.tmp, then
			// renames it <name>.gz.
			if strings.HasSuffix(p, ".gz") || strings.HasSuffix(p, ".tmp") {
				continue
			}
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			key := keyOf(p, fi)
			if seen[key] {
				continue
			}
			seen[key] = true
			if r.ignored[key] {
				continue
			}
			if f := r.files[key]; f != nil {
				f.path, f.vanished = p, false
				continue
			}
			r.open(p, key, now)
		}
	}
	for key, f := range r.files {
		f.vanished = !seen[key]
	}
	for key := range r.ignored {
		if !seen[key] {
			delete(r.ignored, key)
		}
	}
	if !r.polled {
		// Checkpoint where each file starts, so that a restart before the
		// first publish does not apply start_at again.
		r.findLost(now)
		r.polled = true
		r.saveOrLog()
	}
}

// open starts following the file at path.
func (r *run) open(path string, key fileKey, now time.Time) *tailed {
	file, err := os.Open(path)
	if err == nil {
		var fi os.FileInfo
		if fi, err = file.Stat(); err == nil && keyOf(path, fi) != key {
			err = errors.New("replaced while opening")
		}
	}
	if err != nil {
		if file != nil {
			file.Close()
		}
		if !r.warned[path] {
			r.warned[path] = true
			r.log.Warn("container log file not readable", "path", path, "err", err)
		}
		return nil
	}
	delete(r.warned, path)
	var magic [2]byte
	if n, _ := file.ReadAt(magic[:], 0); n == 2 && magic == [2]byte{0x1f, 0x8b} {
		file.Close()
		r.ignored[key] = true
		r.log.Info("container log file is gzip-compressed; not read", "path", path)
		return nil
	}
	info, _ := PathInfo(path)
	if lfi, err := os.Lstat(path); err == nil && lfi.Mode()&os.ModeSymlink != 0 {
		if target, err := filepath.EvalSymlinks(path); err == nil {
			ti, _ := PathInfo(target)
			info = info.merge(ti)
		}
	}
	f := &tailed{
		follower: newFollower(file, newMeta(info), r.cfg.format(), r.cfg.MaxLineBytes),
		file:     file, path: path, key: key, lastData: now, size: -1,
	}
	fp, err := readFingerprint(file, r.buf, false)
	if err != nil {
		r.log.Warn("container log file not readable", "path", path, "err", err)
	}
	var start int64
	from := "beginning"
	if fp.known() {
		f.fp = fp
		if off, ok := r.lookup(fp); ok {
			start, from = off, "checkpoint"
			if fi, err := file.Stat(); err == nil && off > fi.Size() {
				start, from = 0, "beginning (shorter than its checkpoint)"
			}
		} else if r.firstStart && !r.polled && r.cfg.StartAt == "end" {
			start, from = lastLineEnd(file, r.cfg.MaxLineBytes), "end"
		}
	}
	f.pos, f.ckpt = start, start
	r.files[key] = f
	r.changed = true
	r.log.Info("following container log file", "path", path, "from", from, "offset", start)
	return f
}

// lookup returns the checkpoint of the content with fingerprint fp: from
// the last run, from a file closed or rewritten in this one, or from a
// followed file (a copy of it).
func (r *run) lookup(fp fingerprint) (int64, bool) {
	off, ok := r.saved[fp]
	if o, found := r.retired[fp]; found {
		off, ok = max(off, o), true
	}
	for _, f := range r.files {
		if f.fp == fp {
			off, ok = max(off, f.ckpt), true
		}
	}
	return off, ok
}

// findLost looks for the files of last run's checkpoints that no glob
// matches any more, e.g. renamed by a rotation while the Tailer was down,
// next to their old path by identity, and reads them to their end.
func (r *run) findLost(now time.Time) {
	for _, c := range r.lost {
		fp, _ := c.fingerprint()
		if c.Inode == 0 || r.followed(fp) {
			continue
		}
		dir := filepath.Dir(c.Path)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() || strings.HasSuffix(p, ".gz") {
				continue
			}
			if key := keyOf(p, fi); key.dev == c.Dev && key.ino == c.Inode && r.files[key] == nil {
				if f := r.open(p, key, now); f != nil {
					if f.fp != fp {
						f.file.Close()
						delete(r.files, key)
						continue
					}
					f.vanished = true
					r.log.Info("finishing a container log file rotated while stopped", "path", p, "was", c.Path)
				}
			}
		}
	}
	r.lost = nil
}

func (r *run) followed(fp fingerprint) bool {
	for _, f := range r.files {
		if f.fp == fp {
			return true
		}
	}
	return false
}

// retire remembers the checkpoint of content no longer followed, for a
// copy of it that may appear.
func (r *run) retire(fp fingerprint, off int64) {
	if !fp.known() {
		return
	}
	if _, ok := r.retired[fp]; !ok {
		r.order = append(r.order, fp)
	}
	r.retired[fp] = max(r.retired[fp], off)
	if len(r.order) > maxRetired {
		delete(r.retired, r.order[0])
		r.order = r.order[1:]
	}
}

// lastLineEnd returns the offset after the last "\n" of f, 0 when there
// is none near the end of a short file.
func lastLineEnd(f *os.File, maxLine int) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	size := fi.Size()
	n := min(size, int64(maxLine)+1)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return 0
	}
	for i := n - 1; i >= 0; i-- {
		if buf[i] == '\n' {
			return size - n + i + 1
		}
	}
	if size > int64(maxLine) {
		return size // inside a line too long to read anyway
	}
	return 0
}

// readFile reads what f gained. more says it stopped at the budget.
func (r *run) readFile(ctx context.Context, f *tailed, now time.Time) (more bool, err error) {
	fi, err := f.file.Stat()
	if err != nil {
		r.log.Warn("container log file not readable", "path", f.path, "err", err)
		return false, nil
	}
	size, mod := fi.Size(), fi.ModTime()
	changed := size != f.size || !mod.Equal(f.mod)
	if changed {
		f.lastData = now
	}
	out := &fileOutput{r: r, f: f, ctx: ctx}
	if changed && f.fp.known() && f.size >= 0 {
		rewritten := size < f.size
		if !rewritten {
			ok, err := f.fp.matches(f.file, r.buf)
			rewritten = err == nil && !ok
		}
		if rewritten {
			if err := r.restart(ctx, f); err != nil {
				return false, err
			}
		}
	}
	f.size, f.mod = size, mod
	closing := f.vanished && !changed && now.Sub(f.lastData) >= r.closeAfter
	if !f.fp.known() {
		if !changed && !closing || size == 0 {
			f.done = closing
			return false, nil
		}
		fp, err := readFingerprint(f.file, r.buf, closing)
		if err != nil {
			r.log.Warn("container log file not readable", "path", f.path, "err", err)
			return false, nil
		}
		if !fp.known() {
			f.done = closing
			return false, nil
		}
		f.fp = fp
		if off, ok := r.lookup(fp); ok && f.pos == 0 && off <= size {
			f.pos, f.ckpt = off, off // a copy of content read before
		}
		r.changed = true
	}
	f.now = now
	if f.pos < size {
		r.dirty[f] = true
		if more, err = f.read(out, r.buf, readBudget, closing); err != nil {
			if _, ok := errors.AsType[*readError](err); !ok {
				return false, err
			}
			r.log.Warn("container log file not readable", "path", f.path, "err", err)
			return false, nil // what was read before the error stays in the batch
		}
	}
	switch {
	case closing && f.hasPending():
		r.dirty[f] = true
		f.flushPartials(out)
	case f.stale(now.Add(-r.partialTimeout)):
		r.dirty[f] = true
		f.flushStale(out, now.Add(-r.partialTimeout))
	}
	f.done = closing && !more && f.pos >= size && !f.hasPending()
	return more, nil
}

// restart starts f over at offset 0: it was truncated (copytruncate) or
// rewritten. What was read of the old content is published first.
func (r *run) restart(ctx context.Context, f *tailed) error {
	r.log.Info("container log file truncated or rewritten; reading it from its start", "path", f.path)
	r.dirty[f] = true
	f.flushPartials(&fileOutput{r: r, f: f, ctx: ctx})
	if err := r.flush(ctx); err != nil {
		return err
	}
	r.dirty[f] = true
	r.retire(f.fp, f.ckpt)
	f.fp = fingerprint{}
	f.pos, f.ckpt, f.skip = 0, 0, -1
	f.cont = [2]bool{}
	r.changed = true
	return nil
}
