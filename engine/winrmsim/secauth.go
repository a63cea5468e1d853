package winrmsim

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"crypto/sha256"
	"crypto/sha512"
	"hash"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// secauth.go: Negotiate (NTLM, or Kerberos through SPNEGO) and Kerberos
// as a Windows host answers them, and WinRM message encryption
// (MS-WSMV 2.2.9.1). These authenticate the connection: the handshake's
// legs are answered here, the security context is kept on the
// connection, and every later request on it is authenticated by it.
// Over HTTP a host whose AllowUnencrypted is false (Windows' default)
// takes only sealed messages on such a connection and seals its replies;
// a readable message gets HTTP 500 with no body, what Windows answers
// (reported by pywinrm, winrm4j and Metasploit users whose clients did
// not encrypt: diyan/pywinrm#129, cloudsoft/winrm4j#151,
// rapid7/metasploit-framework#8900; never recorded from a real host
// here). Every host takes NTLM for its local account, as Windows'
// default Negotiate=true does; hosts of the "domain" profile also take
// Kerberos for the domain's account, refuse Basic, and check channel
// bindings strictly over HTTPS.

// DefaultDomain is the realm of the simulated domain when hosts of the
// "domain" profile are asked for without Config.Domain.
const DefaultDomain = "RMMLAB.TEST"

// Message encryption protocols.
const (
	protoSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	protoKerberos = "application/HTTP-Kerberos-session-encrypted"
)

// simDomain is the simulated Active Directory domain.
type simDomain struct {
	realm    string                    // RMMLAB.TEST
	dns      string                    // rmmlab.test
	netbios  string                    // RMMLAB
	kdc      string                    // host:port, for what the fleet tells clients
	keytabs  map[string]*keytab.Keytab // per host FQDN: the keys of HTTP/<fqdn>
	replay   replayCache
	keytabOK bool // a keytab was given
}

func newSimDomain(cfg Config) (*simDomain, error) {
	realm := strings.ToUpper(strings.TrimSpace(cfg.Domain))
	if realm == "" {
		realm = DefaultDomain
	}
	if strings.ContainsAny(realm, " /\\@") || !strings.Contains(realm, ".") {
		return nil, fmt.Errorf("Domain %q is not a DNS-style realm (e.g. CORP.EXAMPLE)", cfg.Domain)
	}
	d := &simDomain{realm: realm, dns: strings.ToLower(realm), netbios: strings.SplitN(realm, ".", 2)[0], kdc: cfg.KDC,
		keytabs: map[string]*keytab.Keytab{}}
	if len(cfg.Keytab) == 0 {
		return d, nil
	}
	kt := new(keytab.Keytab)
	if err := kt.Unmarshal(cfg.Keytab); err != nil {
		return nil, fmt.Errorf("Keytab: %w", err)
	}
	d.keytabOK = true
	for _, e := range kt.Entries {
		c := e.Principal.Components
		if len(c) != 2 || !strings.EqualFold(c[0], "HTTP") || !strings.EqualFold(e.Principal.Realm, realm) {
			continue
		}
		host := strings.ToLower(c[1])
		k := d.keytabs[host]
		if k == nil {
			k = new(keytab.Keytab)
			d.keytabs[host] = k
		}
		k.Entries = append(k.Entries, e)
	}
	return d, nil
}

// fqdn is a joined host's DNS name.
func (d *simDomain) fqdn(hostname string) string {
	return strings.ToLower(hostname) + "." + d.dns
}

// connAuth is a connection's authentication: an NTLM handshake in
// progress, or an established context.
type connAuth struct {
	pending *ntlmServer
	ntlm    *ntlmSeal
	krb     *simSeal
	expiry  time.Time // Kerberos: the ticket's end
}

func (ca *connAuth) established() bool { return ca != nil && (ca.ntlm != nil || ca.krb != nil) }

func (ca *connAuth) seal(msg []byte) (sig, data []byte, err error) {
	if ca.krb != nil {
		return ca.krb.seal(msg)
	}
	sig, data = ca.ntlm.seal(msg)
	return sig, data, nil
}

func (ca *connAuth) unseal(sig, data []byte) ([]byte, error) {
	if ca.krb != nil {
		return ca.krb.unseal(sig, data)
	}
	return ca.ntlm.unseal(sig, data)
}

// secure handles Negotiate and Kerberos for one request. done: the
// request has been answered here (a handshake leg, a refusal, the empty
// POST that ends a handshake). authed: the connection's context
// authenticates the request; its body has been unsealed and the reply
// will be sealed where the request was.
func (x *exchange) secure() (done, authed bool) {
	sc, hr, h := x.sc, x.hr, x.h
	if hr.authScheme != "" {
		// A new handshake (or its next leg) replaces the connection's
		// context.
		if !x.handshake() {
			return true, false
		}
	}
	ca := sc.auth
	if !ca.established() {
		return false, false
	}
	if !ca.expiry.IsZero() && time.Now().After(ca.expiry) {
		// The ticket ended: so does the context.
		sc.auth = nil
		x.unauthorized()
		return true, false
	}
	if len(*hr.body) == 0 && !hr.tooBig {
		// The handshake's POST without a body (pywinrm and Windows send
		// one before the first sealed message).
		x.respond(http.StatusOK, "", nil, nil)
		return true, true
	}
	if hr.encrypted != "" {
		plain, err := unsealBody(ca, *hr.body)
		if err != nil {
			x.f.logf("winrmsim: %s: sealed request refused: %v", h.name, err)
			h.stats.authFailures.Add(1)
			sc.auth = nil
			x.respond(http.StatusBadRequest, "", nil, nil)
			x.hr.closeAfter = true
			return true, false
		}
		h.stats.sealed.Add(1)
		*hr.body = append((*hr.body)[:0], plain...)
		hr.soapContent = true
		x.sealWith, x.sealProto = ca, hr.encrypted
		return false, true
	}
	if x.f.transport(h.name) == "http" && !x.f.cfg.AllowUnencrypted {
		h.stats.plainRefused.Add(1)
		x.f.logf("winrmsim: %s: a readable message on a Negotiate/Kerberos connection over HTTP (AllowUnencrypted is false)", h.name)
		x.respond(http.StatusInternalServerError, "", nil, nil)
		return true, true
	}
	return false, true
}

// handshake answers a Negotiate or Kerberos token. It reports whether
// the connection is now authenticated (the request goes on); otherwise
// it has answered (a 401 with a challenge or a refusal).
func (x *exchange) handshake() bool {
	sc, hr, h, f := x.sc, x.hr, x.h, x.f
	tok := hr.authToken
	negotiate := strings.EqualFold(hr.authScheme, "Negotiate")
	cbt := f.channelBindings(h)
	if negotiate && isNTLM(tok, 1) {
		srv, challenge, err := newNTLMServer(f.ntlmIdentity(h), tok)
		if err != nil {
			x.refuseAuth(err)
			return false
		}
		sc.auth = &connAuth{pending: srv}
		x.respond(http.StatusUnauthorized, "", []string{"WWW-Authenticate", "Negotiate " + base64.StdEncoding.EncodeToString(challenge)}, nil)
		return false
	}
	if negotiate && isNTLM(tok, 3) {
		ca := sc.auth
		if ca == nil || ca.pending == nil {
			x.refuseAuth(errors.New("ntlm: an AUTHENTICATE message without a challenge on this connection"))
			return false
		}
		res, err := ca.pending.authenticate(tok, cbt)
		if err != nil {
			x.refuseAuth(err)
			return false
		}
		sc.auth = &connAuth{ntlm: res.seal}
		h.stats.ntlmContexts.Add(1)
		return true
	}
	krbTok, wrapped, ok := spnegoKrb5(tok)
	if !ok || negotiate == false && wrapped {
		x.refuseAuth(errors.New("an authentication token that is neither NTLM nor Kerberos"))
		return false
	}
	acc := f.krbAcceptorFor(h)
	if acc == nil {
		x.refuseAuth(errors.New("kerberos: the host is not joined to a domain, or the keytab holds no key for it"))
		return false
	}
	res, err := acc.accept(krbTok, cbt)
	if err != nil {
		var r *krbRefusal
		if errors.As(err, &r) && r.token != nil {
			t := r.token
			if wrapped {
				t = spnegoAccept(t, false)
			}
			h.stats.authFailures.Add(1)
			f.logf("winrmsim: %s: %v", h.name, err)
			x.respond(http.StatusUnauthorized, "", []string{"WWW-Authenticate", hr.authScheme + " " + base64.StdEncoding.EncodeToString(t)}, nil)
			return false
		}
		x.refuseAuth(err)
		return false
	}
	reply := res.reply
	if wrapped {
		reply = spnegoAccept(reply, true)
	}
	x.authHeader = []string{"WWW-Authenticate", hr.authScheme + " " + base64.StdEncoding.EncodeToString(reply)}
	sc.auth = &connAuth{krb: res.seal, expiry: res.expiry}
	h.stats.krbContexts.Add(1)
	return true
}

// refuseAuth answers a failed handshake with the host's 401.
func (x *exchange) refuseAuth(err error) {
	x.sc.auth = nil
	x.f.logf("winrmsim: %s: %v", x.h.name, err)
	x.unauthorized()
}

// unsealBody reads a multipart/encrypted body and unseals it.
func unsealBody(ca *connAuth, body []byte) ([]byte, error) {
	n, sig, data, err := parseEncrypted(body)
	if err != nil {
		return nil, err
	}
	plain, err := ca.unseal(sig, data)
	if err != nil {
		return nil, err
	}
	if len(plain) != n {
		return nil, fmt.Errorf("the unsealed message is %d bytes, its header says %d", len(plain), n)
	}
	return plain, nil
}

// sealBody seals a reply as a multipart/encrypted body.
func sealBody(ca *connAuth, proto string, body []byte) ([]byte, error) {
	sig, data, err := ca.seal(body)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(body) + len(sig) + 256)
	b.WriteString("--Encrypted Boundary\r\n\tContent-Type: ")
	b.WriteString(proto)
	b.WriteString("\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n")
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(sig)))
	b.Write(n[:])
	b.Write(sig)
	b.Write(data)
	b.WriteString("--Encrypted Boundary--\r\n")
	return b.Bytes(), nil
}

var errEncrypted = errors.New("malformed encrypted body")

// parseEncrypted reads a multipart/encrypted body: the original length,
// the signature and the sealed data. Part headers may be indented with
// a tab (Windows, pywinrm) or not.
func parseEncrypted(body []byte) (int, []byte, []byte, error) {
	const boundary = "--Encrypted Boundary"
	if !bytes.HasPrefix(body, []byte(boundary+"\r\n")) {
		return 0, nil, nil, fmt.Errorf("%w: no boundary", errEncrypted)
	}
	rest := body[len(boundary)+2:]
	i := bytes.Index(rest, []byte(boundary+"\r\n"))
	if i < 0 {
		return 0, nil, nil, fmt.Errorf("%w: one part only", errEncrypted)
	}
	head := rest[:i]
	rest = rest[i+len(boundary)+2:]
	j := bytes.Index(head, []byte("Length="))
	if j < 0 {
		return 0, nil, nil, fmt.Errorf("%w: no OriginalContent length", errEncrypted)
	}
	num := head[j+len("Length="):]
	if k := bytes.IndexAny(num, "\r\n;"); k >= 0 {
		num = num[:k]
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(num)))
	if err != nil || n < 0 || n > maxRequestBytes {
		return 0, nil, nil, fmt.Errorf("%w: bad length", errEncrypted)
	}
	rest = bytes.TrimLeft(rest, "\t ")
	const octet = "Content-Type: application/octet-stream\r\n"
	if !bytes.HasPrefix(rest, []byte(octet)) {
		return 0, nil, nil, fmt.Errorf("%w: the second part is not application/octet-stream", errEncrypted)
	}
	rest = rest[len(octet):]
	end := bytes.LastIndex(rest, []byte(boundary+"--"))
	if end < 0 {
		return 0, nil, nil, fmt.Errorf("%w: no closing boundary", errEncrypted)
	}
	payload := rest[:end]
	if len(payload) < 4 {
		return 0, nil, nil, fmt.Errorf("%w: no signature", errEncrypted)
	}
	sl := int(binary.LittleEndian.Uint32(payload))
	if sl > 256 || 4+sl > len(payload) {
		return 0, nil, nil, fmt.Errorf("%w: bad signature length", errEncrypted)
	}
	return n, payload[4 : 4+sl], payload[4+sl:], nil
}

// encryptedProtocol reads the protocol parameter of a multipart/encrypted
// Content-Type.
func encryptedProtocol(ct []byte) string {
	i := bytes.Index(bytes.ToLower(ct), []byte("protocol="))
	if i < 0 {
		return protoSPNEGO
	}
	v := ct[i+len("protocol="):]
	if k := bytes.IndexByte(v, ';'); k >= 0 {
		v = v[:k]
	}
	return string(bytes.Trim(bytes.TrimSpace(v), `"`))
}

// ntlmIdentity is what host h says and accepts in NTLM.
func (f *Fleet) ntlmIdentity(h *host) ntlmIdentity {
	id := ntlmIdentity{computer: h.name, nbDomain: h.name, user: f.cfg.User, password: f.cfg.Password}
	if h.hp.domain && f.dom != nil {
		id.joined, id.nbDomain, id.dnsDomain, id.strictCBT = true, f.dom.netbios, f.dom.dns, true
	}
	return id
}

// krbAcceptorFor is host h's Kerberos acceptor, nil when it takes no Kerberos
// (not joined, or no key for it in the keytab).
func (f *Fleet) krbAcceptorFor(h *host) *krbAcceptor {
	if !h.hp.domain || f.dom == nil {
		return nil
	}
	fq := f.dom.fqdn(h.name)
	kt := f.dom.keytabs[fq]
	if kt == nil {
		return nil
	}
	return &krbAcceptor{
		spn:    types.PrincipalName{NameType: nametype.KRB_NT_SRV_HST, NameString: []string{"HTTP", fq}},
		realm:  f.dom.realm,
		kt:     kt,
		user:   f.cfg.User,
		strict: true,
		replay: &f.dom.replay,
	}
}

// channelBindings is the TLS channel bindings' application data of an
// HTTPS host (tls-server-end-point of its certificate), nil over HTTP.
func (f *Fleet) channelBindings(h *host) []byte {
	if !f.tls.serves(h.name) {
		return nil
	}
	cfg, err := f.tls.serverConfig(h)
	if err != nil || len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return nil
	}
	cert, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		return nil
	}
	var hh hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		hh = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		hh = sha512.New()
	default:
		hh = sha256.New()
	}
	hh.Write(cert.Raw)
	return append([]byte("tls-server-end-point:"), hh.Sum(nil)...)
}
