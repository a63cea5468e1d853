package winrmsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

func TestIdentifyAnswersLikeWindows(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	h := f.Hosts()[0]
	tests := []struct {
		name        string
		path        string
		user        string
		header      http.Header
		wantStatus  int
		wantVersion string
	}{
		{"an authenticated caller learns the OS version", "/wsman", DefaultUser, nil, 200, "OS: " + h.OSVersion + " SP: 0.0 Stack: 3.0"},
		{"an unauthenticated Identify gets a version of zero", "/wsman", "", http.Header{"Wsmanidentify": {"unauthenticated"}}, 200, "OS: 0.0.0 SP: 0.0 Stack: 3.0"},
		{"the anonymous path answers without credentials", "/wsman-anon/identify", "", nil, 200, "OS: 0.0.0 SP: 0.0 Stack: 3.0"},
		{"no credentials and no identify header is refused", "/wsman", "", nil, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRawClient(t, h)
			c.url = strings.TrimSuffix(c.url, "/wsman") + tt.path
			c.user = tt.user
			status, body, err := c.tryPost(fixture(t, "identify.xml"), tt.header)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.wantStatus {
				t.Fatalf("HTTP %d, want %d: %s", status, tt.wantStatus, body)
			}
			if tt.wantVersion == "" {
				return
			}
			for _, want := range []string{"<wsmid:IdentifyResponse", "<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>", tt.wantVersion, "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>"} {
				if !strings.Contains(body, want) {
					t.Errorf("reply lacks %q: %s", want, body)
				}
			}
		})
	}
}

func TestAWrongPasswordIsRefusedWith401(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, User: "admin", Password: "s3cret"})
	h := f.Hosts()[0]

	_, _, _, err := newClient(t, h, "admin", "wrong", nil).RunCmdWithContext(context.Background(), "hostname")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("run with a wrong password: err = %v, want an HTTP 401 error", err)
	}
	if out, _, _, err := newClient(t, h, "admin", "s3cret", nil).RunCmdWithContext(context.Background(), "hostname"); err != nil || out != h.Hostname+"\r\n" {
		t.Fatalf("run with the right password = %q, %v", out, err)
	}

	req, _ := http.NewRequest(http.MethodPost, "http://"+h.IP+":"+strconv.Itoa(h.Port)+"/wsman", strings.NewReader(fixture(t, "identify.xml")))
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth("admin", "nope")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("HTTP %d, want 401", resp.StatusCode)
	}
	if got := resp.Header.Values("WWW-Authenticate"); !contains(got, `Basic realm="WSMAN"`) || !contains(got, "Negotiate") {
		t.Errorf("WWW-Authenticate = %q, want Negotiate and Basic realm=\"WSMAN\"", got)
	}
	if hs, _ := f.HostStats(h.Hostname); hs.AuthFailures < 2 {
		t.Errorf("AuthFailures = %d, want at least 2", hs.AuthFailures)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestCommandsAnswerLikeWindows(t *testing.T) {
	f := startFleet(t, Config{Devices: 2, Seed: 1})
	h := f.Hosts()[0]
	client := newClient(t, h, DefaultUser, DefaultPassword, nil)
	tests := []struct {
		name       string
		command    string
		wantOut    string // exact stdout, unless wantOutHas is set
		wantOutHas string
		wantErrHas string
		wantCode   int
	}{
		{"hostname prints the host name", "hostname", h.Hostname + "\r\n", "", "", 0},
		{"whoami prints host backslash user in lower case", "whoami", strings.ToLower(h.Hostname) + `\rmm` + "\r\n", "", "", 0},
		{"echo prints its argument", "echo hi", "hi\r\n", "", "", 0},
		{"cmd expands environment variables", "echo %COMPUTERNAME%", h.Hostname + "\r\n", "", "", 0},
		{"cmd /c runs a sequence", `cmd /c "echo a && echo b"`, "a\r\nb\r\n", "", "", 0},
		{"a failed command stops an && sequence", "nosuch && echo never", "", "", "'nosuch' is not recognized", 9009},
		{"ipconfig shows an IPv4 address", "ipconfig", "", "IPv4 Address. . . . . . . . . . . : 10.", "", 0},
		{"ver shows the OS build", "ver", "", "[Version " + h.OSVersion + ".", "", 0},
		{"exit /b sets the exit code", "exit /b 7", "", "", "", 7},
		{"an unknown command is not recognized by cmd.exe", "nosuchcmd /x", "", "", "'nosuchcmd' is not recognized as an internal or external command,\r\noperable program or batch file.", 9009},
		{"powershell prints literals and environment variables", winrm.Powershell("Write-Output 'hello'; $env:COMPUTERNAME"), "hello\r\n" + h.Hostname + "\r\n", "", "#< CLIXML\r\n", 0},
		{"powershell -Command runs plain text", `powershell.exe -NoProfile -NonInteractive -Command "hostname"`, h.Hostname + "\r\n", "", "", 0},
		{"powershell exit sets the exit code", winrm.Powershell("exit 3"), "", "", "", 3},
		{"powershell reports an unknown cmdlet in CLIXML", winrm.Powershell("Get-NoSuchThing"), "", "", "the simulated host does not implement Get-NoSuchThing", 1},
		{"powershell -enc is -EncodedCommand", strings.Replace(winrm.Powershell("hostname"), "-EncodedCommand", "-NoProfile -enc", 1), h.Hostname + "\r\n", "", "", 0},
		{"powershell -e is -EncodedCommand", strings.Replace(winrm.Powershell("hostname"), "-EncodedCommand", "-NonInteractive -e", 1), h.Hostname + "\r\n", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code, err := client.RunCmdWithContext(context.Background(), tt.command)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if tt.wantOutHas != "" {
				if !strings.Contains(out, tt.wantOutHas) {
					t.Errorf("stdout = %q, want it to contain %q", out, tt.wantOutHas)
				}
			} else if out != tt.wantOut {
				t.Errorf("stdout = %q, want %q", out, tt.wantOut)
			}
			if tt.wantErrHas != "" && !strings.Contains(errOut, tt.wantErrHas) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tt.wantErrHas)
			}
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
		})
	}
}

// metricsDoc is metrics.ps1's output; disks is an array or, as Windows
// PowerShell 5.1 unrolls a one-item array, a bare object.
type metricsDoc struct {
	Hostname   string          `json:"hostname"`
	CPUPct     float64         `json:"cpu_pct"`
	MemPct     float64         `json:"mem_pct"`
	MemTotalMB int64           `json:"mem_total_mb"`
	LastBoot   string          `json:"last_boot"`
	Disks      json.RawMessage `json:"disks"`
}

type metricsDisk struct {
	Drive   string  `json:"drive"`
	SizeGB  float64 `json:"size_gb"`
	FreeGB  float64 `json:"free_gb"`
	FreePct float64 `json:"free_pct"`
}

func TestTheMetricsScriptAnswersAsOnWindows(t *testing.T) {
	script, err := os.ReadFile("../scripts/metrics.ps1")
	if err != nil {
		t.Fatalf("the real metrics script: %v", err)
	}
	f := startFleet(t, Config{Devices: 60, Seed: 9})
	// One host of each shape the engine's parser must cope with.
	var unwrapped, wrapped, several *host
	for _, h := range f.hosts {
		switch {
		case len(h.prof.volumes) == 1 && h.prof.unwrapDisks && unwrapped == nil:
			unwrapped = h
		case len(h.prof.volumes) == 1 && !h.prof.unwrapDisks && wrapped == nil:
			wrapped = h
		case len(h.prof.volumes) > 1 && several == nil:
			several = h
		}
	}
	if unwrapped == nil || wrapped == nil || several == nil {
		t.Fatal("seed 9 lacks a host of every disk shape")
	}
	tests := []struct {
		name       string
		h          *host
		wantObject bool
	}{
		{"a one-disk host may print disks as a bare object", unwrapped, true},
		{"a one-disk host may print disks as an array", wrapped, false},
		{"a host with several disks prints an array", several, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, _ := f.Host(tt.h.name)
			// As rmm runs it: over stdin. On the command line (masterzen's
			// RunPSWithContext, through cmd.exe) the encoded script is
			// longer than cmd.exe's 8,191 characters.
			out, errOut, code := runCold(t, info, string(script))
			if code != 0 {
				t.Fatalf("run: code %d, stderr %q", code, errOut)
			}
			if !strings.HasPrefix(errOut, "#< CLIXML\r\n") || !strings.Contains(errOut, `<Obj S="progress"`) || strings.Contains(errOut, `S="Error"`) {
				t.Errorf("stderr is not a lone CLIXML progress record: %q", errOut)
			}
			if !strings.HasSuffix(out, "}\r\n") || strings.Count(out, "\n") != 1 {
				t.Errorf("stdout is not one line of JSON: %q", out)
			}
			if !regexp.MustCompile(`"last_boot":"\\/Date\(\d+\)\\/"`).MatchString(out) {
				t.Errorf(`last_boot is not "\/Date(ms)\/": %s`, out)
			}
			var doc metricsDoc
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("stdout is not JSON: %v: %s", err, out)
			}
			var disks []metricsDisk
			if isObject := strings.HasPrefix(string(doc.Disks), "{"); isObject != tt.wantObject {
				t.Fatalf("disks = %s, want object %v", doc.Disks, tt.wantObject)
			} else if isObject {
				var d metricsDisk
				err = json.Unmarshal(doc.Disks, &d)
				disks = []metricsDisk{d}
			} else {
				err = json.Unmarshal(doc.Disks, &disks)
			}
			if err != nil {
				t.Fatalf("disks: %v", err)
			}
			m, _ := f.Metrics(tt.h.name, time.Now())
			if doc.Hostname != tt.h.name || doc.MemTotalMB != m.MemTotalMB || len(disks) != len(m.Disks) {
				t.Errorf("doc = %+v, want host %s with %d MB and %d disks", doc, tt.h.name, m.MemTotalMB, len(m.Disks))
			}
			if doc.LastBoot != "/Date("+strconv.FormatInt(m.LastBoot.UnixMilli(), 10)+")/" {
				t.Errorf("last_boot = %s, want %v", doc.LastBoot, m.LastBoot)
			}
			if doc.CPUPct <= 0 || doc.CPUPct > 100 || doc.MemPct <= 0 || doc.MemPct > 100 {
				t.Errorf("cpu %v, mem %v out of range", doc.CPUPct, doc.MemPct)
			}
			for i, d := range disks {
				wantSize := psRound1(float64(m.Disks[i].SizeBytes) / gib)
				if d.Drive != m.Disks[i].Drive || d.SizeGB != wantSize || d.FreeGB > d.SizeGB || d.FreePct <= 0 || d.FreePct > 100 {
					t.Errorf("disk %d = %+v, want %s of %v GB", i, d, m.Disks[i].Drive, wantSize)
				}
			}
		})
	}
}

func TestAnUnknownScriptFailsWithACommandNotFoundRecord(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, ScriptTime: time.Hour})
	client := newClient(t, f.Hosts()[0], DefaultUser, DefaultPassword, nil)
	out, errOut, code, err := client.RunPSWithContext(context.Background(), "# rmm:script=inventory v3\nGet-Inventory | ConvertTo-Json")
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, want := range []string{"#< CLIXML\r\n", `<S S="Error">inventory-v3 : The term 'inventory-v3' is not recognized`, "CommandNotFoundException"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q: %q", want, errOut)
		}
	}
}

func TestAnUnknownShellIsAFault(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	c := newRawClient(t, f.Hosts()[0])
	status, body := c.post(t, fixture(t, "receive_unknown_shell.xml"))
	if status != 500 {
		t.Fatalf("HTTP %d, want 500", status)
	}
	if code := faultCode(body); code != "2150858843" {
		t.Fatalf("fault code %q, want 2150858843: %s", code, body)
	}
	if !strings.Contains(body, "The request for the Windows Remote Shell with ShellId 11111111-2222-4333-8444-555555555555 failed because the shell was not found on the server.") {
		t.Errorf("the message does not name the shell: %s", body)
	}
	if !strings.Contains(body, "<a:RelatesTo>uuid:0d4b7c1e-6a3f-4f7e-9a55-3b1f0c2d9e11</a:RelatesTo>") {
		t.Errorf("the fault does not relate to the request's MessageID: %s", body)
	}
	golden(t, "faults/shell_not_found.xml", normalize(body))
	if hs, _ := f.HostStats(f.Hosts()[0].Hostname); hs.Faults != 1 {
		t.Errorf("Faults = %d, want 1", hs.Faults)
	}
}

func TestBadRequestsGetTheFaultsWindowsSends(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	c := newRawClient(t, f.Hosts()[0])
	shell := c.createShell(t)
	createCmd := strings.Replace(winrm.NewOpenShellRequest(c.url, c.params).String(), "windows/shell/cmd<", "windows/shell/powershell<", 1)
	noSelector := regexp.MustCompile(`<w:SelectorSet>.*?</w:SelectorSet>`).ReplaceAllString(
		strings.ReplaceAll(winrm.NewDeleteShellRequest(c.url, shell, c.params).String(), "\n", ""), "")
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string
		golden     string
	}{
		{"XML that does not parse is a 400 schema fault", fixture(t, "malformed.xml"), 400, "2150858817", "faults/malformed.xml"},
		{"an action the host does not serve is not supported", fixture(t, "enumerate_wmi.xml"), 500, "2150858771", "faults/action_not_supported.xml"},
		{"a shell of another resource URI is not in the catalog", createCmd, 500, "2150858770", ""},
		{"a Delete without a ShellId lacks selectors", noSelector, 500, "2150858842", ""},
		{"a Receive for an unknown command names no command", receiveRequest(c, shell, "00000000-0000-4000-8000-000000000000", "PT1S"), 500, "2150858843", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := c.post(t, tt.body)
			if status != tt.wantStatus || faultCode(body) != tt.wantCode {
				t.Fatalf("HTTP %d code %q, want %d and %s: %s", status, faultCode(body), tt.wantStatus, tt.wantCode, body)
			}
			if !strings.Contains(body, "<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action>") {
				t.Errorf("no fault action: %s", body)
			}
			if tt.golden != "" {
				golden(t, tt.golden, normalize(body))
			}
		})
	}
}

func TestADeletedShellCannotBeReused(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	client := newClient(t, f.Hosts()[0], DefaultUser, DefaultPassword, nil)
	shell, err := client.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	if err := shell.Close(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = shell.ExecuteWithContext(context.Background(), "hostname")
	if code := clientFaultCode(err); code != "2150858843" {
		t.Fatalf("Command on a deleted shell: err = %v (code %q), want fault 2150858843", err, code)
	}

	// masterzen/winrm ignores the reply to Delete, so check it raw.
	c := newRawClient(t, f.Hosts()[0])
	id := c.createShell(t)
	deleteReq := winrm.NewDeleteShellRequest(c.url, id, c.params).String()
	if status, body := c.post(t, deleteReq); status != 200 || !strings.Contains(body, "transfer/DeleteResponse") {
		t.Fatalf("Delete: HTTP %d: %s", status, body)
	}
	if status, body := c.post(t, deleteReq); status != 500 || faultCode(body) != "2150858843" {
		t.Fatalf("second Delete: HTTP %d code %q, want fault 2150858843", status, faultCode(body))
	}
}

func TestReceiveTimesOutWhileAScriptIsStillRunning(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, ScriptTime: 2 * time.Second})
	c := newRawClient(t, f.Hosts()[0])
	shell := c.createShell(t)
	cmd := c.command(t, shell, winrm.Powershell("# rmm:script=metrics v1\n"))

	start := time.Now()
	status, body := c.receive(t, shell, cmd, "PT0.200S")
	took := time.Since(start)
	if status != 500 || faultCode(body) != "2150858793" {
		t.Fatalf("HTTP %d code %q, want 500 and 2150858793: %s", status, faultCode(body), body)
	}
	if !strings.Contains(body, "<s:Value>w:TimedOut</s:Value>") || !strings.Contains(body, "OperationTimeout") {
		t.Errorf("not the TimedOut fault masterzen/winrm retries on: %s", body)
	}
	// A lower bound only: the host must wait out the OperationTimeout
	// before it answers TimedOut. That it does not hang shows in the
	// next Receive, which gets the output.
	if took < 200*time.Millisecond {
		t.Errorf("the TimedOut fault came after %v, before the 200ms OperationTimeout", took)
	}
	golden(t, "faults/timed_out.xml", normalize(body))

	// The next, longer Receive gets the output once the script is done.
	status, body = c.receive(t, shell, cmd, "PT10S")
	if status != 200 || !strings.Contains(body, "CommandState/Done") || exitCodeRe.FindStringSubmatch(body)[1] != "0" {
		t.Fatalf("HTTP %d: %s", status, body)
	}
}

func TestOperationTimeoutMaxCapsTheLongPoll(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, OperationTimeoutMax: 150 * time.Millisecond})
	c := newRawClient(t, f.Hosts()[0])
	shell := c.createShell(t)
	cmd := c.command(t, shell, "more") // waits for stdin forever
	start := time.Now()
	status, body := c.receive(t, shell, cmd, "PT60S")
	if status != 500 || faultCode(body) != "2150858793" {
		t.Fatalf("HTTP %d code %q: %s", status, faultCode(body), body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a PT60S Receive took %v under a 150ms cap", took)
	}
}

func TestStdinReachesTheCommand(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	client := newClient(t, f.Hosts()[0], DefaultUser, DefaultPassword, nil)
	tests := []struct {
		name     string
		command  string
		stdin    string
		wantOut  string
		wantCode int
	}{
		{"more copies its input", "more", "one\r\ntwo\r\n", "one\r\ntwo\r\n", 0},
		{"findstr keeps matching lines", "findstr /i hello", "Hello world\r\nbye\r\nsay HELLO\r\n", "Hello world\r\nsay HELLO\r\n", 0},
		{"findstr with no match exits 1", "findstr nothing", "a\r\nb\r\n", "", 1},
		{"sort sorts its input", "sort", "pear\r\napple\r\nFig\r\n", "apple\r\nFig\r\npear\r\n", 0},
		{"powershell -Command - runs a script from stdin", "powershell -NoProfile -Command -", "Write-Output 'from stdin'\r\n", "from stdin\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, code, err := client.RunWithContextWithString(context.Background(), tt.command, tt.stdin)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.wantOut || code != tt.wantCode {
				t.Errorf("got %q exit %d, want %q exit %d", out, code, tt.wantOut, tt.wantCode)
			}
		})
	}
}

func TestTheShellQuotaFaultsAfter30OpenShells(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	h := f.Hosts()[0]
	client := newClient(t, h, DefaultUser, DefaultPassword, nil)
	var shells []*winrm.Shell
	for i := range 30 {
		s, err := client.CreateShell()
		if err != nil {
			t.Fatalf("shell %d: %v", i+1, err)
		}
		shells = append(shells, s)
	}
	_, err := client.CreateShell()
	var ece *winrm.ExecuteCommandError
	if !errors.As(err, &ece) || faultCode(ece.Body) != "2150859173" ||
		!strings.Contains(ece.Body, "This user is allowed a maximum number of 30 concurrent shells, which has been exceeded.") {
		t.Fatalf("shell 31: err = %v, want the quota fault 2150859173", err)
	}
	golden(t, "faults/shell_quota.xml", normalize(ece.Body))
	if err := shells[0].Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateShell(); err != nil {
		t.Fatalf("a shell after closing one: %v", err)
	}
	if hs, _ := f.HostStats(h.Hostname); hs.ShellsOpen != 30 || hs.ShellsCreated != 31 || hs.ShellsDeleted != 1 {
		t.Errorf("HostStats = %+v, want 30 open, 31 created, 1 deleted", hs)
	}
}

func TestCountersFollowShellsAndCommands(t *testing.T) {
	f := startFleet(t, Config{Devices: 2, Seed: 1})
	a, b := f.Hosts()[0], f.Hosts()[1]
	if _, _, _, err := newClient(t, a, DefaultUser, DefaultPassword, nil).RunCmdWithContext(context.Background(), "hostname"); err != nil {
		t.Fatal(err)
	}
	hs, _ := f.HostStats(a.Hostname)
	want := HostStats{Requests: hs.Requests, Connections: hs.Connections, ShellsCreated: 1, ShellsOpen: 0, ShellsDeleted: 1, Commands: 1,
		Creates: 1, CommandRequests: 1, Receives: hs.Receives, Signals: 1, Deletes: 1}
	if hs != want || hs.Requests < 5 || hs.Connections < 1 || hs.Connections > hs.Requests { // create, command, receive, signal, delete
		t.Errorf("after one run: %+v, want %+v with at least 5 requests over 1 to 5 connections", hs, want)
	}

	client := newClient(t, b, DefaultUser, DefaultPassword, nil)
	shell, err := client.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Stats(); s.ShellsOpen != 1 || s.ShellsCreated != 2 {
		t.Errorf("with one shell open: %+v", s)
	}
	if err := shell.Close(); err != nil {
		t.Fatal(err)
	}
	s := f.Stats()
	if s.ShellsOpen != 0 || s.ShellsDeleted != 2 || s.Commands != 1 || s.Requests != hs.Requests+2 {
		t.Errorf("fleet totals %+v, want nothing open, 2 deleted, 1 command, %d requests", s, hs.Requests+2)
	}
	if _, ok := f.HostStats("NOPE"); ok {
		t.Error("HostStats found an unknown host")
	}
}

func TestSignalsStopACommand(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, ScriptTime: time.Hour})
	c := newRawClient(t, f.Hosts()[0])
	shell := c.createShell(t)
	signal := func(cmd, code string) (int, string) {
		req := winrm.NewSignalRequest(c.url, shell, cmd, c.params).String()
		return c.post(t, strings.Replace(req, "signal/terminate", "signal/"+code, 1))
	}

	cmd := c.command(t, shell, winrm.Powershell("# rmm:script=metrics v1\n"))
	if status, body := signal(cmd, "ctrl_c"); status != 200 || !strings.Contains(body, "SignalResponse") {
		t.Fatalf("ctrl_c: HTTP %d: %s", status, body)
	}
	status, body := c.receive(t, shell, cmd, "PT5S")
	if status != 200 || !strings.Contains(body, "CommandState/Done") || exitCodeRe.FindStringSubmatch(body)[1] != strconv.Itoa(ctrlCExitCode) {
		t.Fatalf("after ctrl_c: HTTP %d: %s", status, body)
	}

	cmd = c.command(t, shell, "more")
	if status, body := signal(cmd, "terminate"); status != 200 {
		t.Fatalf("terminate: HTTP %d: %s", status, body)
	}
	if status, body := c.receive(t, shell, cmd, "PT1S"); status != 500 || faultCode(body) != "2150858843" {
		t.Fatalf("Receive after terminate: HTTP %d code %q: %s", status, faultCode(body), body)
	}
}

func TestADeleteWakesAWaitingReceive(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	c := newRawClient(t, f.Hosts()[0])
	shell := c.createShell(t)
	cmd := c.command(t, shell, "more")
	type reply struct {
		status int
		body   string
	}
	got := make(chan reply, 1)
	go func() {
		status, body, _ := c.tryPost(receiveRequest(c, shell, cmd, "PT30S"), nil)
		got <- reply{status, body}
	}()
	time.Sleep(100 * time.Millisecond)
	if status, body := c.post(t, winrm.NewDeleteShellRequest(c.url, shell, c.params).String()); status != 200 {
		t.Fatalf("Delete: HTTP %d: %s", status, body)
	}
	select {
	case r := <-got:
		if r.status != 500 || faultCode(r.body) != "995" {
			t.Errorf("the waiting Receive got HTTP %d code %q, want the aborted fault 995", r.status, faultCode(r.body))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting Receive did not return after Delete")
	}
}

func TestLargeOutputIsSplitAcrossReceives(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	h := f.Hosts()[0]
	params := winrm.NewParameters("PT60S", "en-US", 4096) // 1536 bytes of output per Receive
	text := strings.Repeat("0123456789abcdef", 400)       // 6400 bytes
	out, _, code, err := newClient(t, h, DefaultUser, DefaultPassword, params).RunCmdWithContext(context.Background(), "echo "+text)
	if err != nil || code != 0 {
		t.Fatalf("run: %d %v", code, err)
	}
	if out != text+"\r\n" {
		t.Fatalf("got %d bytes back, want %d", len(out), len(text)+2)
	}
	// create, command, 5 receives, signal, delete
	if hs, _ := f.HostStats(h.Hostname); hs.Requests < 9 {
		t.Errorf("%d requests, want the output split over at least 5 Receives", hs.Requests)
	}
}

func TestLatencySettingsDelayTheAnswer(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		command string
		atLeast time.Duration
	}{
		{"RTT delays every request", Config{RTT: 40 * time.Millisecond}, "hostname", 5 * 40 * time.Millisecond},
		{"PSStart delays powershell output", Config{PSStart: 300 * time.Millisecond}, winrm.Powershell("hostname"), 300 * time.Millisecond},
		{"ScriptTime delays a recognised script", Config{ScriptTime: 300 * time.Millisecond}, winrm.Powershell("# rmm:script=metrics v1\n"), 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Devices, tt.cfg.Seed = 1, 1
			f := startFleet(t, tt.cfg)
			start := time.Now()
			_, _, code, err := newClient(t, f.Hosts()[0], DefaultUser, DefaultPassword, nil).RunCmdWithContext(context.Background(), tt.command)
			if err != nil || code != 0 {
				t.Fatalf("run: %d %v", code, err)
			}
			if took := time.Since(start); took < tt.atLeast {
				t.Errorf("took %v, want at least %v", took, tt.atLeast)
			}
		})
	}
}

func TestRebootDropsShellsAndResetsTheBootTime(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	h := f.Hosts()[0]
	client := newClient(t, h, DefaultUser, DefaultPassword, nil)
	shell, err := client.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := f.Metrics(h.Hostname, time.Now())
	rebootAt := time.Now().Truncate(time.Second) // the host keeps its boot time in whole seconds
	if err := f.Reboot(h.Hostname); err != nil {
		t.Fatal(err)
	}
	// The reboot cut the client's kept-alive connection; a real client may
	// see that first (EOF) and retry.
	_, err = shell.ExecuteWithContext(context.Background(), "hostname")
	if clientFaultCode(err) == "" {
		_, err = shell.ExecuteWithContext(context.Background(), "hostname")
	}
	if clientFaultCode(err) != "2150858843" {
		t.Fatalf("Command after reboot: err = %v, want fault 2150858843", err)
	}
	after, _ := f.Metrics(h.Hostname, time.Now())
	if !after.LastBoot.After(before.LastBoot) || after.LastBoot.Before(rebootAt) || after.LastBoot.After(time.Now()) {
		t.Errorf("last boot %v -> %v, want the time of the reboot (%v)", before.LastBoot, after.LastBoot, rebootAt)
	}
	if hs, _ := f.HostStats(h.Hostname); hs.ShellsOpen != 0 || hs.ShellsDropped != 1 {
		t.Errorf("HostStats = %+v, want no shell open and one dropped", hs)
	}
}

func TestAnIdleShellExpires(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, ShellIdleTimeout: 100 * time.Millisecond})
	client := newClient(t, f.Hosts()[0], DefaultUser, DefaultPassword, nil)
	shell, err := client.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := shell.ExecuteWithContext(context.Background(), "hostname"); clientFaultCode(err) != "2150858843" {
		t.Fatalf("Command on an expired shell: err = %v, want fault 2150858843", err)
	}
}

func TestShellAndCommandOptionsAreHonoured(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	h := f.Hosts()[0]
	c := newRawClient(t, h)
	tests := []struct {
		name       string
		create     func(string) string // edits the Create envelope
		command    func(string) string // edits the Command envelope
		line       string
		wantOut    string
		wantFault  string
		wantCmdOpt [2]bool // consoleModeStdin, skipCmdShell
	}{
		{"code page 65001 passes UTF-8 through", nil, nil, "echo h\u00e9llo", "h\u00e9llo\r\n", "", [2]bool{true, false}},
		{"an OEM code page shows what it cannot encode as ?", replaceOption("WINRS_CODEPAGE", "65001", "437"), nil, "echo h\u00e9llo", "h?llo\r\n", "", [2]bool{true, false}},
		{"WINRS_NOPROFILE leaves the user profile unloaded", replaceOption("WINRS_NOPROFILE", "FALSE", "TRUE"), nil, "echo %USERPROFILE%", `C:\Users\Default` + "\r\n", "", [2]bool{true, false}},
		{"a loaded profile is the user's", nil, nil, "echo %USERPROFILE%", `C:\Users\rmm` + "\r\n", "", [2]bool{true, false}},
		{"WINRS_SKIP_CMD_SHELL still runs programs", nil, replaceOption("WINRS_SKIP_CMD_SHELL", "FALSE", "TRUE"), "hostname", h.Hostname + "\r\n", "", [2]bool{true, true}},
		{"WINRS_SKIP_CMD_SHELL has no cmd built-ins", nil, replaceOption("WINRS_SKIP_CMD_SHELL", "FALSE", "TRUE"), "echo hi", "", "2", [2]bool{}},
		{"WINRS_CONSOLEMODE_STDIN is recorded", nil, replaceOption("WINRS_CONSOLEMODE_STDIN", "TRUE", "FALSE"), "hostname", h.Hostname + "\r\n", "", [2]bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			create := winrm.NewOpenShellRequest(c.url, c.params).String()
			if tt.create != nil {
				create = tt.create(create)
			}
			status, body := c.post(t, create)
			shell, err := winrm.ParseOpenShellResponse(body)
			if status != 200 || err != nil {
				t.Fatalf("Create: HTTP %d %v: %s", status, err, body)
			}
			command := winrm.NewExecuteCommandRequest(c.url, shell, tt.line, nil, c.params).String()
			if tt.command != nil {
				command = tt.command(command)
			}
			status, body = c.post(t, command)
			if tt.wantFault != "" {
				if status != 500 || faultCode(body) != tt.wantFault {
					t.Fatalf("Command: HTTP %d code %q, want fault %s: %s", status, faultCode(body), tt.wantFault, body)
				}
				return
			}
			cmd, err := winrm.ParseExecuteCommandResponse(body)
			if err != nil {
				t.Fatalf("Command: %v: %s", err, body)
			}
			if got := commandOptions(f, h.Hostname, shell, cmd); got != tt.wantCmdOpt {
				t.Errorf("command options (console mode stdin, skip cmd shell) = %v, want %v", got, tt.wantCmdOpt)
			}
			status, body = c.receive(t, shell, cmd, "PT5S")
			var out strings.Builder
			if _, _, err := winrm.ParseSlurpOutputErrResponse(body, &out, &strings.Builder{}); err != nil || status != 200 {
				t.Fatalf("Receive: HTTP %d %v: %s", status, err, body)
			}
			if out.String() != tt.wantOut {
				t.Errorf("stdout = %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

func replaceOption(name, from, to string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, `Name="`+name+`">`+from+`<`, `Name="`+name+`">`+to+`<`, 1)
	}
}

func commandOptions(f *Fleet, hostname, shellID, commandID string) [2]bool {
	h := f.byName[hostname]
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.shells[shellID].commands[commandID]
	return [2]bool{c.consoleModeStdin, c.skipCmdShell}
}
