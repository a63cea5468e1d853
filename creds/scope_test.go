package creds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/zalando/go-keyring"
)

func TestAScopeAllowsOnlyTheDevicesItNames(t *testing.T) {
	hq := Scope{Sites: []string{"HQ"}}
	dcs := Scope{Hosts: []string{"DC*"}, Domain: "contoso.com"}
	fq := Scope{Hosts: []string{"*.corp.contoso.com"}}
	servers := Scope{Groups: []string{"servers", "dcs"}}
	tests := []struct {
		name  string
		scope Scope
		t     ScopeTarget
		ok    bool
	}{
		{"the zero scope allows any device", Scope{}, ScopeTarget{Name: "evil.example.net"}, true},
		{"a site scope allows its site, whatever the case", hq, ScopeTarget{Name: "WS-1", Site: "hq"}, true},
		{"a site scope refuses another site", hq, ScopeTarget{Name: "WS-1", Site: "branch"}, false},
		{"a group scope allows a member of any of its groups", servers, ScopeTarget{Name: "SRV-1", Groups: []string{"web", "DCS"}}, true},
		{"a group scope refuses a device in none of them", servers, ScopeTarget{Name: "WS-1", Groups: []string{"desktops"}}, false},
		{"a pattern without a dot matches the first label", dcs, ScopeTarget{Name: "dc01.contoso.com"}, true},
		{"the domain must hold too", dcs, ScopeTarget{Name: "dc01.evil.example"}, false},
		{"a look-alike domain is not the domain", dcs, ScopeTarget{Name: "dc01.notcontoso.com"}, false},
		{"a bare host name is in no domain", dcs, ScopeTarget{Name: "DC01"}, false},
		{"a pattern with a dot matches the whole name", fq, ScopeTarget{Name: "ws-9.corp.contoso.com"}, true},
		{"a pattern with a dot refuses another suffix", fq, ScopeTarget{Name: "ws-9.corp.contoso.com.evil.net"}, false},
		{"a pattern with a dot refuses a bare host name", fq, ScopeTarget{Name: "ws-9"}, false},
		{"a trailing dot on the name is ignored", dcs, ScopeTarget{Name: "DC02.Contoso.Com."}, true},
		{"? stands for exactly one character", Scope{Hosts: []string{"WS-??"}}, ScopeTarget{Name: "ws-123"}, false},
		{"every part must hold", Scope{Sites: []string{"hq"}, Hosts: []string{"DC*"}}, ScopeTarget{Name: "DC1", Site: "branch"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.scope.Allows(tt.t)
			if (err == nil) != tt.ok {
				t.Fatalf("Allows(%+v) = %v, want ok=%v", tt.t, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrOutOfScope) {
				t.Errorf("refusal %v does not wrap ErrOutOfScope", err)
			}
		})
	}
}

func TestScopeFlagsParseAndBadOnesAreRefusedNamingTheItem(t *testing.T) {
	s, err := ParseScope([]string{"site=hq,Branch", "host=DC*", "site=HQ", "domain=contoso.com."})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "site=Branch,hq host=DC* domain=contoso.com" {
		t.Errorf("parsed scope %q", got)
	}
	for _, bad := range []string{"site", "nope=x", "host=a b", "domain=a,b", "domain=*.contoso.com", "host=dc$"} {
		if _, err := ParseScope([]string{bad}); err == nil || !strings.Contains(err.Error(), "scope") {
			t.Errorf("ParseScope(%q) = %v, want an error naming the scope", bad, err)
		}
	}
}

func TestEveryBackendKeepsTheScopeWithTheCredential(t *testing.T) {
	ctx := context.Background()
	scope := Scope{Sites: []string{"hq"}, Hosts: []string{"DC*"}, Domain: "contoso.com"}
	vault, _ := newTestVault(t)
	for name, s := range map[string]Store{"keyring": newMockKeyring(t), "vault": vault, "memory": NewMemoryStore()} {
		t.Run(name, func(t *testing.T) {
			if err := s.Set(ctx, Credential{Name: "dc", User: `CONTOSO\rmm`, Secret: NewSecret("pw"), Scope: scope}); err != nil {
				t.Fatal(err)
			}
			if err := s.Set(ctx, Credential{Name: "any", User: "rmm", Secret: NewSecret("pw")}); err != nil {
				t.Fatal(err)
			}
			c, err := s.Get(ctx, "dc")
			if err != nil {
				t.Fatal(err)
			}
			if c.Scope.String() != scope.String() {
				t.Errorf("get: scope %q, want %q", c.Scope, scope)
			}
			metas, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range metas {
				want := "any device"
				if m.Name == "dc" {
					want = scope.String()
				}
				if m.Scope.String() != want {
					t.Errorf("list %s: scope %q, want %q", m.Name, m.Scope, want)
				}
			}
			bad := Credential{Name: "x", User: "u", Secret: NewSecret("pw"), Scope: Scope{Hosts: []string{"a b"}}}
			if err := s.Set(ctx, bad); err == nil {
				t.Error("a scope with a bad pattern was stored")
			}
		})
	}
}

// A scoped credential is written in a format an older rmm refuses (it
// would send the credential anywhere); an unscoped one stays readable.
func TestAScopedCredentialIsStoredInAFormatOlderVersionsRefuse(t *testing.T) {
	ctx := context.Background()
	k := newMockKeyring(t)
	if err := k.Set(ctx, Credential{Name: "plain", User: "u", Secret: NewSecret("pw")}); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(ctx, Credential{Name: "scoped", User: "u", Secret: NewSecret("pw"), Scope: Scope{Sites: []string{"hq"}}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"plain": 1, "scoped": 2} {
		raw, err := keyring.Get(testService, name)
		if err != nil {
			t.Fatal(err)
		}
		var item struct{ V int }
		if err := json.Unmarshal([]byte(raw), &item); err != nil {
			t.Fatal(err)
		}
		if item.V != want {
			t.Errorf("keyring item %s has format %d, want %d", name, item.V, want)
		}
	}

	v, path := newTestVault(t)
	version := func() int {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := decodeVaultDoc(data, v.keys)
		if err != nil {
			t.Fatal(err)
		}
		return plain.Version
	}
	mustSet(t, v, "plain", "u", "pw")
	if got := version(); got != 1 {
		t.Errorf("a vault without scopes has format %d, want 1", got)
	}
	if err := v.Set(ctx, Credential{Name: "scoped", User: "u", Secret: NewSecret("pw"), Scope: Scope{Domain: "contoso.com"}}); err != nil {
		t.Fatal(err)
	}
	if got := version(); got != 2 {
		t.Errorf("a vault with a scope has format %d, want 2", got)
	}
}

// decodeVaultDoc decrypts a vault file and returns its plaintext layout.
func decodeVaultDoc(data []byte, keys vaultKeys) (vaultDoc, error) {
	r, err := age.Decrypt(bytes.NewReader(data), keys.identities...)
	if err != nil {
		return vaultDoc{}, err
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return vaultDoc{}, err
	}
	var doc vaultDoc
	err = json.Unmarshal(plain, &doc)
	return doc, err
}
