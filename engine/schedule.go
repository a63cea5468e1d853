package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/rmmhq/rmm/schedule"
)

// RunLog persists when each job last ran, so missed runs survive restarts.
type RunLog interface {
	LastRun(ctx context.Context, job string) (time.Time, error)
	SetLastRun(ctx context.Context, job string, at time.Time, runErr error) error
}

// Job is one scheduled piece of work.
type Job struct {
	Name string
	Spec schedule.Spec
	Run  func(ctx context.Context) error
}

// JobStatus is what the console shows of a job.
type JobStatus struct {
	Name    string
	Spec    string
	Next    time.Time
	LastRun time.Time
	LastErr string
	Running bool
}

// Scheduler runs jobs at their times, one run of a job at a time.
type Scheduler struct {
	loc  *time.Location
	runs RunLog
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	jobs   []*jobState
	kick   chan struct{}
	runNow map[string]bool
}

type jobState struct {
	Job
	next    time.Time
	last    time.Time
	lastErr string
	running bool
}

// NewScheduler builds a scheduler in loc (time.Local when nil). runs may
// be nil (nothing persisted).
func NewScheduler(loc *time.Location, runs RunLog, log *slog.Logger, jobs ...Job) (*Scheduler, error) {
	if loc == nil {
		loc = time.Local
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{loc: loc, runs: runs, log: log, now: time.Now, kick: make(chan struct{}, 1), runNow: map[string]bool{}}
	seen := map[string]bool{}
	for _, j := range jobs {
		if j.Name == "" || j.Run == nil || j.Spec.String() == "" {
			return nil, fmt.Errorf("schedule: job %q is incomplete", j.Name)
		}
		if seen[j.Name] {
			return nil, fmt.Errorf("schedule: job %q twice", j.Name)
		}
		seen[j.Name] = true
		s.jobs = append(s.jobs, &jobState{Job: j})
	}
	return s, nil
}

// RunNow asks for a job to run as soon as it is not already running.
func (s *Scheduler) RunNow(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.Name == name {
			s.runNow[name] = true
			select {
			case s.kick <- struct{}{}:
			default:
			}
			return nil
		}
	}
	return fmt.Errorf("schedule: no job %q", name)
}

// Status lists the jobs with their next run times, by next run.
func (s *Scheduler) Status() []JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobStatus, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, JobStatus{Name: j.Name, Spec: j.Spec.String(), Next: j.next, LastRun: j.last, LastErr: j.lastErr, Running: j.running})
	}
	slices.SortFunc(out, func(a, b JobStatus) int { return a.Next.Compare(b.Next) })
	return out
}

// Run loads last runs, runs what was missed once, then runs each job at
// its times until ctx ends; it waits for running jobs before returning.
func (s *Scheduler) Run(ctx context.Context) error {
	now := s.now()
	s.mu.Lock()
	for _, j := range s.jobs {
		if s.runs != nil {
			last, err := s.runs.LastRun(ctx, j.Name)
			if err != nil {
				s.mu.Unlock()
				return fmt.Errorf("schedule: last run of %s: %w", j.Name, err)
			}
			j.last = last
		}
		if j.Spec.Due(j.last, now, s.loc) {
			j.next = now // missed (or an interval job): once, now
		} else {
			j.next = j.Spec.Next(now, s.loc)
		}
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		s.mu.Lock()
		now = s.now()
		var wake time.Time
		for _, j := range s.jobs {
			if j.running {
				continue
			}
			if s.runNow[j.Name] || !j.next.After(now) {
				delete(s.runNow, j.Name)
				j.running = true
				wg.Add(1)
				go s.runJob(ctx, &wg, j)
				continue
			}
			if wake.IsZero() || j.next.Before(wake) {
				wake = j.next
			}
		}
		s.mu.Unlock()
		var timer <-chan time.Time
		if !wake.IsZero() {
			timer = time.After(wake.Sub(now))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		case <-timer:
		}
	}
}

func (s *Scheduler) runJob(ctx context.Context, wg *sync.WaitGroup, j *jobState) {
	defer wg.Done()
	start := s.now()
	err := j.Run(ctx)
	if ctx.Err() != nil && err != nil {
		s.mu.Lock()
		j.running = false
		s.mu.Unlock()
		return // cut short by shutdown: not a run
	}
	if err != nil {
		s.log.Warn("scheduled job failed", "job", j.Name, "err", err)
	} else {
		s.log.Info("scheduled job done", "job", j.Name, "took", s.now().Sub(start).Round(time.Millisecond))
	}
	if s.runs != nil {
		if perr := s.runs.SetLastRun(context.WithoutCancel(ctx), j.Name, start, err); perr != nil {
			s.log.Error("schedule: record last run", "job", j.Name, "err", perr)
		}
	}
	s.mu.Lock()
	j.running = false
	j.last = start
	j.lastErr = ""
	if err != nil {
		j.lastErr = err.Error()
	}
	// The next slot after now, never a backlog of missed ones.
	j.next = j.Spec.Next(s.now(), s.loc)
	if j.Spec.Every > 0 {
		j.next = start.Add(j.Spec.Every)
		if !j.next.After(s.now()) {
			j.next = s.now()
		}
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
