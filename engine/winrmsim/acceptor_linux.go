//go:build linux

package winrmsim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// acceptor accepts the connections of every host's listener in one
// goroutine that waits on an epoll set of the listening sockets. A
// goroutine parked in Accept per host would cost 10,000 stacks at 10,000
// hosts (20 MB), and the garbage collector scans every one of them at
// every cycle, which in a benchmark sharing the console's process was
// the largest part of its stack scanning.
type acceptor struct {
	f    *Fleet
	epfd int
	wake int // eventfd: written by close to end the wait

	mu   sync.Mutex
	byFD map[int32]*hostListener
}

// newAcceptor creates the epoll set and starts its goroutine, counted in
// f.serving.
func newAcceptor(f *Fleet) (*acceptor, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		syscall.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", errno)
	}
	a := &acceptor{f: f, epfd: epfd, wake: int(wake), byFD: make(map[int32]*hostListener)}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(a.wake)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, a.wake, &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(a.wake)
		return nil, fmt.Errorf("epoll add: %w", err)
	}
	f.serving.Add(1)
	go a.run()
	return a, nil
}

// add starts accepting on a listener.
func (a *acceptor) add(hl *hostListener) error {
	tl, ok := hl.Listener.(*net.TCPListener)
	if !ok {
		return errors.New("not a TCP listener")
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var fd int32
	if err := rc.Control(func(s uintptr) { fd = int32(s) }); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: fd}
	if err := syscall.EpollCtl(a.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		return fmt.Errorf("epoll add: %w", err)
	}
	hl.raw, hl.fd, hl.acc = rc, fd, a
	a.byFD[fd] = hl
	return nil
}

// remove stops accepting on a listener; call it before closing the
// listener, so that its descriptor number is not reused while registered.
func (a *acceptor) remove(hl *hostListener) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byFD[hl.fd] == hl {
		delete(a.byFD, hl.fd)
		_ = syscall.EpollCtl(a.epfd, syscall.EPOLL_CTL_DEL, int(hl.fd), nil)
	}
}

// run waits for listeners with pending connections and accepts them.
func (a *acceptor) run() {
	defer a.f.serving.Done()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(a.epfd, events, -1)

		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			a.f.logf("winrmsim: epoll wait: %v", err)
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == a.wake {
				return
			}
			a.mu.Lock()
			hl := a.byFD[ev.Fd]
			a.mu.Unlock()
			if hl != nil {
				a.acceptAll(hl)
			}
		}
	}
}

// acceptAll accepts every pending connection of a listener.
func (a *acceptor) acceptAll(hl *hostListener) {
	for {
		var nfd int
		var aerr error
		// Accept without waiting (the listening socket is non-blocking);
		// Control holds the descriptor open meanwhile.
		err := hl.raw.Control(func(s uintptr) {
			nfd, _, aerr = syscall.Accept4(int(s), syscall.SOCK_CLOEXEC)
		})
		if err != nil { // the listener was closed
			return
		}
		switch {
		case aerr == nil:
		case errors.Is(aerr, syscall.EAGAIN):
			return // nothing more pending
		case errors.Is(aerr, syscall.ECONNABORTED), errors.Is(aerr, syscall.EINTR):
			continue
		default:
			// Out of descriptors (EMFILE) and the like: wait a little
			// rather than spin on a socket that stays readable.
			a.f.logf("winrmsim: %s: accept: %v", hl.h.name, aerr)
			time.Sleep(10 * time.Millisecond)
			return
		}
		// The accepted socket is blocking, so os.NewFile leaves it out of
		// the runtime's poller; FileConn registers its own non-blocking
		// copy.
		file := os.NewFile(uintptr(nfd), "")
		c, err := net.FileConn(file)
		_ = file.Close()
		if err != nil {
			a.f.logf("winrmsim: %s: accept: %v", hl.h.name, err)
			continue
		}
		a.f.serveAccepted(hl, c)
	}
}

// close ends the acceptor's goroutine (after the listeners are closed).
func (a *acceptor) close() {
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	_, _ = syscall.Write(a.wake, one)
}

// release frees the epoll set once the goroutine has ended.
func (a *acceptor) release() {
	_ = syscall.Close(a.epfd)
	_ = syscall.Close(a.wake)
}

// startAccepting serves a new listener through the fleet's acceptor, or
// with a goroutine of its own when there is none.
func (f *Fleet) startAccepting(hl *hostListener) {
	if f.acceptor != nil {
		err := f.acceptor.add(hl)
		if err == nil {
			return
		}
		f.logf("winrmsim: %s: epoll: %v; accepting in a goroutine", hl.h.name, err)
	}
	f.serving.Add(1)
	go f.acceptLoop(hl.h, hl)
}

// startAcceptor creates the fleet's acceptor; without one every listener
// gets its own goroutine.
func (f *Fleet) startAcceptor() {
	a, err := newAcceptor(f)
	if err != nil {
		f.logf("winrmsim: %v; one accept goroutine per host", err)
		return
	}
	f.acceptor = a
}
