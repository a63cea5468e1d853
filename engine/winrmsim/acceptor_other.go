//go:build !linux

package winrmsim

// acceptor is Linux's epoll acceptor; elsewhere every listener has its own
// accept goroutine.
type acceptor struct{}

func (*acceptor) remove(*hostListener) {}
func (*acceptor) close()               {}
func (*acceptor) release()             {}

// startAccepting serves a new listener with a goroutine of its own.
func (f *Fleet) startAccepting(hl *hostListener) {
	f.serving.Add(1)
	go f.acceptLoop(hl.h, hl)
}

// startAcceptor does nothing outside Linux.
func (f *Fleet) startAcceptor() {}
