package winrmsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // MS-NLMP is defined with MD5
	"crypto/rand"
	"crypto/rc4" //nolint:gosec // MS-NLMP seals with RC4
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTOWF is defined with MD4
)

// ntlm.go: the server side of NTLMv2 with session security (MS-NLMP),
// what a Windows host does for Negotiate when Kerberos is not used. No
// maintained Go library accepts NTLM (bodgit/ntlmssp and Azure/go-ntlmssp
// are clients), so it is written here, strict where Windows is: only
// NTLMv2 responses, checked against the user's password; the MIC checked
// when the client says it sent one; 128-bit sealing and key exchange
// required; channel bindings over HTTPS checked when given, and required
// on hosts whose Extended Protection is strict.

// NTLM negotiate flags (MS-NLMP 2.2.2.5) the server uses.
const (
	ntlmUnicode     = 0x00000001
	ntlmRequestTgt  = 0x00000004
	ntlmSign        = 0x00000010
	ntlmSealFlag    = 0x00000020
	ntlmNTLM        = 0x00000200
	ntlmAlwaysSign  = 0x00008000
	ntlmTypeDomain  = 0x00010000
	ntlmTypeServer  = 0x00020000
	ntlmESS         = 0x00080000
	ntlmTargetInfo  = 0x00800000
	ntlmVersion     = 0x02000000
	ntlm128         = 0x20000000
	ntlmKeyExchange = 0x40000000
	ntlm56          = 0x80000000
)

// AV pair ids (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0
	avNbComputer      = 1
	avNbDomain        = 2
	avDNSComputer     = 3
	avDNSDomain       = 4
	avFlags           = 6
	avTimestamp       = 7
	avChannelBindings = 10
)

var ntlmSignature = []byte("NTLMSSP\x00")

// ntlmIdentity is what a host says about itself in its CHALLENGE and
// which account names it accepts.
type ntlmIdentity struct {
	computer  string // NetBIOS computer name, e.g. WS-0001
	nbDomain  string // NetBIOS domain (or the computer name when not joined)
	dnsDomain string // DNS domain, "" when not joined
	user      string
	password  string
	joined    bool
	strictCBT bool // Extended Protection strict: channel bindings required over HTTPS
}

// ntlmServer is one NTLM handshake on one connection.
type ntlmServer struct {
	id        ntlmIdentity
	negotiate []byte
	challenge []byte
	serverCh  [8]byte
	flags     uint32
}

// errNTLM is a handshake that failed; the connection gets a 401.
var errNTLM = errors.New("ntlm")

func ntlmError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errNTLM}, args...)...)
}

// isNTLM reports whether a token is an NTLMSSP message of type typ.
func isNTLM(tok []byte, typ uint32) bool {
	return len(tok) >= 12 && bytes.Equal(tok[:8], ntlmSignature) && binary.LittleEndian.Uint32(tok[8:]) == typ
}

// challengeFor answers a NEGOTIATE message.
func newNTLMServer(id ntlmIdentity, negotiate []byte) (*ntlmServer, []byte, error) {
	if !isNTLM(negotiate, 1) || len(negotiate) < 16 {
		return nil, nil, ntlmError("not a NEGOTIATE message")
	}
	clientFlags := binary.LittleEndian.Uint32(negotiate[12:])
	s := &ntlmServer{id: id, negotiate: append([]byte(nil), negotiate...)}
	_, _ = rand.Read(s.serverCh[:])
	want := uint32(ntlmSign | ntlmSealFlag | ntlmKeyExchange | ntlm128 | ntlm56 | ntlmAlwaysSign)
	s.flags = ntlmUnicode | ntlmRequestTgt | ntlmNTLM | ntlmESS | ntlmTargetInfo | ntlmVersion | clientFlags&want
	target := id.computer
	if id.joined {
		s.flags |= ntlmTypeDomain
		target = id.nbDomain
	} else {
		s.flags |= ntlmTypeServer
	}
	var info []byte
	info = appendAV(info, avNbDomain, utf16le(id.nbDomain))
	info = appendAV(info, avNbComputer, utf16le(id.computer))
	if id.dnsDomain != "" {
		info = appendAV(info, avDNSDomain, utf16le(id.dnsDomain))
		info = appendAV(info, avDNSComputer, utf16le(strings.ToLower(id.computer)+"."+id.dnsDomain))
	}
	var ts [8]byte
	binary.LittleEndian.PutUint64(ts[:], filetime(time.Now()))
	info = appendAV(info, avTimestamp, ts[:])
	info = appendAV(info, avEOL, nil)

	tn := utf16le(target)
	const head = 56
	b := make([]byte, head, head+len(tn)+len(info))
	copy(b, ntlmSignature)
	binary.LittleEndian.PutUint32(b[8:], 2)
	putField(b[12:], len(tn), head)
	binary.LittleEndian.PutUint32(b[20:], s.flags)
	copy(b[24:32], s.serverCh[:])
	putField(b[40:], len(info), head+len(tn))
	copy(b[48:56], []byte{10, 0, 0x7c, 0x4f, 0, 0, 0, 15}) // Windows 10.0.20348, NTLM revision 15
	b = append(b, tn...)
	b = append(b, info...)
	s.challenge = b
	return s, b, nil
}

// ntlmResult is an accepted AUTHENTICATE: who, and the session's keys.
type ntlmResult struct {
	user string
	seal *ntlmSeal
}

// authenticate checks an AUTHENTICATE message against the host's
// account; cbt is the TLS channel bindings' application data (nil over
// HTTP).
func (s *ntlmServer) authenticate(msg, cbt []byte) (*ntlmResult, error) {
	if !isNTLM(msg, 3) || len(msg) < 64 {
		return nil, ntlmError("not an AUTHENTICATE message")
	}
	field := func(off int) ([]byte, error) {
		n := int(binary.LittleEndian.Uint16(msg[off:]))
		at := int(binary.LittleEndian.Uint32(msg[off+4:]))
		if at < 0 || n < 0 || at+n > len(msg) {
			return nil, ntlmError("field out of range")
		}
		return msg[at : at+n], nil
	}
	nt, err := field(20)
	if err != nil {
		return nil, err
	}
	domB, err := field(28)
	if err != nil {
		return nil, err
	}
	userB, err := field(36)
	if err != nil {
		return nil, err
	}
	encKey, err := field(52)
	if err != nil {
		return nil, err
	}
	flags := binary.LittleEndian.Uint32(msg[60:])
	if len(nt) <= 24 {
		return nil, ntlmError("an NTLMv1 response (LmCompatibilityLevel 5 refuses it)")
	}
	domain, user := fromUTF16(domB), fromUTF16(userB)
	if !s.accepts(domain, user) {
		return nil, ntlmError("unknown user %q in domain %q", user, domain)
	}
	// NTOWFv2 with the names as the client sent them.
	h := md4.New()
	h.Write(utf16le(s.id.password))
	owf := hmacMD5(h.Sum(nil), utf16le(strings.ToUpper(user)+domain))
	proof, blob := nt[:16], nt[16:]
	if want := hmacMD5(owf, append(s.serverCh[:], blob...)); subtle.ConstantTimeCompare(proof, want) != 1 {
		return nil, ntlmError("the NTLMv2 response does not match the password of %q", user)
	}
	if len(blob) < 28 || blob[0] != 1 || blob[1] != 1 {
		return nil, ntlmError("malformed NTLMv2 client blob")
	}
	avs := parseAVs(blob[28:])
	sessionBase := hmacMD5(owf, proof)
	exported := sessionBase
	if flags&ntlmKeyExchange != 0 {
		if len(encKey) != 16 {
			return nil, ntlmError("no exchanged session key")
		}
		c, _ := rc4.NewCipher(sessionBase) //nolint:gosec // MS-NLMP
		exported = make([]byte, 16)
		c.XORKeyStream(exported, encKey)
	}
	if f, ok := avs[avFlags]; ok && len(f) == 4 && binary.LittleEndian.Uint32(f)&2 != 0 {
		// The client sent a MIC over the three messages.
		if len(msg) < 88 {
			return nil, ntlmError("no MIC")
		}
		zeroed := append([]byte(nil), msg...)
		clear(zeroed[72:88])
		all := append(append(append([]byte(nil), s.negotiate...), s.challenge...), zeroed...)
		if !hmac.Equal(hmacMD5(exported, all), msg[72:88]) {
			return nil, ntlmError("the MIC does not match (a modified handshake)")
		}
	}
	if err := checkNTLMBindings(avs[avChannelBindings], cbt, s.id.strictCBT); err != nil {
		return nil, err
	}
	if flags&ntlmSealFlag == 0 || flags&ntlm128 == 0 || flags&ntlmESS == 0 {
		return nil, ntlmError("the client did not agree to 128-bit sealing")
	}
	seal, err := newNTLMSeal(exported, flags&ntlmKeyExchange != 0)
	if err != nil {
		return nil, err
	}
	return &ntlmResult{user: user, seal: seal}, nil
}

// accepts reports whether the account names the host's user: a local
// account (no domain, ".", or the computer's name) on any host, the
// domain's (NetBIOS or DNS name, or a UPN) on a joined one.
func (s *ntlmServer) accepts(domain, user string) bool {
	name, upn, isUPN := strings.Cut(user, "@")
	if isUPN {
		if !s.id.joined || domain != "" || !strings.EqualFold(upn, s.id.dnsDomain) {
			return false
		}
		user = name
	}
	if !strings.EqualFold(user, s.id.user) {
		return false
	}
	switch {
	case domain == "", domain == ".", strings.EqualFold(domain, s.id.computer):
		return true
	case s.id.joined:
		return strings.EqualFold(domain, s.id.nbDomain) || strings.EqualFold(domain, s.id.dnsDomain)
	}
	return false
}

// checkNTLMBindings checks the MsvAvChannelBindings the client put in
// its response against the TLS connection's.
func checkNTLMBindings(got, cbt []byte, strict bool) error {
	given := len(got) == 16 && !bytes.Equal(got, make([]byte, 16))
	if cbt == nil { // plain HTTP: nothing to bind to
		return nil
	}
	if !given {
		if strict {
			return ntlmError("no channel bindings (Extended Protection is strict on this host)")
		}
		return nil
	}
	if !bytes.Equal(got, channelBindingsHash(cbt)) {
		return ntlmError("the channel bindings are for another TLS connection (a relayed handshake)")
	}
	return nil
}

// ntlmSeal is the server's side of NTLM session security: it receives
// with the client-to-server keys and sends with the server-to-client
// ones, each direction an RC4 stream and a sequence number.
type ntlmSeal struct {
	in, out         *rc4.Cipher
	inSign, outSign []byte
	inSeq, outSeq   uint32
	keyExch         bool
}

func newNTLMSeal(exported []byte, keyExch bool) (*ntlmSeal, error) {
	k := func(c string) []byte {
		sum := md5.Sum(append(append([]byte(nil), exported...), []byte("session key to "+c+" key magic constant\x00")...)) //nolint:gosec // MS-NLMP
		return sum[:]
	}
	in, err := rc4.NewCipher(k("client-to-server sealing")) //nolint:gosec // MS-NLMP
	if err != nil {
		return nil, err
	}
	out, err := rc4.NewCipher(k("server-to-client sealing")) //nolint:gosec // MS-NLMP
	if err != nil {
		return nil, err
	}
	return &ntlmSeal{in: in, out: out, inSign: k("client-to-server signing"), outSign: k("server-to-client signing"), keyExch: keyExch}, nil
}

// seal encrypts a reply: its 16-byte signature and the sealed data.
func (s *ntlmSeal) seal(msg []byte) (sig, data []byte) {
	data = make([]byte, len(msg))
	s.out.XORKeyStream(data, msg)
	sig = s.signature(s.out, s.outSign, s.outSeq, msg)
	s.outSeq++
	return sig, data
}

// unseal decrypts a request and checks its signature and sequence.
func (s *ntlmSeal) unseal(sig, data []byte) ([]byte, error) {
	if len(sig) != 16 {
		return nil, ntlmError("a signature of %d bytes", len(sig))
	}
	msg := make([]byte, len(data))
	s.in.XORKeyStream(msg, data)
	want := s.signature(s.in, s.inSign, s.inSeq, msg)
	if !hmac.Equal(sig, want) {
		return nil, ntlmError("the message signature or sequence number does not match")
	}
	s.inSeq++
	return msg, nil
}

func (s *ntlmSeal) signature(c *rc4.Cipher, key []byte, seq uint32, msg []byte) []byte {
	var sq [4]byte
	binary.LittleEndian.PutUint32(sq[:], seq)
	sum := hmacMD5(key, append(sq[:], msg...))[:8]
	if s.keyExch {
		c.XORKeyStream(sum, sum)
	}
	sig := make([]byte, 16)
	binary.LittleEndian.PutUint32(sig, 1)
	copy(sig[4:12], sum)
	copy(sig[12:], sq[:])
	return sig
}

func hmacMD5(key, data []byte) []byte {
	m := hmac.New(md5.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func appendAV(b []byte, id uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, id)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func parseAVs(b []byte) map[uint16][]byte {
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		id, n := binary.LittleEndian.Uint16(b), int(binary.LittleEndian.Uint16(b[2:]))
		if id == avEOL || 4+n > len(b) {
			break
		}
		out[id] = b[4 : 4+n]
		b = b[4+n:]
	}
	return out
}

func putField(b []byte, n, off int) {
	binary.LittleEndian.PutUint16(b, uint16(n))
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], uint32(off))
}

// filetime is t in 100 ns units since 1601.
func filetime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}
