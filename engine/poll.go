package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// pollOutcome is what one poll of one device found.
type pollOutcome struct {
	status    Status
	metrics   scripts.HostMetrics
	err       error // classed *winrm.Error when the poll failed
	at        time.Time
	mode      string // ModeWarm or ModeCold; "" when no script ran
	cancelled bool   // cut short by shutdown: nothing was learnt, record nothing
	// extra are the poll's other metric rows (extended metrics, the
	// availability probe after a failure), stored with its own.
	extra []store.Metric
	// skipped: the poll was never sent (no credential, out of file
	// descriptors): record nothing, count its class.
	skipped bool
}

// PoolStats returns the WinRM client's counters: the session pool's
// (shell counters all zero when the pool is off) and the HTTP
// connections'.
func (e *Engine) PoolStats() PoolStats { return e.winrm.Stats() }

// CacheStats returns the device status cache's counters.
func (e *Engine) CacheStats() CacheStats { return e.status.Stats() }

// PollDevice returns a device's state, polling it only when the status
// cache has nothing fresher than DefaultStatusTTL for it, or when force
// is set (a refresh the user asked for). A poll is recorded like a
// sweep's: cache, store, events.
func (e *Engine) PollDevice(ctx context.Context, id int64, force bool) (DeviceState, error) {
	if err := e.Fatal(); err != nil {
		return DeviceState{}, err
	}
	if !force {
		if st, ok := e.status.Get(id); ok {
			return st, nil
		}
	}
	d, ok := e.device(id)
	if !ok {
		return DeviceState{}, fmt.Errorf("poll device %d: not found", id)
	}
	out := e.pollDevice(ctx, e.options(), d)
	if out.skipped {
		return DeviceState{}, out.err // not sent: no credential, or out of file descriptors
	}
	if out.cancelled {
		return DeviceState{}, fmt.Errorf("poll %s: %w", d.Hostname, context.Cause(ctx))
	}
	if _, err := e.record(ctx, d, out); err != nil {
		return DeviceState{}, err
	}
	if err := e.writer.Flush(context.WithoutCancel(ctx)); err != nil {
		return DeviceState{}, err
	}
	if err := e.Fatal(); err != nil {
		return DeviceState{}, err
	}
	e.mu.RLock()
	st := e.devices[id].state
	e.mu.RUnlock()
	return st, nil
}

// pollDevice runs the metrics script on d, retrying transient failures
// with backoff, and decides the device's status from the outcome.
func (e *Engine) pollDevice(ctx context.Context, o Options, d store.Device) (out pollOutcome) {
	defer func() {
		if r := recover(); r != nil {
			out = pollOutcome{status: StatusOffline, err: e.panicked(d.Hostname, "poll", r), at: time.Now().UTC()}
		}
	}()
	log := e.log // every line carries device=HOST (not log.With: it costs each poll even when nothing is logged)
	var err error
	var mode string
	for attempt := 0; ; attempt++ {
		var m scripts.HostMetrics
		m, mode, err = e.runMetrics(ctx, o, d)
		if err == nil {
			// The right computer answered? (hostcheck.go) Its metrics are
			// not this device's otherwise.
			err = checkHostIdentity(d, m.Hostname)
			e.noteHostIdentity(d, err)
		}
		if err == nil {
			log.Debug("poll ok", "device", d.Hostname, "cpu_pct", m.CPUPct, "mem_pct", m.MemPct, "attempts", attempt+1, "mode", mode)
			var lat time.Duration // availability: the TCP connect time, sampled (inventory_metrics.go)
			if e.latencyDue(d.ID, time.Now()) {
				if l, perr := e.winrm.DialTime(ctx, e.target(d), o.Timeout); perr == nil {
					lat = max(l, time.Microsecond)
				}
			}
			at := time.Now().UTC()
			extra := e.observeMetrics(ctx, d, &m, lat, at)
			return pollOutcome{status: StatusOnline, metrics: m, at: at, mode: mode, extra: extra}
		}
		if shuttingDown(ctx, err) {
			return pollOutcome{cancelled: true, err: err, at: time.Now().UTC()}
		}
		if winrm.ClassOf(err) != winrm.ClassTransient || attempt >= o.Retries {
			break
		}
		wait := winrm.Backoff(attempt, 250*time.Millisecond, 5*time.Second)
		log.Debug("poll retry", "device", d.Hostname, "attempt", attempt+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return pollOutcome{cancelled: true, err: err, at: time.Now().UTC()}
		case <-t.C:
		}
	}
	if winrm.OutOfDescriptors(err) {
		// The poll never left this process: nothing was learnt about the
		// device, so it keeps its status (Sweep logs the count).
		e.noFiles.Add(1)
		return pollOutcome{skipped: true, err: err, at: time.Now().UTC()}
	}
	var cu *CredentialUnavailableError
	if errors.As(err, &cu) {
		// Nothing was sent: the credential is the admin's problem, said
		// once for the fleet by the sweep's alert (credtrouble.go).
		e.credTrouble.note(cu.Name, d.Hostname, cu)
		log.Debug("poll not sent: credential unavailable", "device", d.Hostname, "credential", cu.Name, "err", cu.Err)
		return pollOutcome{skipped: true, err: err, at: time.Now().UTC()}
	}
	out = pollOutcome{err: err, at: time.Now().UTC(), mode: mode}
	switch winrm.ClassOf(err) {
	case winrm.ClassConfiguration:
		// The host answered, but rmm is set up wrong for it: its status is
		// not known, and an admin must act. No retry storm.
		out.status = StatusUnknown
		log.Warn("poll failed: configuration", "device", d.Hostname, "class", "configuration", "err", err)
	default:
		// Refused, unreachable, timed out after retries, or a host-side
		// fault: the device cannot be managed right now. One that was
		// Online stays so until alerts.offline_after polls in a row failed.
		out.status = StatusOffline
		wasOnline, grace := e.offlineGrace(d)
		if grace {
			out.status = StatusOnline
		}
		log.Info("poll failed", "device", d.Hostname, "class", winrm.ClassOf(err).String(), "err", err, "status", string(out.status))
		if wasOnline {
			out.extra = e.probeAfterFailure(ctx, o, d, err)
		}
	}
	return out
}

// shuttingDown reports a poll cut short by the caller (quit, cancel) or by
// the engine closing, as opposed to the request's own deadline, which is
// a finding about the device.
func shuttingDown(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, winrm.ErrClosed)
}

// runMetrics runs the metrics script once, within the WinRM timeout, and
// returns the mode it ran in.
func (e *Engine) runMetrics(ctx context.Context, o Options, d store.Device) (scripts.HostMetrics, string, error) {
	res, err := e.runScript(ctx, o, d, e.metricsScript(o, d), o.Timeout, "run metrics")
	if err != nil {
		return scripts.HostMetrics{}, res.Mode, err
	}
	m, err := scripts.ParseMetrics(res.Stdout)
	if err != nil {
		return scripts.HostMetrics{}, res.Mode, &winrm.Error{Class: winrm.ClassDevice, Device: d.Hostname, Step: "parse metrics", Err: err}
	}
	return m, res.Mode, nil
}

// runScript runs one script on d within timeout, through the session pool
// (or a new shell when the pool is off). A non-zero exit is a Device-class
// error carrying the script's error records; step names what ran.
func (e *Engine) runScript(ctx context.Context, o Options, d store.Device, sc *winrm.Script, timeout time.Duration, step string) (winrm.Result, error) {
	res, err := e.runScriptRaw(ctx, o, d, sc, timeout)
	if err != nil {
		return res, err
	}
	if res.Exit != 0 {
		msg := strings.TrimSpace(strings.Join(res.Errors, "\n"))
		if msg == "" {
			msg = "no error text"
		}
		return res, &winrm.Error{Class: winrm.ClassDevice, Device: d.Hostname, Step: step,
			Err: fmt.Errorf("exit code %d: %s", res.Exit, msg)}
	}
	return res, nil
}

// runScriptRaw runs one script on d within timeout, as the credential
// the device resolves to, through the WinRM client (the session pool and
// its resident loop where it can), and returns what it printed and its
// exit code, whatever the code.
func (e *Engine) runScriptRaw(ctx context.Context, o Options, d store.Device, sc *winrm.Script, timeout time.Duration) (winrm.Result, error) {
	if err := e.relayedError(d); err != nil {
		return winrm.Result{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cred, err := e.credentialFor(rctx, o, d)
	if err != nil {
		return winrm.Result{}, err
	}
	res, err := e.winrm.Run(rctx, e.target(d), cred, sc)
	if h := e.hooks.afterRun; h != nil {
		h(d.Hostname)
	}
	return res, err
}
