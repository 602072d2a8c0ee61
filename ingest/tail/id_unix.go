//go:build unix

package tail

import (
	"os"
	"syscall"
)

// keyOf returns the identity of the file fi: its device and inode, which
// a rename keeps.
func keyOf(path string, fi os.FileInfo) fileKey {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)} //nolint:unconvert // int32 on some systems
	}
	return fileKey{path: path}
}
