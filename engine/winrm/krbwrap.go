package winrm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 3962's aes*-cts-hmac-sha1-96
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// krbwrap.go: RFC 4121 wrap tokens with confidentiality, the seal of
// WinRM's Kerberos message encryption. gokrb5 makes and checks only the
// checksum form of these tokens (gssapi.WrapToken), so the sealed form is
// written here over gokrb5's RFC 3961 encryption (etype.EncryptMessage).
//
// Windows seals with the IOV form of gss_wrap: the token is rotated right
// by RRC = 16 + checksum length (28 for aes*-cts-hmac-sha1-96), so that
// the data part is exactly as long as the message and the head (token
// header, the rotated bytes and the encrypted confounder: 60 bytes for
// AES with SHA-1) travels as the "signature" of the encrypted body. A
// receiver un-rotates whatever RRC the header says, so unrotated tokens
// are read too.

// Wrap token flags (RFC 4121 4.2.2).
const (
	wrapSentByAcceptor = 0x01
	wrapSealed         = 0x02
	wrapAcceptorSubkey = 0x04
)

// krbSeal is one direction pair of a Kerberos security context: the key
// (the acceptor's subkey when it sent one), whose side this is, and the
// sequence numbers each way. It is used by one connection at a time.
type krbSeal struct {
	key types.EncryptionKey
	et  etype.EType
	// The keys RFC 3961 derives for each direction (encryption and
	// integrity), derived once per context: gokrb5's EncryptMessage
	// derives them again for every message (aes*-cts-hmac-sha1-96 only;
	// the SHA-2 types go through gokrb5).
	sendKe, sendKi, recvKe, recvKi []byte
	sendBlock, recvBlock           cipher.Block // AES with sendKe and recvKe, expanded once
	sendMAC, recvMAC               hash.Hash    // HMAC-SHA1 with sendKi and recvKi, reset per message
	acceptor                       bool         // this side accepted the context (the simulator's side)
	subkey                         bool         // key is the acceptor's subkey (flag AcceptorSubkey)
	sendSeq                        uint64       // the next sequence number sent
	recvSeq                        uint64       // the next sequence number expected
	headerLen                      int          // 16 + RRC + confounder: what goes as the signature
}

func newKrbSeal(key types.EncryptionKey, acceptor, subkey bool, sendSeq, recvSeq uint64) (*krbSeal, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %w", err)
	}
	switch key.KeyType {
	case 17, 18, 19, 20: // aes128/256-cts-hmac-sha1-96, aes128-sha256-128, aes256-sha384-192
	default:
		return nil, fmt.Errorf("kerberos: the session key's encryption type %d is not AES; rmm seals WinRM messages with AES only (enable AES for the account and the computer: msDS-SupportedEncryptionTypes)", key.KeyType)
	}
	s := &krbSeal{key: key, et: et, acceptor: acceptor, subkey: subkey, sendSeq: sendSeq, recvSeq: recvSeq}
	s.headerLen = 16 + s.rrc() + et.GetConfounderByteSize()
	if key.KeyType == 17 || key.KeyType == 18 {
		var errs [4]error
		s.sendKe, errs[0] = deriveAES(key.KeyValue, s.usage(true), false)
		s.sendKi, errs[1] = deriveAES(key.KeyValue, s.usage(true), true)
		s.recvKe, errs[2] = deriveAES(key.KeyValue, s.usage(false), false)
		s.recvKi, errs[3] = deriveAES(key.KeyValue, s.usage(false), true)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("kerberos: derive keys: %w", err)
		}
		if s.sendBlock, err = aes.NewCipher(s.sendKe); err != nil {
			return nil, fmt.Errorf("kerberos: %w", err)
		}
		if s.recvBlock, err = aes.NewCipher(s.recvKe); err != nil {
			return nil, fmt.Errorf("kerberos: %w", err)
		}
		s.sendMAC, s.recvMAC = hmac.New(sha1.New, s.sendKi), hmac.New(sha1.New, s.recvKi)
	}
	return s, nil
}

// rrc is the rotation Windows uses: the encrypted header copy and the
// checksum move to the front.
func (s *krbSeal) rrc() int { return 16 + s.et.GetHMACBitLength()/8 }

func (s *krbSeal) flags(sender bool) byte {
	f := byte(wrapSealed)
	if s.subkey {
		f |= wrapAcceptorSubkey
	}
	if sender == s.acceptor { // the token is sent by the acceptor
		f |= wrapSentByAcceptor
	}
	return f
}

func (s *krbSeal) usage(sender bool) uint32 {
	if sender == s.acceptor {
		return keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	return keyusage.GSSAPI_INITIATOR_SEAL
}

// wrapHeader is a wrap token's 16-byte header.
func wrapHeader(flags byte, ec, rrc uint16, seq uint64) [16]byte {
	var h [16]byte
	h[0], h[1], h[2], h[3] = 0x05, 0x04, flags, 0xFF
	binary.BigEndian.PutUint16(h[4:], ec)
	binary.BigEndian.PutUint16(h[6:], rrc)
	binary.BigEndian.PutUint64(h[8:], seq)
	return h
}

// seal wraps msg: the head of the rotated token (the signature of the
// encrypted body) and its data part, as long as msg.
func (s *krbSeal) seal(msg []byte) (head, data []byte, err error) {
	tok, err := s.sealTo(nil, msg)
	if err != nil {
		return nil, nil, err
	}
	return tok[:s.headerLen], tok[s.headerLen:], nil
}

// sealTo appends the rotated wrap token of msg to dst: its first
// headerLen bytes are the encrypted body's signature, the rest its data.
func (s *krbSeal) sealTo(dst, msg []byte) ([]byte, error) {
	flags := s.flags(true)
	inner := wrapHeader(flags, 0, 0, s.sendSeq)
	ct, err := s.encrypt(msg, inner[:])
	if err != nil {
		return nil, fmt.Errorf("kerberos: seal: %w", err)
	}
	rrc := s.rrc()
	outer := wrapHeader(flags, 0, uint16(rrc), s.sendSeq)
	s.sendSeq++
	dst = append(dst, outer[:]...)
	dst = append(dst, ct[len(ct)-rrc:]...) // rotate right by RRC
	return append(dst, ct[:len(ct)-rrc]...), nil
}

// errWrapToken is a wrap token that does not verify.
var errWrapToken = errors.New("kerberos: the sealed message does not verify")

// unseal checks and decrypts a token sent by the other side, given as
// its head and data parts (any split: they are joined).
func (s *krbSeal) unseal(head, data []byte) ([]byte, error) {
	return s.unsealTo(nil, head, data)
}

// unsealTo is unseal that decrypts in dst's space (grown as needed) and
// returns the message as a slice of it.
func (s *krbSeal) unsealTo(dst, head, data []byte) ([]byte, error) {
	if len(head) < 16 {
		// The head holds at least the token header (a peer splits at
		// its own header length, 60 for AES with SHA-1).
		head, data = append(append([]byte(nil), head...), data...), nil
	}
	if len(head) < 16 || head[0] != 0x05 || head[1] != 0x04 || head[3] != 0xFF {
		return nil, fmt.Errorf("%w: not a wrap token", errWrapToken)
	}
	var hdr [16]byte
	copy(hdr[:], head)
	tok := hdr[:]
	flags := tok[2]
	if flags&wrapSealed == 0 {
		return nil, fmt.Errorf("%w: the message is signed only, not sealed", errWrapToken)
	}
	if want := s.flags(false) & wrapSentByAcceptor; flags&wrapSentByAcceptor != want {
		return nil, fmt.Errorf("%w: the token's direction is wrong (a reflected message)", errWrapToken)
	}
	ec := int(binary.BigEndian.Uint16(tok[4:]))
	rrc := int(binary.BigEndian.Uint16(tok[6:]))
	seq := binary.BigEndian.Uint64(tok[8:])
	// The ciphertext is head[16:] || data rotated right by RRC: undo the
	// rotation while copying it once.
	rest := len(head) - 16 + len(data)
	if rest == 0 {
		return nil, fmt.Errorf("%w: empty", errWrapToken)
	}
	rrc %= rest
	ct := dst[:0]
	ct = appendRange(ct, head[16:], data, rrc, rest)
	ct = appendRange(ct, head[16:], data, 0, rrc)
	plain, err := s.decrypt(ct)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errWrapToken, err)
	}
	if len(plain) < 16+ec {
		return nil, fmt.Errorf("%w: too short", errWrapToken)
	}
	inner := plain[len(plain)-16:]
	// The encrypted copy of the header has RRC 0; the rest must match.
	if inner[0] != 0x05 || inner[1] != 0x04 || inner[2] != flags || inner[3] != 0xFF ||
		!bytes.Equal(inner[4:6], tok[4:6]) || !bytes.Equal(inner[8:16], tok[8:16]) {
		return nil, fmt.Errorf("%w: the encrypted header does not match", errWrapToken)
	}
	if seq != s.recvSeq {
		return nil, fmt.Errorf("%w: sequence number %d, expected %d (a replayed or lost message)", errWrapToken, seq, s.recvSeq)
	}
	s.recvSeq++
	return plain[:len(plain)-16-ec], nil
}

// encrypt is RFC 3961's encryption of msg||tail with the send keys: a
// random confounder, AES-CTS, and the truncated HMAC of the plaintext.
func (s *krbSeal) encrypt(msg, tail []byte) ([]byte, error) {
	cl := s.et.GetConfounderByteSize()
	n := cl + len(msg) + len(tail)
	hl := s.et.GetHMACBitLength() / 8
	// Room for the zero padding of the last block and the checksum.
	buf := make([]byte, n, n+aes.BlockSize+hl)
	_, _ = rand.Read(buf[:cl]) // crypto/rand.Read never fails
	copy(buf[cl:], msg)
	copy(buf[cl+len(msg):], tail)
	if s.sendBlock == nil {
		_, ct, err := s.et.EncryptMessage(s.key.KeyValue, buf[cl:], s.usage(true))
		return ct, err
	}
	s.sendMAC.Reset()
	s.sendMAC.Write(buf)
	var sum [sha1.Size]byte
	mac := s.sendMAC.Sum(sum[:0])[:hl]
	return append(ctsEncrypt(s.sendBlock, buf), mac...), nil
}

// ctsEncrypt encrypts p in place with AES-CBC and ciphertext stealing
// (RFC 3962: CBC over the zero-padded plaintext, the last two blocks
// swapped, the result cut to the plaintext's length). len(p) > 16; p
// has room for the padding.
func ctsEncrypt(b cipher.Block, p []byte) []byte {
	const bs = aes.BlockSize
	n := len(p)
	padded := (n + bs - 1) / bs * bs
	p = p[:padded]
	clear(p[n:])
	var iv [bs]byte
	cipher.NewCBCEncrypter(b, iv[:]).CryptBlocks(p, p)
	last, pen := p[padded-bs:], p[padded-2*bs:padded-bs]
	var tmp [bs]byte
	copy(tmp[:], pen)
	copy(pen, last)
	copy(last, tmp[:])
	return p[:n]
}

// ctsDecrypt decrypts c in place (the inverse of ctsEncrypt); len(c) > 16.
func ctsDecrypt(b cipher.Block, c []byte) {
	const bs = aes.BlockSize
	var zero [bs]byte
	n := len(c)
	if n%bs == 0 {
		pen, last := c[n-2*bs:n-bs], c[n-bs:]
		var tmp [bs]byte
		copy(tmp[:], pen)
		copy(pen, last)
		copy(last, tmp[:])
		cipher.NewCBCDecrypter(b, zero[:]).CryptBlocks(c, c)
		return
	}
	d := n % bs
	full := n - d // the stolen block's end: c[full-bs:full] is the last block's ciphertext
	var dn, cn1, prev, pn1 [bs]byte
	b.Decrypt(dn[:], c[full-bs:full])
	copy(cn1[:], c[full:])
	copy(cn1[d:], dn[d:])
	if full-bs >= bs {
		copy(prev[:], c[full-2*bs:full-bs])
	}
	for i := 0; i < d; i++ {
		c[full+i] ^= dn[i] // the last, partial plaintext block
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

// decrypt checks and decrypts a ciphertext with the receive keys and
// returns the plaintext without its confounder.
func (s *krbSeal) decrypt(ct []byte) ([]byte, error) {
	if s.recvKe == nil {
		return s.et.DecryptMessage(s.key.KeyValue, ct, s.usage(false))
	}
	hl := s.et.GetHMACBitLength() / 8
	if len(ct) <= aes.BlockSize+hl {
		return nil, errors.New("too short")
	}
	plain, mac := ct[:len(ct)-hl], ct[len(ct)-hl:]
	ctsDecrypt(s.recvBlock, plain) // in place: ct is the caller's copy
	s.recvMAC.Reset()
	s.recvMAC.Write(plain)
	var sum [sha1.Size]byte
	if !hmac.Equal(s.recvMAC.Sum(sum[:0])[:hl], mac) {
		return nil, errors.New("integrity verification failed")
	}
	return plain[s.et.GetConfounderByteSize():], nil
}

// appendRange appends bytes [from, to) of a||b to dst.
func appendRange(dst, a, b []byte, from, to int) []byte {
	if from < len(a) {
		dst = append(dst, a[from:min(to, len(a))]...)
	}
	if to > len(a) {
		dst = append(dst, b[max(from-len(a), 0):to-len(a)]...)
	}
	return dst
}

// foldedUsages are the n-folded (128-bit) constants of RFC 3961's key
// derivation for the two GSS seal usages, encryption (Ke) and integrity
// (Ki): they do not depend on the key, and gokrb5 folds them again for
// every derivation, the larger part of a handshake's CPU. Computed once,
// never changed.
var foldedUsages = func() map[[2]uint32][]byte {
	m := make(map[[2]uint32][]byte, 4)
	for _, u := range []uint32{keyusage.GSSAPI_ACCEPTOR_SEAL, keyusage.GSSAPI_INITIATOR_SEAL} {
		m[[2]uint32{u, 0}] = rfc3961.Nfold(common.GetUsageKe(u), aes.BlockSize*8)
		m[[2]uint32{u, 1}] = rfc3961.Nfold(common.GetUsageKi(u), aes.BlockSize*8)
	}
	return m
}()

// deriveAES is RFC 3961's DK(key, usage) for the AES types (RFC 3962):
// the folded constant encrypted with the key, again and again, until
// there are as many bytes as the key has (random-to-key is the identity
// for AES).
func deriveAES(key []byte, usage uint32, integrity bool) ([]byte, error) {
	kind := uint32(0)
	if integrity {
		kind = 1
	}
	folded, ok := foldedUsages[[2]uint32{usage, kind}]
	if !ok {
		return nil, fmt.Errorf("no folded constant for usage %d", usage)
	}
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
