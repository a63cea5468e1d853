package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmmhq/rmm/schedule"
)

func mustSpec(t *testing.T, s string) schedule.Spec {
	t.Helper()
	sp, err := schedule.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

type memRunLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (m *memRunLog) LastRun(_ context.Context, job string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[job], nil
}

func (m *memRunLog) SetLastRun(_ context.Context, job string, at time.Time, _ error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last[job] = at
	return nil
}

func TestSchedulerRunsMissedJobsOnceAtStartAndOnDemand(t *testing.T) {
	runs := &memRunLog{last: map[string]time.Time{"inventory": time.Now().Add(-50 * time.Hour)}}
	var inventory, maint atomic.Int32
	invRan := make(chan struct{}, 10)
	s, err := NewScheduler(time.UTC, runs, nil,
		Job{Name: "inventory", Spec: mustSpec(t, "daily 02:00"), Run: func(context.Context) error { inventory.Add(1); invRan <- struct{}{}; return nil }},
		Job{Name: "maintenance", Spec: mustSpec(t, "weekly sun 03:00"), Run: func(context.Context) error { maint.Add(1); return nil }},
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-invRan:
	case <-time.After(60 * time.Second):
		t.Fatal("the missed inventory did not run at start")
	}
	if err := s.RunNow("maintenance"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(60 * time.Second)
	for maint.Load() == 0 {
		select {
		case <-deadline:
			t.Fatal("run now did not run")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := s.RunNow("nope"); err == nil {
		t.Fatal("RunNow of an unknown job accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := inventory.Load(); n != 1 {
		t.Fatalf("inventory ran %d times after two missed days, want 1", n)
	}
	st := s.Status()
	if len(st) != 2 || st[0].Next.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if runs.last["inventory"].IsZero() || time.Since(runs.last["inventory"]) > time.Minute {
		t.Fatalf("last run not recorded: %v", runs.last)
	}
}
