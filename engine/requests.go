package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rmmhq/rmm/engine/notify"
	"github.com/rmmhq/rmm/store"
)

// ErrBadInput marks a request's refusal of input the caller can fix (a
// name, a parameter, a filter expression): front ends say so (the CLI
// exits 2). Test with errors.Is.
var ErrBadInput = errors.New("bad input")

// badInput wraps err with ErrBadInput without changing its text.
func badInput(err error) error { return badInputError{err} }

type badInputError struct{ err error }

func (e badInputError) Error() string   { return e.err.Error() }
func (e badInputError) Unwrap() []error { return []error{e.err, ErrBadInput} }

// maxAuditTargets bounds the target list of one audit row; the full count
// is in the details.
const maxAuditTargets = 100

func capTargets(names []string) []string {
	if len(names) <= maxAuditTargets {
		return names
	}
	return append(names[:maxAuditTargets:maxAuditTargets], fmt.Sprintf("... and %d more", len(names)-maxAuditTargets))
}

// PollNow sweeps every device now.
type PollNow struct{}

// Action implements Request.
func (PollNow) Action() string { return "devices.poll" }

// Permission implements Request.
func (PollNow) Permission() Permission { return PermDevicesPoll }

// Mutating implements Request: a poll writes status and metrics.
func (PollNow) Mutating() bool { return true }

// Targets implements Request.
func (PollNow) Targets() []string { return []string{"all devices"} }

// Details implements Request.
func (PollNow) Details() map[string]any { return nil }

func (PollNow) run(ctx context.Context, e *Engine, _ Identity) (SweepResult, error) {
	return e.Sweep(ctx)
}

// ImportDevices adds or updates devices (all or nothing): the devices
// in Devices, or those Stream yields (a file read row by row, so an
// import of any size holds one row at a time). A caller without the
// Admin role (PermDevicesTrust) may not set a device's credential,
// downgrade its transport or move a device reached without TLS
// verification: such an import is refused whole with a *TrustError
// naming each row's line and field (devices_trust.go).
type ImportDevices struct {
	Source  string // e.g. the CSV file name
	Devices []store.DeviceInput
	Stream  DeviceStream // instead of Devices
	Skipped int          // rows the importer left out (--skip-invalid), for the audit row
}

// DeviceStream yields the devices of an import one by one
// (csvimport.Stream implements it).
type DeviceStream interface {
	// Each calls fn with every device to store, in order; its error
	// rejects the whole import (nothing is stored).
	Each(fn func(store.DeviceInput) error) error
	// Rows and Skipped count the valid rows and the rows left out;
	// Hosts names the first ones (for the audit row).
	Rows() int
	Skipped() int
	Hosts() []string
}

// Action implements Request.
func (ImportDevices) Action() string { return "devices.import" }

// Permission implements Request.
func (ImportDevices) Permission() Permission { return PermDevicesEdit }

// Mutating implements Request.
func (ImportDevices) Mutating() bool { return true }

// Targets implements Request.
func (r ImportDevices) Targets() []string {
	if r.Stream != nil {
		names := r.Stream.Hosts()
		if extra := r.Stream.Rows() - len(names); extra > 0 && len(names) >= maxAuditTargets {
			return append(names[:maxAuditTargets:maxAuditTargets], fmt.Sprintf("... and %d more", extra))
		}
		return capTargets(names)
	}
	names := make([]string, len(r.Devices))
	for i, d := range r.Devices {
		names[i] = d.Hostname
	}
	return capTargets(names)
}

// Details implements Request.
func (r ImportDevices) Details() map[string]any {
	if r.Stream != nil {
		return map[string]any{"source": r.Source, "rows": r.Stream.Rows(), "skipped": r.Stream.Skipped()}
	}
	return map[string]any{"source": r.Source, "rows": len(r.Devices), "skipped": r.Skipped}
}

func (r ImportDevices) run(ctx context.Context, e *Engine, id Identity) (store.ImportResult, error) {
	guard, err := e.trustGuard(ctx, id.Role, r.Source)
	if err != nil {
		return store.ImportResult{}, err
	}
	defer guard.close()
	var res store.ImportResult
	if r.Stream != nil {
		res, err = e.db.UpsertDeviceStream(ctx, guard.each(r.Stream.Each))
		res.Skipped = r.Stream.Skipped()
	} else {
		if err := guard.check(r.Devices); err != nil {
			return store.ImportResult{}, err
		}
		res, err = e.db.UpsertDevices(ctx, r.Devices)
		res.Skipped = r.Skipped
	}
	var te *TrustError
	if errors.As(err, &te) {
		return store.ImportResult{}, te
	}
	if err != nil {
		return res, fmt.Errorf("import %s: %w", r.Source, err)
	}
	if e.opts.NoDeviceList {
		return res, nil // a one-shot engine (rmm import): nobody looks at the list
	}
	// A console's engine shows the new devices at once.
	if err := e.Reload(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// ListAudit reads audit rows.
type ListAudit struct{ Filter store.AuditFilter }

// Action implements Request.
func (ListAudit) Action() string { return "audit.list" }

// Permission implements Request.
func (ListAudit) Permission() Permission { return PermAuditView }

// Mutating implements Request.
func (ListAudit) Mutating() bool { return false }

// Targets implements Request.
func (ListAudit) Targets() []string { return nil }

// Details implements Request.
func (r ListAudit) Details() map[string]any {
	return map[string]any{"user": r.Filter.User, "since": r.Filter.Since.Format(time.RFC3339)}
}

func (r ListAudit) run(ctx context.Context, e *Engine, _ Identity) ([]store.AuditEntry, error) {
	return e.db.ListAudit(ctx, r.Filter)
}

// VerifyAudit checks the audit hash chain, through the archive when
// ArchiveDir is set, and against a head recorded elsewhere when ExpectID
// is set (see store.VerifyOptions).
type VerifyAudit struct {
	ArchiveDir string
	ExpectID   int64
	ExpectHash string
}

// Action implements Request.
func (VerifyAudit) Action() string { return "audit.verify" }

// Permission implements Request.
func (VerifyAudit) Permission() Permission { return PermAuditView }

// Mutating implements Request.
func (VerifyAudit) Mutating() bool { return false }

// Targets implements Request.
func (VerifyAudit) Targets() []string { return nil }

// Details implements Request.
func (r VerifyAudit) Details() map[string]any {
	return map[string]any{"archive": r.ArchiveDir, "expect_id": r.ExpectID, "expect_hash": r.ExpectHash}
}

func (r VerifyAudit) run(ctx context.Context, e *Engine, _ Identity) (store.VerifyResult, error) {
	return e.db.VerifyAuditWith(ctx, store.VerifyOptions{ArchiveDir: r.ArchiveDir, ExpectID: r.ExpectID, ExpectHash: r.ExpectHash})
}

// ExportAudit writes audit rows as CSV or JSON.
type ExportAudit struct {
	Filter store.AuditFilter
	Format string // "csv" or "json"
	W      io.Writer
}

// Action implements Request.
func (ExportAudit) Action() string { return "audit.export" }

// Permission implements Request.
func (ExportAudit) Permission() Permission { return PermAuditView }

// Mutating implements Request.
func (ExportAudit) Mutating() bool { return false }

// Targets implements Request.
func (ExportAudit) Targets() []string { return nil }

// Details implements Request.
func (r ExportAudit) Details() map[string]any { return map[string]any{"format": r.Format} }

func (r ExportAudit) run(ctx context.Context, e *Engine, _ Identity) (None, error) {
	if r.W == nil {
		r.W = io.Discard
	}
	return None{}, e.db.ExportAudit(ctx, r.W, r.Format, r.Filter)
}

// ReloadConfig records a configuration change read from the config file
// and applies the engine's part of it.
type ReloadConfig struct {
	File     string
	Changes  []string        // "key: old -> new"
	Rejected error           // set when the edit was invalid: audited as a failure, nothing applied
	Alerts   *AlertOptions   // new thresholds, alert rules, health weights, maintenance windows
	Notify   *notify.Options // new channels and routes (secrets stay where they are)
	Patches  *PatchOptions   // new patch policy: rings, approval rules, deny list, timings
	Throttle int
	Interval time.Duration
	Timeout  time.Duration
	Retries  int
}

// Action implements Request.
func (ReloadConfig) Action() string { return "config.reload" }

// Permission implements Request.
func (ReloadConfig) Permission() Permission { return PermConfigEdit }

// Mutating implements Request.
func (ReloadConfig) Mutating() bool { return true }

// Targets implements Request.
func (r ReloadConfig) Targets() []string { return []string{r.File} }

// Details implements Request.
func (r ReloadConfig) Details() map[string]any { return map[string]any{"changes": r.Changes} }

func (r ReloadConfig) run(_ context.Context, e *Engine, _ Identity) (None, error) {
	if r.Rejected != nil {
		return None{}, r.Rejected
	}
	if r.Patches != nil {
		// Checked first: a bad policy leaves everything as it was.
		if _, err := r.Patches.withDefaults(e.actionOptions().QueueExpiry); err != nil {
			return None{}, err
		}
	}
	if r.Alerts != nil {
		if err := e.SetAlertOptions(*r.Alerts); err != nil {
			return None{}, err
		}
	}
	if r.Notify != nil {
		if err := e.SetNotifyOptions(*r.Notify); err != nil {
			return None{}, err
		}
	}
	if r.Patches != nil {
		if err := e.SetPatchOptions(*r.Patches); err != nil {
			return None{}, err
		}
	}
	return None{}, e.Reconfigure(r.Throttle, r.Interval, r.Timeout, r.Retries)
}
