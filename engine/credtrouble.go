package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// A credential rmm cannot get (the vault is locked, a credential devices
// name is not stored, the keyring does not answer) is the admin's
// problem, not the devices': nothing was sent, so nothing is known about
// them. Polls that meet it leave their device's status alone and raise
// no per-device alert; the sweep raises one device-less alert per
// credential instead, and resolves it once the credential works. With
// no credential at all (SetPollingOff), sweeps and polls are refused.

// AlertTypeCredentialUnavailable is a device-less High alert: polls could
// not get a credential. Its Instance is the credential's name, or
// "polling" when polling is off altogether (SetPollingOff).
const AlertTypeCredentialUnavailable = "credential_unavailable"

// pollingOffInstance is the Instance of the alert SetPollingOff raises.
const pollingOffInstance = "polling"

// CredentialUnavailableError is a poll, action or shell that could not
// get its credential from the store: nothing was sent to the device.
type CredentialUnavailableError struct {
	Name string // the credential the device resolves to ("default" when it names none)
	Err  error
}

func (e *CredentialUnavailableError) Error() string {
	if e.Name == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("credential %q: %v", e.Name, e.Err)
}

func (e *CredentialUnavailableError) Unwrap() error { return e.Err }

// credentialUnavailable builds the classed error for d.
func credentialUnavailable(d store.Device, err error) error {
	name := d.CredentialID
	if name == "" {
		name = creds.DefaultName
	}
	return &winrm.Error{Class: winrm.ClassConfiguration, Device: d.Hostname, Step: "credential",
		Err: &CredentialUnavailableError{Name: name, Err: err}}
}

// credTrouble collects, during one sweep, the credentials polls could
// not get and the devices that needed them.
type credTrouble struct {
	mu    sync.Mutex
	names map[string]*credProblem
}

type credProblem struct {
	err   error
	hosts []string // the first few, for the alert's message
	n     int
}

// note records that d's poll could not get credential name.
func (t *credTrouble) note(name, host string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.names == nil {
		t.names = make(map[string]*credProblem)
	}
	p := t.names[name]
	if p == nil {
		p = &credProblem{err: err}
		t.names[name] = p
	}
	p.n++
	if len(p.hosts) < 3 {
		p.hosts = append(p.hosts, host)
	}
}

// take returns what was collected and starts over.
func (t *credTrouble) take() map[string]*credProblem {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.names
	t.names = nil
	return out
}

// credentialFix is what an admin does about err for credential name.
func credentialFix(name string, err error) string {
	switch {
	case errors.Is(err, creds.ErrNotFound):
		return fmt.Sprintf("store it: rmm creds set %s --user DOMAIN\\user", name)
	case errors.Is(err, creds.ErrWrongPassphrase), errors.Is(err, creds.ErrNoUnlock):
		return "start rmm with the vault's passphrase in RMM_VAULT_PASSPHRASE (or --identity FILE)"
	}
	return "rmm creds test " + name + " says more"
}

// credentialAlerts raises one alert per credential the sweep could not
// get and resolves those of credentials that worked again.
func (e *Engine) credentialAlerts(ctx context.Context, trouble map[string]*credProblem, at time.Time) error {
	var fs []finding
	for name, p := range trouble {
		hosts := strings.Join(p.hosts, ", ")
		if p.n > len(p.hosts) {
			hosts += fmt.Sprintf(" and %d more", p.n-len(p.hosts))
		}
		fs = append(fs, finding{key: store.AlertKey{Type: AlertTypeCredentialUnavailable, Instance: name}, holds: true, raise: true,
			severity: SeverityHigh, message: fmt.Sprintf("credential %q unavailable: %v: %d device(s) not polled (%s); %s",
				name, unwrapCredErr(p.err), p.n, hosts, credentialFix(name, p.err))})
	}
	pollingOn := e.PollingOff() == nil // a sweep ran: polling is on again
	b := e.alerts
	b.mu.Lock()
	for _, a := range b.active {
		if a.DeviceID == 0 && a.Type == AlertTypeCredentialUnavailable && trouble[a.Instance] == nil &&
			(a.Instance != pollingOffInstance || pollingOn) {
			fs = append(fs, clearedFinding(a.key()))
		}
	}
	slices.SortFunc(fs, func(a, b finding) int { return strings.Compare(a.key.Instance, b.key.Instance) })
	steps := b.plan(store.Device{}, fs, at)
	b.mu.Unlock()
	return b.write(ctx, store.Device{Hostname: "credentials"}, steps, at)
}

// unwrapCredErr is the store's own words, without the engine's wrapping.
func unwrapCredErr(err error) error {
	var cu *CredentialUnavailableError
	if errors.As(err, &cu) {
		return cu.Err
	}
	return err
}

// SetPollingOff turns polling off for reason (the front end found no
// credential: the vault is locked, nothing is stored), or back on with
// nil. While it is off, sweeps and PollNow are refused with reason, the
// summary carries it (the console's banner), and one device-less High
// alert says it with the fix; turning polling on resolves it.
func (e *Engine) SetPollingOff(ctx context.Context, reason error) error {
	e.mu.Lock()
	e.pollOff = reason
	sum := e.summaryLocked()
	e.mu.Unlock()
	e.hub.Publish(nil, sum)
	k := store.AlertKey{Type: AlertTypeCredentialUnavailable, Instance: pollingOffInstance}
	f := clearedFinding(k)
	if reason != nil {
		f = finding{key: k, holds: true, raise: true, once: true, severity: SeverityHigh, message: "polling is off: " + reason.Error()}
	}
	b := e.alerts
	b.mu.Lock()
	steps := b.plan(store.Device{}, []finding{f}, time.Now().UTC())
	b.mu.Unlock()
	return b.write(ctx, store.Device{Hostname: "credentials"}, steps, time.Now().UTC())
}

// PollingOff is why polling is off; nil while it is on.
func (e *Engine) PollingOff() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.pollOff
}
