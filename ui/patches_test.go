package ui

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/rmmhq/rmm/engine"
)

// patchClient is fullClient with patch management: a fixed fleet picture
// (three updates, five hosts, one installing), for golden screens. The
// real engine's Patches view is TestThePatchesViewApprovesAndInstallsThroughARealEngine.
type patchClient struct {
	*fullClient
	pmu  sync.Mutex
	sent []engine.Request
}

func newPatchClient(ds []engine.DeviceState, role engine.Role) *patchClient {
	return &patchClient{fullClient: newFullClient(ds, role)}
}

// PatchRings implements PatchSource.
func (c *patchClient) PatchRings() []string { return []string{"pilot", "production"} }

func (c *patchClient) patchRequests() []engine.Request {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return append([]engine.Request(nil), c.sent...)
}

// Do answers the patch requests with the fixture; the rest as fullClient.
func (c *patchClient) Do(ctx context.Context, r engine.Request) (any, error) {
	switch r := r.(type) {
	case engine.ListPatches:
		return testPatchFleet(), nil
	case engine.GetDevicePatches:
		return testDevicePatches(r.Host), nil
	case engine.ApprovePatches, engine.InstallPatches, engine.ScanPatches, engine.CancelPatches:
		if c.role != 0 && !c.role.Can(r.Permission()) {
			return nil, &engine.DeniedError{Role: c.role, Action: r.Action()}
		}
		c.pmu.Lock()
		c.sent = append(c.sent, r)
		c.pmu.Unlock()
		switch r.(type) {
		case engine.ApprovePatches:
			return []engine.PatchDecision{{KB: "KB5050021", Ring: "pilot", Decision: "approved", Effect: "installable now"}}, nil
		case engine.InstallPatches:
			return engine.PatchRunInfo{RunID: "20260314-093000-abcdef", Jobs: []engine.PatchJobInfo{{ID: 9, State: "starting"}}}, nil
		}
		return nil, nil
	}
	return c.fullClient.Do(ctx, r)
}

func testPatchFleet() engine.PatchFleet {
	rel := time.Date(2026, 3, 10, 17, 0, 0, 0, time.UTC)
	job := &engine.PatchJobInfo{ID: 7, Host: "WS-0002", State: "installing", Round: 1, MaxRounds: 3,
		Progress: &engine.PatchProgressInfo{Phase: "installing", Current: 2, Total: 5, KB: "KB5050021", Percent: 20},
		Message:  "round 1: installing KB5050021 (2 of 5, 20% done)"}
	return engine.PatchFleet{
		At:    t0,
		Rings: []string{"pilot", "production"},
		Updates: []engine.PatchUpdateRow{
			{UpdateID: "u1", KB: "KB5050021", Title: "2026-03 Cumulative Update for Windows 11 Version 24H2 for x64-based Systems (KB5050021)",
				Classification: "Security Updates", Severity: "Critical", SizeBytes: 700 << 20, RebootBehavior: "always", Released: rel,
				Counts: engine.Counts{engine.PatchApproved: 1, engine.PatchInstalling: 1, engine.PatchGated: 2},
				Rings:  map[string]string{"pilot": "approved", "production": "gated: waits for pilot: 0 of 1 device(s) tried it"}},
			{UpdateID: "u2", KB: "KB5034441", Title: "2024-01 Security Update for Windows 10 Version 22H2 for x64-based Systems (KB5034441)",
				Classification: "Security Updates", Severity: "Important", RebootBehavior: "always",
				Counts: engine.Counts{engine.PatchFailed: 2, engine.PatchNeedsApproval: 1},
				Rings:  map[string]string{"pilot": "approved", "production": "needs-approval"}},
			{UpdateID: "u3", KB: "KB2267602", Title: "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.441.212.0)",
				Classification: "Definition Updates", RebootBehavior: "never",
				Counts: engine.Counts{engine.PatchApproved: 4},
				Rings:  map[string]string{"pilot": "approved", "production": "approved"}},
		},
		Hosts: []engine.PatchHostRow{
			{Hostname: "WS-0001", Ring: "pilot", Site: "London", ScannedAt: t0.Add(-time.Hour), Service: "WSUS", Counts: engine.Counts{engine.PatchApproved: 2}, Security: 1},
			{Hostname: "WS-0002", Ring: "pilot", Site: "Paris", ScannedAt: t0.Add(-time.Hour), Service: "Windows Update", Counts: engine.Counts{engine.PatchInstalling: 1}, Security: 1, Job: job},
			{Hostname: "WS-0003", Ring: "production", Site: "Frankfurt-DC2", ScannedAt: t0.Add(-2 * time.Hour), Counts: engine.Counts{engine.PatchFailed: 1, engine.PatchGated: 1}, Security: 2},
			{Hostname: "WS-0004", Ring: "production", Site: "New York", ScannedAt: t0.Add(-2 * time.Hour), Counts: engine.Counts{}, Compliant: true},
			{Hostname: "WS-0005", Ring: "production", Site: "Sydney-Branch-Office-North", ScanError: "0x8024401C WU_E_PT_HTTP_STATUS_REQUEST_TIMEOUT", ScannedAt: t0.Add(-3 * time.Hour), Counts: engine.Counts{}},
		},
		Compliance: engine.ComplianceRow{By: "fleet", Name: "fleet", Devices: 5, Scanned: 4, Compliant: 1, Percent: 25},
		ByRing: []engine.ComplianceRow{{By: "ring", Name: "pilot", Devices: 2, Scanned: 2, Percent: 0},
			{By: "ring", Name: "production", Devices: 3, Scanned: 2, Compliant: 1, Percent: 50}},
	}
}

func testDevicePatches(host string) engine.PatchDeviceView {
	f := testPatchFleet()
	v := engine.PatchDeviceView{Host: f.Hosts[1], Jobs: []engine.PatchJobInfo{*f.Hosts[1].Job}}
	v.Host.Hostname = host
	v.Updates = []engine.PatchDeviceUpdate{
		{PatchUpdateRow: f.Updates[0], State: engine.PatchInstalling},
		{PatchUpdateRow: f.Updates[1], State: engine.PatchFailed,
			Reason: "0x80070643 ERROR_INSTALL_FAILURE (fatal error during installation); fix: for KB5034441 the recovery (WinRE) partition is too small"},
		{PatchUpdateRow: f.Updates[2], State: engine.PatchInstalled},
	}
	return v
}

func TestPatchesGoldenScreens(t *testing.T) {
	tests := []struct {
		name  string
		theme string
		w, h  int
		keys  []string
		wait  string
		role  engine.Role
		after []string // sent once wait is on screen
		then  string   // what the screen shows after them
	}{
		{"updates_ascii_80x24", "ascii", 80, 24, nil, "KB5050021", engine.RoleOperator, nil, ""},
		{"hosts_ascii_80x24", "ascii", 80, 24, []string{"tab", "j"}, "WS-0005", engine.RoleOperator, nil, ""},
		{"host_ascii_80x24", "ascii", 80, 24, []string{"tab", "j", "enter"}, "job 7 installing", engine.RoleOperator, []string{"j"}, "ERROR_INSTALL_FAILURE"},
		{"update_ascii_80x24", "ascii", 80, 24, []string{"enter"}, "ring production", engine.RoleOperator, nil, ""},
		{"viewer_ascii_80x24", "ascii", 80, 24, nil, "KB5050021", engine.RoleViewer, nil, ""},
		{"updates_120x40", "default", 120, 40, nil, "KB5050021", engine.RoleOperator, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newPatchClient(detailFleet(), tt.role)
			tm := startConsole(t, c, Options{Theme: tt.theme, Title: "Contoso MSP", User: "alice", Role: tt.role.String()}, tt.w, tt.h)
			waitFor(t, tm, "WS-0001")
			send(tm, ":")
			for _, r := range "patches" {
				send(tm, string(r))
			}
			send(tm, "enter")
			if len(tt.keys) == 0 {
				waitFor(t, tm, "compliance", tt.wait)
			} else {
				waitFor(t, tm, "compliance")
				send(tm, tt.keys...)
				waitFor(t, tm, tt.wait)
			}
			if len(tt.after) > 0 {
				send(tm, tt.after...)
				waitFor(t, tm, tt.then)
			}
			m := finish(t, tm)
			content := m.View().Content
			if tt.theme == "ascii" {
				requireASCII(t, "view", []byte(content))
				out, _ := io.ReadAll(tm.FinalOutput(t))
				requireASCII(t, "terminal output", out)
			}
			golden.RequireEqual(t, ansi.Strip(content))
		})
	}
}

func TestPatchKeysAskFirstAndAViewerIsToldTheRole(t *testing.T) {
	open := func(role engine.Role) (*patchClient, Model) {
		c := newPatchClient(detailFleet(), role)
		m := loadedWith(t, c, Options{Role: role.String()}, 80, 24)
		m, _ = m.switchTo(pagePatches)
		m = update(m, m.loadPatches()())
		return c, m
	}
	c, m := open(engine.RoleOperator)
	m = update(m, keyPress("a"))
	if !strings.Contains(screenText(m), "Approve KB5050021 for ring pilot? y/n") || len(c.patchRequests()) != 0 {
		t.Fatalf("a: %q, sent %v", lineWith(screenText(m), "y/n"), c.patchRequests())
	}
	m = update(m, keyPress("n"))
	if len(c.patchRequests()) != 0 {
		t.Fatal("n sent the approval")
	}
	m = update(m, keyPress("R"), keyPress("a"))
	nm, cmd := m.Update(keyPress("y"))
	m = nm.(Model)
	m = update(m, cmd())
	reqs := c.patchRequests()
	if len(reqs) != 1 {
		t.Fatalf("y sent %v", reqs)
	}
	if a, ok := reqs[0].(engine.ApprovePatches); !ok || a.Ring != "production" || a.KBs[0] != "u1" {
		t.Errorf("approval sent: %+v", reqs[0])
	}
	if !strings.Contains(m.toast.text, "decision(s) recorded") {
		t.Errorf("toast %q", m.toast.text)
	}
	// I installs every approved update on the ring.
	m = update(m, keyPress("R"), keyPress("I"))
	if !strings.Contains(screenText(m), "Install every approved update on ring pilot (2 devices") {
		t.Fatalf("I: %q", lineWith(screenText(m), "y/n"))
	}

	vc, vm := open(engine.RoleViewer)
	for _, k := range []string{"a", "d", "A", "i", "I", "x"} {
		vm = update(vm, keyPress(k))
		if !strings.Contains(vm.toast.text, "needs the Operator role (you are Viewer)") {
			t.Errorf("%s as a viewer: toast %q", k, vm.toast.text)
		}
	}
	if len(vc.patchRequests()) != 0 {
		t.Errorf("a viewer's keys sent %v", vc.patchRequests())
	}
}
