package winrm

import (
	mz "github.com/masterzen/winrm"

	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Probes: the single checks rmm doctor and the availability sampling make
// on a target, each one request or connection, outside the pool.

// DialTime measures a TCP connect to the target's port, bounded by
// timeout (and 5 s).
func (c *Client) DialTime(ctx context.Context, t Target, timeout time.Duration) (time.Duration, error) {
	dctx, cancel := context.WithTimeout(ctx, min(timeout, 5*time.Second))
	defer cancel()
	start := time.Now()
	conn, err := (&net.Dialer{KeepAlive: -1}).DialContext(dctx, "tcp", t.HostPort())
	took := time.Since(start)
	if err != nil {
		return took, err
	}
	_ = conn.Close()
	return took, nil
}

// Identity is what a WS-Man Identify answered.
type Identity struct {
	Vendor  string // ProductVendor, e.g. "Microsoft Corporation"
	Version string // ProductVersion, e.g. "OS: 10.0.20348 SP: 0.0 Stack: 3.0"
}

var (
	identVendorRE  = regexp.MustCompile(`<(?:\w+:)?ProductVendor>([^<]*)<`)
	identVersionRE = regexp.MustCompile(`<(?:\w+:)?ProductVersion>([^<]*)<`)
)

// Identify sends a WS-Man Identify to the target: anonymous when cred is
// nil, else authenticated as cred with the target's auth method (sealed
// over HTTP for NTLM, Kerberos and Negotiate). A 401 carries the schemes
// the host offers (HTTPError.Offers).
func (c *Client) Identify(ctx context.Context, t Target, cred *Credential) (Identity, error) {
	t = t.Prepare()
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>`
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var b []byte
	if cred != nil {
		// With a credential the transport policy applies as to Run: no
		// Basic password over plain HTTP unless the target allows it.
		dt, err := c.transportFor(ctx, t)
		if err != nil {
			return Identity{}, err
		}
		ep := c.endpointFor(t, dt, *cred, nil)
		p, err := ep.post(rctx, []byte(body))
		if err != nil {
			return Identity{}, err
		}
		b = *p
	} else {
		client := c.http
		if t.HTTPS {
			dt, err := c.transportFor(ctx, t)
			if err != nil && dt.profile == nil {
				return Identity{}, err
			}
			client = dt.client(c.http)
		}
		req, err := http.NewRequestWithContext(rctx, http.MethodPost, t.url, strings.NewReader(body))
		if err != nil {
			return Identity{}, err
		}
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		req.Header.Set("WSMANIDENTIFY", "unauthenticated")
		resp, err := client.Do(req)
		if err != nil {
			return Identity{}, err
		}
		defer resp.Body.Close()
		b, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return Identity{}, httpError(resp, b)
		}
	}
	var id Identity
	if m := identVendorRE.FindSubmatch(b); m != nil {
		id.Vendor = string(m[1])
	}
	if m := identVersionRE.FindSubmatch(b); m != nil {
		id.Version = string(m[1])
	}
	if id.Vendor == "" && id.Version == "" {
		return Identity{}, errors.New("the answer is not an IdentifyResponse")
	}
	return id, nil
}

// AuthReport is what an authenticated Identify showed of a target's
// authentication: which method authenticated (Negotiate says whether it
// chose Kerberos or fell back to NTLM), and how the messages travelled.
type AuthReport struct {
	Method   string // "basic", "kerberos" or "ntlm"
	Sealed   bool   // messages sealed with Protocol (HTTP)
	Protocol string // e.g. application/HTTP-Kerberos-session-encrypted
	Bound    bool   // the handshake carried the TLS channel bindings (HTTPS)
	Identity Identity
}

// ProbeAuth sends an authenticated Identify with the target's method,
// outside the pool, and reports how it authenticated.
func (c *Client) ProbeAuth(ctx context.Context, t Target, cred Credential) (AuthReport, error) {
	t = t.Prepare()
	dt, err := c.transportFor(ctx, t)
	if err != nil {
		return AuthReport{}, err
	}
	ep := c.endpointFor(t, dt, cred, nil)
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>`
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	p, err := ep.post(rctx, []byte(body))
	if err != nil {
		return AuthReport{}, err
	}
	rep := AuthReport{Method: AuthBasic}
	if m := identVendorRE.FindSubmatch(*p); m != nil {
		rep.Identity.Vendor = string(m[1])
	}
	if m := identVersionRE.FindSubmatch(*p); m != nil {
		rep.Identity.Version = string(m[1])
	}
	if ep.sec != nil {
		if cs := ep.sec.last.Load(); cs != nil {
			rep.Method, rep.Sealed, rep.Protocol, rep.Bound = cs.mech, cs.protocol != "", cs.protocol, cs.bound
		}
	}
	return rep, nil
}

// KerberosReport is what the KDC said about a target and a credential.
type KerberosReport struct {
	Principal string        // the credential's principal, user@REALM
	SPN       string        // HTTP/<fqdn>@REALM
	KDCs      []string      // the KDCs of the user's realm
	Skew      time.Duration // the KDC's clock minus this machine's (at the last AS exchange)
	TicketEnd time.Time     // the service ticket's end
	// Failed names the step that failed: "name" (principal or SPN),
	// "kdc" (finding one), "tgt" (the AS exchange) or "spn" (the
	// service ticket); "" when none did.
	Failed string
}

// ProbeKerberos derives the target's SPN and the credential's principal,
// finds the realm's KDCs, and gets (or finds cached) a TGT and a service
// ticket: what Kerberos needs before the host is asked anything. The
// report holds what was found before a step failed; the error is a
// *KerberosError saying which step and what to do.
func (c *Client) ProbeKerberos(ctx context.Context, t Target, cred Credential) (KerberosReport, error) {
	t = t.Prepare()
	rep := KerberosReport{Failed: "name"}
	host, err := spnHost(t)
	if err != nil {
		return rep, err
	}
	kc, err := c.krb.credFor(cred.User, krbSecret{password: cred.Password, keytab: cred.Keytab})
	if err != nil {
		return rep, err
	}
	rep.Principal = kc.p.String()
	realm := c.krb.spnRealm(host, kc.p)
	rep.SPN = "HTTP/" + host + "@" + realm
	rep.Failed = "kdc"
	if rep.KDCs, err = c.krb.kdcsFor(ctx, kc.p.realm); err != nil {
		return rep, err
	}
	rep.Failed = "tgt"
	if _, err := c.krb.tgt(ctx, kc); err != nil {
		return rep, err
	}
	rep.Skew = c.krb.clockSkew()
	rep.Failed = "spn"
	tk, err := c.krb.serviceTicket(ctx, kc, host)
	if err != nil {
		return rep, err
	}
	rep.Failed = ""
	rep.TicketEnd = tk.end
	return rep, nil
}

// Offers returns the authentication schemes the host offers (the
// WWW-Authenticate of its 401 to a request without credentials).
func (c *Client) Offers(ctx context.Context, t Target) ([]string, error) {
	t = t.Prepare()
	client := c.http
	if t.HTTPS {
		dt, err := c.transportFor(ctx, t)
		if err != nil && dt.profile == nil {
			return nil, err
		}
		client = dt.client(c.http)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, t.url, http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return nil, fmt.Errorf("the host answered HTTP %d to a request without credentials, not 401", resp.StatusCode)
	}
	return httpError(resp, b).Offers, nil
}

// httpError is a non-200 answer as an *HTTPError, with its WS-Man fault
// and, on a 401, the authentication schemes the host offers.
func httpError(resp *http.Response, body []byte) *HTTPError {
	he := &HTTPError{Status: resp.StatusCode, Fault: parseFault(string(body))}
	if resp.StatusCode == http.StatusUnauthorized {
		for _, v := range resp.Header.Values("Www-Authenticate") {
			if scheme, _, _ := strings.Cut(v, " "); scheme != "" {
				he.Offers = append(he.Offers, scheme)
			}
		}
	}
	return he
}

// CertReport is what InspectTLS saw of an HTTPS listener's certificate.
type CertReport struct {
	Leaf       *x509.Certificate
	ServerName string // the name it was checked against
	// Verify is nil when the chain and the name verify with the target's
	// trusted CAs, else why not (a *TLSError when the reason is known).
	Verify   error
	Insecure bool // the target skips verification when it polls
}

// InspectTLS connects to an HTTPS target, takes its certificate whatever
// it is, and verifies it apart, so the report says why a certificate
// fails rather than only that the handshake did. The error is for a
// connection or handshake that failed.
func (c *Client) InspectTLS(ctx context.Context, t Target) (CertReport, error) {
	t = t.Prepare()
	if !t.HTTPS {
		return CertReport{}, errors.New("the target is not HTTPS")
	}
	dt, err := c.transportFor(ctx, t)
	if dt.profile == nil {
		return CertReport{}, err
	}
	cfg := dt.profile.cfg.Clone()
	cfg.ServerName, cfg.InsecureSkipVerify = dt.serverName, true //nolint:gosec // verified below, to report why
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	conn, err := dialer.DialContext(ctx, "tcp", t.hostPort)
	if err != nil {
		var rec tls.RecordHeaderError
		if errors.As(err, &rec) {
			return CertReport{}, notTLS(t.hostPort, rec)
		}
		return CertReport{}, err
	}
	cs := conn.(*tls.Conn).ConnectionState()
	conn.Close()
	rep := CertReport{Leaf: cs.PeerCertificates[0], ServerName: dt.serverName, Insecure: dt.insecure}
	inter := x509.NewCertPool()
	for _, ic := range cs.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	if _, verr := rep.Leaf.Verify(x509.VerifyOptions{DNSName: dt.serverName, Roots: dt.profile.cfg.RootCAs, Intermediates: inter}); verr != nil {
		rep.Verify = tlsFailure(dt.serverName, dt.profile.key, verr)
	}
	return rep, nil
}

// TryShell creates a shell on the target as cred and deletes it again,
// outside the pool, with the target's auth method: it proves that
// authentication, the shell quota and the listener all work.
func (c *Client) TryShell(ctx context.Context, t Target, cred Credential) error {
	t = t.Prepare()
	dt, err := c.transportFor(ctx, t)
	if err != nil {
		return err
	}
	u, err := c.unpooledSteps(ctx, t, dt, cred)
	if err != nil {
		return err
	}
	id, err := u.createShell()
	if err != nil {
		return err
	}
	_, err = u.post(mz.NewDeleteShellRequest(u.url, id, u.params))
	return err
}
