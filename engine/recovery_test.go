package engine_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// deadPID is a pid no process has (above Linux's pid_max default).
const deadPID = 1 << 30

// leaveShells opens n shells on a host with a client that is then
// abandoned, as a crashed rmm leaves them, and returns their ids.
func leaveShells(t *testing.T, h winrmsim.HostInfo, n int) []string {
	t.Helper()
	var ids []string
	var mu sync.Mutex
	c, err := winrm.New(winrm.Options{SessionsPerHost: n, OnShellCreate: func(context.Context, winrm.ShellRef) func(string, bool) {
		return func(id string, _ bool) {
			mu.Lock()
			defer mu.Unlock()
			ids = append(ids, id)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	tgt := winrm.Target{Host: h.Hostname, Address: h.IP, Port: h.Port, AllowUnencrypted: true}
	cred := winrm.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}
	done := make(chan error, n)
	for range n { // n at once: each takes a shell of its own
		go func() {
			_, err := c.Run(context.Background(), tgt, cred, winrm.NewScript("sleep", "Start-Sleep -Milliseconds 300"))
			done <- err
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func TestShellsOfAnEndedProcessAreDeletedWhenTheNextEngineStarts(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 9})
	ctx := context.Background()
	host, _ := os.Hostname()
	dead, err := db.RegisterProcess(ctx, store.Process{Host: host, PID: deadPID, StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	devs, _ := db.ListDevices(ctx)
	var recs []store.ShellRecord
	for _, d := range devs {
		h, _ := fleet.Host(d.Hostname)
		for _, id := range leaveShells(t, h, 3) {
			recs = append(recs, store.ShellRecord{ProcessID: dead, DeviceID: d.ID, Endpoint: engine.Endpoint(d), ShellID: id,
				OpenedAt: time.Now()})
		}
	}
	if err := db.RecordShells(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if open := fleet.Stats().ShellsOpen; open != 6 {
		t.Fatalf("%d shells open before, want 6", open)
	}
	newEngine(t, db, engine.Options{})
	waitFor(t, "the leftover shells deleted", func() bool { return fleet.Stats().ShellsOpen == 0 })
	waitFor(t, "their records gone", func() bool {
		left, _ := db.Shells(ctx)
		return len(left) == 0
	})
	if ps, _ := db.Processes(ctx); len(ps) != 0 {
		t.Errorf("the ended process is still registered: %+v", ps)
	}
}

func TestAQuotaHeldByAnEndedProcessesShellsIsReclaimedByTheSweep(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 9, MaxShellsPerUser: 3})
	ctx := context.Background()
	eng := newEngine(t, db, engine.Options{})
	// After the engine started (its start-up cleanup found nothing), a
	// process that is gone turns out to hold the host's whole quota.
	host, _ := os.Hostname()
	dead, err := db.RegisterProcess(ctx, store.Process{Host: host, PID: deadPID, StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	devs, _ := db.ListDevices(ctx)
	h, _ := fleet.Host(devs[0].Hostname)
	var recs []store.ShellRecord
	for _, id := range leaveShells(t, h, 3) {
		recs = append(recs, store.ShellRecord{ProcessID: dead, DeviceID: devs[0].ID, Endpoint: engine.Endpoint(devs[0]),
			ShellID: id, OpenedAt: time.Now()})
	}
	if err := db.RecordShells(ctx, recs); err != nil {
		t.Fatal(err)
	}
	res := sweep(t, eng)
	if res.Online != 1 || res.Pool.Reclaimed != 3 || res.Pool.QuotaHits != 0 {
		t.Fatalf("sweep %+v; want the host online after its 3 orphaned shells were reclaimed", res)
	}
	if open := fleet.Stats().ShellsOpen; open != 1 {
		t.Errorf("%d shells open, want 1 (this engine's)", open)
	}
}

// TestAShellAskedForByAnEndedProcessIsFoundByListingTheHost: a process
// that died between asking a host for a shell and recording its id left a
// record with no id. The next start lists the host's shells and deletes
// the cmd shells of its account made since, but not a live process's nor
// a shell older than the record.
func TestAShellAskedForByAnEndedProcessIsFoundByListingTheHost(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 9})
	ctx := context.Background()
	host, _ := os.Hostname()
	dead, err := db.RegisterProcess(ctx, store.Process{Host: host, PID: deadPID, StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	live, err := db.RegisterProcess(ctx, store.Process{Host: host, PID: os.Getpid(), StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	devs, _ := db.ListDevices(ctx)
	h0, _ := fleet.Host(devs[0].Hostname)
	h1, _ := fleet.Host(devs[1].Hostname)
	orphans := leaveShells(t, h0, 2)  // made by the dead process, ids never recorded
	liveOnes := leaveShells(t, h0, 1) // a live process's, recorded
	older := leaveShells(t, h1, 1)    // on the other host, made before that host's record
	recs := []store.ShellRecord{
		{ProcessID: dead, DeviceID: devs[0].ID, Endpoint: engine.Endpoint(devs[0]), OpenedAt: time.Now().Add(-time.Minute)},
		{ProcessID: live, DeviceID: devs[0].ID, Endpoint: engine.Endpoint(devs[0]), ShellID: liveOnes[0], OpenedAt: time.Now()},
		{ProcessID: dead, DeviceID: devs[1].ID, Endpoint: engine.Endpoint(devs[1]), OpenedAt: time.Now().Add(time.Minute)},
	}
	if err := db.RecordShells(ctx, recs); err != nil {
		t.Fatal(err)
	}
	newEngine(t, db, engine.Options{})
	waitFor(t, "the dead process's records closed", func() bool {
		left, _ := db.Shells(ctx)
		return len(left) == 1 && left[0].ShellID == liveOnes[0]
	})
	if hs := hostStats(t, fleet, h0.Hostname); hs.ShellsOpen != 1 {
		t.Errorf("%s: %d shells open, want 1 (the live process's); the %d orphans were to go", h0.Hostname, hs.ShellsOpen, len(orphans))
	}
	if hs := hostStats(t, fleet, h1.Hostname); hs.ShellsOpen != int64(len(older)) {
		t.Errorf("%s: %d shells open, want %d (made before the record: not the dead process's)", h1.Hostname, hs.ShellsOpen, len(older))
	}
}
