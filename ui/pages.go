package ui

import (
	"errors"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// pageID names a view of the console: what the tab bar lists.
type pageID int

const (
	pageDevices pageID = iota
	pageDetail
	pageSettings
)

// page is one view of the console. The tab bar, the number keys, the
// :NAME commands and the palette's completion are all generated from
// pages(), so a new view (alerts, audit...) is one more entry there.
type page struct {
	id   pageID
	name string // its command (:devices) and, capitalised, its tab
	tab  string // the tab's label
	desc string // the command's description in the palette
	// label, when set, is the tab's label while the page is shown
	// ("Detail: WS-0042").
	label func(m *Model) string
	// open runs when the page is switched to; an error (no device to
	// show) keeps the current page and becomes an error toast.
	open func(m Model) (Model, tea.Cmd, error)
	// body renders the page, exactly height lines of the terminal's width.
	body func(m *Model, height int) []string
	// key handles the keys the console does not handle for every page.
	key func(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd)
	// click handles a left click at x, y (y from the page's first line).
	click func(m Model, x, y int) (Model, tea.Cmd)
	// help is the page's entries in the status line.
	help func(k *KeyMap) []helpItem
}

// pages lists the console's views in tab order (1..9).
func pages() []page {
	return []page{
		{
			id: pageDevices, name: "devices", tab: "Devices", desc: "the device grid",
			body: (*Model).gridBody, key: gridKey, click: gridClick,
		},
		{
			id: pageDetail, name: "detail", tab: "Detail", desc: "the selected device in detail",
			label: func(m *Model) string {
				if m.page == pageDetail && m.detail.hostname != "" {
					return "Detail: " + m.detail.hostname
				}
				return "Detail"
			},
			open: openDetail, body: (*Model).detailBody, key: detailKey, click: noClick,
		},
		{
			id: pageSettings, name: "settings", tab: "Settings", desc: "the effective configuration (read-only)",
			body: (*Model).settingsBody, key: settingsKey, click: settingsClick,
		},
	}
}

func pageOf(id pageID) page {
	for _, p := range pages() {
		if p.id == id {
			return p
		}
	}
	return pages()[0]
}

func noClick(m Model, _, _ int) (Model, tea.Cmd) { return m, nil }

// errNoDevice is why the detail view cannot open.
var errNoDevice = errors.New("no device selected: the grid is empty")

// switchTo shows page id, if it can open. A filter being typed is kept,
// as enter would.
func (m Model) switchTo(id pageID) (Model, tea.Cmd) {
	if m.grid.typing {
		m.grid.typing = false
		m.keepFilter()
	}
	p := pageOf(id)
	if p.open != nil {
		nm, cmd, err := p.open(m)
		if err != nil {
			return m, m.notify(err.Error(), true)
		}
		m = nm
		m.page = id
		return m, cmd
	}
	m.page = id
	m.clampScrolls()
	return m, nil
}

// tab is one view's place in the tab bar.
type tab struct {
	id       pageID
	label    string
	x, width int
}

// tabs lays out the tab bar: " 1 Devices  2 Detail  3 Settings ".
func (m *Model) tabs() []tab {
	ps := pages()
	out := make([]tab, 0, len(ps))
	x := 1
	for i, p := range ps {
		label := p.tab
		if p.label != nil {
			label = p.label(m)
		}
		label = " " + itoa(i+1) + " " + Truncate(label, 32, m.theme.Glyphs.Ellipsis) + " "
		w := ansi.StringWidth(label)
		out = append(out, tab{id: p.id, label: label, x: x, width: w})
		x += w + 1
	}
	return out
}
