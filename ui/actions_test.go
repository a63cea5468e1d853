package ui

import (
	"context"
	"encoding/csv"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// catalogIndex is the position of an action in the dialog's list.
func catalogIndex(t *testing.T, name string) int {
	t.Helper()
	i := slices.IndexFunc(engine.Catalog(), func(a engine.ActionSpec) bool { return a.Name == name })
	if i < 0 {
		t.Fatalf("no %s action in the catalog", name)
	}
	return i
}

// TestActionDialogStopsAServiceOnTwelveDevices goes through the whole
// dialog against a real engine and the simulator: the catalog, the form
// (a validation error shown inline, a choice cycled with right), the
// typed confirmation a destructive action on more than ten devices
// needs, then the progress view with the engine's results, grouped.
func TestActionDialogStopsAServiceOnTwelveDevices(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 12, Seed: 31})
	admin := engine.Identity{User: "alice", Role: engine.RoleAdmin, Via: engine.ViaLocal}
	c := &recordingClient{userClient: userClient{s.eng, admin}}
	tm := startConsole(t, c, Options{Role: "Admin", Now: time.Now}, 120, 40)
	waitFor(t, tm, s.firstOnline(t).Hostname)
	send(tm, "a", "x") // mark all 12, open the dialog
	waitFor(t, tm, "Run an action on 12 devices")
	send(tm, "g") // the cursor starts on a harmless action: from the top
	for range catalogIndex(t, "service") {
		send(tm, "j")
	}
	send(tm, "enter")
	waitFor(t, tm, "service name, e.g. Spooler")
	send(tm, "ctrl+s") // validate now (op, pattern and matches follow name): name is missing
	waitFor(t, tm, "param name:")
	for _, msg := range typeText("Spooler") {
		tm.Send(msg)
	}
	send(tm, "tab", "right", "right") // restart -> start -> stop
	send(tm, "ctrl+s")
	waitFor(t, tm, "This action is destructive", "Type 12 (the number of devices) or yes to confirm")
	send(tm, "5", "enter")
	waitFor(t, tm, "type 12 (the number of devices) or yes to confirm")
	send(tm, "backspace", "1", "2", "enter")
	// The terminal stream only rewrites changed cells, so the finished
	// run is awaited through the engine's answers to the console: once it
	// has been given a finished run and has asked again, it has applied it.
	var seen int
	waitUntil(t, "the console to read the finished run", func() bool {
		runs := c.runs()
		if seen == 0 {
			if i := slices.IndexFunc(runs, func(p engine.RunProgress) bool { return p.Finished }); i >= 0 {
				seen = i + 1
			}
		}
		return seen > 0 && len(runs) > seen
	})
	send(tm, "enter") // the first host's full output
	m := finish(t, tm)
	if !m.acts.output || !strings.Contains(screenText(m), "stdout") {
		t.Errorf("enter did not show the host's output:\n%s", screenText(m))
	}
	m = update(m, keyPress("esc"))
	if scr := screenText(m); !strings.Contains(scr, "12 Completed: Spooler stopped") || !strings.Contains(scr, "12/12 done") {
		t.Errorf("the run view:\n%s", scr)
	}

	p := m.acts.prog
	if p == nil || !p.Finished || p.Completed != 12 || len(p.Results) != 12 {
		t.Fatalf("run progress %+v", p)
	}
	if p.Results[0].Params["op"] != "stop" || p.Results[0].Params["name"] != "Spooler" {
		t.Errorf("the run's params %v", p.Results[0].Params)
	}
	if len(m.grid.marks) != 0 {
		t.Error("the marks stayed after the run started")
	}
	rows, err := s.db.ListAudit(context.Background(), store.AuditFilter{Action: "actions.run", Result: store.AuditSuccess}) // after its pending row
	if err != nil || len(rows) != 1 || rows[0].User != "alice" || rows[0].Result != store.AuditSuccess {
		t.Errorf("actions.run audit rows %+v, %v", rows, err)
	}
	// The toast said it finished, and nothing holds up quitting.
	if len(m.work) != 0 {
		t.Errorf("work left after the run finished: %+v", m.work)
	}

	// The console's reads of the run were brief (no outputs).
	for _, rp := range c.runs() {
		for _, r := range rp.Results {
			if r.Stdout != "" || r.Stderr != "" {
				t.Fatalf("the console read %s's output with the run", r.Host)
			}
		}
	}

	// e opens the palette on :export-results; CSV has one row per device,
	// with its output (read again in full).
	path := filepath.Join(t.TempDir(), "run.csv")
	if m = update(m, keyPress("e")); !m.palette.open || !strings.HasPrefix(m.palette.input, "export-results csv rmm-run-") {
		t.Errorf("e: palette %+v", m.palette)
	}
	m.palette = palette{}
	nm, cmd := runExportResults(m, "csv "+path)
	m = update(nm, cmd())
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("export: %v (toast %q)", err, m.toast.text)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) != 13 || recs[0][0] != "host" || recs[1][2] != "Completed" || recs[0][9] != "stdout" || recs[1][9] == "" {
		t.Errorf("exported CSV %v, %v", recs, err)
	}
}

// TestConfirmationIsPlainForFewDevices: a destructive action on one
// device is confirmed with y, and n cancels.
func TestConfirmationIsPlainForFewDevices(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(20), engine.RoleOperator), Options{Role: "Operator"}, 120, 40)
	sel, _ := m.selectedDevice()
	host := sel.Hostname
	m = update(m, keyPress("x"))
	if m.dialog == nil {
		t.Fatal("x did not open the dialog")
	}
	m = update(m, keys(append([]string{"g"}, strings.Split(strings.Repeat("j", catalogIndex(t, "reboot")), "")...)...)...)
	m = update(m, keyPress("enter"), keyPress("enter")) // reboot has one field (delay_s, default 0)
	if m.dialog.step != stepConfirm || m.dialog.needType {
		t.Fatalf("step %d, typed %v: want a plain confirmation for one device", m.dialog.step, m.dialog.needType)
	}
	box := screenText(m)
	for _, want := range []string{"Restart (delay_s=0)", "on 1 device: " + host, "This action is destructive", "enter or y run"} {
		if !strings.Contains(box, want) {
			t.Errorf("confirmation lacks %q:\n%s", want, box)
		}
	}
	m = update(m, keyPress("n"))
	if m.dialog != nil {
		t.Error("n did not cancel")
	}
}

// TestAViewerIsNotOfferedTheActionDialog is newcomer B4: x used to open
// the whole dialog for a Viewer (--read-only, or an SSH viewer), up to
// "Confirm ... This action is destructive", before the engine refused.
// Now x opens nothing and says which role it needs; the engine, which
// still refuses a StartRun from a Viewer, is never asked.
func TestAViewerIsNotOfferedTheActionDialog(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 2, Seed: 32})
	viewer := engine.Identity{User: "carol", Role: engine.RoleViewer, Via: engine.ViaLocal}
	m := loadedWith(t, userClient{s.eng, viewer}, Options{Role: "Viewer"}, 120, 40)
	for _, page := range []string{"1", "3"} { // the grid and the detail view
		m = update(m, keyPress(page), keyPress("x"))
		if m.dialog != nil {
			t.Fatalf("view %s: x opened the action dialog for a Viewer", page)
		}
		if m.toast.text != "running an action needs the Operator role (you are Viewer)" || !m.toast.err {
			t.Errorf("view %s: toast %+v", page, m.toast)
		}
		// The keys after it are the grid's again, not the dialog's.
		m = update(m, keyPress("enter"), keyPress("y"))
		if m.dialog != nil {
			t.Fatalf("view %s: the dialog opened after all", page)
		}
	}
	if _, err := engine.Ask(context.Background(), userClient{s.eng, viewer}, engine.StartRun{Name: "flush-dns",
		Target: engine.RunTarget{Hosts: []string{"WS-0001"}}, Confirmed: true}); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("the engine let a Viewer run an action: %v", err)
	}
	rows, err := s.db.ListAudit(context.Background(), store.AuditFilter{Action: "actions.run"})
	if err != nil || len(rows) != 1 || rows[0].Result != store.AuditDenied {
		t.Errorf("actions.run audit rows %+v, %v; want only the direct request's refusal", rows, err)
	}
}

// TestQueueViewCancelsAQueuedAction: an action for an offline device is
// queued by the engine; the Actions view lists it and c cancels it.
func TestQueueViewCancelsAQueuedAction(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 2, Seed: 33})
	ctx := context.Background()
	d := s.eng.Devices()[0]
	if err := s.fleet.SetOnline(d.Hostname, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.eng.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	admin := engine.Identity{User: "alice", Role: engine.RoleOperator, Via: engine.ViaLocal}
	res, err := s.eng.Do(ctx, admin, engine.StartRun{Name: "flush-dns", Target: engine.RunTarget{DeviceIDs: []int64{d.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if run := res.(engine.RunInfo); run.Total != 1 {
		t.Fatalf("run %+v", run)
	}
	waitUntil(t, "the action to be queued", func() bool {
		q, err := s.eng.Do(ctx, admin, engine.ListQueue{})
		return err == nil && len(q.([]engine.QueueEntry)) == 1
	})

	tm := startConsole(t, userClient{s.eng, admin}, Options{Role: "Operator", Now: time.Now}, 120, 40)
	waitFor(t, tm, d.Hostname)
	send(tm, "7")
	waitFor(t, tm, "Offline queue", "1 Queued", "Pending")
	send(tm, "tab", "c")
	waitFor(t, tm, "cancelled queued flush-dns on "+d.Hostname)
	finish(t, tm)
	q, err := s.eng.Do(ctx, admin, engine.ListQueue{})
	if err != nil {
		t.Fatal(err)
	}
	entries := q.([]engine.QueueEntry)
	if len(entries) != 1 || entries[0].State != engine.QueueCancelled {
		t.Errorf("queue after c: %+v", entries)
	}
}

// TestQuitAsksWhileARunIsInProgressAndAToastSaysWhenItEnds follows a run
// through the messages the engine's answers become.
func TestQuitAsksWhileARunIsInProgressAndAToastSaysWhenItEnds(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(20), engine.RoleOperator), Options{Role: "Operator"}, 120, 40)
	m = update(m, runStartedMsg{info: engine.RunInfo{ID: "run1", Action: "service", Total: 3}, name: "Restart service"})
	if m.page != pageActions || m.acts.open != "run1" {
		t.Fatalf("page %v, open run %q", m.page, m.acts.open)
	}
	running := engine.RunProgress{RunSummary: engine.RunSummary{ID: "run1", Action: "service", Total: 3, Completed: 1, Running: 2}}
	m = update(m, actionsMsg{seq: m.acts.seq, prog: map[string]engine.RunProgress{"run1": running}})
	nm, _ := m.Update(keyPress("q"))
	m = nm.(Model)
	if !m.confirmQuit || !strings.Contains(screenText(m), "the run Restart service (1/3 done) is running: quit anyway? y/n") {
		t.Fatalf("q during a run: confirm %v\n%s", m.confirmQuit, screenText(m))
	}
	m = update(m, keyPress("n"))
	done := running
	done.Completed, done.Running, done.Finished = 2, 0, true
	done.Failed = 1
	m = update(m, actionsMsg{seq: m.acts.seq, prog: map[string]engine.RunProgress{"run1": done}})
	if m.toast.text != "Restart service finished: 2 Completed, 1 Failed" || len(m.work) != 0 {
		t.Errorf("toast %q, work %+v", m.toast.text, m.work)
	}
	if _, cmd := m.Update(keyPress("q")); cmd == nil {
		t.Error("q after the run did not quit")
	} else if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("q after the run did not quit")
	}
}

// recordingClient is the engine as the console's user, keeping every run
// progress the engine gave the console.
type recordingClient struct {
	userClient
	mu    sync.Mutex
	progs []engine.RunProgress
}

func (c *recordingClient) Do(ctx context.Context, r engine.Request) (any, error) {
	res, err := c.userClient.Do(ctx, r)
	if p, ok := res.(engine.RunProgress); ok && err == nil {
		c.mu.Lock()
		c.progs = append(c.progs, p)
		c.mu.Unlock()
	}
	return res, err
}

func (c *recordingClient) runs() []engine.RunProgress {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.progs)
}

// TestNewViewsFitAndStayASCII draws the dialog's steps, the run view, a
// host's output and the PowerShell pane (with hostile remote output) in
// the ascii theme at 80x24: every line fits, every byte is ASCII, and no
// escape sequence from a host reaches the terminal.
func TestNewViewsFitAndStayASCII(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(30), engine.RoleOperator), Options{Role: "Operator", Theme: "ascii"}, 80, 24)
	check := func(name string, m Model) {
		t.Helper()
		content := m.View().Content
		requireASCII(t, name, []byte(content))
		for i, l := range strings.Split(content, "\n") {
			if w := len([]rune(stripANSI(l))); w > 80 {
				t.Errorf("%s: line %d is %d wide: %q", name, i, w, stripANSI(l))
			}
		}
		if strings.Contains(stripANSI(content), "\x1b") {
			t.Errorf("%s: an escape sequence survived", name)
		}
	}
	m = update(m, keyPress("a"), keyPress("x"))
	check("catalog", m)
	m = update(m, keys(append([]string{"g"}, strings.Split(strings.Repeat("j", catalogIndex(t, "registry-set")), "")...)...)...)
	m = update(m, keyPress("enter"))
	check("form", m)
	m = update(m, keyPress("enter"), keyPress("enter"), keyPress("enter"), keyPress("enter"))
	check("form with an error", m)
	m.dialog = nil

	exit := 1
	res := engine.ActionResult{Host: "WS-0001", Action: "registry-set", Status: engine.ActionFailed, Message: "Zugriff verweigert \u00e9\x1b[2J",
		Stdout: "line one\r\nzwei \u00fc\x07\r\n", Stderr: "Access is denied.", ExitCode: &exit, Attempts: 3, Duration: 1500 * time.Millisecond}
	prog := engine.RunProgress{RunSummary: engine.RunSummary{ID: "r1", Action: "registry-set", RequestedBy: "alice", Total: 30, Failed: 1, Completed: 29, Finished: true},
		Results: []engine.ActionResult{res}, Groups: []engine.ResultGroup{{Status: engine.ActionCompleted, Message: "set", Count: 29}, {Status: engine.ActionFailed, Message: res.Message, Count: 1}}}
	m = update(m, runStartedMsg{info: engine.RunInfo{ID: "r1", Total: 30}, name: "Set a registry value"})
	m = update(m, actionsMsg{seq: m.acts.seq, prog: map[string]engine.RunProgress{"r1": prog}})
	check("run", m)
	m = update(m, keyPress("enter"))
	check("output loading", m)
	m = update(m, resultMsg{seq: m.acts.fullSeq, id: res.ID, res: res})
	if !strings.Contains(screenText(m), "line one") {
		t.Errorf("the output view does not show the read result:\n%s", screenText(m))
	}
	check("output", m)
	m = update(m, keyPress("esc"), keyPress("esc"))
	m = update(m, actionsMsg{seq: m.acts.seq, readRuns: true, runs: []engine.RunSummary{prog.RunSummary},
		queue: []engine.QueueEntry{{ID: 7, Host: "WS-0002", Action: "reboot", RequestedBy: "alice", State: engine.QueuePending, LastError: "unreachable"}}})
	check("lists", m)
	// A click on the queue's row selects it (the rows are below the runs').
	scr := strings.Split(screenText(m), "\n")
	qy := slices.IndexFunc(scr, func(l string) bool { return strings.Contains(l, "WS-0002") })
	if qy < 0 {
		t.Fatalf("no queue row:\n%s", strings.Join(scr, "\n"))
	}
	m = update(m, tea.MouseClickMsg{Button: tea.MouseLeft, X: 5, Y: qy})
	if m.acts.focus != 1 || m.acts.queuePos.cursor != 0 {
		t.Errorf("click on the queue row: focus %d, cursor %d", m.acts.focus, m.acts.queuePos.cursor)
	}
	ry := slices.IndexFunc(scr, func(l string) bool { return strings.Contains(l, "registry-set") })
	m = update(m, tea.MouseClickMsg{Button: tea.MouseLeft, X: 5, Y: ry})
	if m.acts.focus != 0 {
		t.Errorf("click on the run row: focus %d", m.acts.focus)
	}

	m.page = pageDevices
	m = update(m, keyPress("p"))
	m = update(m, shellMsg{seq: 1, info: &engine.ShellInfo{SessionID: "s@WS-0001", Host: "WS-0001"}})
	m = update(m, typeText("Get-Thing")...)
	m = update(m, keyPress("enter"))
	m = update(m, shellMsg{seq: 2, line: "Get-Thing", out: engine.ShellOutput{Output: "caf\u00e9\tbar\x1b]0;owned\x07\r\n", Errors: []string{"nope \u2713"}, Exit: 1}})
	check("shell", m)
	lines := scrollback(m)
	if !slices.Contains(lines, "caf?    bar]0;owned") || !slices.Contains(lines, "nope ?") {
		t.Errorf("remote text not cleaned: %q", lines)
	}
}

func stripANSI(s string) string { return ansi.Strip(s) }

func TestRunScriptTakesTheScriptsOwnParameters(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(5), engine.RoleOperator), Options{Role: "Operator"}, 120, 40)
	m = update(m, keyPress("x"))
	m = update(m, keys(append([]string{"g"}, strings.Split(strings.Repeat("j", catalogIndex(t, engine.ActRunScript)), "")...)...)...)
	m = update(m, keyPress("enter"))
	m = update(m, typeText("hello")...)
	m = update(m, keyPress("tab"), keyPress("tab")) // past version, to script-params
	m = update(m, typeText(`who="big world" bad`)...)
	m = update(m, keyPress("enter"))
	if m.dialog.step != stepForm || !strings.Contains(m.dialog.err, `"bad" is not name=value`) {
		t.Fatalf("step %d, error %q", m.dialog.step, m.dialog.err)
	}
	m = update(m, keyPress("backspace"), keyPress("backspace"), keyPress("backspace"))
	m = update(m, typeText("n=3")...)
	m = update(m, keyPress("enter"))
	if m.dialog.step != stepConfirm {
		t.Fatalf("step %d, error %q", m.dialog.step, m.dialog.err)
	}
	want := map[string]string{"script": "hello", "who": "big world", "n": "3"}
	if !maps.Equal(m.dialog.params, want) {
		t.Errorf("params %v, want %v", m.dialog.params, want)
	}
	if scr := screenText(m); !strings.Contains(scr, "Run script hello (n=3, who=big world)") {
		t.Errorf("confirmation:\n%s", scr)
	}
}

// TestTheOutputViewReadsTheShownResultInFull runs a library script on
// three simulated hosts through a real engine, then drives the console as
// a Viewer: the run's reads are brief (no stdout or stderr), enter shows
// the device's row with "loading", and the engine's GetActionResult answer
// brings its stdout and stderr. A read of the run that shows the result
// changed reads it again; an answer that arrives after the view closed is
// dropped.
func TestTheOutputViewReadsTheShownResultInFull(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 3, Seed: 34})
	ctx := context.Background()
	admin := engine.Identity{User: "alice", Role: engine.RoleAdmin, Via: engine.ViaLocal}
	body := "Write-Output \"out from $env:COMPUTERNAME\"\nWrite-Error \"broke on $env:COMPUTERNAME\""
	if _, err := s.eng.Do(ctx, admin, engine.AddScript{Name: "both", Body: body}); err != nil {
		t.Fatal(err)
	}
	res, err := s.eng.Do(ctx, admin, engine.StartRun{Name: engine.ActRunScript, Params: map[string]string{"script": "both"},
		Target: engine.RunTarget{Hosts: []string{s.eng.Devices()[0].Hostname, s.eng.Devices()[1].Hostname, s.eng.Devices()[2].Hostname}}})
	if err != nil {
		t.Fatal(err)
	}
	runID := res.(engine.RunInfo).ID
	waitUntil(t, "the run to finish", func() bool {
		p, err := s.eng.Do(ctx, admin, engine.GetRun{RunID: runID, Brief: true})
		return err == nil && p.(engine.RunProgress).Finished
	})

	viewer := engine.Identity{User: "carol", Role: engine.RoleViewer, Via: engine.ViaLocal}
	c := &recordingClient{userClient: userClient{s.eng, viewer}}
	m := loadedWith(t, c, Options{Role: "Viewer"}, 120, 40)
	m.page, m.acts.open = pageActions, runID
	m = update(m, m.loadActions(false)())
	p := m.acts.prog
	if p == nil || len(p.Results) != 3 || !p.Finished {
		t.Fatalf("run progress %+v (error %v)", p, m.acts.progErr)
	}
	for _, r := range p.Results {
		if r.Stdout != "" || r.Stderr != "" {
			t.Errorf("%s: the view's read of the run has stdout %q, stderr %q", r.Host, r.Stdout, r.Stderr)
		}
	}
	m = update(m, keyPress("down")) // the second device
	host := p.Results[1].Host
	nm, cmd := m.Update(keyPress("enter"))
	m = nm.(Model)
	scr := screenText(m)
	if !m.acts.output || !strings.Contains(scr, host+"  run-script  Failed") || !strings.Contains(scr, "loading") ||
		strings.Contains(scr, "out from") {
		t.Fatalf("before the full read, the output view:\n%s", scr)
	}
	if cmd == nil {
		t.Fatal("enter did not read the result")
	}
	msg, ok := cmd().(resultMsg)
	if !ok || msg.err != nil {
		t.Fatalf("the read: %#v", msg)
	}
	m = update(m, msg)
	scr = screenText(m)
	if !strings.Contains(scr, " out from "+host) || !strings.Contains(scr, "broke on "+host) || strings.Contains(scr, "loading") {
		t.Errorf("after the full read, the output view:\n%s", scr)
	}

	// The next read of the run shows the result unchanged: nothing is read
	// again. One that shows it changed reads it again.
	nm, cmd = m.Update(m.loadActions(false)())
	m = nm.(Model)
	if cmd != nil {
		t.Errorf("an unchanged result was read again: %#v", cmd())
	}
	changed := m.loadActions(false)().(actionsMsg)
	pr := changed.prog[runID]
	pr.Results = slices.Clone(pr.Results)
	pr.Results[1].Attempts++
	changed.prog[runID] = pr
	nm, cmd = m.Update(changed)
	m = nm.(Model)
	if cmd == nil {
		t.Fatal("a changed result was not read again")
	}
	again, ok := cmd().(resultMsg)
	if !ok || again.id != p.Results[1].ID {
		t.Fatalf("the second read: %#v", again)
	}

	// Closed and opened again before that answer arrived: it is dropped,
	// and the new view's own read is shown.
	m = update(m, keyPress("esc"))
	nm, cmd = m.Update(keyPress("enter"))
	m = update(nm.(Model), again)
	if scr := screenText(m); m.acts.full != nil || !strings.Contains(scr, "loading") {
		t.Errorf("an answer for the closed view was applied:\n%s", scr)
	}
	if cmd == nil {
		t.Fatal("enter did not read the result")
	}
	m = update(m, cmd())
	if scr := screenText(m); !strings.Contains(scr, " out from "+host) {
		t.Errorf("the reopened output view:\n%s", scr)
	}
	for _, rp := range c.runs() {
		for _, r := range rp.Results {
			if r.Stdout != "" {
				t.Fatalf("the console read a run with outputs: %s", r.Host)
			}
		}
	}
}

func TestBigRunsAreReadLessOften(t *testing.T) {
	m := Model{acts: &actionsState{}}
	if _, ok := m.pollNeeded(); ok {
		t.Fatal("nothing open or followed, not on the actions page: no reads")
	}
	for _, tt := range []struct {
		followed, open int
		want           time.Duration
	}{
		{followed: 50, want: runPollEvery},
		{followed: 3000, want: runPollEvery},
		{followed: 10000, want: time.Second},
		{followed: 50, open: 20000, want: 2 * time.Second},
	} {
		m.acts.follow = map[string]followed{"r1": {title: "t", total: tt.followed}}
		m.acts.open, m.acts.prog = "", nil
		if tt.open > 0 {
			m.page = pageActions
			m.acts.open = "r2"
			m.acts.prog = &engine.RunProgress{RunSummary: engine.RunSummary{ID: "r2", Total: tt.open}}
		}
		if got, ok := m.pollNeeded(); !ok || got != tt.want {
			t.Errorf("followed %d, open %d: every %v (%v), want %v", tt.followed, tt.open, got, ok, tt.want)
		}
	}
}

// Newcomer: x, enter, enter, enter restarted the selected host (Restart
// was the default), and at 80x24 the catalog scrolled with no marker.
// The dialog starts on Flush DNS cache and says what is above and below.
func TestTheActionDialogStartsOnAHarmlessActionAndMarksMoreBelow(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(20), engine.RoleOperator), Options{Role: "Operator"}, 80, 24)
	m = update(m, keyPress("x"))
	if m.dialog == nil {
		t.Fatal("x did not open the dialog")
	}
	if got := m.dialog.catalog[m.dialog.pos.cursor].Name; got != engine.ActFlushDNS {
		t.Errorf("the dialog starts on %s, want %s", got, engine.ActFlushDNS)
	}
	scr := screenText(m)
	if !strings.Contains(scr, "more below") && !strings.Contains(scr, "more above") {
		t.Errorf("no scroll marker at 80x24:\n%s", scr)
	}
	m = update(m, keyPress("enter"))
	if m.dialog == nil || m.dialog.step != stepConfirm || m.dialog.spec.Name != engine.ActFlushDNS || m.dialog.spec.Destructive {
		t.Fatalf("enter from the start reached %+v, want the confirmation of flush-dns", m.dialog)
	}
	m = update(m, keyPress("esc"), keyPress("esc"))
	if m.dialog != nil {
		t.Fatal("esc, esc did not close the dialog")
	}
	m = update(m, keyPress("x"), keyPress("G"))
	if scr := screenText(m); !strings.Contains(scr, "more above") {
		t.Errorf("no marker above at the bottom of the catalog:\n%s", scr)
	}
}
