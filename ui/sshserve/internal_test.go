package sshserve

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

func pubKey(t *testing.T) gossh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLookup(t *testing.T) {
	t.Parallel()
	a, b, c, stranger := pubKey(t), pubKey(t), pubKey(t), pubKey(t)
	users := []User{
		{Name: "Alice", Role: engine.RoleAdmin, Keys: []gossh.PublicKey{a, b}},
		{Name: "bob", Role: engine.RoleViewer, Keys: []gossh.PublicKey{c}},
		{Name: "norole", Keys: []gossh.PublicKey{stranger}},
	}
	tests := []struct {
		name, login string
		key         gossh.PublicKey
		want        string // the user found, or the error's text
	}{
		{"a user's first key", "Alice", a, "Alice"},
		{"a user's second key, name in another case", "alice", b, "Alice"},
		{"a viewer's key", "bob", c, "bob"},
		{"another user's key", "bob", a, "the key belongs to user Alice; log in as Alice"},
		{"a key nobody has", "bob", pubKey(t), "unknown key"},
		{"a user without a valid role", "norole", stranger, "user norole has no valid role"},
		{"no key", "bob", nil, "no public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := lookup(users, tt.login, tt.key)
			got := u.Name
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("lookup(%q) = %q, want %q", tt.login, got, tt.want)
			}
		})
	}
}

func TestCleanKeepsLogLinesASCIIAndShort(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"al\x1b[31mice\n", "al?[31mice?"},
		{"j\u00f6rg", "j?rg"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64) + "..."},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSessionClientDoCarriesTheSessionIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(ctx, db, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	viewer := engine.Identity{User: "victor", Role: engine.RoleViewer, RemoteAddr: "127.0.0.1:50000", Via: engine.ViaSSH, KeyFP: "SHA256:x"}
	c := sessionClient{Engine: eng, id: viewer}

	// A Viewer's console cannot change anything: the engine refuses and
	// audits it with the session's address.
	if _, err := c.Do(ctx, engine.PollNow{}); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("a viewer's poll: %v, want denied", err)
	}
	rows, err := db.ListAudit(ctx, store.AuditFilter{Action: "devices.poll"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].User != "victor" || rows[0].Via != "ssh" || rows[0].RemoteAddr != "127.0.0.1:50000" || rows[0].Result != store.AuditDenied {
		t.Errorf("audit rows %+v, want one denied poll by victor via ssh from 127.0.0.1:50000", rows)
	}
}

func TestRefusedLoginsAreAuditedAtMostABurstPerWindow(t *testing.T) {
	var l refusalLimiter
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range refusalBurst {
		if ok, sup := l.allow(t0.Add(time.Duration(i) * time.Millisecond)); !ok || sup != 0 {
			t.Fatalf("refusal %d: allowed %v, suppressed %d", i+1, ok, sup)
		}
	}
	for i := range 5 {
		if ok, _ := l.allow(t0.Add(time.Second)); ok {
			t.Fatalf("refusal %d over the burst was audited", refusalBurst+i+1)
		}
	}
	ok, sup := l.allow(t0.Add(refusalWindow + time.Second))
	if !ok || sup != 5 {
		t.Errorf("first refusal of the next window: allowed %v, suppressed %d; want true and 5", ok, sup)
	}
}
