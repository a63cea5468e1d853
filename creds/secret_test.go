package creds

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// showSafely returns s with the canary replaced, for failure messages.
func showSafely(s string) string {
	s = strings.ReplaceAll(s, canaryCore, "<CANARY>")
	if leaks(s) {
		return "<output withheld: it contains the secret in an encoded form>"
	}
	return s
}

func TestSecretRevealsOnlyThroughReveal(t *testing.T) {
	s := NewSecret(canarySecret)
	if s.Reveal() != canarySecret {
		t.Fatal("Reveal did not return the value given to NewSecret")
	}
	if s.IsZero() {
		t.Fatal("a set secret reports IsZero")
	}
	b := []byte(canarySecret)
	fromBytes := SecretFromBytes(b)
	clear(b)
	if fromBytes.Reveal() != canarySecret {
		t.Fatal("SecretFromBytes did not copy its input: clearing the caller's bytes changed it")
	}
}

func TestWipeZeroesTheBytesOfEveryCopy(t *testing.T) {
	s := NewSecret(canarySecret)
	backing := s.buf.b
	cp := s
	inCred := Credential{Secret: s}
	s.Wipe()
	for i, c := range backing {
		if c != 0 {
			t.Fatalf("byte %d not zeroed by Wipe", i)
		}
	}
	for name, x := range map[string]Secret{"wiped secret": s, "copy": cp, "copy in a Credential": inCred.Secret} {
		if !x.IsZero() || x.Reveal() != "" {
			t.Errorf("%s still holds a value after Wipe", name)
		}
	}
	s.Wipe() // twice is fine
	var zero Secret
	zero.Wipe()
	if !zero.IsZero() || zero.Reveal() != "" {
		t.Error("the zero Secret is not empty")
	}
	if !NewSecret("").IsZero() || !SecretFromBytes(nil).IsZero() {
		t.Error("an empty secret is not IsZero")
	}
}

func TestSecretIsSafeForConcurrentRevealAndWipe(t *testing.T) {
	s := NewSecret(canarySecret)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if v := s.Reveal(); v != "" && v != canarySecret {
					t.Error("Reveal saw a half-wiped value")
					return
				}
			}
		})
	}
	wg.Go(func() {
		cp := s
		cp.Wipe()
	})
	wg.Wait()
}

// formatted returns every way the fmt package can print v.
func formatted(v any) []string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%-20v", "% x", "%p", "%T", "%U", "%c"} {
		out = append(out, fmt.Sprintf(verb, v))
	}
	return append(out, fmt.Sprint(v), fmt.Sprintln(v))
}

func TestSecretNeverPrints(t *testing.T) {
	c := Credential{Name: "site:hq", User: `CONTOSO\svc-rmm`, Secret: NewSecret(canarySecret),
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Backend: BackendVault}
	cp := c
	values := map[string]any{
		"Secret":             c.Secret,
		"*Secret":            &cp.Secret,
		"Credential":         c,
		"*Credential":        &cp,
		"[]Credential":       []Credential{c, c},
		"map of Credential":  map[string]Credential{"x": c},
		"struct holding one": struct{ C Credential }{c},
		// fmt cannot call methods through unexported fields: it prints
		// the Secret's pointer, never the bytes behind it.
		"unexported Credential field": struct{ c Credential }{c},
		"unexported Secret field":     struct{ s Secret }{c.Secret},
		"passphrase unlocker":         Passphrase([]byte(canarySecret)),
		"test unlocker":               testPassphrase(canarySecret),
		"Meta":                        c.Meta(),
	}
	for name, v := range values {
		for _, s := range formatted(v) {
			if leaks(s) {
				t.Errorf("fmt of %s printed the secret: %s", name, showSafely(s))
			}
		}
	}
	if got := fmt.Sprint(c.Secret); got != "<redacted>" {
		t.Errorf("Secret prints %q, want <redacted>", showSafely(got))
	}
}

func TestSecretNeverEncodes(t *testing.T) {
	c := Credential{Name: "default", User: "svc", Secret: NewSecret(canarySecret), Backend: BackendKeyring}
	var encoded []string
	for name, v := range map[string]any{"Credential": c, "*Credential": &c, "Secret": c.Secret, "[]Credential": []Credential{c}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%s): %v", name, err)
		}
		encoded = append(encoded, string(b))
		b, err = json.MarshalIndent(v, "", " ")
		if err != nil {
			t.Fatalf("json.MarshalIndent(%s): %v", name, err)
		}
		encoded = append(encoded, string(b))
	}
	x, err := xml.Marshal(c)
	if err != nil {
		t.Fatalf("xml.Marshal: %v", err)
	}
	encoded = append(encoded, string(x))
	txt, _ := c.Secret.MarshalText()
	encoded = append(encoded, string(txt))
	for _, s := range encoded {
		if leaks(s) {
			t.Errorf("an encoding printed the secret: %s", showSafely(s))
		}
	}
	var back Credential
	if err := json.Unmarshal([]byte(`{"Secret":"x"}`), &back); err == nil && !back.Secret.IsZero() {
		t.Error("a JSON document set a Secret: secrets must not round-trip through JSON")
	}
}

func TestSecretNeverLogs(t *testing.T) {
	c := Credential{Name: "default", User: "svc", Secret: NewSecret(canarySecret), Backend: BackendVault}
	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"text handler", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"JSON handler", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	} {
		t.Run(h.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))
			log.Info("credential", "cred", c, "secret", c.Secret, "ptr", &c, slog.Any("any", c), slog.Group("g", "s", c.Secret))
			log.With("cred", c).Error("failed", "err", fmt.Errorf("connect %v", c))
			log.Info("values", "creds", []Credential{c}, "m", map[string]Secret{"k": c.Secret})
			if leaks(buf.String()) {
				t.Errorf("slog printed the secret: %s", showSafely(buf.String()))
			}
			if !strings.Contains(buf.String(), "<redacted>") {
				t.Errorf("slog output does not show <redacted>: %s", showSafely(buf.String()))
			}
		})
	}
}

func TestAPanicWithACredentialDoesNotPrintTheSecret(t *testing.T) {
	for _, mode := range []string{"panic-credential", "panic-secret", "panic-error"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := helperCommand(t, ctx, mode, helperCanary+"="+canarySecret)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatal("the helper did not panic")
			}
			if !strings.Contains(string(out), "panic") {
				t.Fatalf("no panic in the output: %s", showSafely(string(out)))
			}
			if leaks(string(out)) {
				t.Errorf("the panic printed the secret: %s", showSafely(string(out)))
			}
		})
	}
	func() {
		defer func() {
			r := recover()
			for _, s := range formatted(r) {
				if leaks(s) {
					t.Errorf("a recovered Credential formats with the secret: %s", showSafely(s))
				}
			}
		}()
		panic(Credential{Secret: NewSecret(canarySecret)})
	}()
}

// errorsFromEveryFailurePath drives each backend into each failure it can
// report, with the canary as the secret (and as the vault passphrase).
func errorsFromEveryFailurePath(t *testing.T) []error {
	t.Helper()
	ctx := context.Background()
	var errs []error
	add := func(err error) {
		if err == nil {
			t.Helper()
			t.Errorf("expected a failure, got none (error #%d)", len(errs)+1)
			return
		}
		errs = append(errs, err)
	}
	cred := func(name, user string) Credential {
		return Credential{Name: name, User: user, Secret: NewSecret(canarySecret)}
	}

	// The vault.
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.age")
	v, err := openVault(path, testPassphrase(canarySecret))
	if err != nil {
		t.Fatalf("open vault: %v", err)
	}
	if err := v.Set(ctx, cred("default", "svc")); err != nil {
		t.Fatalf("set: %v", err)
	}
	add(v.Set(ctx, cred("", "svc")))
	add(v.Set(ctx, cred("__index__", "svc")))
	add(v.Set(ctx, cred("bad\nname", "svc")))
	add(v.Set(ctx, cred("x", "")))
	add(v.Set(ctx, Credential{Name: "x", User: "svc"}))
	_, err = v.Get(ctx, "missing")
	add(err)
	add(v.Delete(ctx, "missing"))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	add(v.Set(canceled, cred("x", "svc")))
	v.rename = func(string, string) error { return errors.New("injected rename failure") }
	add(v.Set(ctx, cred("x", "svc")))
	v.rename = os.Rename
	_, err = openVault(path, testPassphrase("wrong passphrase"))
	add(err)
	_, err = openVault(path, IdentityFile(filepath.Join(dir, "no-such-identity")))
	add(err)
	_, err = openVault(path, testPassphrase(""))
	add(err)
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = v.Get(ctx, "default")
		add(err)
		add(v.Set(ctx, cred("y", "svc")))
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-3] ^= 0x55
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = v.Get(ctx, "default")
	add(err)
	add(v.Set(ctx, cred("z", "svc")))
	_, err = openVault(path, testPassphrase(canarySecret))
	add(err)
	_ = v.Close()
	add(v.Set(ctx, cred("after-close", "svc")))
	_, err = decodePlaintext([]byte(`{"format":"rmm-vault","version":1,"credentials":[{"name":"a","user":"u","secret":"` + canarySecret + `"}]}`))
	add(err)
	_, err = decodePlaintext([]byte(`{"format":"rmm-vault","version":1,"credentials":[{"name":"a","user":"u","secret":` + canarySecret))
	add(err)

	// The keyring.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	// A backend that quotes the value it was given: only Set hands it one.
	keyring.MockInitWithError(fmt.Errorf("org.freedesktop.Secret.Error: refused item %q", `{"secret":"`+canarySecret+`"}`))
	k, err := OpenKeyring("rmm-test")
	if err != nil {
		t.Fatal(err)
	}
	add(k.Set(ctx, cred("default", "svc")))
	keyring.MockInitWithError(errors.New("org.freedesktop.DBus.Error.ServiceUnknown"))
	add(k.Set(ctx, cred("default", "svc")))
	_, err = k.Get(ctx, "default")
	add(err)
	_, err = k.List(ctx)
	add(err)
	add(k.Delete(ctx, "default"))
	keyring.MockInit()
	if err := keyring.Set("rmm-test", "raw", canarySecret); err != nil { // not rmm's JSON
		t.Fatal(err)
	}
	_, err = k.Get(ctx, "raw")
	add(err)
	if err := keyring.Set("rmm-test", "trunc", `{"v":1,"user":"u","secret":"`+canarySecret); err != nil {
		t.Fatal(err)
	}
	_, err = k.Get(ctx, "trunc")
	add(err)
	if err := keyring.Set("rmm-test", indexItem, `{"v":1,"names":["raw"]}`); err != nil {
		t.Fatal(err)
	}
	_, err = k.List(ctx)
	add(err)
	add(k.Set(ctx, cred("bad\x00name", "svc")))
	add(k.Set(canceled, cred("x", "svc")))

	// The memory store and Resolve.
	m := NewMemoryStore()
	add(m.Set(ctx, cred("x", "")))
	_, err = Resolve(ctx, m, "missing", "hq")
	add(err)
	_, err = Resolve(ctx, m, "", "hq")
	add(err)
	return errs
}

func TestNoErrorContainsTheSecret(t *testing.T) {
	errs := errorsFromEveryFailurePath(t)
	if len(errs) < 30 {
		t.Fatalf("only %d failure paths exercised", len(errs))
	}
	for i, err := range errs {
		for _, s := range append(formatted(err), err.Error()) {
			if leaks(s) {
				t.Errorf("error #%d contains the secret: %s", i+1, showSafely(s))
				break
			}
		}
		if !isASCII(err.Error()) {
			t.Errorf("error #%d is not ASCII: %s", i+1, showSafely(err.Error()))
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] > 0x7e {
			return false
		}
	}
	return true
}

func TestABackendErrorQuotingTheSecretIsWithheld(t *testing.T) {
	secret := []byte(canarySecret)
	tests := []struct {
		name     string
		err      error
		withheld bool
	}{
		{"raw", fmt.Errorf("refused %s", canarySecret), true},
		{"quoted", fmt.Errorf("refused %q", canarySecret), true},
		{"hex", fmt.Errorf("refused %x", canarySecret), true},
		{"upper hex", fmt.Errorf("refused %X", canarySecret), true},
		{"JSON inside", fmt.Errorf("refused %s", mustJSON(t, map[string]string{"secret": canarySecret})), true},
		{"unrelated", errors.New("org.freedesktop.DBus.Error.ServiceUnknown"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scrub(tt.err, secret)
			if (got != tt.err) != tt.withheld {
				t.Fatalf("withheld = %v, want %v", got != tt.err, tt.withheld)
			}
			if leaks(got.Error()) {
				t.Fatal("the scrubbed error still contains the secret")
			}
		})
	}
	if !errors.Is(scrub(fmt.Errorf("%w: %s", ErrNotFound, canarySecret), secret), ErrNotFound) {
		t.Error("scrub lost the ErrNotFound classification")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
