package ui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/rmmhq/rmm/engine"
)

func TestPollNowSendsPollNowAndToastsTheResult(t *testing.T) {
	c := newFullClient(fleet(200), engine.RoleOperator)
	tm := startConsole(t, c, Options{Role: "Operator"}, 120, 40)
	waitFor(t, tm, "WS-0001", "r poll now")
	send(tm, "r")
	waitFor(t, tm, "sweep done: 187 online, 13 offline")
	m := finish(t, tm)
	if got := c.sent(); !slices.Equal(got, []engine.Request{engine.PollNow{}}) {
		t.Errorf("requests = %#v, want one PollNow", got)
	}
	if m.toast.err || len(m.work) != 0 {
		t.Errorf("toast %+v, %d requests still running", m.toast, len(m.work))
	}
}

func TestAViewersRequestKeysSayWhatRoleTheyNeedAndAskNothing(t *testing.T) {
	// A Viewer is not offered ack or poll now (newcomer B4); pressed
	// anyway, the key says which role it needs and sends nothing. The
	// engine still refuses what reaches it (TestAViewersKeysAskNothingAnd
	// TheEngineStillRefuses).
	c := newFullClient(fleet(200), engine.RoleViewer)
	tm := startConsole(t, c, Options{Role: "Viewer"}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "2", "a")
	waitFor(t, tm, "acknowledging an alert needs the Operator role (you are Viewer)")
	send(tm, "1", "r")
	waitFor(t, tm, "polling now needs") // only the changed cells are redrawn
	m := finish(t, tm)
	if m.toast.text != "polling now needs the Operator role (you are Viewer)" || !m.toast.err {
		t.Errorf("toast %+v", m.toast)
	}
	if got := c.sent(); len(got) != 0 {
		t.Errorf("a Viewer's keys sent %#v", got)
	}
}

func TestRequestKeysFollowTheRole(t *testing.T) {
	tests := []struct {
		role           string
		client         Client
		poll, ack, run bool
		audit          bool
	}{
		{"Admin", newFullClient(fleet(20), engine.RoleAdmin), true, true, true, true},
		{"Operator", newFullClient(fleet(20), engine.RoleOperator), true, true, false, true},
		{"Viewer", newFullClient(fleet(20), engine.RoleViewer), false, false, false, false},
		{"", newFullClient(fleet(20), 0), true, true, true, true}, // no role known: all offered, the engine decides
		{"Admin", readOnlyClient{newFullClient(fleet(20), 0)}, false, false, false, false},
	}
	for _, tt := range tests {
		_, ro := tt.client.(readOnlyClient)
		name := tt.role
		if ro {
			name += " without a Requester"
		}
		t.Run(name, func(t *testing.T) {
			m := loadedWith(t, tt.client, Options{Role: tt.role}, 120, 40)
			status := func(m Model) string { return ansi.Strip(m.shortHelp(200)) }
			if got := strings.Contains(status(m), "r poll now"); got != tt.poll {
				t.Errorf("devices status line %q: poll now offered = %v", status(m), got)
			}
			alerts := update(m, keyPress("2"))
			if got := strings.Contains(status(alerts), "a ack  x resolve"); got != tt.ack {
				t.Errorf("alerts status line %q: ack offered = %v", status(alerts), got)
			}
			scheds := update(m, keyPress("4"))
			scheds = update(scheds, scheds.loadSchedules()())
			if got := strings.Contains(status(scheds), "x run now"); got != tt.run {
				t.Errorf("schedules status line %q: run now offered = %v", status(scheds), got)
			}
			tabs := strings.Split(screenText(m), "\n")[tabsY]
			if got := strings.Contains(tabs, "Audit"); got != tt.audit {
				t.Errorf("tab bar %q: audit tab = %v", tabs, got)
			}
			if got := slices.Contains(suggestionTexts(update(m, keyPress(":"))), "audit"); got != tt.audit {
				t.Errorf("the palette offers :audit = %v", got)
			}
			help := update(m, keyPress("?"))
			text := ansi.Strip(strings.Join(help.helpLines(), "\n"))
			for desc, want := range map[string]bool{"poll every device now": tt.poll, "acknowledge alert": tt.ack, "run the job now": tt.run} {
				if got := strings.Contains(text, desc); got != want {
					t.Errorf("help lists %q = %v, want %v", desc, got, want)
				}
			}
			if !tt.run && !ro && tt.role != "" {
				if !strings.Contains(screenText(scheds), "running a job now needs the Admin role (you are "+tt.role+")") {
					t.Errorf("schedules should say why run now is not offered:\n%s", screenText(scheds))
				}
			}
		})
	}
}

// readOnlyClient hides a client's Requester: it has every other optional
// interface.
type readOnlyClient struct{ *fullClient }

func (readOnlyClient) Do() {} // not a Requester's Do: hides the embedded one

func TestWithoutARequesterKeysSaySo(t *testing.T) {
	m := loadedWith(t, readOnlyClient{newFullClient(fleet(20), 0)}, Options{Role: "Admin"}, 120, 40)
	m = update(m, keyPress("r"))
	if !m.toast.err || m.toast.text != "devices.poll: this console cannot send requests to the engine" {
		t.Errorf("toast = %+v", m.toast)
	}
	if len(m.work) != 0 {
		t.Error("nothing was sent, nothing runs")
	}
	m = runLine(t, m, "audit")
	if m.page == pageAudit || !strings.Contains(m.toast.text, "the audit view is not available in this console") {
		t.Errorf("page %d toast %q", m.page, m.toast.text)
	}
}

func TestQuitAsksWhileASweepRuns(t *testing.T) {
	c := newFullClient(fleet(200), engine.RoleOperator)
	c.hold = make(chan struct{})
	tm := startConsole(t, c, Options{Role: "Operator"}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "r", "q")
	waitFor(t, tm, "a sweep is running: quit anyway? y/n")
	send(tm, "n") // stay
	send(tm, "j")
	close(c.hold) // the sweep ends
	waitFor(t, tm, "sweep done: 187 online, 13 offline")
	send(tm, "q") // nothing runs: quits at once
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitLong))
	m := tm.FinalModel(t).(Model)
	if !m.quitting || m.grid.cursor != 1 {
		t.Errorf("quitting %v cursor %d: n should have kept the console, j moved, q quit", m.quitting, m.grid.cursor)
	}
}

func TestQuitAnywayCancelsTheRequest(t *testing.T) {
	c := newFullClient(fleet(20), engine.RoleOperator)
	c.hold = make(chan struct{})
	defer close(c.hold)
	m := loadedWith(t, c, Options{Role: "Operator"}, 120, 40)
	nm, cmd := m.Update(keyPress("r"))
	m = nm.(Model)
	done := make(chan any, 1)
	go func() { done <- cmd() }()
	m = update(m, keyPress("q"))
	if !m.confirmQuit || m.quitting || !strings.Contains(screenText(m), "a sweep is running: quit anyway? y/n") {
		t.Fatalf("q while a sweep runs: confirm %v quitting %v", m.confirmQuit, m.quitting)
	}
	if again := update(m, keyPress(":")); again.palette.open || again.confirmQuit {
		t.Error("any key but y answers no, and does nothing else")
	}
	nm, _ = m.Update(keyPress("y"))
	if !nm.(Model).quitting {
		t.Fatal("y should quit")
	}
	select {
	case msg := <-done:
		if r, ok := msg.(requestMsg); !ok || !errors.Is(r.err, context.Canceled) {
			t.Errorf("the sweep ended with %#v, want it cancelled", msg)
		}
	case <-time.After(waitLong):
		t.Fatal("quitting did not cancel the sweep in flight")
	}
}

func TestASecondPollNowWaitsForTheFirst(t *testing.T) {
	c := newFullClient(fleet(20), engine.RoleOperator)
	m := loadedWith(t, c, Options{Role: "Operator"}, 120, 40)
	m = update(m, keyPress("r"))
	nm, cmd := m.Update(keyPress("r"))
	m = nm.(Model)
	if len(m.work) != 1 || m.toast.text != "a sweep is already running" {
		t.Errorf("%d requests, toast %q", len(m.work), m.toast.text)
	}
	_ = cmd
}

func TestRequestErrorsAreErrorToasts(t *testing.T) {
	c := newFullClient(fleet(20), engine.RoleAdmin)
	c.doErr = errors.New("acknowledge alert 12: database is locked")
	m := loadedWith(t, c, Options{Role: "Admin"}, 120, 40)
	m = update(m, keyPress("2"), keyPress("a"))
	nm, cmd := m.Update(keyPress("enter"))
	m = update(nm.(Model), cmd())
	if !m.toast.err || m.toast.text != "acknowledge alert 12: database is locked" {
		t.Errorf("toast = %+v", m.toast)
	}
}
