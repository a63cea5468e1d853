package ui

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// TestThePatchesViewApprovesAndInstallsThroughARealEngine runs the
// console on a real engine over a simulated fleet: the Patches view shows
// what the scan found, A approves the pilot ring's missing updates, I
// installs them, the hosts list shows the job's progress and the restart
// in the maintenance window, and the pilot's compliance rises to 100%.
// The approvals and the install are audited as the console's user.
func TestThePatchesViewApprovesAndInstallsThroughARealEngine(t *testing.T) {
	ctx := context.Background()
	fleet, err := winrmsim.New(winrmsim.Config{Devices: 4, Seed: 21, Profile: "server2022", AllowUnencrypted: true,
		ScriptTime: 2 * time.Millisecond, PatchInstallTime: 60 * time.Millisecond, ServicingTime: 200 * time.Millisecond,
		RebootDowntime: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fleet.Close() })
	// The pilot: a host a month behind whose updates all install.
	var pilot string
	for _, h := range fleet.Hosts() {
		if err := fleet.SetPatchLevel(h.Hostname, 1); err != nil {
			t.Fatal(err)
		}
		u, _ := fleet.Updates(h.Hostname)
		clean := true
		for _, x := range u.Updates {
			clean = clean && x.FailsWith == ""
		}
		if clean && pilot == "" {
			pilot = h.Hostname
		}
	}
	if pilot == "" {
		t.Skip("every host has a failing update by seed")
	}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var csv bytes.Buffer
	if err := fleet.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	if _, _, err := csvimport.Import(ctx, db, "fleet.csv", &csv, csvimport.Options{}); err != nil {
		t.Fatal(err)
	}
	zero := 0
	window, err := alerting.ParseRecurrence("daily 00:00 + 24h", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(ctx, db, engine.Options{
		Credential: engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword},
		Timeout:    5 * time.Second,
		Alerts:     engine.AlertOptions{Maintenance: []alerting.MaintenanceWindow{{Name: "always", Device: pilot, Every: &window}}},
		// The rule approves the .NET update a restart brings (a second
		// round); the rest is approved from the view.
		Patches: engine.PatchOptions{PollInterval: 40 * time.Millisecond,
			Rings: []engine.PatchRing{{Name: "pilot", Devices: "host=" + pilot}, {Name: "production", After: "pilot", Soak: time.Hour}},
			Rules: []engine.PatchRule{{Name: "pilot-security", Classifications: []string{"Security Updates"}, Rings: []string{"pilot"}, DeferralDays: &zero}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	operator := engine.Identity{User: "olga", Role: engine.RoleOperator, Via: engine.ViaLocal}
	if _, err := engine.Call(ctx, eng, operator, engine.ScanPatches{}); err != nil {
		t.Fatal(err)
	}
	eng.StartPatchDriver()

	tm := startConsole(t, userClient{eng, operator}, Options{Theme: "ascii", Role: "Operator", Now: time.Now}, 100, 30)
	waitFor(t, tm, pilot)
	send(tm, ":")
	for _, r := range "patches" {
		send(tm, string(r))
	}
	send(tm, "enter")
	waitFor(t, tm, "compliance", "ring pilot", "NEED")
	send(tm, "A")
	waitFor(t, tm, "for ring pilot? y/n")
	send(tm, "y")
	waitFor(t, tm, "decision(s) recorded")
	send(tm, "I")
	waitFor(t, tm, "Install every approved update on ring pilot (1 devices")
	send(tm, "y")
	waitFor(t, tm, "1 job(s) started")
	send(tm, "tab")
	teatest.WaitFor(t, tm.Output(), func(out []byte) bool { return bytes.Contains(out, []byte("pilot 100.0%")) },
		teatest.WithDuration(30*time.Second), teatest.WithCheckInterval(50*time.Millisecond))
	m := finish(t, tm)
	if scr := screenText(m); !strings.Contains(scr, "pilot 100.0%") {
		t.Errorf("compliance line: %q", lineWith(scr, "compliance"))
	}

	for _, action := range []string{"patches.approve", "patches.install"} {
		rows, err := db.ListAudit(ctx, store.AuditFilter{Action: action, Result: store.AuditSuccess})
		if err != nil || len(rows) != 1 || rows[0].User != "olga" || rows[0].Via != "local" {
			t.Errorf("%s audit rows: %+v %v", action, rows, err)
		}
	}
	if rows, _ := db.ListAudit(ctx, store.AuditFilter{Action: "patches.reboot"}); len(rows) != 1 || rows[0].Targets[0] != pilot {
		t.Errorf("restart audit rows: %+v", rows)
	}
	u, _ := fleet.Updates(pilot)
	if u.RestartPending || len(u.Tasks) != 0 {
		t.Errorf("the pilot after the install: restart pending %v, tasks %v", u.RestartPending, u.Tasks)
	}
}
