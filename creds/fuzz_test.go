package creds

import (
	"errors"
	"testing"
	"time"

	"filippo.io/age"
)

// FuzzVaultDecode feeds arbitrary bytes to the vault decoder, both as a
// whole age file and as the decrypted JSON (which the fuzzer could never
// reach through the AEAD): it must never panic, and must fail only with
// the vault's own errors.
func FuzzVaultDecode(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	keys := vaultKeys{identities: []age.Identity{id}, recipient: id.Recipient()}
	valid, err := encodeVault(map[string]vaultEntry{
		"default": {user: `CONTOSO\svc`, secret: []byte("pw"), created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		"site:hq": {user: "u@contoso.com", secret: []byte{0, 1, 2, 255}},
	}, keys.recipient)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte{})
	f.Add([]byte("age-encryption.org/v1\n-> X25519 abc\n--- def\n"))
	f.Add([]byte(`{"format":"rmm-vault","version":1,"credentials":[{"name":"a","user":"u","secret":"cHc=","created_at":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"format":"rmm-vault","version":1,"credentials":[{"name":"a","user":"u","secret":"cHc="},{"name":"a","user":"u","secret":"cHc="}]}`))
	f.Add([]byte(`{"format":"rmm-vault","version":9}`))
	f.Add([]byte(`{"format":"rmm-vault","version":1,"credentials":[{"name":"__x","user":"u","secret":"!!"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, decode := range []func([]byte) (map[string]vaultEntry, error){
			func(b []byte) (map[string]vaultEntry, error) { return decodeVault(b, keys) },
			decodePlaintext,
		} {
			m, err := decode(data)
			if err != nil {
				if m != nil {
					t.Fatal("an error came with entries")
				}
				if !errors.Is(err, ErrVaultCorrupt) && !errors.Is(err, ErrWrongPassphrase) && !errors.Is(err, errVaultTooNew) {
					t.Fatalf("unclassified error: %v", err)
				}
				continue
			}
			for name, e := range m {
				if ValidateName(name) != nil || validateUser(e.user) != nil || len(e.secret) == 0 {
					t.Fatalf("decoded an invalid entry %q", name)
				}
			}
		}
	})
}
