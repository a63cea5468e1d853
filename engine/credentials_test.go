package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// simCred is the account every simulated host accepts: here, the
// environment's credential (RMM_WINRM_USER/PASSWORD).
var simCred = engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}

// Code review B1: credentialFor fell back to the environment's credential
// on any store error, so a keyring that did not answer sent the
// environment's (often an admin's) account to every device. Only "not
// found" may fall back. Newcomer B2: a credential rmm cannot get is one
// alert for the admin; the devices, to which nothing was sent, keep their
// status and get no alert of their own.
func TestAKeyringErrorNeverFallsBackToTheEnvironmentsCredential(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	for _, tt := range []struct {
		name    string
		mock    func()
		status  engine.Status
		errHas  string
		devices int
	}{
		{"a keyring that does not answer: no credential is sent", func() {
			keyring.MockInitWithError(errors.New("dbus: the Secret Service did not answer"))
		}, engine.StatusUnknown, "did not answer", 3},
		{"a keyring with nothing stored: the environment's credential", keyring.MockInit, engine.StatusOnline, "", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.mock()
			t.Cleanup(keyring.MockInit)
			_, db := testFleet(t, winrmsim.Config{Devices: tt.devices, Seed: 91})
			k, err := creds.OpenKeyring("rmm-test-b1")
			if err != nil {
				t.Fatal(err)
			}
			eng := newEngine(t, db, engine.Options{Credentials: k, Credential: simCred, Retries: -1})
			sweep(t, eng)
			for _, d := range eng.Devices() {
				if d.Status != tt.status {
					t.Errorf("%s: %s %q, want %s", d.Hostname, d.Status, d.LastError, tt.status)
				}
			}
			var credAlerts, deviceAlerts []engine.Alert
			for _, a := range eng.ActiveAlerts() {
				switch {
				case a.DeviceID == 0 && a.Type == engine.AlertTypeCredentialUnavailable:
					credAlerts = append(credAlerts, a)
				case a.DeviceID != 0 && a.Type == engine.AlertTypeUnmanageable:
					deviceAlerts = append(deviceAlerts, a)
				}
			}
			if len(deviceAlerts) > 0 {
				t.Errorf("per-device alerts for the credential: %+v", deviceAlerts)
			}
			if tt.errHas == "" {
				if len(credAlerts) > 0 {
					t.Errorf("credential alerts though every poll had one: %+v", credAlerts)
				}
				return
			}
			if len(credAlerts) != 1 || !strings.Contains(credAlerts[0].Message, tt.errHas) ||
				!strings.Contains(credAlerts[0].Message, "3 device(s) not polled") || credAlerts[0].Severity != engine.SeverityHigh {
				t.Errorf("credential alerts %+v, want one High naming %q and the 3 devices", credAlerts, tt.errHas)
			}
		})
	}
}

// countingStore is the OS keyring's stand-in: it counts lookups, and
// hangs them while hang is open, or fails them with fail.
type countingStore struct {
	creds.Store
	gets atomic.Int64
	hang chan struct{}
	fail error
}

func (s *countingStore) Get(ctx context.Context, name string) (creds.Credential, error) {
	s.gets.Add(1)
	if s.hang != nil {
		<-s.hang // a Secret Service that never answers does not watch ctx either
	}
	if s.fail != nil {
		return creds.Credential{}, s.fail
	}
	return s.Store.Get(ctx, name)
}

// Code review B1: on a cache expiry every poll in flight asked the
// keyring at once, and with a hung keyring each left a goroutine blocked
// for the life of the process. One lookup per credential is in flight,
// every poll gives up at its own deadline, and a failure is remembered
// for a few seconds.
func TestAHungKeyringCostsOneLookupAndNoPollWaitsPastItsDeadline(t *testing.T) {
	const hosts = 12
	fleet, db := testFleet(t, winrmsim.Config{Devices: hosts, Seed: 93})
	sites := map[string]bool{} // one lookup per (credential, site): "site:SITE", then "default"
	for _, h := range fleet.Hosts() {
		sites[h.Site] = true
	}
	want := int64(len(sites))
	s := &countingStore{Store: creds.NewMemoryStore(), hang: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(s.hang) }) }
	t.Cleanup(release)
	eng := newEngine(t, db, engine.Options{Credentials: s, Throttle: hosts, Timeout: 300 * time.Millisecond, Retries: -1})
	res := sweep(t, eng) // returns: no poll waits for the keyring past its deadline
	if res.Unknown != hosts || res.Errors["configuration"] != hosts {
		t.Errorf("sweep with a hung keyring: %+v, want every device Unknown with a configuration error", res)
	}
	if n := s.gets.Load(); n != want {
		t.Errorf("%d keyring lookups for %d polls in %d sites, want %d", n, hosts, want, want)
	}
	if as := eng.ActiveAlerts(); len(as) != 1 || as[0].Type != engine.AlertTypeCredentialUnavailable ||
		!strings.Contains(as[0].Message, "credential lookup") {
		t.Errorf("alerts %+v, want one credential_unavailable naming the lookup", as)
	}
	sweep(t, eng)
	if n := s.gets.Load(); n != want {
		t.Errorf("a second sweep while the lookups hang made %d lookups, want still %d", n, want)
	}
	release()

	// A store that fails fast is asked again only after the failure
	// stopped being remembered, not by every poll.
	f := &countingStore{Store: creds.NewMemoryStore(), fail: errors.New("vault: cannot open")}
	eng2 := newEngine(t, db, engine.Options{Credentials: f, Throttle: hosts, Retries: -1})
	sweep(t, eng2)
	sweep(t, eng2)
	if n := f.gets.Load(); n != want {
		t.Errorf("two sweeps over a failing store made %d lookups, want %d (the failure is remembered)", n, want)
	}
}
