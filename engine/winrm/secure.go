package winrm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bodgit/ntlmssp"

	"github.com/rmmhq/rmm/engine/winrm/h1"
)

// secure.go: NTLM, Kerberos and Negotiate over kept connections. These
// authenticate a connection, not a request: the handshake runs once when
// a connection is opened (an empty POST carrying the tokens, as Windows'
// own client and pywinrm do), and its security context is kept with the
// connection (h1's held connections) for every request that follows on
// it. Over HTTP every request and reply is sealed with that context
// (mime.go); over HTTPS the messages travel as they are inside TLS, and
// the handshake carries the channel bindings of the TLS connection
// (Extended Protection). Every method goes through the same session
// pool and resident loop as Basic.

// AuthNegotiate picks Kerberos and falls back to NTLM where Kerberos
// cannot be used (no host name, no KDC, no SPN), as Windows' Negotiate
// does.
const AuthNegotiate = "negotiate"

// authSpec is how a target authenticates beyond Basic: what the session
// pool compares before it reuses an endpoint.
type authSpec struct {
	method string // AuthNTLM, AuthKerberos or AuthNegotiate; "" for Basic
	host   string // the SPN's host (HTTP/<host>); "" when the target has no name
	spnErr error  // why there is no SPN host
	https  bool
	lean   *h1.Transport
	keytab string // a keytab's content instead of the password (Kerberos)
}

func (a authSpec) equal(b authSpec) bool {
	return a.method == b.method && a.host == b.host && a.https == b.https && a.lean == b.lean && a.keytab == b.keytab
}

// authCounters are the client's counts of connection handshakes.
type authCounters struct {
	handshakes atomic.Int64 // security contexts established (one per kept connection)
	fallbacks  atomic.Int64 // Negotiate handshakes that used NTLM because Kerberos could not
}

// secureAuth authenticates one endpoint's connections.
type secureAuth struct {
	spec   authSpec
	u      *url.URL
	rawURL string
	user   string
	secret krbSecret
	id     [32]byte // the method, credential and target: a connection's context serves only this
	kc     *kerberosClient
	counts *authCounters
	last   atomic.Pointer[connSecurity] // the last context established (doctor's probe reads it)
}

func newSecureAuth(spec authSpec, rawURL, user, password string, kc *kerberosClient, counts *authCounters) *secureAuth {
	u, _ := url.Parse(rawURL) // made by Target.Prepare: it parses
	a := &secureAuth{spec: spec, u: u, rawURL: rawURL, user: user, secret: krbSecret{password: password, keytab: spec.keytab}, kc: kc, counts: counts}
	h := sha256.New()
	for _, s := range []string{spec.method, spec.host, rawURL, user, password} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write([]byte(spec.keytab))
	h.Sum(a.id[:0])
	return a
}

// AuthError is an NTLM or Kerberos handshake the host refused, or one
// rmm cannot make with the credential it has. It is a Configuration
// error.
type AuthError struct {
	Method string // "NTLM", "Kerberos"
	Msg    string
	Err    error
}

func (e *AuthError) Error() string {
	if e.Err != nil {
		return strings.ToLower(e.Method) + ": " + e.Msg + ": " + e.Err.Error()
	}
	return strings.ToLower(e.Method) + ": " + e.Msg
}

func (e *AuthError) Unwrap() error { return e.Err }

// connSecurity is the security context of one kept connection.
type connSecurity struct {
	id       [32]byte
	mech     string   // "ntlm" or "kerberos"
	protocol string   // the encrypted body's protocol; "" over HTTPS (no sealing)
	ctype    []string // the Content-Type of a sealed request
	ntlm     *ntlmssp.SecuritySession
	krb      *krbSeal
	expires  time.Time // Kerberos: the ticket's end (the host ends the context then)
	bound    bool      // the handshake carried TLS channel bindings
}

func (cs *connSecurity) usable(id [32]byte, now time.Time) bool {
	return cs.id == id && (cs.expires.IsZero() || now.Add(ticketMargin/2).Before(cs.expires))
}

// maxConnTries bounds how many connections one request takes: a kept
// connection of another credential is closed and the next taken, a
// connection the host had closed is replaced once.
const maxConnTries = 4

// post sends one envelope on an authenticated connection of the
// endpoint and returns the reply body of an HTTP 200 (unsealed), in a
// buffer the caller releases. Other statuses are *HTTPError values with
// the (unsealed) fault.
func (a *secureAuth) post(ctx context.Context, ep *endpoint, body []byte) (*[]byte, error) {
	var lastErr error
	rejected := false
	for try := 0; try < maxConnTries; try++ {
		hc, err := a.spec.lean.Acquire(ctx, a.u)
		if err != nil {
			return nil, err
		}
		cs, _ := hc.State().(*connSecurity)
		if cs != nil && !cs.usable(a.id, time.Now()) {
			// Another credential's connection, or a context about to
			// expire: close it and take another.
			hc.Discard()
			hc.Release()
			continue
		}
		fresh := cs == nil
		if fresh {
			cs, err = a.handshake(ctx, hc)
			if err != nil {
				retry := hc.Retryable(err)
				hc.Discard()
				hc.Release()
				if retry && ctx.Err() == nil {
					continue
				}
				return nil, err
			}
			hc.SetState(cs)
			a.last.Store(cs)
		}
		p, status, err := a.exchange(ctx, hc, cs, ep, body)
		if err != nil {
			retry := !fresh && hc.Retryable(err)
			hc.Discard()
			hc.Release()
			if retry && ctx.Err() == nil {
				continue
			}
			return nil, err
		}
		if status == http.StatusUnauthorized && !fresh && !rejected {
			// The host forgot the connection's context (its service
			// restarted): authenticate a new connection, once.
			rejected = true
			hc.Discard()
			hc.Release()
			ep.release(p)
			lastErr = &HTTPError{Status: status}
			continue
		}
		hc.Release()
		return ep.finish(p, status, nil)
	}
	if lastErr == nil {
		lastErr = errors.New("no usable connection")
	}
	return nil, fmt.Errorf("%s: %w", a.spec.method, lastErr)
}

// exchange sends one envelope on an authenticated connection: sealed
// over HTTP. It returns the reply body (unsealed) and the status.
func (a *secureAuth) exchange(ctx context.Context, hc *h1.Conn, cs *connSecurity, ep *endpoint, body []byte) (*[]byte, int, error) {
	ctype := soapContentType
	wire := body
	if cs.protocol != "" {
		wp := ep.buffer(encryptedLen(cs.protocol, len(body), maxSignatureBytes, len(body)+aesOverhead))
		b, err := cs.sealTo(appendEncryptedHead((*wp)[:0], cs.protocol, len(body)), body)
		if err != nil {
			ep.release(wp)
			return nil, 0, err
		}
		*wp = append(b, mimeEnd...)
		defer ep.release(wp)
		wire = *wp
		ctype = cs.ctype
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.rawURL, bytes.NewReader(wire))
	if err != nil {
		return nil, 0, fmt.Errorf("build request: %w", err)
	}
	req.ContentLength = int64(len(wire))
	req.Header = http.Header{"Content-Type": ctype}
	resp, err := hc.RoundTrip(req)
	if err != nil {
		return nil, 0, err
	}
	p, err := ep.readBody(resp)
	if err != nil {
		return nil, 0, err
	}
	if cs.protocol == "" {
		if resp.StatusCode == http.StatusOK && !strings.Contains(resp.Header.Get("Content-Type"), "application/soap+xml") {
			ep.release(p)
			return nil, 0, fmt.Errorf("%w: content type %q is not application/soap+xml", errMalformed, resp.Header.Get("Content-Type"))
		}
		return p, resp.StatusCode, nil
	}
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(ct), "multipart/encrypted") {
		if resp.StatusCode == http.StatusOK || len(*p) > 0 && resp.StatusCode != http.StatusUnauthorized {
			// A readable answer on a sealed connection: never taken
			// for the host's.
			ep.release(p)
			return nil, 0, fmt.Errorf("%w (HTTP %d, %s)", errNotEncrypted, resp.StatusCode, ct)
		}
		return p, resp.StatusCode, nil // an empty 401, 400 or 500
	}
	n, sig, sealed, err := parseEncrypted(*p)
	if err != nil {
		ep.release(p)
		return nil, 0, err
	}
	out := ep.buffer(len(sig) + len(sealed))
	plain, err := cs.unsealTo((*out)[:0], sig, sealed)
	ep.release(p)
	if err != nil {
		ep.release(out)
		return nil, 0, err
	}
	*out = plain
	if len(plain) != n {
		ep.release(out)
		return nil, 0, fmt.Errorf("%w: the unsealed reply is %d bytes, its header says %d", errMalformed, len(plain), n)
	}
	return out, resp.StatusCode, nil
}

// aesOverhead bounds what a Kerberos wrap token adds to a message
// (confounder, header copy, checksum, padding) beyond its signature.
const aesOverhead = 96

// sealTo appends the sealed body's payload to dst: the signature's
// length (4 bytes, little-endian), the signature, the sealed message.
func (cs *connSecurity) sealTo(dst, body []byte) ([]byte, error) {
	if cs.krb != nil {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(cs.krb.headerLen))
		return cs.krb.sealTo(dst, body)
	}
	sealed, sig, err := cs.ntlm.Wrap(body)
	if err != nil {
		return nil, fmt.Errorf("ntlm: seal: %w", err)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(sig)))
	return append(append(dst, sig...), sealed...), nil
}

// unsealTo decrypts and checks a sealed message into dst's space.
func (cs *connSecurity) unsealTo(dst, sig, sealed []byte) ([]byte, error) {
	if cs.krb != nil {
		return cs.krb.unsealTo(dst, sig, sealed)
	}
	plain, err := cs.ntlm.Unwrap(sealed, sig)
	if err != nil {
		return nil, fmt.Errorf("ntlm: the sealed reply does not verify: %w", err)
	}
	return append(dst, plain...), nil
}

// handshake authenticates a new connection: Kerberos, NTLM, or
// Negotiate (Kerberos, else NTLM when Kerberos cannot be used for this
// target: nothing was sent then, so NTLM runs on the same connection).
func (a *secureAuth) handshake(ctx context.Context, hc *h1.Conn) (*connSecurity, error) {
	var cbt []byte
	if ts := hc.TLS(); ts != nil && len(ts.PeerCertificates) > 0 {
		cbt = tlsServerEndPoint(ts.PeerCertificates[0])
	}
	switch a.spec.method {
	case AuthNTLM:
		return a.ntlmHandshake(ctx, hc, cbt)
	case AuthKerberos:
		return a.krbHandshake(ctx, hc, cbt, "Kerberos")
	}
	cs, err := a.krbHandshake(ctx, hc, cbt, "Negotiate")
	var ke *KerberosError
	if err != nil && errors.As(err, &ke) && ke.fallback && a.secret.password != "" && ctx.Err() == nil {
		a.counts.fallbacks.Add(1)
		return a.ntlmHandshake(ctx, hc, cbt)
	}
	return cs, err
}

// authRoundTrip sends an empty authenticated POST on the connection and
// returns the status and the token of the scheme's WWW-Authenticate
// (nil when none), with the schemes the host offers.
func (a *secureAuth) authRoundTrip(ctx context.Context, hc *h1.Conn, scheme string, token []byte) (int, []byte, []string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.rawURL, http.NoBody)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = http.Header{
		"Content-Type":  soapContentType,
		"Authorization": {scheme + " " + base64.StdEncoding.EncodeToString(token)},
	}
	resp, err := hc.RoundTrip(req)
	if err != nil {
		return 0, nil, nil, err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read response: %w", err)
	}
	var tok []byte
	var offers []string
	for _, v := range resp.Header.Values("Www-Authenticate") {
		s, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		offers = append(offers, s)
		if strings.EqualFold(s, scheme) && strings.TrimSpace(rest) != "" {
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest)); err == nil {
				tok = b
			}
		}
	}
	return resp.StatusCode, tok, offers, nil
}

// ntlmHandshake: NEGOTIATE, the host's CHALLENGE (a 401), AUTHENTICATE
// (a 200 when the host accepts the user and password).
func (a *secureAuth) ntlmHandshake(ctx context.Context, hc *h1.Conn, cbt []byte) (*connSecurity, error) {
	if a.secret.password == "" {
		return nil, &AuthError{Method: "NTLM", Msg: "NTLM needs a password; the credential holds a keytab, which only Kerberos uses"}
	}
	a.counts.handshakes.Add(1)
	init, neg, err := newNTLMInitiator(a.user, a.secret.password)
	if err != nil {
		return nil, err
	}
	status, challenge, offers, err := a.authRoundTrip(ctx, hc, "Negotiate", neg)
	if err != nil {
		return nil, err
	}
	if status != http.StatusUnauthorized || challenge == nil {
		he := &HTTPError{Status: status, Offers: offers}
		if status == http.StatusUnauthorized {
			msg := "the host does not offer Negotiate, which carries NTLM"
			if offered(offers, "Negotiate") {
				msg = "the host offers Negotiate but sent no NTLM challenge (NTLM is off there)"
			}
			return nil, &AuthError{Method: "NTLM", Msg: msg, Err: he}
		}
		return nil, fmt.Errorf("ntlm: %w", he)
	}
	msg, sess, err := init.authenticate(challenge, cbt)
	if err != nil {
		return nil, &AuthError{Method: "NTLM", Msg: "the host's challenge", Err: err}
	}
	status, _, offers, err = a.authRoundTrip(ctx, hc, "Negotiate", msg)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		he := &HTTPError{Status: status, Offers: offers}
		if status == http.StatusUnauthorized {
			return nil, &AuthError{Method: "NTLM", Msg: "the host refused the user " + a.user + " or its password (NTLMv2)", Err: he}
		}
		return nil, fmt.Errorf("ntlm: %w", he)
	}
	cs := &connSecurity{id: a.id, mech: "ntlm", ntlm: sess, bound: cbt != nil}
	if !a.spec.https {
		cs.protocol = protoSPNEGO
		cs.ctype = []string{encryptedContentType(cs.protocol)}
	}
	return cs, nil
}

// krbHandshake: a ticket for HTTP/<host> (cached, or from the KDC), the
// AP-REQ in the Authorization header, the host's AP-REP in its 200.
func (a *secureAuth) krbHandshake(ctx context.Context, hc *h1.Conn, cbt []byte, scheme string) (*connSecurity, error) {
	if a.spec.spnErr != nil {
		return nil, a.spec.spnErr
	}
	c, err := a.kc.credFor(a.user, a.secret)
	if err != nil {
		return nil, err
	}
	t, err := a.kc.serviceTicket(ctx, c, a.spec.host)
	if err != nil {
		return nil, err
	}
	a.counts.handshakes.Add(1)
	init, tok, err := a.kc.newKrbInitiator(c.p, t, cbt)
	if err != nil {
		return nil, err
	}
	if scheme == "Negotiate" {
		if tok, err = spnegoInit(tok); err != nil {
			return nil, err
		}
	}
	status, reply, offers, err := a.authRoundTrip(ctx, hc, scheme, tok)
	if err != nil {
		return nil, err
	}
	if scheme == "Negotiate" && reply != nil {
		if reply, err = spnegoResponse(reply); err != nil {
			return nil, err
		}
	}
	switch {
	case status == http.StatusOK && reply == nil:
		return nil, errors.New("kerberos: the host accepted the ticket but sent no AP-REP (mutual authentication is required)")
	case status == http.StatusOK:
	case status == http.StatusUnauthorized && reply != nil:
		_, err := init.complete(reply) // a KRB-ERROR says why
		if err == nil {
			err = errors.New("kerberos: the host answered 401 with an AP-REP")
		}
		a.kc.forgetTicket(c, a.spec.host, err)
		return nil, err
	case status == http.StatusUnauthorized:
		he := &HTTPError{Status: status, Offers: offers}
		if !offered(offers, scheme) {
			return nil, &KerberosError{Reason: "not offered", Detail: "the host does not offer " + scheme + " authentication (" + he.Error() + ")",
				Fix: "enable it on the host: winrm set winrm/config/service/auth @{Kerberos=\"true\";Negotiate=\"true\"}", Err: he}
		}
		return nil, &KerberosError{Reason: "ticket rejected", Detail: "the host refused the ticket for HTTP/" + a.spec.host + " (" + he.Error() + ")",
			Fix: "check that the account may use WinRM on the host (Remote Management Users) and that HTTP/" + a.spec.host + " belongs to that computer", Err: he}
	default:
		return nil, fmt.Errorf("kerberos: %w", &HTTPError{Status: status, Offers: offers})
	}
	seal, err := init.complete(reply)
	if err != nil {
		return nil, err
	}
	cs := &connSecurity{id: a.id, mech: "kerberos", krb: seal, expires: t.end, bound: cbt != nil}
	switch {
	case a.spec.https:
	case scheme == "Kerberos":
		cs.protocol = protoKerberos
	default:
		cs.protocol = protoSPNEGO
	}
	if cs.protocol != "" {
		cs.ctype = []string{encryptedContentType(cs.protocol)}
	}
	return cs, nil
}

func offered(offers []string, scheme string) bool {
	for _, o := range offers {
		if strings.EqualFold(o, scheme) {
			return true
		}
	}
	return false
}

// forgetTicket drops a service ticket the host rejected, so the next
// attempt (after the failure delay) asks the KDC for a new one.
func (k *kerberosClient) forgetTicket(c *krbCred, host string, err error) {
	spn := "HTTP/" + host + "@" + k.spnRealm(host, c.p)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tickets, spn)
	c.fails[spn] = krbFailure{err: err, until: time.Now().Add(credFailDelay)}
}
