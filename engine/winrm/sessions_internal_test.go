package winrm

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// dialOnce connects to srv with cache, sends one request and reads the
// answer (a TLS 1.3 ticket arrives before it), and reports whether the
// handshake resumed.
func dialOnce(t *testing.T, srv *httptest.Server, cache tls.ClientSessionCache) bool {
	t.Helper()
	cfg := &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "example.com", ClientSessionCache: cache}
	c, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "https://"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(c)
	return c.ConnectionState().DidResume
}

func TestTheSessionStoreResumesFromItsSerializedSessionsAndKeepsAtMostItsBound(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	store := newSessionStore(2)
	addr := strings.TrimPrefix(srv.URL, "https://")
	cache := sessionCache{store: store, addr: addr}
	if dialOnce(t, srv, cache) {
		t.Fatal("the first connection resumed")
	}
	if store.len() != 1 {
		t.Fatalf("%d sessions kept after one connection, want 1", store.len())
	}
	if !dialOnce(t, srv, cache) {
		t.Fatal("the second connection did not resume the kept session")
	}
	// The same host under another address is another key: no session.
	if dialOnce(t, srv, sessionCache{store: store, addr: "127.0.0.2:1"}) {
		t.Fatal("a session was used for another address")
	}
	// Touch addr's session; a third key then drops the least recently
	// used: the other address's.
	if _, ok := store.get(addr + "|example.com"); !ok {
		t.Fatal("addr's session is gone")
	}
	dialOnce(t, srv, sessionCache{store: store, addr: "127.0.0.3:1"})
	if store.len() != 2 {
		t.Fatalf("%d sessions kept, want the bound 2", store.len())
	}
	if _, ok := store.get("127.0.0.2:1|example.com"); ok {
		t.Fatal("the least recently used session was kept over the bound")
	}
	if _, ok := store.get(addr + "|example.com"); !ok {
		t.Fatal("a recently used session was dropped")
	}
}

func TestAHostThatPrefersTheMLKEMHybridStillGetsIt(t *testing.T) {
	// httptest's server is Go's, which prefers X25519MLKEM768: the
	// profiles offer it (post-quantum protection of the credentials where
	// a host has it).
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	s := newHTTPClient(1, 1, 0, time.Second).Transport.(*transportSet)
	p, err := s.profile(tlsKey{insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.dialTLS(t.Context(), "tcp", strings.TrimPrefix(srv.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.(*tls.Conn).ConnectionState().CurveID; got != tls.X25519MLKEM768 {
		t.Fatalf("negotiated %v, want X25519MLKEM768", got)
	}
}
