package winrmsim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

// TestTheOneLinersAnAdminTypes runs the common ad-hoc questions over real
// WinRM and checks what 5.1 prints for each; what the simulated host does
// not implement it says so.
func TestTheOneLinersAnAdminTypes(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 17})
	h := f.Hosts()[0]
	c := newClient(t, h, DefaultUser, DefaultPassword, nil)
	run := func(script string) (string, string, int) {
		t.Helper()
		out, errOut, code, err := c.RunWithContextWithString(t.Context(), winrm.Powershell(script), "")
		if err != nil {
			t.Fatalf("%q: %v", script, err)
		}
		return out, errOut, code
	}
	run("Start-Service Spooler")
	ver := psVersion(f.hosts[0])
	parts := strings.Split(ver, ".")
	tests := []struct {
		name, script, out string
	}{
		{"a property as a table, enums right-aligned", "Get-Service Spooler | Select Status", "\r\n Status\r\n ------\r\nRunning\r\n\r\n\r\n"},
		{"two properties", "Get-Service -Name spooler | Select-Object -Property Name,Status",
			"\r\nName     Status\r\n----     ------\r\nSpooler Running\r\n\r\n\r\n"},
		{"properties keep their own casing", "gsv spooler | select status, starttype", "\r\n Status StartType\r\n ------ ---------\r\nRunning Automatic\r\n\r\n\r\n"},
		{"-ExpandProperty prints the values", "Get-Service Spooler | Select-Object -ExpandProperty Status", "Running\r\n"},
		{"a property of a parenthesised cmdlet", "(Get-Service Spooler).Status", "Running\r\n"},
		{"an unknown property is an empty column", "Get-Service Spooler | Select Name, Nope", "\r\nName    Nope\r\n----    ----\r\nSpooler\r\n\r\n\r\n"},
		{"the PSVersion table", "$PSVersionTable.PSVersion",
			"\r\nMajor  Minor  Build  Revision\r\n-----  -----  -----  --------\r\n5      1      " + fmt.Sprintf("%-7s", parts[2]) + parts[3] + "\r\n\r\n\r\n"},
		{"PSVersion as text", "$PSVersionTable.PSVersion.ToString()", ver + "\r\n"},
		{"hostname", "hostname", h.Hostname + "\r\n"},
		{"the computer name", "$env:COMPUTERNAME", h.Hostname + "\r\n"},
		{"a process id", "Get-Process -Name lsass | Select -ExpandProperty Name", "lsass\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(tt.script)
			if code != 0 || out != tt.out {
				t.Errorf("%s: exit %d, stdout %q, want %q; stderr %s", tt.script, code, out, tt.out, errOut)
			}
		})
	}
	if out, _, _ := run("$PSVersionTable"); !strings.Contains(out, "PSVersion                      "+ver+"\r\n") || !strings.Contains(out, "PSEdition                      Desktop") {
		t.Errorf("$PSVersionTable:\n%s", out)
	}

	// What it does not implement it says so (pane.go runs Get-CimInstance,
	// Where-Object, ipconfig and Select -Last, which the ad-hoc branch's
	// simulator did not; these are what neither runs).
	for _, tt := range []struct{ script, says string }{
		{"Get-HotFix | Select HotFixID", "does not implement Get-HotFix"},
		{"Get-Service | Group-Object Status", "does not implement Group-Object"},
		{"systeminfo", "does not implement systeminfo"},
		{"Get-Service Spooler | Select-String Running", "does not implement Select-String"},
		// A name Windows would not know either: the simulator cannot tell
		// it from a real command it lacks, so it says the same (main's
		// rule since the pane: a simulator limit is never shown as an rmm
		// or a Windows one).
		{"Get-Nothing", "does not implement Get-Nothing"},
	} {
		_, errOut, code := run(tt.script)
		if code != 1 || !strings.Contains(errOut, "the simulated host "+tt.says) {
			t.Errorf("%s: exit %d, stderr %s; want it to say %q", tt.script, code, errOut, tt.says)
		}
	}
	// What the ad-hoc branch's simulator refused, pane.go runs.
	if out, errOut, code := run("Get-Service | Where-Object {$_.Status -eq 'Running'} | Select -ExpandProperty Name"); code != 0 || !strings.Contains(out, "Spooler\r\n") {
		t.Errorf("Where-Object after Get-Service: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if out, errOut, code := run("Get-Service Spooler, WinRM | Select -Last 1 -ExpandProperty Name"); code != 0 || out != "WinRM\r\n" {
		t.Errorf("Select -Last 1: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

func TestACommandTakesCommandTimeAndAMarkedScriptScriptTime(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 3, CommandTime: 300 * time.Millisecond, ScriptTime: 20 * time.Millisecond})
	s := startLoop(t, f, 0)
	s.until("READY")
	s.request("c1", "hostname")
	if a := s.answer("c1"); a.MS != 300 || a.Output != f.Hosts()[0].Hostname+"\r\n" {
		t.Errorf("a typed command: %+v, want 300 ms (CommandTime)", a)
	}
	s.request("m1", "# rmm:script=metrics v1\n")
	if a := s.answer("m1"); a.MS != 20 {
		t.Errorf("the metrics script took %d ms, want 20 (ScriptTime)", a.MS)
	}
}

func TestZoomReleasesDifferAcrossTheFleet(t *testing.T) {
	f, err := New(Config{Devices: 300, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	old, newer := 0, 0
	for _, h := range f.hosts {
		for _, a := range h.applications(f.epoch) {
			name, _ := a[0].v.(string)
			ver, _ := a[1].v.(string)
			if strings.HasPrefix(name, "Zoom") {
				if strings.HasPrefix(ver, "5.1") && ver < "5.17" {
					old++
				} else {
					newer++
				}
			}
		}
	}
	if old == 0 || newer == 0 {
		t.Errorf("Zoom older than 5.17 on %d hosts, newer on %d: want both", old, newer)
	}
}
