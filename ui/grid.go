package ui

import (
	"cmp"
	"maps"
	"slices"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/filter"
)

// grid is the device grid's state: what it shows (filter, order,
// grouping), where the cursor is, and which devices are marked.
type grid struct {
	rows   []int       // positions in Model.devices, filtered and sorted
	groups []groupSpan // with grouped: each site's run of rows, in order

	sortBy   Column
	sortDesc bool
	grouped  bool

	filter string              // as typed
	flt    filter.DeviceFilter // filter, parsed
	fltErr error               // why filter did not parse; flt then matches nothing
	view   string              // the saved view last applied, until the filter changes
	typing bool                // the filter input has the keyboard

	cursor   int   // selected position in rows
	offset   int   // first line on screen (rows plus, when grouped, site headers)
	cursorID int64 // ID of the selected device, so the selection follows it through re-sorts
	hasSel   bool

	marks       map[int64]struct{} // devices marked for an action
	hiddenMarks int                // how many of them the filter hides
}

// groupSpan is one site's run of rows when the grid is grouped by site.
type groupSpan struct {
	site           string
	start, n       int // rows[start:start+n]
	offline, other int // of the n: offline, and neither online nor offline
}

func newGrid() grid {
	return grid{marks: make(map[int64]struct{})}
}

// refresh recomputes the rows (filter, then sort, then groups) and keeps
// the selected device selected, at the same place on screen when it can:
// an admin about to act on a device must not find another one under the
// cursor because a poll re-ordered the grid.
func (m *Model) refresh() {
	g := &m.grid
	onScreen := 0
	if len(g.rows) > 0 {
		onScreen = m.lineOf(g.cursor) - g.offset
	}
	// Fresh slices, not the old ones reused: a Model is a value, and
	// copies of it (Bubble Tea's, a test's) must not see each other's rows.
	rows := make([]int, 0, len(m.devices))
	for i := range m.devices {
		if matches(&g.flt, &m.devices[i]) {
			rows = append(rows, i)
		}
	}
	by, desc, grouped := g.sortBy, g.sortDesc, g.grouped
	// CompareDevices is a total order (ties end at the ID), so the faster
	// unstable sort gives the same result as a stable one.
	slices.SortFunc(rows, func(a, b int) int {
		da, db := &m.devices[a], &m.devices[b]
		if grouped {
			if c := compareSite(da.Site, db.Site); c != 0 {
				return c
			}
		}
		return CompareDevices(da, db, by, desc)
	})
	g.rows = rows
	g.groups = nil
	if grouped {
		for i, r := range rows {
			d := &m.devices[r]
			if len(g.groups) == 0 || g.groups[len(g.groups)-1].site != d.Site {
				g.groups = append(g.groups, groupSpan{site: d.Site, start: i})
			}
			s := &g.groups[len(g.groups)-1]
			s.n++
			switch d.Status {
			case engine.StatusOnline:
			case engine.StatusOffline:
				s.offline++
			default:
				s.other++
			}
		}
	}
	g.hiddenMarks = 0
	if len(g.marks) > 0 {
		shown := 0
		for _, r := range rows {
			if _, ok := g.marks[m.devices[r].ID]; ok {
				shown++
			}
		}
		g.hiddenMarks = len(g.marks) - shown
	}

	found := false
	if g.hasSel {
		for i, r := range rows {
			if m.devices[r].ID == g.cursorID {
				g.cursor, found = i, true
				break
			}
		}
	}
	if found {
		g.offset = m.lineOf(g.cursor) - onScreen
	}
	m.clamp()
}

// compareSite orders sites naturally, devices without a site last.
func compareSite(a, b string) int {
	if (a == "") != (b == "") {
		if a == "" {
			return 1
		}
		return -1
	}
	return NaturalCompare(a, b)
}

// groupOf is the index in groups of the group holding row i.
func (g *grid) groupOf(i int) int {
	return sort.Search(len(g.groups), func(k int) bool { return g.groups[k].start > i }) - 1
}

// lineOf is the line of row i in the grid: with groups, each site's header
// takes a line before its rows.
func (m *Model) lineOf(i int) int {
	if !m.grid.grouped {
		return i
	}
	return i + m.grid.groupOf(i) + 1
}

// lines is how many lines the grid has.
func (m *Model) lines() int {
	return len(m.grid.rows) + len(m.grid.groups)
}

// atLine says what line l of the grid shows: a row (row >= 0) or a site
// header (group >= 0).
func (m *Model) atLine(l int) (row, group int) {
	g := &m.grid
	if !g.grouped {
		return l, -1
	}
	// The header of group k is on line start+k.
	k := sort.Search(len(g.groups), func(k int) bool { return g.groups[k].start+k > l }) - 1
	if k < 0 {
		return -1, -1
	}
	if l == g.groups[k].start+k {
		return -1, k
	}
	return l - k - 1, -1
}

// visibleRows is how many grid lines fit on screen below the titles.
func (m Model) visibleRows() int {
	return max(0, m.height-chromeLines-1)
}

// clamp keeps the cursor on a row and on screen (with its site header
// when it is the first of its site), and records which device it is on.
func (m *Model) clamp() {
	g := &m.grid
	n, vis, total := len(g.rows), m.visibleRows(), m.lines()
	g.cursor = min(max(g.cursor, 0), max(n-1, 0))
	if n > 0 {
		line := m.lineOf(g.cursor)
		top := line
		if g.grouped && g.groups[g.groupOf(g.cursor)].start == g.cursor {
			top--
		}
		if top < g.offset {
			g.offset = top
		}
		if vis > 0 && line >= g.offset+vis {
			g.offset = line - vis + 1
		}
	}
	g.offset = min(max(g.offset, 0), max(total-vis, 0))
	if n > 0 {
		g.cursorID, g.hasSel = m.devices[g.rows[g.cursor]].ID, true
	}
}

// moveTo selects row i (clamped).
func (m *Model) moveTo(i int) {
	m.grid.cursor = i
	m.clamp()
}

// pageBy moves the cursor and the view together by n rows, like less.
func (m *Model) pageBy(n int) {
	m.grid.offset += n
	m.grid.cursor += n
	m.clamp()
}

// scroll moves the view by n lines and drags the cursor along only when
// it would leave the screen (mouse wheel).
func (m *Model) scroll(n int) {
	g := &m.grid
	vis := m.visibleRows()
	g.offset = min(max(g.offset+n, 0), max(m.lines()-vis, 0))
	if len(g.rows) == 0 {
		return
	}
	line := m.lineOf(g.cursor)
	switch {
	case line < g.offset:
		g.cursor = m.firstRowFrom(g.offset, 1)
	case vis > 0 && line >= g.offset+vis:
		g.cursor = m.firstRowFrom(g.offset+vis-1, -1)
	}
	// clamp would pull the view back to show the header of a site's
	// first row; a scrolled view stays where the wheel put it.
	off := g.offset
	m.clamp()
	if m.lineOf(g.cursor) >= off && m.lineOf(g.cursor) < off+vis {
		g.offset = off
	}
}

// firstRowFrom is the row on line l, or the nearest one from it in
// direction dir when l is a site header.
func (m *Model) firstRowFrom(l, dir int) int {
	for l >= 0 && l < m.lines() {
		if r, _ := m.atLine(l); r >= 0 {
			return r
		}
		l += dir
	}
	return m.grid.cursor
}

// setSort re-sorts and goes to the top: after asking for an order, the
// admin wants to see its head (busiest CPU first...), not the device they
// happened to be on. Live updates, by contrast, keep the selection.
func (m *Model) setSort(by Column, desc bool) {
	m.grid.sortBy, m.grid.sortDesc = by, desc
	m.grid.hasSel = false
	m.grid.cursor, m.grid.offset = 0, 0
	m.refresh()
}

// setFilter applies the filter as typed. A sort: term in it is checked but
// not applied until the filter is kept (enter, :filter, :view).
func (m *Model) setFilter(f string) {
	g := &m.grid
	if f == g.filter {
		return
	}
	g.filter = f
	g.view = ""
	g.flt, g.fltErr = ParseFilter(f)
	m.refresh()
}

// keepFilter is enter in the filter input and :filter: the sort a sort:
// term asks for becomes the grid's order and the term leaves the text.
func (m *Model) keepFilter() {
	g := &m.grid
	if g.fltErr != nil {
		return
	}
	if name, desc, ok := g.flt.Sort(); ok {
		g.filter = g.flt.Expr()
		if by, err := ParseColumn(name); err == nil {
			m.setSort(by, desc)
		}
	}
}

// applyView applies a saved view: its filter and its sort.
func (m *Model) applyView(name string) error {
	expr, ok := m.opts.SavedViews[name]
	if !ok {
		return &viewError{name: name, views: m.viewNames()}
	}
	m.setFilter(expr)
	if m.grid.fltErr != nil {
		return &viewError{name: name, bad: m.grid.fltErr}
	}
	m.keepFilter()
	m.grid.view = name
	return nil
}

// toggleGroup groups the grid by site, or stops.
func (m *Model) toggleGroup() {
	m.grid.grouped = !m.grid.grouped
	m.refresh()
}

// selectedDevice is the device under the cursor.
func (m *Model) selectedDevice() (*engine.DeviceState, bool) {
	g := &m.grid
	if len(g.rows) == 0 {
		return nil, false
	}
	return &m.devices[g.rows[g.cursor]], true
}

// toggleMark marks or unmarks the selected device and moves to the next,
// so a run of devices is marked by holding the key.
func (m *Model) toggleMark() {
	d, ok := m.selectedDevice()
	if !ok {
		return
	}
	marks := m.editMarks()
	if _, on := marks[d.ID]; on {
		delete(marks, d.ID)
	} else {
		marks[d.ID] = struct{}{}
	}
	m.moveTo(m.grid.cursor + 1)
}

// markAll marks every device the filter shows.
func (m *Model) markAll() {
	marks := m.editMarks()
	for _, r := range m.grid.rows {
		marks[m.devices[r].ID] = struct{}{}
	}
}

// clearMarks unmarks every device, shown or not.
func (m *Model) clearMarks() {
	m.grid.marks = make(map[int64]struct{})
	m.grid.hiddenMarks = 0
}

// editMarks returns the marks as a map this Model alone holds: copies of
// a Model share maps, and marking in one must not mark in another.
func (m *Model) editMarks() map[int64]struct{} {
	m.grid.marks = maps.Clone(m.grid.marks)
	if m.grid.marks == nil {
		m.grid.marks = make(map[int64]struct{})
	}
	return m.grid.marks
}

func (m *Model) marked(id int64) bool {
	_, ok := m.grid.marks[id]
	return ok
}

// Selected returns the IDs of the marked devices (space, a): those the
// grid shows, in its order, then those the filter hides (the status line
// counts them) by hostname. It is empty when nothing is marked; Current
// is the device under the cursor.
func (m Model) Selected() []int64 {
	g := &m.grid
	if len(g.marks) == 0 {
		return nil
	}
	out := make([]int64, 0, len(g.marks))
	seen := make(map[int64]bool, len(g.marks))
	for _, r := range g.rows {
		if id := m.devices[r].ID; m.marked(id) {
			out = append(out, id)
			seen[id] = true
		}
	}
	if len(out) < len(g.marks) {
		var hidden []*engine.DeviceState
		for id := range g.marks {
			if i, ok := m.index[id]; ok && !seen[id] {
				hidden = append(hidden, &m.devices[i])
			}
		}
		slices.SortFunc(hidden, func(a, b *engine.DeviceState) int {
			return cmp.Or(NaturalCompare(a.Hostname, b.Hostname), cmp.Compare(a.ID, b.ID))
		})
		for _, d := range hidden {
			out = append(out, d.ID)
		}
	}
	return out
}

// Current returns the ID of the device under the cursor; ok is false when
// the grid is empty.
func (m Model) Current() (id int64, ok bool) {
	if d, ok := m.selectedDevice(); ok {
		return d.ID, true
	}
	return 0, false
}

// gridKey handles the device grid's keys.
func gridKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := &m.keys
	half := max(m.visibleRows()/2, 1)
	switch {
	case key.Matches(msg, k.Back):
		m.setFilter("")
	case key.Matches(msg, k.Filter):
		m.grid.typing = true
	case key.Matches(msg, k.Open):
		return m.switchTo(pageDetail)
	case key.Matches(msg, k.Collections):
		return m.switchTo(pageCollections)
	case key.Matches(msg, k.Up):
		m.moveTo(m.grid.cursor - 1)
	case key.Matches(msg, k.Down):
		m.moveTo(m.grid.cursor + 1)
	case key.Matches(msg, k.PageUp):
		m.pageBy(-max(m.visibleRows(), 1))
	case key.Matches(msg, k.PageDown):
		m.pageBy(max(m.visibleRows(), 1))
	case key.Matches(msg, k.HalfUp):
		m.pageBy(-half)
	case key.Matches(msg, k.HalfDown):
		m.pageBy(half)
	case key.Matches(msg, k.Top):
		m.moveTo(0)
	case key.Matches(msg, k.Bottom):
		m.moveTo(len(m.grid.rows) - 1)
	case key.Matches(msg, k.Sort):
		next := m.nextSortColumn()
		m.setSort(next, next.DefaultDesc())
	case key.Matches(msg, k.Reverse):
		m.setSort(m.grid.sortBy, !m.grid.sortDesc)
	case key.Matches(msg, k.Group):
		m.toggleGroup()
	case key.Matches(msg, k.Mark):
		m.toggleMark()
	case key.Matches(msg, k.MarkAll):
		m.markAll()
	case key.Matches(msg, k.ClearMarks):
		m.clearMarks()
	case key.Matches(msg, k.PollNow):
		if m.denied(engine.PermDevicesPoll, "polling now") {
			return m, nil
		}
		return m, m.pollNow()
	}
	return m, nil
}

// nextSortColumn is the column after the sorted one among those on
// screen: s cycles through what the admin can see.
func (m *Model) nextSortColumn() Column {
	cols := layoutColumns(m.width)
	for i, c := range cols {
		if c.col == m.grid.sortBy {
			return cols[(i+1)%len(cols)].col
		}
	}
	return cols[0].col
}

// filterKey edits the filter while it has the keyboard. The grid narrows
// as you type; arrows still move the selection.
func (m Model) filterKey(msg tea.KeyPressMsg) Model {
	g := &m.grid
	switch msg.String() {
	case "esc":
		g.typing = false
		m.setFilter("")
	case "enter":
		g.typing = false
		m.keepFilter()
	case "backspace":
		r := []rune(g.filter)
		if len(r) > 0 {
			m.setFilter(string(r[:len(r)-1]))
		}
	case "ctrl+u":
		m.setFilter("")
	case "ctrl+w":
		f := strings.TrimRight(g.filter, " ")
		m.setFilter(f[:strings.LastIndex(f, " ")+1])
	case "up":
		m.moveTo(g.cursor - 1)
	case "down":
		m.moveTo(g.cursor + 1)
	case "pgup":
		m.pageBy(-max(m.visibleRows(), 1))
	case "pgdown":
		m.pageBy(max(m.visibleRows(), 1))
	default:
		if t := strings.Map(printable, msg.Text); t != "" {
			m.setFilter(g.filter + t)
		}
	}
	return m
}

// gridClick selects the clicked row (a site header selects its first
// device), or sorts by the clicked column title (clicking the sorted
// column again reverses it). y is relative to the page.
func gridClick(m Model, x, y int) (Model, tea.Cmd) {
	if !m.loaded || len(m.devices) == 0 {
		return m, nil
	}
	switch {
	case y == 0:
		for _, c := range layoutColumns(m.width) {
			if x >= c.x && x < c.x+c.width {
				if c.col == m.grid.sortBy {
					m.setSort(c.col, !m.grid.sortDesc)
				} else {
					m.setSort(c.col, c.col.DefaultDesc())
				}
				break
			}
		}
	case y >= 1 && y <= m.visibleRows():
		l := m.grid.offset + y - 1
		if l >= m.lines() {
			break
		}
		row, group := m.atLine(l)
		if group >= 0 {
			row = m.grid.groups[group].start
		}
		m.moveTo(row)
	}
	return m, nil
}

// sameState reports whether a device's state is unchanged as the detail
// view shows it.
func sameState(a, b *engine.DeviceState) bool {
	return a.Status == b.Status && a.HasMetrics == b.HasMetrics && a.CPUPct == b.CPUPct &&
		a.MemPct == b.MemPct && a.DiskFreePct == b.DiskFreePct && a.LastSeen.Equal(b.LastSeen) &&
		a.LastError == b.LastError && a.Hostname == b.Hostname && a.Site == b.Site &&
		a.OSName == b.OSName && a.OSVersion == b.OSVersion && a.Mode == b.Mode
}
