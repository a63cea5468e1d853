package ui

import (
	"context"
	"errors"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// The detail view's tabs: the overview (state, health, history,
// identity), the four inventory categories, and the device's alerts.
// left/right (or tab/shift+tab) switch; c collects the shown category.

// detailTab is one tab of the detail view.
type detailTab struct {
	name     string
	category string // the inventory category; "" for overview and alerts
}

// detailTabs lists the tabs in order.
func detailTabs() []detailTab {
	return []detailTab{
		{name: "Overview"},
		{name: "Hardware", category: engine.InventoryHardware},
		{name: "Software", category: engine.InventorySoftware},
		{name: "Security", category: engine.InventorySecurity},
		{name: "Network", category: engine.InventoryNetwork},
		{name: "Alerts"},
	}
}

// Fixed keys of the detail view (not in the KeyMap: they work only here).
const (
	keyTabNext    = "right"
	keyTabPrev    = "left"
	keyTabNextAlt = "tab"
	keyTabPrevAlt = "shift+tab"
	keyCollect    = "c"
)

// detailTabKey switches tabs and starts a collection; ok is false for
// keys it does not handle.
func (m Model) detailTabKey(msg tea.KeyPressMsg) (Model, tea.Cmd, bool) {
	dt := &m.detail
	n := len(detailTabs())
	switch msg.String() {
	case keyTabNext, keyTabNextAlt:
		dt.tab = (dt.tab + 1) % n
	case keyTabPrev, keyTabPrevAlt:
		dt.tab = (dt.tab + n - 1) % n
	case keyCollect:
		cat := detailTabs()[dt.tab].category
		// Like every request key: a role that may not collect is not
		// offered it, and pressing it anyway says so without asking.
		if cat == "" {
			return m, nil, false
		}
		if m.denied(engine.PermDevicesPoll, "collecting inventory") {
			return m, nil, true
		}
		switch {
		case m.feed.caps.req == nil:
			return m, m.notify(errNoRequester.Error(), true), true
		case dt.collecting:
			return m, nil, true
		}
		dt.collecting, dt.collectErr = true, nil
		return m, m.collectInventory(cat), true
	default:
		return m, nil, false
	}
	dt.offset = 0
	return m, nil, true
}

// collectInventory asks the engine to collect one category of the detail
// device now (forced), then reloads the detail.
func (m *Model) collectInventory(category string) tea.Cmd {
	rq := m.feed.caps.req
	host := m.detail.hostname
	return m.loadDetailAfter(func(ctx context.Context) (bool, error) {
		if rq == nil {
			return true, errNoRequester
		}
		_, err := rq.Do(ctx, engine.CollectInventory{Host: host, Categories: []string{category}, Force: true})
		return true, err
	})
}

// errNoRequester: the console cannot send requests.
var errNoRequester = errors.New("this console cannot send requests to the engine")

// tabBar is the line naming the tabs, the current one highlighted.
func (m *Model) tabBar() string {
	th, g := &m.theme, &m.theme.Glyphs
	var parts []string
	for i, t := range detailTabs() {
		if i == m.detail.tab {
			parts = append(parts, th.HelpTitle.Render("["+t.name+"]"))
		} else {
			parts = append(parts, th.Muted.Render(t.name))
		}
	}
	line := " " + strings.Join(parts, " ") + "  " + th.Muted.Render(keyTabPrev+"/"+keyTabNext+": tab")
	return ansi.Truncate(line, m.width, g.Ellipsis)
}

// inventoryTabLines renders the current inventory tab.
func (m *Model) inventoryTabLines(category string) []string {
	dt := &m.detail
	th, g := &m.theme, &m.theme.Glyphs
	w := m.width
	var out []string
	add := func(s ...string) { out = append(out, s...) }
	errLines := func(text string) {
		for _, l := range wrapText(text, w-2) {
			add(" " + th.Error.Render(l))
		}
	}
	canCollect := m.may(engine.PermDevicesPoll)
	hint := func(text string) string {
		if canCollect {
			return th.Text.Render(text)
		}
		return th.Muted.Render(text + " (needs the Operator role)")
	}
	switch {
	case m.feed.caps.inv == nil:
		return []string{"", " " + th.Muted.Render("this console has no inventory")}
	case !dt.loaded:
		return []string{"", " " + th.Muted.Render("loading"+g.Ellipsis)}
	case dt.invErr != nil:
		add("")
		errLines("inventory unavailable: " + dt.invErr.Error())
		return out
	}
	doc, ok := dt.inv[category]
	add("")
	if dt.collecting {
		add(" " + th.Muted.Render("collecting "+category+" from the host"+g.Ellipsis))
	}
	if dt.collectErr != nil {
		errLines("collect failed: " + dt.collectErr.Error())
	}
	if !ok || !doc.Collected() {
		if !dt.collecting {
			add(" " + hint("not collected yet - press "+keyCollect+" to collect"))
		}
		return out
	}
	age := RelativeAge(m.now(), doc.CollectedAt)
	add(" " + th.Label.Render("Collected") + " " + th.Text.Render(doc.CollectedAt.UTC().Format("2006-01-02 15:04 UTC")+" ("+age+")") +
		"  " + hint("press "+keyCollect+" to collect again"))
	secs, err := engine.InventorySections(category, doc.Data)
	if err != nil {
		errLines("unreadable document: " + err.Error())
		return out
	}
	for _, s := range secs {
		add("", " "+th.Section.Render(s.Title))
		if s.Note != "" {
			add(" " + th.Muted.Render(s.Note))
		}
		for _, f := range s.Fields {
			label := " " + th.Label.Render(fit(f[0], labelWidth, false, g.Ellipsis)) + " "
			for i, part := range wrapText(f[1], max(w-2-labelWidth, 10)) {
				if i == 0 {
					add(label + th.Text.Render(part))
				} else {
					add(strings.Repeat(" ", labelWidth+2) + th.Text.Render(part))
				}
			}
		}
		if len(s.Header) > 0 {
			add(m.sectionTable(s.Header, s.Rows)...)
		}
	}
	return out
}

// sectionTable lays a table out in columns that fit the screen: each
// column as wide as its content up to a share of the width; the last
// column takes what is left.
func (m *Model) sectionTable(header []string, rows [][]string) []string {
	th, g := &m.theme, &m.theme.Glyphs
	n := len(header)
	widths := make([]int, n)
	for i, h := range header {
		widths[i] = ansi.StringWidth(h)
	}
	for _, r := range rows {
		for i := range min(len(r), n) {
			widths[i] = max(widths[i], ansi.StringWidth(r[i]))
		}
	}
	room := max(m.width-2-2*(n-1), n)
	capW := max(room/n, 8)
	if n > 1 {
		capW = max(room*2/(n+1), 8)
	}
	used := 0
	for i := range widths {
		if i < n-1 {
			widths[i] = min(widths[i], capW)
			used += widths[i]
		}
	}
	widths[n-1] = max(min(widths[n-1], room-used), 4)
	line := func(cells []string, st func(...string) string) string {
		var b strings.Builder
		b.WriteString(" ")
		for i := range n {
			c := ""
			if i < len(cells) {
				c = strings.Map(printable, cells[i])
			}
			b.WriteString(fit(c, widths[i], false, g.Ellipsis))
			if i < n-1 {
				b.WriteString("  ")
			}
		}
		return ansi.Truncate(st(b.String()), m.width, g.Ellipsis)
	}
	out := []string{line(header, th.Label.Render)}
	for _, r := range rows {
		out = append(out, line(r, th.Text.Render))
	}
	return out
}

// alertTabLines is the Alerts tab: the device's unresolved alerts.
func (m *Model) alertTabLines() []string {
	th := &m.theme
	if m.feed.caps.alerts == nil {
		return []string{"", " " + th.Muted.Render("this console has no alerts")}
	}
	return append([]string{"", " " + th.Section.Render("Unresolved alerts")}, m.deviceAlertLines(m.detail.id)...)
}

// detailOnInventory reports whether the detail view shows an inventory tab.
func (m *Model) detailOnInventory() bool {
	tabs := detailTabs()
	return tabs[min(m.detail.tab, len(tabs)-1)].category != ""
}

// availabilityLine is the detail overview's "Availability  up 99.3% over
// 24 h, 98.1% over 7 d; TCP connect 0.4 ms"; "" when nothing is known.
func (m *Model) availabilityLine() string {
	a := m.detail.avail
	th, g := &m.theme, &m.theme.Glyphs
	var parts []string
	if a.Uptime24h != nil {
		parts = append(parts, "up "+strconv.FormatFloat(*a.Uptime24h, 'f', 1, 64)+"% over 24 h")
	}
	if a.Uptime7d != nil {
		parts = append(parts, strconv.FormatFloat(*a.Uptime7d, 'f', 1, 64)+"% over 7 d")
	}
	if a.LatencyMS != nil {
		parts = append(parts, "TCP connect "+strconv.FormatFloat(*a.LatencyMS, 'f', 1, 64)+" ms")
	}
	if len(parts) == 0 {
		return ""
	}
	line := " " + th.Label.Render(fit("Availability", labelWidth, false, g.Ellipsis)) + " " + th.Text.Render(strings.Join(parts, ", "))
	return ansi.Truncate(line, m.width, g.Ellipsis)
}
