package h1

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// tlsPair is two TLS test servers and a transport that trusts both and
// keeps at most one idle TLS connection.
func tlsPair(t *testing.T) (a, b *httptest.Server, conns [2]*connCounter, tr *Transport) {
	t.Helper()
	var srvs [2]*httptest.Server
	for i := range srvs {
		var cc connCounter
		srv := httptest.NewUnstartedServer(http.HandlerFunc(echo))
		srv.Config.ConnState = cc.hook
		srv.StartTLS()
		t.Cleanup(srv.Close)
		srvs[i], conns[i] = srv, &cc
	}
	pool := srvs[0].Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	pool.AddCert(srvs[1].Certificate())
	cfg := &tls.Config{RootCAs: pool, ServerName: "example.com"}
	tr = &Transport{DialTLS: (&tls.Dialer{Config: cfg}).DialContext, MaxIdleTLSConns: 1, MaxIdleConns: 10}
	t.Cleanup(tr.CloseIdleConnections)
	return srvs[0], srvs[1], conns, tr
}

func TestAPinKeepsTheConnectionFromOneRequestToTheNextPastTheIdleTLSLimit(t *testing.T) {
	a, b, conns, tr := tlsPair(t)
	// a's connection fills the idle TLS limit (1).
	if _, _, err := post(t, tr, context.Background(), a.URL, "x"); err != nil {
		t.Fatal(err)
	}
	// Two requests to b under one pin, as a poll's Send and Receive: one
	// connection, though no idle TLS connection may be added.
	ctx, pin := WithPin(context.Background())
	for _, body := range []string{"send", "receive"} {
		if _, _, err := post(t, tr, ctx, b.URL, body); err != nil {
			t.Fatal(err)
		}
	}
	if got := conns[1].n.Load(); got != 1 {
		t.Fatalf("b accepted %d connections for two pinned requests, want 1", got)
	}
	if !pin.Pinned() {
		t.Fatal("the pin holds no connection after its requests")
	}
	st := tr.Stats()
	if st.Pinned != 1 || st.Idle != 1 || st.Evicted != 0 {
		t.Fatalf("stats %+v; want 1 request on the pinned connection, a's idle, none evicted yet", st)
	}
	// Released, b's connection is handed to the idle list, which is full.
	pin.Release(true)
	if st := tr.Stats(); st.Idle != 1 || st.Evicted != 1 {
		t.Fatalf("after release: stats %+v; want the limit applied (1 idle, 1 evicted)", st)
	}
}

func TestWithoutAPinTheSecondRequestOverTheIdleTLSLimitDialsAgain(t *testing.T) {
	a, b, conns, tr := tlsPair(t)
	if _, _, err := post(t, tr, context.Background(), a.URL, "x"); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"send", "receive"} {
		if _, _, err := post(t, tr, context.Background(), b.URL, body); err != nil {
			t.Fatal(err)
		}
	}
	if got := conns[1].n.Load(); got != 2 {
		t.Fatalf("b accepted %d connections, want 2 (the baseline the pin improves on)", got)
	}
}

func TestAPinReleasedWithoutKeepClosesItsConnection(t *testing.T) {
	srv, conns := newServer(t, echo)
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	ctx, pin := WithPin(context.Background())
	if _, _, err := post(t, tr, ctx, srv.URL, "x"); err != nil {
		t.Fatal(err)
	}
	pin.Release(false)
	if st := tr.Stats(); st.Idle != 0 || st.Unkept != 1 {
		t.Fatalf("stats %+v; want no idle connection and 1 unkept", st)
	}
	if _, _, err := post(t, tr, context.Background(), srv.URL, "y"); err != nil {
		t.Fatal(err)
	}
	if got := conns.n.Load(); got != 2 {
		t.Fatalf("server saw %d connections, want 2", got)
	}
}

func TestAHeldConnectionGoesBackToThePinOfItsAcquireContext(t *testing.T) {
	a, b, conns, tr := tlsPair(t)
	if _, _, err := post(t, tr, context.Background(), a.URL, "x"); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(b.URL + "/wsman")
	ctx, pin := WithPin(context.Background())
	defer pin.Release(true)
	for i, body := range []string{"first", "second"} {
		h, err := tr.Acquire(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			h.SetState("security context")
		} else if h.State() != "security context" {
			t.Fatalf("the second Acquire got state %v, want the first's connection", h.State())
		}
		heldExchange(t, h, u.String(), body)
		h.Release()
	}
	if got := conns[1].n.Load(); got != 1 {
		t.Fatalf("b accepted %d connections, want 1", got)
	}
}
