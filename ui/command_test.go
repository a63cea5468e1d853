package ui

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// commandClient is the engine as the console's user, keeping the grouped
// command runs the engine gave the console.
type commandClient struct {
	userClient
	mu   sync.Mutex
	cmds []engine.CommandRun
}

func (c *commandClient) Do(ctx context.Context, r engine.Request) (any, error) {
	res, err := c.userClient.Do(ctx, r)
	if cr, ok := res.(engine.CommandRun); ok && err == nil {
		c.mu.Lock()
		c.cmds = append(c.cmds, cr)
		c.mu.Unlock()
	}
	return res, err
}

// finishedRead waits until the console has been given a finished command
// run and has asked again (so it has applied the finished one).
func (c *commandClient) finishedRead(t *testing.T) engine.CommandRun {
	t.Helper()
	var seen int
	var got engine.CommandRun
	waitUntil(t, "the console to read the finished command", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if seen == 0 {
			if i := slices.IndexFunc(c.cmds, func(r engine.CommandRun) bool { return r.Finished }); i >= 0 {
				seen, got = i+1, c.cmds[i]
			}
		}
		return seen > 0 && len(c.cmds) > seen
	})
	return got
}

// TestBangRunsACommandOnEveryShownDeviceAndGroupsTheOutput goes through
// ! against a real engine and the simulator: the dialog, the typed count
// more than ten devices need, the groups "13 Running / 2 Stopped", a
// group's hosts, one host's output, masking, and the export.
func TestBangRunsACommandOnEveryShownDeviceAndGroupsTheOutput(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 15, Seed: 31})
	ctx := context.Background()
	op := engine.Identity{User: "olga", Role: engine.RoleOperator, Via: engine.ViaLocal}
	ds := s.eng.Devices()
	var hosts []string
	for _, d := range ds {
		hosts = append(hosts, d.Hostname)
	}
	// Every Spooler running, then two stopped.
	info, err := engine.Call(ctx, s.eng, op, engine.RunCommand{Script: "Start-Service Spooler", Target: engine.RunTarget{Hosts: hosts}, Confirmed: true})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the start", func() bool {
		p, _ := engine.Call(ctx, s.eng, op, engine.GetRun{RunID: info.ID, Brief: true})
		return p.Finished
	})
	stopped := []string{hosts[3], hosts[9]}
	info, err = engine.Call(ctx, s.eng, op, engine.RunCommand{Script: "Stop-Service Spooler", Target: engine.RunTarget{Hosts: stopped}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the stop", func() bool {
		p, _ := engine.Call(ctx, s.eng, op, engine.GetRun{RunID: info.ID, Brief: true})
		return p.Finished
	})

	c := &commandClient{userClient: userClient{s.eng, op}}
	tm := startConsole(t, c, Options{Role: "Operator", Now: time.Now}, 120, 40)
	waitFor(t, tm, hosts[0])
	send(tm, "!")
	waitFor(t, tm, "Run a PowerShell command on 15 devices (every device)")
	for _, msg := range typeText("Get-Service Spooler | Select Status") {
		tm.Send(msg)
	}
	send(tm, "enter")
	waitFor(t, tm, "Type 15 (the number of devices) to run it")
	send(tm, "y", "enter") // not the count
	waitFor(t, tm, "type 15 (the number of devices) to run it")
	send(tm, "backspace", "1", "5", "enter")
	cr := c.finishedRead(t)
	if got := engine.FormatOutputGroups(cr.Groups); got != "13 Running / 2 Stopped" {
		t.Fatalf("groups %q", got)
	}
	send(tm, "j", "enter") // the second group: its hosts
	waitFor(t, tm, "2 of 2: 2 Stopped")
	send(tm, "enter") // the first host's whole output
	m := finish(t, tm)
	if !m.acts.output || !strings.Contains(screenText(m), "stdout") || !strings.Contains(screenText(m), "Stopped") {
		t.Errorf("enter on a host did not show its output:\n%s", screenText(m))
	}
	if r, ok := m.shownResult(); !ok || !slices.Contains(stopped, r.Host) {
		t.Errorf("the output shown is %q's, want one of %v", r.Host, stopped)
	}
	m = update(m, keyPress("esc"))
	m = update(m, keyPress("esc"))
	scr := screenText(m)
	for _, want := range []string{"13 Running / 2 Stopped", "PS> Get-Service Spooler | Select Status", "Groups of identical output", "| Stopped"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the groups view lacks %q:\n%s", want, scr)
		}
	}
	if len(m.cmdHistory) != 1 || m.cmdHistory[0] != "Get-Service Spooler | Select Status" {
		t.Errorf("history %v", m.cmdHistory)
	}

	// Exported with the groups.
	path := filepath.Join(t.TempDir(), "cmd.csv")
	nm, cmd := runExportResults(m, "csv "+path)
	m = update(nm, cmd())
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("export: %v (toast %q)", err, m.toast.text)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) != 16 || !slices.Equal(recs[0], engine.CommandExportColumns()) {
		t.Fatalf("exported CSV %v, %v", recs, err)
	}
	for _, r := range recs[1:] {
		want := "Running"
		if slices.Contains(stopped, r[0]) {
			want = "Stopped"
		}
		if r[3] != want || !strings.Contains(r[7], want) {
			t.Errorf("exported %v: want group %s", r, want)
		}
	}

	rows, err := s.db.ListAudit(ctx, store.AuditFilter{Action: "command.run", User: "olga", Result: store.AuditSuccess})
	if err != nil || len(rows) != 3 || rows[len(rows)-1].Details["script"] != "Get-Service Spooler | Select Status" {
		t.Errorf("command.run audit rows %+v, %v", rows, err)
	}
}

func TestMaskingInTheConsoleGroupsHostnames(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 4, Seed: 5})
	op := engine.Identity{User: "olga", Role: engine.RoleOperator, Via: engine.ViaLocal}
	c := &commandClient{userClient: userClient{s.eng, op}}
	tm := startConsole(t, c, Options{Role: "Operator", Now: time.Now}, 120, 40)
	waitFor(t, tm, s.firstOnline(t).Hostname)
	send(tm, "!")
	for _, msg := range typeText("hostname") {
		tm.Send(msg)
	}
	send(tm, "enter")
	waitFor(t, tm, "enter or y run")
	send(tm, "y")
	cr := c.finishedRead(t)
	if len(cr.Groups) != 4 || cr.MaskHost {
		t.Fatalf("hostname unmasked: %s", engine.FormatOutputGroups(cr.Groups))
	}
	send(tm, "m")
	waitFor(t, tm, "4 <host>")
	m := finish(t, tm)
	if scr := screenText(m); !strings.Contains(scr, "host names masked: on") || !strings.Contains(scr, "4 <host>") {
		t.Errorf("after m:\n%s", scr)
	}
}

func TestAViewerIsNotOfferedTheCommandDialog(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(5), engine.RoleViewer), Options{Role: "Viewer"}, 120, 40)
	m = update(m, keyPress("!"))
	if m.cmd != nil || m.toast.text != "running a command needs the Operator role (you are Viewer)" {
		t.Errorf("! as a Viewer: dialog %v, toast %q", m.cmd != nil, m.toast.text)
	}
}

func TestTheCommandDialogChecksItsTextAndTimeout(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(5), engine.RoleOperator), Options{Role: "Operator"}, 120, 40)
	m = update(m, keyPress("!"))
	if m.cmd == nil || !strings.Contains(screenText(m), "Run a PowerShell command on 5 devices (every device)") {
		t.Fatalf("! did not open the dialog:\n%s", screenText(m))
	}
	m = update(m, keyPress("enter"))
	if !strings.Contains(screenText(m), "command: the text is empty") {
		t.Errorf("an empty command:\n%s", screenText(m))
	}
	m = update(m, pasteMsg("Get-Date\nhostname"))
	if got := m.cmd.input.Value(); got != "Get-Date; hostname" {
		t.Errorf("a pasted two-line command reads %q", got)
	}
	m = update(m, keyPress("tab"))
	for range 3 {
		m = update(m, keyPress("backspace"))
	}
	m = update(m, keyPress("x"))
	m = update(m, keyPress("enter"))
	if !strings.Contains(screenText(m), "timeout: want a duration from 1s to 24h") {
		t.Errorf("a bad timeout:\n%s", screenText(m))
	}
	m = update(m, keyPress("esc"))
	if m.cmd != nil {
		t.Error("esc did not close the dialog")
	}
}

// TestCollectionsViewCountsAndShowsACollection: C opens the view with the
// engine's counts; enter shows the collection in the grid; the grid's
// filter saves as a collection with :save-collection.
func TestCollectionsViewCountsAndShowsACollection(t *testing.T) {
	s := newSimEngine(t, winrmsim.Config{Devices: 12, Seed: 8})
	ctx := context.Background()
	op := engine.Identity{User: "olga", Role: engine.RoleOperator, Via: engine.ViaLocal}
	site := s.eng.Devices()[0].Site
	n := 0
	for _, d := range s.eng.Devices() {
		if d.Site == site {
			n++
		}
	}
	if _, err := engine.Call(ctx, s.eng, op, engine.SaveCollection{Name: "One site", Expr: `site="` + site + `"`}); err != nil {
		t.Fatal(err)
	}
	tm := startConsole(t, userClient{s.eng, op}, Options{Role: "Operator", Now: time.Now}, 120, 40)
	waitFor(t, tm, s.firstOnline(t).Hostname)
	send(tm, "C")
	waitFor(t, tm, "COLLECTION", "One site", `site="`+site+`"`)
	send(tm, "enter")
	waitFor(t, tm, "view collection One site")
	m := finish(t, tm)
	if len(m.grid.rows) != n || m.page != pageDevices {
		t.Errorf("the grid shows %d rows on page %v, want the collection's %d", len(m.grid.rows), m.page, n)
	}
	for _, r := range m.grid.rows {
		if m.devices[r].Site != site {
			t.Errorf("%s (site %s) is in the view", m.devices[r].Hostname, m.devices[r].Site)
		}
	}
	m.setFilter("status:online")
	nm, cmd := runSaveCollection(m, "Online now")
	m = update(nm, cmd())
	if !strings.Contains(m.toast.text, "collection Online now saved: status:online") || m.grid.view != "collection Online now" {
		t.Errorf("save-collection: toast %q, view %q", m.toast.text, m.grid.view)
	}
	cs, err := engine.Call(ctx, s.eng, op, engine.ListCollections{})
	if err != nil || len(cs) != 2 {
		t.Errorf("collections after :save-collection: %+v %v", cs, err)
	}
}

func pasteMsg(s string) tea.PasteMsg { return tea.PasteMsg{Content: s} }

// TestCommandViewsFitAndStayASCII draws the command dialog, a command
// run's groups (with hostile output), a group's hosts and the Collections
// view in the ascii theme at 80x24: every line fits, every byte is ASCII,
// no escape sequence from a host reaches the terminal.
func TestCommandViewsFitAndStayASCII(t *testing.T) {
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
	m = update(m, keyPress("!"))
	m = update(m, typeText("Get-Service Spooler | Select Status")...)
	check("command dialog", m)
	m = update(m, keyPress("enter"))
	check("command confirmation", m)
	m.cmd = nil

	prog := engine.RunProgress{RunSummary: engine.RunSummary{ID: "c1", Action: engine.ActCommand, RequestedBy: "olga", Total: 30, Completed: 29, Failed: 1, Finished: true},
		Results: []engine.ActionResult{{ID: 1, Host: "WS-0001", Status: engine.ActionCompleted, Message: "Running"}, {ID: 2, Host: "WS-0002", Status: engine.ActionFailed, Message: "caf\u00e9 \x1b[2J"}}}
	cr := engine.CommandRun{RunSummary: prog.RunSummary, Script: "Get-Service Spooler | Select Status \u2713", Target: "30 device(s)",
		Groups: []engine.OutputGroup{
			{Status: engine.ActionCompleted, Label: "Running \x1b]0;owned\x07", Output: " Status\n ------\nRunning \u00fc", Count: 29, Hosts: []string{"WS-0001"}, OutputRead: true},
			{Status: engine.ActionFailed, Label: "caf\u00e9", Message: "caf\u00e9", Count: 1, Hosts: []string{"WS-0002"}, OutputRead: true},
		},
		Results: []engine.CommandEntry{{ID: 1, Host: "WS-0001", Status: engine.ActionCompleted, Group: 0}, {ID: 2, Host: "WS-0002", Status: engine.ActionFailed, Group: 1}}}
	m = update(m, runStartedMsg{info: engine.RunInfo{ID: "c1", Action: engine.ActCommand, Total: 30}, name: "command", command: true})
	m = update(m, actionsMsg{seq: m.acts.seq, prog: map[string]engine.RunProgress{"c1": prog}, cmd: map[string]engine.CommandRun{"c1": cr}})
	if !strings.Contains(screenText(m), "29 Running") {
		t.Errorf("the groups view:\n%s", screenText(m))
	}
	check("command groups", m)
	m = update(m, keyPress("j"), keyPress("enter"))
	if !strings.Contains(screenText(m), "WS-0002") || strings.Contains(screenText(m), "WS-0001") {
		t.Errorf("the second group's hosts:\n%s", screenText(m))
	}
	check("command group hosts", m)

	m.page = pageCollections
	m = update(m, collectionsMsg{seq: m.colls.seq, list: []engine.Collection{
		{Name: "Zoom older than 5.17", Expr: `software:"Zoom" software.version<5.17`, Source: engine.SourceDB, Members: 13, Inventory: true},
		{Name: "bad \u00e9", Expr: "cpu>", Source: engine.SourceConfig, Error: "cpu>: needs a number"},
	}})
	check("collections", m)
	if !strings.Contains(screenText(m), "Zoom older than 5.17") || !strings.Contains(screenText(m), "13") {
		t.Errorf("the collections view:\n%s", screenText(m))
	}
}
