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

// TestKeyringAvailableAnswersWithinItsTimeout runs the real probe (real
// go-keyring provider, so in a helper process) against the D-Bus
// situations a jump host can be in. It passes whether or not this machine
// has a keyring, but the probe must always answer in time.
func TestKeyringAvailableAnswersWithinItsTimeout(t *testing.T) {
	// Only where go-keyring uses the Secret Service does the bus address
	// decide anything.
	usesDBus := runtime.GOOS != "darwin" && runtime.GOOS != "windows"
	silent := silentBus(t)
	tests := []struct {
		name     string
		env      []string
		mustFail bool
	}{
		{"with this machine's session", nil, false},
		{"with no session bus address", []string{"DBUS_SESSION_BUS_ADDRESS="}, false},
		{"with a bus address nothing listens on", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(t.TempDir(), "none")}, true},
		{"with a bus that accepts and never answers", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + silent}, true},
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
			if took > ProbeTimeout+3*time.Second {
				t.Errorf("probe took %s, over its %s timeout", took, ProbeTimeout)
			}
			res := strings.TrimSpace(string(out))
			t.Logf("KeyringAvailable: %s", res)
			switch {
			case strings.HasPrefix(res, "ok"):
				if tt.mustFail && usesDBus {
					t.Errorf("probe succeeded without a working bus")
				}
			case strings.HasPrefix(res, "err"):
				if !strings.Contains(res, ErrNoKeyring.Error()) {
					t.Errorf("the error does not say there is no keyring")
				}
			default:
				t.Fatalf("unexpected helper output")
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
