package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/rmmhq/rmm/schedule"
)

// AttachScheduler makes the scheduler's jobs visible to front ends
// (Schedules) and runnable on request (RunSchedule).
func (e *Engine) AttachScheduler(s *Scheduler) { e.sched.Store(s) }

// Schedules lists the scheduled jobs with their next run times; empty
// when no scheduler is attached.
func (e *Engine) Schedules() []JobStatus {
	if s := e.sched.Load(); s != nil {
		return s.Status()
	}
	return nil
}

// RunSchedule runs a scheduled job now.
type RunSchedule struct{ Name string }

// Action implements Request.
func (RunSchedule) Action() string { return "schedule.run" }

// Permission implements Request.
func (RunSchedule) Permission() Permission { return PermConfigEdit }

// Mutating implements Request.
func (RunSchedule) Mutating() bool { return true }

// Targets implements Request.
func (r RunSchedule) Targets() []string { return []string{r.Name} }

// Details implements Request.
func (RunSchedule) Details() map[string]any { return nil }

func (r RunSchedule) run(_ context.Context, e *Engine, _ Identity) (None, error) {
	s := e.sched.Load()
	if s == nil {
		return None{}, fmt.Errorf("run %s: no scheduler is running in this process", r.Name)
	}
	return None{}, s.RunNow(r.Name)
}

// scheduledInventoryMaxAge: a scheduled collection skips devices collected
// more recently than this (by hand, or by a run that was catching up).
const scheduledInventoryMaxAge = 12 * time.Hour

// InventoryJobs are the scheduled fleet-wide collections (inventory.go):
// "inventory" (hardware, software, network) on the inventory spec and
// "security" (the security category) on the security spec, each run
// through Do as the system identity, so it is audited.
func (e *Engine) InventoryJobs(inventory, security schedule.Spec) []Job {
	run := func(cats ...string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.Do(ctx, SystemIdentity(), CollectFleetInventory{Categories: cats, MaxAge: scheduledInventoryMaxAge})
			return err
		}
	}
	return []Job{
		{Name: "inventory", Spec: inventory, Run: run(InventoryHardware, InventorySoftware, InventoryNetwork)},
		{Name: "security", Spec: security, Run: run(InventorySecurity)},
	}
}

// PatchScanJob is the scheduled Windows Update scan ("patch_scan", on
// schedules.patch_scan): every device not offline and not scanned in the
// last scheduledInventoryMaxAge, through Do as the system identity, so
// it is audited; the approval rules run after it.
func (e *Engine) PatchScanJob(spec schedule.Spec) Job {
	return Job{Name: "patch_scan", Spec: spec, Run: func(ctx context.Context) error {
		_, err := e.Do(ctx, SystemIdentity(), ScanFleetPatches{MaxAge: scheduledInventoryMaxAge})
		return err
	}}
}
