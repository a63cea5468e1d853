package ui

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// simEngine is a real engine over a real SQLite store, polling a
// simulated fleet over HTTP on 127.0.0.1.
type simEngine struct {
	fleet *winrmsim.Fleet
	db    *store.DB
	eng   *engine.Engine
}

func newSimEngine(t *testing.T, cfg winrmsim.Config) *simEngine {
	t.Helper()
	ctx := context.Background()
	if cfg.TLS == nil {
		cfg.AllowUnencrypted = true // HTTP hosts configured for Basic, as an admin does
	}
	fleet, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fleet.Close() })
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var buf bytes.Buffer
	if err := fleet.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	if _, problems, err := csvimport.Import(ctx, db, "fleet.csv", &buf, csvimport.Options{}); err != nil {
		t.Fatalf("import: %v %v", err, problems)
	}
	eng, err := engine.New(ctx, db, engine.Options{
		Credential: engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword},
		Timeout:    5 * time.Second,
		Writer:     store.WriterOptions{FlushInterval: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	return &simEngine{fleet: fleet, db: db, eng: eng}
}

// firstOnline is the first device in hostname order (the grid's first
// row) that the simulator has online.
func (s *simEngine) firstOnline(t *testing.T) engine.DeviceState {
	t.Helper()
	ds := s.eng.Devices()
	SortDevices(ds, ColHostname, false)
	for _, d := range ds {
		if h, ok := s.fleet.Host(d.Hostname); ok && h.Online {
			return d
		}
	}
	t.Fatal("no online host")
	return engine.DeviceState{}
}

// moveTo sends j until the grid's cursor is on host (hostname order).
func moveTo(tm *teatest.TestModel, s *simEngine, host string) {
	ds := s.eng.Devices()
	SortDevices(ds, ColHostname, false)
	for _, d := range ds {
		if d.Hostname == host {
			return
		}
		send(tm, "j")
	}
}

func (s *simEngine) auditLines(t *testing.T, user string) []string {
	t.Helper()
	rows, err := s.db.ListAudit(context.Background(), store.AuditFilter{Action: "shell.run", User: user})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range rows {
		if r.Result != store.AuditPending { // each line is written pending, then with its outcome
			lines = append(lines, r.Details["line"].(string))
		}
	}
	return lines
}

func typeLine(tm *teatest.TestModel, line string) {
	for _, msg := range typeText(line) {
		tm.Send(msg)
	}
	send(tm, "enter")
}

// scrollback is the pane's lines without styling.
func scrollback(m Model) []string {
	if m.shell == nil {
		return nil
	}
	out := make([]string, len(m.shell.lines))
	for i, l := range m.shell.lines {
		out[i] = ansi.Strip(l)
	}
	return out
}

// TestPowerShellPaneRunsLinesOnTheHost drives the pane through teatest
// against the simulator: hostname prints the host's name, Write-Output
// prints, ctrl+c interrupts Start-Sleep 30, and every typed line has its
// audit row.
func TestPowerShellPaneRunsLinesOnTheHost(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 3, Seed: 21})
	d := s.firstOnline(t)
	admin := engine.Identity{User: "alice", Role: engine.RoleAdmin, Via: engine.ViaLocal}
	tm := startConsole(t, userClient{s.eng, admin}, Options{Role: "Admin", Now: time.Now}, 120, 40)
	waitFor(t, tm, d.Hostname)
	moveTo(tm, s, d.Hostname)
	send(tm, "p")
	waitFor(t, tm, "PS "+d.Hostname+">", "Connected: Windows PowerShell on "+d.Hostname)

	// Lines typed while one runs wait their turn; whoami's answer
	// (lowercase host, backslash, user) comes last and appears nowhere
	// else.
	typeLine(tm, "hostname")
	typeLine(tm, "Write-Output hi")
	typeLine(tm, "whoami")
	whoami := strings.ToLower(d.Hostname) + `\` + winrmsim.DefaultUser
	waitFor(t, tm, whoami)

	// ctrl+c once the line has reached the host.
	sends := hostSends(t, s, d.Hostname)
	typeLine(tm, "Start-Sleep 30")
	waitUntil(t, "Start-Sleep to reach the host", func() bool { return hostSends(t, s, d.Hostname) > sends })
	send(tm, "ctrl+c")
	waitFor(t, tm, "(interrupted; the next line starts a new PowerShell session")
	typeLine(tm, "whoami")
	waitFor(t, tm, whoami)

	// History: up brings back the last line.
	send(tm, "up")
	m := finish(t, tm)
	if got := m.shell.input.Value(); got != "whoami" {
		t.Errorf("up recalled %q, want whoami", got)
	}
	lines := scrollback(m)
	for _, want := range []string{"PS " + d.Hostname + "> hostname", d.Hostname, "PS " + d.Hostname + "> Write-Output hi", "hi", whoami,
		"^C interrupting Start-Sleep 30"} {
		if !slices.Contains(lines, want) {
			t.Errorf("scrollback lacks the line %q:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	if i, j := slices.Index(lines, "PS "+d.Hostname+"> hostname"), slices.Index(lines, d.Hostname); j != i+1 {
		t.Errorf("hostname's answer is not under it: lines %d and %d", i, j)
	}
	if got := strings.Join(s.auditLines(t, "alice"), "|"); got != "hostname|Write-Output hi|whoami|Start-Sleep 30|whoami" {
		t.Errorf("audited lines %q", got)
	}
	if hs, _ := s.fleet.HostStats(d.Hostname); hs.ShellsCreated != 2 || hs.Signals < 1 {
		t.Errorf("host stats %+v: want the interrupted shell terminated and a fresh one for the next line", hs)
	}
	m.Close() // the console going away closes its session
	if n := s.eng.ShellSessions(); n != 0 {
		t.Errorf("%d sessions open after Close", n)
	}
	if st := s.fleet.Stats(); st.ShellsOpen != 0 {
		t.Errorf("the simulator shows %d open shells after the console closed", st.ShellsOpen)
	}
}

// Newcomer: the keyboard could not leave the pane without closing it
// (number keys typed into the prompt, esc closed the session) and each
// line forgot the one before. esc goes back and keeps the session,
// alt+N switches views from the prompt, the pane's number comes back to
// it with the session's state intact; ctrl+d closes it.
func TestThePowerShellPaneIsASessionTheKeyboardCanLeaveAndComeBackTo(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 2, Seed: 22})
	d := s.firstOnline(t)
	admin := engine.Identity{User: "alice", Role: engine.RoleOperator, Via: engine.ViaLocal}
	tm := startConsole(t, userClient{s.eng, admin}, Options{Role: "Operator", Now: time.Now}, 120, 40)
	waitFor(t, tm, d.Hostname)
	moveTo(tm, s, d.Hostname)
	send(tm, "p")
	waitFor(t, tm, "Connected: Windows PowerShell", "variables, functions and the location carry over")
	typeLine(tm, "$greeting = 'kept across lines'")
	typeLine(tm, `cd C:\Windows`)
	typeLine(tm, "$PSVersionTable")
	waitFor(t, tm, "PSEdition")

	send(tm, "esc") // back to the grid, the session stays
	waitFor(t, tm, "0 PS "+d.Hostname, "j/k move")
	if n := s.eng.ShellSessions(); n != 1 {
		t.Fatalf("%d sessions after esc, want the pane's still open", n)
	}
	send(tm, "0") // back to the pane (the tenth tab)
	typeLine(tm, "$greeting")
	typeLine(tm, "pwd")
	waitFor(t, tm, "kept across lines", `C:\Windows`)

	send(tm, "alt+2") // the alerts view, from the prompt
	waitFor(t, tm, "Alerts")
	send(tm, "alt+0")
	typeLine(tm, "Get-Service | Where-Object { $_.Status -eq 'Running' } | Select-Object -First 2")
	waitFor(t, tm, "Status", "Running")
	send(tm, "ctrl+d")
	waitUntil(t, "the session to close", func() bool { return s.eng.ShellSessions() == 0 })
	m := finish(t, tm)
	if m.shell != nil || m.page != pageDevices {
		t.Errorf("after ctrl+d: pane %v, page %v; want the grid back", m.shell != nil, m.page)
	}
	// The session leaves the engine's book before its Delete reaches the
	// host: wait for the host to have deleted it.
	waitUntil(t, "the host to delete the shell", func() bool { return s.fleet.Stats().ShellsDeleted == 1 })
	if st := s.fleet.Stats(); st.ShellsOpen != 0 || st.ShellsDeleted != 1 {
		t.Errorf("simulator: %d open, %d deleted", st.ShellsOpen, st.ShellsDeleted)
	}
	if got := strings.Join(s.auditLines(t, "alice"), "|"); !strings.Contains(got, "$greeting|pwd") {
		t.Errorf("audited lines %q", got)
	}
}

// TestAViewerCannotOpenThePowerShellPane: the key is not offered, and
// pressed anyway it says which role it needs and asks the engine nothing.
func TestAViewerCannotOpenThePowerShellPane(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 2, Seed: 23})
	viewer := engine.Identity{User: "carol", Role: engine.RoleViewer, Via: engine.ViaSSH, RemoteAddr: "127.0.0.1:50000"}
	tm := startConsole(t, userClient{s.eng, viewer}, Options{Role: "Viewer", Now: time.Now}, 120, 40)
	waitFor(t, tm, s.firstOnline(t).Hostname)
	send(tm, "p")
	waitFor(t, tm, "the remote PowerShell pane needs the Operator role (you are Viewer)")
	m := finish(t, tm)
	if m.shell != nil || m.page != pageDevices {
		t.Errorf("a refused pane stayed open")
	}
	if strings.Contains(lineWith(screenText(m), "? help"), "PowerShell") {
		t.Error("the status line offers PowerShell to a Viewer")
	}
	rows, err := s.db.ListAudit(context.Background(), store.AuditFilter{Action: "shell.open"})
	if err != nil || len(rows) != 0 {
		t.Errorf("shell.open reached the engine: %+v, %v", rows, err)
	}
}

func hostSends(t *testing.T, s *simEngine, host string) int64 {
	t.Helper()
	hs, ok := s.fleet.HostStats(host)
	if !ok {
		t.Fatalf("no host %s", host)
	}
	return hs.Sends
}

// waitUntil polls cond; the deadline only stops a hung test.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
