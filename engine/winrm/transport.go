package winrm

import (
	"container/list"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
// keeps record buffers. NTLM, Kerberos and Negotiate go through the same
// transport: their security context is bound to a kept connection
// (h1.Conn, secure.go).
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

// KerberosOptions configure Kerberos (auth kerberos, and negotiate's
// first choice). A krb5.conf is optional: the realm comes from the
// credential (user@REALM, DOMAIN\user through RealmMap) or Realm, and
// the KDCs from KDCs, a krb5.conf, or DNS SRV records.
type KerberosOptions struct {
	Realm string // winrm.kerberos_realm: the realm of user names that name none
	// RealmMap maps a NetBIOS domain (DOMAIN\user) or a DNS suffix (a
	// UPN's, or a host's for its SPN) to its realm
	// (winrm.kerberos_realm_map), e.g. CONTOSO -> CONTOSO.COM.
	RealmMap map[string]string
	// KDCs are the KDCs (host or host:port) of each realm; the key ""
	// serves every realm without its own (winrm.kerberos_kdc).
	KDCs     map[string][]string
	Krb5Conf string // winrm.krb5_conf: read when set (an error if unreadable); else /etc/krb5.conf when present
	CCache   string // winrm.kerberos_ccache: a ticket cache to use instead of a password
	// NoKrb5Conf reads no krb5.conf at all, and looks up no KDC in DNS:
	// for a simulated domain (rmm --demo), whose realm no real KDC
	// serves and no query should leave the machine for.
	NoKrb5Conf bool
}

// DefaultKrb5Conf is read, when it exists, where winrm.krb5_conf is not
// set.
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
	tr     *http.Transport // net/http's, for what needs it (none of the WinRM traffic)
	lean   *h1.Transport   // every auth method's kept connections
	client *http.Client    // Basic: the Authorization header is set per request
	dialer *net.Dialer
	names  sync.Map // "host:port" -> the TLS server name to verify
	// sessions are the TLS sessions hosts offered to resume (TLS 1.3
	// tickets; TLS 1.2 session tickets where a host issues them), keyed by
	// address and server name (sessionCache).
	sessions *sessionStore
}

// tlsSessionCacheSize bounds the TLS sessions a profile keeps for
// resumption, one per host (the newest ticket a host sent); past this
// many HTTPS hosts the least recently used sessions are dropped and those
// hosts' next connections do a full handshake. Each is kept serialized
// (sessionStore), about 1.5 KB with the host's certificate chain.
const tlsSessionCacheSize = 1 << 16

// sessionStore is a profile's TLS client session cache: a bounded LRU of
// sessions kept serialized (SessionState.Bytes), not as crypto/tls's
// parsed states. A parsed state holds the host's parsed certificates, a
// few KB of small objects the garbage collector scans at every cycle;
// 10,000 of them made a sweep's collections markedly dearer. Bytes hold
// no pointers, and a session is parsed again only when a connection
// resumes it.
type sessionStore struct {
	mu  sync.Mutex
	max int
	m   map[string]*list.Element // of *storedSession
	lru list.List                // most recently used first
}

type storedSession struct {
	key           string
	ticket, state []byte
}

func newSessionStore(max int) *sessionStore {
	return &sessionStore{max: max, m: make(map[string]*list.Element)}
}

func (s *sessionStore) get(key string) (*tls.ClientSessionState, bool) {
	s.mu.Lock()
	e, ok := s.m[key]
	if !ok {
		s.mu.Unlock()
		return nil, false
	}
	s.lru.MoveToFront(e)
	ss := e.Value.(*storedSession)
	ticket, state := ss.ticket, ss.state
	s.mu.Unlock()
	st, err := tls.ParseSessionState(state)
	if err != nil {
		s.put(key, nil)
		return nil, false
	}
	cs, err := tls.NewResumptionState(ticket, st)
	if err != nil {
		s.put(key, nil)
		return nil, false
	}
	return cs, true
}

// put keeps cs for key; nil forgets key's session (crypto/tls asks so
// when a host refused it).
func (s *sessionStore) put(key string, cs *tls.ClientSessionState) {
	var ticket, state []byte
	if cs != nil {
		t, st, err := cs.ResumptionState()
		if err != nil || st == nil {
			return
		}
		if state, err = st.Bytes(); err != nil {
			return
		}
		ticket = t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok {
		if cs == nil {
			s.lru.Remove(e)
			delete(s.m, key)
			return
		}
		ss := e.Value.(*storedSession)
		ss.ticket, ss.state = ticket, state
		s.lru.MoveToFront(e)
		return
	}
	if cs == nil {
		return
	}
	s.m[key] = s.lru.PushFront(&storedSession{key: key, ticket: ticket, state: state})
	for s.lru.Len() > s.max {
		e := s.lru.Back()
		s.lru.Remove(e)
		delete(s.m, e.Value.(*storedSession).key)
	}
}

// len is the number of sessions kept.
func (s *sessionStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// sessionCache is a profile's session store as one dial sees it: keys
// are the address dialed and the server name verified, so two hosts
// behind one name (a NAT's ports) or one address under two names never
// resume each other's sessions. crypto/tls keys by server name alone.
type sessionCache struct {
	store *sessionStore
	addr  string
}

func (c sessionCache) Get(key string) (*tls.ClientSessionState, bool) {
	return c.store.get(c.addr + "|" + key)
}

func (c sessionCache) Put(key string, cs *tls.ClientSessionState) {
	c.store.put(c.addr+"|"+key, cs)
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
	// Key exchanges: Go's defaults, the X25519MLKEM768 hybrid included.
	// Its key generation costs every handshake about a quarter of a
	// millisecond of CPU here (README, Benchmarks) and Windows hosts that
	// negotiate no ML-KEM never use it, but crypto/tls ignores the order
	// of CurvePreferences: the only way to save it is not to offer the
	// hybrid at all, which would give up post-quantum protection of the
	// credentials on hosts that have it. Not done.
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
	p = &tlsProfile{key: key, caPEM: caPEM, cfg: cfg, tr: tr, dialer: &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1},
		sessions: newSessionStore(tlsSessionCacheSize)}
	tr.DialTLSContext = p.dialTLS
	p.lean = s.newLean(p.dialTLS)
	p.client = &http.Client{Transport: p.lean}
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
	// Resume the host's last session where it allows (an abbreviated
	// handshake: no certificate sent or verified again). The session was
	// verified against this same name and trust when it was made; a
	// session of an insecure profile stays in that profile.
	cfg.ClientSessionCache = sessionCache{store: p.sessions, addr: addr}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second+p.dialer.Timeout)
	defer cancel()
	c, err := (&tls.Dialer{NetDialer: p.dialer, Config: cfg}).DialContext(hctx, network, addr)
	if err != nil {
		return nil, handshakeFailure(addr, name, p.key, err)
	}
	return c, nil
}

// SetTransportOptions applies the client-wide transport settings (config
// winrm.ca_bundle and the Kerberos keys). A CA bundle or a configured
// krb5.conf that cannot be read is an error now, rather than at every
// request.
func (c *Client) SetTransportOptions(o TransportOptions) error {
	if o.CABundle != "" {
		if _, err := c.ts.profile(tlsKey{caBundle: o.CABundle}); err != nil {
			return fmt.Errorf("winrm.ca_bundle: %w", err)
		}
	}
	if err := c.krb.configure(o.Kerberos); err != nil {
		return err
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

// client is the HTTP client for Basic requests to the target.
func (dt deviceTransport) client(def *http.Client) *http.Client {
	if dt.profile != nil {
		return dt.profile.client
	}
	return def
}

// lean is the kept-connection transport of the target.
func (dt deviceTransport) lean(ts *transportSet) *h1.Transport {
	if dt.profile != nil {
		return dt.profile.lean
	}
	return ts.def.lean
}

// errBasicOverHTTP refuses to send a password readable on the network.
var errBasicOverHTTP = errors.New("Basic authentication over plain HTTP is refused: the password would cross the network readable. " +
	"Use Transport https (port 5986), or Auth negotiate, kerberos or ntlm (encrypted messages over HTTP), or, on a trusted network only, set AllowUnencrypted=true for the device")

// CheckPolicy reports whether requests to t may be sent: the security
// policy (Basic over plain HTTP only where the target allows unencrypted
// traffic; a readable krb5.conf when one is configured) and a readable CA
// bundle. The error is a Configuration-class *Error.
func (c *Client) CheckPolicy(t Target) error {
	_, err := c.transportFor(context.Background(), t.Prepare())
	return err
}

// transportFor decides how to reach a prepared target, applying the
// security policy: Basic over plain HTTP only where the target allows
// unencrypted traffic (NTLM, Kerberos and Negotiate seal every message
// there), TLS verified unless the target skips it (reported once per
// process through OnInsecure). Errors are Configuration-class.
func (c *Client) transportFor(ctx context.Context, t Target) (deviceTransport, error) {
	dt := deviceTransport{auth: t.Auth, https: t.HTTPS}
	fail := func(err error) (deviceTransport, error) {
		return dt, &Error{Class: ClassConfiguration, Device: t.Host, Step: "transport", Err: err}
	}
	switch dt.auth {
	case AuthBasic:
		if !dt.https && !t.AllowUnencrypted {
			return fail(errBasicOverHTTP)
		}
	case AuthNTLM, AuthKerberos, AuthNegotiate:
	default:
		return fail(fmt.Errorf("unknown auth %q (want basic, negotiate, kerberos or ntlm)", dt.auth))
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

// poolTarget is the session pool's target.
func (c *Client) poolTarget(t Target, dt deviceTransport, cred Credential) target {
	pt := target{ref: t.Ref, host: t.Host, url: t.url, user: cred.User, password: cred.Password, client: dt.client(c.http), noLoop: t.NoLoop}
	if dt.auth != AuthBasic {
		pt.auth = c.authSpecOf(t, dt, cred)
		pt.kc, pt.counts = c.krb, &c.authCounts
	}
	return pt
}

// authSpecOf is how a target authenticates with NTLM, Kerberos or
// Negotiate.
func (c *Client) authSpecOf(t Target, dt deviceTransport, cred Credential) authSpec {
	spec := authSpec{method: dt.auth, https: dt.https, lean: dt.lean(c.ts), keytab: cred.Keytab}
	if dt.auth != AuthNTLM {
		spec.host, spec.spnErr = spnHost(t)
	}
	return spec
}

// endpointFor is an endpoint of the target with a credential, outside
// the pool (doctor's probes, unpooled runs, the PowerShell pane).
func (c *Client) endpointFor(t Target, dt deviceTransport, cred Credential, bufs *sync.Pool) *endpoint {
	if dt.auth == AuthBasic {
		return newEndpoint(dt.client(c.http), bufs, t.url, cred.User, cred.Password)
	}
	return newSecureEndpoint(bufs, t.url, cred.User, cred.Password, c.authSpecOf(t, dt, cred), c.krb, &c.authCounts)
}
