package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// Tests of the interactive remote PowerShell sessions, against the
// simulator over real HTTP on 127.0.0.1 and a real SQLite store.

var (
	shellAdmin = engine.Identity{User: "alice", Role: engine.RoleAdmin, Via: engine.ViaLocal}
	shellOther = engine.Identity{User: "bob", Role: engine.RoleOperator, Via: engine.ViaSSH, RemoteAddr: "127.0.0.1:40000"}
)

func openShell(t *testing.T, eng *engine.Engine, id engine.Identity, d engine.DeviceState) engine.ShellInfo {
	t.Helper()
	info, err := engine.Call(context.Background(), eng, id, engine.OpenShell{DeviceID: d.ID, Host: d.Hostname})
	if err != nil {
		t.Fatalf("OpenShell %s: %v", d.Hostname, err)
	}
	return info
}

func shellRun(eng *engine.Engine, id engine.Identity, session, line string) (engine.ShellOutput, error) {
	out, err := engine.Call(context.Background(), eng, id, engine.ShellRun{SessionID: session, Line: line})
	if err != nil {
		return engine.ShellOutput{}, err
	}
	return out, nil
}

func onlineDevice(t *testing.T, fleet *winrmsim.Fleet, eng *engine.Engine) engine.DeviceState {
	t.Helper()
	for _, d := range eng.Devices() {
		if h, ok := fleet.Host(d.Hostname); ok && h.Online {
			return d
		}
	}
	t.Fatal("no online host")
	return engine.DeviceState{}
}

func TestRemoteShellRunsEachLineOnItsOwnShellAndAuditsIt(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 11})
	eng := newEngine(t, db, engine.Options{})
	d := onlineDevice(t, fleet, eng)
	info := openShell(t, eng, shellAdmin, d)
	if info.Host != d.Hostname || !strings.HasSuffix(info.SessionID, "@"+d.Hostname) || info.Idle != engine.DefaultShellIdle {
		t.Fatalf("ShellInfo %+v", info)
	}
	if hs := hostStats(t, fleet, d.Hostname); hs.ShellsOpen != 1 || hs.LoopStarts != 1 {
		t.Fatalf("after OpenShell the host has %d shells and %d loops, want 1 and 1", hs.ShellsOpen, hs.LoopStarts)
	}

	out, err := shellRun(eng, shellAdmin, info.SessionID, "hostname")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.Output) != d.Hostname || out.Exit != 0 || len(out.Errors) != 0 || out.Mode != engine.ModeWarm {
		t.Errorf("hostname: %+v", out)
	}
	out, err = shellRun(eng, shellAdmin, info.SessionID, "Write-Output hi")
	if err != nil || strings.TrimSpace(out.Output) != "hi" {
		t.Errorf("Write-Output hi: %+v, %v", out, err)
	}
	out, err = shellRun(eng, shellAdmin, info.SessionID, "Get-Nothing")
	if err != nil || out.Exit != 1 || len(out.Errors) != 1 || !strings.Contains(out.Errors[0], "the simulated host does not implement Get-Nothing") {
		t.Errorf("an unknown command: %+v, %v", out, err)
	}
	// The session's shell is its own: one shell, one loop, three requests,
	// and the pool made none.
	hs := hostStats(t, fleet, d.Hostname)
	if hs.ShellsCreated != 1 || hs.LoopRequests != 3 || eng.PoolStats().Created != 0 {
		t.Errorf("host stats %+v, pool %+v: want one shell serving three lines", hs, eng.PoolStats())
	}

	// Another user cannot drive the session.
	if _, err := shellRun(eng, shellOther, info.SessionID, "whoami"); !errors.Is(err, engine.ErrNoShell) {
		t.Errorf("another user's line: %v, want ErrNoShell", err)
	}
	if _, err := engine.Call(context.Background(), eng, shellAdmin, engine.CloseShell{SessionID: info.SessionID}); err != nil {
		t.Fatal(err)
	}
	if hs := hostStats(t, fleet, d.Hostname); hs.ShellsOpen != 0 || hs.ShellsDeleted != 1 {
		t.Errorf("after CloseShell: %d open, %d deleted", hs.ShellsOpen, hs.ShellsDeleted)
	}
	if _, err := shellRun(eng, shellAdmin, info.SessionID, "hostname"); !errors.Is(err, engine.ErrNoShell) {
		t.Errorf("a line after close: %v, want ErrNoShell", err)
	}

	rows, err := db.ListAudit(context.Background(), store.AuditFilter{Action: "shell.run"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range outcomes(rows) {
		if r.User == "alice" {
			lines = append(lines, r.Details["line"].(string))
			if len(r.Targets) != 1 || r.Targets[0] != d.Hostname {
				t.Errorf("audit row targets %v, want %s", r.Targets, d.Hostname)
			}
		}
	}
	if strings.Join(lines, "|") != "hostname|Write-Output hi|Get-Nothing|hostname" {
		t.Errorf("audited lines %q", lines)
	}
	for _, action := range []string{"shell.open", "shell.close"} {
		if rows, _ := db.ListAudit(context.Background(), store.AuditFilter{Action: action}); len(outcomes(rows)) != 1 || outcomes(rows)[0].Result != store.AuditSuccess {
			t.Errorf("%s audit rows: %+v", action, rows)
		}
	}
}

func TestRemoteShellInterruptTerminatesTheLineAndTheNextLineGetsAFreshShell(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 12})
	eng := newEngine(t, db, engine.Options{})
	d := onlineDevice(t, fleet, eng)
	info := openShell(t, eng, shellAdmin, d)

	done := make(chan error, 1)
	go func() {
		_, err := shellRun(eng, shellAdmin, info.SessionID, "Start-Sleep 30")
		done <- err
	}()
	// Interrupt until the line has stopped (an interrupt before the line
	// started stops nothing).
	var err error
	deadline := time.After(10 * time.Second)
wait:
	for {
		if _, ierr := engine.Call(context.Background(), eng, shellAdmin, engine.ShellInterrupt{SessionID: info.SessionID}); ierr != nil {
			t.Fatal(ierr)
		}
		select {
		case err = <-done:
			break wait
		case <-deadline:
			t.Fatal("Start-Sleep 30 was not interrupted")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !errors.Is(err, engine.ErrShellInterrupted) {
		t.Fatalf("interrupted line: %v", err)
	}
	hs := hostStats(t, fleet, d.Hostname)
	if hs.Signals < 1 || hs.ShellsOpen != 0 || hs.ShellsDeleted != 1 {
		t.Errorf("after the interrupt: %d signals, %d open, %d deleted; want the loop terminated and its shell deleted", hs.Signals, hs.ShellsOpen, hs.ShellsDeleted)
	}
	out, err := shellRun(eng, shellAdmin, info.SessionID, "hostname")
	if err != nil || strings.TrimSpace(out.Output) != d.Hostname {
		t.Fatalf("the line after the interrupt: %+v, %v", out, err)
	}
	if hs := hostStats(t, fleet, d.Hostname); hs.ShellsCreated != 2 || hs.ShellsOpen != 1 {
		t.Errorf("after the next line: %d created, %d open; want a fresh shell", hs.ShellsCreated, hs.ShellsOpen)
	}
}

func TestRemoteShellInterruptOfALineThatHasNotArrivedStopsIt(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 14})
	eng := newEngine(t, db, engine.Options{})
	d := onlineDevice(t, fleet, eng)
	info := openShell(t, eng, shellAdmin, d)
	run := func(seq int64, line string) (engine.ShellOutput, error) {
		return engine.Call(context.Background(), eng, shellAdmin, engine.ShellRun{SessionID: info.SessionID, Line: line, Seq: seq})
	}
	if _, err := run(1, "hostname"); err != nil {
		t.Fatal(err)
	}
	before := hostStats(t, fleet, d.Hostname)
	// ctrl+c on line 2 reaches the engine before line 2 does.
	if _, err := engine.Call(context.Background(), eng, shellAdmin, engine.ShellInterrupt{SessionID: info.SessionID, Seq: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(2, "Start-Sleep 30"); !errors.Is(err, engine.ErrShellInterrupted) {
		t.Fatalf("line 2 after its interrupt: %v, want ErrShellInterrupted at once", err)
	}
	if after := hostStats(t, fleet, d.Hostname); after.Sends != before.Sends {
		t.Errorf("line 2 reached the host (%d Sends, was %d)", after.Sends, before.Sends)
	}
	// The interrupt is for line 2 only: line 3 runs, on the same shell.
	out, err := run(3, "hostname")
	if err != nil || strings.TrimSpace(out.Output) != d.Hostname {
		t.Fatalf("line 3: %+v, %v", out, err)
	}
	if hs := hostStats(t, fleet, d.Hostname); hs.ShellsCreated != 1 {
		t.Errorf("%d shells created, want the session's one shell kept", hs.ShellsCreated)
	}
}

func TestRemoteShellsCloseWhenIdleAndWhenTheEngineCloses(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 13})
	eng := newEngine(t, db, engine.Options{})
	engine.SetShellIdle(eng, 50*time.Millisecond)
	d := onlineDevice(t, fleet, eng)
	openShell(t, eng, shellAdmin, d)
	waitFor(t, "the idle shell to close", func() bool { return eng.ShellSessions() == 0 && fleet.Stats().ShellsOpen == 0 })
	if s := fleet.Stats(); s.ShellsDeleted != 1 {
		t.Errorf("idle close: %d shells deleted, want a real Delete", s.ShellsDeleted)
	}

	engine.SetShellIdle(eng, time.Hour)
	a := openShell(t, eng, shellAdmin, d)
	openShell(t, eng, shellOther, d)
	go func() { _, _ = shellRun(eng, shellAdmin, a.SessionID, "Start-Sleep 30") }()
	waitFor(t, "the line to reach the host", func() bool { return hostStats(t, fleet, d.Hostname).Sends >= 1 })
	if got := fleet.Stats().ShellsOpen; got != 2 {
		t.Fatalf("%d shells open, want 2", got)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if s := fleet.Stats(); s.ShellsOpen != 0 {
		t.Errorf("after engine Close the simulator shows %d open shells, want 0", s.ShellsOpen)
	}
	if n := eng.ShellSessions(); n != 0 {
		t.Errorf("%d sessions after Close", n)
	}
}

func TestRemoteShellOnAnOfflineHostFailsAtOpen(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 14})
	eng := newEngine(t, db, engine.Options{})
	d := eng.Devices()[0]
	if err := fleet.SetOnline(d.Hostname, false); err != nil {
		t.Fatal(err)
	}
	_, err := engine.Call(context.Background(), eng, shellAdmin, engine.OpenShell{DeviceID: d.ID})
	if err == nil || winrm.ClassOf(err) != winrm.ClassDevice || !strings.Contains(err.Error(), d.Hostname) {
		t.Errorf("OpenShell on an offline host: %v (class %v)", err, winrm.ClassOf(err))
	}
	if eng.ShellSessions() != 0 {
		t.Error("a failed open left a session")
	}
}

// TestRemoteShellFollowsTheDeviceTransportPolicy: Basic over plain HTTP
// is refused for the pane as for polling, before any request reaches the
// host.
func TestRemoteShellFollowsTheDeviceTransportPolicy(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 15})
	eng := newEngine(t, db, engine.Options{})
	d := onlineDevice(t, fleet, eng)
	h, _ := fleet.Host(d.Hostname)
	no := false
	in := store.DeviceInput{Hostname: d.Hostname, IP: h.IP, Port: h.Port, Transport: "http", Site: d.Site, AllowUnencrypted: &no}
	if _, err := engine.Call(context.Background(), eng, shellAdmin, engine.ImportDevices{Source: "test", Devices: []store.DeviceInput{in}}); err != nil {
		t.Fatal(err)
	}
	_, err := engine.Call(context.Background(), eng, shellAdmin, engine.OpenShell{DeviceID: d.ID})
	if err == nil || winrm.ClassOf(err) != winrm.ClassConfiguration || !strings.Contains(err.Error(), "plain HTTP is refused") {
		t.Fatalf("OpenShell with Basic over HTTP: %v (class %v)", err, winrm.ClassOf(err))
	}
	if hs := hostStats(t, fleet, d.Hostname); hs.Requests != 0 {
		t.Errorf("%d requests reached the host", hs.Requests)
	}
}

// Newcomer: "$x = 5" then "$x" printed nothing; each line had its own
// scope. The pane's session keeps variables, functions and the location
// from line to line, as Enter-PSSession does, and says when a new
// runspace started (ctrl+c replaces the shell: the state is gone).
func TestTheRemoteShellKeepsItsStateFromLineToLine(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 12})
	eng := newEngine(t, db, engine.Options{})
	d := onlineDevice(t, fleet, eng)
	info := openShell(t, eng, shellAdmin, d)
	for i, st := range []struct{ line, want string }{
		{"$x = 5", ""},
		{"$x", "5"},
		{"function Where-Am-I { pwd }", ""},
		{`cd C:\Windows`, ""},
		{"Where-Am-I", `C:\Windows`},
	} {
		out, err := shellRun(eng, shellAdmin, info.SessionID, st.line)
		if err != nil {
			t.Fatalf("%q: %v", st.line, err)
		}
		if !strings.Contains(out.Output, st.want) || out.SessionLines != i+1 || out.Mode != engine.ModeWarm || len(out.Errors) != 0 {
			t.Errorf("%q: %+v; want %q and session line %d", st.line, out, st.want, i+1)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := shellRun(eng, shellAdmin, info.SessionID, "Start-Sleep 30")
		done <- err
	}()
	deadline := time.After(10 * time.Second)
wait:
	for {
		if _, err := engine.Call(context.Background(), eng, shellAdmin, engine.ShellInterrupt{SessionID: info.SessionID}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, engine.ErrShellInterrupted) {
				t.Fatalf("interrupted line: %v", err)
			}
			break wait
		case <-deadline:
			t.Fatal("Start-Sleep 30 was not interrupted")
		case <-time.After(20 * time.Millisecond):
		}
	}
	out, err := shellRun(eng, shellAdmin, info.SessionID, "$x")
	if err != nil || strings.TrimSpace(out.Output) != "" || out.SessionLines != 1 {
		t.Errorf("after ctrl+c: %+v, %v; want a new runspace (session line 1) without $x", out, err)
	}
}
