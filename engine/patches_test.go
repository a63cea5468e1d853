package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// Patch management against the simulator over real HTTP: scans, the
// approval rules, rings, installs in a SYSTEM task with progress,
// restarts in maintenance windows and rounds, cancel, failures named by
// their HRESULT, offline catch-up, RBAC and audit.

var (
	patchAdmin    = engine.Identity{User: "ada", Role: engine.RoleAdmin, Via: engine.ViaCLI, RemoteAddr: "127.0.0.1"}
	patchOperator = engine.Identity{User: "olga", Role: engine.RoleOperator, Via: engine.ViaCLI, RemoteAddr: "127.0.0.1"}
	patchViewer   = engine.Identity{User: "vic", Role: engine.RoleViewer, Via: engine.ViaCLI, RemoteAddr: "127.0.0.1"}
)

// patchFleet is a fleet whose patch tasks run in tenths of a second.
func patchFleet(t *testing.T, n int, profile string) (*winrmsim.Fleet, *store.DB) {
	t.Helper()
	return testFleet(t, winrmsim.Config{Devices: n, Seed: 21, Profile: profile, ScriptTime: 2 * time.Millisecond,
		PatchInstallTime: 80 * time.Millisecond, ServicingTime: 250 * time.Millisecond, RebootDowntime: 300 * time.Millisecond})
}

// patchOptions are fast timings for tests.
func fastPatches(p engine.PatchOptions) engine.PatchOptions {
	p.PollInterval = 40 * time.Millisecond
	if p.RebootTimeout == 0 {
		p.RebootTimeout = 20 * time.Second
	}
	return p
}

// alwaysOpen is a maintenance window that holds every device in group g
// at any time.
func alwaysOpen(g string) []alerting.MaintenanceWindow {
	r, err := alerting.ParseRecurrence("daily 00:00 + 24h", time.UTC)
	if err != nil {
		panic(err)
	}
	return []alerting.MaintenanceWindow{{Name: "test window", Group: g, Every: &r}}
}

func call[T any](t *testing.T, e *engine.Engine, id engine.Identity, r engine.Req[T]) T {
	t.Helper()
	v, err := engine.Call(context.Background(), e, id, r)
	if err != nil {
		t.Fatalf("%s: %v", r.Action(), err)
	}
	return v
}

// scanAll scans every device.
func scanAll(t *testing.T, e *engine.Engine) []engine.PatchScanResult {
	t.Helper()
	return call(t, e, patchOperator, engine.ScanPatches{Target: engine.RunTarget{Filter: ""}})
}

// waitJobs waits (bounded) until every job of a run finished, reading
// them through the engine.
func waitJobs(t *testing.T, e *engine.Engine, runID string, d time.Duration) []engine.PatchJobInfo {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		jobs := call(t, e, patchViewer, engine.ListPatchJobs{RunID: runID})
		done := true
		for _, j := range jobs {
			done = done && j.Finished()
		}
		if done {
			return jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs of %s not finished after %s: %+v", runID, d, jobs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hostRow(t *testing.T, f engine.PatchFleet, host string) engine.PatchHostRow {
	t.Helper()
	for _, h := range f.Hosts {
		if h.Hostname == host {
			return h
		}
	}
	t.Fatalf("no host %s in the patch picture", host)
	return engine.PatchHostRow{}
}

func simMissing(t *testing.T, fleet *winrmsim.Fleet, host string) []winrmsim.UpdateInfo {
	t.Helper()
	u, err := fleet.Updates(host)
	if err != nil {
		t.Fatal(err)
	}
	var out []winrmsim.UpdateInfo
	for _, x := range u.Updates {
		if x.State == "missing" {
			out = append(out, x)
		}
	}
	return out
}

func TestAScanStoresEachHostsMissingAndInstalledUpdatesAndFeedsCompliance(t *testing.T) {
	fleet, db := patchFleet(t, 24, winrmsim.ProfileMixed)
	e := newEngine(t, db, engine.Options{Patches: fastPatches(engine.PatchOptions{})})
	res := scanAll(t, e)
	if len(res) != 24 {
		t.Fatalf("%d results", len(res))
	}
	f := call(t, e, patchViewer, engine.ListPatches{})
	scanned, failed, wsus := 0, 0, 0
	for _, r := range res {
		u, _ := fleet.Updates(r.Host)
		switch {
		case u.ScanFails != "":
			failed++
			if !strings.Contains(r.Error, u.ScanFails) || !strings.Contains(r.Error, "WU_E_PT_HTTP_STATUS_REQUEST_TIMEOUT") {
				t.Errorf("%s: scan error %q, want the WSUS timeout named", r.Host, r.Error)
			}
		case strings.Contains(r.Error, "FullLanguage"):
			// The Constrained Language host says why it cannot scan.
		case r.Error != "":
			t.Errorf("%s: scan failed: %s", r.Host, r.Error)
		default:
			scanned++
			h := hostRow(t, f, r.Host)
			if got, want := h.Counts.Missing(), len(simMissing(t, fleet, r.Host)); got != want || r.Missing != want {
				t.Errorf("%s: %d missing in the picture, %d scanned, the host holds %d", r.Host, got, r.Missing, want)
			}
			if h.Service != u.Service && !(u.Service == "Windows Update" && h.Service == "Microsoft Update") {
				t.Errorf("%s: service %q, the host uses %q", r.Host, h.Service, u.Service)
			}
			if h.Service == "WSUS" {
				wsus++
			}
		}
	}
	if scanned == 0 || wsus == 0 {
		t.Fatalf("%d scanned, %d WSUS among them", scanned, wsus)
	}
	// Classifications come out in English whatever the host's language.
	for _, u := range f.Updates {
		if !slices.Contains([]string{"Security Updates", "Critical Updates", "Definition Updates", "Update Rollups", "Updates", "Drivers"}, u.Classification) {
			t.Errorf("update %s has classification %q", u.KB, u.Classification)
		}
		if u.Counts[engine.PatchNeedsApproval] == 0 {
			t.Errorf("%s: nothing approved yet, but counts %v", u.KB, u.Counts)
		}
	}
	if f.Compliance.Scanned != scanned || f.Compliance.Devices != 24 {
		t.Errorf("fleet compliance %+v, %d scanned", f.Compliance, scanned)
	}
	// The health score's compliance part counts missing security updates.
	hs, err := e.Health(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range hs {
		for _, p := range h.Parts {
			if p.Name == "compliance" && slices.ContainsFunc(p.Reasons, func(r string) bool { return strings.Contains(r, "security or critical update(s) missing") }) {
				found = true
			}
		}
	}
	if !found {
		t.Error("no health score names missing security updates")
	}
	// The accessors for filters (missing:KB, installed:KB).
	kb := f.Updates[0].KB
	miss, inst, err := e.DevicesWithKB(context.Background(), kb)
	if err != nil || len(miss) != f.Updates[0].Counts.Missing() {
		t.Errorf("DevicesWithKB(%s): %v %v %v, want %d missing", kb, miss, inst, err, f.Updates[0].Counts.Missing())
	}
	m, _, err := e.DeviceKBs(context.Background(), miss[0])
	if err != nil || !slices.Contains(m, kb) {
		t.Errorf("DeviceKBs(%d) = %v, %v; want %s among them", miss[0], m, err, kb)
	}
}

func TestApprovalRulesApproveByClassificationSeverityRingAndDeferral(t *testing.T) {
	_, db := patchFleet(t, 30, "win10,server2019")
	zero, week := 0, 7
	tests := []struct {
		name  string
		rules []engine.PatchRule
		deny  []string
		// want reports whether an update ends up approved for a ring.
		want func(u engine.PatchUpdateRow, ring string) bool
	}{
		{"no rule approves nothing", nil, nil,
			func(engine.PatchUpdateRow, string) bool { return false }},
		{"definition updates everywhere at once",
			[]engine.PatchRule{{Name: "defs", Classifications: []string{"Definition Updates"}, DeferralDays: &zero}}, nil,
			func(u engine.PatchUpdateRow, _ string) bool { return u.Classification == "Definition Updates" }},
		{"critical security updates for the pilot ring only",
			[]engine.PatchRule{{Name: "crit", Classifications: []string{"Security Updates"}, Severities: []string{"Critical"}, Rings: []string{"pilot"}, DeferralDays: &zero}}, nil,
			func(u engine.PatchUpdateRow, ring string) bool {
				return ring == "pilot" && u.Classification == "Security Updates" && u.Severity == "Critical"
			}},
		{"a week's deferral leaves out what came out this week",
			[]engine.PatchRule{{Name: "sec", Classifications: []string{"Security Updates"}, DeferralDays: &week}}, nil,
			func(u engine.PatchUpdateRow, _ string) bool {
				return u.Classification == "Security Updates" && !u.Released.After(time.Now().Add(-7*24*time.Hour))
			}},
		{"the deny list wins over a rule",
			[]engine.PatchRule{{Name: "sec", Classifications: []string{"Security Updates"}, DeferralDays: &zero}}, []string{"KB5034441"},
			func(u engine.PatchUpdateRow, _ string) bool {
				return u.Classification == "Security Updates" && u.KB != "KB5034441"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh database per case: approvals are stored.
			_, db := patchFleet(t, 30, "win10,server2019")
			opts := fastPatches(engine.PatchOptions{Rules: tt.rules, Deny: tt.deny,
				Rings: []engine.PatchRing{{Name: "pilot", Devices: "os:2019"}, {Name: "production"}}})
			e := newEngine(t, db, engine.Options{Patches: opts})
			scanAll(t, e)
			f := call(t, e, patchViewer, engine.ListPatches{})
			if len(f.Updates) == 0 {
				t.Fatal("nothing missing")
			}
			for _, u := range f.Updates {
				for ring, decision := range u.Rings {
					approved := decision == "approved" || strings.HasPrefix(decision, "gated")
					if approved != tt.want(u, ring) {
						t.Errorf("%s %s (%s, %s, released %s) in %s: %q", u.KB, u.Title, u.Classification, u.Severity,
							u.Released.Format("2006-01-02"), ring, decision)
					}
					if u.KB == "KB5034441" && len(tt.deny) > 0 && decision != "denied" {
						t.Errorf("KB5034441 on the deny list shows %q", decision)
					}
				}
			}
			rows, err := db.ListAudit(context.Background(), store.AuditFilter{Action: "patches.auto_approve"})
			if err != nil {
				t.Fatal(err)
			}
			if (len(rows) > 0) != (len(tt.rules) > 0 && slices.ContainsFunc(f.Updates, func(u engine.PatchUpdateRow) bool {
				return slices.ContainsFunc(slices.Collect(mapKeys(u.Rings)), func(r string) bool { return tt.want(u, r) })
			})) {
				t.Errorf("%d auto-approve audit rows", len(rows))
			}
			for _, r := range rows {
				if r.User != "rmm-scheduler" || r.Via != "system" {
					t.Errorf("auto-approve audited as %s via %s", r.User, r.Via)
				}
			}
			// A second scan approves nothing new: no second audit row pair.
			scanAll(t, e)
			again, _ := db.ListAudit(context.Background(), store.AuditFilter{Action: "patches.auto_approve"})
			if len(again) != len(rows) {
				t.Errorf("a second scan wrote %d more auto-approve rows", len(again)-len(rows))
			}
		})
	}
	_ = db
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// behind puts hosts a month behind, so each misses a cumulative update
// (a restart) and the .NET update that follows it (a second round).
func behind(t *testing.T, fleet *winrmsim.Fleet, hosts ...string) {
	t.Helper()
	for _, h := range hosts {
		if err := fleet.SetPatchLevel(h, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// installsCleanly reports a host whose missing security updates all
// install (none fails by seed).
func installsCleanly(t *testing.T, fleet *winrmsim.Fleet, host string) bool {
	u, err := fleet.Updates(host)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range u.Updates {
		if x.State != "installed" && x.Classification == "Security Updates" && x.FailsWith != "" {
			return false
		}
	}
	return true
}

func TestAnInstallRunsInASystemTaskRestartsInTheWindowAndGoesRoundAgain(t *testing.T) {
	fleet, db := patchFleet(t, 6, "server2022")
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
	opts := fastPatches(engine.PatchOptions{Rules: []engine.PatchRule{{Name: "sec", Classifications: []string{"Security Updates", "Critical Updates"}, DeferralDays: &zero}}})
	e := newEngine(t, db, engine.Options{Patches: opts, Alerts: engine.AlertOptions{Maintenance: []alerting.MaintenanceWindow{{Name: "always", Device: host,
		Every: alwaysOpen("x")[0].Every}}}})
	scanAll(t, e)
	before := hostRow(t, call(t, e, patchViewer, engine.ListPatches{}), host)
	if before.Counts[engine.PatchApproved] == 0 || before.Compliant {
		t.Fatalf("before: %+v", before)
	}
	e.StartPatchDriver()
	run := call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{host}}})
	if len(run.Jobs) != 1 || run.Jobs[0].State != "starting" || len(run.Jobs[0].Updates) == 0 {
		t.Fatalf("install: %+v", run)
	}
	// Watch it: installing with progress, a restart, a second round.
	states := map[string]bool{}
	sawProgress := false
	deadline := time.Now().Add(40 * time.Second)
	for {
		jobs := call(t, e, patchViewer, engine.ListPatchJobs{RunID: run.RunID})
		j := jobs[0]
		states[j.State] = true
		if j.Progress != nil && j.Progress.Current > 0 && j.State == "installing" {
			sawProgress = true
		}
		if j.Finished() {
			if j.State != "completed" || j.Round != 2 || j.Installed < 2 {
				t.Fatalf("the job ended %s after %d rounds, %d installed: %s", j.State, j.Round, j.Installed, j.Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not finish: %+v", j)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range []string{"installing", "rebooting", "settling", "rescanning"} {
		if !states[s] {
			t.Errorf("the job never was %s (saw %v)", s, states)
		}
	}
	if !sawProgress {
		t.Error("no progress was read from the task's file")
	}
	// The host has everything approved; the task is gone; compliance rose.
	u, _ := fleet.Updates(host)
	for _, x := range u.Updates {
		if x.Classification == "Security Updates" && x.State != "installed" {
			t.Errorf("%s %s is %s after the install", x.KB, x.Title, x.State)
		}
	}
	if len(u.Tasks) != 0 {
		t.Errorf("tasks left on the host: %v", u.Tasks)
	}
	after := hostRow(t, call(t, e, patchViewer, engine.ListPatches{}), host)
	if after.Security != 0 || !after.Compliant {
		t.Errorf("after: %+v", after)
	}
	// Every step is in the audit log, and the history has each update.
	ctx := context.Background()
	for _, action := range []string{"patches.install", "patches.reboot", "patches.install.result"} {
		rows, err := db.ListAudit(ctx, store.AuditFilter{Action: action})
		if err != nil || len(rows) == 0 {
			t.Errorf("no audit row %s (%v)", action, err)
		}
	}
	hist := call(t, e, patchViewer, engine.PatchHistory{Host: host})
	rounds := map[int]int{}
	for _, h := range hist {
		if h.Result != "installed" {
			t.Errorf("history: %s %s", h.KB, h.Result)
		}
		rounds[h.Round]++
	}
	if rounds[1] == 0 || rounds[2] == 0 {
		t.Errorf("history by round: %v", rounds)
	}
}

func TestARestartWaitsForTheMaintenanceWindowUnlessRebootNow(t *testing.T) {
	fleet, db := patchFleet(t, 4, "server2019")
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
	e := newEngine(t, db, engine.Options{Patches: fastPatches(engine.PatchOptions{MaxRounds: 1})})
	scanAll(t, e)
	var lcu string
	for _, x := range simMissing(t, fleet, host) {
		if x.RebootBehavior == 1 {
			lcu = x.KB
		}
	}
	call(t, e, patchOperator, engine.ApprovePatches{Ring: "all", KBs: []string{lcu}})
	e.StartPatchDriver()
	run := call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{host}}})
	var j engine.PatchJobInfo
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(j.Message, "maintenance window") {
		j = call(t, e, patchViewer, engine.ListPatchJobs{RunID: run.RunID})[0]
		if time.Now().After(deadline) || j.Finished() {
			t.Fatalf("job %s: %s", j.State, j.Message)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if j.State != "reboot_wait" || !strings.Contains(j.Message, "none covers this device") {
		t.Errorf("job %s: %q", j.State, j.Message)
	}
	time.Sleep(300 * time.Millisecond) // several poll intervals: it must not restart
	if now, _ := fleet.Updates(host); !now.RestartPending {
		t.Fatal("the host restarted outside a maintenance window")
	}
	if rows, _ := db.ListAudit(context.Background(), store.AuditFilter{Action: "patches.reboot"}); len(rows) != 0 {
		t.Fatalf("a restart was audited: %+v", rows)
	}
	call(t, e, patchOperator, engine.CancelPatches{RunID: run.RunID})
	j = waitJobs(t, e, run.RunID, 10*time.Second)[0]
	if j.State != "cancelled" || !strings.Contains(j.Message, "cancelled by olga") {
		t.Errorf("cancelled job: %s %q", j.State, j.Message)
	}
	// Reboot now: nothing is left to install, the pending restart happens.
	run2 := call(t, e, patchOperator, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{host}}, RebootNow: true})
	if run2.Jobs[0].State != "reboot_wait" {
		t.Fatalf("reboot now with a restart pending: %+v", run2.Jobs[0])
	}
	j = waitJobs(t, e, run2.RunID, 20*time.Second)[0]
	if j.State != "completed" {
		t.Errorf("reboot now: %s %q", j.State, j.Message)
	}
	if now, _ := fleet.Updates(host); now.RestartPending {
		t.Error("the restart is still pending after reboot now")
	}
	rows, _ := db.ListAudit(context.Background(), store.AuditFilter{Action: "patches.reboot"})
	if len(rows) != 1 || rows[0].Details["why"] != "reboot now" || rows[0].Targets[0] != host {
		t.Errorf("restart audit rows: %+v", rows)
	}
}
