package winrmsim

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// httpd.go is the simulator's HTTP/1.1 server: keep-alive connections,
// Content-Length and chunked request bodies, Expect: 100-continue, and
// only the headers WS-Management uses. It replaces net/http's server
// because at 10,000 hosts in one process (tests, benchmarks, --demo) the
// general-purpose server's per-connection goroutines, per-request
// allocations and background reads were most of the simulator's cost,
// and the simulator's cost is counted with the console's in the
// benchmark. What Windows' HTTP.sys does that matters to a client is
// here: status codes, the Server header, WWW-Authenticate on 401, Allow
// on 405, and closing idle connections after two minutes.

const (
	maxDiscardBytes = 16 << 20         // a body over maxRequestBytes up to this is read and dropped
	idleTimeout     = 2 * time.Minute  // HTTP.sys drops an idle connection after 120 s
	requestTimeout  = 30 * time.Second // to read one request's headers and body
	maxHeaderBytes  = 16 << 10         // one header line, and all of them
)

// errRequest is a request the server cannot read; the connection closes.
var errRequest = errors.New("malformed HTTP request")

// httpRequest is one request as the server read it: only what the
// WS-Management endpoint looks at.
type httpRequest struct {
	method, path string
	host         string // the Host header
	proto11      bool   // HTTP/1.1 (else 1.0)
	closeAfter   bool   // Connection: close, or HTTP/1.0 without keep-alive
	hasAuth      bool   // an Authorization header came
	basicUser    []byte // decoded Basic credentials, if any
	basicPass    []byte
	authScheme   string // "Negotiate" or "Kerberos" as sent (secauth.go); "" otherwise
	authToken    []byte // that scheme's decoded token
	soapContent  bool   // Content-Type application/soap+xml
	encrypted    string // Content-Type multipart/encrypted: its protocol (message encryption)
	identifyAnon bool   // WSMANIDENTIFY: unauthenticated
	body         *[]byte
	tooBig       bool // the body was over maxRequestBytes and was not read
}

// serverConn is one accepted connection and its buffers.
type serverConn struct {
	f      *Fleet
	h      *host
	c      net.Conn
	remote string // the client's address, host:port
	br     *bufio.Reader
	bw     *bufio.Writer

	// A handler that waits long (a Receive long-poll, a hung host)
	// watches the connection with a background read, to learn that the
	// client left.
	peek   [1]byte
	peeked bool // the background read got a byte; Read returns it first

	auth *connAuth // Negotiate or Kerberos on this connection (secauth.go)
}

// Read reads from the connection, first the byte a watch read, if any.
func (sc *serverConn) Read(p []byte) (int, error) {
	if sc.peeked && len(p) > 0 {
		sc.peeked = false
		p[0] = sc.peek[0]
		return 1, nil
	}
	return sc.c.Read(p)
}

// acceptLoop serves a host's listener until it closes (where the fleet
// has no acceptor).
func (f *Fleet) acceptLoop(h *host, hl *hostListener) {
	defer f.serving.Done()
	for {
		c, err := hl.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				f.logf("winrmsim: %s: accept: %v", h.name, err)
			}
			return
		}
		f.serveAccepted(hl, c)
	}
}

// enterConn admits a connection unless the fleet is shutting down; the
// caller must call f.conns.Done when it returns true.
func (f *Fleet) enterConn() bool {
	f.gate.RLock()
	defer f.gate.RUnlock()
	if f.gateClosed {
		return false
	}
	f.conns.Add(1)
	return true
}

// serveConn answers requests on one connection until the client closes
// it, it idles too long, a request is unreadable, or the fleet closes.
func (f *Fleet) serveConn(h *host, c net.Conn) {
	defer f.conns.Done()
	sc := &serverConn{f: f, h: h, c: c, remote: c.RemoteAddr().String()}
	sc.br, sc.bw = f.bufs.conn(sc, c)
	defer func() {
		_ = c.Close()
		f.bufs.putConn(sc.br, sc.bw)
	}()
	for {
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		req, err := sc.readRequest()
		if err != nil {
			if errors.Is(err, errRequest) {
				sc.writeResponse(http.StatusBadRequest, "", nil, nil, true)
				_ = sc.bw.Flush()
			}
			return
		}
		keep := f.serveRequest(sc, req) && !req.closeAfter
		f.bufs.putBody(req.body)
		if err := sc.bw.Flush(); err != nil || !keep {
			return
		}
	}
}

// readRequest reads the request line, the headers and the body.
func (sc *serverConn) readRequest() (*httpRequest, error) {
	line, err := sc.line()
	if err != nil {
		return nil, err
	}
	_ = sc.c.SetReadDeadline(time.Now().Add(requestTimeout))
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	path, proto, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(path) == 0 {
		return nil, errRequest
	}
	req := &httpRequest{method: string(method), path: string(path)}
	switch string(proto) {
	case "HTTP/1.1":
		req.proto11 = true
	case "HTTP/1.0":
		req.closeAfter = true
	default:
		return nil, errRequest
	}
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		req.path = string(path[:i])
	}
	contentLength := int64(-1)
	chunked, expect := false, false
	total := len(line)
	for {
		line, err := sc.line()
		if err != nil {
			return nil, err
		}
		if total += len(line); total > maxHeaderBytes {
			return nil, errRequest
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, errRequest
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return nil, errRequest
			}
			contentLength = n
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "Content-Type"):
			req.soapContent = len(value) >= 20 && asciiEqualFold(value[:20], "application/soap+xml")
			if len(value) >= 19 && asciiEqualFold(value[:19], "multipart/encrypted") {
				req.encrypted = encryptedProtocol(value)
			}
		case asciiEqualFold(name, "Authorization"):
			req.hasAuth = true
			if len(value) > 6 && asciiEqualFold(value[:6], "Basic ") {
				if raw, err := base64.StdEncoding.AppendDecode(nil, bytes.TrimSpace(value[6:])); err == nil {
					if u, p, ok := bytes.Cut(raw, []byte(":")); ok {
						req.basicUser, req.basicPass = u, p
					}
				}
			}
			if scheme, tok, ok := bytes.Cut(value, []byte(" ")); ok && (asciiEqualFold(scheme, "Negotiate") || asciiEqualFold(scheme, "Kerberos")) {
				if raw, err := base64.StdEncoding.AppendDecode(nil, bytes.TrimSpace(tok)); err == nil && len(raw) > 0 {
					req.authScheme, req.authToken = string(scheme), raw
				}
			}
		case asciiEqualFold(name, "WSMANIDENTIFY"):
			req.identifyAnon = asciiEqualFold(value, "unauthenticated")
		case asciiEqualFold(name, "Host"):
			req.host = string(value)
		case asciiEqualFold(name, "Connection"):
			if asciiEqualFold(value, "close") {
				req.closeAfter = true
			}
		case asciiEqualFold(name, "Expect"):
			expect = asciiEqualFold(value, "100-continue")
		}
	}
	switch {
	case chunked:
		if expect {
			sc.continue100()
		}
		b, err := sc.readChunked()
		if errors.Is(err, errTooBig) {
			req.tooBig, req.closeAfter = true, true
			return req, nil
		}
		if err != nil {
			return nil, err
		}
		req.body = b
	case contentLength > maxDiscardBytes:
		req.tooBig, req.closeAfter = true, true // the body stays unread: close after answering
	case contentLength > maxRequestBytes:
		// Read it to the end so the client can read the answer.
		if _, err := io.CopyN(io.Discard, sc.br, contentLength); err != nil {
			return nil, err
		}
		req.tooBig = true
	case contentLength > 0:
		if expect {
			sc.continue100()
		}
		p := sc.f.bufs.body(int(contentLength))
		if _, err := io.ReadFull(sc.br, *p); err != nil {
			sc.f.bufs.putBody(p)
			return nil, err
		}
		req.body = p
	}
	if req.body == nil {
		req.body = sc.f.bufs.body(0)
	}
	return req, nil
}

// line reads one header line without its CRLF. The slice is valid until
// the next read.
func (sc *serverConn) line() ([]byte, error) {
	line, err := sc.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errRequest
	}
	if err != nil {
		if len(line) > 0 && errors.Is(err, io.EOF) {
			return nil, errRequest
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

var errTooBig = errors.New("request body too large")

// readChunked reads a chunked body.
func (sc *serverConn) readChunked() (*[]byte, error) {
	p := sc.f.bufs.body(0)
	for {
		line, err := sc.line()
		if err != nil {
			sc.f.bufs.putBody(p)
			return nil, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 {
			sc.f.bufs.putBody(p)
			return nil, errRequest
		}
		if n == 0 {
			for { // trailers
				l, err := sc.line()
				if err != nil {
					sc.f.bufs.putBody(p)
					return nil, err
				}
				if len(l) == 0 {
					return p, nil
				}
			}
		}
		if int64(len(*p))+n > maxRequestBytes {
			sc.f.bufs.putBody(p)
			return nil, errTooBig
		}
		start := len(*p)
		*p = append(*p, make([]byte, n)...)
		if _, err := io.ReadFull(sc.br, (*p)[start:]); err != nil {
			sc.f.bufs.putBody(p)
			return nil, err
		}
		if l, err := sc.line(); err != nil || len(l) != 0 {
			sc.f.bufs.putBody(p)
			return nil, errRequest
		}
	}
}

func (sc *serverConn) continue100() {
	_, _ = sc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	_ = sc.bw.Flush()
}

// writeResponse writes a whole response; extra holds header name/value
// pairs beyond Server, Content-Type and Content-Length.
func (sc *serverConn) writeResponse(status int, contentType string, extra []string, body []byte, closeConn bool) {
	bw := sc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(status), 10))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(status))
	bw.WriteString("\r\nServer: Microsoft-HTTPAPI/2.0\r\n")
	if contentType != "" {
		bw.WriteString("Content-Type: ")
		bw.WriteString(contentType)
		bw.WriteString("\r\n")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		bw.WriteString(extra[i])
		bw.WriteString(": ")
		bw.WriteString(extra[i+1])
		bw.WriteString("\r\n")
	}
	bw.WriteString("Content-Length: ")
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(body)), 10))
	if closeConn {
		bw.WriteString("\r\nConnection: close")
	}
	bw.WriteString("\r\n\r\n")
	bw.Write(body)
}

// watch starts noticing that the client closes the connection while the
// handler waits: gone is closed then. stop ends the watch; it must be
// called before the connection is read again.
func (sc *serverConn) watch() (gone <-chan struct{}, stop func()) {
	if sc.br.Buffered() > 0 || sc.peeked {
		// The client already sent more (it pipelines): it is there.
		return nil, func() {}
	}
	g := make(chan struct{})
	done := make(chan struct{})
	_ = sc.c.SetReadDeadline(time.Time{})
	go func() {
		defer close(done)
		n, err := sc.c.Read(sc.peek[:])
		if n == 1 {
			sc.peeked = true
			return
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			close(g) // EOF or reset: the client left
		}
	}()
	return g, func() {
		_ = sc.c.SetReadDeadline(time.Unix(1, 0)) // end the read now
		<-done
		_ = sc.c.SetReadDeadline(time.Time{})
	}
}

// asciiEqualFold compares ASCII text case-insensitively.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// authorized checks Basic credentials in constant time.
func (f *Fleet) authorized(req *httpRequest) bool {
	if req.basicUser == nil {
		return false
	}
	u := subtle.ConstantTimeCompare(req.basicUser, []byte(f.cfg.User))
	p := subtle.ConstantTimeCompare(req.basicPass, []byte(f.cfg.Password))
	return u&p == 1
}
