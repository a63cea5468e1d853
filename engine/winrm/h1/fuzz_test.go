package h1

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
)

// FuzzReadResponse feeds readResponse arbitrary bytes as a server's
// answer to a POST (or a HEAD), then reads the body as the transport
// would. The seeds (testdata/fuzz/FuzzReadResponse) are WinRM's own
// replies (HTTP.sys: 200 with a length, 401 with its offers, chunked 500)
// and the framing corner cases. It checks that nothing panics or hangs,
// that a response is well formed when one is returned, that a body of
// announced length is that long, that both framings at once never leave
// the connection open, and, where net/http reads the same bytes as a
// final response too, that both agree on the status and the body.
//
//	go test -run XXX -fuzz FuzzReadResponse -fuzztime 60s ./engine/winrm/h1/
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), false)
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := http.MethodPost
		if head {
			method = http.MethodHead
		}
		req, err := http.NewRequest(method, "http://127.0.0.1:5985/wsman", nil)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(bytes.NewReader(raw), readBufSize)
		resp, b, err := readResponse(br, req)
		if err != nil {
			if resp != nil || b != nil {
				t.Fatalf("an error (%v) and a response", err)
			}
			return
		}
		if resp.StatusCode < 200 || resp.StatusCode > 999 || resp.ProtoMajor != 1 || resp.ContentLength < -1 {
			t.Fatalf("malformed response: status %d, HTTP/%d.%d, length %d", resp.StatusCode, resp.ProtoMajor, resp.ProtoMinor, resp.ContentLength)
		}
		if b.chunked != nil && (resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "") {
			t.Fatalf("a chunked body with a length: %d, %q", resp.ContentLength, resp.Header.Get("Content-Length"))
		}
		if b.chunked != nil && bothFramings(raw) && !resp.Close {
			t.Fatal("Content-Length and Transfer-Encoding: chunked, and the connection is kept")
		}

		// Read the body as exchange does, over a connection that only
		// records whether it was handed back or closed.
		nc := &fakeConn{}
		tr := &Transport{}
		b.t, b.c, b.br, b.stop = tr, &conn{nc: nc, raw: nc}, br, func() bool { return true }
		const limit = 1 << 20
		got, rerr := io.ReadAll(io.LimitReader(resp.Body, limit))
		resp.Body.Close()
		if rerr == nil && resp.ContentLength >= 0 && resp.ContentLength < limit && int64(len(got)) != resp.ContentLength {
			t.Fatalf("body of %d bytes, announced %d", len(got), resp.ContentLength)
		}
		if kept := tr.Stats().Idle == 1; kept && (nc.closed || resp.Close || rerr != nil) {
			t.Fatalf("connection kept although closed %v, Close %v, read error %v", nc.closed, resp.Close, rerr)
		}

		// net/http, on the same bytes. It returns a 1xx itself where
		// readResponse skips it, and takes some framings readResponse
		// refuses; where both read a final response, they must agree.
		nresp, nerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
		if nerr != nil || nresp.StatusCode < 200 {
			return
		}
		ngot, nberr := io.ReadAll(io.LimitReader(nresp.Body, limit))
		nresp.Body.Close()
		if nberr != nil || rerr != nil {
			return
		}
		if nresp.StatusCode != resp.StatusCode || !bytes.Equal(ngot, got) {
			t.Fatalf("net/http reads status %d and %d body bytes, readResponse %d and %d", nresp.StatusCode, len(ngot), resp.StatusCode, len(got))
		}
	})
}

// bothFramings reports whether the final response (after any 1xx) in raw
// has both a Content-Length and a Transfer-Encoding header (any case).
func bothFramings(raw []byte) bool {
	rest := raw
	for len(rest) > 0 {
		var lines [][]byte
		for {
			line, after, found := bytes.Cut(rest, []byte("\n"))
			rest = after
			line = bytes.TrimRight(line, "\r")
			if len(line) == 0 || !found {
				break
			}
			lines = append(lines, line)
		}
		if len(lines) == 0 {
			return false
		}
		if _, code, _ := bytes.Cut(lines[0], []byte(" ")); bytes.HasPrefix(code, []byte("1")) {
			continue // a 1xx: the real answer follows
		}
		var length, encoding bool
		for _, l := range lines[1:] {
			name, _, _ := bytes.Cut(l, []byte(":"))
			length = length || bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length"))
			encoding = encoding || bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding"))
		}
		return length && encoding
	}
	return false
}

// fakeConn is a connection that is never read or written (the fuzz
// target reads from its own buffer), and notes Close.
type fakeConn struct {
	net.Conn
	closed bool
}

func (c *fakeConn) Close() error { c.closed = true; return nil }
