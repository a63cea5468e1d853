package ui

import (
	"slices"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/rmmhq/rmm/engine"
)

// View renders the screen. Only what is on screen is formatted, so its
// cost does not grow with the fleet.
func (m Model) View() tea.View {
	var content string
	switch {
	case m.width == 0 || m.height == 0:
	case m.tooSmall():
		content = m.tooSmallView()
	default:
		content = m.screen()
		switch {
		case m.dialog != nil: // the action dialog (actions.go)
			content = m.overlay(content, m.dialogBox(), -1, -1)
		case m.cmd != nil: // the command dialog (command.go)
			content = m.overlay(content, m.commandBox(), -1, -1)
		case m.showHelp:
			content = m.overlay(content, m.helpBox(), -1, -1)
		case m.palette.open:
			if box := m.paletteBox(); box != "" {
				_, h := lipgloss.Size(box)
				content = m.overlay(content, box, 0, m.height-1-h)
			}
		}
	}
	v := tea.NewView(content)
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	return v
}

func (m *Model) tooSmallView() string {
	msg := "terminal too small: " + itoa(m.width) + "x" + itoa(m.height) +
		", need at least " + itoa(MinWidth) + "x" + itoa(MinHeight)
	hint := m.theme.Muted.Render("enlarge the window, or press " + firstKey(m.keys.Quit) + " to quit")
	body := lipgloss.NewStyle().Width(m.width).Align(lipgloss.Center).
		Render(m.theme.Critical.Render(msg) + "\n\n" + hint)
	return lipgloss.PlaceVertical(m.height, lipgloss.Center, body)
}

// screen is the full console: header, tab bar, the page, status line,
// exactly m.height lines.
func (m *Model) screen() string {
	lines := make([]string, 0, m.height)
	lines = append(lines, m.titleLine(), m.fleetLine(), m.tabLine())
	body := m.bodyHeight()
	switch {
	case !m.loaded:
		lines = append(lines, m.centered("loading devices"+m.theme.Glyphs.Ellipsis, body))
	default:
		lines = append(lines, pageOf(m.page).body(m, body)...)
	}
	lines = append(lines, m.statusLine())
	return strings.Join(lines, "\n")
}

// centered places text in the middle of a block height lines tall,
// wrapping it when the terminal is narrower than the text.
func (m *Model) centered(text string, height int) string {
	body := lipgloss.NewStyle().Width(m.width).Align(lipgloss.Center).Render(m.theme.Muted.Render(text))
	return lipgloss.Place(m.width, height, lipgloss.Center, lipgloss.Center, body)
}

func (m *Model) titleLine() string {
	left := " " + m.opts.Title
	right := m.opts.User
	if m.opts.Role != "" {
		if right != "" {
			right += " "
		}
		right += "(" + m.opts.Role + ")"
	}
	// A Viewer (an SSH viewer, or --read-only) sees at once that nothing
	// here changes the fleet; the badge comes first so it is never cut.
	if m.role == engine.RoleViewer {
		right = "[READ-ONLY] " + right
	}
	if right != "" {
		right = Truncate(right, m.width/2, m.theme.Glyphs.Ellipsis) + " "
	}
	room := m.width - ansi.StringWidth(right) - 1
	// The session pool, when there is room for it between the two.
	if m.hasPool {
		pool := "shells " + Compact(m.pool.Open) + " open, " + Compact(m.pool.Reused) + " reused   "
		if ansi.StringWidth(left)+2+ansi.StringWidth(pool) <= room {
			right = pool + right
			room -= ansi.StringWidth(pool)
		}
	}
	left = fit(left, room, false, m.theme.Glyphs.Ellipsis)
	return m.theme.TitleBar.Render(left + " " + right)
}

// fleetLine is the fleet at a glance: online, offline, unknown, the
// active alerts by severity, the sweep. When it does not fit, the least
// needed parts shorten or go first (unknown, the sweep), whole rather
// than cut.
func (m *Model) fleetLine() string {
	th, g := &m.theme, &m.theme.Glyphs
	if !m.loaded {
		return "" // the body says "loading devices"
	}
	s := m.summary
	// keep: lower is kept longer; short replaces text before it goes.
	type part struct {
		text, short string
		keep        int
	}
	parts := []part{
		{th.Online.Render(g.Online) + " " + th.Text.Render(Thousands(s.Online)+"/"+Thousands(s.Devices)+" online"), "", 0},
	}
	if s.Offline > 0 {
		parts = append(parts, part{th.Offline.Render(g.Offline + " " + Thousands(s.Offline) + " offline"), "", 1})
	} else {
		parts = append(parts, part{th.Muted.Render("0 offline"), "", 1})
	}
	if s.Unknown > 0 {
		parts = append(parts, part{th.Unknown.Render(g.Unknown + " " + Thousands(s.Unknown) + " unknown"), "", 4})
	}
	if m.alerts.read {
		parts = append(parts, part{m.alertCountsSegment(), "", 2})
	}
	switch {
	case s.PollingOff != "":
		// Said until fixed, with the fix: never a silent "no sweep yet"
		// (newcomer B2). It is kept longest; the counts go first.
		parts = append(parts, part{th.Error.Render("POLLING OFF: " + s.PollingOff), "", -1})
	case s.Sweeping:
		parts = append(parts, part{th.Text.Render("sweeping " + Thousands(s.Done) + "/" + Thousands(s.Devices)), "", 3})
	case !s.LastEnd.IsZero():
		age := RelativeAge(m.now(), s.LastEnd)
		parts = append(parts, part{th.Muted.Render("last sweep " + age + " (took " + Took(s.LastTook) + ")"), th.Muted.Render("swept " + age), 3})
	default:
		parts = append(parts, part{th.Muted.Render("no sweep yet"), "", 3})
	}
	sep := th.Muted.Render(g.Separator)
	join := func() string {
		ts := make([]string, len(parts))
		for i, p := range parts {
			ts[i] = p.text
		}
		return " " + strings.Join(ts, sep)
	}
	line := join()
	for ansi.StringWidth(line) > m.width && len(parts) > 2 {
		// Long forms shorten first, then parts go, the least needed first.
		if i := slices.IndexFunc(parts, func(p part) bool { return p.short != "" }); i >= 0 {
			parts[i].text, parts[i].short = parts[i].short, ""
		} else {
			worst := 0
			for i, p := range parts {
				if p.keep > parts[worst].keep {
					worst = i
				}
			}
			parts = slices.Delete(parts, worst, worst+1)
		}
		line = join()
	}
	return ansi.Truncate(line, m.width, g.Ellipsis)
}

// tabLine is the tab bar: the views, the current one highlighted, and
// on the right what shapes the grid (a saved view, grouping).
func (m *Model) tabLine() string {
	th := &m.theme
	var b strings.Builder
	b.WriteByte(' ')
	x := 1
	for i, t := range m.tabs() {
		if i > 0 {
			b.WriteByte(' ')
			x++
		}
		if t.id == m.page {
			b.WriteString(th.TabActive.Render(t.label))
		} else {
			b.WriteString(th.TabInactive.Render(t.label))
		}
		x += t.width
	}
	var notes []string
	if m.page == pageAlerts && m.alerts.sortText() != "" {
		notes = append(notes, m.alerts.sortText())
	}
	if m.grid.view != "" {
		notes = append(notes, "view "+m.grid.view)
	}
	if m.grid.grouped {
		notes = append(notes, "grouped by site")
	}
	if !m.sortShown() {
		dir := "asc"
		if m.grid.sortDesc {
			dir = "desc"
		}
		notes = append(notes, "sorted by "+m.grid.sortBy.Name()+" "+dir)
	}
	right := ""
	if len(notes) > 0 {
		right = th.Muted.Render(strings.Join(notes, th.Glyphs.Separator)) + " "
	}
	line := b.String()
	if pad := m.width - x - ansi.StringWidth(right); pad >= 2 {
		line += strings.Repeat(" ", pad) + right
	}
	return ansi.Truncate(line, m.width, th.Glyphs.Ellipsis)
}

// statusLine is the bottom line: an input (filter, command), a toast, or
// the kept filter and short help on the left; marks and position on the
// right.
func (m *Model) statusLine() string {
	th, g := &m.theme, &m.theme.Glyphs
	gr := &m.grid
	var right []string
	if n := len(m.staleCreds); n > 0 {
		// The rotation reminder (security.credential_max_age), at most
		// a third of the line.
		text := "rotate credential " + m.staleCreds[0]
		if n > 1 {
			text = "rotate " + Thousands(n) + " credentials: " + strings.Join(m.staleCreds, ", ")
		}
		right = append(right, th.Warn.Render(ansi.Truncate(text, max(m.width/3, 20), g.Ellipsis)))
	}
	if n := len(gr.marks); n > 0 {
		mk := th.Mark.Render(Thousands(n) + " selected")
		if gr.hiddenMarks > 0 {
			mk += th.Muted.Render(" (" + Thousands(gr.hiddenMarks) + " hidden)")
		}
		right = append(right, mk)
	}
	switch m.page {
	case pageDevices:
		if m.loaded {
			pos := 0
			if len(gr.rows) > 0 {
				pos = gr.cursor + 1
			}
			right = append(right, th.Text.Render(Thousands(pos)+"/"+Thousands(len(gr.rows))))
		}
	case pageSettings:
		if n := len(m.settings.items); n > 0 {
			right = append(right, th.Text.Render(Thousands(m.settings.pos.cursor+1)+"/"+Thousands(n)))
		}
	case pageAlerts:
		if n := len(m.alerts.marks); n > 0 {
			right = append(right, th.Mark.Render(Thousands(n)+" marked"))
		}
		if n := len(m.alerts.shown); n > 0 {
			right = append(right, th.Text.Render(Thousands(m.alerts.pos.cursor+1)+"/"+Thousands(n)))
		}
	case pageSchedules:
		if n := len(m.schedules.jobs); n > 0 {
			right = append(right, th.Text.Render(Thousands(m.schedules.pos.cursor+1)+"/"+Thousands(n)))
		}
	case pageAudit:
		if n := len(m.audit.shown); n > 0 {
			right = append(right, th.Text.Render(Thousands(m.audit.pos.cursor+1)+"/"+Thousands(n)))
		}
	}
	r := ""
	if len(right) > 0 {
		r = strings.Join(right, "  ") + " "
	}

	room := m.width - ansi.StringWidth(r) - 1
	var left string
	switch {
	case m.confirmQuit:
		r, room = "", m.width-1
		left = " " + th.Warn.Render(m.confirmText())
	case m.palette.open:
		// The command line has the whole width: its hints replace the
		// marks and position.
		r = ""
		hint := ""
		if u := m.usage(); u != "" && len(m.suggestions()) == 0 {
			hint = "  " + th.Muted.Render(u)
		} else {
			r = th.Muted.Render("tab complete  enter run  esc close") + " "
		}
		room = m.width - ansi.StringWidth(r) - 1
		input := m.palette.input
		if 3+ansi.StringWidth(input) > room {
			r, room = "", m.width-1
			input = inputTail(input, room-3, g.Ellipsis)
		}
		left = " " + th.Prompt.Render(":") + th.Input.Render(input) + th.CursorStyle.Render(g.Cursor) + hint
	case gr.typing:
		left = " " + th.Prompt.Render("/") + th.Input.Render(inputTail(gr.filter, room-3, g.Ellipsis)) + th.CursorStyle.Render(g.Cursor) + "  "
		if gr.fltErr != nil {
			left += th.Error.Render(gr.fltErr.Error())
		} else {
			left += th.Text.Render(m.matchCount()) + "  " + th.Muted.Render("enter keep  esc clear")
		}
	case m.audit.typing:
		left = " " + th.Prompt.Render("/") + th.Input.Render(inputTail(m.audit.filter, room-3, g.Ellipsis)) + th.CursorStyle.Render(g.Cursor) + "  " +
			th.Text.Render(m.auditMatchCount()) + "  " + th.Muted.Render("enter keep  esc clear")
	case m.alerts.typing && m.page == pageAlerts:
		a := &m.alerts
		left = " " + th.Prompt.Render("/") + th.Input.Render(inputTail(a.filter, room-3, g.Ellipsis)) + th.CursorStyle.Render(g.Cursor) + "  "
		if a.fltErr != nil {
			left += th.Error.Render(a.fltErr.Error())
		} else {
			left += th.Text.Render(m.alertMatchCount()) + "  " + th.Muted.Render("enter keep  esc clear")
		}
	case m.alerts.prompt != nil && m.page == pageAlerts:
		p := m.alerts.prompt
		r, room = "", m.width-1
		left = " " + th.Prompt.Render(m.alertPromptText()) + th.Input.Render(p.input.Value()) + th.CursorStyle.Render(g.Cursor)
		if p.err != "" {
			left += "  " + th.Error.Render(p.err)
		} else {
			left += "  " + th.Muted.Render("enter "+p.op+"  esc cancel")
		}
	case m.showHelp:
		left = " " + th.Muted.Render(moveLabel(&m.keys)+" scroll  "+firstKey(m.keys.Help)+" or "+firstKey(m.keys.Back)+" close  "+firstKey(m.keys.Quit)+" quit")
	case m.toast.text != "":
		st := th.Notice
		if m.toast.err {
			st = th.Error
		}
		left = " " + st.Render(m.toast.text)
	case gr.filter != "" && m.page == pageDevices:
		left = " " + th.Prompt.Render("/") + th.Input.Render(gr.filter) + "  "
		if gr.fltErr != nil {
			left += th.Error.Render(gr.fltErr.Error())
		} else {
			left += th.Text.Render(m.matchCount())
		}
		left += "  " + th.Muted.Render(firstKey(m.keys.Back)+" clear")
		if rest := room - ansi.StringWidth(left) - 2; rest > 10 {
			left += "  " + m.shortHelp(rest)
		}
	case m.alerts.filter != "" && m.page == pageAlerts:
		a := &m.alerts
		left = " " + th.Prompt.Render("/") + th.Input.Render(a.filter) + "  "
		if a.fltErr != nil {
			left += th.Error.Render(a.fltErr.Error())
		} else {
			left += th.Text.Render(m.alertMatchCount())
		}
		left += "  " + th.Muted.Render(firstKey(m.keys.Back)+" clear")
		if rest := room - ansi.StringWidth(left) - 2; rest > 10 {
			left += "  " + m.shortHelp(rest)
		}
	case m.audit.filter != "" && m.page == pageAudit:
		left = " " + th.Prompt.Render("/") + th.Input.Render(m.audit.filter) + "  " + th.Text.Render(m.auditMatchCount()) +
			"  " + th.Muted.Render(firstKey(m.keys.Back)+" clear")
		if rest := room - ansi.StringWidth(left) - 2; rest > 10 {
			left += "  " + m.shortHelp(rest)
		}
	default:
		left = " " + m.shortHelp(room-1)
	}
	left = ansi.Truncate(left, room, g.Ellipsis)
	pad := m.width - ansi.StringWidth(left) - ansi.StringWidth(r)
	return left + strings.Repeat(" ", max(pad, 0)) + r
}

// shortHelp is the page's key hints for the status line, at most width
// cells: when they do not all fit, the least needed go first (help and
// quit stay, so the rest can be found).
func (m *Model) shortHelp(width int) string {
	th := &m.theme
	items := m.shortHelpItems()
	sep := ansi.StringWidth(th.Glyphs.HelpSep)
	keep := make([]bool, len(items))
	used := 0
	// Priority: the last two (help, quit), then from the first on.
	order := make([]int, 0, len(items))
	for i := len(items) - 1; i >= 0 && i >= len(items)-2; i-- {
		order = append(order, i)
	}
	for i := 0; i < len(items)-2; i++ {
		order = append(order, i)
	}
	for _, i := range order {
		it := items[i]
		if it.key == "" {
			continue
		}
		w := ansi.StringWidth(it.key) + 1 + ansi.StringWidth(it.desc)
		if used > 0 {
			w += sep
		}
		if used+w > width {
			continue
		}
		keep[i] = true
		used += w
	}
	parts := make([]string, 0, len(items))
	for i, it := range items {
		if keep[i] {
			parts = append(parts, th.Muted.Render(it.key+" "+it.desc))
		}
	}
	return strings.Join(parts, th.Muted.Render(th.Glyphs.HelpSep))
}

func (m *Model) matchCount() string {
	return Thousands(len(m.grid.rows)) + " of " + Thousands(len(m.devices)) + " match"
}

// paletteBox is the command palette's suggestions, framed, drawn above
// the status line; "" when there are none.
func (m *Model) paletteBox() string {
	th, g := &m.theme, &m.theme.Glyphs
	sugg := m.suggestions()
	if len(sugg) == 0 {
		return ""
	}
	const maxShown = 8
	first := 0
	if m.palette.sel >= maxShown {
		first = m.palette.sel - maxShown + 1
	}
	shown := sugg[first:min(first+maxShown, len(sugg))]
	sw := 0
	for _, s := range shown {
		sw = max(sw, ansi.StringWidth(s.show))
	}
	inner := min(m.width-4, 76)
	lines := make([]string, 0, len(shown)+1)
	sw = min(sw, inner)
	for i, s := range shown {
		name := fit(s.show, sw, false, g.Ellipsis)
		desc := ""
		if s.desc != "" {
			desc = "  " + s.desc
		}
		desc = fit(desc, inner-sw, false, g.Ellipsis)
		if first+i == m.palette.sel {
			lines = append(lines, th.Selected.Render(name+desc))
		} else {
			lines = append(lines, th.Text.Render(name)+th.Muted.Render(desc))
		}
	}
	if len(sugg) > maxShown {
		lines = append(lines, th.Muted.Render(fit(strconv.Itoa(len(sugg))+" matches (up/down)", inner, false, g.Ellipsis)))
	}
	return th.PaletteBox.Render(strings.Join(lines, "\n"))
}

// overlay draws box over the screen at x, y; -1 centres it on that axis.
func (m *Model) overlay(base, box string, x, y int) string {
	w, h := lipgloss.Size(box)
	if x < 0 {
		x = max((m.width-w)/2, 0)
	}
	if y < 0 {
		y = max((m.height-h)/2, 0)
	}
	return lipgloss.NewCompositor(
		lipgloss.NewLayer(base),
		lipgloss.NewLayer(box).X(x).Y(max(y, 0)).Z(1),
	).Render()
}

func itoa(n int) string { return strconv.Itoa(n) }

// sortShown reports whether the sorted column is on screen (with its
// arrow); when it is not, the tab bar says what the order is.
func (m *Model) sortShown() bool {
	for _, c := range layoutColumns(m.width) {
		if c.col == m.grid.sortBy {
			return true
		}
	}
	return false
}

// inputTail is the end of what is being typed when it is wider than
// width: the cursor is at the end, and that is the part to see.
func inputTail(s string, width int, ellipsis string) string {
	w := ansi.StringWidth(s)
	if w <= width || width <= ansi.StringWidth(ellipsis) {
		return s
	}
	return ellipsis + ansi.TruncateLeft(s, w-(width-ansi.StringWidth(ellipsis)), "")
}
