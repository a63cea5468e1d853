package engine

import (
	"cmp"
	"context"
	"strings"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Address is where a device is reached: its IP when known, else its
// FQDN, else its hostname. `rmm devices` shows the same.
func Address(d store.Device) string {
	switch {
	case d.IP != "":
		return d.IP
	case d.FQDN != "":
		return d.FQDN
	}
	return d.Hostname
}

// targetOf is how the WinRM client reaches a device: its address, port
// and transport, auth, and TLS settings, with the name its certificate
// must hold (its FQDN when known, else its hostname: the address dialled
// is often an IP). The engine derives it once per device record (Reload).
func targetOf(d store.Device) winrm.Target {
	return winrm.Target{
		Ref:                d.ID,
		Host:               d.Hostname,
		Address:            Address(d),
		ServerName:         cmp.Or(d.FQDN, d.Hostname),
		Port:               d.Port,
		HTTPS:              d.Transport != "http",
		Auth:               d.Auth,
		CABundle:           d.CABundle,
		InsecureSkipVerify: d.InsecureSkipVerify,
		AllowUnencrypted:   d.AllowUnencrypted,
	}.Prepare()
}

// target is the device's WinRM target: the one derived when the engine
// loaded the device (it follows the newest record), or derived now for a
// device the engine does not hold (doctor on an address).
func (e *Engine) target(d store.Device) winrm.Target {
	e.mu.RLock()
	en, ok := e.devices[d.ID]
	e.mu.RUnlock()
	if ok && d.ID != 0 {
		return en.target
	}
	return e.targetFor(d)
}

// targetFor is targetOf with the engine's options: the resident loop is
// off for a device whose record says so or that sessions.loop_off names.
func (e *Engine) targetFor(d store.Device) winrm.Target {
	t := targetOf(d)
	t.NoLoop = d.LoopOff || loopOff(e.options().LoopOff, d)
	return t
}

// loopOff reports whether the selectors (hostnames, tag:NAME, site:NAME,
// *) name d; names compare case-insensitively, as Windows names do.
func loopOff(selectors []string, d store.Device) bool {
	for _, s := range selectors {
		k, v, ok := strings.Cut(s, ":")
		switch {
		case s == "*":
			return true
		case ok && k == "tag":
			for _, t := range d.Tags {
				if strings.EqualFold(t, v) {
					return true
				}
			}
		case ok && k == "site":
			if strings.EqualFold(d.Site, v) {
				return true
			}
		case !ok && strings.EqualFold(d.Hostname, s):
			return true
		}
	}
	return false
}

// Endpoint is the WS-Management URL rmm reaches a device at.
func Endpoint(d store.Device) string { return targetOf(d).URL() }

// SetTransportOptions applies the engine-wide WinRM transport settings
// (config winrm.ca_bundle and the Kerberos keys). A CA bundle that cannot
// be read is an error now, rather than at every poll.
func (e *Engine) SetTransportOptions(o winrm.TransportOptions) error {
	return e.winrm.SetTransportOptions(o)
}

// noteInsecure logs (WARN) and audits the first use, in this process, of
// a device whose certificate is not verified; the WinRM client calls it
// once per host.
func (e *Engine) noteInsecure(ctx context.Context, host string) {
	e.log.Warn("TLS certificate verification is skipped (insecure_skip_verify)", "device", host)
	if _, err := e.Do(ctx, SystemIdentity(), InsecureTLSUsed{Host: host}); err != nil {
		e.log.Warn("audit of insecure_skip_verify failed", "device", host, "err", err)
	}
}
