package ui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// settingsState is the settings view: the effective configuration as
// main passed it, and a cursor to read one setting in full.
type settingsState struct {
	items []Setting
	pos   listPos
}

// settingsFooter is the lines under the table: the selected setting in
// full, and where to change it.
const settingsFooter = 3

// settingsRows is how many settings fit on screen.
func (m *Model) settingsRows() int {
	return max(m.bodyHeight()-1-settingsFooter, 1)
}

func settingsKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := &m.keys
	s := &m.settings
	if key.Matches(msg, k.Back) {
		m.page = pageDevices
		return m, nil
	}
	s.pos.move(k, msg, len(s.items), m.settingsRows())
	return m, nil
}

func settingsClick(m Model, _, y int) (Model, tea.Cmd) {
	m.settings.pos.click(y, len(m.settings.items), m.settingsRows())
	return m, nil
}

// settingsColumns sizes KEY, VALUE and DEFAULT to their contents within
// limits; DESCRIPTION takes the rest.
func (m *Model) settingsColumns() (kw, vw, dw, docw int) {
	kw, vw, dw = len("KEY"), len("VALUE"), len("DEFAULT")
	for _, s := range m.settings.items {
		kw = max(kw, ansi.StringWidth(s.Key))
		vw = max(vw, ansi.StringWidth(s.Value))
		dw = max(dw, ansi.StringWidth(s.Default))
	}
	kw, vw, dw = min(kw, 26), min(vw, 34), min(dw, 26)
	const minDoc = 24
	avail := m.width - margin - 3*gap
	if over := kw + vw + dw + minDoc - avail; over > 0 {
		cut := min(over, max(vw-14, 0))
		vw -= cut
		over -= cut
		cut = min(over, max(dw-10, 0))
		dw -= cut
	}
	return kw, vw, dw, max(avail-kw-vw-dw, 0)
}

// settingsBody is the settings page: a table, then the selected setting
// in full.
func (m *Model) settingsBody(height int) []string {
	th, g := &m.theme, &m.theme.Glyphs
	s := &m.settings
	out := make([]string, 0, height)
	if len(s.items) == 0 {
		out = append(out, m.centered("No settings were passed to the console.", height))
		return out
	}
	kw, vw, dw, docw := m.settingsColumns()
	ell := g.Ellipsis
	titles := strings.Repeat(" ", margin) + fit("KEY", kw, false, ell) + "  " + fit("VALUE", vw, false, ell) + "  " +
		fit("DEFAULT", dw, false, ell) + "  " + fit("DESCRIPTION", docw, false, ell)
	out = append(out, th.ColumnHeader.Render(fit(titles, m.width, false, ell)))
	vis := min(m.settingsRows(), height-1)
	for i := s.pos.offset; i < min(s.pos.offset+vis, len(s.items)); i++ {
		it := s.items[i]
		changed := it.Value != it.Default
		val := fit(it.Value, vw, false, ell)
		if it.Value == "" {
			val = th.Muted.Render(fit("(empty)", vw, false, ell))
		}
		if i == s.pos.cursor {
			line := g.Pointer + strings.Repeat(" ", margin-1) + fit(it.Key, kw, false, ell) + "  " + val + "  " +
				fit(it.Default, dw, false, ell) + "  " + fit(it.Doc, docw, false, ell)
			out = append(out, th.Selected.Render(fit(line, m.width, false, ell)))
			continue
		}
		if changed {
			val = th.Notice.Render(val)
		}
		out = append(out, strings.Repeat(" ", margin)+fit(it.Key, kw, false, ell)+"  "+val+"  "+
			th.Muted.Render(fit(it.Default, dw, false, ell))+"  "+fit(it.Doc, docw, false, ell))
	}
	for len(out) < height-settingsFooter {
		out = append(out, "")
	}
	// The selected setting, whole: long paths and docs are cut above.
	cur := s.items[min(s.pos.cursor, len(s.items)-1)]
	full := " " + th.HelpKey.Render(cur.Key) + " = " + th.Text.Render(cur.Value)
	if cur.Value != cur.Default {
		full += "   " + th.Muted.Render("default: "+cur.Default)
	} else {
		full += "   " + th.Muted.Render("(the default)")
	}
	where := "read-only: change settings in the config file"
	if m.opts.ConfigPath != "" {
		where = "read-only: change settings in " + m.opts.ConfigPath
	}
	out = append(out,
		ansi.Truncate(full, m.width, ell),
		ansi.Truncate(" "+th.Text.Render(cur.Doc), m.width, ell),
		ansi.Truncate(" "+th.Muted.Render(where), m.width, ell))
	return out[:height]
}
