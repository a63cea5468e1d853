package notify

// Real receivers on 127.0.0.1 for the channel tests: an SMTP server
// (emersion/go-smtp) with STARTTLS or implicit TLS and PLAIN
// authentication, and HTTP receivers that keep every request.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert makes a self-signed certificate for 127.0.0.1 and localhost and
// writes it as a CA bundle; it returns the server's TLS config and the
// bundle's path.
func testCert(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rmm test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, path
}

// mailbox is an SMTP server's received mail.
type mailbox struct {
	mu    sync.Mutex
	mails []receivedMail
	// failNext refuses that many DATA commands with a 451 first.
	failNext int
}

type receivedMail struct {
	From   string
	To     []string
	Data   []byte
	User   string // who authenticated, "" for nobody
	TLS    bool   // the session was encrypted
	AuthOK bool
}

func (b *mailbox) all() []receivedMail {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]receivedMail(nil), b.mails...)
}

// smtpSession requires PLAIN authentication as user/pass before MAIL.
type smtpSession struct {
	box        *mailbox
	conn       *smtp.Conn
	user, pass string
	cur        receivedMail
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.user || password != s.pass {
			return errors.New("invalid credentials")
		}
		s.cur.User, s.cur.AuthOK = username, true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user != "" && !s.cur.AuthOK {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	s.cur.From = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.cur.TLS = s.conn.TLSConnectionState()
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	if s.box.failNext > 0 {
		s.box.failNext--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m := s.cur
	m.Data = b
	s.box.mails = append(s.box.mails, m)
	return nil
}

func (s *smtpSession) Reset() {
	user, ok := s.cur.User, s.cur.AuthOK
	s.cur = receivedMail{User: user, AuthOK: ok}
}

func (s *smtpSession) Logout() error { return nil }

// smtpServer starts an SMTP server on 127.0.0.1 wanting user/pass (none
// when user is ""). implicit serves TLS from the first byte; else the
// server offers STARTTLS. It returns the port.
func smtpServer(t *testing.T, box *mailbox, cfg *tls.Config, implicit bool, user, pass string) int {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{box: box, conn: c, user: user, pass: pass}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = cfg
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = false
	var l net.Listener
	var err error
	if implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

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
