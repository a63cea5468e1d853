package h1

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// heldExchange sends one POST on a held connection and reads the body.
func heldExchange(t *testing.T, h *Conn, rawURL, body string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.RoundTrip(req)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAHeldConnectionKeepsItsStateWhileIdleAndServesSeveralExchanges(t *testing.T) {
	srv, conns := newServer(t, echo)
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	u, _ := url.Parse(srv.URL + "/wsman")

	h, err := tr.Acquire(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if h.Reused() || h.State() != nil {
		t.Fatalf("a new connection: reused %v, state %v", h.Reused(), h.State())
	}
	heldExchange(t, h, u.String(), "handshake")
	heldExchange(t, h, u.String(), "first")
	h.SetState("context-1")
	h.Release()

	h, err = tr.Acquire(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Reused() || h.State() != "context-1" {
		t.Fatalf("the kept connection: reused %v, state %v; want reused with context-1", h.Reused(), h.State())
	}
	if got := heldExchange(t, h, u.String(), "second"); got != "POST /wsman 6 second" {
		t.Fatalf("answer %q", got)
	}
	h.Release()
	if n := conns.n.Load(); n != 1 {
		t.Fatalf("the server saw %d connections; want 1", n)
	}
}

func TestADiscardedOrBrokenHeldConnectionIsClosedWithItsState(t *testing.T) {
	srv, conns := newServer(t, echo)
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	u, _ := url.Parse(srv.URL + "/wsman")

	h, _ := tr.Acquire(context.Background(), u)
	heldExchange(t, h, u.String(), "x")
	h.SetState("old")
	h.Discard()
	h.Release()
	h, _ = tr.Acquire(context.Background(), u)
	if h.Reused() || h.State() != nil {
		t.Fatalf("after Discard: reused %v, state %v; want a new connection without state", h.Reused(), h.State())
	}
	// A body closed before its end leaves the connection unusable.
	req, _ := http.NewRequest(http.MethodPost, u.String(), strings.NewReader("y"))
	resp, err := h.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.RoundTrip(req); !errors.Is(err, ErrConnBusy) {
		t.Fatalf("a second exchange before the body was read: %v; want ErrConnBusy", err)
	}
	resp.Body.Close()
	h.SetState("lost")
	h.Release()
	h, _ = tr.Acquire(context.Background(), u)
	defer h.Release()
	if h.Reused() || h.State() != nil {
		t.Fatalf("after an unread body: reused %v, state %v; want a new connection", h.Reused(), h.State())
	}
	heldExchange(t, h, u.String(), "z")
	if n := conns.n.Load(); n != 3 {
		t.Fatalf("the server saw %d connections; want 3", n)
	}
}
