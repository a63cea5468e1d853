package engine

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Newcomer trial B12: a device's port was taken over by another host (a
// DHCP lease reused over HTTP, here another simulator), and rmm showed
// and acted on the wrong machine. Every poll now compares the computer
// name the host reports (metrics.ps1 prints $env:COMPUTERNAME) with the
// device; a host that is not the device makes it Unknown with an
// "unmanageable" alert, and actions, remote shells and inventory
// collection refuse it until a poll finds the right host again.
//
// The rules (README, Troubleshooting):
//   - the names compared are the device's Hostname and its FQDN, each by
//     its first label (dc01.contoso.com is dc01), without regard to case;
//   - Windows reports its NetBIOS name, cut to 15 characters: a device
//     name longer than that matches a reported name equal to its first 15;
//   - a device whose only name is an IP address cannot be checked and is
//     refused: give it its computer name as Hostname or FQDN.

// ErrWrongHost is wrapped by the error of a poll (or a refused action)
// on a device whose address answered as another computer.
var ErrWrongHost = errors.New("another computer answers at the device's address")

// netbiosLen is how many characters of its name Windows reports as
// COMPUTERNAME.
const netbiosLen = 15

// firstLabel is name up to its first dot.
func firstLabel(name string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(name), ".")
	return l
}

// sameComputer reports whether reported (what the host says it is) is
// the computer a device named name is.
func sameComputer(name, reported string) bool {
	want, got := firstLabel(name), firstLabel(reported)
	if want == "" || got == "" {
		return false
	}
	if strings.EqualFold(want, got) {
		return true
	}
	return len(want) > netbiosLen && len(got) == netbiosLen && strings.EqualFold(want[:netbiosLen], got)
}

// checkHostIdentity returns nil when reported is d's computer name, else
// a Configuration-class error wrapping ErrWrongHost.
func checkHostIdentity(d store.Device, reported string) error {
	var names []string
	for _, n := range []string{d.Hostname, d.FQDN} {
		if n != "" && net.ParseIP(n) == nil {
			names = append(names, n)
		}
	}
	fail := func(err error) error {
		return &winrm.Error{Class: winrm.ClassConfiguration, Device: d.Hostname, Step: "identity", Err: err}
	}
	switch {
	case len(names) == 0:
		return fail(fmt.Errorf("%w? the device is named only by its IP address, so rmm cannot tell: set its Hostname or FQDN to the computer name", ErrWrongHost))
	case strings.TrimSpace(reported) == "":
		return fail(fmt.Errorf("%w? the host did not report its computer name", ErrWrongHost))
	}
	for _, n := range names {
		if sameComputer(n, reported) {
			return nil
		}
	}
	return fail(fmt.Errorf("%w: %s answered as %s, not %s; rmm polls, acts on and collects from it no more until the device's address is fixed (or the host is renamed back)",
		ErrWrongHost, Address(d), reported, strings.Join(names, " or ")))
}

// hostBook remembers the devices whose last poll found another computer
// at their address.
type hostBook struct {
	mu    sync.Mutex
	wrong map[int64]error // device id -> the poll's error
}

// noteHostIdentity records the outcome of d's identity check (nil: the
// right host answered).
func (e *Engine) noteHostIdentity(d store.Device, err error) {
	b := &e.hosts
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		delete(b.wrong, d.ID)
		return
	}
	if b.wrong == nil {
		b.wrong = map[int64]error{}
	}
	b.wrong[d.ID] = err
}

// wrongHost returns the error of d's last poll when it found another
// computer at d's address, else nil. A device loaded with such an error
// (an earlier process saw it) counts too, until a poll finds the right
// host.
func (e *Engine) wrongHost(d store.Device) error {
	b := &e.hosts
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wrong[d.ID]
}

// loadHostIdentity marks the devices whose stored last error is a wrong
// host, so that a new process (rmm action run) refuses them as the
// console would.
func (e *Engine) loadHostIdentity(devs []store.Device) {
	b := &e.hosts
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range devs {
		if _, known := b.wrong[d.ID]; known {
			continue
		}
		if strings.HasPrefix(d.LastError, "poll "+d.Hostname+": identity: ") {
			if b.wrong == nil {
				b.wrong = map[int64]error{}
			}
			b.wrong[d.ID] = fmt.Errorf("%w (last poll: %s)", ErrWrongHost, d.LastError)
		}
	}
}

// refuseWrongHost is the refusal of an action, shell or collection on d
// when its last poll found another computer there.
func (e *Engine) refuseWrongHost(d store.Device, what string) error {
	if err := e.wrongHost(d); err != nil {
		return &winrm.Error{Class: winrm.ClassConfiguration, Device: d.Hostname, Step: what,
			Err: fmt.Errorf("refused: %w", err)}
	}
	return nil
}
