package tail

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// stateFileName is the checkpoint file in the state directory.
const stateFileName = "container-tail.json"

// stateVersion is the layout of the checkpoint file.
const stateVersion = 1

// state is the checkpoint file: one entry per followed file.
type state struct {
	Version int          `json:"version"`
	Files   []checkpoint `json:"files"`
}

// checkpoint says up to where a file's records are published.
type checkpoint struct {
	// Path is where the file was last seen (information, and where to
	// look for it after a rename).
	Path  string `json:"path"`
	Dev   uint64 `json:"dev,omitempty"`
	Inode uint64 `json:"inode,omitempty"`
	// Fingerprint is the hex fingerprint of the file's first
	// FingerprintBytes bytes.
	Fingerprint      string `json:"fingerprint"`
	FingerprintBytes int    `json:"fingerprint_bytes"`
	// Offset is the end of the last record published, or the start of
	// the first one not published: reading resumes there.
	Offset int64 `json:"offset"`
}

func (c checkpoint) fingerprint() (fingerprint, bool) {
	var f fingerprint
	b, err := hex.DecodeString(c.Fingerprint)
	if err != nil || len(b) != len(f.sum) || c.FingerprintBytes <= 0 || c.FingerprintBytes > fingerprintMax || c.Offset < 0 {
		return f, false
	}
	f.n = c.FingerprintBytes
	copy(f.sum[:], b)
	return f, true
}

// loadState reads the checkpoint file at path; exists is false when there
// is none (the first start).
func loadState(path string) (st state, exists bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("reading the checkpoints: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, true, fmt.Errorf("checkpoint file %s is corrupt (remove it to start over, reading files per start_at): %w", path, err)
	}
	if st.Version != stateVersion {
		return st, true, fmt.Errorf("checkpoint file %s has version %d, want %d", path, st.Version, stateVersion)
	}
	return st, true, nil
}

// writeFileAtomic replaces path with b durably: a temporary file in the
// same directory is written and synced, then renamed over path, and the
// directory is synced so that the rename survives a crash.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// save writes the checkpoint file.
func (r *run) save() error {
	st := state{Version: stateVersion, Files: []checkpoint{}}
	for _, f := range r.files {
		if !f.fp.known() {
			continue
		}
		st.Files = append(st.Files, checkpoint{
			Path: f.path, Dev: f.key.dev, Inode: f.key.ino,
			Fingerprint: f.fp.String(), FingerprintBytes: f.fp.n, Offset: f.ckpt,
		})
	}
	slices.SortFunc(st.Files, func(a, b checkpoint) int { return strings.Compare(a.Path, b.Path) })
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(r.statePath, append(b, '\n'))
}

// saveOrLog saves the checkpoints; on failure it logs and tries again at
// the next checkpoint (until then a restart reads some lines again, which
// the event ids make harmless).
func (r *run) saveOrLog() {
	if err := r.save(); err != nil {
		r.log.Error("container log checkpoints not written", "path", r.statePath, "err", err)
		return
	}
	r.changed = false
}

// checkWritable reports whether files can be created in dir.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, stateFileName+".check*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
