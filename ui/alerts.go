package ui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// alertsState is the alerts view: the engine's unresolved alerts as last
// read (sorted by severity, then newest first), their counts for the
// header, and the selection, which follows its alert through refreshes.
type alertsState struct {
	list   []engine.Alert // every unresolved alert, as the engine sorts them
	shown  []engine.Alert // what the view lists: list filtered and sorted (alerts_view.go)
	counts map[engine.Severity]int
	read   bool // the engine's alerts have been read once
	pos    listPos
	selID  int64

	filter   string             // the / filter as typed
	flt      engine.AlertFilter // parsed; matches nothing while fltErr is set
	fltErr   error
	typing   bool   // the filter has the keyboard
	sortKey  string // "" is the engine's order; else an engine.AlertSortKeys name
	sortDesc bool
	marks    map[int64]bool // alert ids marked for a bulk change
	prompt   *alertPrompt   // the note (and snooze time) of a change being asked; nil when none
	// The widest host and what of the list, measured once per read, not
	// per frame: a fleet in trouble has thousands of alerts.
	hostW, whatW int
}

// setLive takes what the feed read beside the devices.
func (m *Model) setLive(l live) {
	if !l.read {
		return
	}
	if l.hasPool {
		m.pool, m.hasPool = l.pool, true
	}
	if !l.hasAlerts {
		return
	}
	a := &m.alerts
	a.list, a.counts, a.read = l.alerts, l.counts, true
	a.hostW, a.whatW = len("HOST"), len("WHAT")
	for i := range a.list {
		a.hostW = max(a.hostW, ansi.StringWidth(a.list[i].Hostname))
		a.whatW = max(a.whatW, ansi.StringWidth(alertWhat(a.list[i])))
	}
	a.reshow()
	// Until the user picks an alert, the cursor stays on the most urgent.
	picked := a.selID != 0
	if picked {
		for i := range a.shown {
			if a.shown[i].ID == a.selID {
				a.pos.cursor = i
				break
			}
		}
	}
	a.pos.clamp(len(a.shown), m.listRows())
	if picked {
		a.follow() // the picked one may be gone: the one now under the cursor
	}
}

// follow records which alert the cursor is on: the selection follows it
// through refreshes from then on.
func (a *alertsState) follow() {
	if len(a.shown) > 0 {
		a.selID = a.shown[min(a.pos.cursor, len(a.shown)-1)].ID
	}
}

// selected is the alert under the cursor.
func (a *alertsState) selected() (engine.Alert, bool) {
	if len(a.shown) == 0 {
		return engine.Alert{}, false
	}
	return a.shown[min(a.pos.cursor, len(a.shown)-1)], true
}

// deviceAlerts are the unresolved alerts of one device, most urgent first.
func (a *alertsState) deviceAlerts(id int64) []engine.Alert {
	var out []engine.Alert
	for _, al := range a.list {
		if al.DeviceID == id {
			out = append(out, al)
		}
	}
	return out
}

func alertsKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := &m.keys
	a := &m.alerts
	if a.prompt != nil {
		return m.alertPromptKey(msg)
	}
	if a.pos.move(k, msg, len(a.shown), m.listRows()) {
		a.follow()
		return m, nil
	}
	switch {
	case key.Matches(msg, k.Back):
		switch {
		case a.filter != "":
			m.setAlertFilter("")
		case len(a.marks) > 0:
			a.marks = nil // a new nil map: copies keep theirs
		default:
			m.page = pageDevices
		}
	case key.Matches(msg, k.Filter):
		a.typing = true
	case key.Matches(msg, k.Sort):
		m.cycleAlertSort()
	case key.Matches(msg, k.Reverse):
		a.sortDesc = !a.sortDesc
		if a.sortKey == "" {
			a.sortKey = "severity"
		}
		a.reshow()
	case key.Matches(msg, k.Mark):
		if al, ok := a.selected(); ok {
			a.toggleMark(al.ID)
			a.pos.move(k, keyDown, len(a.shown), m.listRows())
			a.follow()
		}
	case key.Matches(msg, k.MarkAlerts):
		for _, al := range a.shown {
			a.mark(al.ID)
		}
	case key.Matches(msg, k.ClearMarks):
		a.marks = nil
	case key.Matches(msg, k.Open):
		al, ok := a.selected()
		switch {
		case !ok:
			return m, m.notify("no alert selected", true)
		case al.DeviceID == 0:
			return m, m.notify("alert "+strconv.FormatInt(al.ID, 10)+" concerns no single device", true)
		}
		// The device, on its Alerts tab: what the alert is about.
		nm, cmd := m.openDeviceDetail(al.DeviceID, al.Hostname)
		nm.detail.tab = alertsTabIndex()
		return nm, cmd
	case key.Matches(msg, k.Ack):
		if m.denied(engine.PermAlertsEdit, "acknowledging an alert") {
			return m, nil
		}
		m.askAlertChange(engine.AlertOpAck)
	case key.Matches(msg, k.Resolve):
		if m.denied(engine.PermAlertsEdit, "resolving an alert") {
			return m, nil
		}
		m.askAlertChange(engine.AlertOpResolve)
	case key.Matches(msg, k.Snooze):
		if m.denied(engine.PermAlertsEdit, "snoozing an alert") {
			return m, nil
		}
		m.askAlertChange(engine.AlertOpSnooze)
	}
	return m, nil
}

func alertsClick(m Model, _, y int) (Model, tea.Cmd) {
	if m.alerts.pos.click(y, len(m.alerts.shown), m.listRows()) {
		m.alerts.follow()
	}
	return m, nil
}

// sevLook is a severity's symbol and style. A severity this console does
// not know is shown as its own word with the Info symbol.
func (m *Model) sevLook(s engine.Severity) (string, lipgloss.Style) {
	th, g := &m.theme, &m.theme.Glyphs
	switch s {
	case engine.SeverityCritical:
		return g.SevCritical, th.SevCritical
	case engine.SeverityHigh:
		return g.SevHigh, th.SevHigh
	case engine.SeverityMedium:
		return g.SevMedium, th.SevMedium
	case engine.SeverityLow:
		return g.SevLow, th.SevLow
	}
	return g.SevInfo, th.SevInfo
}

// alertWhat is what an alert is about: its type and instance ("disk_used
// C:", "offline").
func alertWhat(a engine.Alert) string {
	if a.Instance == "" {
		return a.Type
	}
	return a.Type + " " + a.Instance
}

// stateWord is an alert's state in the table: "Active" or "Acked".
func stateWord(s engine.AlertState) string {
	if s == engine.AlertAcknowledged {
		return "Acked"
	}
	return string(s)
}

// AlertCountsText is the header's alert counts, most urgent first,
// severities without alerts left out: "2 critical, 5 high, 1 medium";
// "" when there are none.
func AlertCountsText(counts map[engine.Severity]int) string {
	var parts []string
	for _, s := range engine.Severities() {
		if n := counts[s]; n > 0 {
			parts = append(parts, Thousands(n)+" "+strings.ToLower(string(s)))
		}
	}
	return strings.Join(parts, ", ")
}

// alertCountsSegment is AlertCountsText styled for the header: the most
// urgent severity's symbol first, each count in its severity's style.
func (m *Model) alertCountsSegment() string {
	th := &m.theme
	var parts []string
	sym := ""
	for _, s := range engine.Severities() {
		n := m.alerts.counts[s]
		if n == 0 {
			continue
		}
		g, st := m.sevLook(s)
		if sym == "" {
			sym = st.Render(g) + " "
		}
		parts = append(parts, st.Render(Thousands(n)+" "+strings.ToLower(string(s))))
	}
	if len(parts) == 0 {
		return th.Muted.Render("no active alerts")
	}
	return sym + strings.Join(parts, th.Muted.Render(", "))
}

// alertColumns sizes the alerts table: SEVERITY, STATE, HOST, WHAT,
// MESSAGE (the rest), COUNT, AGE.
func (m *Model) alertColumns() []listCell {
	const sevW, stateW, countW, ageW = 10, 6, 5, 9
	hostW, whatW := min(max(m.alerts.hostW, len("HOST")), 24), min(max(m.alerts.whatW, len("WHAT")), 24)
	fixed := margin + sevW + stateW + countW + ageW + 6*gap
	const msgMin = 16
	if over := fixed + hostW + whatW + msgMin - m.width; over > 0 {
		cut := min(over, max(whatW-12, 0))
		whatW -= cut
		over -= cut
		hostW -= min(over, max(hostW-10, 0))
	}
	msgW := max(m.width-fixed-hostW-whatW, 4)
	return []listCell{{"SEVERITY", sevW, false}, {"STATE", stateW, false}, {"HOST", hostW, false},
		{"WHAT", whatW, false}, {"MESSAGE", msgW, false}, {"COUNT", countW, true}, {"AGE", ageW, true}}
}

// alertsBody is the alerts page: the table, then the selected alert in
// full.
func (m *Model) alertsBody(height int) []string {
	th, g := &m.theme, &m.theme.Glyphs
	a := &m.alerts
	if !a.read {
		return []string{m.centered("loading alerts"+g.Ellipsis, height)}
	}
	if len(a.list) == 0 {
		return []string{m.centered("No unresolved alerts.", height)}
	}
	if len(a.shown) == 0 {
		return []string{m.centered("No alert matches the filter "+strconv.Quote(a.filter)+" ("+firstKey(m.keys.Back)+" clears it).", height)}
	}
	ell := g.Ellipsis
	cols := m.alertColumns()
	out := make([]string, 0, height)
	out = append(out, m.listTitles(cols))
	vis := min(m.listRows(), height-1)
	now := m.now()
	for i := a.pos.offset; i < min(a.pos.offset+vis, len(a.shown)); i++ {
		al := &a.shown[i]
		sel := i == a.pos.cursor
		sym, st := m.sevLook(al.Severity)
		if a.marks[al.ID] {
			sym = g.Mark
		}
		sev := fit(sym+" "+string(al.Severity), cols[0].width, false, ell)
		word := stateWord(al.State)
		if al.Snoozed(now) {
			word = "Snoozd"
		}
		state := fit(word, cols[1].width, false, ell)
		host := al.Hostname
		if host == "" {
			host = "-"
		}
		cells := []string{sev, state, fit(host, cols[2].width, false, ell), fit(alertWhat(*al), cols[3].width, false, ell),
			fit(oneLine(al.Message), cols[4].width, false, ell), fit(Thousands(al.Count), cols[5].width, true, ell),
			fit(RelativeAge(now, al.FirstSeen), cols[6].width, true, ell)}
		if !sel {
			cells[0] = st.Render(cells[0])
			if al.State == engine.AlertAcknowledged || al.Snoozed(now) {
				cells[1] = th.Muted.Render(cells[1])
			}
			if a.marks[al.ID] {
				cells[0] = th.Mark.Render(cells[0])
			}
		}
		out = append(out, m.listLine(cells, sel))
	}
	for len(out) < height-listFooter {
		out = append(out, "")
	}
	al, _ := a.selected()
	out = append(out, m.alertFooter(al)...)
	return out[:height]
}

// alertFooter is the selected alert in full, on three lines.
func (m *Model) alertFooter(al engine.Alert) []string {
	th, g := &m.theme, &m.theme.Glyphs
	now := m.now()
	sym, st := m.sevLook(al.Severity)
	host := al.Hostname
	if host == "" {
		host = "(no single device)"
	}
	first := " " + th.HelpKey.Render(host) + "  " + th.Text.Render(alertWhat(al)) + "  " +
		st.Render(sym+" "+string(al.Severity)) + "  " + th.Text.Render(string(al.State)) +
		th.Muted.Render("  alert "+strconv.FormatInt(al.ID, 10)+", seen "+Thousands(al.Count)+" "+plural(al.Count, "time", "times"))
	when := "raised " + m.stamp(al.FirstSeen) + ", last seen " + RelativeAge(now, al.LastSeen)
	if !al.AckedAt.IsZero() {
		when += "; acknowledged by " + al.AckedBy + " " + RelativeAge(now, al.AckedAt)
		if al.AckNote != "" {
			when += ": " + oneLine(al.AckNote)
		}
	}
	if al.Snoozed(now) {
		when += "; snoozed by " + al.SnoozedBy + " until " + m.stamp(al.SnoozedUntil)
		if al.SnoozeNote != "" {
			when += ": " + oneLine(al.SnoozeNote)
		}
	}
	return []string{
		ansi.Truncate(first, m.width, g.Ellipsis),
		ansi.Truncate(" "+th.Text.Render(oneLine(al.Message)), m.width, g.Ellipsis),
		ansi.Truncate(" "+th.Muted.Render(when), m.width, g.Ellipsis),
	}
}

// oneLine keeps text on one line: newlines and tabs become spaces,
// other control characters go.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', '\t':
			return ' '
		}
		return printable(r)
	}, s)
}
