package ui

// Drawing the Actions view: the runs and queue lists, a run's progress
// and results, one device's output.

import (
	"iter"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// actionsBody draws the view.
func (m *Model) actionsBody(height int) []string {
	a := m.acts
	switch {
	case a.open != "" && a.output:
		return m.outputBody(height)
	case a.open != "" && a.openCmd:
		return m.commandRunBody(height)
	case a.open != "":
		return m.runBody(height)
	}
	th, g := &m.theme, &m.theme.Glyphs
	ell := g.Ellipsis
	var out []string
	// Runs.
	title := "Runs"
	if a.focus == 0 {
		title = g.Pointer + " " + title
	}
	out = append(out, th.Section.Render(title))
	runCols := []listCell{{title: "STARTED", width: 14}, {title: "ACTION", width: 14}, {title: "BY", width: 10},
		{title: "STATE", width: 9}, {title: "DONE", width: 9, right: true}}
	runCols = append(runCols, listCell{title: "RESULTS", width: max(m.flexWidth(runCols), 8)})
	out = append(out, m.listTitles(runCols))
	vis := m.actionsListRows(0)
	loc := m.now().Location()
	switch {
	case !a.read:
		out = append(out, th.Muted.Render("  reading runs"+ell))
	case a.runsErr != nil:
		out = append(out, th.Error.Render("  "+m.clean(oneLine(a.runsErr.Error()))))
	case len(a.runs) == 0:
		out = append(out, th.Muted.Render("  No runs yet. Mark devices in the grid and press "+firstKey(m.keys.RunAction)+"."))
	}
	for i := a.runPos.offset; i < min(a.runPos.offset+vis, len(a.runs)); i++ {
		r := a.runs[i]
		sel := a.focus == 0 && i == a.runPos.cursor
		cells := []string{
			fit(r.StartedAt.In(loc).Format("01-02 15:04:05"), 14, false, ell),
			fit(r.Action, 14, false, ell),
			fit(r.RequestedBy, 10, false, ell),
			fit(runState(r), 9, false, ell),
			fit(Thousands(runDone(r))+"/"+Thousands(r.Total), 9, true, ell),
			fit(runCounts(r), runCols[5].width, false, ell),
		}
		if !sel {
			cells[3] = m.stateInk(runState(r)).Render(cells[3])
		}
		out = append(out, m.listLine(cells, sel))
	}
	for len(out) < 2+vis {
		out = append(out, "")
	}
	// The offline queue.
	title = "Offline queue"
	if a.focus == 1 {
		title = g.Pointer + " " + title
	}
	out = append(out, th.Section.Render(title+th.Muted.Render("  (actions waiting for their device to come back)")))
	qCols := []listCell{{title: "ID", width: 4, right: true}, {title: "HOST", width: 14}, {title: "ACTION", width: 12},
		{title: "BY", width: 8}, {title: "STATE", width: 9}, {title: "EXPIRES", width: 11}}
	qCols = append(qCols, listCell{title: "LAST ERROR", width: max(m.flexWidth(qCols), 8)})
	out = append(out, m.listTitles(qCols))
	switch {
	case a.queueErr != nil:
		out = append(out, th.Error.Render("  "+m.clean(oneLine(a.queueErr.Error()))))
	case a.read && len(a.queue) == 0:
		out = append(out, th.Muted.Render("  The offline queue is empty."))
	}
	qvis := m.actionsListRows(1)
	for i := a.queuePos.offset; i < min(a.queuePos.offset+qvis, len(a.queue)); i++ {
		e := a.queue[i]
		sel := a.focus == 1 && i == a.queuePos.cursor
		cells := []string{
			fit(strconv.FormatInt(e.ID, 10), 4, true, ell),
			fit(e.Host, 14, false, ell),
			fit(e.Action, 12, false, ell),
			fit(e.RequestedBy, 8, false, ell),
			fit(e.State, 9, false, ell),
			fit(e.ExpiresAt.In(loc).Format("01-02 15:04"), 11, false, ell),
			fit(m.clean(oneLine(e.LastError)), qCols[6].width, false, ell),
		}
		out = append(out, m.listLine(cells, sel))
	}
	return padLines(out, height)
}

// stateInk is the style of an action or run status.
func (m *Model) stateInk(s string) lipgloss.Style {
	th := &m.theme
	switch s {
	case engine.ActionCompleted:
		return th.Online
	case engine.ActionFailed, engine.ActionExpired:
		return th.Error
	case engine.ActionCancelled, engine.ActionQueued:
		return th.Warn
	}
	return th.Text
}

// progressBar is a bar width cells wide filled to done/total, in the
// theme's glyphs (ASCII in the ascii theme).
func (m *Model) progressBar(done, total, width int) string {
	g := &m.theme.Glyphs
	full := 0
	if total > 0 {
		full = min(done*width/total, width)
	}
	return m.theme.BarFill.Render(strings.Repeat(g.BarFull, full)) + m.theme.BarTrack.Render(strings.Repeat(g.BarEmpty, width-full))
}

// runBody draws the open run: state, bar and counts, the grouped
// results, the devices.
func (m *Model) runBody(height int) []string {
	a := m.acts
	th, g := &m.theme, &m.theme.Glyphs
	ell := g.Ellipsis
	if a.prog == nil {
		if a.progErr != nil {
			return padLines([]string{th.Error.Render(" run " + a.open + ": " + m.clean(oneLine(a.progErr.Error())))}, height)
		}
		return padLines([]string{th.Muted.Render(" reading run " + a.open + ell)}, height)
	}
	p := a.prog
	var out []string
	head := " Run " + p.ID + "  " + p.Action + "  by " + p.RequestedBy + "  started " + RelativeAge(m.now(), p.StartedAt)
	out = append(out, th.Section.Render(fit(head, m.width, false, ell)))
	done := runDone(p.RunSummary)
	state := m.stateInk(runState(p.RunSummary)).Render(runState(p.RunSummary))
	out = append(out, " "+m.progressBar(done, p.Total, 30)+"  "+th.Text.Render(Thousands(done)+"/"+Thousands(p.Total)+" done")+"  "+state)
	counts := "done " + Thousands(done) + "  failed " + Thousands(p.Failed) + "  queued " + Thousands(p.Queued) +
		"  remaining " + Thousands(p.Pending+p.Running) + "  (running " + Thousands(p.Running) + ", cancelled " + Thousands(p.Cancelled) + ")"
	out = append(out, th.Muted.Render(fit(" "+counts, m.width, false, ell)))
	for i, gr := range p.Groups {
		if i == groupsShown {
			break
		}
		line := fit(Thousands(gr.Count), 7, true, ell) + " " + gr.Status
		if gr.Message != "" {
			line += ": " + m.clean(oneLine(gr.Message))
		}
		out = append(out, m.stateInk(gr.Status).Render(fit(line, m.width, false, ell)))
	}
	if len(p.Groups) > groupsShown {
		out = append(out, th.Muted.Render("        and "+Thousands(len(p.Groups)-groupsShown)+" more outcomes"))
	}
	out = append(out, "")
	cols := []listCell{{title: "HOST", width: 18}, {title: "STATUS", width: 10}, {title: "TOOK", width: 7, right: true}, {title: "TRIES", width: 5, right: true}}
	cols = append(cols, listCell{title: "MESSAGE", width: max(m.flexWidth(cols), 8)})
	out = append(out, m.listTitles(cols))
	vis := m.runRows()
	a.resPos.clamp(len(p.Results), vis)
	for i := a.resPos.offset; i < min(a.resPos.offset+vis, len(p.Results)); i++ {
		r := p.Results[i]
		sel := i == a.resPos.cursor
		took := ""
		if r.Duration > 0 {
			took = Took(r.Duration)
		}
		cells := []string{fit(r.Host, 18, false, ell), fit(r.Status, 10, false, ell), fit(took, 7, true, ell),
			fit(strconv.Itoa(r.Attempts), 5, true, ell), fit(m.clean(oneLine(r.Message)), cols[4].width, false, ell)}
		if !sel {
			cells[1] = m.stateInk(r.Status).Render(cells[1])
		}
		out = append(out, m.listLine(cells, sel))
	}
	out = padLines(out, height-listFooter)
	if a.resPos.cursor < len(p.Results) {
		r := p.Results[a.resPos.cursor]
		out = append(out, "", th.Text.Render(fit(" "+r.Host+": "+m.clean(oneLine(r.Message)), m.width, false, ell)),
			th.Muted.Render(fit(" "+firstKey(m.keys.Open)+" shows the full output", m.width, false, ell)))
	}
	return padLines(out, height)
}

// outputBody is one device's full result: the one GetActionResult read;
// until it arrives, the run's (brief) row and "loading".
func (m *Model) outputBody(height int) []string {
	a := m.acts
	th := &m.theme
	r, ok := m.shownResult()
	if !ok {
		return padLines(nil, height)
	}
	have := a.full != nil && a.full.ID == r.ID
	if have {
		r = *a.full
	}
	lines := []string{th.Section.Render(" " + r.Host + "  " + r.Action + "  " + r.Status)}
	exit := "none"
	if r.ExitCode != nil {
		exit = strconv.Itoa(*r.ExitCode)
	}
	lines = append(lines, th.Muted.Render(" exit code "+exit+", "+strconv.Itoa(r.Attempts)+" "+plural(r.Attempts, "attempt", "attempts")+
		", took "+Took(r.Duration)+", script version "+strconv.Itoa(r.ScriptVersion)))
	lines = append(lines, th.Text.Render(" "+m.clean(r.Message)), "", th.Label.Render(" stdout"))
	switch {
	case !have && a.fullErr != nil:
		lines = append(lines, th.Error.Render(" "+m.clean(oneLine(a.fullErr.Error()))))
	case !have:
		lines = append(lines, th.Muted.Render(" loading"+th.Glyphs.Ellipsis))
	default:
		for l := range outputLines(r.Stdout) {
			lines = append(lines, " "+m.clean(l))
		}
		lines = append(lines, "", th.Label.Render(" stderr"))
		for l := range outputLines(r.Stderr) {
			lines = append(lines, th.Error.Render(" "+m.clean(l)))
		}
	}
	a.outOff = min(a.outOff, max(len(lines)-height, 0))
	lines = lines[a.outOff:]
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, m.width, th.Glyphs.Ellipsis)
	}
	return padLines(lines, height)
}

// outputLines splits a command's output into lines (CRLF or LF), without
// the trailing line break.
func outputLines(s string) iter.Seq[string] {
	return strings.SplitSeq(strings.ReplaceAll(strings.TrimRight(s, "\r\n"), "\r\n", "\n"), "\n")
}
