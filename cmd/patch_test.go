package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// TestPatchScanApproveInstallAndHistoryFromTheCommandLine drives the
// whole of rmm patch with --json against the simulator: scan, list, a
// refused approval (read-only), an approval by classification for the
// pilot ring, an install that restarts inside the device's maintenance
// window and goes round again, its status and history.
func TestPatchScanApproveInstallAndHistoryFromTheCommandLine(t *testing.T) {
	c, db, fleet := simCLI(t, winrmsim.Config{Devices: 4, Seed: 21, Profile: "server2022", ScriptTime: 2 * time.Millisecond,
		PatchInstallTime: 60 * time.Millisecond, ServicingTime: 200 * time.Millisecond, RebootDowntime: 200 * time.Millisecond})
	host := fleet.Hosts()[1].Hostname
	if err := fleet.SetPatchLevel(host, 1); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(`patches:
  poll_interval: 1s
  rings:
    - name: pilot
      devices: host=`+host+`
    - name: production
      after: pilot
      soak: 72h
  auto_approve:
    - name: pilot-security
      classifications: [Security Updates]
      rings: [pilot]
      deferral_days: 0
maintenance_windows:
  - name: always
    device: `+host+`
    every: daily 00:00 + 24h
`), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		return c.run(append([]string{"--db", db, "--config", cfg}, args...)...)
	}

	code, out, errb := run("patch", "scan", "--json")
	var scans []engine.PatchScanResult
	if code != 0 || json.Unmarshal([]byte(out), &scans) != nil || len(scans) != 4 {
		t.Fatalf("patch scan: exit %d %s %s", code, out, errb)
	}
	code, out, errb = run("patch", "list", "--json")
	var f engine.PatchFleet
	if code != 0 || json.Unmarshal([]byte(out), &f) != nil || len(f.Updates) == 0 || len(f.ByRing) != 2 {
		t.Fatalf("patch list: exit %d %s %s", code, out, errb)
	}
	before := f.ByRing[0]

	// A viewer (--read-only) may not approve: exit 3, audited.
	code, _, errb = run("--read-only", "patch", "approve", "--ring", "pilot", "--classification", "Security Updates")
	if code != 3 || !strings.Contains(errb, "permission denied") {
		t.Fatalf("read-only approve: exit %d %q", code, errb)
	}
	code, _, errb = run("patch", "approve", "KB1", "--ring", "pilot")
	if code != 2 || !strings.Contains(errb, "unknown update(s) KB1") {
		t.Fatalf("approve of an unknown KB: exit %d %q", code, errb)
	}
	// The rule approved the pilot's security updates at the scan (and
	// approves the .NET update a restart brings); critical updates are
	// approved by hand.
	code, out, errb = run("patch", "approve", "--ring", "pilot", "--classification", "Critical Updates", "--json")
	var ds []engine.PatchDecision
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil || len(ds) == 0 || ds[0].Decision != "approved" || ds[0].Effect != "installable now" {
		t.Fatalf("approve: exit %d %s %s", code, out, errb)
	}
	code, out, errb = run("patch", "approve", "--ring", "production", "--classification", "Critical Updates", "--json")
	if code != 2 || !strings.Contains(errb, "no device of ring production misses a Critical Updates update") {
		// Production's devices are up to date on these in this fleet, or
		// the approval waits for the pilot: either answer names why.
		if code != 0 || !strings.Contains(out, "waits for pilot") {
			t.Fatalf("approve for production: exit %d %s %s", code, out, errb)
		}
	}

	code, out, errb = run("patch", "install", "--target", host, "--wait", "--json")
	var pr engine.PatchRunInfo
	if err := json.Unmarshal([]byte(out), &pr); err != nil || len(pr.Jobs) != 1 {
		t.Fatalf("install: exit %d %s %s", code, out, errb)
	}
	j := pr.Jobs[0]
	if code != 0 || j.State != "completed" || j.Round != 2 || j.Installed < 2 {
		t.Fatalf("install --wait: exit %d, job %+v (%s)", code, j, errb)
	}

	code, out, _ = run("patch", "history", "--host", host, "--json")
	var hist []engine.PatchResultInfo
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil || len(hist) < 2 {
		t.Fatalf("history: exit %d %s", code, out)
	}
	code, out, _ = run("patch", "status", "--run", pr.RunID, "--json")
	var jobs []engine.PatchJobInfo
	if code != 0 || json.Unmarshal([]byte(out), &jobs) != nil || len(jobs) != 1 || jobs[0].State != "completed" {
		t.Fatalf("status: exit %d %s", code, out)
	}
	code, out, _ = run("patch", "list", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &f) != nil {
		t.Fatalf("list after: exit %d", code)
	}
	if after := f.ByRing[0]; after.Name != "pilot" || after.Compliant <= before.Compliant || after.Percent != 100 {
		t.Errorf("pilot compliance before %+v, after %+v", before, after)
	}
	code, out, _ = run("audit", "--json")
	for _, action := range []string{"patches.scan", "patches.approve", "patches.install", "patches.reboot", "patches.install.result"} {
		if !strings.Contains(out, `"`+action+`"`) {
			t.Errorf("no %s in the audit log (exit %d)", action, code)
		}
	}
	// Text output is ASCII and names the columns.
	code, out, _ = run("patch", "list", "--hosts")
	if code != 0 || !strings.Contains(out, "COMPLIANT") || !strings.Contains(out, "compliance ") {
		t.Errorf("list --hosts: exit %d %q", code, out)
	}
	for i, r := range out {
		if r > 0x7f {
			t.Fatalf("non-ASCII %q at %d", r, i)
		}
	}
}
