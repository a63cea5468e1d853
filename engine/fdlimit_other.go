//go:build !unix

package engine

// openFileLimit is how many sockets the process may hold open: Windows
// has no per-process descriptor limit for sockets worth respecting here.
func openFileLimit() int { return 1 << 16 }
