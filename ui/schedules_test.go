package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
)

func TestSchedulesListNextRuns(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(20), engine.RoleAdmin), Options{Role: "Admin"}, 120, 40)
	nm, cmd := m.Update(keyPress("4"))
	m = nm.(Model)
	if m.page != pageSchedules || cmd == nil {
		t.Fatalf("4: page %d, no read of the schedules %v", m.page, cmd == nil)
	}
	if !strings.Contains(screenText(m), "loading schedules") {
		t.Error("before the read the view should say it is loading")
	}
	m = update(m, cmd())
	scr := screenText(m)
	for _, want := range []string{"NAME", "SPEC", "NEXT RUN", "LAST RUN", "STATE", "LAST ERROR",
		"maintenance  weekly sun 03:00  2026-03-15 03:00 (in 17h)  never",
		"cleanup      daily 05:00       2026-03-15 05:00 (in 19h)  2026-03-14 05:00 (4h ago)  failed   archive metrics",
		"x/enter: run it now", "x run now"} {
		if !strings.Contains(scr, want) {
			t.Errorf("schedules view lacks %q:\n%s", want, scr)
		}
	}
	m = update(m, keyPress("j"))
	if scr := screenText(m); !strings.Contains(scr, "last run failed: archive metrics 2026-03-06: write /var/lib/rmm/archive: no space left on device") {
		t.Errorf("the selected job's error is not shown whole:\n%s", scr)
	}
	// At 80 columns the times are short, the footer has them whole.
	small := update(m, tmSize(80, 24))
	if scr := screenText(small); !strings.Contains(scr, "Sun 05:00 (in 19h)") || !strings.Contains(scr, "next 2026-03-15 05:00 (in 19h)") {
		t.Errorf("narrow schedules:\n%s", scr)
	}
}

func TestRunNowSendsRunScheduleAndFollowsTheJob(t *testing.T) {
	c := newFullClient(fleet(20), engine.RoleAdmin)
	c.hold = make(chan struct{})
	tm := startConsole(t, c, Options{Role: "Admin"}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "4")
	waitFor(t, tm, "maintenance", "cleanup")
	send(tm, "j", "x")
	waitFor(t, tm, "schedule cleanup: started")
	send(tm, "q")
	waitFor(t, tm, "schedule cleanup is running: quit anyway? y/n")
	send(tm, "n")
	close(c.hold)
	waitFor(t, tm, "done") // only the changed cells are redrawn
	m := finish(t, tm)
	if m.toast.text != "schedule cleanup: done" {
		t.Errorf("toast %q", m.toast.text)
	}
	if got := c.sent(); !slices.Equal(got, []engine.Request{engine.RunSchedule{Name: "cleanup"}}) {
		t.Errorf("requests = %#v", got)
	}
	if len(m.work) != 0 {
		t.Errorf("the job ended but %d requests are still awaited", len(m.work))
	}
}

func TestEnterRunsTheSelectedJobToo(t *testing.T) {
	c := newFullClient(fleet(20), engine.RoleAdmin)
	m := loadedWith(t, c, Options{Role: "Admin"}, 120, 40)
	m = update(m, keyPress("4"))
	m = update(m, m.loadSchedules()())
	if _, cmd := m.Update(keyPress("enter")); cmd == nil {
		t.Fatal("enter sent nothing")
	} else {
		cmd()
	}
	if got := c.sent(); !slices.Equal(got, []engine.Request{engine.RunSchedule{Name: "maintenance"}}) {
		t.Errorf("requests = %#v", got)
	}
}

func TestAnOperatorIsNotOfferedRunNow(t *testing.T) {
	c := newFullClient(fleet(20), engine.RoleOperator)
	m := loadedWith(t, c, Options{Role: "Operator"}, 120, 40)
	m = update(m, keyPress("4"))
	m = update(m, m.loadSchedules()())
	nm, cmd := m.Update(keyPress("enter"))
	m = nm.(Model)
	// Not offered to an Operator: the key says so and asks nothing.
	if cmd != nil || len(c.sent()) != 0 {
		t.Errorf("enter sent %#v", c.sent())
	}
	if !m.toast.err || m.toast.text != "running a job now needs the Admin role (you are Operator)" {
		t.Errorf("toast = %+v", m.toast)
	}
}

func TestAJobThatNeverStartsIsNotAwaitedForever(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(20), 0), Options{}, 120, 40)
	m.work = []work{{id: 1, what: "schedule cleanup", job: "cleanup", sent: true, asked: time.Now().Add(-time.Minute)}}
	m.confirmQuit = true
	m = update(m, schedulesMsg{jobs: testJobs()})
	if len(m.work) != 0 || m.confirmQuit {
		t.Errorf("work %v confirm %v: a job not started after %s is given up", m.work, m.confirmQuit, jobStartWait)
	}
}

func TestNoSchedulerSaysSo(t *testing.T) {
	c := newFullClient(fleet(20), 0)
	c.jobs = nil
	m := loadedWith(t, c, Options{}, 120, 40)
	m = update(m, keyPress("4"))
	m = update(m, m.loadSchedules()())
	if !strings.Contains(screenText(m), "No scheduled jobs: no scheduler runs in this process.") {
		t.Errorf("empty schedules:\n%s", screenText(m))
	}
}
