package creds

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenChoosesTheBackend(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	works := func() error { return nil }
	headless := func() error { return errors.New("no D-Bus session bus (headless host?)") }
	vault := filepath.Join(t.TempDir(), "vault.age")
	tests := []struct {
		name    string
		opts    OpenOptions
		want    string
		wantErr string
	}{
		{"auto uses a working keyring", OpenOptions{KeyringCheck: works}, BackendKeyring, ""},
		{"empty backend means auto", OpenOptions{Backend: "", KeyringCheck: works, Unlock: testPassphrase("p"), VaultPath: vault}, BackendKeyring, ""},
		{"auto falls back to the vault on a headless host", OpenOptions{Backend: "auto", KeyringCheck: headless, Unlock: testPassphrase("p"), VaultPath: vault}, BackendVault, ""},
		{"auto without a keyring or a passphrase says what to do", OpenOptions{Backend: "auto", KeyringCheck: headless, VaultPath: vault}, "",
			"no keyring available and no vault passphrase: set RMM_VAULT_PASSPHRASE or use --identity FILE"},
		{"the keyring when asked and available", OpenOptions{Backend: "keyring", KeyringCheck: works}, BackendKeyring, ""},
		{"the keyring when asked but unavailable is an error", OpenOptions{Backend: "keyring", KeyringCheck: headless}, "", "headless host"},
		{"the vault when asked, even with a keyring", OpenOptions{Backend: "vault", KeyringCheck: works, Unlock: testPassphrase("p"), VaultPath: vault}, BackendVault, ""},
		{"the vault without a passphrase is an error", OpenOptions{Backend: "vault", VaultPath: vault}, "", "no vault passphrase"},
		{"an unknown backend is an error", OpenOptions{Backend: "pass", KeyringCheck: works}, "", `unknown credential backend "pass"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Backend() != tt.want {
				t.Errorf("Backend() = %q, want %q", s.Backend(), tt.want)
			}
		})
	}
}

func TestDefaultVaultPathFollowsXDG(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/srv/data")
	if p, err := DefaultVaultPath(); err != nil || p != filepath.Join("/srv/data", "rmm", "vault.age") {
		t.Errorf("DefaultVaultPath = %q, %v", p, err)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/op")
	if p, err := DefaultVaultPath(); err != nil || p != filepath.Join("/home/op", ".local", "share", "rmm", "vault.age") {
		t.Errorf("DefaultVaultPath = %q, %v", p, err)
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"default", true},
		{"site:hq", true},
		{"site:New York", true},
		{"dc-admins_2@contoso.com", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false},
		{strings.Repeat("a", MaxNameLen+1), false},
		{"__index__", false},
		{" lead", false},
		{"trail ", false},
		{"tab\there", false},
		{"esc\x1b[31m", false},
		{"caf\u00e9", false},
	}
	for _, tt := range tests {
		if err := ValidateName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestTheVaultBackendNeverAsksTheKeyring(t *testing.T) {
	asked := 0
	s, err := Open(OpenOptions{Backend: BackendVault, KeyringCheck: func() error { asked++; return nil },
		Unlock: testPassphrase("p"), VaultPath: filepath.Join(t.TempDir(), "vault.age")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if asked != 0 || s.Backend() != BackendVault {
		t.Errorf("vault backend: the keyring check ran %d times, backend %q; want 0 and vault", asked, s.Backend())
	}
}
