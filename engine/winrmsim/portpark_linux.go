//go:build linux

package winrmsim

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// An offline host keeps its port bound without listening. On Linux,
// shutdown(SHUT_RD) on a listening socket stops it listening and keeps
// its explicitly bound port: a connection is refused (RST, so the client
// sees ECONNREFUSED, as from a machine with nothing on the port), and
// with SO_REUSEADDR cleared no other socket can bind the port, not even
// one that sets SO_REUSEADDR itself (as Go's listeners do). listen(2) on
// the same socket takes it back. A port the kernel chose (bound as port
// 0) is given up by the shutdown, so park refuses it.

// listenBacklog is the backlog of a listener taken back into service;
// the kernel caps it at net.core.somaxconn, as for Go's own listeners.
const listenBacklog = 65535

// park stops ln listening and keeps its port bound.
func park(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return errors.New("not a TCP listener")
	}
	port := tl.Addr().(*net.TCPAddr).Port
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var perr error
	if err := rc.Control(func(fd uintptr) {
		s := int(fd)
		if perr = syscall.Shutdown(s, syscall.SHUT_RD); perr != nil {
			perr = fmt.Errorf("shutdown: %w", perr)
			return
		}
		if perr = syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0); perr != nil {
			perr = fmt.Errorf("SO_REUSEADDR: %w", perr)
			return
		}
		sa, err := syscall.Getsockname(s)
		if err != nil {
			perr = fmt.Errorf("getsockname: %w", err)
			return
		}
		if in, ok := sa.(*syscall.SockaddrInet4); !ok || in.Port != port {
			perr = errors.New("the kernel gave the port up")
		}
	}); err != nil {
		return err
	}
	return perr
}

// unpark makes a parked listener listen again on its port.
func unpark(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return errors.New("not a TCP listener")
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		s := int(fd)
		if lerr = syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); lerr != nil {
			return
		}
		lerr = syscall.Listen(s, listenBacklog)
	}); err != nil {
		return err
	}
	return lerr
}
