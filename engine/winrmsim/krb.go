package winrmsim

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RFC 4121 channel bindings are defined with MD5
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 3962's aes*-cts-hmac-sha1-96
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// krb.go: the acceptor side of Kerberos as a domain-joined Windows host
// plays it: the AP-REQ checked against the host's key in the keytab
// (HTTP/<fqdn>), step by step so each refusal is the KRB-ERROR Windows
// sends (a ticket for another host, an expired ticket, clock skew, a
// replayed authenticator, channel bindings of another TLS connection);
// an AP-REP with a fresh acceptor subkey and sequence number, as SSPI
// answers; and the RFC 4121 wrap tokens the messages are sealed with
// (gokrb5 has the checksum form only). The simulator imports nothing of
// rmm, so the client's code is not reused: the two meet on the wire.

// krbMaxSkew is Windows' (and Kerberos') default clock tolerance.
const krbMaxSkew = 5 * time.Minute

// krbAcceptor checks AP-REQs for one host.
type krbAcceptor struct {
	spn    types.PrincipalName // HTTP/<fqdn>
	realm  string
	kt     *keytab.Keytab // the host's keys only
	user   string         // the account the host accepts
	strict bool           // channel bindings required over HTTPS
	replay *replayCache
}

// krbAccepted is an established context: the sealing state and the
// token that answers the client (an AP-REP).
type krbAccepted struct {
	user   string
	seal   *simSeal
	reply  []byte    // the GSS AP-REP token
	expiry time.Time // the ticket's end: the context ends with it
}

// krbRefusal is an AP-REQ the host refused, with the KRB-ERROR to send.
type krbRefusal struct {
	code  int32
	text  string
	token []byte // the GSS KRB-ERROR token
}

func (r *krbRefusal) Error() string {
	return fmt.Sprintf("kerberos: %s (%d): %s", errorcode.Lookup(r.code), r.code, r.text)
}

func (a *krbAcceptor) refuse(code int32, text string) *krbRefusal {
	ke := messages.NewKRBError(a.spn, a.realm, code, text)
	b, err := ke.Marshal()
	if err != nil {
		return &krbRefusal{code: code, text: text}
	}
	return &krbRefusal{code: code, text: text, token: gssToken(gssapi.OIDKRB5.OID(), []byte{0x03, 0x00}, b)}
}

// accept checks a GSS krb5 initial token; cbt is the TLS channel
// bindings' application data (nil over HTTP).
func (a *krbAcceptor) accept(tok, cbt []byte) (*krbAccepted, error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0")
	if err != nil || len(rest) < 2 || !(oid.Equal(gssapi.OIDKRB5.OID()) || oid.Equal(gssapi.OIDMSLegacyKRB5.OID())) || rest[0] != 1 || rest[1] != 0 {
		return nil, a.refuse(errorcode.KRB_AP_ERR_MSG_TYPE, "not a Kerberos AP-REQ")
	}
	var req messages.APReq
	if err := req.Unmarshal(rest[2:]); err != nil {
		return nil, a.refuse(errorcode.KRB_AP_ERR_MSG_TYPE, "malformed AP-REQ")
	}
	t := &req.Ticket
	if !strings.EqualFold(t.Realm, a.realm) || !t.SName.Equal(a.spn) && !strings.EqualFold(t.SName.PrincipalNameString(), a.spn.PrincipalNameString()) {
		return nil, a.refuse(errorcode.KRB_AP_ERR_NOT_US, "the ticket is for "+t.SName.PrincipalNameString()+"@"+t.Realm)
	}
	key, _, err := a.kt.GetEncryptionKey(a.spn, a.realm, t.EncPart.KVNO, t.EncPart.EType)
	if err != nil {
		return nil, a.refuse(errorcode.KRB_AP_ERR_BADKEYVER, "no key of that version and type")
	}
	if err := t.Decrypt(key); err != nil {
		return nil, a.refuse(errorcode.KRB_AP_ERR_MODIFIED, "the ticket does not decrypt with the host's key")
	}
	now := time.Now().UTC()
	ep := t.DecryptedEncPart
	if ep.StartTime.Sub(now) > krbMaxSkew {
		return nil, a.refuse(errorcode.KRB_AP_ERR_TKT_NYV, "the ticket is not valid yet")
	}
	if now.Sub(ep.EndTime) > krbMaxSkew {
		return nil, a.refuse(errorcode.KRB_AP_ERR_TKT_EXPIRED, "the ticket has expired")
	}
	if err := req.DecryptAuthenticator(ep.Key); err != nil {
		return nil, a.refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, "the authenticator does not decrypt with the session key")
	}
	au := req.Authenticator
	if !au.CName.Equal(ep.CName) || !strings.EqualFold(au.CRealm, ep.CRealm) {
		return nil, a.refuse(errorcode.KRB_AP_ERR_BADMATCH, "the authenticator names another client")
	}
	ct := au.CTime.Add(time.Duration(au.Cusec) * time.Microsecond)
	if d := now.Sub(ct); d > krbMaxSkew || d < -krbMaxSkew {
		return nil, a.refuse(errorcode.KRB_AP_ERR_SKEW, "clock skew too great")
	}
	if a.replay.seen(a.spn.PrincipalNameString()+"|"+au.CName.PrincipalNameString()+"@"+au.CRealm, au.CTime, au.Cusec, now) {
		return nil, a.refuse(errorcode.KRB_AP_ERR_REPEAT, "a replayed authenticator")
	}
	if au.Cksum.CksumType != chksumtype.GSSAPI || len(au.Cksum.Checksum) < 24 || binary.LittleEndian.Uint32(au.Cksum.Checksum) != 16 {
		return nil, a.refuse(errorcode.KRB_AP_ERR_INAPP_CKSUM, "no GSS checksum")
	}
	bnd := au.Cksum.Checksum[4:20]
	if cbt != nil {
		zero := bytes.Equal(bnd, make([]byte, 16))
		if zero && a.strict || !zero && !bytes.Equal(bnd, channelBindingsHash(cbt)) {
			return nil, a.refuse(errorcode.KRB_AP_ERR_MODIFIED, "channel bindings missing or for another TLS connection")
		}
	}
	user := ep.CName.PrincipalNameString()
	if !strings.EqualFold(user, a.user) || !strings.EqualFold(ep.CRealm, a.realm) {
		return nil, a.refuse(errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, "the account "+user+"@"+ep.CRealm+" may not use WinRM here")
	}
	et, err := crypto.GetEtype(ep.Key.KeyType)
	if err != nil || et.GetHMACBitLength() == 0 || ep.Key.KeyType < 17 {
		return nil, a.refuse(errorcode.KDC_ERR_ETYPE_NOSUPP, "the session key is not AES")
	}
	// The acceptor's subkey and sequence number, as SSPI answers with
	// mutual authentication.
	sub := types.EncryptionKey{KeyType: ep.Key.KeyType, KeyValue: make([]byte, et.GetKeyByteSize())}
	_, _ = rand.Read(sub.KeyValue)
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<30))
	seq := n.Int64()
	reply, err := apRep(ep.Key, au, sub, seq)
	if err != nil {
		return nil, a.refuse(errorcode.KRB_ERR_GENERIC, err.Error())
	}
	seal, err := newSimSeal(sub, uint64(seq), uint64(au.SeqNumber))
	if err != nil {
		return nil, a.refuse(errorcode.KDC_ERR_ETYPE_NOSUPP, err.Error())
	}
	return &krbAccepted{user: user, seal: seal, reply: reply, expiry: ep.EndTime}, nil
}

// encAPRepPart marshals as EncAPRepPart (gokrb5 reads it but cannot
// write it).
type encAPRepPart struct {
	CTime          time.Time           `asn1:"generalized,explicit,tag:0"`
	Cusec          int                 `asn1:"explicit,tag:1"`
	Subkey         types.EncryptionKey `asn1:"optional,explicit,tag:2"`
	SequenceNumber int64               `asn1:"optional,explicit,tag:3"`
}

type apRepMsg struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	EncPart types.EncryptedData `asn1:"explicit,tag:2"`
}

// apRep is the GSS token of an AP-REP answering the authenticator.
func apRep(sessionKey types.EncryptionKey, au types.Authenticator, sub types.EncryptionKey, seq int64) ([]byte, error) {
	part, err := asn1.Marshal(encAPRepPart{CTime: au.CTime, Cusec: au.Cusec, Subkey: sub, SequenceNumber: seq})
	if err != nil {
		return nil, err
	}
	part = asn1tools.AddASNAppTag(part, asnAppTag.EncAPRepPart)
	enc, err := crypto.GetEncryptedData(part, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, err
	}
	b, err := asn1.Marshal(apRepMsg{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: enc})
	if err != nil {
		return nil, err
	}
	return gssToken(gssapi.OIDKRB5.OID(), []byte{0x02, 0x00}, asn1tools.AddASNAppTag(b, asnAppTag.APREP)), nil
}

func gssToken(oid asn1.ObjectIdentifier, tokID, msg []byte) []byte {
	o, _ := asn1.Marshal(oid)
	b := append(append(o, tokID...), msg...)
	return asn1tools.AddASNAppTag(b, 0)
}

// spnegoKrb5 returns the Kerberos token of a Negotiate token: a SPNEGO
// NegTokenInit whose preferred mechanism is Kerberos, or a bare GSS
// krb5 token (what requests-kerberos sends). ok is false for anything
// else (NTLM, or SPNEGO preferring another mechanism).
func spnegoKrb5(tok []byte) (krb []byte, wrapped, ok bool) {
	var oid asn1.ObjectIdentifier
	if _, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0"); err != nil {
		return nil, false, false
	}
	if oid.Equal(gssapi.OIDKRB5.OID()) || oid.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
		return tok, false, true
	}
	var t spnego.SPNEGOToken
	if err := t.Unmarshal(tok); err != nil || !t.Init || len(t.NegTokenInit.MechTypes) == 0 {
		return nil, false, false
	}
	first := t.NegTokenInit.MechTypes[0]
	if !first.Equal(gssapi.OIDKRB5.OID()) && !first.Equal(gssapi.OIDMSLegacyKRB5.OID()) || len(t.NegTokenInit.MechTokenBytes) == 0 {
		return nil, false, false
	}
	return t.NegTokenInit.MechTokenBytes, true, true
}

// spnegoAccept wraps a mechanism's answer in a NegTokenResp: completed
// with Kerberos, or rejected.
func spnegoAccept(mechTok []byte, accepted bool) []byte {
	state := asn1.Enumerated(0)
	if !accepted {
		state = 2
	}
	r := spnego.NegTokenResp{NegState: state, SupportedMech: gssapi.OIDKRB5.OID(), ResponseToken: mechTok}
	b, err := r.Marshal()
	if err != nil {
		return nil
	}
	return b
}

// replayCache remembers the authenticators seen within the clock skew.
type replayCache struct {
	mu    sync.Mutex
	seen_ map[string]time.Time
	swept time.Time
}

func (r *replayCache) seen(client string, ctime time.Time, cusec int, now time.Time) bool {
	key := fmt.Sprintf("%s|%d|%d", client, ctime.Unix(), cusec)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen_ == nil {
		r.seen_ = make(map[string]time.Time)
	}
	if now.Sub(r.swept) > krbMaxSkew {
		for k, t := range r.seen_ {
			if now.Sub(t) > 2*krbMaxSkew {
				delete(r.seen_, k)
			}
		}
		r.swept = now
	}
	if _, ok := r.seen_[key]; ok {
		return true
	}
	r.seen_[key] = now
	return false
}

// simSeal is the acceptor's RFC 4121 wrap state: sealed tokens rotated
// as Windows sends them (RRC = 16 + checksum length), any rotation read.
type simSeal struct {
	key     types.EncryptionKey
	et      etype.EType
	sendSeq uint64
	recvSeq uint64
	// RFC 3961's derived keys for each direction, derived once (AES with
	// SHA-1; gokrb5 derives them for every message).
	sendKe, sendKi, recvKe, recvKi []byte
	sendBlock, recvBlock           cipher.Block
	sendMAC, recvMAC               hash.Hash
}

func newSimSeal(key types.EncryptionKey, send, recv uint64) (*simSeal, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	s := &simSeal{key: key, et: et, sendSeq: send, recvSeq: recv}
	if key.KeyType == 17 || key.KeyType == 18 {
		var errs [4]error
		s.sendKe, errs[0] = deriveAES(key.KeyValue, simFolded.acceptorKe)
		s.sendKi, errs[1] = deriveAES(key.KeyValue, simFolded.acceptorKi)
		s.recvKe, errs[2] = deriveAES(key.KeyValue, simFolded.initiatorKe)
		s.recvKi, errs[3] = deriveAES(key.KeyValue, simFolded.initiatorKi)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, err
		}
		if s.sendBlock, err = aes.NewCipher(s.sendKe); err != nil {
			return nil, err
		}
		if s.recvBlock, err = aes.NewCipher(s.recvKe); err != nil {
			return nil, err
		}
		s.sendMAC, s.recvMAC = hmac.New(sha1.New, s.sendKi), hmac.New(sha1.New, s.recvKi)
	}
	return s, nil
}

// encrypt is RFC 3961's encryption with the acceptor's keys.
func (s *simSeal) encrypt(plain []byte) ([]byte, error) {
	if s.sendKe == nil {
		_, ct, err := s.et.EncryptMessage(s.key.KeyValue, plain, keyusage.GSSAPI_ACCEPTOR_SEAL)
		return ct, err
	}
	cl, hl := s.et.GetConfounderByteSize(), s.et.GetHMACBitLength()/8
	p := make([]byte, cl, cl+len(plain)+aes.BlockSize+hl)
	_, _ = rand.Read(p)
	p = append(p, plain...)
	s.sendMAC.Reset()
	s.sendMAC.Write(p)
	var sum [sha1.Size]byte
	mac := s.sendMAC.Sum(sum[:0])[:hl]
	return append(ctsEncrypt(s.sendBlock, p), mac...), nil
}

// decrypt checks and decrypts an initiator's ciphertext.
func (s *simSeal) decrypt(ct []byte) ([]byte, error) {
	if s.recvKe == nil {
		return s.et.DecryptMessage(s.key.KeyValue, ct, keyusage.GSSAPI_INITIATOR_SEAL)
	}
	hl := s.et.GetHMACBitLength() / 8
	if len(ct) <= aes.BlockSize+hl {
		return nil, errWrap
	}
	p, mac := ct[:len(ct)-hl], ct[len(ct)-hl:]
	ctsDecrypt(s.recvBlock, p) // in place: ct is unseal's own copy
	s.recvMAC.Reset()
	s.recvMAC.Write(p)
	var sum [sha1.Size]byte
	if !hmac.Equal(s.recvMAC.Sum(sum[:0])[:hl], mac) {
		return nil, errWrap
	}
	return p[s.et.GetConfounderByteSize():], nil
}

// ctsEncrypt encrypts p in place with AES-CBC and ciphertext stealing
// (RFC 3962); len(p) > 16 and p has room for the padding.
func ctsEncrypt(b cipher.Block, p []byte) []byte {
	const bs = aes.BlockSize
	n := len(p)
	padded := (n + bs - 1) / bs * bs
	p = p[:padded]
	clear(p[n:])
	var iv [bs]byte
	cipher.NewCBCEncrypter(b, iv[:]).CryptBlocks(p, p)
	var tmp [bs]byte
	copy(tmp[:], p[padded-2*bs:padded-bs])
	copy(p[padded-2*bs:padded-bs], p[padded-bs:])
	copy(p[padded-bs:], tmp[:])
	return p[:n]
}

// ctsDecrypt decrypts c in place (the inverse of ctsEncrypt); len(c) > 16.
func ctsDecrypt(b cipher.Block, c []byte) {
	const bs = aes.BlockSize
	var zero [bs]byte
	n := len(c)
	if n%bs == 0 {
		var tmp [bs]byte
		copy(tmp[:], c[n-2*bs:n-bs])
		copy(c[n-2*bs:n-bs], c[n-bs:])
		copy(c[n-bs:], tmp[:])
		cipher.NewCBCDecrypter(b, zero[:]).CryptBlocks(c, c)
		return
	}
	d := n % bs
	full := n - d
	var dn, cn1, prev, pn1 [bs]byte
	b.Decrypt(dn[:], c[full-bs:full])
	copy(cn1[:], c[full:])
	copy(cn1[d:], dn[d:])
	if full-bs >= bs {
		copy(prev[:], c[full-2*bs:full-bs])
	}
	for i := 0; i < d; i++ {
		c[full+i] ^= dn[i]
	}
	b.Decrypt(pn1[:], cn1[:])
	for i := range pn1 {
		pn1[i] ^= prev[i]
	}
	if full-bs > 0 {
		cipher.NewCBCDecrypter(b, zero[:]).CryptBlocks(c[:full-bs], c[:full-bs])
	}
	copy(c[full-bs:full], pn1[:])
}

const (
	wrapFromAcceptor = 0x01
	wrapSealedFlag   = 0x02
	wrapSubkeyFlag   = 0x04
)

func wrapHead(flags byte, rrc uint16, seq uint64) []byte {
	h := []byte{0x05, 0x04, flags, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(h[6:], rrc)
	binary.BigEndian.PutUint64(h[8:], seq)
	return h
}

// seal wraps a reply: the token's head (the encrypted body's signature)
// and its data part, as long as msg.
func (s *simSeal) seal(msg []byte) (sig, data []byte, err error) {
	flags := byte(wrapFromAcceptor | wrapSealedFlag | wrapSubkeyFlag)
	plain := append(append([]byte(nil), msg...), wrapHead(flags, 0, s.sendSeq)...)
	ct, err := s.encrypt(plain)
	if err != nil {
		return nil, nil, err
	}
	rrc := 16 + s.et.GetHMACBitLength()/8
	tok := wrapHead(flags, uint16(rrc), s.sendSeq)
	s.sendSeq++
	tok = append(tok, ct[len(ct)-rrc:]...)
	tok = append(tok, ct[:len(ct)-rrc]...)
	n := 16 + rrc + s.et.GetConfounderByteSize()
	return tok[:n], tok[n:], nil
}

var errWrap = errors.New("kerberos: the sealed message does not verify")

// unseal reads a client's wrap token given as its head and data.
func (s *simSeal) unseal(head, data []byte) ([]byte, error) {
	tok := append(append([]byte(nil), head...), data...)
	if len(tok) < 16 || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xFF {
		return nil, errWrap
	}
	flags := tok[2]
	if flags&wrapSealedFlag == 0 || flags&wrapFromAcceptor != 0 {
		return nil, fmt.Errorf("%w: not sealed, or sent by an acceptor", errWrap)
	}
	ec := int(binary.BigEndian.Uint16(tok[4:]))
	rrc := int(binary.BigEndian.Uint16(tok[6:]))
	seq := binary.BigEndian.Uint64(tok[8:])
	ct := tok[16:]
	if len(ct) == 0 {
		return nil, errWrap
	}
	if rrc %= len(ct); rrc > 0 {
		ct = append(append([]byte(nil), ct[rrc:]...), ct[:rrc]...)
	}
	plain, err := s.decrypt(ct)
	if err != nil || len(plain) < 16+ec {
		return nil, fmt.Errorf("%w: %v", errWrap, err)
	}
	inner := plain[len(plain)-16:]
	if inner[2] != flags || !bytes.Equal(inner[8:], tok[8:16]) {
		return nil, fmt.Errorf("%w: the encrypted header does not match", errWrap)
	}
	if seq != s.recvSeq {
		return nil, fmt.Errorf("%w: sequence %d, expected %d", errWrap, seq, s.recvSeq)
	}
	s.recvSeq++
	return plain[:len(plain)-16-ec], nil
}

// channelBindingsHash is the MD5 of a gss_channel_bindings_struct with
// no addresses and the given application data.
func channelBindingsHash(app []byte) []byte {
	b := make([]byte, 20, 20+len(app))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(app)))
	sum := md5.Sum(append(b, app...)) //nolint:gosec // defined so
	return sum[:]
}

// simFolded are RFC 3961's n-folded constants of the GSS seal usages:
// independent of the key, folded once (gokrb5 folds them per derivation).
var simFolded = struct{ acceptorKe, acceptorKi, initiatorKe, initiatorKi []byte }{
	rfc3961.Nfold(common.GetUsageKe(keyusage.GSSAPI_ACCEPTOR_SEAL), 128),
	rfc3961.Nfold(common.GetUsageKi(keyusage.GSSAPI_ACCEPTOR_SEAL), 128),
	rfc3961.Nfold(common.GetUsageKe(keyusage.GSSAPI_INITIATOR_SEAL), 128),
	rfc3961.Nfold(common.GetUsageKi(keyusage.GSSAPI_INITIATOR_SEAL), 128),
}

// deriveAES is RFC 3961's DK for the AES types: the folded constant
// encrypted with the key until the key's length is reached.
func deriveAES(key, folded []byte) ([]byte, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(key))
	var blk [aes.BlockSize]byte
	b.Encrypt(blk[:], folded)
	n := copy(out, blk[:])
	for n < len(out) {
		b.Encrypt(blk[:], blk[:])
		n += copy(out[n:], blk[:])
	}
	return out, nil
}
