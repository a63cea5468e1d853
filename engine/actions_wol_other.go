//go:build !unix && !windows

package engine

import "syscall"

// broadcastControl does nothing where SO_BROADCAST is not available.
func broadcastControl(_, _ string, _ syscall.RawConn) error { return nil }
