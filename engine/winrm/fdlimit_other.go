//go:build !unix

package winrm

// OpenFileLimit is how many sockets the process may hold open: Windows
// has no per-process descriptor limit for sockets worth respecting here.
func OpenFileLimit() int { return 1 << 16 }
