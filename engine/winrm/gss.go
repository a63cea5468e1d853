package winrm

import (
	"crypto/md5" //nolint:gosec // RFC 4121 channel bindings and NTLM are defined with MD5
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/bodgit/ntlmssp"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// gss.go: the security contexts' first tokens. Kerberos: an AP-REQ
// with a fresh subkey, a sequence number and the GSS checksum (the
// context flags and, over HTTPS, the channel bindings), and the host's
// AP-REP, whose subkey and sequence number seal the messages; as a bare
// Kerberos token (the Kerberos scheme) or inside SPNEGO (Negotiate).
// gokrb5 builds the AP-REQ but neither adds a subkey nor reads an AP-REP
// (its KRB5Token.Verify says so), so those steps are here. NTLM:
// bodgit/ntlmssp (NTLMv2, session security, channel bindings).

// GSS context flags rmm asks for (RFC 2744): mutual authentication,
// replay and sequence detection, confidentiality, integrity.
const gssFlags = 0x02 | 0x04 | 0x08 | 0x10 | 0x20

// GSS krb5 token ids (RFC 1964 1.1).
var (
	tokAPReq    = []byte{0x01, 0x00}
	tokAPRep    = []byte{0x02, 0x00}
	tokKRBError = []byte{0x03, 0x00}
)

// gssKrb5Token frames a Kerberos message as a GSS initial context token.
func gssKrb5Token(tokID, msg []byte) []byte {
	oid, _ := asn1.Marshal(gssapi.OIDKRB5.OID()) // a fixed OID: no error
	b := make([]byte, 0, len(oid)+2+len(msg))
	b = append(b, oid...)
	b = append(b, tokID...)
	b = append(b, msg...)
	return asn1tools.AddASNAppTag(b, 0)
}

// parseGSSKrb5 reads a GSS krb5 token: its id and the Kerberos message.
func parseGSSKrb5(tok []byte) (tokID, msg []byte, err error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0")
	if err != nil {
		return nil, nil, fmt.Errorf("not a GSS token: %w", err)
	}
	if !oid.Equal(gssapi.OIDKRB5.OID()) && !oid.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
		return nil, nil, fmt.Errorf("GSS token of mechanism %s, not Kerberos", oid)
	}
	if len(rest) < 2 {
		return nil, nil, errors.New("GSS token too short")
	}
	return rest[:2], rest[2:], nil
}

// krbInitiator is a Kerberos context being established with a host.
type krbInitiator struct {
	ticket *krbTicket
	auth   types.Authenticator
}

// newKrbInitiator makes the AP-REQ for a ticket, as a GSS token; cbt
// is the channel bindings' application data (tls-server-end-point),
// nil over HTTP.
func (k *kerberosClient) newKrbInitiator(p krbPrincipal, t *krbTicket, cbt []byte) (*krbInitiator, []byte, error) {
	et, err := crypto.GetEtype(t.key.KeyType)
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: %w", err)
	}
	auth, err := types.NewAuthenticator(p.realm, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, p.user))
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: authenticator: %w", err)
	}
	// Two authenticators of one client must differ in their time, or a
	// host's replay cache refuses the second (KRB_AP_ERR_REPEAT): hundreds
	// of handshakes start within one microsecond in a sweep. MIT's
	// library does the same (krb5_us_timeofday).
	auth.CTime, auth.Cusec = k.uniqueTime()
	if err := auth.GenerateSeqNumberAndSubKey(t.key.KeyType, et.GetKeyByteSize()); err != nil {
		return nil, nil, fmt.Errorf("kerberos: authenticator: %w", err)
	}
	// RFC 4121 4.1.1: Lgth, Bnd (MD5 of the channel bindings), Flags.
	ck := make([]byte, 24)
	binary.LittleEndian.PutUint32(ck, 16)
	if cbt != nil {
		copy(ck[4:20], channelBindingsHash(cbt))
	}
	binary.LittleEndian.PutUint32(ck[20:], gssFlags)
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: ck}
	apReq, err := messages.NewAPReq(t.ticket, t.key, auth)
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: AP-REQ: %w", err)
	}
	types.SetFlag(&apReq.APOptions, flags.APOptionMutualRequired)
	b, err := apReq.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: AP-REQ: %w", err)
	}
	return &krbInitiator{ticket: t, auth: auth}, gssKrb5Token(tokAPReq, b), nil
}

// complete reads the host's answer (a GSS krb5 token: AP-REP, or a
// KRB-ERROR when it refused the ticket) and returns the sealing state.
func (i *krbInitiator) complete(tok []byte) (*krbSeal, error) {
	id, msg, err := parseGSSKrb5(tok)
	if err != nil {
		return nil, fmt.Errorf("kerberos: the host's answer: %w", err)
	}
	switch {
	case string(id) == string(tokKRBError):
		var ke messages.KRBError
		if err := ke.Unmarshal(msg); err != nil {
			return nil, fmt.Errorf("kerberos: the host's error: %w", err)
		}
		return nil, hostRejected(ke.ErrorCode, ke.EText)
	case string(id) != string(tokAPRep):
		return nil, fmt.Errorf("kerberos: the host answered a GSS token of id %x, not an AP-REP", id)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(msg); err != nil {
		return nil, fmt.Errorf("kerberos: AP-REP: %w", err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, i.ticket.key, keyusage.AP_REP_ENCPART)
	if err != nil {
		return nil, fmt.Errorf("kerberos: the host's AP-REP does not decrypt with the session key (not the host the ticket is for): %w", err)
	}
	var ep messages.EncAPRepPart
	if err := ep.Unmarshal(plain); err != nil {
		return nil, fmt.Errorf("kerberos: AP-REP: %w", err)
	}
	if ep.CTime.Unix() != i.auth.CTime.Unix() || ep.Cusec != i.auth.Cusec {
		return nil, errors.New("kerberos: the host's AP-REP answers another authenticator (mutual authentication failed)")
	}
	key, subkey := i.auth.SubKey, false
	if len(ep.Subkey.KeyValue) > 0 {
		key, subkey = ep.Subkey, true
	}
	return newKrbSeal(key, false, subkey, uint64(i.auth.SeqNumber), uint64(ep.SequenceNumber))
}

// hostRejected explains a KRB-ERROR a host sent about a ticket.
func hostRejected(code int32, text string) error {
	e := &KerberosError{Code: code, Err: &KDCError{Code: code, Text: text}}
	switch code {
	case errorcode.KRB_AP_ERR_SKEW:
		e.Reason, e.Detail = "clock skew", "the host's clock differs from this machine's by more than 5 minutes"
		e.Fix = "synchronise both clocks with the domain (w32tm /resync on the host, NTP here)"
	case errorcode.KRB_AP_ERR_MODIFIED, errorcode.KRB_AP_ERR_NOT_US, errorcode.KRB_AP_ERR_BADKEYVER:
		e.Reason, e.Detail = "ticket rejected", "the host cannot read its ticket: the SPN's key in the KDC is not the host's (a duplicate SPN, a computer account reset, or the wrong host at this address)"
		e.Fix = "check the device's FQDN and address point at the same computer, and that HTTP/<fqdn> is registered once (setspn -Q HTTP/<fqdn>)"
	case errorcode.KRB_AP_ERR_TKT_EXPIRED:
		e.Reason, e.Detail = "ticket expired", "the host says the ticket has expired"
		e.Fix = "check the clocks of this machine, the KDC and the host"
	default:
		e.Reason, e.Detail = "ticket rejected", fmt.Sprintf("the host refused the ticket: %s", errorcode.Lookup(code))
		e.Fix = "see the host's System event log (Kerberos errors)"
	}
	return e
}

// spnegoInit wraps a Kerberos token in SPNEGO's NegTokenInit (what
// Windows sends with Negotiate).
func spnegoInit(krbToken []byte) ([]byte, error) {
	t := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes:      []asn1.ObjectIdentifier{gssapi.OIDKRB5.OID(), gssapi.OIDMSLegacyKRB5.OID()},
		MechTokenBytes: krbToken,
	}}
	b, err := t.Marshal()
	if err != nil {
		return nil, fmt.Errorf("spnego: %w", err)
	}
	return b, nil
}

// spnegoResponse reads the host's SPNEGO answer: the mechanism's token,
// or an error when it rejected the negotiation.
func spnegoResponse(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != 0xa1 {
		return b, nil // a bare mechanism token
	}
	var r spnego.NegTokenResp
	if err := r.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("spnego: %w", err)
	}
	if r.NegState == 2 { // reject
		if len(r.ResponseToken) > 0 {
			return r.ResponseToken, nil // a KRB-ERROR says why
		}
		return nil, errors.New("spnego: the host rejected the negotiation")
	}
	return r.ResponseToken, nil
}

// channelBindingsHash is the MD5 of a gss_channel_bindings_struct with
// no addresses and the given application data (RFC 4121 4.1.1.2).
func channelBindingsHash(app []byte) []byte {
	b := make([]byte, 20, 20+len(app))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(app)))
	b = append(b, app...)
	sum := md5.Sum(b) //nolint:gosec // defined so
	return sum[:]
}

// tlsServerEndPoint is the channel bindings' application data of a TLS
// connection (RFC 5929): "tls-server-end-point:" and the hash of the
// server's certificate, SHA-256 unless its signature uses a stronger
// hash.
func tlsServerEndPoint(cert *x509.Certificate) []byte {
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write(cert.Raw)
	return append([]byte("tls-server-end-point:"), h.Sum(nil)...)
}

// ntlmInitiator is an NTLM context being established.
type ntlmInitiator struct {
	c *ntlmssp.Client
}

// newNTLMInitiator starts NTLMv2 for a user (DOMAIN\user, user@domain
// or user) and returns the NEGOTIATE message.
func newNTLMInitiator(user, password string) (*ntlmInitiator, []byte, error) {
	domain, name := "", user
	if d, n, ok := strings.Cut(user, `\`); ok {
		domain, name = d, n
	}
	c, err := ntlmssp.NewClient(ntlmssp.SetCompatibilityLevel(3), ntlmssp.SetUserInfo(name, password),
		ntlmssp.SetDomain(domain), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	if err != nil {
		return nil, nil, fmt.Errorf("ntlm: %w", err)
	}
	neg, err := c.Authenticate(nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("ntlm: %w", err)
	}
	return &ntlmInitiator{c: c}, neg, nil
}

// authenticate answers the host's CHALLENGE; cbt is the channel
// bindings' application data over HTTPS, nil over HTTP.
func (i *ntlmInitiator) authenticate(challenge, cbt []byte) ([]byte, *ntlmssp.SecuritySession, error) {
	// CHALLENGE's NegotiateFlags (MS-NLMP 2.2.1.2): the host must agree
	// to seal (0x20) with 128-bit keys (0x20000000), or messages would
	// cross the network readable.
	const ntlmSeal, ntlm128 = 0x00000020, 0x20000000
	if len(challenge) < 24 || string(challenge[:8]) != "NTLMSSP\x00" {
		return nil, nil, errors.New("ntlm: the host's answer is not an NTLM CHALLENGE")
	}
	if f := binary.LittleEndian.Uint32(challenge[20:24]); f&ntlmSeal == 0 || f&ntlm128 == 0 {
		return nil, nil, errors.New("ntlm: the host does not agree to 128-bit sealing; rmm does not send readable messages")
	}
	var cb *ntlmssp.ChannelBindings
	if cbt != nil {
		cb = &ntlmssp.ChannelBindings{ApplicationData: cbt}
	}
	b, err := i.c.Authenticate(challenge, cb)
	if err != nil {
		return nil, nil, fmt.Errorf("ntlm: the host's challenge: %w", err)
	}
	s := i.c.SecuritySession()
	if s == nil {
		return nil, nil, errors.New("ntlm: the host did not agree to session security (signing and sealing)")
	}
	return b, s, nil
}

// uniqueTime is now, in an authenticator's form (seconds and
// microseconds), later than any time the client handed out before.
func (k *kerberosClient) uniqueTime() (time.Time, int) {
	now := time.Now().UnixMicro()
	for {
		last := k.lastAuth.Load()
		t := max(now, last+1)
		if k.lastAuth.CompareAndSwap(last, t) {
			return time.Unix(t/1e6, 0).UTC(), int(t % 1e6)
		}
	}
}
