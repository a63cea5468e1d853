package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Newcomer B3: a wrong vault passphrase used to read "no WinRM
// credential: store one with rmm creds set default ..." although the
// credential was there. Every command that needs the credential now says
// the cause first, and a missing passphrase is not mistaken for a
// missing credential.
func TestALockedVaultIsSaidFirstByEveryCommandThatPolls(t *testing.T) {
	c := newCLI(t)
	csv := filepath.Join(t.TempDir(), "devices.csv")
	if err := os.WriteFile(csv, []byte("Hostname,IPAddress,Port\nWS-0001,127.0.0.1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errb := c.run("import", csv); code != 0 {
		t.Fatalf("import: %d %s", code, errb)
	}
	c.env["RMM_VAULT_PASSPHRASE"] = "the-right-passphrase-1"
	if code, _, errb := c.runStdin("secret-password\n", "creds", "set", "default", "--user", "rmm", "--password-stdin"); code != 0 {
		t.Fatalf("creds set: %d %s", code, errb)
	}
	commands := [][]string{{"poll", "--once"}, {"action", "run", "flush-dns", "--target", "WS-0001"}, {"inventory", "WS-0001", "--force"}}
	for _, tt := range []struct {
		name, passphrase, want string
	}{
		{"a wrong passphrase", "wrong-passphrase", "rmm: vault locked: wrong passphrase or identity: check RMM_VAULT_PASSPHRASE or --identity FILE"},
		{"no passphrase", "", "rmm: vault locked: no passphrase given: set RMM_VAULT_PASSPHRASE or use --identity FILE"},
	} {
		for _, args := range commands {
			t.Run(tt.name+"/"+args[0], func(t *testing.T) {
				c.env["RMM_VAULT_PASSPHRASE"] = tt.passphrase
				code, _, errb := c.run(args...)
				if code != 2 || !strings.HasPrefix(errb, tt.want) {
					t.Errorf("rmm %v: exit %d, %q; want exit 2 starting with %q", args, code, errb, tt.want)
				}
				if strings.Contains(errb, "store one with rmm creds set") {
					t.Errorf("rmm %v tells to store a credential that is stored: %q", args, errb)
				}
			})
		}
	}
	// Without a vault at all, storing a credential is the fix.
	empty := newCLI(t)
	code, _, errb := empty.run("poll", "--once")
	if code != 2 || !strings.HasPrefix(errb, "rmm: no WinRM credential: store one with rmm creds set default") {
		t.Errorf("no vault: exit %d, %q", code, errb)
	}
}
