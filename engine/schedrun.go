package engine

import (
	"context"
	"fmt"
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

func (r RunSchedule) exec(_ context.Context, e *Engine, _ Identity) (any, error) {
	s := e.sched.Load()
	if s == nil {
		return nil, fmt.Errorf("run %s: no scheduler is running in this process", r.Name)
	}
	return nil, s.RunNow(r.Name)
}
