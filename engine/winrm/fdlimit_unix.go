//go:build unix

package winrm

import "syscall"

// OpenFileLimit is how many file descriptors the process may open (Go
// raises the soft limit to the hard one at start on Linux).
func OpenFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<20 {
		return 1 << 16
	}
	return int(lim.Cur)
}
