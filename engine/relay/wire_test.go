package relay

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifyRefusesEveryCommandCentralDidNotAuthorise(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	body := func(c command) []byte {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := command{ID: "1", Site: "s1", Kind: kindPollNow, IssuedAt: now, ExpiresAt: now.Add(time.Minute), User: "alice", Role: "operator"}
	tests := []struct {
		name string
		cmd  command
		sig  func([]byte) string
		want error
	}{
		{"signed by central, for this site, in time, by an operator", good, func(b []byte) string { return sign(priv, b) }, nil},
		{"unsigned", good, func([]byte) string { return "" }, errUnsigned},
		{"signed with another key", good, func(b []byte) string { return sign(other, b) }, errBadSig},
		{"signature not base64", good, func([]byte) string { return "%%%" }, errBadSig},
		{"for another site", func() command { c := good; c.Site = "s2"; return c }(), func(b []byte) string { return sign(priv, b) }, errOtherSite},
		{"expired", func() command { c := good; c.ExpiresAt = now.Add(-time.Second); return c }(), func(b []byte) string { return sign(priv, b) }, errExpired},
		{"a viewer's poll-now", func() command { c := good; c.Role = "viewer"; return c }(), func(b []byte) string { return sign(priv, b) }, errNotAllowed},
		{"an operator's device list (admin only)", func() command { c := good; c.Kind = kindDevicesSync; return c }(), func(b []byte) string { return sign(priv, b) }, errNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body(tt.cmd)
			_, err := verify(pub, "s1", b, tt.sig(b), now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("verify: %v, want %v", err, tt.want)
			}
		})
	}
	// A signed body changed afterwards no longer verifies.
	b := body(good)
	sig := sign(priv, b)
	b[len(b)-3] ^= 1
	if _, err := verify(pub, "s1", b, sig, now); !errors.Is(err, errBadSig) {
		t.Fatalf("tampered body: %v", err)
	}
}

func TestSiteNamesBecomeSafeDistinctTokens(t *testing.T) {
	cases := map[string]string{"branch1": "branch1", "Branch1": "branch1", "a-b_c": "a-b_c"}
	for in, want := range cases {
		if got := token(in); got != want {
			t.Errorf("token(%q) = %q, want %q", in, got, want)
		}
	}
	a, b := token("New York"), token("New.York")
	if a == b || a[0] != 'x' || len(a) != 17 {
		t.Errorf("tokens of names with other characters: %q %q", a, b)
	}
}

func TestACredentialsFileWithAnUnknownFieldOrABadHubIsRefusedWithItsName(t *testing.T) {
	dir := t.TempDir()
	c := Creds{Site: "s1", Hub: "tls://h.example:7422", User: "relay-s1", Password: "p", CentralKey: "AAAA"}
	path := dir + "/bad.creds"
	if err := WriteCreds(path, c); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCreds(path); err == nil || !containsAll(err.Error(), path, "central_key") {
		t.Fatalf("bad key: %v", err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
