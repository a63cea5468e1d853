package winrm

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
	mz "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"

	"github.com/rmmhq/rmm/engine/winrm/h1"
)

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
				Dial:                dialer.DialContext,
				DialTLS:             dialTLS,
				MaxIdleConns:        idle,
				MaxIdleTLSConns:     idleTLSConns,
				MaxIdleConnsPerHost: max(perHost, 2),
				IdleConnTimeout:     idleConnTimeout,
				ExchangeTimeout:     httpHeaderTimeout,
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

// soapTransport is the mz.Transporter the engine hands to
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

var _ mz.Transporter = (*soapTransport)(nil)

// Transport is called by mz.NewClientWithParameters; the shared client
// is already configured.
func (t *soapTransport) Transport(*mz.Endpoint) error { return nil }

// Post sends one SOAP envelope and returns the response body.
func (t *soapTransport) Post(_ *mz.Client, msg *soap.SoapMessage) (string, error) {
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
		return nil, handshakeFailure(addr, name, p.key, err)
	}
	return c, nil
}

// SetTransportOptions applies the client-wide transport settings (config
// winrm.ca_bundle and the Kerberos keys). A CA bundle that cannot be read
// is an error now, rather than at every request.
func (c *Client) SetTransportOptions(o TransportOptions) error {
	if o.CABundle != "" {
		if _, err := c.ts.profile(tlsKey{caBundle: o.CABundle}); err != nil {
			return fmt.Errorf("winrm.ca_bundle: %w", err)
		}
	}
	c.ts.opts.Store(&o)
	return nil
}

func (c *Client) transportOptions() TransportOptions {
	if o := c.ts.opts.Load(); o != nil {
		return *o
	}
	return TransportOptions{}
}

// deviceTransport is how one target is reached: its auth method and, for
// HTTPS, its TLS profile and the name its certificate must hold.
type deviceTransport struct {
	auth       string
	https      bool
	insecure   bool
	profile    *tlsProfile // nil for HTTP
	serverName string
}

// pooled reports whether the session pool can carry the target: Basic
// (over HTTPS, or HTTP where allowed). NTLM and Kerberos go through
// masterzen/winrm's transports, one shell per request.
func (dt deviceTransport) pooled() bool { return dt.auth == AuthBasic }

// client is the HTTP client for Basic requests to the target.
func (dt deviceTransport) client(def *http.Client) *http.Client {
	if dt.profile != nil {
		return dt.profile.client
	}
	return def
}

// errBasicOverHTTP refuses to send a password readable on the network.
var errBasicOverHTTP = errors.New("Basic authentication over plain HTTP is refused: the password would cross the network readable. " +
	"Use Transport https (port 5986) or Auth ntlm (encrypted messages), or, on a trusted network only, set AllowUnencrypted=true for the device")

// errKerberosOverHTTP refuses Kerberos without message encryption.
var errKerberosOverHTTP = errors.New("Kerberos over plain HTTP is refused: masterzen/winrm does not encrypt Kerberos messages, so commands and output would cross the network readable. " +
	"Use Transport https, or set AllowUnencrypted=true for the device")

// CheckPolicy reports whether requests to t may be sent: the security
// policy (Basic and Kerberos over plain HTTP only where the target allows
// unencrypted traffic; a krb5.conf for Kerberos) and a readable CA bundle.
// The error is a Configuration-class *Error.
func (c *Client) CheckPolicy(t Target) error {
	_, err := c.transportFor(context.Background(), t.Prepare())
	return err
}

// transportFor decides how to reach a prepared target, applying the
// security policy: Basic and Kerberos over plain HTTP only where the
// target allows unencrypted traffic, TLS verified unless the target skips
// it (reported once per process through OnInsecure). Errors are
// Configuration-class.
func (c *Client) transportFor(ctx context.Context, t Target) (deviceTransport, error) {
	dt := deviceTransport{auth: t.Auth, https: t.HTTPS}
	fail := func(err error) (deviceTransport, error) {
		return dt, &Error{Class: ClassConfiguration, Device: t.Host, Step: "transport", Err: err}
	}
	if !dt.https {
		switch {
		case dt.auth == AuthBasic && !t.AllowUnencrypted:
			return fail(errBasicOverHTTP)
		case dt.auth == AuthKerberos && !t.AllowUnencrypted:
			return fail(errKerberosOverHTTP)
		}
	}
	if dt.auth == AuthKerberos {
		if err := c.checkKerberos(); err != nil {
			return fail(err)
		}
	}
	if !dt.https {
		return dt, nil
	}
	key := tlsKey{caBundle: t.CABundle, insecure: t.InsecureSkipVerify}
	if key.caBundle == "" {
		key.caBundle = c.transportOptions().CABundle
	}
	p, err := c.ts.profile(key)
	if err != nil {
		return fail(fmt.Errorf("device %s: %w", t.Host, err))
	}
	dt.profile, dt.insecure, dt.serverName = p, key.insecure, t.ServerName
	if v, ok := p.names.Load(t.hostPort); !ok || v.(string) != dt.serverName {
		p.names.Store(t.hostPort, dt.serverName)
	}
	if dt.insecure {
		c.noteInsecure(ctx, t.Host)
	}
	return dt, nil
}

// checkKerberos checks that a krb5.conf can be read.
func (c *Client) checkKerberos() error {
	conf := c.transportOptions().Kerberos.Krb5Conf
	if conf == "" {
		conf = DefaultKrb5Conf
	}
	if _, err := os.Stat(conf); err != nil {
		return fmt.Errorf("auth kerberos needs a krb5.conf naming the realm's KDC (set winrm.krb5_conf): %w", err)
	}
	return nil
}

// noteInsecure reports, through OnInsecure, the first use in this process
// of a host whose certificate is not verified.
func (c *Client) noteInsecure(ctx context.Context, host string) {
	if _, seen := c.ts.insecureSeen.LoadOrStore(strings.ToLower(host), struct{}{}); seen {
		return
	}
	if c.opts.OnInsecure != nil {
		c.opts.OnInsecure(context.WithoutCancel(ctx), host)
	}
}

// poolTarget is the session pool's target for a Basic target.
func (c *Client) poolTarget(t Target, dt deviceTransport, cred Credential) target {
	return target{ref: t.Ref, host: t.Host, url: t.url, user: cred.User, password: cred.Password, client: dt.client(c.http), noLoop: t.NoLoop}
}

// masterzenClient builds a masterzen/winrm client for one target with the
// transport its auth needs, and returns that transport: Basic through the
// client's own transport (typed errors, the target's TLS profile); NTLM
// over HTTPS through go-ntlmssp's Negotiator on the same profile (what
// masterzen's ClientNTLM does); NTLM over HTTP through masterzen's NTLM
// message encryption; Kerberos through masterzen's ClientKerberos.
// Errors of the last two keep the WS-Man fault they carried
// (authTransport).
func (c *Client) masterzenClient(ctx context.Context, t Target, dt deviceTransport, cred Credential) (*mz.Client, mz.Transporter, error) {
	ep := &mz.Endpoint{Host: t.Address, Port: t.Port, HTTPS: dt.https, Timeout: c.opts.Timeout,
		Insecure: dt.insecure, TLSServerName: dt.serverName}
	if dt.profile != nil {
		ep.CACert = dt.profile.caPEM
	}
	params := mz.NewParameters(opTimeoutText, "en-US", envelopeSize)
	var tr mz.Transporter
	switch {
	case dt.auth == AuthBasic:
		tr = &soapTransport{ctx: ctx, client: dt.client(c.http), url: t.url, user: cred.User, password: cred.Password}
	case dt.auth == AuthNTLM && dt.https:
		tr = &soapTransport{ctx: ctx, client: dt.profile.ntlm, url: t.url, user: cred.User, password: cred.Password}
	case dt.auth == AuthNTLM:
		enc, _ := mz.NewEncryption("ntlm") // "ntlm" is supported: no error
		tr = authTransport{Transporter: enc, auth: "ntlm"}
	case dt.auth == AuthKerberos:
		kc := c.transportOptions().Kerberos
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
		tr = authTransport{auth: "kerberos", Transporter: mz.NewClientKerberos(&mz.Settings{
			WinRMUsername: user, WinRMPassword: cred.Password, WinRMHost: t.Address, WinRMPort: t.Port,
			WinRMProto: proto, WinRMInsecure: dt.insecure, KrbRealm: realm, KrbConfig: kc.Krb5Conf,
			KrbSpn: "HTTP/" + t.ServerName, KrbCCache: kc.CCache,
		})}
	default:
		return nil, nil, &Error{Class: ClassConfiguration, Device: t.Host, Step: "winrm client", Err: fmt.Errorf("unknown auth %q", dt.auth)}
	}
	params.TransportDecorator = func() mz.Transporter { return tr }
	mc, err := mz.NewClientWithParameters(ep, cred.User, cred.Password, params)
	if err != nil {
		return nil, nil, &Error{Class: ClassConfiguration, Device: t.Host, Step: "winrm client", Err: err}
	}
	return mc, tr, nil
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
// Kerberos transports, which return untyped errors. A WS-Man fault the
// host sent keeps its status and code (an *HTTPError): the Kerberos
// transport puts the status and the body in its error text, the
// encryption transport hands any body back as a success. A network
// failure keeps its class; anything else failed in authentication or its
// configuration (a 401, a bad ticket, an unreadable krb5.conf) and is a
// Configuration error naming the method.
type authTransport struct {
	mz.Transporter
	auth string
}

// mzStatusRE reads the status masterzen's transports put in their error
// text ("request returned: 500 - ..." for Kerberos, "http error 401" for
// the NTLM handshake).
var mzStatusRE = regexp.MustCompile(`(?:request returned: |http error )(\d{3})\b`)

// Post sends through the wrapped transport and classes its error.
func (t authTransport) Post(c *mz.Client, m *soap.SoapMessage) (string, error) {
	body, err := t.Transporter.Post(c, m)
	if err == nil {
		if f := faultIn(body); f != nil {
			// masterzen's encryption transport returns the body of a
			// fault as if it were an answer.
			return "", &HTTPError{Status: http.StatusInternalServerError, Fault: f}
		}
		return body, nil
	}
	return "", t.classify(err)
}

// classify turns a transport's error into a typed one.
func (t authTransport) classify(err error) error {
	if m := mzStatusRE.FindStringSubmatch(err.Error()); m != nil {
		status, _ := strconv.Atoi(m[1])
		he := &HTTPError{Status: status, Fault: parseFault(err.Error())}
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			return &Error{Class: ClassConfiguration, Step: t.auth, Err: fmt.Errorf("%s authentication failed: %w", t.auth, he)}
		}
		return he
	}
	var op *net.OpError
	if errors.As(err, &op) || classify(err) != ClassDevice {
		return err
	}
	return &Error{Class: ClassConfiguration, Step: t.auth, Err: fmt.Errorf("%s authentication failed: %w", t.auth, err)}
}

// faultIn returns the WS-Man fault of a reply body that is a SOAP fault,
// or nil for any other body.
func faultIn(body string) *Fault {
	if !strings.Contains(body, ":Fault>") && !strings.Contains(body, "<Fault>") {
		return nil
	}
	return parseFault(body)
}
