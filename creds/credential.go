package creds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Backend names, as stored in Credential.Backend and Meta.Backend and as
// accepted by OpenOptions.Backend.
const (
	BackendKeyring = "keyring"
	BackendVault   = "vault"
	BackendMemory  = "memory"
	BackendAuto    = "auto"
)

// DefaultName is the credential used when neither the device nor its site
// names one.
const DefaultName = "default"

// MaxNameLen bounds a credential name, in bytes.
const MaxNameLen = 128

// Errors callers test with errors.Is. The errors returned by this package
// wrap them with the credential name, the vault path and the failed step.
var (
	// ErrNotFound: no credential has that name.
	ErrNotFound = errors.New("credential not found")
	// ErrWrongPassphrase: the vault passphrase or identity does not open
	// the vault. (age cannot tell a wrong passphrase from a damaged key
	// stanza in the vault header; both land here.)
	ErrWrongPassphrase = errors.New("wrong vault passphrase or identity")
	// ErrVaultCorrupt: the vault file is truncated, altered or not a vault.
	ErrVaultCorrupt = errors.New("vault file is corrupt")
	// ErrInsecurePermissions: the vault or identity file is readable by
	// group or others.
	ErrInsecurePermissions = errors.New("file is readable by group or others")
	// ErrNoKeyring: no working OS keyring (see KeyringAvailable).
	ErrNoKeyring = errors.New("no OS keyring available")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("credential store is closed")
	// ErrNoUnlock: the vault is the store to use and nothing was given
	// to unlock it (no passphrase, no identity file).
	ErrNoUnlock = errors.New("no vault passphrase or identity given")
)

// Credential is a WinRM account: a user name and its password.
// Formatting a Credential with fmt, encoding/json or slog never shows the
// password (see Secret).
type Credential struct {
	Name      string    // e.g. "default", "site:hq", "dc-admins"
	User      string    // e.g. `CONTOSO\svc-rmm` or `svc-rmm@contoso.com`
	Secret    Secret    // the password
	CreatedAt time.Time // when this secret was set (rotation reminders use it)
	Backend   string    // "keyring", "vault" or "memory": where it is stored
	Scope     Scope     // the devices it may be sent to; zero: any device
}

// Meta returns what may be shown about c: everything but the secret.
func (c Credential) Meta() Meta {
	return Meta{Name: c.Name, User: c.User, Backend: c.Backend, CreatedAt: c.CreatedAt, Scope: c.Scope}
}

// LogValue makes slog log the credential's metadata and never the secret.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("user", c.User),
		slog.String("backend", c.Backend),
		slog.Time("created_at", c.CreatedAt),
		slog.String("scope", c.Scope.String()),
		slog.String("secret", redacted),
	)
}

// Meta is what `rmm creds list` shows about a credential: never the secret.
type Meta struct {
	Name      string
	User      string
	Backend   string
	CreatedAt time.Time
	Scope     Scope
}

// Store keeps credentials. Implementations are safe for concurrent use.
// Errors wrap ErrNotFound, ErrWrongPassphrase, ErrVaultCorrupt and the
// other sentinels of this package, and never contain a secret.
type Store interface {
	// Set creates or replaces the credential c.Name. A zero CreatedAt is
	// set to now; c.Backend is ignored.
	Set(ctx context.Context, c Credential) error
	// Get returns the credential name, with an error wrapping ErrNotFound
	// when there is none. The caller owns the returned Secret and should
	// Wipe it when done.
	Get(ctx context.Context, name string) (Credential, error)
	// List returns the metadata of every credential, sorted by name.
	List(ctx context.Context) ([]Meta, error)
	// Delete removes the credential name, with an error wrapping
	// ErrNotFound when there is none.
	Delete(ctx context.Context, name string) error
	// Backend names where the credentials are kept: "keyring", "vault"
	// or "memory".
	Backend() string
	// Close releases the store and zeroes the secrets it caches. Later
	// calls fail with ErrClosed.
	Close() error
}

// ValidateName reports whether name can name a credential: 1 to 128
// printable ASCII characters, spaces allowed inside but not at either end,
// and not beginning with "__" (reserved for the keyring index).
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("credential name is empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("credential name is %d bytes long, the limit is %d", len(name), MaxNameLen)
	case strings.HasPrefix(name, "__"):
		return fmt.Errorf("credential name %q: names beginning with \"__\" are reserved", name)
	case name[0] == ' ' || name[len(name)-1] == ' ':
		return fmt.Errorf("credential name %q begins or ends with a space", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("credential name %q: only printable ASCII is allowed (byte %d is 0x%02x)", name, i, c)
		}
	}
	return nil
}

// validateUser checks the account name of a credential.
func validateUser(user string) error {
	if strings.TrimSpace(user) == "" {
		return errors.New("user is empty")
	}
	if len(user) > 512 {
		return fmt.Errorf("user is %d bytes long, the limit is 512", len(user))
	}
	for i := 0; i < len(user); i++ {
		if c := user[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("user contains a control character (byte %d)", i)
		}
	}
	return nil
}

// validateForSet checks everything Set needs before touching a backend.
// Its errors never include the secret.
func validateForSet(c Credential) error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if err := validateUser(c.User); err != nil {
		return err
	}
	if c.Secret.IsZero() {
		return errors.New("password is empty")
	}
	if _, err := c.Scope.normalize(); err != nil {
		return err
	}
	return nil
}

// createdAt returns t in UTC, or now when t is zero.
func createdAt(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC().Truncate(time.Second)
	}
	return t.UTC().Round(0)
}
