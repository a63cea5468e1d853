package creds

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
)

// ProbeTimeout bounds KeyringAvailable.
const ProbeTimeout = 3 * time.Second

// probeService is the keyring service of the probe item, apart from rmm's
// own items.
const probeService = "rmm-probe"

// KeyringAvailable reports whether the OS keyring works, by detection,
// not by guessing from the platform: it stores, reads back and deletes a
// random probe item under the "rmm-probe" service, and returns nil only
// when that round trip succeeds within ProbeTimeout. Otherwise the error
// (wrapping ErrNoKeyring) says why, for example "no D-Bus session bus".
//
// On Linux and the BSDs it first looks for a D-Bus session bus and fails
// at once without one: go-keyring would otherwise try to start a bus with
// dbus-launch, leaving a stray daemon behind on a headless host. When the
// round trip hangs (a collection waiting for an unlock prompt nobody will
// see), KeyringAvailable returns after ProbeTimeout; the probe goroutine
// finishes, and removes its item, in the background if the keyring ever
// answers.
func KeyringAvailable() error {
	runDir := filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	if err := sessionBusPresent(runtime.GOOS, os.Getenv, runDir); err != nil {
		return fmt.Errorf("%w: %v", ErrNoKeyring, err)
	}
	return probeKeyring(ProbeTimeout, keyringRoundTrip)
}

// probeKeyring runs roundTrip with a timeout and explains its failure.
func probeKeyring(timeout time.Duration, roundTrip func() error) error {
	done := make(chan error, 1) // buffered: an abandoned probe must not block forever
	go func() { done <- roundTrip() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %s", ErrNoKeyring, explainKeyringError(err))
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%w: the keyring did not answer within %s (locked collection waiting for an unlock prompt, or an unresponsive D-Bus session?)", ErrNoKeyring, timeout)
	}
}

// keyringRoundTrip stores, reads back and deletes a random probe item.
func keyringRoundTrip() error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	user := "probe-" + hex.EncodeToString(b[:8])
	value := hex.EncodeToString(b[8:])
	if err := keyring.Set(probeService, user, value); err != nil {
		return fmt.Errorf("store probe item: %w", err)
	}
	got, err := keyring.Get(probeService, user)
	delErr := keyring.Delete(probeService, user)
	if err != nil {
		return fmt.Errorf("read probe item back: %w", err)
	}
	if got != value {
		return errors.New("read probe item back: the keyring returned a different value")
	}
	if delErr != nil {
		return fmt.Errorf("delete probe item: %w", delErr)
	}
	return nil
}

// explainKeyringError turns the usual D-Bus failures into advice.
func explainKeyringError(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "org.freedesktop.DBus.Error.ServiceUnknown"),
		strings.Contains(msg, "was not provided by any .service files"):
		return "no Secret Service on D-Bus (no gnome-keyring or KeePassXC running?): " + msg
	case strings.Contains(msg, "couldn't determine address of session bus"),
		strings.Contains(msg, "dial unix"), strings.Contains(msg, "connection refused"):
		return "cannot reach the D-Bus session bus (headless host?): " + msg
	}
	return msg
}

// sessionBusPresent reports whether a D-Bus session bus can be found the
// way godbus looks for one (minus autolaunch), on the platforms where
// go-keyring uses the Secret Service: goos is the platform, getenv the
// environment and runDir the user's runtime directory (/run/user/UID).
func sessionBusPresent(goos string, getenv func(string) string, runDir string) error {
	switch goos {
	case "darwin", "windows", "ios", "android", "js", "wasip1", "plan9":
		return nil
	}
	if addr := getenv("DBUS_SESSION_BUS_ADDRESS"); addr != "" && addr != "autolaunch:" {
		return nil
	}
	for _, name := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join(runDir, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and %s/bus does not exist), so no Secret Service (headless host?)", runDir)
}
