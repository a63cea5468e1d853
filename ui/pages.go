package ui

import (
	"errors"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// pageID names a view of the console: what the tab bar lists.
type pageID int

const (
	pageDevices pageID = iota
	pageAlerts
	pageDetail
	pageSchedules
	pageAudit
	pageSettings
	pageActions     // runs and the offline queue (actions_view.go)
	pageNotify      // the notification outbox (notify.go)
	pageShell       // the remote PowerShell pane, while open (rshell.go)
	pageCollections // saved collections and their counts (collections.go)
	pagePatches     // Windows updates: hosts by updates, approvals, installs (patches.go)
)

// page is one view of the console. The tab bar, the number keys, the
// :NAME commands and the palette's completion are all generated from
// pages(), so a new view (alerts, audit...) is one more entry there.
type page struct {
	id   pageID
	name string // its command (:devices) and, capitalised, its tab
	tab  string // the tab's label
	// short is the label when the tabs do not fit (80 columns): at most
	// five letters, no ellipsis. Empty: tab.
	short string
	desc  string // the command's description in the palette
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
	// avail reports whether this console has the view at all: its
	// Client offers the data (AlertSource, ScheduleSource, Requester).
	// nil is always. A view that is not available is nowhere on screen.
	avail func(m *Model) bool
	// tabWhenOpen keeps the view off the tab bar and the number keys
	// unless it is shown (it opens with a key or its command): the bar
	// holds the views used all day, in 80 columns.
	tabWhenOpen bool
	// allowed reports whether the user's role may use the view; nil is
	// always. A view it may not is left out of the tab bar and the
	// palette, but typing its command opens it and shows the engine's
	// refusal: the engine decides, the console only does not offer.
	allowed func(m *Model) bool
}

// pages lists the console's views in tab order (1..9).
func pages() []page {
	return []page{
		{
			id: pageDevices, name: "devices", tab: "Devices", short: "Dev", desc: "the device grid",
			body: (*Model).gridBody, key: gridKey, click: gridClick,
		},
		{
			id: pageAlerts, name: "alerts", tab: "Alerts", short: "Alert", desc: "the unresolved alerts, most urgent first",
			avail: func(m *Model) bool { return m.feed.caps.alerts != nil },
			body:  (*Model).alertsBody, key: alertsKey, click: alertsClick,
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
			id: pageSchedules, name: "schedules", tab: "Schedules", short: "Sched", desc: "scheduled jobs, next runs; run one now",
			avail: func(m *Model) bool { return m.feed.caps.scheds != nil },
			open:  openSchedules, body: (*Model).schedulesBody, key: schedulesKey, click: schedulesClick,
		},
		{
			id: pageAudit, name: "audit", tab: "Audit", desc: "the newest 500 audit rows",
			avail:   func(m *Model) bool { return m.feed.caps.req != nil },
			allowed: func(m *Model) bool { return m.may(engine.PermAuditView) },
			open:    openAudit, body: (*Model).auditBody, key: auditKey, click: auditClick,
		},
		{
			id: pageSettings, name: "settings", tab: "Settings", short: "Set", desc: "the effective configuration (read-only)",
			body: (*Model).settingsBody, key: settingsKey, click: settingsClick,
		},
		{
			id: pageActions, name: "actions", tab: "Actions", short: "Act", desc: "action runs, their results, the offline queue",
			avail: func(m *Model) bool { return m.feed.caps.req != nil },
			open:  openActions, body: (*Model).actionsBody, key: actionsKey, click: actionsClick,
		},
		{
			id: pageNotify, name: "notifications", tab: "Notify", short: "Notif", desc: "the notification outbox: sends, retries, failures",
			avail: func(m *Model) bool { return m.feed.caps.req != nil },
			open:  openNotify, body: (*Model).notifyBody, key: notifyKey, click: notifyClick,
		},
		{
			id: pagePatches, name: "patches", tab: "Patches", short: "Patch", desc: "Windows updates: the fleet by updates and hosts, approvals, installs",
			avail: func(m *Model) bool { return m.feed.caps.req != nil && m.feed.caps.patches != nil },
			open:  openPatches, body: (*Model).patchesBody, key: patchesKey, click: patchesClick,
		},
		{
			id: pageCollections, name: "collections", tab: "Collections", desc: "saved collections (dynamic groups) and their members",
			avail: func(m *Model) bool { return m.feed.caps.req != nil }, tabWhenOpen: true,
			open: openCollections, body: (*Model).collectionsBody, key: collectionsKey, click: collectionsClick,
		},
		{
			id: pageShell, name: "shell", tab: "PS", desc: "the open remote PowerShell pane",
			label: func(m *Model) string {
				if m.shell != nil {
					return "PS " + m.shell.host
				}
				return "PS"
			},
			avail: func(m *Model) bool { return m.shell != nil },
			body:  (*Model).shellBody, key: func(m Model, _ tea.KeyPressMsg) (Model, tea.Cmd) { return m, nil }, click: noClick,
		},
	}
}

// available reports whether the console has view p at all.
func (m *Model) available(p page) bool {
	return p.avail == nil || p.avail(m)
}

// listed reports whether view p is offered: in the tab bar, the number
// keys and the palette.
func (m *Model) listed(p page) bool {
	return m.available(p) && (p.allowed == nil || p.allowed(m))
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

// unavailable is why a view this console does not have cannot open.
func unavailable(p page) error {
	return errors.New("the " + p.name + " view is not available in this console")
}

// switchTo shows page id, if it can open. A filter being typed is kept,
// as enter would.
func (m Model) switchTo(id pageID) (Model, tea.Cmd) {
	if m.grid.typing {
		m.grid.typing = false
		m.keepFilter()
	}
	p := pageOf(id)
	if !m.available(p) {
		return m, m.notify(unavailable(p).Error(), true)
	}
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

// tabs lays out the tab bar: " 1 Devices  2 Alerts  3 Detail ... ": the
// listed views, and the current one if it is not (a view typed by name).
// When they do not fit, a long label ("Detail: LONDON-FILESERVER...")
// gives up its room first.
func (m *Model) tabs() []tab {
	var ps []page
	for _, p := range pages() {
		if m.listed(p) && !p.tabWhenOpen || p.id == m.page {
			ps = append(ps, p)
		}
	}
	ell := m.theme.Glyphs.Ellipsis
	labels := make([]string, len(ps))
	total := 1
	for i, p := range ps {
		labels[i] = p.tab
		if p.label != nil {
			labels[i] = Truncate(p.label(m), 32, ell)
		}
		total += ansi.StringWidth(labels[i]) + len(" 1  ") + 1
	}
	// When they do not fit, the tabs lose their right padding first; a
	// saved view or collection the grid shows is named on the right of
	// the bar, so it is given room first.
	room := m.width
	if m.grid.view != "" {
		room -= ansi.StringWidth("view "+m.grid.view) + 3
	}
	pad := " "
	if total-1 > room {
		pad = ""
		total -= len(ps)
	}
	if over := total - 1 - room; over > 0 {
		for i, p := range ps {
			if w := ansi.StringWidth(labels[i]); p.label != nil && w > len(p.tab) {
				cut := min(over, w-len(p.tab))
				if labels[i] = Truncate(labels[i], w-cut, ell); cut == w-len(p.tab) {
					labels[i] = p.tab // "Detail", not "Det..."
				}
				over -= cut
				break
			}
		}
		// Still too wide (many views on 80 columns): the other views
		// take their short labels ("Sched"), the longest first, then lose
		// letters, down to four; the current view keeps its name.
		for over > 0 {
			longest, cut := -1, 0
			for i, p := range ps {
				if p.id == m.page || p.short == "" || labels[i] != p.tab {
					continue
				}
				if c := ansi.StringWidth(p.tab) - ansi.StringWidth(p.short); c > 0 && (longest < 0 || c > cut) {
					longest, cut = i, c
				}
			}
			if longest < 0 {
				break
			}
			labels[longest] = ps[longest].short
			over -= cut
		}
		for over > 0 {
			longest := -1
			for i, p := range ps {
				w := ansi.StringWidth(labels[i])
				if p.id != m.page && w > 4 && (longest < 0 || w > ansi.StringWidth(labels[longest])) {
					longest = i
				}
			}
			if longest < 0 {
				break
			}
			w := ansi.StringWidth(labels[longest])
			labels[longest] = Truncate(labels[longest], w-1, ell)
			over--
		}
	}
	out := make([]tab, 0, len(ps))
	x := 1
	for i, p := range ps {
		label := " " + labels[i] + pad
		if k := tabKey(i); k != "" {
			label = " " + k + " " + labels[i] + pad
		}
		w := ansi.StringWidth(label)
		out = append(out, tab{id: p.id, label: label, x: x, width: w})
		x += w + 1
	}
	return out
}

// tabKey is the digit that switches to the i-th tab (from 0): 1..9 for the
// first nine, 0 for the tenth (the row of digits ends in 0), none after.
func tabKey(i int) string {
	switch {
	case i < 9:
		return itoa(i + 1)
	case i == 9:
		return "0"
	}
	return ""
}

// tabForKey is the index of the tab a digit key switches to (tabKey's
// inverse), or -1 when s is not such a digit.
func tabForKey(s string) int {
	switch {
	case len(s) != 1:
		return -1
	case s[0] >= '1' && s[0] <= '9':
		return int(s[0] - '1')
	case s[0] == '0':
		return 9
	}
	return -1
}
