package creds

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
)

// redacted is what every formatting of a Secret prints.
const redacted = "<redacted>"

// Secret holds a password. It prints as "<redacted>" through fmt (every
// verb and flag), encoding/json, encoding.TextMarshaler and slog, so a
// Secret that ends up in a log line or a JSON document by mistake leaks
// nothing. Reveal returns the value for the one place that needs it.
//
// Copies of a Secret share one buffer: Wipe on any copy zeroes the bytes
// for all of them, after which every copy IsZero. The zero Secret is empty
// and ready to use. A Secret is safe for concurrent use.
type Secret struct {
	buf *secretBuf
}

// secretBuf is shared by the copies of a Secret so that Wipe reaches them
// all.
type secretBuf struct {
	mu sync.Mutex
	b  []byte
}

// NewSecret copies s into a new Secret. The string s itself cannot be
// zeroed (Go strings are immutable); prefer SecretFromBytes when the value
// arrives as bytes, for example from a terminal prompt.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	b := make([]byte, len(s))
	copy(b, s)
	return newSecretOwning(b)
}

// SecretFromBytes copies b into a new Secret. The caller still owns b and
// should zero it (clear(b)) when done.
func SecretFromBytes(b []byte) Secret {
	if len(b) == 0 {
		return Secret{}
	}
	c := make([]byte, len(b))
	copy(c, b)
	return newSecretOwning(c)
}

// newSecretOwning wraps b without copying: the Secret owns b from now on.
func newSecretOwning(b []byte) Secret {
	if len(b) == 0 {
		return Secret{}
	}
	buf := &secretBuf{b: b}
	// Zero the bytes when the last copy becomes unreachable, for the many
	// Secrets nobody remembers to Wipe. The cleanup holds the slice, not
	// buf, as runtime.AddCleanup requires.
	runtime.AddCleanup(buf, func(b []byte) { clear(b) }, b)
	return Secret{buf: buf}
}

// Reveal returns the password. Call it only where the value is sent (the
// WinRM request) and do not keep the result: the returned string is an
// immutable copy that Wipe cannot reach.
func (s Secret) Reveal() string {
	if s.buf == nil {
		return ""
	}
	s.buf.mu.Lock()
	defer s.buf.mu.Unlock()
	return string(s.buf.b)
}

// bytes returns a copy of the password that the caller must clear.
func (s Secret) bytes() []byte {
	if s.buf == nil {
		return nil
	}
	s.buf.mu.Lock()
	defer s.buf.mu.Unlock()
	if len(s.buf.b) == 0 {
		return nil
	}
	c := make([]byte, len(s.buf.b))
	copy(c, s.buf.b)
	return c
}

// equal reports whether s holds exactly b, without making a string.
func (s Secret) equal(b []byte) bool {
	if s.buf == nil {
		return len(b) == 0
	}
	s.buf.mu.Lock()
	defer s.buf.mu.Unlock()
	return string(s.buf.b) == string(b) // compiled without allocation
}

// Wipe zeroes the password bytes shared by s and all its copies and leaves
// s empty. Wipe on the zero Secret does nothing.
func (s *Secret) Wipe() {
	if s.buf == nil {
		return
	}
	s.buf.mu.Lock()
	clear(s.buf.b)
	s.buf.b = nil
	s.buf.mu.Unlock()
	s.buf = nil
}

// IsZero reports whether s holds no password (never set, empty, or wiped).
func (s Secret) IsZero() bool {
	if s.buf == nil {
		return true
	}
	s.buf.mu.Lock()
	defer s.buf.mu.Unlock()
	return len(s.buf.b) == 0
}

// String returns "<redacted>".
func (Secret) String() string { return redacted }

// GoString returns "<redacted>", for %#v.
func (Secret) GoString() string { return redacted }

// Format prints "<redacted>" for every verb and flag (%v %+v %#v %s %q %x
// %d ...), so no formatting path reaches the bytes.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON encodes the string "<redacted>".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "<redacted>" (used by slog's text handler, XML and
// YAML encoders).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog print "<redacted>".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

var (
	_ fmt.Stringer   = Secret{}
	_ fmt.GoStringer = Secret{}
	_ fmt.Formatter  = Secret{}
	_ slog.LogValuer = Secret{}
)

// keytabPrefix marks a secret that holds a Kerberos keytab (the file's
// content, base64) instead of a password: the store keeps it like any
// secret, in the keyring or the vault, never in the database.
const keytabPrefix = "rmm-keytab:v1:"

// ErrKeytabPrefix is a password that begins as a stored keytab does.
var ErrKeytabPrefix = errors.New("a password may not begin with " + keytabPrefix)

// KeytabSecret is a Secret holding a keytab file's content.
func KeytabSecret(keytab []byte) Secret {
	b := make([]byte, len(keytabPrefix)+base64.StdEncoding.EncodedLen(len(keytab)))
	copy(b, keytabPrefix)
	base64.StdEncoding.Encode(b[len(keytabPrefix):], keytab)
	return newSecretOwning(b)
}

// IsKeytab reports whether the secret is a keytab (KeytabSecret).
func (s Secret) IsKeytab() bool {
	if s.buf == nil {
		return false
	}
	s.buf.mu.Lock()
	defer s.buf.mu.Unlock()
	return bytes.HasPrefix(s.buf.b, []byte(keytabPrefix))
}

// RevealKeytab returns the keytab a KeytabSecret holds; ok is false for
// a password. Call it only where the keytab is used, as Reveal.
func (s Secret) RevealKeytab() (keytab []byte, ok bool) {
	b := s.bytes()
	defer clear(b)
	rest, found := bytes.CutPrefix(b, []byte(keytabPrefix))
	if !found {
		return nil, false
	}
	kt, err := base64.StdEncoding.DecodeString(string(rest))
	if err != nil {
		return nil, false
	}
	return kt, true
}
