package cmd

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/schedule"
	"github.com/rmmhq/rmm/store"
)

// scheduler builds the recurring jobs from the config: the daily cleanup
// (retention), the weekly database maintenance, the fleet-wide inventory
// and security collections (engine.InventoryJobs), the metric rollups'
// catch-up and the scheduled reports. The sweep
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
	rollups, err := spec("rollups", a.cfg.Schedules.Rollups)
	if err != nil {
		return nil, err
	}
	patch, err := spec("patch_scan", a.cfg.Schedules.PatchScan)
	if err != nil {
		return nil, err
	}
	sys := engine.SystemIdentity()
	jobs := []engine.Job{{Name: "rollups", Spec: rollups, Run: func(ctx context.Context) error {
		_, err := eng.RollUp(ctx)
		return err
	}}, eng.PatchScanJob(patch)}
	for i, r := range a.cfg.Schedules.Reports {
		sp, err := spec(fmt.Sprintf("reports[%d].when", i), r.When)
		if err != nil {
			return nil, err
		}
		name := r.Name
		jobs = append(jobs, engine.Job{Name: "report:" + name, Spec: sp, Run: func(ctx context.Context) error {
			return a.runScheduledReport(ctx, eng, sys, name)
		}})
	}
	return engine.NewScheduler(loc, db, a.log, append(append(eng.InventoryJobs(inv, sec), jobs...),
		engine.Job{Name: "cleanup", Spec: cleanup, Run: func(ctx context.Context) error {
			c := a.current()
			_, err := engine.Call(ctx, eng, sys, engine.MaintainDB{ArchiveDir: c.Store.ArchiveDir, Retention: retentionPolicy(c), RetentionOnly: true,
				RollupsDaily: c.Retention.Rollups, RollupsHourly: c.Retention.RollupsHourly})
			return err
		}},
		engine.Job{Name: "maintenance", Spec: maint, Run: func(ctx context.Context) error {
			c := a.current()
			_, err := engine.Call(ctx, eng, sys, engine.MaintainDB{ArchiveDir: c.Store.ArchiveDir, Retention: retentionPolicy(c), Vacuum: true,
				RollupsDaily: c.Retention.Rollups, RollupsHourly: c.Retention.RollupsHourly})
			return err
		}},
	)...)
}

// runScheduledReport writes the scheduled report name (schedules.reports)
// for its period and mails it through its route.
func (a *app) runScheduledReport(ctx context.Context, eng *engine.Engine, sys engine.Identity, name string) error {
	c := a.current()
	i := slices.IndexFunc(c.Schedules.Reports, func(r config.ScheduledReport) bool { return r.Name == name })
	if i < 0 {
		return fmt.Errorf("scheduled report %s is no longer in schedules.reports", name)
	}
	r := c.Schedules.Reports[i]
	loc := scheduleLocation(c)
	p := config.DefaultPeriod(r.When)
	if r.Period != "" {
		var err error
		if p, err = config.ParsePeriod(r.Period); err != nil {
			return err
		}
	}
	from, to := p.Range(time.Now(), loc)
	info, err := engine.Call(ctx, eng, sys, engine.RunReport{Type: r.Type, Scope: store.Scope{Site: r.Site, Group: r.Group},
		From: from, To: to, Location: loc, Format: r.Format, Dir: c.Reports.Dir, Mail: r.Route,
		SLATarget: c.Reports.SLATarget, Name: r.Name})
	if err != nil {
		return fmt.Errorf("scheduled report %s: %w", name, err)
	}
	a.log.Info("scheduled report written", "name", name, "path", info.Path, "rows", info.Rows, "mailed", len(info.Mailed))
	return nil
}
