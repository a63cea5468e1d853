package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	agelib "filippo.io/age"
	"github.com/zalando/go-keyring"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// With security.credentials: vault, the CLI never asks whether an OS
// keyring works and never stores, reads or lists anything in one, even
// when one works: the keyring check here answers that it does, and the
// keyring is go-keyring's mock (TestMain), which is then searched. The
// same commands with credentials: auto do reach the mock keyring, which
// shows that the search would find it.
func TestWithTheVaultBackendTheCLINeverOpensTheOSKeyring(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the keyring store's lock file, in the auto case
	fleet := startFleet(t, winrmsim.Config{Devices: 2, Seed: 9})
	for _, tc := range []struct {
		backend     string
		wantKeyring bool
	}{
		{"vault", false},
		{"auto", true},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			keyring.MockInit() // an empty, working keyring
			c := newCLI(t)
			c.keyringAnswer = nil
			cfg := filepath.Join(c.home, ".config", "rmm", "config.yaml")
			if err := os.WriteFile(cfg, []byte("security:\n  credentials: "+tc.backend+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			// An age identity opens the vault (a passphrase would cost a
			// scrypt derivation per command).
			id := ageIdentityFile(t)
			if code, _, errb := c.run("import", fleetCSV(t, fleet)); code != 0 {
				t.Fatalf("import: %s", errb)
			}
			if code, _, errb := c.runStdin(winrmsim.DefaultPassword+"\n", "--identity", id, "creds", "set", "default",
				"--user", winrmsim.DefaultUser, "--password-stdin"); code != 0 {
				t.Fatalf("creds set: exit %d %s", code, errb)
			}
			code, out, errb := c.run("--identity", id, "creds", "list")
			if code != 0 || !strings.Contains(out, "default") {
				t.Fatalf("creds list: exit %d %q %s", code, out, errb)
			}
			if code, out, errb := c.run("--identity", id, "poll", "--once", "--json"); code != 0 || !strings.Contains(out, `"online":2`) {
				t.Fatalf("poll with the stored credential: exit %d %s %s", code, out, errb)
			}
			kr, err := creds.OpenKeyring("")
			if err != nil {
				t.Fatal(err)
			}
			defer kr.Close()
			names, err := kr.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			inKeyring := len(names) > 0
			if tc.wantKeyring {
				if c.keyringChecks == 0 || !inKeyring {
					t.Fatalf("credentials: auto with a working keyring: %d checks, keyring holds %v; the search would not see a keyring in use",
						c.keyringChecks, names)
				}
				return
			}
			if c.keyringChecks != 0 || inKeyring {
				t.Errorf("credentials: vault: the keyring check ran %d times and the keyring holds %v; want 0 and nothing", c.keyringChecks, names)
			}
			if _, err := os.Stat(filepath.Join(c.home, ".local", "share", "rmm", "vault.age")); err != nil {
				t.Errorf("the credential is not in the vault: %v", err)
			}
		})
	}
}

// ageIdentityFile writes a new age X25519 identity and returns its path.
func ageIdentityFile(t *testing.T) string {
	t.Helper()
	id, err := agelib.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
