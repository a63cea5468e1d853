package winrm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
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
	key       types.EncryptionKey
	et        etype.EType
	acceptor  bool   // this side accepted the context (the simulator's side)
	subkey    bool   // key is the acceptor's subkey (flag AcceptorSubkey)
	sendSeq   uint64 // the next sequence number sent
	recvSeq   uint64 // the next sequence number expected
	headerLen int    // 16 + RRC + confounder: what goes as the signature
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
	flags := s.flags(true)
	inner := wrapHeader(flags, 0, 0, s.sendSeq)
	plain := make([]byte, 0, len(msg)+16)
	plain = append(plain, msg...)
	plain = append(plain, inner[:]...)
	_, ct, err := s.et.EncryptMessage(s.key.KeyValue, plain, s.usage(true))
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos: seal: %w", err)
	}
	rrc := s.rrc()
	outer := wrapHeader(flags, 0, uint16(rrc), s.sendSeq)
	s.sendSeq++
	tok := make([]byte, 0, 16+len(ct))
	tok = append(tok, outer[:]...)
	tok = append(tok, ct[len(ct)-rrc:]...) // rotate right by RRC
	tok = append(tok, ct[:len(ct)-rrc]...)
	return tok[:s.headerLen], tok[s.headerLen:], nil
}

// errWrapToken is a wrap token that does not verify.
var errWrapToken = errors.New("kerberos: the sealed message does not verify")

// unseal checks and decrypts a token sent by the other side, given as
// its head and data parts (any split: they are joined).
func (s *krbSeal) unseal(head, data []byte) ([]byte, error) {
	tok := make([]byte, 0, len(head)+len(data))
	tok = append(tok, head...)
	tok = append(tok, data...)
	if len(tok) < 16 || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xFF {
		return nil, fmt.Errorf("%w: not a wrap token", errWrapToken)
	}
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
	ct := tok[16:]
	if len(ct) == 0 {
		return nil, fmt.Errorf("%w: empty", errWrapToken)
	}
	if rrc %= len(ct); rrc > 0 { // rotate left by RRC
		r := make([]byte, 0, len(ct))
		r = append(r, ct[rrc:]...)
		ct = append(r, ct[:rrc]...)
	}
	key := s.key
	plain, err := s.et.DecryptMessage(key.KeyValue, ct, s.usage(false))
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
