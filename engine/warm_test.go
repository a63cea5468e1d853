package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

func TestWarmTTLIsThePollIntervalAndAFifth(t *testing.T) {
	if got := engine.WarmTTL(5 * time.Minute); got != 6*time.Minute {
		t.Errorf("WarmTTL(5m) = %s, want 6m", got)
	}
}

func TestTheSchedulerKeepsIdleShellsUntilTheNextSweepWhateverTheTTL(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 4})
	// sessions.ttl equal to the poll interval: the defaults' pitfall.
	eng := newEngine(t, db, engine.Options{SessionTTL: 5 * time.Minute, Interval: 5 * time.Minute})
	eng.KeepShellsWarm(5 * time.Minute)
	sweep(t, eng)
	used := time.Now()

	eng.ExpireIdleShellsAt(used.Add(5*time.Minute + 30*time.Second)) // when the next sweep reaches them
	if ps := eng.PoolStats(); ps.Expired != 0 || fleet.Stats().ShellsOpen != 3 {
		t.Fatalf("shells expired before the next sweep: pool %+v, %d open", ps, fleet.Stats().ShellsOpen)
	}
	eng.ExpireIdleShellsAt(used.Add(6*time.Minute + time.Second)) // past WarmTTL: idle for good
	waitFor(t, "the idle shells to be deleted", func() bool { return fleet.Stats().ShellsOpen == 0 })
	if ps := eng.PoolStats(); ps.Expired != 3 {
		t.Errorf("pool %+v, want 3 expired", ps)
	}
}

func TestAOneShotSweepKeepsTheConfiguredTTL(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 4})
	eng := newEngine(t, db, engine.Options{SessionTTL: time.Minute, Interval: 5 * time.Minute})
	sweep(t, eng) // no Run: nothing raises sessions.ttl
	eng.ExpireIdleShellsAt(time.Now().Add(time.Minute + time.Second))
	waitFor(t, "the idle shells to be deleted", func() bool { return fleet.Stats().ShellsOpen == 0 })
	if ps := eng.PoolStats(); ps.Expired != 2 {
		t.Errorf("pool %+v, want 2 expired after sessions.ttl", ps)
	}
}

func TestRunRaisesTheTTLToItsPollInterval(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 4})
	eng := newEngine(t, db, engine.Options{SessionTTL: time.Minute, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	waitFor(t, "the first sweep", func() bool { return !eng.Summary().LastEnd.IsZero() })
	eng.ExpireIdleShellsAt(time.Now().Add(65 * time.Minute)) // within WarmTTL(1h) = 72m
	if ps := eng.PoolStats(); ps.Expired != 0 || fleet.Stats().ShellsOpen != 2 {
		t.Errorf("Run let idle shells expire before its next sweep: pool %+v", ps)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
