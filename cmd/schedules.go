package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/schedule"
	"github.com/rmmhq/rmm/store"
)

// scheduler builds the recurring jobs from the config: the daily cleanup
// (retention), the weekly database maintenance, and the fleet-wide
// inventory and security collections (engine.InventoryJobs). The sweep
// (availability and metrics) runs on engine.poll_interval in Engine.Run.
func (a *app) scheduler(eng *engine.Engine, db *store.DB) (*engine.Scheduler, error) {
	loc := time.Local
	if tz := a.cfg.Schedules.TimeZone; tz != "" && tz != "Local" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("schedules.timezone: %w", err)
		}
		loc = l
	}
	spec := func(key, text string) (schedule.Spec, error) {
		sp, err := schedule.Parse(text)
		if err != nil {
			return sp, fmt.Errorf("schedules.%s: %w", key, err)
		}
		return sp, nil
	}
	cleanup, err := spec("cleanup", a.cfg.Schedules.Cleanup)
	if err != nil {
		return nil, err
	}
	maint, err := spec("maintenance", a.cfg.Schedules.Maintenance)
	if err != nil {
		return nil, err
	}
	inv, err := spec("inventory", a.cfg.Schedules.Inventory)
	if err != nil {
		return nil, err
	}
	sec, err := spec("security", a.cfg.Schedules.Security)
	if err != nil {
		return nil, err
	}
	sys := engine.SystemIdentity()
	return engine.NewScheduler(loc, db, a.log, append(eng.InventoryJobs(inv, sec),
		engine.Job{Name: "cleanup", Spec: cleanup, Run: func(ctx context.Context) error {
			c := a.current()
			_, err := engine.Call(ctx, eng, sys, engine.MaintainDB{ArchiveDir: c.Store.ArchiveDir, Retention: retentionPolicy(c), RetentionOnly: true})
			return err
		}},
		engine.Job{Name: "maintenance", Spec: maint, Run: func(ctx context.Context) error {
			c := a.current()
			_, err := engine.Call(ctx, eng, sys, engine.MaintainDB{ArchiveDir: c.Store.ArchiveDir, Retention: retentionPolicy(c), Vacuum: true})
			return err
		}},
	)...)
}
