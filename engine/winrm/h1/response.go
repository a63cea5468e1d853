package h1

// Reading an HTTP/1.1 response off a kept connection: the status line,
// the headers WinRM sends, and a body of known length or chunked.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
)

// readResponse reads a response's status line and headers from br and
// prepares its body.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, *body, error) {
	total := 0
	line := func() ([]byte, error) {
		l, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("h1: response header line too long")
		}
		if err != nil {
			if err == io.EOF && total == 0 {
				return nil, io.EOF
			}
			return nil, readError(noEOF(err))
		}
		if total += len(l); total > maxHeaderBytes {
			return nil, errors.New("h1: response headers too long")
		}
		return bytes.TrimRight(l, "\r\n"), nil
	}
	for {
		l, err := line()
		if err != nil {
			return nil, nil, err
		}
		proto, rest, ok := bytes.Cut(l, []byte(" "))
		codeText, _, _ := bytes.Cut(rest, []byte(" "))
		code, cerr := strconv.Atoi(string(codeText))
		if !ok || len(codeText) != 3 || cerr != nil || code < 100 {
			return nil, nil, fmt.Errorf("h1: malformed status line %q", truncate(l))
		}
		major, minor, ok := http.ParseHTTPVersion(string(proto))
		if !ok || major != 1 {
			return nil, nil, fmt.Errorf("h1: unsupported protocol %q", truncate(proto))
		}
		resp := &http.Response{
			Status:     string(rest),
			StatusCode: code,
			Proto:      string(proto),
			ProtoMajor: major,
			ProtoMinor: minor,
			Header:     make(http.Header, 4),
			Request:    req,
		}
		b := &body{remaining: -1, keep: minor >= 1}
		chunked, hasLength := false, false
		for {
			l, err := line()
			if err != nil {
				return nil, nil, err
			}
			if len(l) == 0 {
				break
			}
			name, value, ok := bytes.Cut(l, []byte(":"))
			if !ok || len(name) == 0 {
				return nil, nil, fmt.Errorf("h1: malformed header line %q", truncate(l))
			}
			value = bytes.TrimSpace(value)
			key := canonicalKey(name)
			switch key {
			case "Content-Length":
				n, err := strconv.ParseInt(string(value), 10, 64)
				if err != nil || n < 0 || (b.remaining >= 0 && n != b.remaining) {
					return nil, nil, fmt.Errorf("h1: bad Content-Length %q", truncate(value))
				}
				b.remaining, hasLength = n, true
			case "Transfer-Encoding":
				if !bytes.EqualFold(value, []byte("chunked")) {
					return nil, nil, fmt.Errorf("h1: unsupported Transfer-Encoding %q", truncate(value))
				}
				chunked = true
			case "Connection":
				for _, tok := range bytes.Split(value, []byte(",")) {
					switch tok = bytes.TrimSpace(tok); {
					case bytes.EqualFold(tok, []byte("close")):
						b.keep = false
					case bytes.EqualFold(tok, []byte("keep-alive")):
						b.keep = true
					}
				}
			}
			resp.Header[key] = append(resp.Header[key], string(value))
		}
		if code >= 100 && code < 200 {
			if code == http.StatusSwitchingProtocols {
				return nil, nil, errors.New("h1: the server switched protocols")
			}
			continue // 100 Continue and the like: the real answer follows
		}
		switch {
		case req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified:
			b.remaining = 0
		case chunked:
			b.remaining = -1
			b.chunked = httputil.NewChunkedReader(br)
			delete(resp.Header, "Content-Length")
			if hasLength {
				// Both framings: chunked wins, and the connection is not
				// reused (RFC 9112 section 6.3: the message may be an
				// attempt at response splitting).
				b.keep = false
			}
		case b.remaining < 0:
			b.keep = false // the body ends when the server closes
		}
		if b.remaining < 0 {
			resp.ContentLength = -1
		} else {
			resp.ContentLength = b.remaining
		}
		resp.Close = !b.keep
		resp.Body = b
		if b.remaining == 0 {
			resp.Body = http.NoBody
		}
		return resp, b, nil
	}
}

// canonicalKey is name as an http.Header key, without allocating for the
// headers WinRM sends.
func canonicalKey(name []byte) string {
	for _, k := range commonKeys {
		if len(k) == len(name) && bytes.EqualFold(name, []byte(k)) {
			return k
		}
	}
	return textproto.CanonicalMIMEHeaderKey(string(name))
}

var commonKeys = [...]string{"Content-Type", "Content-Length", "Date", "Server", "Connection",
	"Www-Authenticate", "Transfer-Encoding", "Keep-Alive", "Persistent-Auth"}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// body is a response body. Read to its end, it hands the connection back
// to the transport; closed early, it closes the connection.
type body struct {
	t         *Transport
	c         *conn
	br        *bufio.Reader
	stop      func() bool // stops the context watch
	remaining int64       // bytes left of a Content-Length body; -1: chunked or until close
	chunked   io.Reader
	keep      bool // the connection may be reused
	eof       bool // the body was read to its end
	closed    bool // the connection was handed back or closed
	err       error
	held      *Conn // the connection is held: it goes back to the holder, not to the idle list
	pin       *Pin  // the request context's pin: a reusable connection is kept there
}

// done reports whether the body has been read to its end.
func (b *body) done() bool { return b.eof || b.remaining == 0 }

// Read reads the body.
func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done() {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	switch {
	case b.chunked != nil:
		n, err = b.chunked.Read(p)
		if err == io.EOF {
			// The trailer section ends with an empty line.
			for {
				l, terr := b.br.ReadSlice('\n')
				if terr != nil {
					err = readError(noEOF(terr))
					break
				}
				if len(bytes.TrimRight(l, "\r\n")) == 0 {
					break
				}
			}
		}
	case b.remaining > 0:
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err = b.br.Read(p)
		b.remaining -= int64(n)
		if err == io.EOF && b.remaining > 0 {
			err = io.ErrUnexpectedEOF
		}
		if b.remaining == 0 {
			err = nil
		}
	default: // until the server closes
		n, err = b.br.Read(p)
	}
	switch {
	case err == io.EOF || (err == nil && b.remaining == 0 && b.chunked == nil):
		b.eof = true
		b.finish(b.remaining == 0 || b.chunked != nil)
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	case err != nil:
		b.err = err
		b.finish(false)
		return n, err
	}
	return n, nil
}

// Close ends the body; the connection is closed unless the body was read
// to its end.
func (b *body) Close() error {
	if !b.closed {
		b.finish(false)
	}
	return nil
}

// finish hands the connection back (reusable: the body is complete, the
// server keeps it open, nothing more was sent, the context did not end
// the exchange) or closes it.
func (b *body) finish(complete bool) {
	if b.closed {
		return
	}
	b.closed = true
	watching := b.stop()
	reusable := complete && b.keep && watching && b.br.Buffered() == 0
	b.t.putReader(b.br)
	if b.held != nil {
		b.held.exchanged(reusable)
		return
	}
	if reusable {
		if b.pin != nil && b.pin.keep(b.t, b.c) {
			return
		}
		b.t.putIdle(b.c)
		return
	}
	_ = b.c.nc.Close()
}
