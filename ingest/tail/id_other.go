//go:build !unix

package tail

import "os"

// keyOf returns the identity of the file fi: without inodes, its path
// (a renamed file is then a new file, read from its fingerprint's
// checkpoint).
func keyOf(path string, _ os.FileInfo) fileKey {
	return fileKey{path: path}
}
