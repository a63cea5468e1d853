package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
)

// stdinTerminal returns stdin as a terminal file, or nil.
func (a *app) stdinTerminal() *os.File {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

// openCreds opens the configured credentials store: the OS keyring, or the
// vault unlocked by --identity, RMM_VAULT_PASSPHRASE or (when prompt is
// true and stdin is a terminal) a passphrase typed with no echo.
func (a *app) openCreds(prompt bool) (creds.Store, error) {
	s, err := a.openCredsStore(prompt)
	if err == nil {
		a.shareCreds(s)
	}
	return s, err
}

// openCredsStore is openCreds without sharing the store with the audit
// key store (which opens its own this way).
func (a *app) openCredsStore(prompt bool) (creds.Store, error) {
	opts := creds.OpenOptions{Backend: a.cfg.Security.Backend, VaultPath: a.cfg.Security.VaultFile, KeyringCheck: a.keyringCheck}
	switch {
	case a.identityFile != "":
		opts.Unlock = creds.IdentityFile(a.identityFile)
	case a.getenv(creds.EnvPassphrase) != "":
		opts.Unlock = creds.Passphrase([]byte(a.getenv(creds.EnvPassphrase)))
	}
	s, err := creds.Open(opts)
	if err == nil || opts.Unlock != nil || !prompt {
		return s, err
	}
	tty := a.stdinTerminal()
	if tty == nil {
		return nil, err
	}
	p, perr := creds.ReadPassphrase(tty, a.stderr, "Vault passphrase ("+a.cfg.Security.VaultFile+"): ")
	if perr != nil {
		return nil, perr
	}
	defer clear(p)
	opts.Unlock = creds.Passphrase(p)
	return creds.Open(opts)
}

// shareCreds remembers the credentials store this command opened, so the
// audit key is read from it (a vault opened with a typed passphrase
// cannot be opened again without one).
func (a *app) shareCreds(s creds.Store) {
	a.credsMu.Lock()
	a.credsShared = s
	a.credsMu.Unlock()
}

// readSecret reads the password for `creds set`: all of stdin with
// --password-stdin (one trailing newline removed), else a no-echo prompt.
func (a *app) readSecret(fromStdin bool, user string) (creds.Secret, error) {
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(a.stdin, 64<<10))
		if err != nil {
			return creds.Secret{}, fmt.Errorf("read password from stdin: %w", err)
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		defer clear(b)
		if len(b) == 0 {
			return creds.Secret{}, exitError{2, errors.New("empty password on stdin")}
		}
		if bytes.HasPrefix(b, []byte("rmm-keytab:")) {
			return creds.Secret{}, exitError{2, creds.ErrKeytabPrefix}
		}
		return creds.SecretFromBytes(b), nil
	}
	tty := a.stdinTerminal()
	if tty == nil {
		return creds.Secret{}, exitError{2, errors.New("stdin is not a terminal: use --password-stdin")}
	}
	fmt.Fprintf(a.stderr, "Password for %s: ", user)
	p1, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return creds.Secret{}, fmt.Errorf("read password: %w", err)
	}
	defer clear(p1)
	fmt.Fprintf(a.stderr, "Again: ")
	p2, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return creds.Secret{}, fmt.Errorf("read password: %w", err)
	}
	defer clear(p2)
	if !bytes.Equal(p1, p2) || len(p1) == 0 {
		return creds.Secret{}, exitError{2, errors.New("the passwords differ or are empty; nothing stored")}
	}
	return creds.SecretFromBytes(p1), nil
}

// withCredsEngine runs fn with an engine that holds the credentials store.
func (a *app) withCredsEngine(cmd *cobra.Command, fn func(eng *engine.Engine, id engine.Identity) error) error {
	id, err := a.localIdentity(engine.ViaCLI)
	if err != nil {
		return err
	}
	store, err := a.openCreds(true)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx := cmd.Context()
	db, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	opts := a.engineOptions(engine.Credential{})
	opts.Credentials = store
	eng, err := engine.New(ctx, db, opts)
	if err != nil {
		return err
	}
	defer eng.Close()
	if err := eng.SetTransportOptions(a.transportOptions()); err != nil {
		return exitError{2, fmt.Errorf("%s: %w", a.configFile(), err)}
	}
	if err := fn(eng, id); err != nil {
		return err
	}
	// A credential set again is rotated: its reminder alert is resolved
	// now, not at the console's next daily check.
	if err := engine.NewCredentialWatch(eng, a.cfg.Security.CredentialMaxAge).Check(ctx); err != nil {
		a.log.Warn("credential rotation check failed", "err", err)
	}
	return nil
}

// credJSON is the stable --json form of one credential in rmm creds list.
type credJSON struct {
	Name      string    `json:"name"`
	User      string    `json:"user"`
	Backend   string    `json:"backend"`
	CreatedAt time.Time `json:"created_at"`
	AgeDays   int       `json:"age_days"`
	Rotate    bool      `json:"rotate"`
	Scope     string    `json:"scope"` // "any device", or e.g. "site=hq host=DC* domain=contoso.com"
}

func (a *app) credsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "creds",
		Short: "Set, list and remove WinRM credentials (OS keyring or encrypted vault)",
		Long: `Manage the WinRM credentials rmm uses. They live in the OS keyring (Secret
Service, macOS Keychain, Windows Credential Manager) or, where no keyring
works (a headless Linux jump host, detected by a real probe), in an
age-encrypted vault file (security.vault_file, mode 0600) unlocked by
RMM_VAULT_PASSPHRASE, --identity FILE (an age identity) or a prompt.
security.credentials pins the backend (auto, keyring, vault).

Which credential a device uses: its CredentialId (from the CSV) wins, then
"site:SITE" for its site, then "default". A credential set with --scope is
sent only to the devices inside it (sites, groups, host name patterns, a DNS
domain); a device outside gets no credential and an "unmanageable" alert.
Secrets are never printed, logged, stored in the database or put in error
messages. Admin only (list: Operator).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var user, keytabFile string
	var fromStdin bool
	var scopes []string
	set := &cobra.Command{
		Use:   "set NAME --user DOMAIN\\user [--keytab FILE] [--scope KEY=VALUE...]",
		Short: "Store a credential (the password is read with no echo, or from stdin; or a keytab)",
		Long: `Store a credential. The password is read with no echo, or from stdin.

The user is written as Windows admins write it: DOMAIN\user or
user@REALM for a domain account (auth negotiate or kerberos: the realm
comes from the name, DOMAIN through winrm.kerberos_realm_map), or user for
a local account. --keytab FILE stores a Kerberos keytab for the account
instead of a password (auth kerberos or negotiate; NTLM needs a password):
its content is kept like a password, in the keyring or the vault, never in
the database, a log or an error.

--scope limits the devices the credential is ever sent to; repeat it, or
give several values with commas. Every key given must hold, one value of a
key is enough:
  site=NAME       the device's site
  group=NAME      one of the device's groups
  host=PATTERN    the device's name (its FQDN when it has one, else its
                  hostname: the name HTTPS proves); * and ? are wildcards;
                  a pattern without a dot matches the first label
  domain=DNS      the device's name is in this DNS domain
Without --scope the credential may go to any device. Setting a credential
again replaces its scope.`,
		Example: `  rmm creds set default --user 'CONTOSO\svc-rmm' --scope domain=contoso.com
  rmm creds set default --user svc-rmm@CONTOSO.COM --keytab /etc/rmm/svc-rmm.keytab
  rmm creds set dc-admins --user 'CONTOSO\rmm-dc' --scope host=DC* --scope domain=contoso.com
  rmm creds set site:hq --user 'HQ\rmm' --scope site=hq --password-stdin < pw.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(user) == "" {
				return exitError{2, errors.New("--user is required (DOMAIN\\user or user@domain)")}
			}
			if err := creds.ValidateName(args[0]); err != nil {
				return exitError{2, err}
			}
			scope, err := creds.ParseScope(scopes)
			if err != nil {
				return exitError{2, err}
			}
			return a.withCredsEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				var secret creds.Secret
				var err error
				if keytabFile != "" {
					secret, err = readKeytab(keytabFile, user)
				} else {
					secret, err = a.readSecret(fromStdin, user)
				}
				if err != nil {
					return err
				}
				defer secret.Wipe()
				if _, err := engine.Call(cmd.Context(), eng, id, engine.SetCredential{Name: args[0], User: user, Secret: secret, Scope: scope}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "credential %s stored for %s (scope: %s)\n", args[0], user, scope)
				return nil
			})
		},
	}
	set.Flags().StringVar(&user, "user", "", `account, e.g. CONTOSO\svc-rmm or svc-rmm@contoso.com`)
	set.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from stdin instead of a prompt")
	set.Flags().StringVar(&keytabFile, "keytab", "", "store this Kerberos keytab file for the user instead of a password")
	set.Flags().StringArrayVar(&scopes, "scope", nil, "limit the devices it is sent to: site=, group=, host=PATTERN or domain= (repeatable)")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List credentials: name, user, age, where stored (never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withCredsEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				metas, err := engine.Call(cmd.Context(), eng, id, engine.ListCredentials{})
				if err != nil {
					return err
				}
				maxAge := a.cfg.Security.CredentialMaxAge
				stale := map[string]bool{}
				for _, m := range creds.Stale(metas, time.Now(), maxAge) {
					stale[m.Name] = true
				}
				rows := make([]credJSON, len(metas))
				for i, m := range metas {
					rows[i] = credJSON{Name: m.Name, User: m.User, Backend: m.Backend, CreatedAt: m.CreatedAt.UTC(),
						AgeDays: int(time.Since(m.CreatedAt).Hours() / 24), Rotate: stale[m.Name], Scope: m.Scope.String()}
				}
				if asJSON {
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(rows)
				}
				if len(rows) == 0 {
					fmt.Fprintln(a.stdout, "No credentials. Add one: rmm creds set default --user 'DOMAIN\\user'")
					return nil
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tUSER\tSTORED IN\tSET (UTC)\tAGE\tROTATION\tSCOPE")
				for _, r := range rows {
					rot := "ok"
					if r.Rotate {
						rot = fmt.Sprintf("due (older than %dd)", int(maxAge.Hours()/24))
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%dd\t%s\t%s\n", r.Name, r.User, r.Backend, r.CreatedAt.Format("2006-01-02"), r.AgeDays, rot, r.Scope)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print name, user, backend, created_at, age_days, rotate, scope as JSON")

	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a credential",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withCredsEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				if _, err := engine.Call(cmd.Context(), eng, id, engine.RemoveCredential{Name: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "credential %s removed\n", args[0])
				return nil
			})
		},
	}
	var target string
	test := &cobra.Command{
		Use:   "test NAME --target HOST",
		Short: "Try a stored credential against a host (the rmm doctor steps, with this credential)",
		Long: `Connect to HOST with the stored credential NAME and run the rmm doctor
steps (TCP, TLS, Identify, authentication, shell, PowerShell, resident loop).
Exit status 0 when it works, 5 when a step failed. Admin only; audited.`,
		Example: `  rmm creds test default --target WS-0042`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target == "" {
				return exitError{2, errors.New("--target HOST is required")}
			}
			return a.withCredsEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				rep, err := engine.Call(cmd.Context(), eng, id, engine.Diagnose{Host: target, Credential: args[0]})
				if err != nil {
					return err
				}
				return a.printDoctor(rep, false)
			})
		},
	}
	test.Flags().StringVar(&target, "target", "", "a device's hostname, or an address")
	cmd.AddCommand(set, list, rm, test)
	return cmd
}

// readKeytab reads a keytab file for creds set --keytab: it must parse as
// a keytab and hold a key for the user's name (its realm too when the
// user names one). Errors name the file, never its content.
func readKeytab(path, user string) (creds.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return creds.Secret{}, exitError{2, fmt.Errorf("--keytab: %w", err)}
	}
	defer clear(b)
	if len(b) > 1<<20 {
		return creds.Secret{}, exitError{2, fmt.Errorf("--keytab %s: %d bytes is no keytab (at most 1 MiB)", path, len(b))}
	}
	kt := new(keytab.Keytab)
	if err := kt.Unmarshal(b); err != nil {
		return creds.Secret{}, exitError{2, fmt.Errorf("--keytab %s: not a keytab file: %v", path, err)}
	}
	name, realm := user, ""
	if _, n, ok := strings.Cut(user, `\`); ok {
		name = n // DOMAIN's realm comes from winrm.kerberos_realm_map
	} else if n, r, ok := strings.Cut(user, "@"); ok {
		name, realm = n, r
	}
	for _, e := range kt.Entries {
		if strings.EqualFold(strings.Join(e.Principal.Components, "/"), name) && (realm == "" || strings.EqualFold(e.Principal.Realm, realm)) {
			return creds.KeytabSecret(b), nil
		}
	}
	return creds.Secret{}, exitError{2, fmt.Errorf("--keytab %s: it holds no key for %s (klist -k %s lists its principals)", path, user, path)}
}
