package h1

import (
	"context"
	"sync"
)

// Pins: a caller that sends several requests to one host in a row (a
// poll's Send and Receive, a Create and the Command after it) keeps the
// connection between them, whatever the idle limits say. The idle limits
// (MaxIdleConns, MaxIdleTLSConns) bound the connections kept between one
// caller's work and the next; a pinned connection is not idle in that
// sense: its owner is about to use it again, and there are at most as
// many pins as callers in flight. Without a pin, a connection handed back
// over the TLS limit is closed and the next request dials again, a second
// TLS handshake for the same poll.

// Pin holds at most one connection between the requests made with the
// context WithPin returned. It is for one goroutine's sequence of
// requests; Release ends it.
type Pin struct {
	mu       sync.Mutex
	t        *Transport
	c        *conn
	released bool
}

type pinKey struct{}

// WithPin returns a context under which the requests of every Transport
// keep their connection for the next request of that context (to the
// same host), and the Pin to release it with once the sequence is over.
func WithPin(ctx context.Context) (context.Context, *Pin) {
	p := &Pin{}
	return context.WithValue(ctx, pinKey{}, p), p
}

func pinOf(ctx context.Context) *Pin {
	p, _ := ctx.Value(pinKey{}).(*Pin)
	return p
}

// take returns the pinned connection when it belongs to t and key.
func (p *Pin) take(t *Transport, key hostKey) *conn {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil || p.t != t || p.c.key != key {
		return nil
	}
	c := p.c
	p.c, p.t = nil, nil
	return c
}

// keep pins c, a connection whose exchange completed, and returns false
// when the pin is released (the caller hands c to the idle list). A
// connection pinned before (another host's) goes to its idle list.
func (p *Pin) keep(t *Transport, c *conn) bool {
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return false
	}
	oldT, old := p.t, p.c
	p.t, p.c = t, c
	p.mu.Unlock()
	if old != nil {
		oldT.putIdle(old)
	}
	return true
}

// Release ends the pin: the connection it holds is handed to the idle
// list (within the idle limits) when keep is true, else closed (the
// caller knows it would expire before its next use). Requests made with
// the pin's context after Release hand their connections to the idle list
// as usual.
func (p *Pin) Release(keep bool) {
	p.mu.Lock()
	t, c := p.t, p.c
	p.t, p.c, p.released = nil, nil, true
	p.mu.Unlock()
	if c == nil {
		return
	}
	if keep {
		t.putIdle(c)
		return
	}
	t.mu.Lock()
	t.stats.unkept++
	t.mu.Unlock()
	_ = c.nc.Close()
}

// Pinned reports whether the pin holds a connection now.
func (p *Pin) Pinned() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c != nil
}
