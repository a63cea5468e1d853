package ui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// Grid geometry. Numbers are right-aligned; the sort arrow of a
// right-aligned column sits in the gap before it, so sorting never
// changes a column's width.
const (
	margin      = 2 // left of the first column: the cursor's pointer, then the mark
	gap         = 2 // between columns
	statusWidth = 9 // symbol, space, "Offline"/"Unknown"
	pctWidth    = 6 // "100.0%"
	diskWidth   = 9 // "DISK FREE"
	seenWidth   = 9 // "LAST SEEN", "1200d ago"
	barWidth    = 5 // cells of the CPU/MEM bar when there is room
	hostMax     = 40
	siteMax     = 28
	osMin       = 16 // "Server 2019 Dat…": below this OS is not worth a column
	osMax       = 22 // "Server 2019 Datacenter"
	flexMin     = 44 // hostname + site width below which bars are dropped
	nameMin     = 40 // hostname + site width OS never takes
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
// HOSTNAME and SITE share what the fixed columns leave. What matters
// least goes first when it is narrow: the CPU/MEM bars (the numbers say
// it already), then OS. At 80 columns the grid shows hostname, site,
// status, CPU, memory, disk and last seen.
func layoutColumns(width int) []colLayout {
	fixed := margin + statusWidth + 2*pctWidth + diskWidth + seenWidth + 6*gap
	flex := width - fixed
	osw := 0
	if room := flex - nameMin - gap; room >= osMin {
		osw = min(room, osMax)
		flex -= osw + gap
	}
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
	if osw > 0 {
		cols = append(cols, colLayout{col: ColOS, width: osw})
	}
	x := margin
	for i := range cols {
		cols[i].x = x
		x += cols[i].width + gap
	}
	return cols
}

// gridBody renders the column titles and the grid lines on screen:
// height lines.
func (m *Model) gridBody(height int) []string {
	if len(m.devices) == 0 {
		hint := m.opts.EmptyHint
		if hint == "" {
			hint = "No devices."
		}
		return []string{m.centered(hint, height)}
	}
	g := &m.grid
	cols := layoutColumns(m.width)
	out := make([]string, 0, height)
	out = append(out, m.columnTitles(cols))
	vis := height - 1
	if len(g.rows) == 0 {
		msg := "No devices match \"" + g.filter + "\"  (" + firstKey(m.keys.Back) + " clears the filter)"
		if g.fltErr != nil {
			msg = "Filter error: " + g.fltErr.Error() + "  (" + firstKey(m.keys.Back) + " clears the filter)"
		}
		out = append(out, m.centered(msg, vis))
		return out
	}
	now := m.now()
	end := min(g.offset+vis, m.lines())
	var b strings.Builder
	for l := g.offset; l < end; l++ {
		row, grp := m.atLine(l)
		if grp >= 0 {
			out = append(out, m.groupHeader(&g.groups[grp]))
			continue
		}
		b.Reset()
		d := &m.devices[g.rows[row]]
		m.renderRow(&b, d, cols, row == g.cursor, m.marked(d.ID), now)
		out = append(out, b.String())
	}
	for len(out) < height {
		out = append(out, "")
	}
	return out
}

// groupHeader is a site's line in the grouped grid: "London  40 devices,
// 4 offline".
func (m *Model) groupHeader(s *groupSpan) string {
	th := &m.theme
	site := s.site
	if site == "" {
		site = "(no site)"
	}
	line := " " + th.GroupHeader.Render(site) + "  " + th.Text.Render(Thousands(s.n)+" "+plural(s.n, "device", "devices"))
	if s.offline > 0 {
		line += th.Muted.Render(", ") + th.Offline.Render(Thousands(s.offline)+" offline")
	}
	if s.other > 0 {
		line += th.Muted.Render(", ") + th.Unknown.Render(Thousands(s.other)+" unknown")
	}
	return ansi.Truncate(line, m.width, th.Glyphs.Ellipsis)
}

func (m *Model) columnTitles(cols []colLayout) string {
	g := &m.theme.Glyphs
	arrow := g.SortAsc
	if m.grid.sortDesc {
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
		sorted := c.col == m.grid.sortBy
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
