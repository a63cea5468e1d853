package winrmsim

import (
	"strings"
	"testing"

	"github.com/masterzen/winrm"
)

// TestRemotePowerShellServiceAndProcessCmdlets types what an operator
// types in a remote PowerShell pane, over real WinRM.
func TestRemotePowerShellServiceAndProcessCmdlets(t *testing.T) {
	f := startFleet(t, Config{Devices: 2, Seed: 17})
	c := newClient(t, f.Hosts()[0], DefaultUser, DefaultPassword, nil)
	run := func(script string) (string, string, int) {
		t.Helper()
		out, errOut, code, err := c.RunWithContextWithString(t.Context(), winrm.Powershell(script), "")
		if err != nil {
			t.Fatalf("%q: %v", script, err)
		}
		return out, errOut, code
	}

	out, _, code := run("Start-Service Spooler; Get-Service -Name spooler")
	if code != 0 || !strings.Contains(out, "Status   Name               DisplayName\r\n------   ----               -----------\r\nRunning  Spooler            Print Spooler\r\n") {
		t.Fatalf("Get-Service: exit %d\n%s", code, out)
	}
	if out, _, _ = run("Stop-Service -Name Spooler -Force -PassThru"); !strings.Contains(out, "Stopped  Spooler") {
		t.Fatalf("Stop-Service -PassThru:\n%s", out)
	}
	if s, _ := f.hosts[0].service("Spooler"); s.State != "Stopped" {
		t.Fatalf("Stop-Service did not stop the service: %+v", s)
	}
	if out, _, _ = run("Get-Service W32*,Spool*"); !strings.Contains(out, " W32Time ") || !strings.Contains(out, "Stopped  Spooler") {
		t.Fatalf("Get-Service wildcards:\n%s", out)
	}
	_, errOut, code := run("Get-Service nosuch")
	if code != 1 || !strings.Contains(errOut, "Get-Service : Cannot find any service with service name 'nosuch'.") || !strings.Contains(errOut, "NoServiceFoundForGivenName") {
		t.Fatalf("Get-Service nosuch: exit %d\n%s", code, errOut)
	}
	_, errOut, code = run("Stop-Service RpcSs")
	if code != 1 || !strings.Contains(errOut, "cannot be stopped") {
		t.Fatalf("Stop-Service RpcSs: exit %d\n%s", code, errOut)
	}
	run("Restart-Service Spooler")
	if s, _ := f.hosts[0].service("Spooler"); s.State != "Running" {
		t.Fatalf("Restart-Service left Spooler %s", s.State)
	}

	out, _, code = run("Get-Process -Name svchost")
	if code != 0 || !strings.Contains(out, "Handles  NPM(K)    PM(K)      WS(K)     CPU(s)     Id  SI ProcessName\r\n-------  ------    -----      -----     ------     --  -- -----------\r\n") || strings.Count(out, " svchost\r\n") < 40 {
		t.Fatalf("Get-Process svchost: exit %d\n%s", code, out)
	}
	if _, _, code = run("Stop-Process -Name WmiPrvSE -Force"); code != 0 {
		t.Fatalf("Stop-Process WmiPrvSE: exit %d", code)
	}
	_, errOut, code = run("Get-Process WmiPrvSE")
	if code != 1 || !strings.Contains(errOut, `Cannot find a process with the name "WmiPrvSE".`) {
		t.Fatalf("Get-Process after Stop-Process: exit %d\n%s", code, errOut)
	}
	_, errOut, code = run("Stop-Process -Id 4")
	if code != 1 || !strings.Contains(errOut, "Access is denied") {
		t.Fatalf("Stop-Process -Id 4: exit %d\n%s", code, errOut)
	}
	if out, _, _ = run("Get-Service Spooler | Format-Table"); !strings.Contains(out, "Running  Spooler") {
		t.Fatalf("piped to Format-Table:\n%s", out)
	}

	// Variables, as RunScript's parameter preamble sets them.
	out, _, code = run("$Name = 'Spool''er'\n$Greeting = \"svc=$Name on $env:COMPUTERNAME\"\nWrite-Output $Greeting\n\"$ cost\"")
	if code != 0 || out != "svc=Spool'er on "+f.Hosts()[0].Hostname+"\r\n$ cost\r\n" {
		t.Fatalf("variables: exit %d %q", code, out)
	}
}
