package creds

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"filippo.io/age"
	"golang.org/x/term"
)

// EnvPassphrase is the environment variable PassphraseFromEnv reads.
const EnvPassphrase = "RMM_VAULT_PASSPHRASE"

// defaultScryptWorkFactor is age's own default (2^18, about one second):
// the cost of every vault write, and of the first read in a process.
const defaultScryptWorkFactor = 18

// maxIdentityFileSize bounds what IdentityFile reads.
const maxIdentityFileSize = 1 << 20

// Unlocker opens a vault: a passphrase (age scrypt) or an age identity
// file (X25519, or age's post-quantum hybrid keys). Build one with
// Passphrase or IdentityFile.
type Unlocker interface {
	// String describes the method for messages ("passphrase", "identity
	// file /path"), never the secret.
	String() string
	// keys derives what the vault needs to decrypt and encrypt.
	keys() (vaultKeys, error)
}

// vaultKeys is what an Unlocker yields: identities to decrypt the vault
// and the recipient to encrypt it to on every write.
type vaultKeys struct {
	identities []age.Identity
	recipient  age.Recipient
	passphrase bool // scrypt, for the wrong-method hints
}

// Passphrase returns an Unlocker for a passphrase-encrypted vault. It
// copies p; the caller should zero its own copy (clear(p)). The vault is
// encrypted with age's scrypt recipient, work factor 2^18.
func Passphrase(p []byte) Unlocker {
	return passphraseUnlocker{p: bytes.Clone(p), workFactor: defaultScryptWorkFactor}
}

// PassphraseFromEnv returns a passphrase Unlocker from RMM_VAULT_PASSPHRASE,
// or false when the variable is unset or empty. The variable stays in the
// process environment (and in that of any child process); a prompt
// (ReadPassphrase) is safer on shared hosts.
func PassphraseFromEnv() (Unlocker, bool) {
	v := os.Getenv(EnvPassphrase)
	if v == "" {
		return nil, false
	}
	return Passphrase([]byte(v)), true
}

// passphraseUnlocker is the Unlocker of Passphrase.
type passphraseUnlocker struct {
	p          []byte
	workFactor int // log2 of the scrypt cost; tests lower it
}

// String implements Unlocker.
func (passphraseUnlocker) String() string { return "passphrase" }

// Format keeps every fmt verb from printing the passphrase bytes.
func (u passphraseUnlocker) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, u.String()) }

func (u passphraseUnlocker) keys() (vaultKeys, error) {
	if len(u.p) == 0 {
		return vaultKeys{}, errors.New("vault passphrase is empty")
	}
	// age takes the passphrase as a string: an immutable copy we cannot
	// zero (see the package doc).
	id, err := age.NewScryptIdentity(string(u.p))
	if err != nil {
		return vaultKeys{}, fmt.Errorf("vault passphrase: %w", err)
	}
	r, err := age.NewScryptRecipient(string(u.p))
	if err != nil {
		return vaultKeys{}, fmt.Errorf("vault passphrase: %w", err)
	}
	r.SetWorkFactor(u.workFactor)
	return vaultKeys{identities: []age.Identity{id}, recipient: r, passphrase: true}, nil
}

// IdentityFile returns an Unlocker that reads age identities from path
// (the output of age-keygen: "AGE-SECRET-KEY-1..." lines, "#" comments).
// The file must be mode 0600. The vault is decrypted with any identity in
// the file and encrypted to the first one. Passphrase-protected identity
// files are not supported.
func IdentityFile(path string) Unlocker { return identityFileUnlocker{path: path} }

// identityFileUnlocker is the Unlocker of IdentityFile.
type identityFileUnlocker struct{ path string }

// String implements Unlocker.
func (u identityFileUnlocker) String() string { return "identity file " + u.path }

func (u identityFileUnlocker) keys() (vaultKeys, error) {
	if u.path == "" {
		return vaultKeys{}, errors.New("identity file: no path given")
	}
	f, err := os.Open(u.path)
	if err != nil {
		return vaultKeys{}, fmt.Errorf("identity file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return vaultKeys{}, fmt.Errorf("identity file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return vaultKeys{}, fmt.Errorf("identity file %s is not a regular file", u.path)
	}
	if err := checkPrivate(u.path, fi, "identity file"); err != nil {
		return vaultKeys{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFileSize+1))
	defer clear(data)
	if err != nil {
		return vaultKeys{}, fmt.Errorf("identity file %s: read: %w", u.path, err)
	}
	if len(data) > maxIdentityFileSize {
		return vaultKeys{}, fmt.Errorf("identity file %s is larger than %d bytes", u.path, maxIdentityFileSize)
	}
	// age keeps key material out of its parse errors.
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return vaultKeys{}, fmt.Errorf("identity file %s: %w", u.path, err)
	}
	var r age.Recipient
	switch id := ids[0].(type) {
	case *age.X25519Identity:
		r = id.Recipient()
	case *age.HybridIdentity:
		r = id.Recipient()
	default:
		return vaultKeys{}, fmt.Errorf("identity file %s: first identity is of an unsupported type %T", u.path, ids[0])
	}
	return vaultKeys{identities: ids, recipient: r}, nil
}

// ReadPassphrase writes prompt to w and reads a passphrase from the
// terminal in without echo. It fails when in is not a terminal. The caller
// owns the returned bytes and should zero them (clear) after use.
func ReadPassphrase(in *os.File, w io.Writer, prompt string) ([]byte, error) {
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("read vault passphrase: %s is not a terminal: set %s or use an identity file", in.Name(), EnvPassphrase)
	}
	if _, err := io.WriteString(w, prompt); err != nil {
		return nil, fmt.Errorf("read vault passphrase: %w", err)
	}
	p, err := term.ReadPassword(fd)
	_, _ = io.WriteString(w, "\n")
	if err != nil {
		clear(p)
		return nil, fmt.Errorf("read vault passphrase: %w", err)
	}
	return p, nil
}
