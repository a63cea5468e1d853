package creds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
)

const testPass = "correct horse battery staple"

// skipWithoutUnixModes skips a test of mode bits where they mean nothing.
func skipWithoutUnixModes(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("Windows has ACLs, not Unix mode bits; the vault does not check modes there")
	}
}

// newTestVault opens a vault in a fresh directory with the test passphrase.
func newTestVault(t *testing.T) (*vaultStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "vault.age")
	v, err := openVault(path, testPassphrase(testPass))
	if err != nil {
		t.Fatalf("open vault: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v, path
}

// mustSet stores a credential or fails the test.
func mustSet(t *testing.T, s Store, name, user, secret string) {
	t.Helper()
	if err := s.Set(context.Background(), Credential{Name: name, User: user, Secret: NewSecret(secret)}); err != nil {
		t.Fatalf("set %q: %v", name, err)
	}
}

// names returns the names in metas.
func names(metas []Meta) []string {
	var out []string
	for _, m := range metas {
		out = append(out, m.Name)
	}
	return out
}

// writeIdentityFile writes a new X25519 identity (mode 0600) and returns
// its path.
func writeIdentityFile(t *testing.T, dir string) string {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rmm.key")
	if err := os.WriteFile(path, []byte("# created: test\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVaultRoundTrip(t *testing.T) {
	ctx := context.Background()
	v, path := newTestVault(t)
	if metas, err := v.List(ctx); err != nil || len(metas) != 0 {
		t.Fatalf("a missing vault file should be an empty store: %v %v", metas, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("opening a missing vault created the file: %v", err)
	}
	created := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := v.Set(ctx, Credential{Name: "site:hq", User: `CONTOSO\svc-rmm`, Secret: NewSecret("hq-pass"), CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC().Truncate(time.Second)
	mustSet(t, v, "default", "svc-rmm@contoso.com", "default-pass")
	after := time.Now().UTC()

	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("the vault directory was created with mode %04o, want 0700", perm)
	}

	// A second store (another process) reads what the first wrote.
	v2, err := openVault(path, testPassphrase(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	tests := []struct {
		name, user, secret string
		created            func(time.Time) bool
	}{
		{"site:hq", `CONTOSO\svc-rmm`, "hq-pass", func(c time.Time) bool { return c.Equal(created) }},
		{"default", "svc-rmm@contoso.com", "default-pass", func(c time.Time) bool { return !c.Before(before) && !c.After(after) }},
	}
	for _, tt := range tests {
		c, err := v2.Get(ctx, tt.name)
		if err != nil {
			t.Fatalf("get %q: %v", tt.name, err)
		}
		if c.Name != tt.name || c.User != tt.user || c.Backend != BackendVault {
			t.Errorf("get %q: got name %q user %q backend %q", tt.name, c.Name, c.User, c.Backend)
		}
		if c.Secret.Reveal() != tt.secret {
			t.Errorf("get %q: the secret did not round-trip", tt.name)
		}
		if !tt.created(c.CreatedAt) {
			t.Errorf("get %q: CreatedAt %s is wrong", tt.name, c.CreatedAt)
		}
		c.Secret.Wipe()
	}
	metas, err := v2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(metas); !slices.Equal(got, []string{"default", "site:hq"}) {
		t.Errorf("List = %v, want sorted [default site:hq]", got)
	}

	// Replace, then delete, from the second store; the first sees both.
	mustSet(t, v2, "site:hq", "other", "new-pass")
	if c, err := v.Get(ctx, "site:hq"); err != nil || c.User != "other" || c.Secret.Reveal() != "new-pass" || c.CreatedAt.Equal(created) {
		t.Errorf("the first store did not see the replacement (err %v, user %q, created %s)", err, c.User, c.CreatedAt)
	}
	if err := v2.Delete(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get after delete: %v, want ErrNotFound", err)
	}
	if err := v.Delete(ctx, "default"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete of a missing credential: %v, want ErrNotFound", err)
	}
	if _, err := v.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("get of a missing credential: %v, want ErrNotFound naming it", err)
	}
}

func TestAGotCredentialIsACopyTheCallerMayWipe(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t)
	mustSet(t, v, "default", "svc", "keep-me")
	c, err := v.Get(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	c.Secret.Wipe()
	again, err := v.Get(ctx, "default")
	if err != nil || again.Secret.Reveal() != "keep-me" {
		t.Fatal("wiping a returned secret damaged the store's copy")
	}
}

func TestCloseWipesTheCachedSecrets(t *testing.T) {
	v, _ := newTestVault(t)
	mustSet(t, v, "default", "svc", "wipe-me-please")
	cached := v.entries["default"].secret
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cached, make([]byte, len(cached))) {
		t.Error("Close left a cached secret in memory")
	}
	if _, err := v.Get(context.Background(), "default"); !errors.Is(err, ErrClosed) {
		t.Errorf("get after close: %v, want ErrClosed", err)
	}
}

func TestWrongPassphraseOrIdentityIsRefused(t *testing.T) {
	dir := t.TempDir()
	passVault := filepath.Join(dir, "pass.age")
	idVault := filepath.Join(dir, "id.age")
	idFile := writeIdentityFile(t, dir)
	other := filepath.Join(t.TempDir(), "other.key")
	if err := os.Rename(writeIdentityFile(t, t.TempDir()), other); err != nil {
		t.Fatal(err)
	}

	v, err := openVault(passVault, testPassphrase(testPass))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, v, "default", "svc", "pw")
	w, err := openVault(idVault, IdentityFile(idFile))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, w, "default", "svc", "pw")

	tests := []struct {
		name   string
		path   string
		unlock Unlocker
		hint   string
	}{
		{"a wrong passphrase", passVault, testPassphrase("Correct horse battery staple"), ""},
		{"an identity on a passphrase vault", passVault, IdentityFile(idFile), "passphrase-encrypted"},
		{"a passphrase on an identity vault", idVault, testPassphrase(testPass), "--identity"},
		{"another identity", idVault, IdentityFile(other), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenVault(tt.path, tt.unlock)
			if !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("open: %v, want ErrWrongPassphrase", err)
			}
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.hint) {
				t.Errorf("the error should name the vault and hint %q: %v", tt.hint, err)
			}
			if strings.Contains(err.Error(), testPass) {
				t.Error("the error contains the passphrase")
			}
		})
	}
}

func TestIdentityFileMode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	idFile := writeIdentityFile(t, dir)
	path := filepath.Join(dir, "vault.age")
	v, err := OpenVault(path, IdentityFile(idFile))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, v, "dc-admins", `CONTOSO\dc-svc`, "dc-pass")
	_ = v.Close()

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n-> X25519 ")) {
		t.Errorf("the vault is not an age file with one X25519 stanza: %q", data[:min(40, len(data))])
	}
	if bytes.Contains(data, []byte("dc-pass")) || bytes.Contains(data, []byte("dc-svc")) {
		t.Error("the vault file holds plaintext")
	}
	v, err = OpenVault(path, IdentityFile(idFile))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	c, err := v.Get(ctx, "dc-admins")
	if err != nil || c.Secret.Reveal() != "dc-pass" || c.User != `CONTOSO\dc-svc` {
		t.Fatalf("identity vault did not round-trip: %v", err)
	}

	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenVault(path, IdentityFile(bad)); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a malformed identity file: %v, want an error naming it", err)
	}

	skipWithoutUnixModes(t)
	if err := os.Chmod(idFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenVault(path, IdentityFile(idFile)); !errors.Is(err, ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 600 "+idFile) {
		t.Errorf("a world-readable identity file was accepted: %v", err)
	}
}

func TestPassphraseVaultIsAnScryptAgeFile(t *testing.T) {
	v, path := newTestVault(t)
	mustSet(t, v, "default", "svc", "pw")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n-> scrypt ")) {
		t.Errorf("not an age scrypt file: %q", data[:min(40, len(data))])
	}
	// Real passphrases use age's default work factor.
	u := Passphrase([]byte("x")).(passphraseUnlocker)
	if u.workFactor != defaultScryptWorkFactor {
		t.Errorf("Passphrase uses work factor %d, want %d", u.workFactor, defaultScryptWorkFactor)
	}
}

func TestACorruptVaultIsReportedAsCorrupt(t *testing.T) {
	v, path := newTestVault(t)
	mustSet(t, v, "default", "svc", "pw")
	mustSet(t, v, "site:hq", "svc", "pw2")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hdrEnd := bytes.Index(good, []byte("\n---"))
	macEnd := hdrEnd + 1 + bytes.IndexByte(good[hdrEnd+1:], '\n') + 1
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	plain := []byte(`{"format":"rmm-vault","version":1,"credentials":[]}`)
	tests := []struct {
		name string
		data []byte
	}{
		{"a flipped byte at the end of the payload", flip(len(good) - 1)},
		{"a flipped byte in the payload nonce", flip(macEnd + 2)},
		{"a flipped byte in the middle of the payload", flip(macEnd + (len(good)-macEnd)/2)},
		{"a flipped byte in the header MAC", flip(hdrEnd + 6)},
		{"a flipped byte in the version line", flip(3)},
		{"a file truncated to half", good[:len(good)/2]},
		{"a file missing its last byte", good[:len(good)-1]},
		{"a file cut after the header", good[:macEnd]},
		{"an empty file", nil},
		{"random bytes", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 64)},
		{"unencrypted JSON", plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "vault.age")
			if err := os.WriteFile(p, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenVault(p, testPassphrase(testPass))
			if !errors.Is(err, ErrVaultCorrupt) {
				t.Fatalf("open: %v, want ErrVaultCorrupt", err)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("the error does not name the vault path: %v", err)
			}
		})
	}
	t.Run("an open store refuses to overwrite a vault that became corrupt", func(t *testing.T) {
		if err := os.WriteFile(path, good[:len(good)/2], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := v.Set(context.Background(), Credential{Name: "x", User: "u", Secret: NewSecret("p")}); !errors.Is(err, ErrVaultCorrupt) {
			t.Fatalf("set: %v, want ErrVaultCorrupt", err)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, good[:len(good)/2]) {
			t.Error("set overwrote a corrupt vault: the evidence is gone")
		}
	})
}

func TestTheVaultFileIsMode0600AfterEveryWrite(t *testing.T) {
	skipWithoutUnixModes(t)
	old := setUmask(0)
	defer setUmask(old)
	ctx := context.Background()
	v, path := newTestVault(t)
	steps := []struct {
		name string
		do   func() error
	}{
		{"create", func() error { return v.Set(ctx, Credential{Name: "a", User: "u", Secret: NewSecret("p")}) }},
		{"add", func() error { return v.Set(ctx, Credential{Name: "b", User: "u", Secret: NewSecret("p")}) }},
		{"replace", func() error { return v.Set(ctx, Credential{Name: "a", User: "u2", Secret: NewSecret("p2")}) }},
		{"delete", func() error { return v.Delete(ctx, "b") }},
		{"delete the last", func() error { return v.Delete(ctx, "a") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("after %s the vault has mode %04o, want 0600", s.name, perm)
		}
		if fi, err := os.Stat(path + ".lock"); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("after %s the lock file is missing or not 0600: %v", s.name, err)
		}
	}
}

func TestAVaultOthersCanReadIsRefused(t *testing.T) {
	skipWithoutUnixModes(t)
	ctx := context.Background()
	v, path := newTestVault(t)
	mustSet(t, v, "default", "svc", "pw")
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		t.Run(fmt.Sprintf("mode %04o", mode), func(t *testing.T) {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(path, 0o600)
			_, err := OpenVault(path, testPassphrase(testPass))
			if !errors.Is(err, ErrInsecurePermissions) {
				t.Fatalf("open: %v, want ErrInsecurePermissions", err)
			}
			if want := "chmod 600 " + path; !strings.Contains(err.Error(), want) {
				t.Errorf("the error does not tell the user to run %q: %v", want, err)
			}
			// An open store checks again on every read and write.
			if _, err := v.Get(ctx, "default"); !errors.Is(err, ErrInsecurePermissions) {
				t.Errorf("get from an open store: %v, want ErrInsecurePermissions", err)
			}
			if err := v.Set(ctx, Credential{Name: "x", User: "u", Secret: NewSecret("p")}); !errors.Is(err, ErrInsecurePermissions) {
				t.Errorf("set in an open store: %v, want ErrInsecurePermissions", err)
			}
		})
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenVault(path, testPassphrase(testPass)); err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
		}
	}
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestWritesAreAtomic(t *testing.T) {
	ctx := context.Background()
	t.Run("no temp file is left behind", func(t *testing.T) {
		v, path := newTestVault(t)
		for i := range 5 {
			mustSet(t, v, fmt.Sprintf("c%d", i), "u", "p")
		}
		if err := v.Delete(ctx, "c0"); err != nil {
			t.Fatal(err)
		}
		if got := dirEntries(t, filepath.Dir(path)); !slices.Equal(got, []string{"vault.age", "vault.age.lock"}) {
			t.Errorf("directory holds %v, want only the vault and its lock", got)
		}
	})
	t.Run("a failed rename leaves the old vault intact", func(t *testing.T) {
		v, path := newTestVault(t)
		mustSet(t, v, "default", "svc", "old-pass")
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		v.rename = func(string, string) error { return errors.New("injected: rename failed") }
		err = v.Set(ctx, Credential{Name: "default", User: "svc", Secret: NewSecret("new-pass")})
		if err == nil || !strings.Contains(err.Error(), "injected") || !strings.Contains(err.Error(), `"default"`) {
			t.Fatalf("set with a failing rename: %v, want the failure naming the credential", err)
		}
		if err := v.Delete(ctx, "default"); err == nil {
			t.Fatal("delete with a failing rename succeeded")
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(before, after) {
			t.Error("the vault file changed although the write failed")
		}
		if got := dirEntries(t, filepath.Dir(path)); !slices.Equal(got, []string{"vault.age", "vault.age.lock"}) {
			t.Errorf("a temp file was left behind: %v", got)
		}
		// Neither this store's cache nor a fresh reader sees the failed write.
		for name, s := range map[string]Store{"this store": v, "a fresh store": mustOpen(t, path)} {
			c, err := s.Get(ctx, "default")
			if err != nil || c.Secret.Reveal() != "old-pass" {
				t.Errorf("%s does not hold the old credential after the failed write: %v", name, err)
			}
		}
	})
	t.Run("a read-only directory fails the write and keeps the old vault", func(t *testing.T) {
		skipWithoutUnixModes(t)
		if os.Geteuid() == 0 {
			t.Skip("running as root: directory permissions do not stop root, so a read-only directory cannot fail the write (the injected rename failure above covers the same path)")
		}
		v, path := newTestVault(t)
		mustSet(t, v, "default", "svc", "old-pass")
		before, _ := os.ReadFile(path)
		dir := filepath.Dir(path)
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700)
		if err := v.Set(ctx, Credential{Name: "default", User: "svc", Secret: NewSecret("new")}); err == nil {
			t.Fatal("set in a read-only directory succeeded")
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(before, after) {
			t.Error("the vault file changed although the write failed")
		}
		if got := dirEntries(t, dir); !slices.Equal(got, []string{"vault.age", "vault.age.lock"}) {
			t.Errorf("a temp file was left behind: %v", got)
		}
	})
}

func mustOpen(t *testing.T, path string) Store {
	t.Helper()
	s, err := OpenVault(path, testPassphrase(testPass))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestASymlinkedVaultIsWrittenThroughToItsTarget(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real", "vault.age")
	v, err := openVault(target, testPassphrase(testPass))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, v, "default", "svc", "pw")
	link := filepath.Join(dir, "link.age")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	w, err := openVault(link, testPassphrase(testPass))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, w, "other", "svc", "pw")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the write replaced the symlink instead of its target")
	}
	if _, err := v.Get(context.Background(), "other"); err != nil {
		t.Errorf("the target did not receive the write: %v", err)
	}
}

func TestConcurrentWritersInOneProcessLoseNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.age")
	shared, err := openVault(path, testPassphrase(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	const workers, each = 8, 3
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			// Half share one store; half open their own, as separate
			// callers would.
			s := Store(shared)
			if w%2 == 1 {
				own, err := openVault(path, testPassphrase(testPass))
				if err != nil {
					errs <- err
					return
				}
				defer own.Close()
				s = own
			}
			for i := range each {
				name := fmt.Sprintf("w%d-c%d", w, i)
				if err := s.Set(ctx, Credential{Name: name, User: "u", Secret: NewSecret("p-" + name)}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkAllPresent(t, path, workers*each, func(i int) string { return fmt.Sprintf("w%d-c%d", i/each, i%each) })
}

func TestConcurrentWritersInSeparateProcessesLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "vault.age")
	const procs, each = 3, 4
	var want []string
	type helper struct {
		cmd *exec.Cmd
		out *bytes.Buffer
	}
	var cmds []helper
	for p := range procs {
		var ns []string
		for i := range each {
			ns = append(ns, fmt.Sprintf("proc%d-c%d", p, i))
		}
		want = append(want, ns...)
		cmd := helperCommand(t, ctx, "vault-set",
			helperVault+"="+path, helperNames+"="+strings.Join(ns, ","), helperPass+"="+testPass)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, helper{cmd: cmd, out: &out})
	}
	// This process writes at the same time, from two goroutines.
	var wg sync.WaitGroup
	for g := range 2 {
		var ns []string
		for i := range each {
			ns = append(ns, fmt.Sprintf("parent%d-c%d", g, i))
		}
		want = append(want, ns...)
		wg.Go(func() {
			s, err := openVault(path, testPassphrase(testPass))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			for _, n := range ns {
				if err := s.Set(ctx, Credential{Name: n, User: "u", Secret: NewSecret("p-" + n)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for i, c := range cmds {
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("helper process %d: %v: %s", i, err, c.out.String())
		}
	}
	slices.Sort(want)
	checkAllPresent(t, path, len(want), func(i int) string { return want[i] })
}

// checkAllPresent opens the vault afresh and checks it holds exactly the
// n names nameAt returns, each with its own secret.
func checkAllPresent(t *testing.T, path string, n int, nameAt func(int) string) {
	t.Helper()
	ctx := context.Background()
	s := mustOpen(t, path)
	metas, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		want = append(want, nameAt(i))
	}
	slices.Sort(want)
	if got := names(metas); !slices.Equal(got, want) {
		t.Fatalf("after concurrent writes the vault holds %d names, want %d; missing %v", len(got), len(want), missing(want, got))
	}
	for _, name := range want {
		c, err := s.Get(ctx, name)
		if err != nil || c.Secret.Reveal() != "p-"+name {
			t.Errorf("credential %q did not survive intact: %v", name, err)
		}
	}
}

func missing(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}

func TestAWriterWaitsForTheLockOnlyAsLongAsItsContext(t *testing.T) {
	v, path := newTestVault(t)
	mustSet(t, v, "default", "svc", "pw")
	held, err := acquireLock(context.Background(), path+".lock")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = v.Set(ctx, Credential{Name: "x", User: "u", Secret: NewSecret("p")})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "another rmm process") {
		t.Fatalf("set while another holds the lock: %v, want a lock timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("set waited %s for the lock", d)
	}
	held.release()
	mustSet(t, v, "x", "u", "p")
}
