package ui

import (
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Grid geometry. Numbers are right-aligned; the sort arrow of a
// right-aligned column sits in the gap before it, so sorting never
// changes a column's width.
const (
	margin      = 1 // left of the first column
	gap         = 2 // between columns
	statusWidth = 9 // symbol, space, "Offline"/"Unknown"
	pctWidth    = 6 // "100.0%"
	diskWidth   = 9 // "DISK FREE"
	seenWidth   = 9 // "LAST SEEN", "1200d ago"
	barWidth    = 5 // cells of the CPU/MEM bar when there is room
	hostMax     = 40
	siteMax     = 28
	flexMin     = 44 // hostname + site width below which bars are dropped
)

// colLayout is one column's place on screen.
type colLayout struct {
	col   Column
	x     int // first cell
	width int // total cells, bar included
	right bool
	bar   int // bar cells at the end (CPU/MEM), 0 for none
}

// layoutColumns places the grid's columns in a terminal width cells wide.
// HOSTNAME and SITE share what the fixed columns leave; CPU and MEM get a
// small bar when that still leaves room for names.
func layoutColumns(width int) []colLayout {
	fixed := margin + statusWidth + 2*pctWidth + diskWidth + seenWidth + 6*gap
	flex := width - fixed
	bar := 0
	if flex-2*(barWidth+1) >= flexMin {
		bar = barWidth
		flex -= 2 * (barWidth + 1)
	}
	flex = max(flex, 2)
	host := min(flex*3/5, hostMax)
	site := min(flex-host, siteMax)
	pct := pctWidth
	if bar > 0 {
		pct += bar + 1
	}
	cols := []colLayout{
		{col: ColHostname, width: host},
		{col: ColSite, width: site},
		{col: ColStatus, width: statusWidth},
		{col: ColCPU, width: pct, right: true, bar: bar},
		{col: ColMem, width: pct, right: true, bar: bar},
		{col: ColDisk, width: diskWidth, right: true},
		{col: ColLastSeen, width: seenWidth, right: true},
	}
	x := margin
	for i := range cols {
		cols[i].x = x
		x += cols[i].width + gap
	}
	return cols
}

// View renders the screen. Only the rows on screen are formatted, so its
// cost does not grow with the fleet.
func (m Model) View() tea.View {
	var content string
	switch {
	case m.width == 0 || m.height == 0:
	case m.tooSmall():
		content = m.tooSmallView()
	default:
		content = m.screen()
		if m.showHelp {
			content = m.overlay(content, m.helpBox())
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
	hint := m.theme.Muted.Render("enlarge the window, or press q to quit")
	body := lipgloss.NewStyle().Width(m.width).Align(lipgloss.Center).
		Render(m.theme.Critical.Render(msg) + "\n\n" + hint)
	return lipgloss.PlaceVertical(m.height, lipgloss.Center, body)
}

// screen is the full console: header, grid (or the empty/loading state),
// status line, exactly m.height lines.
func (m *Model) screen() string {
	lines := make([]string, 0, m.height)
	lines = append(lines, m.titleLine(), m.fleetLine())
	bodyHeight := m.height - headerLines - 1
	switch {
	case !m.loaded:
		lines = append(lines, m.centered("loading devices"+m.theme.Glyphs.Ellipsis, bodyHeight))
	case len(m.devices) == 0:
		hint := m.opts.EmptyHint
		if hint == "" {
			hint = "No devices."
		}
		lines = append(lines, m.centered(hint, bodyHeight))
	default:
		lines = append(lines, m.gridLines(bodyHeight)...)
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
	if right != "" {
		right = Truncate(right, m.width/2, m.theme.Glyphs.Ellipsis) + " "
	}
	room := m.width - ansi.StringWidth(right) - 1
	left = fit(left, room, false, m.theme.Glyphs.Ellipsis)
	return m.theme.TitleBar.Render(left + " " + right)
}

// fleetLine is the fleet at a glance: online, offline, unknown, sweep.
func (m *Model) fleetLine() string {
	th, g := &m.theme, &m.theme.Glyphs
	if !m.loaded {
		return "" // the body says "loading devices"
	}
	s := m.summary
	parts := []string{
		th.Online.Render(g.Online) + " " + th.Text.Render(Thousands(s.Online)+"/"+Thousands(s.Devices)+" online"),
	}
	if s.Offline > 0 {
		parts = append(parts, th.Offline.Render(g.Offline+" "+Thousands(s.Offline)+" offline"))
	} else {
		parts = append(parts, th.Muted.Render("0 offline"))
	}
	if s.Unknown > 0 {
		parts = append(parts, th.Unknown.Render(g.Unknown+" "+Thousands(s.Unknown)+" unknown"))
	}
	var sweep string
	switch {
	case s.Sweeping:
		sweep = th.Text.Render("sweeping " + Thousands(s.Done) + "/" + Thousands(s.Devices))
	case !s.LastEnd.IsZero():
		sweep = th.Muted.Render("last sweep " + RelativeAge(m.now(), s.LastEnd) + " (took " + Took(s.LastTook) + ")")
	default:
		sweep = th.Muted.Render("no sweep yet")
	}
	parts = append(parts, sweep)
	line := " " + strings.Join(parts, th.Muted.Render(g.Separator))
	return ansi.Truncate(line, m.width, g.Ellipsis)
}

// gridLines renders the column titles and the rows on screen, height lines.
func (m *Model) gridLines(height int) []string {
	cols := layoutColumns(m.width)
	out := make([]string, 0, height)
	out = append(out, m.columnTitles(cols))
	vis := height - 1
	if len(m.rows) == 0 {
		msg := "No devices match \"" + m.filter + "\"  (esc clears the filter)"
		out = append(out, m.centered(msg, vis))
		return out
	}
	now := m.now()
	end := min(m.offset+vis, len(m.rows))
	var b strings.Builder
	for i := m.offset; i < end; i++ {
		b.Reset()
		m.renderRow(&b, &m.devices[m.rows[i]], cols, i == m.cursor, now)
		out = append(out, b.String())
	}
	for len(out) < height {
		out = append(out, "")
	}
	return out
}

func (m *Model) columnTitles(cols []colLayout) string {
	g := &m.theme.Glyphs
	arrow := g.SortAsc
	if m.sortDesc {
		arrow = g.SortDesc
	}
	// Titles are placed cell by cell: a right-aligned title sits over its
	// numbers (not over the bar), with the sort arrow in front of it,
	// spilling into the gap when the title fills the column.
	line := make([]string, m.width)
	for i := range line {
		line[i] = " "
	}
	put := func(x int, s string) {
		for _, r := range s {
			if x >= 0 && x < len(line) {
				line[x] = string(r)
			}
			x++
		}
	}
	for _, c := range cols {
		title := c.col.String()
		sorted := c.col == m.sortBy
		if !c.right {
			if sorted {
				title += arrow
			}
			put(c.x, fit(title, c.width, false, g.Ellipsis))
			continue
		}
		end := c.x + c.width
		if c.bar > 0 {
			end -= c.bar + 1
		}
		n := len(title)
		put(end-n, title)
		if sorted {
			put(end-n-1, arrow)
		}
	}
	return m.theme.ColumnHeader.Render(strings.Join(line, ""))
}

// statusLine is the bottom line: filter or short help on the left, the
// selected row number on the right.
func (m *Model) statusLine() string {
	th, g := &m.theme, &m.theme.Glyphs
	right := ""
	if m.loaded {
		pos := 0
		if len(m.rows) > 0 {
			pos = m.cursor + 1
		}
		right = Thousands(pos) + "/" + Thousands(len(m.rows)) + " "
	}
	var left string
	switch {
	case m.typing:
		left = " " + th.Prompt.Render("/") + th.Input.Render(m.filter) + th.CursorStyle.Render(g.Cursor) +
			"  " + th.Text.Render(m.matchCount()) + "  " + th.Muted.Render("enter keep  esc clear")
	case m.filter != "":
		left = " " + th.Prompt.Render("/") + th.Input.Render(m.filter) +
			"  " + th.Text.Render(m.matchCount()) + "  " + th.Muted.Render("esc clear") +
			"  " + m.help.ShortHelpView(m.keys.ShortHelp())
	default:
		left = " " + m.help.ShortHelpView(m.keys.ShortHelp())
	}
	room := m.width - ansi.StringWidth(right) - 1
	left = ansi.Truncate(left, room, g.Ellipsis)
	pad := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	return left + strings.Repeat(" ", max(pad, 1)) + th.Text.Render(right)
}

func (m *Model) matchCount() string {
	return Thousands(len(m.rows)) + " of " + Thousands(len(m.devices)) + " match"
}

// helpBox is the full key help, framed, generated from the KeyMap.
func (m *Model) helpBox() string {
	th, g := &m.theme, &m.theme.Glyphs
	legend := th.Online.Render(g.Online+" Online") + "  " +
		th.Offline.Render(g.Offline+" Offline") + "  " +
		th.Unknown.Render(g.Unknown+" Unknown")
	body := strings.Join([]string{
		th.HelpTitle.Render("Keys"),
		"",
		m.help.FullHelpView(m.keys.FullHelp()),
		"",
		legend,
		th.Muted.Render("CPU, MEM: % used   DISK FREE: lowest % free of fixed volumes"),
		th.Muted.Render("sort order: s cycles columns, S reverses; ties by hostname"),
		"",
		th.Muted.Render("? or esc closes this help"),
	}, "\n")
	return th.HelpBox.Render(body)
}

// overlay draws box centred over the screen.
func (m *Model) overlay(base, box string) string {
	w, h := lipgloss.Size(box)
	x, y := max((m.width-w)/2, 0), max((m.height-h)/2, 0)
	return lipgloss.NewCompositor(
		lipgloss.NewLayer(base),
		lipgloss.NewLayer(box).X(x).Y(y).Z(1),
	).Render()
}

func itoa(n int) string { return strconv.Itoa(n) }
