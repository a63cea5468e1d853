package winrm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// mime.go: WinRM message encryption's framing (MS-WSMV 2.2.9.1). Over
// HTTP with NTLM or Kerberos, Windows refuses a readable envelope unless
// AllowUnencrypted is set; every request and reply travels sealed as one
// multipart/encrypted body:
//
//	--Encrypted Boundary\r\n
//	\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
//	\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\r\n
//	--Encrypted Boundary\r\n
//	\tContent-Type: application/octet-stream\r\n
//	<4-byte little-endian length of the signature><signature><sealed data>
//	--Encrypted Boundary--\r\n
//
// The signature is NTLM's 16-byte message signature, or the head of an
// RFC 4121 wrap token (krbwrap.go). The part headers are indented with a
// tab as Windows and pywinrm write them; a reader accepts them with or
// without it.

// Protocols of an encrypted body: Negotiate (NTLM, or Kerberos chosen by
// SPNEGO) and Kerberos (a client that authenticated with the Kerberos
// scheme).
const (
	protoSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	protoKerberos = "application/HTTP-Kerberos-session-encrypted"
)

const (
	mimeBoundary      = "--Encrypted Boundary"
	mimeEnd           = "--Encrypted Boundary--\r\n"
	mimeOctetStream   = "Content-Type: application/octet-stream"
	mimeOriginal      = "OriginalContent: type=application/soap+xml;charset=UTF-8;Length="
	maxSignatureBytes = 256 // NTLM's is 16, an AES wrap token's head 60
)

// encryptedContentType is the Content-Type of a sealed request.
func encryptedContentType(protocol string) string {
	return `multipart/encrypted;protocol="` + protocol + `";boundary="Encrypted Boundary"`
}

// appendEncrypted appends the multipart/encrypted body of one sealed
// message: plainLen is the length of the envelope before sealing.
func appendEncrypted(b []byte, protocol string, plainLen int, sig, sealed []byte) []byte {
	b = appendEncryptedHead(b, protocol, plainLen)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(sig)))
	b = append(b, sig...)
	b = append(b, sealed...)
	return append(b, mimeEnd...)
}

// appendEncryptedHead appends the parts' headers, up to where the
// signature's length and the sealed data go (then mimeEnd).
func appendEncryptedHead(b []byte, protocol string, plainLen int) []byte {
	b = append(b, mimeBoundary+"\r\n\tContent-Type: "...)
	b = append(b, protocol...)
	b = append(b, "\r\n\t"+mimeOriginal...)
	b = strconv.AppendInt(b, int64(plainLen), 10)
	return append(b, "\r\n"+mimeBoundary+"\r\n\t"+mimeOctetStream+"\r\n"...)
}

// encryptedLen is the length appendEncrypted makes.
func encryptedLen(protocol string, plainLen, sigLen, sealedLen int) int {
	return len(mimeBoundary)*2 + len(protocol) + len(mimeOriginal) + len(mimeOctetStream) + 40 +
		4 + sigLen + sealedLen + len(mimeEnd)
}

// errNotEncrypted is a reply that should have been sealed and was not.
var errNotEncrypted = errors.New("the host answered without message encryption")

// parseEncrypted reads one sealed message of a multipart/encrypted body:
// the original length, the signature and the sealed data (slices of
// body). The sealed data runs to the closing boundary, so a sender that
// pads (an RFC 4121 token with extra count) is read too.
func parseEncrypted(body []byte) (plainLen int, sig, sealed []byte, err error) {
	bad := func(what string) (int, []byte, []byte, error) {
		return 0, nil, nil, fmt.Errorf("%w: encrypted body: %s", errMalformed, what)
	}
	if !bytes.HasPrefix(body, []byte(mimeBoundary+"\r\n")) {
		return bad("does not start with the boundary")
	}
	rest := body[len(mimeBoundary)+2:]
	// The first part: its headers, up to the second boundary.
	i := bytes.Index(rest, []byte(mimeBoundary+"\r\n"))
	if i < 0 {
		return bad("no second part")
	}
	head := rest[:i]
	rest = rest[i+len(mimeBoundary)+2:]
	j := bytes.Index(head, []byte("Length="))
	if j < 0 {
		return bad("no OriginalContent length")
	}
	num := head[j+len("Length="):]
	if k := bytes.IndexAny(num, "\r\n;"); k >= 0 {
		num = num[:k]
	}
	n, perr := strconv.Atoi(string(bytes.TrimSpace(num)))
	if perr != nil || n < 0 || n > maxResponseBytes {
		return bad("bad OriginalContent length")
	}
	// The second part's one header line, tab-indented or not.
	rest = bytes.TrimLeft(rest, "\t ")
	if !bytes.HasPrefix(rest, []byte(mimeOctetStream)) {
		return bad("the second part is not application/octet-stream")
	}
	rest = rest[len(mimeOctetStream):]
	if !bytes.HasPrefix(rest, []byte("\r\n")) {
		return bad("the second part's header is not ended")
	}
	rest = rest[2:]
	end := bytes.LastIndex(rest, []byte(mimeBoundary+"--"))
	if end < 0 {
		return bad("no closing boundary")
	}
	if tail := rest[end+len(mimeBoundary)+2:]; len(bytes.TrimRight(tail, "\r\n")) != 0 {
		return bad("data after the closing boundary")
	}
	payload := rest[:end]
	if len(payload) < 4 {
		return bad("no signature length")
	}
	sl := int(binary.LittleEndian.Uint32(payload))
	if sl > maxSignatureBytes || 4+sl > len(payload) {
		return bad("bad signature length")
	}
	return n, payload[4 : 4+sl], payload[4+sl:], nil
}

// isEncryptedType reports whether a Content-Type names a sealed body of
// protocol.
func isEncryptedType(ct, protocol string) bool {
	return len(ct) >= len("multipart/encrypted") && bytes.EqualFold([]byte(ct[:len("multipart/encrypted")]), []byte("multipart/encrypted")) &&
		bytes.Contains([]byte(ct), []byte(protocol))
}
