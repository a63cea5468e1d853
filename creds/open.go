package creds

import (
	"fmt"
	"os"
	"path/filepath"
)

// OpenOptions choose and configure the credential store.
type OpenOptions struct {
	// Backend is "keyring", "vault" or "auto" (also when empty): the
	// keyring when KeyringAvailable says it works, else the vault.
	Backend string
	// Service is the keyring service name; "rmm" when empty.
	Service string
	// VaultPath is the vault file; DefaultVaultPath() when empty.
	VaultPath string
	// Unlock opens the vault: Passphrase or IdentityFile. Needed whenever
	// the vault is used.
	Unlock Unlocker

	// KeyringCheck tells whether the OS keyring works, in auto and
	// keyring modes; nil: KeyringAvailable. A front end's tests set it so
	// they never probe (or write to) the machine's real keyring. The vault
	// backend never calls it.
	KeyringCheck func() error
}

// DefaultVaultPath returns $XDG_DATA_HOME/rmm/vault.age, or
// ~/.local/share/rmm/vault.age, beside the database.
func DefaultVaultPath() (string, error) {
	if dir := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "rmm", "vault.age"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("creds: default vault path: %w", err)
	}
	return filepath.Join(home, ".local", "share", "rmm", "vault.age"), nil
}

// Open returns the store opts choose. In auto mode it prefers the OS
// keyring and falls back to the vault when KeyringAvailable reports none,
// which needs opts.Unlock.
//
// Note that auto mode picks per process: a credential set from a desktop
// session (keyring) is not visible from an SSH session on the same host
// without D-Bus (vault). Hosts that see both should pin Backend.
func Open(opts OpenOptions) (Store, error) {
	check := opts.KeyringCheck
	if check == nil {
		check = KeyringAvailable
	}
	switch opts.Backend {
	case BackendKeyring:
		if err := check(); err != nil {
			return nil, fmt.Errorf("creds: keyring backend requested: %w", err)
		}
		return OpenKeyring(opts.Service)
	case BackendVault:
		return openVaultOpts(opts, nil)
	case BackendAuto, "":
		why := check()
		if why == nil {
			return OpenKeyring(opts.Service)
		}
		return openVaultOpts(opts, why)
	default:
		return nil, fmt.Errorf("creds: unknown credential backend %q (want keyring, vault or auto)", opts.Backend)
	}
}

// errNoUnlockMark wraps ErrNoUnlock into an error without adding to its
// text (the messages above already say it).
var errNoUnlockMark = silentErr{ErrNoUnlock}

type silentErr struct{ err error }

func (silentErr) Error() string   { return "" }
func (e silentErr) Unwrap() error { return e.err }

// openVaultOpts opens the vault of opts; noKeyring is why auto mode fell
// back to it, for the message when no unlock was given.
func openVaultOpts(opts OpenOptions, noKeyring error) (Store, error) {
	if opts.Unlock == nil {
		msg := "no vault passphrase: set " + EnvPassphrase + " or use --identity FILE"
		if noKeyring != nil {
			return nil, fmt.Errorf("creds: no keyring available and %s (%w)%w", msg, noKeyring, errNoUnlockMark)
		}
		return nil, fmt.Errorf("creds: vault backend: %s%w", msg, errNoUnlockMark)
	}
	path := opts.VaultPath
	if path == "" {
		var err error
		if path, err = DefaultVaultPath(); err != nil {
			return nil, err
		}
	}
	return OpenVault(path, opts.Unlock)
}
