package notify

// HTTP receivers on 127.0.0.1 that keep every request (the SMTP server is
// notifytest's).

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// httpReceiver keeps every request it gets; status answers each (200
// when nil).
type httpReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []receivedRequest
	status func(n int) int // n counts from 1
}

type receivedRequest struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newReceiver(t *testing.T, status func(n int) int) *httpReceiver {
	t.Helper()
	r := &httpReceiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, receivedRequest{Path: req.URL.RequestURI(), Header: req.Header.Clone(), Body: body})
		n := len(r.reqs)
		r.mu.Unlock()
		code := http.StatusOK
		if r.status != nil {
			code = r.status(n)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, strconv.Itoa(code))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *httpReceiver) got() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedRequest(nil), r.reqs...)
}

// fixedSecrets is a Secrets from a map name -> [user, secret].
type fixedSecrets map[string][2]string

func (f fixedSecrets) Secret(_ context.Context, name string) (string, string, error) {
	v, ok := f[name]
	if !ok {
		return "", "", ErrNoSecret
	}
	return v[0], v[1], nil
}

// indentJSON pretty-prints a JSON text, for golden files and diffs.
func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("not JSON %q: %v", b, err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}
