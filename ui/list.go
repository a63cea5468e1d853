package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// listFooter is the lines under a list view's table (alerts, schedules,
// audit): the selected row in full, so nothing cut to fit a column is
// out of reach.
const listFooter = 3

// listRows is how many rows a list view shows: the page less its column
// titles and footer.
func (m *Model) listRows() int {
	return max(m.bodyHeight()-1-listFooter, 1)
}

// listPos is a cursor and a scroll offset over a list of n rows of which
// vis are on screen.
type listPos struct{ cursor, offset int }

// clamp keeps the cursor on a row and on screen.
func (p *listPos) clamp(n, vis int) {
	p.cursor = min(max(p.cursor, 0), max(n-1, 0))
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+vis {
		p.offset = p.cursor - vis + 1
	}
	p.offset = min(max(p.offset, 0), max(n-vis, 0))
}

// scroll moves the view by by rows, dragging the cursor along to keep it
// on screen (the mouse wheel).
func (p *listPos) scroll(by, n, vis int) {
	p.offset = min(max(p.offset+by, 0), max(n-vis, 0))
	p.cursor = min(max(p.cursor, p.offset), p.offset+vis-1)
	p.clamp(n, vis)
}

// move handles the movement keys; it reports whether msg was one.
func (p *listPos) move(k *KeyMap, msg tea.KeyPressMsg, n, vis int) bool {
	switch {
	case key.Matches(msg, k.Up):
		p.cursor--
	case key.Matches(msg, k.Down):
		p.cursor++
	case key.Matches(msg, k.PageUp):
		p.cursor -= vis
		p.offset -= vis
	case key.Matches(msg, k.PageDown):
		p.cursor += vis
		p.offset += vis
	case key.Matches(msg, k.HalfUp):
		p.cursor -= max(vis/2, 1)
	case key.Matches(msg, k.HalfDown):
		p.cursor += max(vis/2, 1)
	case key.Matches(msg, k.Top):
		p.cursor = 0
	case key.Matches(msg, k.Bottom):
		p.cursor = n - 1
	default:
		return false
	}
	p.clamp(n, vis)
	return true
}

// click selects the row at y (from the page's first line, the titles);
// it reports whether y was a row.
func (p *listPos) click(y, n, vis int) bool {
	i := p.offset + y - 1
	if y < 1 || y > vis || i >= n {
		return false
	}
	p.cursor = i
	p.clamp(n, vis)
	return true
}

// listCell is one column of a list view: its title, width and alignment.
type listCell struct {
	title string
	width int
	right bool
}

// listTitles is a list view's column title line.
func (m *Model) listTitles(cols []listCell) string {
	ell := m.theme.Glyphs.Ellipsis
	line := spaces[:margin]
	for i, c := range cols {
		if i > 0 {
			line += "  "
		}
		line += fit(c.title, c.width, c.right, ell)
	}
	return m.theme.ColumnHeader.Render(fit(line, m.width, false, ell))
}

// listLine joins a row's cells (already fitted and styled) under the
// titles; the selected row carries the pointer and the selection style,
// with its cells plain so it reads the same without colour.
func (m *Model) listLine(cells []string, selected bool) string {
	g := &m.theme.Glyphs
	line := spaces[:margin]
	if selected {
		line = g.Pointer + spaces[:margin-1]
	}
	for i, c := range cells {
		if i > 0 {
			line += "  "
		}
		line += c
	}
	if selected {
		return m.theme.Selected.Render(fit(line, m.width, false, g.Ellipsis))
	}
	return line
}

// flexWidth is what is left of the terminal's width for a last, flexible
// column after the fixed ones.
func (m *Model) flexWidth(cols []listCell) int {
	used := margin
	for i, c := range cols {
		if i > 0 {
			used += gap
		}
		used += c.width
	}
	return m.width - used - gap
}
