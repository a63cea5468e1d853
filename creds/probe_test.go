package creds

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestProbeGivesUpOnAHangingKeyring(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	start := time.Now()
	err := probeKeyring(100*time.Millisecond, func() error { <-release; return nil })
	if !errors.Is(err, ErrNoKeyring) || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("probe of a hanging keyring: %v, want ErrNoKeyring saying it did not answer", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("probe took %s with a 100ms timeout", d)
	}
}

func TestProbeExplainsAFailingKeyring(t *testing.T) {
	tests := []struct {
		name, cause, want string
	}{
		{"no Secret Service", "org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files", "no Secret Service on D-Bus"},
		{"no bus", "dial unix /run/user/1000/bus: connect: no such file or directory", "cannot reach the D-Bus session bus"},
		{"anything else", "boom", "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := probeKeyring(time.Second, func() error { return errors.New(tt.cause) })
			if !errors.Is(err, ErrNoKeyring) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrNoKeyring with %q", err, tt.want)
			}
		})
	}
	if err := probeKeyring(time.Second, func() error { return nil }); err != nil {
		t.Errorf("a working round trip: %v", err)
	}
}

func TestTheSessionBusIsLookedForAsGodbusDoes(t *testing.T) {
	withBus := t.TempDir()
	if err := os.WriteFile(filepath.Join(withBus, "bus"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	noBus := t.TempDir()
	env := func(addr string) func(string) string {
		return func(k string) string {
			if k == "DBUS_SESSION_BUS_ADDRESS" {
				return addr
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name    string
		goos    string
		addr    string
		runDir  string
		present bool
	}{
		{"macOS has no D-Bus to find: its keychain decides", "darwin", "", noBus, true},
		{"Windows likewise", "windows", "", noBus, true},
		{"an address in the environment", "linux", "unix:path=/run/user/1000/bus", noBus, true},
		{"the user's bus socket without an address", "linux", "", withBus, true},
		{"neither", "linux", "", noBus, false},
		{"autolaunch only (go-keyring would start a daemon)", "linux", "autolaunch:", noBus, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sessionBusPresent(tc.goos, env(tc.addr), tc.runDir)
			if (err == nil) != tc.present {
				t.Errorf("sessionBusPresent = %v, want present %v", err, tc.present)
			}
			if err != nil && !strings.Contains(err.Error(), "no D-Bus session bus") {
				t.Errorf("error %q does not say there is no session bus", err)
			}
		})
	}
}

// TestKeyringAvailableAnswersWithinItsTimeout runs the real probe (real
// go-keyring provider, so in a helper process) against session buses
// that do not work: the probe must always answer, with ErrNoKeyring, in
// time. It never points the probe at this machine's own session, so it
// never stores anything in a real keyring; on macOS and Windows, where
// the probe would go to the real keychain whatever the bus, it skips.
func TestKeyringAvailableAnswersWithinItsTimeout(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("the probe would use this machine's real keychain")
	}
	silent := silentBus(t)
	tests := []struct {
		name string
		env  []string
	}{
		{"with a bus address nothing listens on", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(t.TempDir(), "none")}},
		{"with a bus that accepts and never answers", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + silent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			out, err := helperCommand(t, ctx, "keyring-probe", tt.env...).Output()
			took := time.Since(start)
			if err != nil {
				t.Fatalf("probe helper failed after %s (a hang?): %v", took, err)
			}
			// Not a speed claim: a probe that ignored its timeout would be
			// killed by the 10 s context above instead.
			if took > ProbeTimeout+3*time.Second {
				t.Errorf("probe took %s, over its %s timeout", took, ProbeTimeout)
			}
			res := strings.TrimSpace(string(out))
			t.Logf("KeyringAvailable: %s", res)
			if !strings.HasPrefix(res, "err") || !strings.Contains(res, ErrNoKeyring.Error()) {
				t.Errorf("probe without a working bus: %q, want an error saying there is no keyring", res)
			}
		})
	}
}

// silentBus listens on a unix socket, accepts connections and never says
// a word: a D-Bus daemon that hangs.
func silentBus(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bus") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("no unix sockets: %v", err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return path
}
