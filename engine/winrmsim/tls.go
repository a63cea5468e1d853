package winrmsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tls.go: the simulator's HTTPS listeners (WinRM's 5986). Each HTTPS
// host presents an ECDSA P-256 certificate for its hostname, signed by a
// CA the caller gives or the fleet generates, so a client's verification
// (chain, host name, expiry) is exercised for real. Knobs make chosen
// hosts present a certificate for another name or one that has expired.
// Certificates are made on a host's first connection, so a 10,000-host
// fleet with HTTPS starts as fast as one without.

// TLSOptions make hosts serve HTTPS instead of HTTP.
type TLSOptions struct {
	// CA signs the host certificates; nil: the fleet generates one (see
	// Fleet.CA).
	CA *CA
	// Hosts lists the hostnames that serve HTTPS; empty means every host.
	Hosts []string
	// WrongName lists hosts whose certificate is issued for another name
	// ("wrong-NAME.invalid"), as when a listener is bound to a certificate
	// of another machine.
	WrongName []string
	// Expired lists hosts whose certificate expired a day ago.
	Expired []string
}

// CA is a certificate authority for the simulator's HTTPS hosts.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	der  []byte
}

// NewCA generates a self-signed ECDSA P-256 CA valid for a year, named
// name (the certificate's common name).
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("winrmsim: ca key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"rmm simulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("winrmsim: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("winrmsim: ca certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, der: der}, nil
}

// CertPEM returns the CA certificate as PEM, what a client's CA bundle
// (winrm.ca_bundle) holds.
func (c *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})
}

// Pool returns a certificate pool holding only this CA.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}

// certKind is what certificate a host presents.
type certKind int

const (
	certGood certKind = iota
	certWrongName
	certExpired
)

// issue makes a leaf certificate for hostname, signed by the CA.
func (c *CA) issue(hostname string, kind certKind, fqdn string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key: %w", err)
	}
	now := time.Now()
	name := hostname
	notBefore, notAfter := now.Add(-time.Hour), now.Add(90*24*time.Hour)
	switch kind {
	case certWrongName:
		name = "wrong-" + strings.ToLower(hostname) + ".invalid"
	case certExpired:
		notBefore, notAfter = now.Add(-72*time.Hour), now.Add(-24*time.Hour)
	}
	names := []string{name}
	if fqdn != "" && kind != certWrongName {
		// A joined host's certificate is for its DNS name, the name the
		// client checks (and its SPN's) as well as its short name.
		names = append(names, fqdn)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, &key.PublicKey, c.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, c.der}, PrivateKey: key}, nil
}

// serial returns a random 128-bit certificate serial number.
func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128)) // crypto/rand does not fail
	return n
}

// fleetTLS is the fleet's HTTPS state: which hosts serve it, with what
// certificate, and the server configurations made so far.
type fleetTLS struct {
	ca      *CA
	all     bool
	https   map[string]bool
	kinds   map[string]certKind
	fqdns   map[string]string // a joined host's DNS name, also in its certificate
	mu      sync.Mutex
	configs map[string]*tls.Config // by hostname, made on first connection
}

// newFleetTLS checks the options against the fleet's hostnames.
func newFleetTLS(o *TLSOptions, known map[string]*host) (*fleetTLS, error) {
	t := &fleetTLS{ca: o.CA, all: len(o.Hosts) == 0, https: map[string]bool{}, kinds: map[string]certKind{},
		fqdns: map[string]string{}, configs: map[string]*tls.Config{}}
	for name, h := range known {
		if h.fqdn != "" {
			t.fqdns[name] = h.fqdn
		}
	}
	if t.ca == nil {
		ca, err := NewCA("rmm simulator test CA")
		if err != nil {
			return nil, err
		}
		t.ca = ca
	}
	if t.ca.Cert == nil || t.ca.Key == nil || len(t.ca.der) == 0 {
		return nil, errors.New("TLS.CA must come from NewCA")
	}
	for _, list := range []struct {
		names []string
		set   func(string)
	}{
		{o.Hosts, func(n string) { t.https[n] = true }},
		{o.WrongName, func(n string) { t.kinds[n] = certWrongName }},
		{o.Expired, func(n string) { t.kinds[n] = certExpired }},
	} {
		for _, n := range list.names {
			if _, ok := known[n]; !ok {
				return nil, fmt.Errorf("TLS: unknown host %q", n)
			}
			list.set(n)
		}
	}
	return t, nil
}

// serves reports whether the host serves HTTPS.
func (t *fleetTLS) serves(hostname string) bool {
	return t != nil && (t.all || t.https[hostname])
}

// serverConfig returns the host's TLS configuration, making its
// certificate on first use.
//
// Session resumption, as HTTP.sys (SChannel) on the host's Windows
// release does it, never more leniently. The evidence, all from
// Microsoft's documentation and code (none of it observed on a real host
// by this project):
//
//   - TLS 1.3 is on by default from Windows 11 and Server 2022 (build
//     20348); Windows 10 and Server 2016/2019 stop at TLS 1.2, so such
//     hosts negotiate 1.2 here too.
//   - SChannel keeps a server-side session cache. An entry lives
//     ServerCacheTime (HKLM\...\SecurityProviders\SCHANNEL), 10 hours
//     (36,000,000 ms) by default ("Configure the TLS Handle Expiry Time
//     on NPS Servers", Windows Server 2008-2012 docs), and the cache holds
//     MaximumCacheSize entries, 20,000 by default ("Transport Layer
//     Security (TLS) registry settings"), for the whole machine.
//   - Over TLS 1.3 SChannel resumes from that cache: its tickets are
//     handles into it unless an application asks for encrypted,
//     stateless ones (microsoft/msquic#1325: "By default, Schannel wasn't
//     actually using encrypted session tickets for resumption"). The
//     simulator's tickets are such handles: a random id, the state kept
//     at the host (tlsSessions) at most tlsSessionLifetime, at most
//     tlsSessionsPerHost of them, each taken once, all lost when the
//     process (the "machine") restarts.
//   - Over TLS 1.2, HTTP.sys sends RFC 5077 session tickets only on a
//     binding made with HTTP_SERVICE_CONFIG_SSL_FLAG_ENABLE_SESSION_TICKET
//     (HTTP_SERVICE_CONFIG_SSL_PARAM.DefaultFlags) and a key from
//     Enable-TlsSessionTicketKey; WinRM makes its listener's binding
//     without it, so no ticket is issued. SChannel still resumes by
//     session ID, which Go's crypto/tls implements on neither side: the
//     simulator resumes no TLS 1.2 session, which is stricter.
func (t *fleetTLS) serverConfig(h *host) (*tls.Config, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.configs[h.name]; ok {
		return c, nil
	}
	cert, err := t.ca.issue(h.name, t.kinds[h.name], t.fqdns[h.name])
	if err != nil {
		return nil, fmt.Errorf("winrmsim: %s: %w", h.name, err)
	}
	count := func(cs tls.ConnectionState) error {
		if cs.DidResume {
			h.stats.tlsResumed.Add(1)
		} else {
			h.stats.tlsFull.Add(1)
		}
		return nil
	}
	// HTTP/1.1 only, as HTTP.sys serves WinRM; TLS 1.2 and up, as
	// current Windows does; 1.3 where the release has it on. The key
	// exchange groups are SChannel's defaults (curve25519, NIST P-256,
	// P-384: "TLS Elliptic Curves in Windows 10 1607 and later",
	// learn.microsoft.com): no ML-KEM hybrid, which Go offers first and
	// the released Windows Server versions do not negotiate.
	base := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}, VerifyConnection: count}
	if !hasTLS13(h) {
		base.MaxVersion = tls.VersionTLS12
	}
	// TLS 1.2 handshakes: no ticket (see above).
	c12 := base.Clone()
	c12.SessionTicketsDisabled = true
	// TLS 1.3 handshakes: tickets that are handles into the host's cache.
	store := &tlsSessions{byID: make(map[string]tlsSession)}
	c13 := base.Clone()
	c13.WrapSession = store.wrap
	c13.UnwrapSession = store.unwrap
	c := base.Clone()
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if base.MaxVersion != tls.VersionTLS12 && slices.Contains(hello.SupportedVersions, tls.VersionTLS13) {
			return c13, nil
		}
		return c12, nil
	}
	t.configs[h.name] = c
	return c, nil
}

// hasTLS13 reports whether the host's Windows release serves TLS 1.3 by
// default: build 20348 (Server 2022) and later, Windows 11 included.
func hasTLS13(h *host) bool {
	if h.release == nil {
		return true
	}
	parts := strings.Split(h.release.version, ".")
	if len(parts) < 3 {
		return true
	}
	build, err := strconv.Atoi(parts[2])
	return err != nil || build >= 20348
}

const (
	// tlsSessionLifetime is how long a host accepts a session for
	// resumption: SChannel's ServerCacheTime default.
	tlsSessionLifetime = 10 * time.Hour
	// tlsSessionsPerHost bounds a host's session cache (Windows':
	// 20,000 entries for the machine); the oldest go first.
	tlsSessionsPerHost = 16
)

// tlsSessions is one host's server-side TLS session cache.
type tlsSessions struct {
	mu    sync.Mutex
	byID  map[string]tlsSession
	order []string // ids, oldest first (some already used)
}

type tlsSession struct {
	state []byte // SessionState.Bytes
	made  time.Time
}

// wrap keeps a new session and returns its handle, the ticket.
func (s *tlsSessions) wrap(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	b, err := ss.Bytes()
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id) // crypto/rand does not fail
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[string(id)] = tlsSession{state: b, made: time.Now()}
	s.order = append(s.order, string(id))
	for len(s.byID) > tlsSessionsPerHost {
		delete(s.byID, s.order[0])
		s.order = s.order[1:]
	}
	if len(s.order) > 4*tlsSessionsPerHost {
		s.order = slices.DeleteFunc(s.order, func(id string) bool { _, ok := s.byID[id]; return !ok })
	}
	return id, nil
}

// unwrap returns the session a ticket names, once, while it lives; nil
// (a full handshake) for any other ticket.
func (s *tlsSessions) unwrap(id []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
	s.mu.Lock()
	e, ok := s.byID[string(id)]
	delete(s.byID, string(id))
	s.mu.Unlock()
	if !ok || time.Since(e.made) > tlsSessionLifetime {
		return nil, nil
	}
	ss, err := tls.ParseSessionState(e.state)
	if err != nil {
		return nil, nil //nolint:nilerr // an unreadable ticket is no ticket: a full handshake
	}
	return ss, nil
}

// wrapConn puts TLS on an accepted connection of an HTTPS host; other
// hosts' connections are returned as they are.
func (f *Fleet) wrapConn(h *host, c net.Conn) (net.Conn, error) {
	if !f.tls.serves(h.name) {
		return c, nil
	}
	cfg, err := f.tls.serverConfig(h)
	if err != nil {
		return nil, err
	}
	return tls.Server(c, cfg), nil
}

// CA returns the CA that signs the HTTPS hosts' certificates, or nil when
// no host serves HTTPS.
func (f *Fleet) CA() *CA {
	if f.tls == nil {
		return nil
	}
	return f.tls.ca
}

// transport is what a host's listener speaks: "https" or "http".
func (f *Fleet) transport(hostname string) string {
	if f.tls.serves(hostname) {
		return "https"
	}
	return "http"
}
