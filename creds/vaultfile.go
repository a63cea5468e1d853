package creds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"filippo.io/age"
)

// The vault file format.
//
// On disk: one age v1 file (https://age-encryption.org/v1), binary (not
// armored), with a single recipient: an scrypt stanza (passphrase) or an
// X25519 / hybrid stanza (identity file). The file is mode 0600.
//
// Inside, UTF-8 JSON:
//
//	{
//	  "format": "rmm-vault",
//	  "version": 1,
//	  "credentials": [
//	    {"name": "default", "user": "CONTOSO\\svc-rmm",
//	     "secret": "<password bytes, base64>", "created_at": "2026-01-02T03:04:05Z"}
//	  ]
//	}
//
// credentials is sorted by name. The secret is base64 so that it decodes
// straight into a []byte we can zero, without an intermediate string.
// Unknown fields are ignored; a version above 1 is refused rather than
// rewritten without the fields this version does not know.
//
// Version 2 adds an optional "scope" object to a credential (see Scope).
// A vault is written as version 1 while no credential has a scope, so an
// older rmm still opens it, and as version 2 once one has, so an older
// rmm refuses it rather than send a credential outside its scope.
const (
	vaultFormat  = "rmm-vault"
	vaultVersion = 2
	// maxVaultFileSize bounds what is read and decrypted: a vault of
	// thousands of credentials is well under 1 MiB.
	maxVaultFileSize = 16 << 20
)

// errVaultTooNew: the vault was written by a newer rmm.
var errVaultTooNew = errors.New("vault format is newer than this rmm understands")

// vaultDoc is the plaintext of a vault file.
type vaultDoc struct {
	Format      string        `json:"format"`
	Version     int           `json:"version"`
	Credentials []vaultRecord `json:"credentials"`
}

// vaultRecord is one credential in a vault file. It must never be logged.
type vaultRecord struct {
	Name      string    `json:"name"`
	User      string    `json:"user"`
	Secret    []byte    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
	Scope     *Scope    `json:"scope,omitempty"`
}

// vaultEntry is a decoded credential held in memory by the vault store.
// The store owns secret and zeroes it when the entry is replaced or the
// store is closed.
type vaultEntry struct {
	user    string
	secret  []byte
	created time.Time
	scope   Scope
}

// wipeEntries zeroes every secret in m.
func wipeEntries(m map[string]vaultEntry) {
	for _, e := range m {
		clear(e.secret)
	}
}

// encodeVault serializes and encrypts entries to r.
func encodeVault(entries map[string]vaultEntry, r age.Recipient) ([]byte, error) {
	doc := vaultDoc{Format: vaultFormat, Version: 1, Credentials: make([]vaultRecord, 0, len(entries))}
	for name, e := range entries {
		rec := vaultRecord{Name: name, User: e.user, Secret: e.secret, CreatedAt: e.created}
		if !e.scope.IsZero() {
			scope := e.scope
			rec.Scope, doc.Version = &scope, 2
		}
		doc.Credentials = append(doc.Credentials, rec)
	}
	slices.SortFunc(doc.Credentials, func(a, b vaultRecord) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	plain, err := json.Marshal(doc)
	defer clear(plain)
	if err != nil {
		// Cannot happen for these types; the message would not carry a
		// value anyway, but stay generic.
		return nil, errors.New("encode vault contents failed")
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, r)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return out.Bytes(), nil
}

// decodeVault decrypts and parses a vault file. Its errors wrap
// ErrWrongPassphrase or ErrVaultCorrupt; the caller adds the path.
func decodeVault(data []byte, keys vaultKeys) (map[string]vaultEntry, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrVaultCorrupt)
	}
	if len(data) > maxVaultFileSize {
		return nil, fmt.Errorf("%w: %d bytes is larger than the %d byte limit", ErrVaultCorrupt, len(data), maxVaultFileSize)
	}
	r, err := age.Decrypt(bytes.NewReader(data), keys.identities...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, wrongKeyError(noMatch, keys)
		}
		// Header parse errors, a bad header MAC, a missing nonce: damage.
		return nil, fmt.Errorf("%w: %v", ErrVaultCorrupt, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxVaultFileSize+1))
	defer clear(plain)
	if err != nil {
		// age authenticates every 64 KiB chunk and the end of the stream:
		// a flipped byte or a truncation shows up here.
		return nil, fmt.Errorf("%w: %v", ErrVaultCorrupt, err)
	}
	if len(plain) > maxVaultFileSize {
		return nil, fmt.Errorf("%w: decrypted contents exceed %d bytes", ErrVaultCorrupt, maxVaultFileSize)
	}
	return decodePlaintext(plain)
}

// wrongKeyError explains a vault the given keys cannot open, with a hint
// when the wrong kind of key was offered.
func wrongKeyError(e *age.NoIdentityMatchError, keys vaultKeys) error {
	scrypt := slices.Contains(e.StanzaTypes, "scrypt")
	switch {
	case keys.passphrase && !scrypt:
		return fmt.Errorf("%w: the vault is encrypted to an age identity, not a passphrase: use --identity FILE", ErrWrongPassphrase)
	case !keys.passphrase && scrypt:
		return fmt.Errorf("%w: the vault is passphrase-encrypted: set %s instead of --identity", ErrWrongPassphrase, EnvPassphrase)
	}
	return ErrWrongPassphrase
}

// decodePlaintext parses and validates the JSON inside a vault. Its
// errors never quote the input: a JSON error message may contain a byte
// of a password.
func decodePlaintext(plain []byte) (map[string]vaultEntry, error) {
	var doc vaultDoc
	if err := json.Unmarshal(plain, &doc); err != nil {
		for _, rec := range doc.Credentials {
			clear(rec.Secret)
		}
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("%w: decrypted contents are not valid JSON (at byte %d)", ErrVaultCorrupt, syn.Offset)
		}
		return nil, fmt.Errorf("%w: decrypted contents do not match the vault layout", ErrVaultCorrupt)
	}
	fail := func(err error) (map[string]vaultEntry, error) {
		for _, rec := range doc.Credentials {
			clear(rec.Secret)
		}
		return nil, err
	}
	if doc.Format != vaultFormat {
		return fail(fmt.Errorf("%w: not an rmm vault (format field is missing or wrong)", ErrVaultCorrupt))
	}
	if doc.Version > vaultVersion {
		return fail(fmt.Errorf("%w: vault format version %d, this rmm understands %d: upgrade rmm", errVaultTooNew, doc.Version, vaultVersion))
	}
	if doc.Version < 1 {
		return fail(fmt.Errorf("%w: invalid format version %d", ErrVaultCorrupt, doc.Version))
	}
	entries := make(map[string]vaultEntry, len(doc.Credentials))
	for i, rec := range doc.Credentials {
		if err := ValidateName(rec.Name); err != nil && !reservedName(rec.Name) {
			return fail(fmt.Errorf("%w: credential #%d: %v", ErrVaultCorrupt, i+1, err))
		}
		if _, dup := entries[rec.Name]; dup {
			return fail(fmt.Errorf("%w: credential %q appears twice", ErrVaultCorrupt, rec.Name))
		}
		if err := validateUser(rec.User); err != nil {
			return fail(fmt.Errorf("%w: credential %q: %v", ErrVaultCorrupt, rec.Name, err))
		}
		if len(rec.Secret) == 0 {
			return fail(fmt.Errorf("%w: credential %q has no password", ErrVaultCorrupt, rec.Name))
		}
		var scope Scope
		if rec.Scope != nil {
			s, err := rec.Scope.normalize()
			if err != nil {
				return fail(fmt.Errorf("%w: credential %q: %v", ErrVaultCorrupt, rec.Name, err))
			}
			scope = s
		}
		entries[rec.Name] = vaultEntry{user: rec.User, secret: rec.Secret, created: rec.CreatedAt.UTC(), scope: scope}
	}
	return entries, nil
}
