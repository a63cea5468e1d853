package winrmsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

// testLoopScript stands in for rmm's engine/winrm/loop.ps1 (the
// simulator imports nothing of the engine): the marker line is what makes
// powershell.exe the resident loop. testLoopV1 is the loop rmm used to
// run, with 5.1's known losses.
const (
	testLoopScript = "# rmm:script=loop v2\n$stdin = [Console]::In\n"
	testLoopV1     = "# rmm:script=loop v1\n$stdin = [Console]::In\n"
	// testLoopBootstrap stands in for rmm's loop bootstrap: it reads the
	// loop script from the first stdin line.
	testLoopBootstrap = "# rmm:bootstrap=loop v2\n$rmmLoop = [Console]::In.ReadLine()\n"
)

// loopSession is a resident loop started in a shell of one host, driven
// with masterzen/winrm's request builders.
type loopSession struct {
	t       *testing.T
	c       *rawClient
	shell   string
	cmd     string
	stdout  strings.Builder
	stderr  strings.Builder
	done    bool
	exit    int
	timeout string // w:OperationTimeout of each Receive
}

// startLoop starts the loop the way rmm does: the fixed bootstrap on the
// command line, the loop script as the first stdin line.
func startLoop(t *testing.T, f *Fleet, host int) *loopSession {
	t.Helper()
	c := newRawClient(t, f.Hosts()[host])
	s := &loopSession{t: t, c: c, timeout: "PT5S"}
	s.shell = c.createShell(t)
	s.cmd = c.command(t, s.shell, "powershell -NoProfile -NonInteractive -EncodedCommand "+encode(testLoopBootstrap))
	s.send(base64.StdEncoding.EncodeToString([]byte(testLoopScript))+"\n", false)
	return s
}

// startLoopV1 starts the loop rmm used to run: version 1, on the command
// line.
func startLoopV1(t *testing.T, f *Fleet, host int) *loopSession {
	t.Helper()
	c := newRawClient(t, f.Hosts()[host])
	s := &loopSession{t: t, c: c, timeout: "PT5S"}
	s.shell = c.createShell(t)
	s.cmd = c.command(t, s.shell, "powershell -NoProfile -NonInteractive -EncodedCommand "+encode(testLoopV1))
	return s
}

// loopAnswer is an answer document of either version (v1 has no
// warnings or info).
type loopAnswer struct {
	ID       string   `json:"id"`
	Output   string   `json:"output"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	Info     []string `json:"info"`
	Exit     int      `json:"exit"`
	MS       int64    `json:"ms"`
}

// send writes stdin.
func (s *loopSession) send(text string, eof bool) {
	s.t.Helper()
	req := winrm.NewSendInputRequest(s.c.url, s.shell, s.cmd, []byte(text), eof, s.c.params).String()
	if status, body := s.c.post(s.t, req); status != 200 {
		s.t.Fatalf("Send: HTTP %d: %s", status, body)
	}
}

// request sends one framed request for script.
func (s *loopSession) request(id, script string) {
	s.send(id+" "+base64.StdEncoding.EncodeToString([]byte(script))+"\n", false)
}

// receive asks for output once; it reports a w:TimedOut fault as false.
func (s *loopSession) receive() bool {
	s.t.Helper()
	status, body := s.c.receive(s.t, s.shell, s.cmd, s.timeout)
	if status == 500 && faultCode(body) == "2150858793" {
		return false
	}
	var out, errb strings.Builder
	done, code, err := winrm.ParseSlurpOutputErrResponse(body, &out, &errb)
	if status != 200 || err != nil {
		s.t.Fatalf("Receive: HTTP %d %v: %s", status, err, body)
	}
	s.stdout.WriteString(out.String())
	s.stderr.WriteString(errb.String())
	if done {
		s.done, s.exit = true, code
	}
	return true
}

// until receives until stdout holds want or the command ends.
func (s *loopSession) until(want string) {
	s.t.Helper()
	for i := 0; !strings.Contains(s.stdout.String(), want) && !s.done; i++ {
		if i > 50 {
			s.t.Fatalf("no %q after 50 Receives; stdout %q", want, s.stdout.String())
		}
		s.receive()
	}
}

// answer parses the frame of request id out of stdout.
func (s *loopSession) answer(id string) loopAnswer {
	s.t.Helper()
	s.until("END " + id + "\r\n")
	out := s.stdout.String()
	begin := strings.Index(out, "BEGIN "+id+"\r\n")
	if begin < 0 {
		s.t.Fatalf("no BEGIN %s in %q", id, out)
	}
	lines := strings.Split(out[begin:], "\r\n")
	if len(lines) < 3 || lines[2] != "END "+id {
		s.t.Fatalf("frame of %s is not three lines: %q", id, out[begin:])
	}
	doc, err := base64.StdEncoding.DecodeString(lines[1])
	if err != nil {
		s.t.Fatalf("answer of %s is not base64: %v", id, err)
	}
	var a loopAnswer
	if err := json.Unmarshal(doc, &a); err != nil {
		s.t.Fatalf("answer of %s: %v: %s", id, err, doc)
	}
	return a
}

func TestTheResidentLoopAnswersFramedRequestsAndSurvivesExit(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, PSStart: 20 * time.Millisecond, ScriptTime: 30 * time.Millisecond})
	h := f.Hosts()[0]
	s := startLoop(t, f, 0)

	s.until("READY loop v2\r\n")
	if !strings.HasPrefix(s.stdout.String(), "READY loop v2\r\n") {
		t.Fatalf("stdout starts %q, want the READY line first", s.stdout.String())
	}

	// A request sent before the loop is ready waits for it; requests are
	// answered one after another, in order.
	s.request("q1", "# rmm:script=metrics v1\n$ProgressPreference = 'SilentlyContinue'\n")
	s.request("q-2", "Write-Output 'hello'; exit 3")
	a1, a2 := s.answer("q1"), s.answer("q-2")
	if a1.ID != "q1" || a1.Exit != 0 || len(a1.Errors) != 0 || !strings.Contains(a1.Output, `"hostname":"`+h.Hostname+`"`) {
		t.Errorf("metrics answer = %+v", a1)
	}
	if a1.MS != 30 {
		t.Errorf("metrics answer took %d ms of simulated script time, want the configured 30", a1.MS)
	}
	if a2.ID != "q-2" || a2.Exit != 3 || a2.Output != "hello\r\n" {
		t.Errorf("exit in a script: answer = %+v, want output hello and exit 3", a2)
	}

	// exit in a script ended only the script: the loop answers again.
	s.request("q3", "throw 'boom'")
	if a3 := s.answer("q3"); a3.Exit != 1 || len(a3.Errors) != 1 || a3.Errors[0] != "boom" {
		t.Errorf("throw: answer = %+v, want exit 1 and the error message", a3)
	}
	if s.done {
		t.Fatal("the loop ended after a script's exit")
	}

	// Lines that are not requests are ignored; EXIT ends the loop cleanly.
	s.send("not a request\nbad/id abc\n", false)
	s.send("x1 EXIT\n", false)
	for !s.done {
		s.receive()
	}
	if s.exit != 0 {
		t.Errorf("EXIT: exit code %d, want 0", s.exit)
	}
	hs, _ := f.HostStats(h.Hostname)
	if hs.LoopStarts != 1 || hs.LoopRequests != 3 || hs.LoopExits != 1 || hs.Sends < 4 {
		t.Errorf("counters %+v: want 1 loop start, 3 loop requests, 1 exit", hs)
	}
}

func TestTheResidentLoopEndsWithItsInput(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	s := startLoop(t, f, 0)
	s.send("", true)
	for !s.done {
		s.receive()
	}
	if s.exit != 0 || !strings.HasPrefix(s.stdout.String(), "READY loop v2") {
		t.Fatalf("end of input: exit %d, stdout %q; want READY and exit 0", s.exit, s.stdout.String())
	}
}

func TestABadRequestLineIsAnsweredWithAnError(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	s := startLoop(t, f, 0)
	s.send("r1 %%%notbase64\n", false)
	if a := s.answer("r1"); a.Exit != 1 || len(a.Errors) != 1 || !strings.Contains(a.Errors[0], "Base-64") {
		t.Fatalf("answer = %+v, want exit 1 and the FromBase64String error", a)
	}
}

func TestLoopFaultsCrashHangAndRefuseToStart(t *testing.T) {
	t.Run("a crash ends the process without an answer, once", func(t *testing.T) {
		f := startFleet(t, Config{Devices: 1, Seed: 1})
		name := f.Hosts()[0].Hostname
		if err := f.SetFault(name, FaultLoopCrash); err != nil {
			t.Fatal(err)
		}
		s := startLoop(t, f, 0)
		s.request("c1", "Write-Output 'x'")
		for !s.done {
			s.receive()
		}
		if s.exit != accessViolationExitCode || strings.Contains(s.stdout.String(), "BEGIN") {
			t.Fatalf("crash: exit %d, stdout %q", s.exit, s.stdout.String())
		}
		if hi, _ := f.Host(name); hi.Fault != FaultNone {
			t.Errorf("the one-shot crash is still set: %q", hi.Fault)
		}
		s2 := startLoop(t, f, 0)
		s2.request("c2", "Write-Output 'x'")
		if a := s2.answer("c2"); a.Output != "x\r\n" {
			t.Errorf("after the crash a new loop answers %+v", a)
		}
	})
	t.Run("a hang takes the request and never answers", func(t *testing.T) {
		f := startFleet(t, Config{Devices: 1, Seed: 1})
		if err := f.SetFault(f.Hosts()[0].Hostname, FaultLoopHang); err != nil {
			t.Fatal(err)
		}
		s := startLoop(t, f, 0)
		s.until("READY")
		s.request("h1", "Write-Output 'x'")
		s.timeout = "PT0.200S"
		if s.receive() && strings.Contains(s.stdout.String(), "BEGIN") {
			t.Fatalf("a hung loop answered: %q", s.stdout.String())
		}
		req := winrm.NewSignalRequest(s.c.url, s.shell, s.cmd, s.c.params).String()
		if status, body := s.c.post(t, req); status != 200 {
			t.Fatalf("terminate a hung loop: HTTP %d: %s", status, body)
		}
	})
	t.Run("a host that cannot run the loop fails it before READY", func(t *testing.T) {
		f := startFleet(t, Config{Devices: 1, Seed: 1})
		if err := f.SetFault(f.Hosts()[0].Hostname, FaultNoLoop); err != nil {
			t.Fatal(err)
		}
		s := startLoop(t, f, 0)
		s.request("n1", "Write-Output 'x'")
		for !s.done {
			s.receive()
		}
		if s.exit != 1 || strings.Contains(s.stdout.String(), "READY") || !strings.Contains(s.stderr.String(), "#< CLIXML") ||
			!strings.Contains(s.stderr.String(), "language mode") {
			t.Fatalf("no-loop: exit %d, stdout %q, stderr %q", s.exit, s.stdout.String(), s.stderr.String())
		}
		// Plain scripts still run there.
		out, _, code, err := newClient(t, f.Hosts()[0], DefaultUser, DefaultPassword, nil).RunPSWithContext(t.Context(), "Write-Output 'plain'")
		if err != nil || code != 0 || out != "plain\r\n" {
			t.Fatalf("a plain script on a no-loop host: %q %d %v", out, code, err)
		}
	})
}

// The rules of 5.1 the simulator keeps for each loop version (F1, F4, F9
// of the fidelity review): a loop that pipes the script into Out-String
// loses everything at `exit`; HadErrors counts suppressed errors; a
// runspace without a UI drops Write-Host.
func TestTheLoopVersionsAnswerAs51RunsThem(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, ScriptTime: time.Millisecond})
	tests := []struct {
		name   string
		script string
		v1, v2 loopAnswer
	}{
		{"exit after output (F1)", "Write-Output 'done'; exit 3",
			loopAnswer{Output: "", Exit: 0}, loopAnswer{Output: "done\r\n", Exit: 3}},
		{"exit 0 after an error record", "Write-Error 'bad'; exit 0",
			loopAnswer{Output: "", Exit: 1, Errors: []string{"x"}}, loopAnswer{Output: "", Exit: 0, Errors: []string{"x"}}},
		{"a suppressed error (F4)", "Get-Service NoSuchService -ErrorAction SilentlyContinue; Write-Output 'ok'",
			loopAnswer{Output: "ok\r\n", Exit: 1}, loopAnswer{Output: "ok\r\n", Exit: 0}},
		{"Write-Host and Write-Warning (F9)", "Write-Host 'to the host'; Write-Warning 'careful'; 'out'",
			loopAnswer{Output: "out\r\n", Exit: 0}, loopAnswer{Output: "out\r\n", Exit: 0, Warnings: []string{"careful"}, Info: []string{"to the host"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for v, s := range map[int]*loopSession{1: startLoopV1(t, f, 0), 2: startLoop(t, f, 0)} {
				want := tt.v1
				if v == 2 {
					want = tt.v2
				}
				s.request("t1", tt.script)
				got := s.answer("t1")
				if got.Output != want.Output || got.Exit != want.Exit || len(got.Errors) != len(want.Errors) ||
					strings.Join(got.Warnings, "|") != strings.Join(want.Warnings, "|") || strings.Join(got.Info, "|") != strings.Join(want.Info, "|") {
					t.Errorf("loop v%d: answer %+v, want output %q exit %d, %d errors, warnings %q, info %q",
						v, got, want.Output, want.Exit, len(want.Errors), want.Warnings, want.Info)
				}
			}
		})
	}
}

func TestAConstrainedLanguageHostCannotStartTheLoop(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1, Profile: "clm"})
	s := startLoop(t, f, 0)
	for !s.done {
		s.receive()
	}
	if s.exit != 1 || strings.Contains(s.stdout.String(), "READY") || !strings.Contains(s.stderr.String(), "MethodInvocationNotSupportedInConstrainedLanguage") {
		t.Fatalf("clm: exit %d, stdout %q, stderr %q", s.exit, s.stdout.String(), s.stderr.String())
	}
}

func TestValidLoopIDs(t *testing.T) {
	for id, want := range map[string]bool{"a": true, "r1z-9": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a_b": false, "a b": false, "r/1": false} {
		if got := validLoopID([]byte(id)); got != want {
			t.Errorf("validLoopID(%q) = %v, want %v", id, got, want)
		}
	}
}

const (
	testLoopV3          = "# rmm:script=loop v3\n$stdin = [Console]::In\n"
	testLoopBootstrapV3 = "# rmm:bootstrap=loop v3\n$rmmLoop = [Console]::In.ReadLine()\n"
)

// startLoopV3 starts loop v3 behind its bootstrap, as rmm does.
func startLoopV3(t *testing.T, f *Fleet, host int) *loopSession {
	t.Helper()
	c := newRawClient(t, f.Hosts()[host])
	s := &loopSession{t: t, c: c, timeout: "PT5S"}
	s.shell = c.createShell(t)
	s.cmd = c.command(t, s.shell, "powershell -NoProfile -NonInteractive -EncodedCommand "+encode(testLoopBootstrapV3))
	s.send(base64.StdEncoding.EncodeToString([]byte(testLoopV3))+"\n", false)
	return s
}

// sessionLine sends a line to the loop's session runspace.
func (s *loopSession) sessionLine(id, line string) loopAnswerSession {
	s.t.Helper()
	s.send(id+" SESSION 120 "+base64.StdEncoding.EncodeToString([]byte(line))+"\n", false)
	a := s.answer(id)
	out := s.stdout.String()
	begin := strings.Index(out, "BEGIN "+id+"\r\n")
	doc, _ := base64.StdEncoding.DecodeString(strings.Split(out[begin:], "\r\n")[1])
	var extra struct {
		Session *int `json:"session"`
	}
	_ = json.Unmarshal(doc, &extra)
	if extra.Session == nil {
		s.t.Fatalf("answer of %s has no session field: %s", id, doc)
	}
	return loopAnswerSession{a, *extra.Session}
}

type loopAnswerSession struct {
	loopAnswer
	session int
}

// The pane's session (loop v3): variables, functions and the location
// carry over from line to line, a fresh-runspace request sees none of
// them, and the answers count the session's lines.
func TestLoopV3KeepsTheSessionsStateFromLineToLine(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 5, ScriptTime: time.Millisecond})
	s := startLoopV3(t, f, 0)
	s.until("READY loop v3\r\n")
	steps := []struct {
		line, want string
		lines      int
	}{
		{"$x = 5", "", 1},
		{"$x", "5\r\n", 2},
		{"function Greet { Write-Output 'hi from the function' }", "", 3},
		{"Greet", "hi from the function\r\n", 4},
		{`cd C:\Windows`, "", 5},
		{"Get-Location", "\r\nPath\r\n----\r\nC:\\Windows\r\n\r\n\r\n", 6},
	}
	for i, st := range steps {
		a := s.sessionLine(fmt.Sprintf("s%d", i), st.line)
		if a.Output != st.want || a.Exit != 0 || len(a.Errors) != 0 || a.session != st.lines {
			t.Errorf("%q: output %q exit %d errors %q session %d; want %q and session %d", st.line, a.Output, a.Exit, a.Errors, a.session, st.want, st.lines)
		}
	}
	s.request("fresh", "$x")
	if a := s.answer("fresh"); a.Output != "\r\n" {
		t.Errorf("a fresh runspace sees the session's $x: %q", a.Output)
	}
	if a := s.sessionLine("s9", "$x"); a.Output != "5\r\n" || a.session != 7 {
		t.Errorf("after a fresh request the session lost its state: %+v", a)
	}
}

// The commands an admin types in the pane's first minutes answer as
// Windows would, and anything else says the simulator does not implement
// it.
func TestThePanesFirstMinutesCommandsAnswerAsWindowsWould(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 5, ScriptTime: time.Millisecond})
	s := startLoopV3(t, f, 0)
	h := f.Hosts()[0]
	tests := []struct {
		line    string
		want    []string
		wantErr string
	}{
		{"$PSVersionTable", []string{"PSVersion", "5.1.", "PSEdition", "Desktop"}, ""},
		{"$PSVersionTable.PSVersion", []string{"Major  Minor  Build  Revision", "5      1"}, ""},
		{"dir", nil, ""}, // Documents is empty: nothing, as on Windows
		{"cd ~; dir", []string{"Directory: C:\\Users\\rmm", "Desktop", "Downloads"}, ""},
		{`Get-ChildItem C:\`, []string{"Mode", "LastWriteTime", "Name", "Program Files", "Windows", "Users"}, ""},
		{`ls C:\nope`, nil, "Cannot find path 'C:\\nope' because it does not exist."},
		{"ipconfig", []string{"Windows IP Configuration", "IPv4 Address"}, ""},
		{"Get-CimInstance Win32_OperatingSystem", []string{"SystemDirectory", "BuildNumber", "Version"}, ""},
		{"Get-CimInstance -ClassName Win32_LogicalDisk | Select-Object DeviceID, FreeSpace", []string{"DeviceID", "FreeSpace", "C:"}, ""},
		{"gcim Win32_ComputerSystem | Format-List Name, Domain", []string{"Name   : " + h.Hostname, "Domain : "}, ""},
		{"Get-CimInstance Win32_Nope", nil, "the simulated host does not implement the class Win32_Nope"},
		{"Get-Service | Where-Object { $_.Status -eq 'Running' } | Select-Object -First 3", []string{"Status", "Running"}, ""},
		{"Get-Service | Where-Object Status -eq Stopped | Measure-Object", []string{"Count    :"}, ""},
		{"Get-Process | Sort-Object Id -Descending | Select-Object -First 2 Name, Id", []string{"Name", "Id"}, ""},
		{"$s = Get-Service; $s.Count", []string{"\r\n"}, ""},
		{"Get-Command", []string{"CommandType", "Get-ChildItem", "Where-Object", "ipconfig.exe"}, ""},
		{"help dir", []string{"NAME", "Get-ChildItem", "SYNOPSIS"}, ""},
		{"Get-NetIPAddress", nil, "the simulated host does not implement Get-NetIPAddress"},
	}
	for i, tt := range tests {
		a := s.sessionLine(fmt.Sprintf("c%d", i), tt.line)
		for _, w := range tt.want {
			if !strings.Contains(a.Output, w) {
				t.Errorf("%q: output lacks %q:\n%s (errors %q)", tt.line, w, a.Output, a.Errors)
			}
		}
		switch {
		case tt.wantErr == "" && (len(a.Errors) > 0 || a.Exit != 0):
			t.Errorf("%q: errors %q exit %d", tt.line, a.Errors, a.Exit)
		case tt.wantErr != "" && (len(a.Errors) == 0 || !strings.Contains(a.Errors[0], tt.wantErr) || a.Exit != 1):
			t.Errorf("%q: errors %q exit %d, want %q and exit 1", tt.line, a.Errors, a.Exit, tt.wantErr)
		}
	}
	// Select -First keeps three rows of the table.
	a := s.sessionLine("rows", "Get-Service | Select-Object -First 3")
	if n := strings.Count(strings.TrimSpace(a.Output), "\r\n"); n != 4 {
		t.Errorf("Select-Object -First 3: %d lines after the title, want title, dashes and 3 rows:\n%s", n, a.Output)
	}
}
