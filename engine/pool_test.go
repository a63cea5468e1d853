package engine_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	mz "github.com/masterzen/winrm"
	"github.com/rmmhq/rmm/engine/winrm"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// Tests of the session pool, the resident PowerShell and the error
// classes, all against the simulator over real HTTP on 127.0.0.1.

func sweep(t *testing.T, eng *engine.Engine) engine.SweepResult {
	t.Helper()
	res, err := eng.Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return res
}

// waitFor polls cond until it holds; the deadline only stops a hung test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hostStats(t *testing.T, fleet *winrmsim.Fleet, name string) winrmsim.HostStats {
	t.Helper()
	hs, ok := fleet.HostStats(name)
	if !ok {
		t.Fatalf("no host %s", name)
	}
	return hs
}

func TestSweepsKeepOneConnectionPerHost(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 8, Seed: 3, PSStart: 20 * time.Millisecond})
	eng := newEngine(t, db, engine.Options{Throttle: 4})
	sweep(t, eng)
	first := eng.PoolStats()
	for range 3 {
		if res := sweep(t, eng); res.Online != 8 {
			t.Fatalf("sweep: %+v, want 8 online", res)
		}
	}
	ps := eng.PoolStats()
	if first.ConnsDialed != 8 || ps.ConnsDialed != 8 || ps.ConnsIdle != 8 || ps.ConnsStale != 0 {
		t.Errorf("connection counters after the first sweep %+v, after three more %+v; want 8 dialed in all, 8 idle, none stale", first, ps)
	}
	// Seen from the hosts: one kept connection each, plus the first
	// poll's TCP connect-time probe (opened and closed at once, sampled
	// every 30 minutes; the hosts may count it a moment late).
	waitFor(t, "the hosts to count 16 connections", func() bool { return fleet.Stats().Connections >= 16 })
	after := fleet.Stats()
	if after.Connections != 16 {
		t.Errorf("%d connections for 8 hosts, want 16: one kept and one latency probe each", after.Connections)
	}
	if want := after.Requests - ps.ConnsDialed; ps.ConnsReused != want {
		t.Errorf("conns_reused %d, want every request but the first on each connection (%d)", ps.ConnsReused, want)
	}
}

// A host that closed the kept connection (as HTTP.sys does after two idle
// minutes, or a restart of its WinRM service) costs the next poll a new
// connection, not an error.
func TestAConnectionTheHostClosedIsReplacedBeforeUse(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 4, PSStart: 20 * time.Millisecond})
	eng := newEngine(t, db, engine.Options{Throttle: 3})
	sweep(t, eng)
	// The first poll's latency probes (a connection each, opened and
	// closed at once) may reach the hosts' counters a moment late.
	waitFor(t, "the hosts to count 6 connections", func() bool { return fleet.Stats().Connections >= 6 })
	before, dialed := fleet.Stats(), eng.PoolStats().ConnsDialed
	for _, h := range fleet.Hosts() {
		if err := fleet.CloseConnections(h.Hostname); err != nil {
			t.Fatal(err)
		}
	}
	res := sweep(t, eng)
	if res.Online != 3 || len(res.Errors) != 0 {
		t.Fatalf("sweep after the hosts closed their connections: %+v", res)
	}
	after := fleet.Stats()
	if got := after.Connections - before.Connections; got != 3 {
		t.Errorf("%d new connections, want 3 (one per host)", got)
	}
	if ps := eng.PoolStats(); ps.ConnsStale != 3 || ps.ConnsDialed-dialed != 3 {
		t.Errorf("conns_stale %d, dialed %d more; want 3 and 3 (each checked before reuse, then replaced)", ps.ConnsStale, ps.ConnsDialed-dialed)
	}
	if after.ShellsCreated != before.ShellsCreated {
		t.Errorf("shells created %d -> %d: the shells outlive their connections", before.ShellsCreated, after.ShellsCreated)
	}
}

func TestASecondSweepReusesTheShellsAndTheirResidentPowerShell(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 6, Seed: 2, PSStart: 40 * time.Millisecond})
	eng := newEngine(t, db, engine.Options{Throttle: 3})
	first := sweep(t, eng)
	before := fleet.Stats()
	second := sweep(t, eng)
	after := fleet.Stats()

	if first.Online != 6 || second.Online != 6 {
		t.Fatalf("sweeps: %+v then %+v, want 6 online", first, second)
	}
	if after.ShellsCreated != 6 || after.LoopStarts != 6 || after.CommandRequests != 6 {
		t.Errorf("simulator after two sweeps: %+v; want 6 shells, 6 loops and 6 commands in all", after)
	}
	// A warm poll is one Send and one Receive.
	if got := after.Requests - before.Requests; got != 12 {
		t.Errorf("the warm sweep made %d requests, want 12 (Send + Receive per host)", got)
	}
	if after.Signals != 0 {
		t.Errorf("%d Signals: a finished command is never signalled", after.Signals)
	}
	ps := eng.PoolStats()
	if ps.Created != 6 || ps.Reused != 6 || ps.Open != 6 || ps.LoopStarts != 6 || second.Pool != ps {
		t.Errorf("pool stats %+v (sweep result %+v), want 6 created, 6 reused, 6 open, 6 loops", ps, second.Pool)
	}
	for _, d := range eng.Devices() {
		if d.Mode != engine.ModeWarm {
			t.Errorf("%s: mode %q, want warm", d.Hostname, d.Mode)
		}
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if s := fleet.Stats(); s.ShellsOpen != 0 || s.ShellsDeleted != 6 {
		t.Errorf("after Close: %d shells open, %d deleted; want 0 and 6", s.ShellsOpen, s.ShellsDeleted)
	}
	if ps := eng.PoolStats(); ps.Open != 0 {
		t.Errorf("pool says %d open after Close", ps.Open)
	}
}

func TestIdleShellsAreDeletedAfterTheTTL(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 4})
	eng := newEngine(t, db, engine.Options{SessionTTL: 50 * time.Millisecond})
	sweep(t, eng)
	waitFor(t, "idle shells to expire", func() bool { return fleet.Stats().ShellsOpen == 0 })
	s := fleet.Stats()
	if s.ShellsDeleted != 3 || s.ShellsDropped != 0 {
		t.Errorf("simulator: %d deleted, %d dropped; want 3 real Deletes", s.ShellsDeleted, s.ShellsDropped)
	}
	waitFor(t, "the pool to count them", func() bool { return eng.PoolStats().Expired == 3 })
	if ps := eng.PoolStats(); ps.Open != 0 {
		t.Errorf("pool stats %+v, want none open", ps)
	}
	// The next sweep starts over with new shells.
	if res := sweep(t, eng); res.Online != 3 || eng.PoolStats().Created != 6 {
		t.Errorf("after expiry: %+v, pool %+v", res, eng.PoolStats())
	}
}

func TestRequestsQueueBehindTheShellsOfAHost(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 6, ScriptTime: 30 * time.Millisecond})
	eng := newEngine(t, db, engine.Options{SessionsPerHost: 1})
	id := eng.Devices()[0].ID
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			st, err := eng.PollDevice(context.Background(), id, true)
			if err == nil && st.Status != engine.StatusOnline {
				err = errors.New(st.LastError)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a queued poll failed: %v", err)
		}
	}
	if s := fleet.Stats(); s.ShellsCreated != 1 || s.LoopRequests != 5 {
		t.Errorf("simulator %+v: want 5 requests through 1 shell", s)
	}
	if ps := eng.PoolStats(); ps.Created != 1 || ps.Reused != 4 {
		t.Errorf("pool %+v, want 1 created and 4 reused", ps)
	}
}

func TestAHostThatAllowsFewerShellsIsUsedWithTheShellsItAllows(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 6, ScriptTime: 30 * time.Millisecond, MaxShellsPerUser: 1})
	eng := newEngine(t, db, engine.Options{SessionsPerHost: 3})
	id := eng.Devices()[0].ID
	var wg sync.WaitGroup
	var failed sync.Map
	for i := range 4 {
		wg.Go(func() {
			if st, err := eng.PollDevice(context.Background(), id, true); err != nil || st.Status != engine.StatusOnline {
				failed.Store(i, st.LastError)
			}
		})
	}
	wg.Wait()
	failed.Range(func(k, v any) bool {
		t.Errorf("poll %v failed: %v", k, v)
		return true
	})
	if s := fleet.Stats(); s.ShellsCreated != 1 {
		t.Errorf("%d shells created on a host that allows one", s.ShellsCreated)
	}
	t.Logf("pool %+v", eng.PoolStats())
}

func TestAShellTheHostForgotIsRecreatedOnce(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 8})
	eng := newEngine(t, db, engine.Options{})
	sweep(t, eng)
	name := fleet.Hosts()[0].Hostname
	if err := fleet.Reboot(name); err != nil {
		t.Fatal(err)
	}
	if res := sweep(t, eng); res.Online != 2 {
		t.Fatalf("after a reboot: %+v", res)
	}
	if st := stateOf(t, eng, name); st.Status != engine.StatusOnline || st.LastError != "" {
		t.Fatalf("%s after reboot: %s %q", name, st.Status, st.LastError)
	}
	if ps := eng.PoolStats(); ps.Recreated != 1 || ps.Created != 3 {
		t.Errorf("pool %+v, want 1 recreated (3 created)", ps)
	}
	if hs := hostStats(t, fleet, name); hs.ShellsCreated != 2 || hs.LoopStarts != 2 {
		t.Errorf("%s: %+v, want 2 shells and 2 loops", name, hs)
	}
}

func TestAResidentPowerShellThatDiesIsReplaced(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 10})
	eng := newEngine(t, db, engine.Options{})
	name := fleet.Hosts()[0].Hostname
	sweep(t, eng)
	if err := fleet.SetFault(name, winrmsim.FaultLoopCrash); err != nil {
		t.Fatal(err)
	}
	if res := sweep(t, eng); res.Online != 1 {
		t.Fatalf("a sweep over a crashing loop: %+v", res)
	}
	ps := eng.PoolStats()
	if ps.LoopRecycles != 1 || ps.LoopStarts != 2 || ps.Created != 1 || ps.Dropped != 0 {
		t.Errorf("pool %+v: want the loop replaced in the same shell", ps)
	}
	if hs := hostStats(t, fleet, name); hs.LoopStarts != 2 || hs.ShellsCreated != 1 || hs.Signals != 0 {
		t.Errorf("%s: %+v; a dead loop is not signalled", name, hs)
	}
}

func TestAResidentPowerShellThatHangsIsTerminatedAndItsShellDropped(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 12})
	eng := newEngine(t, db, engine.Options{Timeout: time.Second})
	name := fleet.Hosts()[0].Hostname
	sweep(t, eng)
	if err := fleet.SetFault(name, winrmsim.FaultLoopHang); err != nil {
		t.Fatal(err)
	}
	if res := sweep(t, eng); res.Online != 1 {
		t.Fatalf("a sweep over a hung loop: %+v", res)
	}
	ps := eng.PoolStats()
	if ps.Dropped != 1 || ps.Created != 2 || ps.LoopStarts != 2 {
		t.Errorf("pool %+v: want the hung shell dropped and a fresh one", ps)
	}
	waitFor(t, "the hung shell to be deleted", func() bool { return hostStats(t, fleet, name).ShellsDeleted == 1 })
	if hs := hostStats(t, fleet, name); hs.Signals != 1 || hs.ShellsOpen != 1 {
		t.Errorf("%s: %+v; want one terminate, the hung shell deleted, the new one open", name, hs)
	}
}

func TestAHostThatCannotRunTheLoopIsPolledColdAndSaysSo(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 14})
	eng := newEngine(t, db, engine.Options{})
	name := fleet.Hosts()[1].Hostname
	if err := fleet.SetFault(name, winrmsim.FaultNoLoop); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if res := sweep(t, eng); res.Online != 2 {
			t.Fatalf("sweep: %+v", res)
		}
	}
	if st := stateOf(t, eng, name); st.Mode != engine.ModeCold || !st.HasMetrics {
		t.Errorf("%s: mode %q, metrics %v; want cold with metrics", name, st.Mode, st.HasMetrics)
	}
	if st := stateOf(t, eng, fleet.Hosts()[0].Hostname); st.Mode != engine.ModeWarm {
		t.Errorf("the healthy host's mode is %q", st.Mode)
	}
	if ps := eng.PoolStats(); ps.Fallbacks != 1 {
		t.Errorf("pool %+v, want one fallback", ps)
	}
	// The loop was tried once; later polls run plain commands in the same
	// pooled shell, and a finished command is never signalled.
	if hs := hostStats(t, fleet, name); hs.ShellsCreated != 1 || hs.CommandRequests != 3 || hs.LoopStarts != 0 || hs.Signals != 0 {
		t.Errorf("%s: %+v; want 1 shell, 3 commands (the loop and two cold polls)", name, hs)
	}
}

func TestTheLoopIsRecycledAfterItsRequestLimit(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 16})
	eng := newEngine(t, db, engine.Options{LoopMaxRequests: 2})
	for range 3 {
		sweep(t, eng)
	}
	s := fleet.Stats()
	if s.LoopStarts != 2 || s.LoopExits != 1 || s.ShellsCreated != 1 || s.Signals != 0 {
		t.Errorf("simulator %+v: want the loop ended by EXIT after 2 requests and started again", s)
	}
	if ps := eng.PoolStats(); ps.LoopRecycles != 1 {
		t.Errorf("pool %+v, want one recycle", ps)
	}
}

func TestEachErrorClassFromARealSimulatorFault(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 6, Seed: 18, MaxShellsPerUser: 2})
	hosts := fleet.Hosts()
	faults := map[string]winrmsim.FaultKind{
		hosts[0].Hostname: winrmsim.FaultRefuse,
		hosts[1].Hostname: winrmsim.FaultHTTP500,
		hosts[2].Hostname: winrmsim.FaultHang,
		hosts[3].Hostname: winrmsim.FaultMalformed,
	}
	for name, k := range faults {
		if err := fleet.SetFault(name, k); err != nil {
			t.Fatal(err)
		}
	}
	// Another tool holds the host's whole shell quota.
	quota := hosts[4]
	client, err := mz.NewClient(mz.NewEndpoint(quota.IP, quota.Port, false, false, nil, nil, nil, 5*time.Second), winrmsim.DefaultUser, winrmsim.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := client.CreateShell(); err != nil {
			t.Fatal(err)
		}
	}
	eng := newEngine(t, db, engine.Options{Timeout: 800 * time.Millisecond, Retries: 2})
	res := sweep(t, eng)

	tests := []struct {
		name     string
		host     string
		status   engine.Status
		errHas   string
		requests int64 // at the host: 1 + retries for a transient error
	}{
		{"a refused connection is a device error: Offline, not retried", hosts[0].Hostname, engine.StatusOffline, "connection refused", 0},
		{"HTTP 500 without a fault is transient: retried, then Offline", hosts[1].Hostname, engine.StatusOffline, "HTTP 500", 3},
		{"a host that never answers is transient: retried, then Offline", hosts[2].Hostname, engine.StatusOffline, "deadline exceeded", 3},
		{"a malformed answer is a device error: Offline, not retried", hosts[3].Hostname, engine.StatusOffline, "malformed", 1},
		// Create, then an Enumerate of the host's shells: the other tool's
		// are in use (idle under two minutes), so none is reclaimed.
		{"the shell quota is a device error: Offline, not retried", quota.Hostname, engine.StatusOffline, "shell quota exceeded (2150859173)", 2},
		{"a healthy host is Online", hosts[5].Hostname, engine.StatusOnline, "", 4}, // Create, Command, Send, Receive
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stateOf(t, eng, tt.host)
			if st.Status != tt.status || !strings.Contains(st.LastError, tt.errHas) {
				t.Errorf("%s: %s %q, want %s with %q", tt.host, st.Status, st.LastError, tt.status, tt.errHas)
			}
			if tt.errHas != "" && !strings.HasPrefix(st.LastError, "poll "+tt.host+": ") {
				t.Errorf("error %q does not name the device and step", st.LastError)
			}
			hs := hostStats(t, fleet, tt.host)
			if tt.host == quota.Hostname {
				hs.Requests -= 2 // the other tool's Creates
				if hs.ShellsOpen != 2 {
					t.Errorf("the other tool's shells: %d open, want its 2 untouched", hs.ShellsOpen)
				}
			}
			if hs.Requests != tt.requests {
				t.Errorf("%s saw %d requests, want %d", tt.host, hs.Requests, tt.requests)
			}
		})
	}
	want := map[string]int{"device": 3, "transient": 2}
	for c, n := range want {
		if res.Errors[c] != n {
			t.Errorf("errors by class %v, want %v", res.Errors, want)
			break
		}
	}
}

func TestAFailingDatabaseIsFatalAndStopsScheduling(t *testing.T) {
	_, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 20})
	eng := newEngine(t, db, engine.Options{Interval: time.Second})
	sweep(t, eng)
	// The database goes away underneath the engine: every write fails.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := eng.Sweep(context.Background())
	if err == nil || winrm.ClassOf(err) != winrm.ClassFatal {
		t.Fatalf("a sweep over a closed database: err = %v (class %s), want fatal", err, winrm.ClassOf(err))
	}
	if !errors.Is(eng.Fatal(), err) && eng.Fatal() == nil {
		t.Fatalf("Fatal() = %v", eng.Fatal())
	}
	// Run refuses to schedule and returns the fatal error.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Run(ctx); winrm.ClassOf(err) != winrm.ClassFatal {
		t.Fatalf("Run = %v, want the fatal error", err)
	}
}

func TestCancellingEndsPollsInFlightCleanly(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 8, Seed: 22, ScriptTime: 5 * time.Second})
	before := runtime.NumGoroutine()
	eng, err := engine.New(context.Background(), db, engine.Options{
		Throttle: 4, Timeout: 20 * time.Second,
		Credential: engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := eng.Sweep(ctx)
		done <- err
	}()
	waitFor(t, "four polls in flight", func() bool { return fleet.Stats().Sends >= 4 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled sweep reported success")
	}
	// Nothing was learnt about the hosts: no device is marked Offline.
	for _, d := range eng.Devices() {
		if d.Status == engine.StatusOffline {
			t.Errorf("%s marked Offline by a cancellation: %q", d.Hostname, d.LastError)
		}
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	s := fleet.Stats()
	if s.ShellsOpen != 0 || s.ShellsDeleted != 4 || s.Signals != 4 || s.ShellsCreated != 4 {
		t.Errorf("simulator after the cancel and Close: %+v; want the 4 running loops terminated and deleted, no new work", s)
	}
	if after := settled(before); after > before {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("%d goroutines before the engine, %d after Close\n%s", before, after, buf[:n])
	}
}

// settled waits (a few seconds at most) for the goroutine count to fall
// to target and returns it.
func settled(target int) int {
	n := runtime.NumGoroutine()
	for range 300 {
		if n <= target {
			return n
		}
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestPollDeviceAnswersFromTheStatusCacheUnlessForced(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 24})
	eng := newEngine(t, db, engine.Options{})
	id := eng.Devices()[0].ID
	st, err := eng.PollDevice(context.Background(), id, false)
	if err != nil || st.Status != engine.StatusOnline {
		t.Fatalf("first PollDevice: %+v %v", st, err)
	}
	if cs := eng.CacheStats(); cs.Misses != 1 || cs.Hits != 0 {
		t.Errorf("cache after a first poll %+v, want one miss", cs)
	}
	requests := fleet.Stats().Requests
	cached, err := eng.PollDevice(context.Background(), id, false)
	if err != nil || cached.LastSeen != st.LastSeen || fleet.Stats().Requests != requests {
		t.Errorf("a fresh status was not served from the cache: %+v %v, %d requests since", cached, err, fleet.Stats().Requests-requests)
	}
	if cs := eng.CacheStats(); cs.Hits != 1 {
		t.Errorf("cache %+v, want one hit", cs)
	}
	forced, err := eng.PollDevice(context.Background(), id, true)
	if err != nil || fleet.Stats().Requests == requests || !forced.LastSeen.After(st.LastSeen) {
		t.Errorf("a forced refresh did not poll: %+v %v", forced, err)
	}
	// A sweep writes through: every device is fresh afterwards.
	sweep(t, eng)
	other := eng.Devices()[1].ID
	requests = fleet.Stats().Requests
	if _, err := eng.PollDevice(context.Background(), other, false); err != nil || fleet.Stats().Requests != requests {
		t.Errorf("after a sweep, PollDevice polled again (%v)", err)
	}
}
