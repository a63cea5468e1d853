package cmd

import (
	"errors"
	"fmt"
	"os"

	"github.com/rmmhq/rmm/creds"
)

// credsProblem is why rmm has no WinRM credential, cause first (newcomer
// B3: a wrong passphrase used to read "no WinRM credential: store one
// with rmm creds set ..." although the credential was there).
type credsProblem struct {
	msg string
	err error
}

func (p *credsProblem) Error() string { return p.msg }
func (p *credsProblem) Unwrap() error { return p.err }

// explainCredsError turns the credentials store's refusal to open into
// what the user reads: what is wrong, then what to do.
func (a *app) explainCredsError(err error) error {
	vault := a.cfg.Security.VaultFile
	switch {
	case errors.Is(err, creds.ErrWrongPassphrase):
		return &credsProblem{fmt.Sprintf("vault locked: wrong passphrase or identity: check %s or --identity FILE (vault %s)", creds.EnvPassphrase, vault), err}
	case errors.Is(err, creds.ErrNoUnlock) && a.vaultExists():
		return &credsProblem{fmt.Sprintf("vault locked: no passphrase given: set %s or use --identity FILE (vault %s)", creds.EnvPassphrase, vault), err}
	case errors.Is(err, creds.ErrVaultCorrupt), errors.Is(err, creds.ErrInsecurePermissions):
		return &credsProblem{fmt.Sprintf("vault unusable: %v", err), err}
	}
	return &credsProblem{fmt.Sprintf("%v: store one with rmm creds set default --user DOMAIN\\user, "+
		"or set RMM_WINRM_USER and RMM_WINRM_PASSWORD (the credentials store said: %v)", errNoCredential, err), errors.Join(errNoCredential, err)}
}

// vaultExists reports whether the vault file is there (a locked vault,
// not an empty store).
func (a *app) vaultExists() bool {
	_, err := os.Stat(a.cfg.Security.VaultFile)
	return err == nil
}

// vaultPromptTries is how often the console asks for the vault's
// passphrase before it opens with polling off.
const vaultPromptTries = 3

// unlockForConsole asks for the vault's passphrase on the terminal, as
// the CLI does, when the vault exists and nothing unlocks it (newcomer
// B2). It returns the opened store, or the last error (nil store) when
// stdin is no terminal or every try failed.
func (a *app) unlockForConsole(first error) (creds.Store, error) {
	if !errors.Is(first, creds.ErrNoUnlock) || !a.vaultExists() || a.stdinTerminal() == nil {
		return nil, first
	}
	err := first
	for range vaultPromptTries {
		var s creds.Store
		s, err = a.openCreds(true)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, creds.ErrWrongPassphrase) {
			return nil, err
		}
		fmt.Fprintln(a.stderr, "rmm: vault locked: wrong passphrase or identity")
	}
	return nil, err
}
