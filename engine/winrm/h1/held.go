package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// Held connections: a caller that binds state to a connection (a
// connection-oriented authentication such as NTLM, or Kerberos with
// message encryption, whose security context lives as long as the TCP
// connection) takes the connection with Acquire, sends one or more
// exchanges on it, and hands it back with Release. The state stays with
// the connection while it is idle, so the next caller to take that
// connection finds it, and is dropped with it when the connection
// closes.

// Conn is a connection held by one caller. It is not for concurrent use.
type Conn struct {
	t      *Transport
	c      *conn
	reused bool // taken from the idle list
	open   bool // an exchange's body is unread
	broken bool // the connection cannot be reused
	n      int  // exchanges sent
	pin    *Pin // the Acquire context's pin: Release keeps the connection there
}

// ErrConnBusy is a RoundTrip on a held connection whose previous
// response body was not yet read to its end or closed.
var ErrConnBusy = errors.New("h1: the held connection's previous response is still being read")

// Acquire takes an idle connection to u's host, or dials a new one,
// and holds it until Release.
func (t *Transport) Acquire(ctx context.Context, u *url.URL) (*Conn, error) {
	key, err := keyOf(u)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, reused, err := t.getConn(ctx, key)
	if err != nil {
		return nil, err
	}
	h := &Conn{t: t, c: c, reused: reused, pin: pinOf(ctx)}
	c.held = h
	return h, nil
}

// keyOf is the idle-list key of a URL.
func keyOf(u *url.URL) (hostKey, error) {
	if u == nil {
		return hostKey{}, errors.New("h1: request has no URL")
	}
	key := hostKey{addr: u.Host}
	switch u.Scheme {
	case "http":
		if u.Port() == "" {
			key.addr = net.JoinHostPort(u.Hostname(), "80")
		}
	case "https":
		key.tls = true
		if u.Port() == "" {
			key.addr = net.JoinHostPort(u.Hostname(), "443")
		}
	default:
		return hostKey{}, fmt.Errorf("h1: unsupported protocol scheme %q", u.Scheme)
	}
	return key, nil
}

// Reused reports whether the connection was kept from an earlier use
// (it may carry State), rather than dialled by Acquire.
func (h *Conn) Reused() bool { return h.reused }

// State is what a caller bound to the connection, nil for none.
func (h *Conn) State() any { return h.c.state }

// SetState binds v to the connection: it stays with it while idle and
// is dropped when the connection closes.
func (h *Conn) SetState(v any) { h.c.state = v }

// TLS is the connection's TLS state, nil for plain HTTP (channel
// bindings are computed from the server's certificate).
func (h *Conn) TLS() *tls.ConnectionState {
	if tc, ok := h.c.nc.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		return &cs
	}
	return nil
}

// RoundTrip sends req on the held connection and reads the response
// headers. The body must be read to its end or closed before the next
// RoundTrip; a body read to its end leaves the connection usable. A
// request that could not be written to a reused connection on its
// first exchange fails with an error for which Retryable is true: the
// server had closed it, and nothing was sent.
func (h *Conn) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.roundTrip(req)
	if err != nil && req.Body != nil {
		_ = req.Body.Close()
	}
	return resp, err
}

func (h *Conn) roundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case h.open:
		return nil, ErrConnBusy
	case h.broken || h.c == nil:
		return nil, errors.New("h1: the held connection is closed")
	}
	wp, err := h.t.request(req)
	if err != nil {
		return nil, err
	}
	defer h.t.putWriteBuf(wp)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	h.n++
	h.open = true
	resp, err := h.t.exchange(req.Context(), req, h.c, *wp)
	if err != nil {
		// exchange closed the connection.
		h.open, h.broken = false, true
		return nil, err
	}
	return resp, nil
}

// Retryable reports whether err is a request that failed because a
// reused connection had been closed by the server before the first
// request on it was written: nothing reached the server, and the request
// may be sent again on a new connection.
func (h *Conn) Retryable(err error) bool {
	var ne *netError
	return h.reused && h.n == 1 && errors.As(err, &ne) && ne.op == "write request" && !ne.Timeout()
}

// exchanged is called when a response body ends: reusable when it was
// read to its end on a connection the server keeps open.
func (h *Conn) exchanged(reusable bool) {
	h.open = false
	if !reusable {
		h.broken = true
		_ = h.c.nc.Close()
	}
}

// Discard marks the connection as not to be reused: Release closes it.
func (h *Conn) Discard() { h.broken = true }

// Release hands the connection back: to the idle list with its state
// when its last exchange completed, else it is closed. The Conn must not
// be used after.
func (h *Conn) Release() {
	c := h.c
	if c == nil {
		return
	}
	h.c = nil
	c.held = nil
	if h.broken || h.open {
		_ = c.nc.Close()
		return
	}
	if h.pin != nil && h.pin.keep(h.t, c) {
		return
	}
	h.t.putIdle(c)
}
