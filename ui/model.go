package ui

import (
	"slices"
	"strings"
	"time"
	"unicode"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/themes"
)

// Client is what the console needs of the engine. *engine.Engine
// satisfies it; tests use a slice plus a real engine.Hub.
type Client interface {
	Devices() []engine.DeviceState // full snapshot, any order
	Summary() engine.Summary
	Subscribe() *engine.Subscription
}

// Options configure the console. The zero value works.
type Options struct {
	// Theme is a name from themes.Names(); "" is the default theme. An
	// unknown name falls back to the default: validate user input with
	// themes.Get first to report it. main picks "ascii" for non-UTF-8
	// locales with themes.AutoName.
	Theme string
	// NoColor drops all colour from the theme (NO_COLOR; see
	// themes.NoColor). Selection and headings stay visible through
	// bold/reverse.
	NoColor bool
	// Title is the org / app name in the header; "" is "rmm".
	Title string
	// EmptyHint is shown centred when there are no devices at all.
	EmptyHint string
	// User and Role are shown in the header.
	User, Role string
	// Now is the clock for relative times ("4s ago"); nil is time.Now.
	// Tests fix it so screens are stable.
	Now func() time.Time
}

// Screen geometry: two header lines, the column titles, the rows, one
// status line.
const (
	headerLines = 2
	gridTop     = headerLines // y of the column titles
	rowsTop     = gridTop + 1 // y of the first device row
	chromeLines = rowsTop + 1 // everything that is not a device row
	wheelStep   = 3

	// MinWidth and MinHeight are the smallest terminal the console draws
	// in; below it says so instead of drawing a broken grid.
	MinWidth  = 80
	MinHeight = 24
)

// Model is the console: a tea.Model (Bubble Tea v2). Create it with New.
type Model struct {
	*look // never changes after New; a pointer keeps Model small to copy
	opts  Options
	feed  *feed
	now   func() time.Time

	sub     *engine.Subscription
	loaded  bool                 // the first snapshot has arrived
	devices []engine.DeviceState // every device, in arrival order
	index   map[int64]int        // device ID -> position in devices
	rows    []int                // what the grid shows: positions in devices, filtered and sorted
	summary engine.Summary

	sortBy   Column
	sortDesc bool
	filter   string
	typing   bool // the filter input has the keyboard

	cursor   int   // selected position in rows
	offset   int   // first row on screen
	selected int64 // ID of the selected device, so the selection follows it through re-sorts
	hasSel   bool

	width, height int
	showHelp      bool
	quitting      bool
}

// look is how the console draws: theme, inks, keys and help. Shared by
// all copies of a Model and never modified after New.
type look struct {
	theme themes.Theme
	inks  inks
	keys  KeyMap
	help  help.Model
}

// New returns the console for c. It does nothing until the program runs
// Init, which subscribes to the engine.
func New(c Client, opts Options) Model {
	if opts.Title == "" {
		opts.Title = "rmm"
	}
	th, err := themes.Get(opts.Theme)
	if err != nil {
		th, _ = themes.Get(themes.Default)
	}
	if opts.NoColor {
		th = th.WithoutColor()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	h := help.New()
	h.ShortSeparator = th.Glyphs.HelpSep
	h.FullSeparator = "    "
	h.Ellipsis = th.Glyphs.Ellipsis
	h.Styles = help.Styles{
		Ellipsis:       th.Muted,
		ShortKey:       th.Muted,
		ShortDesc:      th.Muted,
		ShortSeparator: th.Muted,
		FullKey:        th.HelpKey,
		FullDesc:       th.HelpDesc,
		FullSeparator:  th.Muted,
	}
	return Model{
		look:  &look{theme: th, inks: newInks(th), keys: DefaultKeyMap(), help: h},
		opts:  opts,
		feed:  newFeed(c),
		now:   now,
		index: make(map[int64]int),
	}
}

// Close unsubscribes from the engine. Quitting with q or ctrl+c does it
// already; main may also call it after Run returns (safe to repeat) for
// the cases where the program ended otherwise (killed, context done).
func (m Model) Close() { m.feed.close() }

type tickMsg time.Time

// tick refreshes relative times ("4s ago") once a second, on the second.
func tick() tea.Cmd {
	return tea.Every(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Init subscribes to the engine and starts the clock.
func (m Model) Init() tea.Cmd {
	return tea.Batch(m.feed.subscribe, tick())
}

// Update applies engine events, keys, mouse and resizes.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clamp()
		return m, nil

	case tickMsg:
		if m.quitting {
			return m, nil
		}
		return m, tick()

	case snapshotMsg:
		m.sub = msg.sub
		m.loaded = true
		m.devices = m.devices[:0]
		clear(m.index)
		m.apply(msg.devices)
		m.summary = msg.summary
		m.refresh()
		return m, m.feed.wait(m.sub, time.Time{})

	case updateMsg:
		if m.apply(msg.update.Devices) {
			m.refresh()
		}
		m.summary = msg.update.Summary
		return m, m.feed.wait(m.sub, msg.at)

	case tea.KeyPressMsg:
		return m.key(msg)

	case tea.PasteMsg:
		if m.typing {
			m.setFilter(m.filter + strings.Map(printable, msg.Content))
		}
		return m, nil

	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			m.scroll(-wheelStep)
		case tea.MouseWheelDown:
			m.scroll(wheelStep)
		}
		return m, nil

	case tea.MouseClickMsg:
		m.click(msg.Mouse())
		return m, nil
	}
	return m, nil
}

// apply merges device states by ID: replace a known device, append a new
// one. It reports whether the grid's rows must be recomputed: not when
// every change keeps its device's place (same sort key, same hostname,
// same filter match), which is the common case during a sweep sorted by
// hostname, and saves re-sorting 10,000 rows for nothing.
func (m *Model) apply(ds []engine.DeviceState) (reorder bool) {
	for _, d := range ds {
		i, ok := m.index[d.ID]
		if !ok {
			m.index[d.ID] = len(m.devices)
			m.devices = append(m.devices, d)
			reorder = true
			continue
		}
		old := &m.devices[i]
		if !reorder && (CompareDevices(old, &d, m.sortBy, false) != 0 ||
			MatchDevice(old, m.filter) != MatchDevice(&d, m.filter)) {
			reorder = true
		}
		m.devices[i] = d
	}
	return reorder
}

// refresh recomputes the rows (filter, then sort) and keeps the selected
// device selected, at the same place on screen when it can: an admin about
// to act on a device must not find another one under the cursor because a
// poll re-ordered the grid.
func (m *Model) refresh() {
	onScreen := m.cursor - m.offset
	rows := make([]int, 0, len(m.devices))
	for i := range m.devices {
		if MatchDevice(&m.devices[i], m.filter) {
			rows = append(rows, i)
		}
	}
	by, desc := m.sortBy, m.sortDesc
	// CompareDevices is a total order (ties end at the ID), so the faster
	// unstable sort gives the same result as a stable one.
	slices.SortFunc(rows, func(a, b int) int {
		return CompareDevices(&m.devices[a], &m.devices[b], by, desc)
	})
	m.rows = rows

	found := false
	if m.hasSel {
		for i, r := range rows {
			if m.devices[r].ID == m.selected {
				m.cursor, found = i, true
				break
			}
		}
	}
	if found {
		m.offset = m.cursor - onScreen
	}
	m.clamp()
}

// visibleRows is how many device rows fit on screen.
func (m Model) visibleRows() int {
	return max(0, m.height-chromeLines)
}

// clamp keeps the cursor on a row and on screen, and records which device
// it is on.
func (m *Model) clamp() {
	n, vis := len(m.rows), m.visibleRows()
	m.cursor = min(max(m.cursor, 0), max(n-1, 0))
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if vis > 0 && m.cursor >= m.offset+vis {
		m.offset = m.cursor - vis + 1
	}
	m.offset = min(max(m.offset, 0), max(n-vis, 0))
	if n > 0 {
		m.selected, m.hasSel = m.devices[m.rows[m.cursor]].ID, true
	}
}

// moveTo selects row i (clamped).
func (m *Model) moveTo(i int) {
	m.cursor = i
	m.clamp()
}

// page moves the cursor and the view together by n rows, like less.
func (m *Model) page(n int) {
	m.offset += n
	m.cursor += n
	m.clamp()
}

// scroll moves the view by n rows and drags the cursor along only when it
// would leave the screen (mouse wheel).
func (m *Model) scroll(n int) {
	vis := m.visibleRows()
	m.offset = min(max(m.offset+n, 0), max(len(m.rows)-vis, 0))
	if m.cursor < m.offset {
		m.cursor = m.offset
	}
	if vis > 0 && m.cursor >= m.offset+vis {
		m.cursor = m.offset + vis - 1
	}
	m.clamp()
}

// setSort re-sorts and goes to the top: after asking for an order, the
// admin wants to see its head (busiest CPU first...), not the device they
// happened to be on. Live updates, by contrast, keep the selection.
func (m *Model) setSort(by Column, desc bool) {
	m.sortBy, m.sortDesc = by, desc
	m.hasSel = false
	m.cursor, m.offset = 0, 0
	m.refresh()
}

func (m *Model) setFilter(f string) {
	if f == m.filter {
		return
	}
	m.filter = f
	m.refresh()
}

func (m Model) quit() (tea.Model, tea.Cmd) {
	m.quitting = true
	m.feed.close()
	return m, tea.Quit
}

func (m Model) key(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	if msg.String() == "ctrl+c" {
		return m.quit()
	}
	if m.typing {
		return m.filterKey(msg)
	}
	if m.showHelp {
		switch {
		case key.Matches(msg, k.Quit):
			return m.quit()
		case key.Matches(msg, k.Help, k.Clear):
			m.showHelp = false
		}
		return m, nil
	}
	half := max(m.visibleRows()/2, 1)
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.showHelp = true
	case key.Matches(msg, k.Clear):
		m.setFilter("")
	case key.Matches(msg, k.Filter):
		m.typing = true
	case key.Matches(msg, k.Up):
		m.moveTo(m.cursor - 1)
	case key.Matches(msg, k.Down):
		m.moveTo(m.cursor + 1)
	case key.Matches(msg, k.PageUp):
		m.page(-max(m.visibleRows(), 1))
	case key.Matches(msg, k.PageDown):
		m.page(max(m.visibleRows(), 1))
	case key.Matches(msg, k.HalfUp):
		m.page(-half)
	case key.Matches(msg, k.HalfDown):
		m.page(half)
	case key.Matches(msg, k.Top):
		m.moveTo(0)
	case key.Matches(msg, k.Bottom):
		m.moveTo(len(m.rows) - 1)
	case key.Matches(msg, k.Sort):
		m.sortBy = m.sortBy.next()
		m.setSort(m.sortBy, m.sortBy.DefaultDesc())
	case key.Matches(msg, k.Reverse):
		m.setSort(m.sortBy, !m.sortDesc)
	}
	return m, nil
}

// filterKey edits the filter while it has the keyboard. The grid narrows
// as you type; arrows still move the selection.
func (m Model) filterKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.typing = false
		m.setFilter("")
	case "enter":
		m.typing = false
	case "backspace":
		r := []rune(m.filter)
		if len(r) > 0 {
			m.setFilter(string(r[:len(r)-1]))
		}
	case "ctrl+u":
		m.setFilter("")
	case "ctrl+w":
		f := strings.TrimRight(m.filter, " ")
		m.setFilter(f[:strings.LastIndex(f, " ")+1])
	case "up":
		m.moveTo(m.cursor - 1)
	case "down":
		m.moveTo(m.cursor + 1)
	case "pgup":
		m.page(-max(m.visibleRows(), 1))
	case "pgdown":
		m.page(max(m.visibleRows(), 1))
	default:
		if t := strings.Map(printable, msg.Text); t != "" {
			m.setFilter(m.filter + t)
		}
	}
	return m, nil
}

// printable drops control characters (a pasted newline, a tab) from
// filter input.
func printable(r rune) rune {
	if unicode.IsPrint(r) {
		return r
	}
	return -1
}

// click selects the clicked row, or sorts by the clicked column title
// (clicking the sorted column again reverses it).
func (m *Model) click(ms tea.Mouse) {
	if ms.Button != tea.MouseLeft || m.showHelp || m.tooSmall() {
		return
	}
	switch {
	case ms.Y == gridTop:
		for _, c := range layoutColumns(m.width) {
			if ms.X >= c.x && ms.X < c.x+c.width {
				if c.col == m.sortBy {
					m.setSort(c.col, !m.sortDesc)
				} else {
					m.setSort(c.col, c.col.DefaultDesc())
				}
				return
			}
		}
	case ms.Y >= rowsTop && ms.Y < rowsTop+m.visibleRows():
		if i := m.offset + ms.Y - rowsTop; i < len(m.rows) {
			m.moveTo(i)
		}
	}
}

func (m Model) tooSmall() bool {
	return m.width < MinWidth || m.height < MinHeight
}
