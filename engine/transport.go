package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/go-ntlmssp"
	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"

	"github.com/rmmhq/rmm/engine/h1"
	"github.com/rmmhq/rmm/store"
)

// WS-Management fault codes the engine decides on. Decisions use these
// numbers, never the message text (which Windows localises).
const (
	FaultShellNotFound   = 2150858843 // the shell id is unknown (reboot, idle expiry, deleted)
	FaultTimedOut        = 2150858793 // a Receive found no output within OperationTimeout
	FaultShellQuota      = 2150859173 // MaxShellsPerUser reached
	FaultOperationsQuota = 2150859174 // MaxConcurrentOperationsPerUser reached
	FaultEnvelopeTooBig  = 0x80338111 // MaxEnvelopeSize exceeded
)

// maxResponseBytes bounds what one WS-Man response may hold; Windows'
// default MaxEnvelopeSizekb is 500.
const maxResponseBytes = 8 << 20

// HTTPError is a WS-Man endpoint's non-200 answer. Fault is set when the
// body carried a WS-Management fault.
type HTTPError struct {
	Status int
	Fault  *Fault
	Offers []string // on a 401: the authentication schemes the host offers (WWW-Authenticate), when known
}

// Fault is the part of a WS-Management SOAP fault the engine uses.
type Fault struct {
	Code    uint64 // WSManFault Code, e.g. 2150858843; 0 when absent
	Subcode string // e.g. "w:TimedOut"
	Message string
}

// faultNames are the faults the engine acts on, named for error text.
var faultNames = map[uint64]string{
	FaultShellNotFound:   "shell not found",
	FaultTimedOut:        "operation timed out",
	FaultShellQuota:      "shell quota exceeded",
	FaultOperationsQuota: "operations quota exceeded",
	FaultEnvelopeTooBig:  "envelope too large",
}

func (e *HTTPError) Error() string {
	if e.Fault == nil {
		if len(e.Offers) > 0 {
			return fmt.Sprintf("HTTP %d %s (the host offers %s)", e.Status, http.StatusText(e.Status), strings.Join(e.Offers, ", "))
		}
		return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if name, ok := faultNames[e.Fault.Code]; ok {
		return fmt.Sprintf("%s (%d)", name, e.Fault.Code)
	}
	if e.Fault.Code != 0 {
		return fmt.Sprintf("HTTP %d: WS-Man fault %d: %s", e.Status, e.Fault.Code, e.Fault.Message)
	}
	return fmt.Sprintf("HTTP %d: WS-Man fault %s: %s", e.Status, e.Fault.Subcode, e.Fault.Message)
}

var (
	faultCodeRE    = regexp.MustCompile(`<(?:\w+:)?WSManFault\b[^>]*\bCode="(\d+)"`)
	faultMessageRE = regexp.MustCompile(`(?s)<(?:\w+:)?Message>(.*?)</(?:\w+:)?Message>`)
	faultReasonRE  = regexp.MustCompile(`(?s)<(?:\w+:)?Reason>\s*<(?:\w+:)?Text[^>]*>(.*?)</`)
	faultSubRE     = regexp.MustCompile(`(?s)<(?:\w+:)?Subcode>\s*<(?:\w+:)?Value>(.*?)</`)
	tagRE          = regexp.MustCompile(`<[^>]*>`)
)

// parseFault extracts a WS-Man fault from a SOAP body, or returns nil.
func parseFault(body string) *Fault {
	if !strings.Contains(body, "Fault") {
		return nil
	}
	f := &Fault{}
	if m := faultCodeRE.FindStringSubmatch(body); m != nil {
		f.Code, _ = strconv.ParseUint(m[1], 10, 64)
	}
	if m := faultSubRE.FindStringSubmatch(body); m != nil {
		f.Subcode = strings.TrimSpace(m[1])
	}
	if m := faultMessageRE.FindStringSubmatch(body); m != nil {
		f.Message = xmlText(m[1])
	} else if m := faultReasonRE.FindStringSubmatch(body); m != nil {
		f.Message = xmlText(m[1])
	}
	if f.Code == 0 && f.Subcode == "" && f.Message == "" {
		return nil
	}
	return f
}

// xmlText strips inner tags and collapses whitespace, enough for a message.
func xmlText(s string) string {
	s = tagRE.ReplaceAllString(s, "")
	s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&amp;", "&").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// newHTTPClient builds the HTTP client WinRM traffic shares. Basic
// traffic (every pooled shell's Send and Receive, and masterzen/winrm's
// Basic requests) goes through h1.Transport: one keep-alive connection
// per host that costs a socket and no goroutine or buffer while idle, so
// a sweep over 10,000 hosts finds each host's connection from the last
// sweep instead of dialing again (net/http keeps two goroutines and
// ~30 KB per idle connection, which does not fit 10,000 hosts in the
// memory budget). Idle connections are bounded by the file descriptors
// the process may open, and by idleTLSConns over TLS, whose idle state
// keeps record buffers. NTLM keeps net/http's transport: its handshake
// is bound to a connection, which go-ntlmssp's Negotiator drives.
//
// Response headers may take the WS-Man OperationTimeout (a Receive
// long-polls that long) plus a margin; the request's context ends an
// exchange sooner.
func newHTTPClient(throttle, perHost, maxIdle int, timeout time.Duration) *http.Client {
	// No TCP keep-alive probes: every request has a deadline and a
	// Receive long-polls for at most the OperationTimeout, so HTTP finds a
	// dead peer first; the probes' setsockopt calls cost every new
	// connection.
	//
	// Its transport is a transportSet: HTTPS devices get the transports of
	// their TLS configuration (see transportFor), each made once with
	// these settings.
	dialer := &net.Dialer{Timeout: min(timeout, 10*time.Second), KeepAlive: -1}
	idle := idleConnBudget(throttle, perHost)
	if maxIdle > 0 {
		idle = min(idle, maxIdle)
	}
	s := &transportSet{
		newTransport: func() *http.Transport {
			return &http.Transport{
				Proxy:                 nil, // WinRM endpoints are reached directly, never through HTTP_PROXY
				DialContext:           dialer.DialContext,
				MaxIdleConns:          max(throttle+4*perHost, 64),
				MaxIdleConnsPerHost:   max(perHost, 2),
				IdleConnTimeout:       90 * time.Second,
				TLSHandshakeTimeout:   10 * time.Second,
				ResponseHeaderTimeout: httpHeaderTimeout,
				ForceAttemptHTTP2:     false, // WinRM speaks HTTP/1.1
				DisableCompression:    true,  // WinRM never compresses; skip the gzip header and reader
			}
		},
		newLean: func(dialTLS func(context.Context, string, string) (net.Conn, error)) *h1.Transport {
			return &h1.Transport{
				Dial:                  dialer.DialContext,
				DialTLS:               dialTLS,
				MaxIdleConns:          idle,
				MaxIdleTLSConns:       idleTLSConns,
				MaxIdleConnsPerHost:   max(perHost, 2),
				IdleConnTimeout:       idleConnTimeout,
				ResponseHeaderTimeout: httpHeaderTimeout,
			}
		},
		profiles: make(map[tlsKey]*tlsProfile),
	}
	s.def, _ = s.profile(tlsKey{}) // no CA bundle to read: no error
	return &http.Client{Transport: s}
}

// idleConnTimeout closes a connection idle this long: below HTTP.sys's
// 120 s, so a request seldom meets a connection the host is closing,
// and above the poll intervals people use, so polls reuse connections.
const idleConnTimeout = 110 * time.Second

// idleTLSConns bounds idle TLS connections: each keeps its record
// buffers (~20 KB), so 4,096 of them cost some 80 MB. Beyond that many
// HTTPS hosts, polls open new connections (a TLS handshake each).
const idleTLSConns = 4096

// idleConnBudget is how many idle connections the process may keep: the
// file descriptors it may open, less a reserve for the database, logs,
// SSH sessions and the connections of requests in flight.
func idleConnBudget(throttle, perHost int) int {
	reserve := 512 + 2*throttle*max(perHost, 1)
	return min(max(OpenFileLimit()-reserve, 64), 1<<16)
}

// soapTransport is the winrm.Transporter the engine hands to
// masterzen/winrm: it posts through the shared client, honours the
// caller's context and returns typed errors (HTTPError) so errors are
// classed on status and fault codes.
type soapTransport struct {
	ctx      context.Context
	client   *http.Client
	url      string
	user     string
	password string
}

var _ winrm.Transporter = (*soapTransport)(nil)

// Transport is called by winrm.NewClientWithParameters; the shared client
// is already configured.
func (t *soapTransport) Transport(*winrm.Endpoint) error { return nil }

// Post sends one SOAP envelope and returns the response body.
func (t *soapTransport) Post(_ *winrm.Client, msg *soap.SoapMessage) (string, error) {
	body := msg.String()
	ctx := t.ctx
	// Cleanup (Signal, Delete) must reach the host even when the caller's
	// context is already cancelled, or the host keeps the shell.
	if strings.Contains(body, "/shell/Signal<") || strings.Contains(body, "/transfer/Delete<") {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(t.user, t.password)
	resp, err := t.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		he := &HTTPError{Status: resp.StatusCode, Fault: parseFault(string(b))}
		if resp.StatusCode == http.StatusUnauthorized {
			for _, v := range resp.Header.Values("Www-Authenticate") {
				if scheme, _, _ := strings.Cut(v, " "); scheme != "" {
					he.Offers = append(he.Offers, scheme)
				}
			}
		}
		return "", he
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "application/soap+xml") {
		return "", fmt.Errorf("response content type %q is not application/soap+xml", ct)
	}
	return string(b), nil
}

// TransportOptions are the engine-wide WinRM transport settings (the
// winrm: section of the config). Per-device settings (auth, CA bundle,
// insecure skip, allow unencrypted) come from the device record.
type TransportOptions struct {
	// CABundle is a PEM file of the CAs trusted for HTTPS endpoints whose
	// device names none (winrm.ca_bundle); empty: the system's trust
	// store. A bundle replaces the system store for those devices.
	CABundle string
	Kerberos KerberosOptions
}

// KerberosOptions configure auth kerberos (masterzen/winrm's Kerberos
// transport, gokrb5). The KDC is found through krb5.conf.
type KerberosOptions struct {
	Realm    string // winrm.kerberos_realm; default: the user's domain, upper-cased
	Krb5Conf string // winrm.krb5_conf; default /etc/krb5.conf
	CCache   string // winrm.kerberos_ccache: a ticket cache to use instead of the password
}

// DefaultKrb5Conf is where the Kerberos configuration is read from when
// winrm.krb5_conf is not set.
const DefaultKrb5Conf = "/etc/krb5.conf"

// transportSet is the engine's HTTP client state: one http.Transport per
// distinct TLS configuration (trusted CAs, verification on or off),
// made on first use and kept, so connections are reused across polls and
// a fleet with one CA bundle has one transport whatever its size. It is
// the RoundTripper of the engine's shared client, which uses the system
// trust store.
type transportSet struct {
	newTransport func() *http.Transport
	newLean      func(dialTLS func(context.Context, string, string) (net.Conn, error)) *h1.Transport
	opts         atomic.Pointer[TransportOptions]

	mu       sync.RWMutex
	profiles map[tlsKey]*tlsProfile
	def      *tlsProfile // system trust store, verification on

	insecureSeen sync.Map // hostname -> struct{}: insecure skip logged and audited once per process
}

// tlsKey identifies a TLS configuration: the CA bundle file ("" for the
// system store) and whether verification is skipped.
type tlsKey struct {
	caBundle string
	insecure bool
}

// tlsProfile is one TLS configuration and the clients that use it.
type tlsProfile struct {
	key    tlsKey
	caPEM  []byte // the bundle's content, for masterzen's transports
	cfg    *tls.Config
	tr     *http.Transport // NTLM's
	lean   *h1.Transport   // Basic's
	client *http.Client    // Basic: the Authorization header is set per request
	ntlm   *http.Client    // NTLM over HTTPS: go-ntlmssp's Negotiator, as masterzen's ClientNTLM
	dialer *net.Dialer
	names  sync.Map // "host:port" -> the TLS server name to verify
}

// RoundTrip sends through the default profile (system trust store).
func (s *transportSet) RoundTrip(req *http.Request) (*http.Response, error) {
	return s.def.lean.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of every profile.
func (s *transportSet) CloseIdleConnections() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.profiles {
		p.tr.CloseIdleConnections()
		p.lean.CloseIdleConnections()
	}
}

// connStats adds up the Basic transports' connection counters.
func (s *transportSet) connStats() h1.Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var sum h1.Stats
	for _, p := range s.profiles {
		st := p.lean.Stats()
		sum.Dialed += st.Dialed
		sum.Reused += st.Reused
		sum.Stale += st.Stale
		sum.Evicted += st.Evicted
		sum.Idle += st.Idle
	}
	return sum
}

// profile returns the profile for key, making it on first use. A CA
// bundle that cannot be read is an error each time (it is not kept, so
// a fixed file works without a restart).
func (s *transportSet) profile(key tlsKey) (*tlsProfile, error) {
	s.mu.RLock()
	p, ok := s.profiles[key]
	s.mu.RUnlock()
	if ok {
		return p, nil // every poll of an HTTPS device: no write lock
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.profiles[key]; ok {
		return p, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: key.insecure} //nolint:gosec // per device, logged and audited
	var caPEM []byte
	if key.caBundle != "" {
		b, err := os.ReadFile(key.caBundle)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA bundle %s: no PEM certificate in it", key.caBundle)
		}
		cfg.RootCAs, caPEM = pool, b
	}
	tr := s.newTransport()
	p = &tlsProfile{key: key, caPEM: caPEM, cfg: cfg, tr: tr, dialer: &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}}
	tr.DialTLSContext = p.dialTLS
	p.lean = s.newLean(p.dialTLS)
	p.client = &http.Client{Transport: p.lean}
	p.ntlm = &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: tr}}
	s.profiles[key] = p
	return p, nil
}

// dialTLS connects and verifies the certificate against the device's
// name (its FQDN or hostname, registered in names), not the address
// dialed, which is often an IP.
func (p *tlsProfile) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	name, _, _ := net.SplitHostPort(addr)
	if v, ok := p.names.Load(addr); ok {
		name = v.(string)
	}
	cfg := p.cfg.Clone()
	cfg.ServerName = name
	cfg.NextProtos = []string{"http/1.1"}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second+p.dialer.Timeout)
	defer cancel()
	c, err := (&tls.Dialer{NetDialer: p.dialer, Config: cfg}).DialContext(hctx, network, addr)
	if err != nil {
		return nil, tlsFailure(name, p.key, err)
	}
	return c, nil
}

// TLSError is a TLS handshake that failed verification, with the reason
// in the admin's words. It unwraps to the crypto/x509 error, so it is
// classed Configuration.
type TLSError struct {
	Name   string // the name the certificate was checked against
	Reason string // e.g. "signed by an unknown authority"
	Fix    string
	Err    error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS: the certificate of %s %s; %s", e.Name, e.Reason, e.Fix)
}

func (e *TLSError) Unwrap() error { return e.Err }

// tlsFailure turns a verification failure into a *TLSError; other
// errors (refused, reset) are returned as they are.
func tlsFailure(name string, key tlsKey, err error) error {
	var (
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	trust := "the system trust store"
	if key.caBundle != "" {
		trust = "CA bundle " + key.caBundle
	}
	switch {
	case errors.As(err, &unknown):
		issuer := ""
		if unknown.Cert != nil {
			issuer = " (" + unknown.Cert.Issuer.CommonName + ")"
		}
		return &TLSError{Name: name, Reason: "is signed by an unknown authority" + issuer + ", not by " + trust,
			Fix: "set winrm.ca_bundle or the device's CABundle to the issuing CA's PEM file", Err: err}
	case errors.As(err, &host):
		names := "no DNS name"
		if host.Certificate != nil && len(host.Certificate.DNSNames) > 0 {
			names = strings.Join(host.Certificate.DNSNames, ", ")
		}
		return &TLSError{Name: name, Reason: "is for " + names + ": wrong host name",
			Fix: "put the name the certificate holds in the FQDN column, or reissue the certificate for " + name, Err: err}
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		when := ""
		if invalid.Cert != nil {
			when = " on " + invalid.Cert.NotAfter.UTC().Format("2006-01-02")
		}
		return &TLSError{Name: name, Reason: "expired" + when,
			Fix: "renew it and rebind the HTTPS listener (see rmm doctor)", Err: err}
	case errors.As(err, &invalid):
		return &TLSError{Name: name, Reason: "is not valid: " + invalid.Error(), Fix: "check the listener's certificate", Err: err}
	}
	return err
}

// transports returns the engine's transport set.
func (e *Engine) transports() *transportSet { return e.http.Transport.(*transportSet) }

// SetTransportOptions applies the engine-wide transport settings (config
// winrm.ca_bundle and the Kerberos keys). A CA bundle that cannot be read
// is an error now, rather than at every poll.
func (e *Engine) SetTransportOptions(o TransportOptions) error {
	if o.CABundle != "" {
		if _, err := e.transports().profile(tlsKey{caBundle: o.CABundle}); err != nil {
			return fmt.Errorf("winrm.ca_bundle: %w", err)
		}
	}
	e.transports().opts.Store(&o)
	return nil
}

func (e *Engine) transportOptions() TransportOptions {
	if o := e.transports().opts.Load(); o != nil {
		return *o
	}
	return TransportOptions{}
}

// deviceTransport is how one device is reached: its auth method and, for
// HTTPS, its TLS profile and the name its certificate must hold.
type deviceTransport struct {
	auth       string
	https      bool
	insecure   bool
	profile    *tlsProfile // nil for HTTP
	serverName string
}

// pooled reports whether the session pool can carry the device: Basic
// (over HTTPS, or HTTP where allowed). NTLM and Kerberos go through
// masterzen/winrm's transports, one shell per request.
func (dt deviceTransport) pooled() bool { return dt.auth == store.AuthBasic }

// client is the HTTP client for Basic requests to the device.
func (dt deviceTransport) client(def *http.Client) *http.Client {
	if dt.profile != nil {
		return dt.profile.client
	}
	return def
}

// tlsServerName is the name a device's certificate must hold: its FQDN
// when known, else its hostname (the address dialed is often an IP).
func tlsServerName(d store.Device) string {
	if d.FQDN != "" {
		return d.FQDN
	}
	return d.Hostname
}

// errBasicOverHTTP refuses to send a password readable on the network.
var errBasicOverHTTP = errors.New("Basic authentication over plain HTTP is refused: the password would cross the network readable. " +
	"Use Transport https (port 5986) or Auth ntlm (encrypted messages), or, on a trusted network only, set AllowUnencrypted=true for the device")

// errKerberosOverHTTP refuses Kerberos without message encryption.
var errKerberosOverHTTP = errors.New("Kerberos over plain HTTP is refused: masterzen/winrm does not encrypt Kerberos messages, so commands and output would cross the network readable. " +
	"Use Transport https, or set AllowUnencrypted=true for the device")

// transportFor decides how to reach a device, applying the security
// policy: Basic and Kerberos over plain HTTP only where the device allows
// unencrypted traffic, TLS verified unless the device skips it (logged
// and audited once per process). Errors are Configuration-class.
func (e *Engine) transportFor(ctx context.Context, d store.Device) (deviceTransport, error) {
	dt := deviceTransport{auth: d.Auth, https: d.Transport != "http"}
	if dt.auth == "" {
		dt.auth = store.AuthBasic
	}
	fail := func(err error) (deviceTransport, error) {
		return dt, &Error{Class: ClassConfiguration, Device: d.Hostname, Step: "transport", Err: err}
	}
	if !dt.https {
		switch {
		case dt.auth == store.AuthBasic && !d.AllowUnencrypted:
			return fail(errBasicOverHTTP)
		case dt.auth == store.AuthKerberos && !d.AllowUnencrypted:
			return fail(errKerberosOverHTTP)
		}
	}
	if dt.auth == store.AuthKerberos {
		if err := e.checkKerberos(); err != nil {
			return fail(err)
		}
	}
	if !dt.https {
		return dt, nil
	}
	key := tlsKey{caBundle: d.CABundle, insecure: d.InsecureSkipVerify}
	if key.caBundle == "" {
		key.caBundle = e.transportOptions().CABundle
	}
	p, err := e.transports().profile(key)
	if err != nil {
		return fail(fmt.Errorf("device %s: %w", d.Hostname, err))
	}
	dt.profile, dt.insecure, dt.serverName = p, key.insecure, tlsServerName(d)
	port := d.Port
	if port == 0 {
		port = store.PortHTTPS
	}
	addr := net.JoinHostPort(address(d), strconv.Itoa(port))
	if v, ok := p.names.Load(addr); !ok || v.(string) != dt.serverName {
		p.names.Store(addr, dt.serverName)
	}
	if dt.insecure {
		e.noteInsecure(ctx, d)
	}
	return dt, nil
}

// checkKerberos checks that a krb5.conf can be read.
func (e *Engine) checkKerberos() error {
	conf := e.transportOptions().Kerberos.Krb5Conf
	if conf == "" {
		conf = DefaultKrb5Conf
	}
	if _, err := os.Stat(conf); err != nil {
		return fmt.Errorf("auth kerberos needs a krb5.conf naming the realm's KDC (set winrm.krb5_conf): %w", err)
	}
	return nil
}

// noteInsecure logs (WARN) and audits the first use, in this process, of
// a device whose certificate is not verified.
func (e *Engine) noteInsecure(ctx context.Context, d store.Device) {
	if _, seen := e.transports().insecureSeen.LoadOrStore(strings.ToLower(d.Hostname), struct{}{}); seen {
		return
	}
	e.log.Warn("TLS certificate verification is skipped (insecure_skip_verify)", "device", d.Hostname)
	if _, err := e.Do(context.WithoutCancel(ctx), SystemIdentity(), InsecureTLSUsed{Host: d.Hostname}); err != nil {
		e.log.Warn("audit of insecure_skip_verify failed", "device", d.Hostname, "err", err)
	}
}

// pooledTarget is the session pool's target for a Basic device.
func (e *Engine) pooledTarget(d store.Device, dt deviceTransport, cred Credential) target {
	return target{host: d.Hostname, url: endpointURL(d), user: cred.User, password: cred.Password, client: dt.client(e.http)}
}

// winrmClient builds a masterzen/winrm client for one device with the
// transport its auth needs: Basic through the engine's client (typed
// errors, the device's TLS profile); NTLM over HTTPS through
// go-ntlmssp's Negotiator on the same profile (what masterzen's
// ClientNTLM does); NTLM over HTTP through masterzen's NTLM message
// encryption; Kerberos through masterzen's ClientKerberos.
func (e *Engine) winrmClient(ctx context.Context, o Options, d store.Device, dt deviceTransport, cred Credential) (*winrm.Client, error) {
	u := endpointURL(d)
	port := d.Port
	if port == 0 {
		port = store.DefaultPort(d.Transport)
	}
	ep := &winrm.Endpoint{Host: address(d), Port: port, HTTPS: dt.https, Timeout: o.Timeout,
		Insecure: dt.insecure, TLSServerName: dt.serverName}
	if dt.profile != nil {
		ep.CACert = dt.profile.caPEM
	}
	params := winrm.NewParameters(opTimeoutText, "en-US", envelopeSize)
	switch {
	case dt.auth == store.AuthBasic:
		params.TransportDecorator = func() winrm.Transporter {
			return &soapTransport{ctx: ctx, client: dt.client(e.http), url: u, user: cred.User, password: cred.Password}
		}
	case dt.auth == store.AuthNTLM && dt.https:
		params.TransportDecorator = func() winrm.Transporter {
			return &soapTransport{ctx: ctx, client: dt.profile.ntlm, url: u, user: cred.User, password: cred.Password}
		}
	case dt.auth == store.AuthNTLM:
		params.TransportDecorator = func() winrm.Transporter {
			enc, _ := winrm.NewEncryption("ntlm") // "ntlm" is supported: no error
			return authTransport{Transporter: enc, auth: "ntlm"}
		}
	case dt.auth == store.AuthKerberos:
		kc := e.transportOptions().Kerberos
		user, realm := splitKerberosUser(cred.User)
		if kc.Realm != "" {
			realm = kc.Realm
		}
		if kc.Krb5Conf == "" {
			kc.Krb5Conf = DefaultKrb5Conf
		}
		proto := "http"
		if dt.https {
			proto = "https"
		}
		params.TransportDecorator = func() winrm.Transporter {
			return authTransport{auth: "kerberos", Transporter: winrm.NewClientKerberos(&winrm.Settings{
				WinRMUsername: user, WinRMPassword: cred.Password, WinRMHost: address(d), WinRMPort: port,
				WinRMProto: proto, WinRMInsecure: dt.insecure, KrbRealm: realm, KrbConfig: kc.Krb5Conf,
				KrbSpn: "HTTP/" + tlsServerName(d), KrbCCache: kc.CCache,
			})}
		}
	}
	c, err := winrm.NewClientWithParameters(ep, cred.User, cred.Password, params)
	if err != nil {
		return nil, &Error{Class: ClassConfiguration, Device: d.Hostname, Step: "winrm client", Err: err}
	}
	return c, nil
}

// splitKerberosUser splits DOMAIN\user or user@REALM into the user and
// the realm (upper-cased).
func splitKerberosUser(u string) (user, realm string) {
	if d, n, ok := strings.Cut(u, `\`); ok {
		return n, strings.ToUpper(d)
	}
	if n, r, ok := strings.Cut(u, "@"); ok {
		return n, strings.ToUpper(r)
	}
	return u, ""
}

// authTransport classes the errors of masterzen's NTLM-encryption and
// Kerberos transports, which return untyped errors: a network failure
// keeps its class; anything else failed in authentication or its
// configuration (a 401, a bad ticket, an unreadable krb5.conf) and is a
// Configuration error naming the method.
type authTransport struct {
	winrm.Transporter
	auth string
}

// Post sends through the wrapped transport and classes its error.
func (t authTransport) Post(c *winrm.Client, m *soap.SoapMessage) (string, error) {
	body, err := t.Transporter.Post(c, m)
	if err == nil {
		return body, nil
	}
	var op *net.OpError
	if errors.As(err, &op) || classify(err) != ClassDevice {
		return "", err
	}
	return "", &Error{Class: ClassConfiguration, Step: t.auth, Err: fmt.Errorf("%s authentication failed: %w", t.auth, err)}
}
