//go:build unix

package engine

import (
	"io/fs"
	"syscall"
)

// linkCount is how many hard links fi's file has; 0 when unknown.
func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}
