package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// cumulative is the host's missing cumulative update (reboot always).
func cumulative(t *testing.T, fleet *winrmsim.Fleet, host string) winrmsim.UpdateInfo {
	t.Helper()
	for _, x := range simMissing(t, fleet, host) {
		if x.RebootBehavior == 1 && strings.Contains(x.Title, "Cumulative Update") {
			return x
		}
	}
	t.Fatalf("%s misses no cumulative update", host)
	return winrmsim.UpdateInfo{}
}

func lastAudit(t *testing.T, db *store.DB, action string) store.AuditEntry {
	t.Helper()
	rows, err := db.ListAudit(context.Background(), store.AuditFilter{Action: action})
	if err != nil || len(rows) == 0 {
		t.Fatalf("no audit row %s (%v)", action, err)
	}
	return rows[len(rows)-1]
}

func TestRingsGateProductionOnThePilotsSuccessAndRolesDecideWhoApproves(t *testing.T) {
	fleet, db := patchFleet(t, 3, "server2019")
	hosts := fleet.Hosts()
	pilot, prod := hosts[0].Hostname, hosts[1].Hostname
	behind(t, fleet, pilot, prod)
	if !installsCleanly(t, fleet, pilot) {
		t.Skip("the pilot's updates fail by seed")
	}
	opts := fastPatches(engine.PatchOptions{MaxRounds: 1, Reboot: engine.RebootNever, Deny: []string{"KB5034441"},
		Rings: []engine.PatchRing{
			{Name: "pilot", Devices: "host=" + pilot},
			{Name: "production", After: "pilot", SuccessRate: 100, Soak: 400 * time.Millisecond, ApproveRole: engine.RoleAdmin},
		}})
	e := newEngine(t, db, engine.Options{Patches: opts})
	scanAll(t, e)
	kb := cumulative(t, fleet, pilot).KB
	if cumulative(t, fleet, prod).KB != kb {
		t.Fatal("the two hosts miss different cumulative updates")
	}
	ctx := context.Background()

	// Who may approve what.
	d := call(t, e, patchOperator, engine.ApprovePatches{Ring: "pilot", KBs: []string{kb}, Note: "pilot first"})
	if len(d) != 1 || d[0].Decision != "approved" || d[0].Effect != "installable now" {
		t.Fatalf("pilot approval: %+v", d)
	}
	for _, c := range []struct {
		name string
		id   engine.Identity
		r    engine.ApprovePatches
		want string // "denied" or a text of the error
	}{
		{"a viewer may not approve", patchViewer, engine.ApprovePatches{Ring: "pilot", KBs: []string{kb}}, "denied"},
		{"an operator may not approve for an admin's ring", patchOperator, engine.ApprovePatches{Ring: "production", KBs: []string{kb}}, "denied"},
		{"an operator may not override a gate", patchOperator, engine.ApprovePatches{Ring: "pilot", KBs: []string{kb}, Override: true}, "denied"},
		{"an unknown KB is refused whole", patchOperator, engine.ApprovePatches{Ring: "pilot", KBs: []string{kb, "KB9999999"}}, "unknown update(s) KB9999999"},
		{"a denied KB cannot be approved", patchAdmin, engine.ApprovePatches{Ring: "*", KBs: []string{"KB5034441"}}, "unknown update(s) KB5034441"},
		{"an unknown ring", patchOperator, engine.ApprovePatches{Ring: "canary", KBs: []string{kb}}, `ring "canary" is not one of pilot, production`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := engine.Call(ctx, e, c.id, c.r)
			switch {
			case c.want == "denied" && !errors.Is(err, engine.ErrDenied):
				t.Fatalf("err %v, want denied", err)
			case c.want != "denied" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err %v, want %q", err, c.want)
			}
			row := lastAudit(t, db, c.r.Action())
			want := store.AuditFailure
			if c.want == "denied" {
				want = store.AuditDenied
			}
			if row.Result != want || row.User != c.id.User {
				t.Errorf("audit row %+v, want %s by %s", row, want, c.id.User)
			}
		})
	}
	// The admin approves for production: it waits for the pilot.
	d = call(t, e, patchAdmin, engine.ApprovePatches{Ring: "production", KBs: []string{kb}})
	if !strings.Contains(d[0].Effect, "waits for pilot: 0 of 1 device(s) tried it") {
		t.Errorf("production approval effect %q", d[0].Effect)
	}
	run := call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{prod}}})
	if j := run.Jobs[0]; j.State != "completed" || !strings.Contains(j.Message, kb+" waits for pilot") {
		t.Fatalf("production before the pilot: %+v", j)
	}
	// The pilot installs it.
	e.StartPatchDriver()
	run = call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{pilot}}, KBs: []string{kb}})
	if j := waitJobs(t, e, run.RunID, 20*time.Second)[0]; j.State != "completed" || j.Installed != 1 {
		t.Fatalf("pilot install: %+v", j)
	}
	f := call(t, e, patchViewer, engine.ListPatches{})
	for _, u := range f.Updates {
		if u.KB == kb && !strings.Contains(u.Rings["production"], "soaks until") {
			t.Errorf("production right after the pilot: %q", u.Rings["production"])
		}
	}
	time.Sleep(450 * time.Millisecond) // the soak
	run = call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{prod}}, KBs: []string{kb}})
	if j := waitJobs(t, e, run.RunID, 20*time.Second)[0]; j.State != "completed" || j.Installed != 1 {
		t.Fatalf("production after the soak: %+v", j)
	}
}

func TestFailuresEndWithANamedHResultAndAreNotRetriedInAStorm(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 40, Seed: 21, Profile: "win10", ScriptTime: 2 * time.Millisecond,
		PatchInstallTime: 150 * time.Millisecond, ServicingTime: 100 * time.Millisecond, RebootDowntime: 300 * time.Millisecond})
	zero := 0
	opts := fastPatches(engine.PatchOptions{StartTimeout: 400 * time.Millisecond, Reboot: engine.RebootNever,
		Rules: []engine.PatchRule{{Name: "all", DeferralDays: &zero}}})
	e := newEngine(t, db, engine.Options{Patches: opts})
	hosts := fleet.Hosts()
	full, stuck, winre := hosts[0].Hostname, hosts[1].Hostname, ""
	for _, h := range hosts[2:] {
		for _, x := range simMissing(t, fleet, h.Hostname) {
			if x.KB == "KB5034441" && winre == "" {
				winre = h.Hostname
			}
		}
	}
	if winre == "" {
		t.Fatal("no Windows 10 host misses KB5034441")
	}
	behind(t, fleet, full)
	if err := fleet.SetFault(full, winrmsim.FaultDiskFull); err != nil {
		t.Fatal(err)
	}
	if err := fleet.SetFault(stuck, winrmsim.FaultTaskStuck); err != nil {
		t.Fatal(err)
	}
	scanAll(t, e)
	e.StartPatchDriver()
	run := call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{full, stuck, winre}}})
	jobs := waitJobs(t, e, run.RunID, 30*time.Second)
	byHost := map[string]engine.PatchJobInfo{}
	for _, j := range jobs {
		byHost[j.Host] = j
	}
	if j := byHost[full]; j.State != "failed" || !strings.Contains(j.Message, "0x80070070 ERROR_DISK_FULL") {
		t.Errorf("full disk: %s %q", j.State, j.Message)
	}
	if j := byHost[stuck]; j.State != "failed" || !strings.Contains(j.Message, "did not start") || !strings.Contains(j.Message, "SCHED_S_TASK_HAS_NOT_RUN") {
		t.Errorf("stuck task: %s %q", j.State, j.Message)
	}
	if u, _ := fleet.Updates(stuck); len(u.Tasks) != 0 {
		t.Errorf("the task that never started was left on the host: %v", u.Tasks)
	}
	if j := byHost[winre]; j.State != "failed" || !strings.Contains(j.Message, "KB5034441: 0x80070643 ERROR_INSTALL_FAILURE") {
		t.Errorf("KB5034441: %s %q", j.State, j.Message)
	}
	// The failing update was tried once in its job, not again.
	hist := call(t, e, patchViewer, engine.PatchHistory{Host: winre, KB: "KB5034441"})
	if len(hist) != 1 || hist[0].Result != "failed" || !strings.Contains(hist[0].Fix, "KB5028997") {
		t.Errorf("history of KB5034441 on %s: %+v", winre, hist)
	}
	// Each ending is audited with its reason.
	rows, err := db.ListAudit(context.Background(), store.AuditFilter{Action: "patches.install.result", Result: store.AuditFailure})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Errorf("%d failed install results audited, want 3", len(rows))
	}
	// The picture shows the failure with its fix.
	v := call(t, e, patchViewer, engine.GetDevicePatches{Host: winre})
	found := false
	for _, u := range v.Updates {
		if u.KB == "KB5034441" {
			found = u.State == engine.PatchFailed && strings.Contains(u.Reason, "fix:")
		}
	}
	if !found {
		t.Errorf("KB5034441 on %s in the device view: %+v", winre, v.Updates)
	}
	// An unknown KB is refused before anything runs.
	if _, err := engine.Call(context.Background(), e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{winre}},
		KBs: []string{"KB1234567"}}); err == nil || !strings.Contains(err.Error(), "unknown update(s) KB1234567") {
		t.Errorf("install of an unknown KB: %v", err)
	}
}

func TestAHostThatRestartsMidInstallGoesOnInTheNextRound(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 4, Seed: 21, Profile: "server2022", ScriptTime: 2 * time.Millisecond,
		PatchInstallTime: 400 * time.Millisecond, ServicingTime: 100 * time.Millisecond, RebootDowntime: 200 * time.Millisecond})
	var host string
	for _, h := range fleet.Hosts() {
		behind(t, fleet, h.Hostname)
		if host == "" && installsCleanly(t, fleet, h.Hostname) {
			host = h.Hostname
		}
	}
	if host == "" {
		t.Skip("every host has a failing update by seed")
	}
	zero := 0
	e := newEngine(t, db, engine.Options{Patches: fastPatches(engine.PatchOptions{Reboot: engine.RebootNever,
		Rules: []engine.PatchRule{{Name: "all", DeferralDays: &zero}}})})
	scanAll(t, e)
	e.StartPatchDriver()
	run := call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{host}}})
	if len(run.Jobs[0].Updates) < 3 {
		t.Fatalf("round 1 has %d updates", len(run.Jobs[0].Updates))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		j := call(t, e, patchViewer, engine.ListPatchJobs{RunID: run.RunID})[0]
		if j.Progress != nil && j.Progress.Current >= 2 {
			break
		}
		if time.Now().After(deadline) || j.Finished() {
			t.Fatalf("no progress past the first update: %+v", j)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := fleet.Reboot(host); err != nil { // power cut, Windows Update's own restart...
		t.Fatal(err)
	}
	j := waitJobs(t, e, run.RunID, 30*time.Second)[0]
	if j.State != "completed" || j.Round < 2 {
		t.Fatalf("after a restart mid-install: %s round %d: %s", j.State, j.Round, j.Message)
	}
	hist := call(t, e, patchViewer, engine.PatchHistory{Host: host})
	rounds := map[int]int{}
	for _, h := range hist {
		rounds[h.Round]++
	}
	if rounds[1] == 0 || rounds[2] == 0 {
		t.Errorf("results by round: %v", rounds)
	}
}

func TestCancelStopsTheRunningTaskAndRemovesIt(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 21, Profile: "server2019", ScriptTime: 2 * time.Millisecond,
		PatchInstallTime: 2 * time.Second})
	host := fleet.Hosts()[0].Hostname
	behind(t, fleet, host)
	zero := 0
	e := newEngine(t, db, engine.Options{Patches: fastPatches(engine.PatchOptions{Rules: []engine.PatchRule{{Name: "all", DeferralDays: &zero}}})})
	scanAll(t, e)
	before := len(simMissing(t, fleet, host))
	e.StartPatchDriver()
	run := call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{host}}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := call(t, e, patchViewer, engine.ListPatchJobs{RunID: run.RunID})[0]
		if j.State == "installing" && j.Progress != nil && j.Progress.Phase == "downloading" {
			break
		}
		if time.Now().After(deadline) || j.Finished() {
			t.Fatalf("never installing: %+v", j)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := engine.Call(context.Background(), e, patchViewer, engine.CancelPatches{RunID: run.RunID}); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("a viewer cancelled: %v", err)
	}
	call(t, e, patchOperator, engine.CancelPatches{RunID: run.RunID})
	j := waitJobs(t, e, run.RunID, 10*time.Second)[0]
	if j.State != "cancelled" || !strings.Contains(j.Message, "task was stopped and removed") {
		t.Errorf("cancelled: %s %q", j.State, j.Message)
	}
	u, _ := fleet.Updates(host)
	if len(u.Tasks) != 0 {
		t.Errorf("tasks left: %v", u.Tasks)
	}
	if after := len(simMissing(t, fleet, host)); after != before {
		t.Errorf("%d updates missing before, %d after a cancel during the first download", before, after)
	}
	if row := lastAudit(t, db, "patches.cancel"); row.Result != store.AuditSuccess || row.User != "olga" {
		t.Errorf("cancel audit %+v", row)
	}
}

func TestAnOfflineDevicesJobWaitsInTheQueueAndRunsWhenItIsBack(t *testing.T) {
	fleet, db := patchFleet(t, 3, "server2022")
	host := fleet.Hosts()[0].Hostname
	behind(t, fleet, host)
	zero := 0
	e := newEngine(t, db, engine.Options{Patches: fastPatches(engine.PatchOptions{Reboot: engine.RebootNever, MaxRounds: 1,
		Rules: []engine.PatchRule{{Name: "defs", Classifications: []string{"Definition Updates", "Update Rollups"}, DeferralDays: &zero}}})})
	ctx := context.Background()
	scanAll(t, e)
	if err := fleet.SetOnline(host, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if st := stateOf(t, e, host); st.Status != engine.StatusOffline {
		t.Fatalf("status %s", st.Status)
	}
	e.StartPatchDriver()
	run := call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{host}}})
	if j := run.Jobs[0]; j.State != "queued" || !strings.Contains(j.Message, "offline") {
		t.Fatalf("install on an offline device: %+v", j)
	}
	time.Sleep(150 * time.Millisecond)
	if j := call(t, e, patchViewer, engine.ListPatchJobs{RunID: run.RunID})[0]; j.State != "queued" {
		t.Fatalf("the queued job moved while the device was away: %+v", j)
	}
	if err := fleet.SetOnline(host, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Sweep(ctx); err != nil { // the engine sees it back
		t.Fatal(err)
	}
	j := waitJobs(t, e, run.RunID, 20*time.Second)[0]
	if j.State != "completed" || j.Installed == 0 {
		t.Fatalf("the job after the device came back: %+v", j)
	}
}
