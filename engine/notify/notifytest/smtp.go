// Package notifytest has the real receivers rmm's notification tests
// send to: an SMTP server on 127.0.0.1 (emersion/go-smtp) with STARTTLS or
// implicit TLS and PLAIN authentication, and its self-signed certificate.
// Like net/http/httptest, it is for tests only.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Cert makes a self-signed certificate for 127.0.0.1 and localhost and
// writes it as a CA bundle; it returns the server's TLS config and the
// bundle's path.
func Cert(t testing.TB) (*tls.Config, string) {
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

// Mailbox is an SMTP server's received mail.
type Mailbox struct {
	mu    sync.Mutex
	mails []Mail
	// FailNext refuses that many DATA commands with a 451 first.
	FailNext int
}

// Mail is one received message.
type Mail struct {
	From   string
	To     []string
	Data   []byte
	User   string // who authenticated, "" for nobody
	TLS    bool   // the session was encrypted
	AuthOK bool
}

// All returns the mail received so far.
func (b *Mailbox) All() []Mail {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Mail(nil), b.mails...)
}

// smtpSession requires PLAIN authentication as user/pass before MAIL.
type smtpSession struct {
	box        *Mailbox
	conn       *smtp.Conn
	user, pass string
	cur        Mail
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
	if s.box.FailNext > 0 {
		s.box.FailNext--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m := s.cur
	m.Data = b
	s.box.mails = append(s.box.mails, m)
	return nil
}

func (s *smtpSession) Reset() {
	user, ok := s.cur.User, s.cur.AuthOK
	s.cur = Mail{User: user, AuthOK: ok}
}

func (s *smtpSession) Logout() error { return nil }

// SMTPServer starts an SMTP server on 127.0.0.1 wanting user/pass (none
// when user is ""). implicit serves TLS from the first byte; else the
// server offers STARTTLS. It returns the port.
func SMTPServer(t testing.TB, box *Mailbox, cfg *tls.Config, implicit bool, user, pass string) int {
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
