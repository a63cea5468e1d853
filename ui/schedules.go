package ui

import (
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// schedulesState is the schedules view: the scheduled jobs as last read
// (the engine orders them by next run), read again every second while the
// view is shown; the selection follows its job by name.
type schedulesState struct {
	jobs    []engine.JobStatus
	read    bool
	pos     listPos
	selName string
}

// schedulesMsg is a fresh read of the schedules.
type schedulesMsg struct{ jobs []engine.JobStatus }

// loadSchedules reads the schedules in a command; nil without a
// ScheduleSource.
func (m *Model) loadSchedules() tea.Cmd {
	src := m.feed.caps.scheds
	if src == nil {
		return nil
	}
	return func() tea.Msg { return schedulesMsg{jobs: src.Schedules()} }
}

func openSchedules(m Model) (Model, tea.Cmd, error) {
	return m, m.loadSchedules(), nil
}

func (m *Model) schedulesLoaded(msg schedulesMsg) tea.Cmd {
	s := &m.schedules
	s.jobs, s.read = msg.jobs, true
	// Until the user picks a job, the cursor stays on the next to run.
	picked := s.selName != ""
	if picked {
		for i := range s.jobs {
			if s.jobs[i].Name == s.selName {
				s.pos.cursor = i
				break
			}
		}
	}
	s.pos.clamp(len(s.jobs), m.listRows())
	if picked {
		s.follow()
	}
	return m.trackJobs(msg.jobs)
}

func (s *schedulesState) follow() {
	if len(s.jobs) > 0 {
		s.selName = s.jobs[s.pos.cursor].Name
	}
}

func (s *schedulesState) selected() (engine.JobStatus, bool) {
	if len(s.jobs) == 0 {
		return engine.JobStatus{}, false
	}
	return s.jobs[min(s.pos.cursor, len(s.jobs)-1)], true
}

func schedulesKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := &m.keys
	s := &m.schedules
	if s.pos.move(k, msg, len(s.jobs), m.listRows()) {
		s.follow()
		return m, nil
	}
	switch {
	case key.Matches(msg, k.Back):
		m.page = pageDevices
	case key.Matches(msg, k.RunNow):
		if m.denied(engine.PermConfigEdit, "running a job now") {
			return m, nil
		}
		if j, ok := s.selected(); ok {
			return m, m.send(engine.RunSchedule{Name: j.Name}, "schedule "+j.Name)
		}
	}
	return m, nil
}

func schedulesClick(m Model, _, y int) (Model, tea.Cmd) {
	if m.schedules.pos.click(y, len(m.schedules.jobs), m.listRows()) {
		m.schedules.follow()
	}
	return m, nil
}

// jobState is a job's state in one word: running, failed (its last run),
// ok, or "-" before its first run.
func jobState(j engine.JobStatus) string {
	switch {
	case j.Running:
		return "running"
	case j.LastErr != "":
		return "failed"
	case j.LastRun.IsZero():
		return "-"
	}
	return "ok"
}

// scheduleColumns sizes the table: NAME, SPEC, NEXT RUN, LAST RUN,
// STATE, and LAST ERROR when there is room (the footer shows it whole).
// short is the time format to use (see when).
func (m *Model) scheduleColumns() (cols []listCell, short bool) {
	const stateW = len("running")
	nameW, specW := len("NAME"), len("SPEC")
	for _, j := range m.schedules.jobs {
		nameW = max(nameW, ansi.StringWidth(j.Name))
		specW = max(specW, ansi.StringWidth(j.Spec))
	}
	nameW, specW = min(nameW, 24), min(specW, 28)
	timeCols := func(short bool) (int, int) {
		nextW, lastW := len("NEXT RUN"), len("LAST RUN")
		for _, j := range m.schedules.jobs {
			nextW = max(nextW, ansi.StringWidth(m.when(j.Next, true, short)))
			lastW = max(lastW, ansi.StringWidth(m.when(j.LastRun, false, short)))
		}
		return nextW, lastW
	}
	build := func(short bool) []listCell {
		nextW, lastW := timeCols(short)
		return []listCell{{"NAME", nameW, false}, {"SPEC", specW, false}, {"NEXT RUN", nextW, false},
			{"LAST RUN", lastW, false}, {"STATE", stateW, false}}
	}
	cols = build(false)
	if m.flexWidth(cols) < 0 {
		cols, short = build(true), true
	}
	const nameMin, errMin = 10, 12
	if over := -m.flexWidth(cols); over > 0 {
		cut := min(over, max(cols[1].width-nameMin, 0))
		cols[1].width -= cut
		cols[0].width -= min(over-cut, max(cols[0].width-nameMin, 0))
	}
	if w := m.flexWidth(cols); w >= errMin {
		cols = append(cols, listCell{"LAST ERROR", w, false})
	}
	return cols, short
}

// when is a job's next or last run for the table: "2026-03-15 03:00 (in
// 17h)", or short, for narrow terminals, "Sun 03:00 (in 17h)" (the
// date when it is a week or more away). The footer always has it whole.
func (m *Model) when(t time.Time, ahead, short bool) string {
	if !short {
		if ahead {
			return m.stampAhead(t)
		}
		return m.stamp(t)
	}
	if t.IsZero() {
		if ahead {
			return "-"
		}
		return "never"
	}
	now := m.now()
	lt := t.In(now.Location())
	abs := lt.Format("Mon 15:04")
	if d := lt.Sub(now); d >= 6*24*time.Hour || d <= -6*24*time.Hour {
		abs = lt.Format("2006-01-02")
	}
	if ahead {
		return abs + " (" + RelativeIn(now, t) + ")"
	}
	return abs + " (" + RelativeAge(now, t) + ")"
}

// schedulesBody is the schedules page: the jobs, then the selected one
// in full with what running it now takes.
func (m *Model) schedulesBody(height int) []string {
	th, g := &m.theme, &m.theme.Glyphs
	s := &m.schedules
	if !s.read {
		return []string{m.centered("loading schedules"+g.Ellipsis, height)}
	}
	if len(s.jobs) == 0 {
		return []string{m.centered("No scheduled jobs: no scheduler runs in this process.", height)}
	}
	ell := g.Ellipsis
	cols, short := m.scheduleColumns()
	out := make([]string, 0, height)
	out = append(out, m.listTitles(cols))
	vis := min(m.listRows(), height-1)
	for i := s.pos.offset; i < min(s.pos.offset+vis, len(s.jobs)); i++ {
		j := s.jobs[i]
		sel := i == s.pos.cursor
		next, last := m.when(j.Next, true, short), m.when(j.LastRun, false, short)
		state := jobState(j)
		cells := []string{fit(j.Name, cols[0].width, false, ell), fit(j.Spec, cols[1].width, false, ell),
			fit(next, cols[2].width, false, ell), fit(last, cols[3].width, false, ell), fit(state, cols[4].width, false, ell)}
		if len(cols) > 5 {
			cells = append(cells, fit(oneLine(j.LastErr), cols[5].width, false, ell))
		}
		if !sel {
			switch state {
			case "running":
				cells[4] = th.Notice.Render(cells[4])
			case "failed":
				cells[4] = th.Error.Render(cells[4])
			case "-":
				cells[4] = th.Muted.Render(cells[4])
			}
			if len(cells) > 5 {
				cells[5] = th.Error.Render(cells[5])
			}
			if j.LastRun.IsZero() {
				cells[3] = th.Muted.Render(cells[3])
			}
		}
		out = append(out, m.listLine(cells, sel))
	}
	for len(out) < height-listFooter {
		out = append(out, "")
	}
	j, _ := s.selected()
	out = append(out, m.scheduleFooter(j)...)
	return out[:height]
}

// scheduleFooter is the selected job in full, and how to run it now: a
// role that may not is told so, greyed, rather than offered a key.
func (m *Model) scheduleFooter(j engine.JobStatus) []string {
	th, g := &m.theme, &m.theme.Glyphs
	first := " " + th.HelpKey.Render(j.Name) + "  " + th.Text.Render(j.Spec) + "  " +
		th.Muted.Render("next ") + th.Text.Render(m.stampAhead(j.Next)) + "  " +
		th.Muted.Render("last ") + th.Text.Render(m.stamp(j.LastRun))
	var second string
	switch {
	case j.Running:
		second = th.Notice.Render("running now")
	case j.LastErr != "":
		second = th.Error.Render("last run failed: " + oneLine(j.LastErr))
	case j.LastRun.IsZero():
		second = th.Muted.Render("not run yet")
	default:
		second = th.Text.Render("last run ok")
	}
	var third string
	switch {
	case m.feed.caps.req == nil:
		third = th.Muted.Render("this console cannot run jobs (no requests to the engine)")
	case m.may(engine.PermConfigEdit):
		third = th.Muted.Render(keyLabel(m.keys.RunNow.Keys()) + ": run it now")
	default:
		third = th.Muted.Render("running a job now needs the Admin role (you are " + m.role.String() + ")")
	}
	return []string{
		ansi.Truncate(first, m.width, g.Ellipsis),
		ansi.Truncate(" "+second, m.width, g.Ellipsis),
		ansi.Truncate(" "+third, m.width, g.Ellipsis),
	}
}
