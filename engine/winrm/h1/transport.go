// Package h1 is a lean HTTP/1.1 client transport for the engine's WinRM
// hot path: a keep-alive connection per host held with no goroutine and
// no buffer while it is idle.
//
// net/http's Transport gives every connection a read goroutine and a
// write goroutine with their buffers (about 30 KB per connection), so
// keeping one idle connection for each of 10,000 hosts costs some 300 MB,
// and bounding the idle connections instead makes every poll of a large
// fleet open a new TCP (and TLS) connection. This transport keeps an idle
// connection as a socket and a few words; a request borrows pooled
// buffers, writes the request in one write, reads the response on the
// caller's goroutine, and hands the connection back when its body is
// read. It speaks only what WS-Management needs: one request per
// connection at a time (no pipelining), Content-Length or chunked
// response bodies, Connection: close. Proxies, redirects, compression,
// HTTP/2 and 1xx handling beyond skipping 100 Continue are not part of it.
package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults for a zero Transport field.
const (
	DefaultMaxIdleConns        = 1024
	DefaultMaxIdleConnsPerHost = 2
	DefaultIdleConnTimeout     = 90 * time.Second
)

const (
	// maxHeaderBytes bounds a response's status line and headers.
	maxHeaderBytes = 64 << 10
	// readBufSize is the pooled response reader's size: a WS-Man reply's
	// headers fit in it many times over.
	readBufSize = 4 << 10
)

// aLongTimeAgo is a deadline in the past: it ends a blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

// Transport is an http.RoundTripper for plain and TLS HTTP/1.1
// endpoints. Its exported fields are set before first use and not
// changed after. It is safe for concurrent use.
type Transport struct {
	// Dial opens a TCP connection for http URLs (default: net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTLS opens a TLS connection for https URLs, handshake done; nil
	// refuses https URLs.
	DialTLS func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxIdleConns bounds idle connections across hosts; at the limit a
	// connection handed back is closed (default DefaultMaxIdleConns).
	MaxIdleConns int
	// MaxIdleTLSConns bounds idle TLS connections, within MaxIdleConns
	// (default: MaxIdleConns). An idle TLS connection keeps its record
	// buffers, some 20 KB.
	MaxIdleTLSConns int
	// MaxIdleConnsPerHost bounds idle connections per host (default
	// DefaultMaxIdleConnsPerHost).
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes a connection idle for longer (default
	// DefaultIdleConnTimeout). Keep it below the servers' own idle
	// timeout, so a request seldom meets a connection the server is
	// closing.
	IdleConnTimeout time.Duration
	// ExchangeTimeout bounds a whole exchange, from the first byte
	// written to the last byte of the response body read (unlike
	// net/http's ResponseHeaderTimeout, which ends at the headers); zero:
	// only the request's context bounds it.
	ExchangeTimeout time.Duration

	mu        sync.Mutex
	idle      map[hostKey][]*conn // per host, most recently used last
	lru       [2]connList         // idle connections, least recently used first: plain, TLS
	nidle     [2]int              // connections on each lru list
	lastSweep time.Time

	wbufs sync.Pool // *[]byte request buffers
	rbufs sync.Pool // *bufio.Reader response readers

	stats counters
}

// hostKey is what a connection can be reused for.
type hostKey struct {
	tls  bool
	addr string // host:port
}

// kind is the index of the key's idle list: 0 plain, 1 TLS.
func (k hostKey) kind() int {
	if k.tls {
		return 1
	}
	return 0
}

// conn is one connection. While idle it is on its host's list and on
// the transport's LRU list, both guarded by Transport.mu.
type conn struct {
	key        hostKey
	nc         net.Conn // what requests go over (a *tls.Conn for https)
	raw        net.Conn // the TCP connection under nc, checked for a close while idle
	idleAt     time.Time
	prev, next *conn
	// state is what a caller bound to the connection (Conn.SetState): a
	// security context that lives as long as the connection does.
	state any
	held  *Conn // the holder while the connection is held (Acquire)
}

// connList is a doubly linked list of idle connections.
type connList struct{ head, tail *conn }

func (l *connList) pushBack(c *conn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
}

func (l *connList) remove(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

// Stats counts a Transport's connections since it was made.
type Stats struct {
	Dialed  int64 // connections opened
	Reused  int64 // requests sent on a kept connection
	Stale   int64 // idle connections found closed by the server, or expired
	Evicted int64 // idle connections closed because a limit was reached
	// Pinned counts requests sent on a connection a Pin kept from the
	// request before (also counted in Reused).
	Pinned int64
	// Unkept counts connections closed when their Pin was released with
	// keep false (they would have expired before their next use).
	Unkept int64
	Idle   int // connections idle now
}

type counters struct {
	dialed, reused, stale, evicted, pinned, unkept int64 // guarded by Transport.mu
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Dialed: t.stats.dialed, Reused: t.stats.reused, Stale: t.stats.stale, Evicted: t.stats.evicted,
		Pinned: t.stats.pinned, Unkept: t.stats.unkept, Idle: t.nidle[0] + t.nidle[1]}
}

func (t *Transport) maxIdle() int { return positive(t.MaxIdleConns, DefaultMaxIdleConns) }
func (t *Transport) maxIdleTLS() int {
	return min(positive(t.MaxIdleTLSConns, t.maxIdle()), t.maxIdle())
}
func (t *Transport) maxIdlePerHost() int {
	return positive(t.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost)
}
func (t *Transport) idleTimeout() time.Duration {
	if t.IdleConnTimeout > 0 {
		return t.IdleConnTimeout
	}
	return DefaultIdleConnTimeout
}

func positive(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// CloseIdleConnections closes every idle connection.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	var drop []*conn
	for k := range t.lru {
		for c := t.lru[k].head; c != nil; c = c.next {
			drop = append(drop, c)
		}
	}
	t.lru, t.nidle = [2]connList{}, [2]int{}
	clear(t.idle)
	t.mu.Unlock()
	for _, c := range drop {
		_ = c.nc.Close()
	}
}

// RoundTrip sends req and reads the response headers. The response body
// must be read to its end or closed; the connection is reused once the
// body has been read to its end.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err != nil && req.Body != nil {
		_ = req.Body.Close() // a RoundTripper closes the body, even on errors
	}
	return resp, err
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	key, err := keyOf(req.URL)
	if err != nil {
		return nil, err
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	wp, err := t.request(req)
	if err != nil {
		return nil, err
	}
	defer t.putWriteBuf(wp)
	if req.Body != nil {
		_ = req.Body.Close()
	}

	for attempt := 0; ; attempt++ {
		c, reused, err := t.getConn(ctx, key)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(ctx, req, c, *wp)
		if err == nil {
			return resp, nil
		}
		// A write to a kept connection the server had closed fails
		// (reset, broken pipe) before the server read the whole request,
		// so it is sent again once on a new connection. A write that
		// timed out is not (the server is not reading), and a failed
		// read never is: the request may have been applied.
		var ne *netError
		if reused && attempt == 0 && errors.As(err, &ne) && ne.op == "write request" && !ne.Timeout() && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

// netError is a request that could not be written (op "write request")
// or a response that could not be read (op "read response").
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string { return "h1: " + e.op + ": " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// Timeout reports whether the write or read timed out (net.Error):
// callers that look only one level down, as url.Error does, still see a
// timeout.
func (e *netError) Timeout() bool { return isTimeout(e.err) }

// Temporary is false (net.Error).
func (e *netError) Temporary() bool { return false }

func writeError(err error) error { return &netError{op: "write request", err: err} }
func readError(err error) error  { return &netError{op: "read response", err: err} }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// request renders req (line, headers, body) into a pooled buffer.
func (t *Transport) request(req *http.Request) (*[]byte, error) {
	wp, _ := t.wbufs.Get().(*[]byte)
	if wp == nil {
		b := make([]byte, 0, 8<<10)
		wp = &b
	}
	b := (*wp)[:0]
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, req.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	b = append(b, host...)
	b = append(b, "\r\n"...)
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendHeaderValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	if req.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	n := req.ContentLength
	var unsized []byte // a body of unknown length, read first
	if hasBody && n <= 0 {
		var err error
		if unsized, err = readAll(nil, req.Body); err != nil {
			return nil, t.dropWriteBuf(wp, b, err)
		}
		n = int64(len(unsized))
	}
	if !hasBody {
		n = 0
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, "\r\n\r\n"...)
	switch {
	case unsized != nil:
		b = append(b, unsized...)
	case hasBody:
		at := len(b)
		b = append(b, make([]byte, n)...)
		if _, err := io.ReadFull(req.Body, b[at:]); err != nil {
			return nil, t.dropWriteBuf(wp, b, err)
		}
	}
	*wp = b
	return wp, nil
}

// dropWriteBuf gives the request buffer back after its body could not
// be read, and returns the error saying so.
func (t *Transport) dropWriteBuf(wp *[]byte, b []byte, err error) error {
	*wp = b
	t.putWriteBuf(wp)
	return fmt.Errorf("h1: read request body: %w", err)
}

// appendHeaderValue appends v with CR and LF replaced by spaces, so a
// value cannot split the request.
func appendHeaderValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// readAll appends r's content to b.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func (t *Transport) putWriteBuf(wp *[]byte) {
	if cap(*wp) <= 256<<10 {
		*wp = (*wp)[:0]
		t.wbufs.Put(wp)
	}
}

// getConn returns the connection the context's Pin holds for key, an
// idle connection to key, or a new one. A kept connection is checked
// before reuse (one non-blocking peek): the server may have closed it
// (its idle timeout, a reboot), and a request written to it would fail
// after it was sent.
func (t *Transport) getConn(ctx context.Context, key hostKey) (*conn, bool, error) {
	now := time.Now()
	pinned := pinOf(ctx).take(t, key)
	for {
		c := pinned
		if c == nil {
			c = t.takeIdle(key, now)
		}
		if c == nil {
			break
		}
		if alive(c.raw) {
			t.mu.Lock()
			t.stats.reused++
			if pinned != nil {
				t.stats.pinned++
			}
			t.mu.Unlock()
			return c, true, nil
		}
		pinned = nil
		t.mu.Lock()
		t.stats.stale++
		t.mu.Unlock()
		_ = c.nc.Close()
	}
	dial := t.Dial
	if key.tls {
		if dial = t.DialTLS; dial == nil {
			return nil, false, errors.New("h1: https is not configured")
		}
	} else if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", key.addr)
	if err != nil {
		return nil, false, err
	}
	c := &conn{key: key, nc: nc, raw: nc}
	if tc, ok := nc.(*tls.Conn); ok {
		c.raw = tc.NetConn()
	}
	t.mu.Lock()
	t.stats.dialed++
	t.mu.Unlock()
	return c, false, nil
}

// takeIdle removes and returns key's most recently used idle connection
// that has not expired; expired ones are closed.
func (t *Transport) takeIdle(key hostKey, now time.Time) *conn {
	t.mu.Lock()
	var expired []*conn
	var c *conn
	for list := t.idle[key]; len(list) > 0; list = t.idle[key] {
		c = list[len(list)-1]
		list[len(list)-1] = nil
		if len(list) == 1 {
			delete(t.idle, key)
		} else {
			t.idle[key] = list[:len(list)-1]
		}
		t.lru[c.key.kind()].remove(c)
		t.nidle[c.key.kind()]--
		if now.Sub(c.idleAt) <= t.idleTimeout() {
			break
		}
		t.stats.stale++
		expired = append(expired, c)
		c = nil
	}
	t.mu.Unlock()
	for _, x := range expired {
		_ = x.nc.Close()
	}
	return c
}

// putIdle keeps c for reuse, within the limits, and closes connections
// idle past the timeout now and then.
func (t *Transport) putIdle(c *conn) {
	now := time.Now()
	c.idleAt = now
	var drop []*conn
	t.mu.Lock()
	if t.idle == nil {
		t.idle = make(map[hostKey][]*conn)
	}
	if len(t.idle[c.key]) >= t.maxIdlePerHost() {
		t.stats.evicted++
		drop = append(drop, c)
	} else {
		k := c.key.kind()
		if t.nidle[0]+t.nidle[1] >= t.maxIdle() || (k == 1 && t.nidle[1] >= t.maxIdleTLS()) {
			// Over a limit the connection handed back is closed, not the
			// least recently used one: a sweep visits hosts in the same
			// order every time, and evicting the oldest would close each
			// connection just before its host's turn comes again. Kept
			// connections that stop being used expire after
			// IdleConnTimeout.
			t.stats.evicted++
			drop = append(drop, c)
		} else {
			t.idle[c.key] = append(t.idle[c.key], c)
			t.lru[k].pushBack(c)
			t.nidle[k]++
		}
	}
	if timeout := t.idleTimeout(); now.Sub(t.lastSweep) > timeout/4 {
		t.lastSweep = now
		for k := range t.lru {
			for x := t.lru[k].head; x != nil && now.Sub(x.idleAt) > timeout; x = t.lru[k].head {
				t.removeIdleLocked(x)
				t.stats.stale++
				drop = append(drop, x)
			}
		}
	}
	t.mu.Unlock()
	for _, x := range drop {
		_ = x.nc.Close()
	}
}

// removeIdleLocked takes c off the idle lists. t.mu must be held.
func (t *Transport) removeIdleLocked(c *conn) {
	t.lru[c.key.kind()].remove(c)
	t.nidle[c.key.kind()]--
	list := t.idle[c.key]
	for i, x := range list {
		if x == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(t.idle, c.key)
	} else {
		t.idle[c.key] = list
	}
}

// exchange writes the request on c and reads the response's headers.
// On an error c is closed.
func (t *Transport) exchange(ctx context.Context, req *http.Request, c *conn, wire []byte) (*http.Response, error) {
	deadline, hasDeadline := ctx.Deadline()
	ctxDeadline := hasDeadline // the connection's deadline is the context's
	if t.ExchangeTimeout > 0 {
		if d := time.Now().Add(t.ExchangeTimeout); !hasDeadline || d.Before(deadline) {
			deadline, hasDeadline, ctxDeadline = d, true, false
		}
	}
	if hasDeadline {
		_ = c.nc.SetDeadline(deadline)
	} else {
		_ = c.nc.SetDeadline(time.Time{})
	}
	// A cancelled context ends a blocked write or read at once.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = c.nc.Close()
		cerr := ctx.Err()
		if cerr == nil && ctxDeadline && isTimeout(err) {
			// The context's deadline ended the exchange; its own timer
			// may not have fired yet.
			cerr = context.DeadlineExceeded
		}
		if cerr != nil {
			return nil, fmt.Errorf("%w (%v)", cerr, err)
		}
		return nil, err
	}
	if _, err := c.nc.Write(wire); err != nil {
		return fail(writeError(err))
	}
	br := t.reader(c.nc)
	resp, b, err := readResponse(br, req)
	if err != nil {
		t.putReader(br)
		return fail(err)
	}
	b.t, b.c, b.br, b.stop, b.pin = t, c, br, stop, pinOf(ctx)
	b.keep = b.keep && !req.Close
	b.held = c.held
	if b.done() {
		b.finish(true)
	}
	return resp, nil
}

func (t *Transport) reader(r io.Reader) *bufio.Reader {
	if br, ok := t.rbufs.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, readBufSize)
}

func (t *Transport) putReader(br *bufio.Reader) {
	br.Reset(nil)
	t.rbufs.Put(br)
}
