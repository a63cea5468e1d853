package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spec is when a scheduled job runs: every fixed interval, daily at a
// wall-clock time, or weekly on a day at a wall-clock time, in the
// scheduler's time zone.
type Spec struct {
	Every   time.Duration // > 0 for "every 5m"
	Hour    int           // daily / weekly: wall-clock time
	Minute  int
	Weekly  bool
	Weekday time.Weekday
	text    string
}

func (s Spec) String() string { return s.text }

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseSpec reads "every 5m", "daily 02:00" or "weekly sun 03:00".
func ParseSpec(s string) (Spec, error) {
	f := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	bad := fmt.Errorf("%q is not a schedule (examples: every 5m, daily 02:00, weekly sun 03:00)", s)
	switch {
	case len(f) == 2 && f[0] == "every":
		d, err := time.ParseDuration(f[1])
		if err != nil || d < time.Second {
			return Spec{}, fmt.Errorf("%q: the interval must be a duration of at least 1s", s)
		}
		return Spec{Every: d, text: "every " + f[1]}, nil
	case len(f) == 2 && f[0] == "daily":
		h, m, err := parseClock(f[1])
		if err != nil {
			return Spec{}, fmt.Errorf("%q: %w", s, err)
		}
		return Spec{Hour: h, Minute: m, text: fmt.Sprintf("daily %02d:%02d", h, m)}, nil
	case len(f) == 3 && f[0] == "weekly":
		wd, ok := weekdays[f[1][:min(3, len(f[1]))]]
		if !ok {
			return Spec{}, fmt.Errorf("%q: %q is not a weekday (sun..sat)", s, f[1])
		}
		h, m, err := parseClock(f[2])
		if err != nil {
			return Spec{}, fmt.Errorf("%q: %w", s, err)
		}
		return Spec{Weekly: true, Weekday: wd, Hour: h, Minute: m,
			text: fmt.Sprintf("weekly %s %02d:%02d", f[1][:3], h, m)}, nil
	}
	return Spec{}, bad
}

func parseClock(s string) (int, int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(mm) != 2 {
		return 0, 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return h, m, nil
}

// Next is the first run strictly after t, in loc. A wall-clock time that
// does not exist on a day (skipped by a DST change) runs right after the
// jump, at the same minute of the next hour; a time that
// exists twice (the fall-back hour) runs once, at its first occurrence.
func (s Spec) Next(t time.Time, loc *time.Location) time.Time {
	if s.Every > 0 {
		return t.Add(s.Every)
	}
	lt := t.In(loc)
	for days := 0; days <= 8; days++ {
		d := time.Date(lt.Year(), lt.Month(), lt.Day()+days, s.Hour, s.Minute, 0, 0, loc)
		if s.Weekly && d.Weekday() != s.Weekday {
			continue
		}
		if d.Hour() != s.Hour || d.Minute() != s.Minute {
			// The wall-clock time does not exist that day (spring
			// forward): run at the same minute of the next hour, which
			// is just after the jump, never before the intended time.
			d = time.Date(lt.Year(), lt.Month(), lt.Day()+days, s.Hour+1, s.Minute, 0, 0, loc)
		}
		if d.After(t) {
			return d
		}
	}
	panic("unreachable: a weekly slot exists within 8 days")
}

// Due reports whether a slot passed since lastRun (so a job missed while
// rmm was down runs once at start, not once per missed slot).
func (s Spec) Due(lastRun, now time.Time, loc *time.Location) bool {
	if lastRun.IsZero() {
		return s.Every > 0 // interval jobs start at once; daily/weekly wait for their slot
	}
	return !s.Next(lastRun, loc).After(now)
}

// RunLog persists when each job last ran, so missed runs survive restarts.
type RunLog interface {
	LastRun(ctx context.Context, job string) (time.Time, error)
	SetLastRun(ctx context.Context, job string, at time.Time, runErr error) error
}

// Job is one scheduled piece of work.
type Job struct {
	Name string
	Spec Spec
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
		if j.Name == "" || j.Run == nil || (j.Spec.Every == 0 && j.Spec.text == "") {
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
