package ui

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// The help's text is at most helpMaxWidth wide; its frame and margins
// take helpChromeW columns and helpChromeH lines of the terminal.
const (
	helpMaxWidth = 104
	helpChromeW  = 2 + 4 + 2 // border, padding, a margin each side
	helpChromeH  = 2 + 2     // border, a margin above and below
)

// helpWidth is the width of the help's text on this terminal.
func (m *Model) helpWidth() int {
	return max(min(m.width-helpChromeW, helpMaxWidth), 20)
}

// helpLines is the whole help, generated from the key map and the
// command table: what it says is what the console does.
func (m *Model) helpLines() []string {
	th, g := &m.theme, &m.theme.Glyphs
	w := m.helpWidth()
	var out []string
	add := func(s ...string) { out = append(out, s...) }

	add(th.HelpTitle.Render("Keys"), "")
	var cols [][]string
	for _, grp := range m.helpGroups() {
		var items []helpItem
		for _, a := range actions() {
			if a.group != grp || a.perm != "" && !m.may(a.perm) {
				continue
			}
			h := a.binding(&m.keys).Help()
			items = append(items, helpItem{h.Key, h.Desc})
		}
		switch grp {
		case groupAlerts:
			items = append(append([]helpItem{{firstKey(m.keys.Open), "the alert's device, on its Alerts tab"}}, m.alertsHelpKeys()...), items...)
		case groupAudit:
			items = append([]helpItem{{firstKey(m.keys.Filter), "filter rows (text)"}}, items...)
		case groupActions:
			items = append([]helpItem{{firstKey(m.keys.Open), "the run's results, a host's output"}, {"tab", "runs / offline queue"}}, items...)
		case groupPatches:
			items = append([]helpItem{{firstKey(m.keys.Open), "a host's updates and jobs, an update's rings"}}, items...)
		case groupGeneral:
			items = append(items, helpItem{tabKeysText(len(m.tabs())), "switch view"}, helpItem{"ctrl+c", "quit"})
		}
		if len(items) > 0 {
			cols = append(cols, m.helpColumn(grp, items))
		}
	}
	// The views' own keys, which are not in the key map.
	if m.available(pageOf(pageDetail)) {
		items := []helpItem{{keyTabPrev + "/" + keyTabNext, "previous / next tab"}, {keyTabNextAlt + "/" + keyTabPrevAlt, "next / previous tab"}}
		if m.may(engine.PermDevicesPoll) {
			items = append(items, helpItem{keyCollect, "collect the tab's inventory now"})
		}
		items = append(items, helpItem{firstKey(m.keys.Back), "back to the grid"})
		cols = append(cols, m.helpColumn("Detail", items))
	}
	if m.may(engine.PermActionsRun) {
		cols = append(cols, m.helpColumn("PowerShell pane ("+firstKey(m.keys.Shell)+")", m.shellHelp()),
			m.helpColumn("Action dialog ("+firstKey(m.keys.RunAction)+")", []helpItem{
				{"enter", "pick, next step"}, {"tab/up/down", "form fields"}, {"left/right", "cycle a choice"},
				{"pgup/pgdown", "scroll the catalog"}, {firstKey(m.keys.Back), "back a step"},
				{"y / n", "confirm / cancel"}, {"a number", "confirm more than " + itoa(typedConfirmOver) + " devices (destructive)"}}))
	}
	add(m.sideBySide(cols, w)...)
	add("", th.Muted.Render("mouse: click a tab, a row, or a column title (sorts); the wheel scrolls"))

	add("", th.HelpTitle.Render("Filter")+th.Muted.Render("  (/ as you type, or :filter EXPR; terms are AND-ed)"))
	syntax := []helpItem{
		{"web", "text in the hostname, site, status, OS or tags"},
		{"host: site: os:", "field contains the text (site=London: exactly)"},
		{"status:off", "status starts with the text"},
		{"tag:sql group:fin*", "has the tag or group (* : starting with)"},
		{"cpu>80 mem>=90", "latest metric compared (<, <=, >, >=, =)"},
		{"disk<10", "lowest free % of the fixed volumes"},
		{"!term -term", "not the term"},
		{`"new york"`, "quotes keep spaces"},
		{"sort:cpu sort:-cpu", "order (- descending), applied on enter"},
	}
	add(m.helpColumn("", syntax)...)

	add("", th.HelpTitle.Render("Commands")+th.Muted.Render("  (: then tab completes, up/down pick)"))
	var cmds []helpItem
	for _, c := range m.commands {
		desc := c.desc
		if c.hidden != nil && c.hidden(m) {
			desc += " (not available now)" // listed all the same: help says everything the console knows
		}
		name := ":" + c.name
		for _, a := range c.aliases {
			name += " :" + a
		}
		if c.args != "" {
			name += " " + c.args
		}
		cmds = append(cmds, helpItem{name, desc})
	}
	add(m.helpColumn("", cmds)...)
	if names := m.viewNames(); len(names) > 0 {
		add("", th.HelpTitle.Render("Saved views"))
		var vs []helpItem
		for _, n := range names {
			vs = append(vs, helpItem{n, m.opts.SavedViews[n]})
		}
		add(m.helpColumn("", vs)...)
	}

	add("", th.Online.Render(g.Online+" Online")+"  "+th.Offline.Render(g.Offline+" Offline")+"  "+
		th.Unknown.Render(g.Unknown+" Unknown")+"  "+th.Mark.Render(g.Mark)+" "+th.Muted.Render("marked"))
	if m.available(pageOf(pageAlerts)) {
		var sev []string
		for _, s := range engine.Severities() {
			sym, st := m.sevLook(s)
			sev = append(sev, st.Render(sym+" "+string(s)))
		}
		add(strings.Join(sev, "  ") + th.Muted.Render("  (alert severities)"))
	}
	add(
		th.Muted.Render("CPU, MEM: % used   DISK FREE: lowest % free of fixed volumes"),
		"", th.Muted.Render(firstKey(m.keys.Help)+" or "+firstKey(m.keys.Back)+" closes this help"))
	for i, l := range out {
		out[i] = ansi.Truncate(l, w, g.Ellipsis)
	}
	return out
}

// helpGroups are the help's key columns: the views this console has.
func (m *Model) helpGroups() []string {
	groups := []string{groupMove, groupDevices}
	if m.available(pageOf(pageAlerts)) {
		groups = append(groups, groupAlerts)
	}
	if m.available(pageOf(pageSchedules)) {
		groups = append(groups, groupSchedules)
	}
	if m.listed(pageOf(pageAudit)) {
		groups = append(groups, groupAudit)
	}
	if m.available(pageOf(pageActions)) {
		groups = append(groups, groupActions)
	}
	if m.available(pageOf(pagePatches)) {
		groups = append(groups, groupPatches)
	}
	return append(groups, groupGeneral)
}

// helpColumn is a titled list of keys and what they do, keys aligned.
func (m *Model) helpColumn(title string, items []helpItem) []string {
	th := &m.theme
	kw := 0
	for _, it := range items {
		kw = max(kw, ansi.StringWidth(it.key))
	}
	var out []string
	if title != "" {
		out = append(out, th.Section.Render(title))
	}
	for _, it := range items {
		out = append(out, th.HelpKey.Render(fit(it.key, kw, false, ""))+"  "+th.HelpDesc.Render(it.desc))
	}
	return out
}

// sideBySide lays columns out left to right, starting a new band below
// when the next one would not fit in width.
func (m *Model) sideBySide(cols [][]string, width int) []string {
	const sep = "    "
	var out, band []string
	bandWidth := 0
	flush := func() {
		if len(band) == 0 {
			return
		}
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(out, strings.Split(lipgloss.JoinHorizontal(lipgloss.Top, band...), "\n")...)
		band, bandWidth = nil, 0
	}
	for _, c := range cols {
		block := strings.Join(c, "\n")
		w := lipgloss.Width(block)
		if len(band) > 0 && bandWidth+len(sep)+w > width {
			flush()
		}
		if len(band) > 0 {
			band = append(band, sep)
			bandWidth += len(sep)
		}
		band = append(band, block)
		bandWidth += w
	}
	flush()
	return out
}

// helpRows is how many help lines fit in the frame.
func (m *Model) helpRows() int {
	return max(m.height-helpChromeH, 3)
}

func (m *Model) helpMaxOffset() int {
	if !m.showHelp {
		return 0
	}
	return max(len(m.helpLines())-m.helpRows(), 0)
}

// helpBox is the help, framed and scrolled to helpOffset.
func (m *Model) helpBox() string {
	th := &m.theme
	lines := m.helpLines()
	rows := m.helpRows()
	if len(lines) > rows {
		off := min(m.helpOffset, len(lines)-rows)
		more := off+rows < len(lines)
		lines = lines[off : off+rows]
		if more {
			lines[rows-1] = th.Muted.Render("more below (" + moveLabel(&m.keys) + " scroll)")
		}
	}
	w := 0
	for _, l := range lines {
		w = max(w, ansi.StringWidth(l))
	}
	for i, l := range lines {
		lines[i] = l + strings.Repeat(" ", w-ansi.StringWidth(l))
	}
	return th.HelpBox.Render(strings.Join(lines, "\n"))
}

// tabKeysText names the digit keys of n tabs: "1..7", "1..9, 0".
func tabKeysText(n int) string {
	if n >= 10 {
		return "1..9, 0"
	}
	return "1.." + itoa(max(n, 1))
}
