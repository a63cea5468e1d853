//go:build unix

package cmd

import "syscall"

// fileLimit is this process's file descriptor limit: the soft limit (Go
// raises it to the hard one at start) and the hard limit; ok is false
// when it cannot be read.
func fileLimit() (soft, hard uint64, ok bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, false
	}
	return lim.Cur, lim.Max, true
}
