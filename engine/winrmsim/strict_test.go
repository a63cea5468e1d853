package winrmsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

// The simulator is strict where Windows is strict
// (../shared/research/fidelity-review.md): each test here fails against
// the simulator as it was before these rules, which accepted what
// Windows refuses.

// commandSkipCmd starts a command line without cmd.exe
// (WINRS_SKIP_CMD_SHELL=TRUE) and returns the HTTP status and reply.
func (c *rawClient) commandSkipCmd(t *testing.T, shellID, line string) (int, string) {
	t.Helper()
	req := winrm.NewExecuteCommandRequest(c.url, shellID, line, nil, c.params).String()
	req = strings.Replace(req, `Name="WINRS_SKIP_CMD_SHELL">FALSE`, `Name="WINRS_SKIP_CMD_SHELL">TRUE`, 1)
	if !strings.Contains(req, `Name="WINRS_SKIP_CMD_SHELL">TRUE`) {
		t.Fatal("could not set WINRS_SKIP_CMD_SHELL")
	}
	return c.post(t, req)
}

func TestCmdExeRefusesACommandLineOf8191Characters(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	c := newClient(t, f.Hosts()[0], DefaultUser, DefaultPassword, nil)
	stdout, stderr, code, err := c.RunWithContextWithString(t.Context(), "echo "+strings.Repeat("x", maxCmdExeLine), "")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "" || code != 1 || !strings.Contains(stderr, "The command line is too long.") {
		t.Fatalf("stdout %q stderr %q exit %d, want cmd.exe's refusal", stdout, stderr, code)
	}
	// Just under the limit it runs.
	stdout, _, code, err = c.RunWithContextWithString(t.Context(), "echo "+strings.Repeat("x", maxCmdExeLine-10), "")
	if err != nil || code != 0 || len(stdout) < maxCmdExeLine-10 {
		t.Fatalf("under the limit: %d bytes, exit %d, %v", len(stdout), code, err)
	}
}

func TestCreateProcessRefusesACommandLineOf32767Characters(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	c := newRawClient(t, f.Hosts()[0])
	shell := c.createShell(t)
	status, body := c.commandSkipCmd(t, shell, "powershell.exe -EncodedCommand "+strings.Repeat("A", maxCreateProcessLine))
	if status != 500 || faultCode(body) != "2147942606" || !strings.Contains(body, "The filename or extension is too long.") {
		t.Fatalf("HTTP %d code %q: %s", status, faultCode(body), body)
	}
}

func TestARequestOverMaxEnvelopeSizeIsRefused(t *testing.T) {
	f := startFleet(t, Config{Devices: 2, Seed: 1, Profile: "win11,server2012r2"})
	for _, h := range f.Hosts() {
		c := newRawClient(t, h)
		shell := c.createShell(t)
		cmd := c.command(t, shell, "more")
		send := func(n int) (int, string) {
			return c.post(t, winrm.NewSendInputRequest(c.url, shell, cmd, make([]byte, n), false, c.params).String())
		}
		// 200 KB of stdin is about 270 KB of envelope: under Windows'
		// 500 KB, over WinRM 2.0's 150 KB.
		status, body := send(200 << 10)
		legacy := h.Profile == "server2012r2"
		if legacy != (status == 500 && faultCode(body) == "2150859025") || !legacy && status != 200 {
			t.Errorf("%s (%s): 200 KB Send: HTTP %d code %q", h.Hostname, h.Profile, status, faultCode(body))
		}
		if status, body := send(400 << 10); status != 500 || faultCode(body) != "2150859025" {
			t.Errorf("%s: 400 KB Send (530 KB envelope): HTTP %d code %q, want the MaxEnvelopeSize fault", h.Hostname, status, faultCode(body))
		}
	}
}

func TestCommandsCountAgainstTheOperationsQuotaUntilTheShellIsDeleted(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, MaxOperationsPerShell: 3})
	c := newRawClient(t, f.Hosts()[0])
	shell := c.createShell(t)
	for range 3 {
		cmd := c.command(t, shell, "hostname")
		// A Signal does not give the operation back.
		c.post(t, winrm.NewSignalRequest(c.url, shell, cmd, c.params).String())
	}
	status, body := c.post(t, winrm.NewExecuteCommandRequest(c.url, shell, "hostname", nil, c.params).String())
	if status != 500 || faultCode(body) != "2150859174" {
		t.Fatalf("4th Command: HTTP %d code %q, want the operations quota fault", status, faultCode(body))
	}
	// A new shell starts from zero.
	c.command(t, c.createShell(t), "hostname")
}

func TestAWinRM2HostHasItsLimitsAndFaultShapes(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, Profile: "server2012r2", MaxShellsPerUser: 1})
	h := f.Hosts()[0]
	if !strings.Contains(h.OSName, "2012 R2") || h.OSVersion != "6.3.9600" {
		t.Fatalf("host %+v", h)
	}
	c := newRawClient(t, h)
	// The Create reply carries the ShellId only in its selector.
	status, body := c.post(t, winrm.NewOpenShellRequest(c.url, c.params).String())
	if status != 200 || strings.Contains(body, "rsp:Shell") || !strings.Contains(body, `<w:Selector Name="ShellId">`) {
		t.Fatalf("Create: HTTP %d: %s", status, body)
	}
	shell := regexp.MustCompile(`Name="ShellId">([^<]+)<`).FindStringSubmatch(body)[1]
	// The shell quota comes as an MSFT_WmiError.
	status, body = c.post(t, winrm.NewOpenShellRequest(c.url, c.params).String())
	if status != 500 || !strings.Contains(body, "MSFT_WmiError") || !strings.Contains(body, "<p:error_Code xsi:type='cim:cimUnsignedInt'>2150859173</p:error_Code>") ||
		!strings.Contains(body, "HRESULT 0x803381a5") || strings.Contains(body, "WSManFault") {
		t.Fatalf("shell quota: HTTP %d: %s", status, body)
	}
	// 15 Commands per shell, then the operations quota, also as WMI says it.
	for range LegacyMaxOperationsPerShell {
		c.command(t, shell, "hostname")
	}
	status, body = c.post(t, winrm.NewExecuteCommandRequest(c.url, shell, "hostname", nil, c.params).String())
	if status != 500 || !strings.Contains(body, ">2150859174</p:error_Code>") {
		t.Fatalf("16th Command: HTTP %d: %s", status, body)
	}
}

func TestAccessDeniedComesInBothShapesWindowsSends(t *testing.T) {
	f := startFleet(t, Config{Devices: 40, Seed: 3, Faults: "access-denied=100%"})
	shapes := map[string]string{}
	for _, h := range f.Hosts() {
		c := newRawClient(t, h)
		status, body := c.post(t, winrm.NewOpenShellRequest(c.url, c.params).String())
		if status != 500 || !strings.Contains(body, "Access is denied.") {
			t.Fatalf("%s: HTTP %d: %s", h.Hostname, status, body)
		}
		shapes[faultCode(body)] = regexp.MustCompile(`<s:Subcode><s:Value>([^<]+)<`).FindStringSubmatch(body)[1]
		// Identify still answers: the listener is up.
		if status, _ := c.post(t, fixture(t, "identify.xml")); status != 200 {
			t.Fatalf("%s: Identify: HTTP %d", h.Hostname, status)
		}
	}
	if shapes["5"] != "w:AccessDenied" || shapes["2147942405"] != "w:InternalError" {
		t.Fatalf("shapes seen: %v", shapes)
	}
}

func TestBasicOverPlainHTTPIsRefusedUnlessTheHostAllowsUnencrypted(t *testing.T) {
	strict := startStrictFleet(t, Config{Devices: 1, Seed: 1})
	c := newRawClient(t, strict.Hosts()[0])
	status, _, err := c.tryPost(winrm.NewOpenShellRequest(c.url, c.params).String(), nil)
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("Basic over HTTP to a default host: HTTP %d %v, want 401", status, err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.url, strings.NewReader(winrm.NewOpenShellRequest(c.url, c.params).String()))
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(DefaultUser, DefaultPassword)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if offers := resp.Header.Values("WWW-Authenticate"); len(offers) != 1 || offers[0] != "Negotiate" {
		t.Errorf("offers %q, want only Negotiate", offers)
	}
	allowed := startFleet(t, Config{Devices: 1, Seed: 1}) // AllowUnencrypted, as an admin sets it
	newRawClient(t, allowed.Hosts()[0]).createShell(t)
}

func TestHostProfilesAreChosenBySeedOrByName(t *testing.T) {
	names := map[string]bool{}
	for _, p := range Profiles() {
		names[p.Name] = true
		if p.Summary == "" {
			t.Errorf("profile %s has no summary", p.Name)
		}
	}
	for _, want := range []string{"win10", "win11", "server2016", "server2019", "server2022", "server2025", "server-core", "server2012r2", "de-de", "clm"} {
		if !names[want] {
			t.Errorf("no profile %s", want)
		}
	}
	mixed, err := New(Config{Devices: 400, Seed: 9, Profile: ProfileMixed})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, h := range mixed.Hosts() {
		seen[h.Profile]++
	}
	for _, want := range []string{"win10", "win11", "server-core", "server2012r2", "de-de", "clm"} {
		if seen[want] == 0 {
			t.Errorf("400 mixed hosts have no %s: %v", want, seen)
		}
	}
	modern, _ := New(Config{Devices: 400, Seed: 9})
	again, _ := New(Config{Devices: 400, Seed: 9, Profile: ProfileModern})
	for i, h := range modern.Hosts() {
		if h.Profile == "server-core" || h.Profile == "clm" || h.Profile == "de-de" || h.Profile == "server2012r2" || h.Profile == "" {
			t.Fatalf("a modern host is %q", h.Profile)
		}
		if g := again.Hosts()[i]; g.Hostname != h.Hostname || g.OSName != h.OSName || g.MAC != h.MAC {
			t.Fatalf("modern and the default differ at %d: %+v %+v", i, g, h)
		}
	}
	core, _ := New(Config{Devices: 5, Seed: 9, Profile: "server-core"})
	for _, h := range core.Hosts() {
		if h.Profile != "server-core" || !h.Server || !strings.HasPrefix(h.Hostname, "SRV-") {
			t.Fatalf("forced profile: %+v", h)
		}
	}
	if _, err := New(Config{Devices: 1, Profile: "win95"}); err == nil || !strings.Contains(err.Error(), "win95") {
		t.Fatalf("unknown profile: %v", err)
	}
}

func TestServerCoreInventoryNamesWhatItCannotAnswer(t *testing.T) {
	f, err := New(Config{Devices: 3, Seed: 2, Profile: "server-core"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range f.Hosts() {
		doc, _ := f.Inventory(h.Hostname, "security", time.Now())
		var sec struct {
			Defender  map[string]any `json:"defender"`
			BitLocker any            `json:"bitlocker"`
		}
		if err := json.Unmarshal(doc, &sec); err != nil {
			t.Fatal(err)
		}
		bl, _ := sec.BitLocker.(map[string]any)
		if sec.Defender["unavailable"] != "Get-MpComputerStatus is not available on this host" || bl["unavailable"] != "Get-BitLockerVolume is not available on this host" {
			t.Fatalf("%s security: %s", h.Hostname, doc)
		}
	}
}

// runCold runs a script the way rmm runs it without the loop: the stdin
// bootstrap on the command line, the script over stdin.
func runCold(t *testing.T, h HostInfo, script string) (stdout, stderr string, code int) {
	t.Helper()
	c := newRawClient(t, h)
	shell := c.createShell(t)
	status, body := c.commandSkipCmd(t, shell, "powershell.exe -NoProfile -NonInteractive -EncodedCommand "+encode("# rmm:bootstrap=stdin v1\n$rmmScript = $input | Out-String\nInvoke-Expression -Command $rmmScript\n"))
	if status != 200 {
		t.Fatalf("Command: HTTP %d: %s", status, body)
	}
	cmd, _ := winrm.ParseExecuteCommandResponse(body)
	if status, body := c.post(t, winrm.NewSendInputRequest(c.url, shell, cmd, []byte(script), true, c.params).String()); status != 200 {
		t.Fatalf("Send: HTTP %d: %s", status, body)
	}
	var out, errb strings.Builder
	for range 100 {
		status, body := c.receive(t, shell, cmd, "PT5S")
		if status != 200 {
			t.Fatalf("Receive: HTTP %d: %s", status, body)
		}
		done, code, err := winrm.ParseSlurpOutputErrResponse(body, &out, &errb)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return out.String(), errb.String(), code
		}
	}
	t.Fatal("the script did not end")
	return
}

func TestTheColdBootstrapRunsTheScriptItReadsOnStdin(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, ScriptTime: time.Millisecond})
	h := f.Hosts()[0]
	stdout, _, code := runCold(t, h, "Write-Output 'from stdin'; exit 4")
	if stdout != "from stdin\r\n" || code != 4 {
		t.Fatalf("stdout %q exit %d", stdout, code)
	}
	// Without End="true" the script never runs: $input waits for more.
	c := newRawClient(t, h)
	shell := c.createShell(t)
	_, body := c.commandSkipCmd(t, shell, "powershell.exe -EncodedCommand "+encode("# rmm:bootstrap=stdin v1\n$rmmScript = $input | Out-String\nInvoke-Expression -Command $rmmScript\n"))
	cmd, _ := winrm.ParseExecuteCommandResponse(body)
	c.post(t, winrm.NewSendInputRequest(c.url, shell, cmd, []byte("Write-Output 'x'\n"), false, c.params).String())
	if status, body := c.receive(t, shell, cmd, "PT0.3S"); status != 500 || faultCode(body) != "2150858793" {
		t.Fatalf("without End: HTTP %d: %s", status, body)
	}
}

func TestAConstrainedLanguageHostRefusesDotNetMethodCalls(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, Profile: "clm", ScriptTime: time.Millisecond})
	h := f.Hosts()[0]
	tests := []struct {
		name, script, fqid string
	}{
		{"a static method of a non-core type", "$x = 1\n$y = [math]::Round(2.5)\n", "MethodInvocationNotSupportedInConstrainedLanguage"},
		{"base64 through .NET", "$b = [Convert]::FromBase64String('AA==')", "MethodInvocationNotSupportedInConstrainedLanguage"},
		{"New-Object of a non-core type", "$e = New-Object System.Text.UTF8Encoding $false", "CannotCreateTypeConstrainedLanguage"},
		{"Add-Type", "Add-Type -TypeDefinition 'public class X {}'", "CannotDefineNewType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCold(t, h, tt.script)
			if code != 1 || stdout != "" || !strings.Contains(stderr, tt.fqid) {
				t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
			}
		})
	}
	// Core types and comments are fine.
	stdout, _, code := runCold(t, h, "# [Console]::In.ReadLine()\n$d = [decimal]::Round([decimal]2.25, 1)\nWrite-Output 'ok'")
	if code != 0 || stdout != "ok\r\n" {
		t.Fatalf("core types: exit %d stdout %q", code, stdout)
	}
	// An action script that checks the language mode first says why.
	guarded := "# rmm:script=action_file_push v2\n$RmmParams = @{ 'path' = 'C:\\x' }\n$result = @{ ok = $true; message = ''; data = $null }\ntry {\n" +
		"    if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') { throw 'File transfer needs FullLanguage mode.' }\n" +
		"    $fs = [IO.File]::Open($RmmParams.path, 'Open')\n} catch { }\n"
	stdout, _, code = runCold(t, h, guarded)
	var doc actionDoc
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &doc); err != nil || doc.OK || doc.Message != "File transfer needs FullLanguage mode." || code != 0 {
		t.Fatalf("guarded script: exit %d %q", code, stdout)
	}
}

// quserScript is an action script that reads quser with pattern re, as
// rmm's lock and logoff scripts do.
func quserScript(name string, version int, re string) string {
	return "# rmm:script=" + name + " v" + string(rune('0'+version)) + "\n$RmmParams = @{ }\n" +
		"foreach ($l in @($lines | Select-Object -Skip 1)) { if ($l -match '" + re + "') { } }\n"
}

func TestAGermanHostPrintsQuserInGerman(t *testing.T) {
	const (
		englishWord = `^.(?<user>\S+)\s+(?:(?<session>\S+)\s+)?(?<id>\d+)\s+(?<state>Active)\b`
		anyLanguage = `^.(?<user>\S+)\s+(?<session>\S+)\s+(?<id>\d+)\s+\S`
	)
	for _, profile := range []string{"de-de", "win10"} {
		t.Run(profile, func(t *testing.T) {
			f := startFleet(t, Config{Devices: 1, Seed: 4, Profile: profile, ScriptTime: time.Millisecond})
			h := f.hosts[0]
			h.hs().mu.Lock()
			h.setSessionsLocked(1)
			lines := h.quserLines(h.stateLocked())
			h.hs().mu.Unlock()
			german := strings.Contains(lines[0], "BENUTZERNAME") && strings.Contains(lines[1], "Aktiv")
			if german != (profile == "de-de") {
				t.Fatalf("quser: %q", lines)
			}
			s := startLoop(t, f, 0)
			doc := s.actScript("action_lock", quserScript("action_lock", 2, englishWord), 0)
			if doc.OK == german {
				t.Errorf("matching the word Active: ok %v %q", doc.OK, doc.Message)
			}
			if !german {
				return
			}
			if doc := s.actScript("action_lock", quserScript("action_lock", 2, anyLanguage), 0); !doc.OK {
				t.Errorf("matching the columns: %q", doc.Message)
			}
		})
	}
}

func TestVersion1ScriptsAbortOnNativeStderrUnderStop(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, ScriptTime: time.Millisecond})
	h := f.hosts[0]
	h.hs().mu.Lock()
	h.setSessionsLocked(0)
	h.hs().mu.Unlock()
	s := startLoop(t, f, 0)
	if doc := s.actV1("action_logoff", nil); doc.OK || doc.Message != "No User exists for *" {
		t.Errorf("v1 logoff with nobody logged on: %+v", doc)
	}
	if doc := s.act("action_logoff", nil); !doc.OK || doc.Message != "Logged off 0 session(s)" {
		t.Errorf("v2 logoff with nobody logged on: %+v", doc)
	}
}

func TestRegistryDWordsOverTheSignedRange(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, ScriptTime: time.Millisecond})
	s := startLoop(t, f, 0)
	p := func(v string) map[string]string {
		return map[string]string{"path": `HKLM:\SOFTWARE\Contoso`, "name": "Mask", "type": "DWord", "value": v}
	}
	if doc := s.actV1("action_registry_set", p("4294967295")); doc.OK || !strings.Contains(doc.Message, "too large or too small for an Int32") {
		t.Errorf("v1 with 0xFFFFFFFF: %+v", doc)
	}
	for _, v := range []string{"4294967295", "0xFFFFFFFF", "0x80000000"} {
		if doc := s.act("action_registry_set", p(v)); !doc.OK {
			t.Errorf("v2 with %s: %q", v, doc.Message)
		}
	}
	if doc := s.act("action_registry_set", p("4294967296")); doc.OK {
		t.Errorf("v2 over 32 bits accepted")
	}
}

func TestAVersion1ParamsLineFailsOnAConstrainedLanguageHost(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, Profile: "clm", ScriptTime: time.Millisecond})
	_, stderr, code := runCold(t, f.Hosts()[0], actionBodyV1("action_flush_dns", nil))
	if code != 1 || !strings.Contains(stderr, "MethodInvocationNotSupportedInConstrainedLanguage") {
		t.Fatalf("v1 params line: exit %d stderr %q", code, stderr)
	}
	stdout, _, code := runCold(t, f.Hosts()[0], actionBody("action_flush_dns", nil))
	if code != 0 || !strings.Contains(stdout, `"ok":true`) {
		t.Fatalf("v2 params: exit %d stdout %q", code, stdout)
	}
}

func TestLoopBootstrapNeedsAKnownLoop(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	c := newRawClient(t, f.Hosts()[0])
	shell := c.createShell(t)
	cmd := c.command(t, shell, "powershell -NoProfile -NonInteractive -EncodedCommand "+encode(testLoopBootstrap))
	c.post(t, winrm.NewSendInputRequest(c.url, shell, cmd, []byte(base64.StdEncoding.EncodeToString([]byte("Write-Output 'not a loop'"))+"\n"), false, c.params).String())
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		status, body := c.receive(t, shell, cmd, "PT1S")
		if status == 200 && strings.Contains(body, "CommandState/Done") {
			if strings.Contains(body, "READY") {
				t.Fatal("READY for a script that is no loop")
			}
			return
		}
	}
	t.Fatal("the bootstrap did not end")
}
