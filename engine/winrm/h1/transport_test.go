package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connCounter counts the connections a test server accepted.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.n.Add(1)
	}
}

func newServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *connCounter) {
	t.Helper()
	var cc connCounter
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = cc.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &cc
}

func post(t *testing.T, tr *Transport, ctx context.Context, url, body string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
	fmt.Fprintf(w, "%s %s %d %s", r.Method, r.URL.Path, r.ContentLength, b)
}

func TestReusesOneConnection(t *testing.T) {
	srv, conns := newServer(t, echo)
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	for i := range 10 {
		resp, b, err := post(t, tr, context.Background(), srv.URL+"/wsman", fmt.Sprintf("body-%d", i))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if want := fmt.Sprintf("POST /wsman %d body-%d", len(fmt.Sprint("body-", i)), i); string(b) != want {
			t.Fatalf("request %d: body %q, want %q", i, b, want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/soap+xml;charset=UTF-8" {
			t.Fatalf("content type %q", ct)
		}
	}
	st := tr.Stats()
	if st.Dialed != 1 || st.Reused != 9 || st.Idle != 1 || conns.n.Load() != 1 {
		t.Fatalf("stats %+v, server saw %d connections; want 1 dialed, 9 reused, 1 idle, 1 connection", st, conns.n.Load())
	}
}

func TestChunkedBodyThenReuse(t *testing.T) {
	big := strings.Repeat("0123456789", 1000)
	srv, conns := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Check")
		for i := 0; i < len(big); i += 1000 {
			io.WriteString(w, big[i:i+1000])
			w.(http.Flusher).Flush() // forces chunked encoding
		}
		w.Header().Set("X-Check", "done")
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	for i := range 3 {
		resp, b, err := post(t, tr, context.Background(), srv.URL, "x")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if string(b) != big {
			t.Fatalf("request %d: got %d bytes, want %d", i, len(b), len(big))
		}
		if resp.ContentLength != -1 {
			t.Fatalf("content length %d, want -1 (chunked)", resp.ContentLength)
		}
	}
	if n := conns.n.Load(); n != 1 {
		t.Fatalf("server saw %d connections, want 1", n)
	}
}

func TestConnectionCloseIsNotReused(t *testing.T) {
	srv, conns := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	tr := &Transport{}
	for range 2 {
		if _, b, err := post(t, tr, context.Background(), srv.URL, ""); err != nil || string(b) != "bye" {
			t.Fatalf("body %q, err %v", b, err)
		}
	}
	if st := tr.Stats(); st.Dialed != 2 || st.Idle != 0 || conns.n.Load() != 2 {
		t.Fatalf("stats %+v, server %d connections; want 2 dialed, none idle", st, conns.n.Load())
	}
}

func TestServerClosedIdleConnection(t *testing.T) {
	srv, conns := newServer(t, echo)
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	if _, _, err := post(t, tr, context.Background(), srv.URL, "a"); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections() // as HTTP.sys does after its idle timeout, or a reboot
	// The close reaches the client's socket asynchronously; wait for it
	// as a peek would see it, then check the next request goes out on a
	// new connection instead of failing on the dead one.
	waitClosed(t, tr)
	if _, b, err := post(t, tr, context.Background(), srv.URL, "b"); err != nil || !strings.HasSuffix(string(b), " b") {
		t.Fatalf("after the server closed the idle connection: body %q, err %v", b, err)
	}
	if st := tr.Stats(); st.Stale != 1 || st.Dialed != 2 || conns.n.Load() != 2 {
		t.Fatalf("stats %+v, server %d connections; want 1 stale, 2 dialed", st, conns.n.Load())
	}
}

// waitClosed waits until the transport's idle connection reads as closed.
func waitClosed(t *testing.T, tr *Transport) {
	t.Helper()
	tr.mu.Lock()
	c := tr.lru[0].head
	tr.mu.Unlock()
	if c == nil {
		t.Fatal("no idle connection")
	}
	for i := 0; alive(c.raw); i++ {
		if i > 500 {
			t.Fatal("the idle connection never read as closed")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestIdleTimeoutExpires(t *testing.T) {
	srv, conns := newServer(t, echo)
	tr := &Transport{IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	if _, _, err := post(t, tr, context.Background(), srv.URL, "a"); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	tr.lru[0].head.idleAt = time.Now().Add(-2 * time.Minute)
	tr.mu.Unlock()
	if _, _, err := post(t, tr, context.Background(), srv.URL, "b"); err != nil {
		t.Fatal(err)
	}
	if st := tr.Stats(); st.Stale != 1 || st.Dialed != 2 || conns.n.Load() != 2 {
		t.Fatalf("stats %+v; want the expired connection closed and a new one dialed", st)
	}
}

func TestIdleLimits(t *testing.T) {
	a, _ := newServer(t, echo)
	b, _ := newServer(t, echo)
	tr := &Transport{MaxIdleConns: 1, MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	if _, _, err := post(t, tr, context.Background(), a.URL, "1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := post(t, tr, context.Background(), b.URL, "2"); err != nil {
		t.Fatal(err)
	}
	st := tr.Stats()
	if st.Idle != 1 || st.Evicted != 1 {
		t.Fatalf("stats %+v; want 1 idle, b's connection closed over the limit", st)
	}
	tr.mu.Lock()
	kept := tr.lru[0].head.key.addr
	tr.mu.Unlock()
	if kept != strings.TrimPrefix(a.URL, "http://") {
		t.Fatalf("kept %s, want the connection kept first (%s): a sweep comes back to it first", kept, a.URL)
	}
	// Hosts visited in a cycle longer than the limit: the kept
	// connections are reused every round.
	for range 3 {
		for _, u := range []string{a.URL, b.URL} {
			if _, _, err := post(t, tr, context.Background(), u, "x"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st := tr.Stats(); st.Reused != 3 || st.Dialed != 5 {
		t.Fatalf("stats %+v; want a's connection reused each round, b dialed each time", st)
	}

	// Two requests in flight to one host: only one connection stays idle.
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(2)
	slow, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
		io.WriteString(w, "ok")
	})
	tr2 := &Transport{MaxIdleConnsPerHost: 1}
	defer tr2.CloseIdleConnections()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, _, err := post(t, tr2, context.Background(), slow.URL, ""); err != nil {
				t.Error(err)
			}
		})
	}
	arrived.Wait()
	close(release)
	wg.Wait()
	if st := tr2.Stats(); st.Dialed != 2 || st.Idle != 1 || st.Evicted != 1 {
		t.Fatalf("stats %+v; want 2 dialed, 1 idle, 1 closed over the per-host limit", st)
	}
}

func TestCancelEndsABlockedRequest(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	})
	defer close(release)
	tr := &Transport{}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, _, err := post(t, tr, ctx, srv.URL, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if st := tr.Stats(); st.Idle != 0 {
		t.Fatalf("stats %+v: a cancelled exchange's connection must not be kept", st)
	}
}

func TestExchangeTimeoutEndsAnExchange(t *testing.T) {
	release := make(chan struct{})
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	tr := &Transport{ExchangeTimeout: 50 * time.Millisecond}
	_, _, err := post(t, tr, context.Background(), srv.URL, "")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v, want a timeout", err)
	}
}

func TestBodyClosedEarlyClosesConnection(t *testing.T) {
	srv, conns := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 1000))
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	for range 2 {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := conns.n.Load(); n != 2 {
		t.Fatalf("server saw %d connections, want 2 (a half-read body's connection cannot be reused)", n)
	}
}

func TestUnauthorizedHeaders(t *testing.T) {
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("WWW-Authenticate", "Negotiate")
		w.Header().Add("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	resp, b, err := post(t, tr, context.Background(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 401 || len(b) != 0 {
		t.Fatalf("status %d body %q", resp.StatusCode, b)
	}
	if got := resp.Header.Values("Www-Authenticate"); len(got) != 2 || got[0] != "Negotiate" || got[1] != `Basic realm="WSMAN"` {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

func TestHTTPS(t *testing.T) {
	var cc connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echo))
	srv.Config.ConnState = cc.hook
	srv.StartTLS()
	defer srv.Close()
	cfg := &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "example.com"}
	tr := &Transport{DialTLS: (&tls.Dialer{Config: cfg}).DialContext}
	defer tr.CloseIdleConnections()
	for range 3 {
		if _, b, err := post(t, tr, context.Background(), srv.URL+"/wsman", "tls"); err != nil || !strings.HasSuffix(string(b), " tls") {
			t.Fatalf("body %q err %v", b, err)
		}
	}
	if cc.n.Load() != 1 {
		t.Fatalf("server saw %d TLS connections, want 1", cc.n.Load())
	}
	if _, _, err := post(t, &Transport{}, context.Background(), srv.URL, ""); err == nil || !strings.Contains(err.Error(), "https is not configured") {
		t.Fatalf("https without DialTLS: err %v", err)
	}
}

// rawServer answers each request with reply and records the requests it
// read, as they would be sent again (net/http's rendering). With once,
// it closes each connection after its first answer.
func rawServer(t *testing.T, reply string, once bool) (addr string, requests <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					var b bytes.Buffer
					req.Write(&b)
					select {
					case got <- b.String():
					default: // nobody reads them
					}
					io.WriteString(c, reply)
					if once {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), got
}

func TestMalformedResponses(t *testing.T) {
	for _, tt := range []struct {
		name, reply, want string
	}{
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "malformed status line"},
		{"HTTP/2", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "unsupported protocol"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "bad Content-Length"},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "bad Content-Length"},
		{"gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"},
		{"header line", "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"},
		{"huge header", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", "too long"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "unexpected EOF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := rawServer(t, tt.reply, true)
			tr := &Transport{}
			_, _, err := post(t, tr, context.Background(), "http://"+addr+"/wsman", "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to contain %q", err, tt.want)
			}
			if st := tr.Stats(); st.Idle != 0 {
				t.Fatalf("stats %+v: a connection after a malformed reply must not be kept", st)
			}
		})
	}
}

func TestRequestOnTheWire(t *testing.T) {
	addr, reqs := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false)
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/wsman?x=1", strings.NewReader("<e/>"))
	req.Header.Set("Authorization", "Basic abc")
	req.Header.Set("X-Evil", "a\r\nInjected: yes")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
	got := <-reqs
	for _, want := range []string{"POST /wsman?x=1 HTTP/1.1\r\n", "Host: " + addr + "\r\n", "Content-Length: 4\r\n", "Authorization: Basic abc\r\n", "X-Evil: a  Injected: yes\r\n", "\r\n\r\n<e/>"} {
		if !strings.Contains(got, want) {
			t.Errorf("request on the wire lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\r\nInjected:") {
		t.Errorf("a header value split the request:\n%s", got)
	}

	// A body of unknown length is measured before it is sent.
	req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")))
	req.ContentLength = 0
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := <-reqs; !strings.Contains(got, "Content-Length: 4\r\n") || !strings.HasSuffix(got, "abcd") {
		t.Errorf("unsized body on the wire:\n%s", got)
	}
	if st := tr.Stats(); st.Dialed != 1 {
		t.Errorf("stats %+v: want the connection reused", st)
	}
}

func TestExtraBytesAfterBodyCloseConnection(t *testing.T) {
	addr, reqs := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE", false)
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		<-reqs
	}
	if st := tr.Stats(); st.Dialed != 2 || st.Idle != 0 {
		t.Fatalf("stats %+v: a connection with unasked bytes must not be reused", st)
	}
}

// A response with both Content-Length and Transfer-Encoding: chunked is
// read as chunked, and its connection is closed, not reused (RFC 9112
// section 6.3), in either header order.
func TestLengthAndChunkedTogetherCloseTheConnection(t *testing.T) {
	for _, headers := range []string{
		"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
		"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
	} {
		addr, reqs := rawServer(t, "HTTP/1.1 200 OK\r\n"+headers+"\r\n5\r\nhello\r\n0\r\n\r\n", false)
		tr := &Transport{}
		for range 2 {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != "hello" || !resp.Close {
				t.Fatalf("%q: body %q, %v, Close %v; want the chunked body and the connection closed", headers, b, err, resp.Close)
			}
			<-reqs
		}
		if st := tr.Stats(); st.Dialed != 2 || st.Idle != 0 {
			t.Errorf("%q: stats %+v: the connection was reused", headers, st)
		}
	}
}

// ExchangeTimeout runs to the end of the body, not only the headers.
func TestExchangeTimeoutCoversTheBody(t *testing.T) {
	release := make(chan struct{})
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
		w.(http.Flusher).Flush()
		<-release
	})
	defer close(release)
	tr := &Transport{ExchangeTimeout: 100 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("headers: %v", err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("reading a stalled body: %v, want a timeout", err)
	}
}

func TestIdleTLSLimit(t *testing.T) {
	newTLS := func() *httptest.Server {
		srv := httptest.NewTLSServer(http.HandlerFunc(echo))
		t.Cleanup(srv.Close)
		return srv
	}
	a, b := newTLS(), newTLS()
	plain, _ := newServer(t, echo)
	pool := a.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	pool.AddCert(b.Certificate())
	cfg := &tls.Config{RootCAs: pool, ServerName: "example.com"}
	tr := &Transport{DialTLS: (&tls.Dialer{Config: cfg}).DialContext, MaxIdleTLSConns: 1, MaxIdleConns: 10}
	defer tr.CloseIdleConnections()
	for _, u := range []string{a.URL, plain.URL, b.URL} {
		if _, _, err := post(t, tr, context.Background(), u, "x"); err != nil {
			t.Fatal(err)
		}
	}
	st := tr.Stats()
	if st.Idle != 2 || st.Evicted != 1 {
		t.Fatalf("stats %+v; want b's TLS connection closed over the TLS limit, the plain one and a's kept", st)
	}
	tr.mu.Lock()
	plainKept, tlsKept := tr.lru[0].head, tr.lru[1].head
	tr.mu.Unlock()
	if plainKept == nil || tlsKept == nil || tlsKept.key.addr != strings.TrimPrefix(a.URL, "https://") {
		t.Fatalf("kept plain %v, TLS %v; want the plain connection and a's", plainKept, tlsKept)
	}
}

func TestContextDeadlineIsReportedAsSuch(t *testing.T) {
	release := make(chan struct{})
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	tr := &Transport{ExchangeTimeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := post(t, tr, ctx, srv.URL, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
}
