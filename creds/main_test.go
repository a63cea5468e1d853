package creds

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a helper process (the os/exec pattern):
// when helperEnv names a mode, TestMain runs that helper instead of the
// tests. Helpers need their own process: for real cross-process locking,
// for go-keyring's real provider (the tests replace it with the mock for
// the whole process), and to watch what a panic prints.
const (
	helperEnv      = "RMM_CREDS_TEST_HELPER"
	helperVault    = "RMM_CREDS_TEST_VAULT"
	helperNames    = "RMM_CREDS_TEST_NAMES"
	helperPass     = "RMM_CREDS_TEST_PASSPHRASE"
	helperCanary   = "RMM_CREDS_TEST_CANARY"
	testWorkFactor = 10 // scrypt 2^10: milliseconds, not a second per write
)

// canaryCore is a distinctive run of characters inside every test secret:
// if any output contains it, a secret leaked. canarySecret adds characters
// that JSON, Go quoting and XML escape differently.
const (
	canaryCore   = "9f3QcanaryXk"
	canarySecret = `pw-` + canaryCore + `-"&<>\` + "\t!"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// runHelper runs one helper mode and returns the process exit code.
func runHelper(mode string) int {
	switch mode {
	case "vault-set":
		v, err := openVault(os.Getenv(helperVault), testPassphrase(os.Getenv(helperPass)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer v.Close()
		for _, name := range strings.Split(os.Getenv(helperNames), ",") {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			err := v.Set(ctx, Credential{Name: name, User: `CONTOSO\` + name, Secret: NewSecret("p-" + name)})
			cancel()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return 0
	case "keyring-probe":
		start := time.Now()
		err := KeyringAvailable()
		if err == nil {
			fmt.Printf("ok %s\n", time.Since(start))
		} else {
			fmt.Printf("err %s: %v\n", time.Since(start), err)
		}
		return 0
	case "panic-credential":
		c := Credential{Name: "default", User: "svc", Secret: NewSecret(os.Getenv(helperCanary))}
		panic(c)
	case "panic-secret":
		panic(NewSecret(os.Getenv(helperCanary)))
	case "panic-error":
		c := Credential{Name: "default", User: "svc", Secret: NewSecret(os.Getenv(helperCanary))}
		panic(fmt.Errorf("connect with %v / %+v / %#v", c, c, c.Secret))
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

// helperCommand returns a command that re-runs the test binary as the
// helper mode with extra environment.
func helperCommand(t *testing.T, ctx context.Context, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode}, env...)...)
	return cmd
}

// testPassphrase is Passphrase with a cheap scrypt work factor.
func testPassphrase(p string) Unlocker {
	return passphraseUnlocker{p: []byte(p), workFactor: testWorkFactor}
}

// leaks reports whether s contains the canary secret in any form a
// formatter might produce. Test failures print only that it leaked, never
// the captured text, which would print the secret.
func leaks(s string) bool {
	return strings.Contains(s, canaryCore) || quotes(s, []byte(canarySecret))
}
