package ui

import (
	"fmt"
	"slices"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// Requests: what the console asks of the engine (poll now, ack, resolve,
// run a schedule, read the audit log). They go through the Client's
// Requester, which carries the user's identity, in tea.Cmds; the engine
// authorizes and audits each one. The role decides what the console
// offers: a request key or dialog the role may not use is not in the help
// or the status line, and pressing it anyway opens nothing and asks
// nothing (denied); the engine still refuses whatever reaches it.

// jobStartWait is how long a schedule asked to run now may take to
// start before the console stops waiting for it (a scheduler that is
// not running in this process never starts it).
const jobStartWait = 10 * time.Second

// may reports whether the console offers an action needing p: it can
// send requests, and the user's role (when known) holds p.
func (m *Model) may(p engine.Permission) bool {
	if m.feed.caps.req == nil {
		return false
	}
	return m.role == 0 || m.role.Can(p)
}

// denied reports whether the user's role may not use a request key or
// dialog, and then says so in an error toast ("polling now needs the
// Operator role (you are Viewer)"): the key opens nothing and asks the
// engine nothing. A console that does not know the role offers
// everything and leaves the decision to the engine.
func (m *Model) denied(p engine.Permission, what string) bool {
	if m.role == 0 || m.role.Can(p) {
		return false
	}
	if need, ok := engine.Permissions()[p]; ok {
		m.notify(what+" needs the "+need.String()+" role (you are "+m.role.String()+")", true)
	} else {
		m.notify(what+" is not allowed (you are "+m.role.String()+")", true)
	}
	return true
}

// work is a request the user started that has not finished, or a job
// they asked to run now that has not ended: quitting asks first.
type work struct {
	id   int
	what string // "a sweep", "schedule inventory": "<what> is running"
	req  engine.Request
	// A RunSchedule returns once the scheduler has the job; the work
	// lasts until a run that started after asked has ended.
	job     string
	asked   time.Time // wall clock, as the scheduler's
	sent    bool      // the request returned
	started bool      // the job was seen running
}

// requestMsg is a finished request.
type requestMsg struct {
	id  int
	req engine.Request
	res any
	err error
}

// send runs r through the Requester in a command. what names it for the
// quit question; "" for requests that do not hold up quitting.
func (m *Model) send(r engine.Request, what string) tea.Cmd {
	rq := m.feed.caps.req
	if rq == nil {
		return m.notify(r.Action()+": this console cannot send requests to the engine", true)
	}
	m.workSeq++
	w := work{id: m.workSeq, what: what, req: r, asked: time.Now()}
	if rs, ok := r.(engine.RunSchedule); ok {
		w.job = rs.Name
	}
	m.work = append(slices.Clone(m.work), w)
	ctx, id := m.feed.ctx, w.id
	return func() tea.Msg {
		res, err := rq.Do(ctx, r)
		return requestMsg{id: id, req: r, res: res, err: err}
	}
}

// requestDone takes a finished request: its outcome becomes a toast.
func (m *Model) requestDone(msg requestMsg) tea.Cmd {
	i := slices.IndexFunc(m.work, func(w work) bool { return w.id == msg.id })
	if i < 0 {
		return nil
	}
	w := m.work[i]
	m.work = slices.Delete(slices.Clone(m.work), i, i+1)
	defer func() {
		if len(m.work) == 0 {
			m.confirmQuit = false // nothing left to lose
		}
	}()
	if msg.err != nil {
		return m.notify(msg.err.Error(), true)
	}
	switch r := msg.req.(type) {
	case engine.PollNow:
		if res, ok := msg.res.(engine.SweepResult); ok {
			return m.notify(SweepText(res), false)
		}
		return m.notify("sweep done", false)
	case engine.AckAlert:
		return m.notify("acknowledged "+alertName(msg.res, r.ID), false)
	case engine.ResolveAlert:
		return m.notify("resolved "+alertName(msg.res, r.ID), false)
	case engine.ChangeAlerts:
		done := map[string]string{engine.AlertOpAck: "acknowledged", engine.AlertOpResolve: "resolved", engine.AlertOpSnooze: "snoozed"}[r.Op]
		res, _ := msg.res.(engine.AlertChanges)
		n := len(res.Changed)
		if msg.res == nil {
			n = len(r.IDs)
		}
		text := done + " " + Thousands(n) + " " + plural(n, "alert", "alerts")
		if r.Op == engine.AlertOpSnooze && r.For > 0 {
			text += " for " + r.For.String()
		}
		if len(res.Failed) > 0 {
			text += "; " + Thousands(len(res.Failed)) + " failed: " + res.Failed[0].Error
			return m.notify(text, true)
		}
		return m.notify(text, false)
	case engine.RunSchedule:
		w.sent = true
		m.work = append(m.work, w)
		return tea.Batch(m.notify("schedule "+r.Name+": started", false), m.loadSchedules())
	}
	return nil
}

// SweepText is a finished sweep as a toast says it: "sweep done: 187
// online, 13 offline" (and unknown devices, when there are any).
func SweepText(r engine.SweepResult) string {
	s := "sweep done: " + Thousands(r.Online) + " online, " + Thousands(r.Offline) + " offline"
	if r.Unknown > 0 {
		s += ", " + Thousands(r.Unknown) + " unknown"
	}
	return s
}

// alertName names an alert the engine returned: "alert 42 (WS-0042
// disk_used C:)".
func alertName(res any, id int64) string {
	s := fmt.Sprintf("alert %d", id)
	if a, ok := res.(engine.Alert); ok && a.ID == id {
		host := a.Hostname
		if host == "" {
			host = "fleet"
		}
		s += " (" + host + " " + alertWhat(a) + ")"
	}
	return s
}

// busyText is why quitting asks: "a sweep is running".
func (m *Model) busyText() string {
	whats := make([]string, 0, len(m.work)+2)
	for _, w := range m.work {
		whats = append(whats, w.what)
	}
	// Requests that are not in m.work: an inventory collection the
	// detail view waits for, a line in the PowerShell pane (newcomer B7).
	if m.detail.collecting {
		whats = append(whats, "collecting inventory from "+m.detail.hostname)
	}
	if m.shell != nil && m.shell.running != "" {
		whats = append(whats, "a PowerShell line on "+m.shell.host)
	}
	switch len(whats) {
	case 0:
		return ""
	case 1:
		return whats[0] + " is running"
	}
	return itoa(len(whats)) + " requests are running"
}

// pollNow sweeps the fleet now, unless a sweep the user started is
// still running.
func (m *Model) pollNow() tea.Cmd {
	for _, w := range m.work {
		if _, ok := w.req.(engine.PollNow); ok {
			return m.notify("a sweep is already running", false)
		}
	}
	return m.send(engine.PollNow{}, "a sweep")
}

// trackingJobs reports whether a job the user asked to run is awaited.
func (m *Model) trackingJobs() bool {
	for _, w := range m.work {
		if w.job != "" && w.sent {
			return true
		}
	}
	return false
}

// trackJobs follows the jobs the user asked to run through a fresh
// schedule list: a job is done once a run that started after the
// request has ended, and given up if it never started.
func (m *Model) trackJobs(jobs []engine.JobStatus) tea.Cmd {
	if !m.trackingJobs() {
		return nil
	}
	var cmds []tea.Cmd
	kept := make([]work, 0, len(m.work))
	for _, w := range m.work {
		if w.job == "" || !w.sent {
			kept = append(kept, w)
			continue
		}
		i := slices.IndexFunc(jobs, func(j engine.JobStatus) bool { return j.Name == w.job })
		if i < 0 {
			continue // the job went away (config reload)
		}
		j := jobs[i]
		switch {
		case j.Running:
			w.started = true
		case !j.LastRun.Before(w.asked):
			if j.LastErr != "" {
				cmds = append(cmds, m.notify("schedule "+w.job+" failed: "+j.LastErr, true))
			} else {
				cmds = append(cmds, m.notify("schedule "+w.job+": done", false))
			}
			continue
		case !w.started && time.Since(w.asked) > jobStartWait:
			continue
		}
		kept = append(kept, w)
	}
	m.work = kept
	if len(m.work) == 0 {
		m.confirmQuit = false
	}
	return tea.Batch(cmds...)
}

// confirmText is the quit question.
func (m *Model) confirmText() string {
	return m.busyText() + ": quit anyway? y/n"
}
