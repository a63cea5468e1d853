package ui

// An ad-hoc command's run in the Actions view: its groups of identical
// output, biggest first ("193 Running / 7 Stopped"), with the selected
// group's output under them; enter opens a group's hosts, enter on a host
// its whole output. m masks each host's name in its output before
// grouping (hostname, paths holding the name), e exports the results with
// their groups.

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// commandHead is the lines above a command run's list: the run, the bar,
// the text, the summary, a blank line and the list's title.
const commandHead = 6

// groupPreview is how many lines of the selected group's output the
// groups view shows.
const groupPreview = 8

// openRun resets what the view keeps of the open run.
func (a *actionsState) openRun(command bool) {
	a.openCmd, a.cmdRun, a.cmdErr, a.group, a.groupPos = command, nil, nil, -1, listPos{}
}

// clampCommand keeps the group selection within the groups.
func (a *actionsState) clampCommand(m *Model) {
	if a.cmdRun == nil {
		return
	}
	a.groupPos.clamp(len(a.cmdRun.Groups), m.groupRows())
	if a.group >= len(a.cmdRun.Groups) {
		a.group = -1
	}
}

// groupRows is how many groups the groups view lists.
func (m *Model) groupRows() int {
	return max(m.bodyHeight()-commandHead-2-groupPreview-listFooter, 3)
}

// commandRunKey handles the keys of an open command run (its output view
// is the Actions view's).
func (m Model) commandRunKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	a := m.acts
	k := &m.keys
	switch {
	case key.Matches(msg, k.MaskHost):
		a.mask = !a.mask
		a.cmdRun, a.group = nil, -1
		return m, m.loadActions(false)
	case key.Matches(msg, k.Cancel):
		if m.denied(engine.PermActionsRun, "cancelling a run") {
			return m, nil
		}
		return m, m.cancelRun(a.open)
	case key.Matches(msg, k.ExportRun):
		m.palette = palette{open: true, sel: -1, input: "export-results csv rmm-run-" + a.open + ".csv"}
		return m, nil
	}
	if a.group < 0 {
		n := 0
		if a.cmdRun != nil {
			n = len(a.cmdRun.Groups)
		}
		switch {
		case key.Matches(msg, k.Back):
			a.open, a.prog, a.progErr = "", nil, nil
			a.openRun(false)
			return m, tea.Batch(m.loadActions(false), m.pollActions())
		case key.Matches(msg, k.Open):
			if n > 0 {
				a.group, a.resPos = a.groupPos.cursor, listPos{}
			}
		default:
			a.groupPos.move(k, msg, n, m.groupRows())
		}
		return m, nil
	}
	switch {
	case key.Matches(msg, k.Back):
		a.group = -1
	case key.Matches(msg, k.Open):
		if len(m.runResults()) > 0 {
			return m, m.showOutput(true)
		}
	default:
		a.resPos.move(k, msg, len(m.runResults()), m.runRows())
	}
	return m, nil
}

// commandRunHelpItems is the status line's help for an open command run.
func (m *Model) commandRunHelpItems() []helpItem {
	k := &m.keys
	a := m.acts
	items := []helpItem{{moveLabel(k), "move"}}
	if a.group < 0 {
		items = append(items, item(k.Open, "hosts"))
	} else {
		items = append(items, item(k.Open, "output"))
	}
	items = append(items, item(k.MaskHost, "mask hosts"))
	if m.may(engine.PermActionsRun) {
		items = append(items, item(k.Cancel, "cancel run"))
	}
	return append(items, item(k.ExportRun, "export"), item(k.Back, "back"))
}

// commandRunBody draws the open command run.
func (m *Model) commandRunBody(height int) []string {
	a := m.acts
	th, g := &m.theme, &m.theme.Glyphs
	ell := g.Ellipsis
	if a.prog == nil || a.cmdRun == nil {
		switch {
		case a.cmdErr != nil:
			return padLines([]string{th.Error.Render(" run " + a.open + ": " + m.clean(oneLine(a.cmdErr.Error())))}, height)
		case a.progErr != nil:
			return padLines([]string{th.Error.Render(" run " + a.open + ": " + m.clean(oneLine(a.progErr.Error())))}, height)
		}
		return padLines([]string{th.Muted.Render(" reading run " + a.open + ell)}, height)
	}
	p, c := a.prog, a.cmdRun
	var out []string
	head := " Run " + p.ID + "  command  by " + m.clean(p.RequestedBy) + "  started " + RelativeAge(m.now(), p.StartedAt) + "  on " + m.clean(c.Target)
	out = append(out, th.Section.Render(fit(head, m.width, false, ell)))
	done := runDone(p.RunSummary)
	state := m.stateInk(runState(p.RunSummary)).Render(runState(p.RunSummary))
	out = append(out, " "+m.progressBar(done, p.Total, 30)+"  "+th.Text.Render(Thousands(done)+"/"+Thousands(p.Total)+" done")+"  "+state)
	script := c.Script
	if c.ScriptHidden {
		script = "(the command's text is in the audit log)"
	}
	out = append(out, th.Muted.Render(fit(" PS> "+m.clean(oneLine(script)), m.width, false, ell)))
	out = append(out, th.Text.Render(fit(" "+m.clean(engine.FormatOutputGroups(c.Groups)), m.width, false, ell)), "")
	mask := "off"
	if a.mask {
		mask = "on"
	}
	if a.group >= 0 && a.group < len(c.Groups) {
		gr := c.Groups[a.group]
		title := " Group " + strconv.Itoa(a.group+1) + " of " + strconv.Itoa(len(c.Groups)) + ": " + Thousands(gr.Count) + " " + m.clean(groupText(gr))
		out = append(out, th.Section.Render(fit(title+"   (host names masked: "+mask+")", m.width, false, ell)))
		return m.groupHostsBody(out, height)
	}
	out = append(out, th.Section.Render(fit(" Groups of identical output, biggest first   (host names masked: "+mask+")", m.width, false, ell)))
	cols := []listCell{{title: "DEVICES", width: 8, right: true}, {title: "STATUS", width: 10}}
	cols = append(cols, listCell{title: "OUTPUT", width: max(m.flexWidth(cols), 8)})
	out = append(out, m.listTitles(cols))
	vis := m.groupRows()
	a.groupPos.clamp(len(c.Groups), vis)
	for i := a.groupPos.offset; i < min(a.groupPos.offset+vis, len(c.Groups)); i++ {
		gr := c.Groups[i]
		sel := i == a.groupPos.cursor
		label := gr.Label
		if label == "" {
			label = gr.Status
		}
		cells := []string{fit(Thousands(gr.Count), 8, true, ell), fit(gr.Status, 10, false, ell), fit(m.clean(label), cols[2].width, false, ell)}
		if !sel {
			cells[1] = m.stateInk(gr.Status).Render(cells[1])
		}
		out = append(out, m.listLine(cells, sel))
	}
	for len(out) < commandHead+2+vis {
		out = append(out, "")
	}
	if a.groupPos.cursor < len(c.Groups) {
		gr := c.Groups[a.groupPos.cursor]
		out = append(out, th.Label.Render(fit(" Output of "+Thousands(gr.Count)+" "+plural(gr.Count, "host", "hosts")+" (first: "+
			m.clean(gr.Hosts[0])+"); "+firstKey(m.keys.Open)+" lists them", m.width, false, ell)))
		var lines []string
		switch {
		case gr.Status == engine.ActionPending || gr.Status == engine.ActionRunning:
			lines = []string{"(not finished yet)"}
		case !gr.OutputRead:
			lines = []string{"(not read: this run has more than " + strconv.Itoa(engine.MaxGroupsRead) + " groups; open the group)"}
		case gr.Output == "" && gr.Errors == "":
			lines = []string{"(no output)"}
		default:
			if gr.Output != "" {
				lines = strings.Split(gr.Output, "\n")
			}
			for _, l := range strings.Split(gr.Errors, "\n") {
				if l != "" {
					lines = append(lines, "! "+l)
				}
			}
		}
		for i, l := range lines {
			if i == groupPreview-1 && len(lines) > groupPreview {
				out = append(out, th.Muted.Render(" | "+ell+" "+Thousands(len(lines)-i)+" more lines"))
				break
			}
			out = append(out, th.Text.Render(fit(" | "+m.clean(l), m.width, false, ell)))
		}
	}
	return padLines(out, height)
}

// groupText is a group's one line: its label, or its status's message.
func groupText(gr engine.OutputGroup) string {
	switch {
	case gr.Status == engine.ActionCompleted:
		return gr.Label
	case gr.Label != "":
		return gr.Status + ": " + gr.Label
	}
	return gr.Status
}

// groupHostsBody lists the open group's hosts under the head lines.
func (m *Model) groupHostsBody(out []string, height int) []string {
	a := m.acts
	th := &m.theme
	ell := th.Glyphs.Ellipsis
	rs := m.runResults()
	cols := []listCell{{title: "HOST", width: 18}, {title: "STATUS", width: 10}, {title: "TOOK", width: 7, right: true}}
	cols = append(cols, listCell{title: "LAST LINE", width: max(m.flexWidth(cols), 8)})
	out = append(out, m.listTitles(cols))
	vis := m.runRows()
	a.resPos.clamp(len(rs), vis)
	for i := a.resPos.offset; i < min(a.resPos.offset+vis, len(rs)); i++ {
		r := rs[i]
		sel := i == a.resPos.cursor
		took := ""
		if r.Duration > 0 {
			took = Took(r.Duration)
		}
		cells := []string{fit(m.clean(r.Host), 18, false, ell), fit(r.Status, 10, false, ell), fit(took, 7, true, ell),
			fit(m.clean(oneLine(r.Message)), cols[3].width, false, ell)}
		if !sel {
			cells[1] = m.stateInk(r.Status).Render(cells[1])
		}
		out = append(out, m.listLine(cells, sel))
	}
	out = padLines(out, height-listFooter)
	out = append(out, "", th.Muted.Render(fit(" "+firstKey(m.keys.Open)+" shows a host's whole output  "+firstKey(m.keys.Back)+" back to the groups", m.width, false, ell)))
	return padLines(out, height)
}
