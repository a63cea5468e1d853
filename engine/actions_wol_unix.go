//go:build unix

package engine

import "syscall"

// broadcastControl sets SO_BROADCAST on a Wake-on-LAN socket, so that a
// broadcast address (the default 255.255.255.255:9) may be sent to.
func broadcastControl(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	}); err != nil {
		return err
	}
	return serr
}
