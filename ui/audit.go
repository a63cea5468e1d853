package ui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// auditLimit is how many audit rows the view reads: the newest.
const auditLimit = 500

// auditState is the audit view: the newest rows, newest first, read
// through the engine (which checks the role may see them) when the view
// opens and on refresh; and a free-text filter over them.
type auditState struct {
	rows   []store.AuditEntry // newest first
	text   []string           // each row's searchable text, lower case
	shown  []int              // rows the filter keeps, in order
	read   bool               // rows (or err) are from a finished read
	err    error
	seq    int // read generation: a stale read is dropped
	filter string
	typing bool // the filter input has the keyboard
	pos    listPos
}

// auditMsg is a finished read.
type auditMsg struct {
	seq  int
	rows []store.AuditEntry
	err  error
}

func openAudit(m Model) (Model, tea.Cmd, error) {
	return m, m.loadAudit(), nil
}

// loadAudit reads the newest rows through the Requester.
func (m *Model) loadAudit() tea.Cmd {
	rq := m.feed.caps.req
	if rq == nil {
		return nil
	}
	m.audit.seq++
	seq, ctx := m.audit.seq, m.feed.ctx
	return func() tea.Msg {
		rows, err := engine.Ask(ctx, rq, engine.ListAudit{Filter: store.AuditFilter{Limit: auditLimit}})
		if err != nil {
			return auditMsg{seq: seq, err: err}
		}
		return auditMsg{seq: seq, rows: rows}
	}
}

func (m *Model) auditLoaded(msg auditMsg) tea.Cmd {
	a := &m.audit
	if msg.seq != a.seq {
		return nil
	}
	a.read, a.err = true, msg.err
	if msg.err != nil {
		a.rows, a.text, a.shown = nil, nil, nil
		return m.notify(msg.err.Error(), true)
	}
	// The store lists the chain oldest first; the view reads newest first.
	rows := slices.Clone(msg.rows)
	slices.Reverse(rows)
	a.rows = rows
	a.text = make([]string, len(rows))
	for i := range rows {
		a.text[i] = auditSearchText(&rows[i])
	}
	m.applyAuditFilter()
	return nil
}

// auditSearchText is what the filter looks in: every field but the hashes.
func auditSearchText(e *store.AuditEntry) string {
	parts := []string{e.User, e.Role, e.Via, e.RemoteAddr, e.Action, e.Result, strings.Join(e.Targets, " "), auditDetails(e.Details)}
	return strings.ToLower(strings.Join(parts, "\x00"))
}

// auditDetails writes a row's details as "key=value" pairs by key.
func auditDetails(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + oneLine(fmt.Sprint(d[k]))
	}
	return strings.Join(parts, " ")
}

// FilterAudit returns the positions of the rows whose text holds every
// word of filter, ignoring case; all of them for an empty filter.
// text[i] is row i's searchable text, in lower case.
func FilterAudit(text []string, filter string) []int {
	words := strings.Fields(strings.ToLower(filter))
	out := make([]int, 0, len(text))
	for i, t := range text {
		ok := true
		for _, w := range words {
			if !strings.Contains(t, w) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

func (m *Model) applyAuditFilter() {
	a := &m.audit
	a.shown = FilterAudit(a.text, a.filter)
	a.pos.clamp(len(a.shown), m.listRows())
}

func (m *Model) setAuditFilter(f string) {
	m.audit.filter = f
	m.audit.pos = listPos{}
	m.applyAuditFilter()
}

func auditKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := &m.keys
	a := &m.audit
	if a.pos.move(k, msg, len(a.shown), m.listRows()) {
		return m, nil
	}
	switch {
	case key.Matches(msg, k.Back):
		if a.filter != "" {
			m.setAuditFilter("")
			return m, nil
		}
		m.page = pageDevices
	case key.Matches(msg, k.Filter):
		a.typing = true
	case key.Matches(msg, k.Refresh):
		return m, m.loadAudit()
	}
	return m, nil
}

// auditFilterKey edits the filter while it has the keyboard; the rows
// narrow as you type.
func (m Model) auditFilterKey(msg tea.KeyPressMsg) Model {
	a := &m.audit
	switch msg.String() {
	case "esc":
		a.typing = false
		m.setAuditFilter("")
	case "enter":
		a.typing = false
	case "backspace":
		if r := []rune(a.filter); len(r) > 0 {
			m.setAuditFilter(string(r[:len(r)-1]))
		}
	case "ctrl+u":
		m.setAuditFilter("")
	case "ctrl+w":
		f := strings.TrimRight(a.filter, " ")
		m.setAuditFilter(f[:strings.LastIndex(f, " ")+1])
	case "up":
		a.pos.move(&m.keys, keyUp, len(a.shown), m.listRows())
	case "down":
		a.pos.move(&m.keys, keyDown, len(a.shown), m.listRows())
	default:
		if t := strings.Map(printable, msg.Text); t != "" {
			m.setAuditFilter(a.filter + t)
		}
	}
	return m
}

// The arrows, for moving while the filter has the keyboard.
var (
	keyUp   = tea.KeyPressMsg{Code: tea.KeyUp}
	keyDown = tea.KeyPressMsg{Code: tea.KeyDown}
)

func auditClick(m Model, _, y int) (Model, tea.Cmd) {
	m.audit.pos.click(y, len(m.audit.shown), m.listRows())
	return m, nil
}

// auditColumns sizes the table: TIME, USER, ROLE, VIA, FROM, ACTION,
// RESULT, TARGETS (the rest). VIA, FROM and ROLE go, in that order, when
// the terminal is narrow; the footer shows the selected row whole.
func (m *Model) auditColumns() []listCell {
	userW, fromW, actW := len("USER"), len("FROM"), len("ACTION")
	for _, i := range m.audit.shown {
		e := &m.audit.rows[i]
		userW = max(userW, ansi.StringWidth(e.User))
		fromW = max(fromW, ansi.StringWidth(e.RemoteAddr))
		actW = max(actW, ansi.StringWidth(e.Action))
	}
	userW, fromW, actW = min(userW, 16), min(fromW, 21), min(actW, 20)
	all := []listCell{{"TIME", len("2006-01-02 15:04:05"), false}, {"USER", userW, false}, {"ROLE", len("Operator"), false},
		{"VIA", len("system"), false}, {"FROM", fromW, false}, {"ACTION", actW, false}, {"RESULT", len("failure"), false}}
	const targetsMin = 16
	for _, drop := range []string{"VIA", "FROM", "ROLE"} {
		if m.flexWidth(all) >= targetsMin {
			break
		}
		all = slices.DeleteFunc(all, func(c listCell) bool { return c.title == drop })
	}
	return append(all, listCell{"TARGETS", max(m.flexWidth(all), 4), false})
}

// auditBody is the audit page: the rows, newest first, then the selected
// row whole.
func (m *Model) auditBody(height int) []string {
	th, g := &m.theme, &m.theme.Glyphs
	a := &m.audit
	switch {
	case !a.read:
		return []string{m.centered("reading the audit log"+g.Ellipsis, height)}
	case a.err != nil:
		return []string{m.centered("audit log unavailable: "+a.err.Error(), height)}
	case len(a.rows) == 0:
		return []string{m.centered("The audit log is empty.", height)}
	case len(a.shown) == 0:
		return []string{m.centered("No audit rows match \""+a.filter+"\"  ("+firstKey(m.keys.Back)+" clears the filter)", height)}
	}
	ell := g.Ellipsis
	loc := m.now().Location()
	cols := m.auditColumns()
	out := make([]string, 0, height)
	out = append(out, m.listTitles(cols))
	vis := min(m.listRows(), height-1)
	for i := a.pos.offset; i < min(a.pos.offset+vis, len(a.shown)); i++ {
		e := &a.rows[a.shown[i]]
		sel := i == a.pos.cursor
		cells := make([]string, len(cols))
		for c, col := range cols {
			var v string
			switch col.title {
			case "TIME":
				v = e.At.In(loc).Format("2006-01-02 15:04:05")
			case "USER":
				v = e.User
			case "ROLE":
				v = e.Role
			case "VIA":
				v = e.Via
			case "FROM":
				v = e.RemoteAddr
			case "ACTION":
				v = e.Action
			case "RESULT":
				v = e.Result
			case "TARGETS":
				v = strings.Join(e.Targets, ", ")
			}
			cells[c] = fit(oneLine(v), col.width, false, ell)
			if sel {
				continue
			}
			switch {
			case col.title == "RESULT" && e.Result == store.AuditDenied:
				cells[c] = th.Warn.Render(cells[c])
			case col.title == "RESULT" && e.Result == store.AuditFailure:
				cells[c] = th.Error.Render(cells[c])
			case col.title == "TIME" || col.title == "ROLE" || col.title == "VIA" || col.title == "FROM":
				cells[c] = th.Muted.Render(cells[c])
			}
		}
		out = append(out, m.listLine(cells, sel))
	}
	for len(out) < height-listFooter {
		out = append(out, "")
	}
	out = append(out, m.auditFooter(&a.rows[a.shown[a.pos.cursor]])...)
	return out[:height]
}

// auditFooter is the selected row whole: when, who, from where, what,
// the outcome and the details.
func (m *Model) auditFooter(e *store.AuditEntry) []string {
	th, g := &m.theme, &m.theme.Glyphs
	now := m.now()
	who := e.User + " (" + e.Role + ")"
	if e.Via != "" {
		who += " via " + e.Via
	}
	if e.RemoteAddr != "" {
		who += " from " + e.RemoteAddr
	}
	first := " " + th.Text.Render(e.At.In(now.Location()).Format("2006-01-02 15:04:05 MST")) + " " +
		th.Muted.Render("("+RelativeAge(now, e.At)+")") + "  " + th.Text.Render(who)
	second := " " + th.HelpKey.Render(e.Action) + "  " + th.Text.Render(e.Result)
	if len(e.Targets) > 0 {
		second += "  " + th.Text.Render(oneLine(strings.Join(e.Targets, ", ")))
	}
	details := auditDetails(e.Details)
	if details == "" {
		details = "no details"
	}
	return []string{
		ansi.Truncate(first, m.width, g.Ellipsis),
		ansi.Truncate(second, m.width, g.Ellipsis),
		ansi.Truncate(" "+th.Muted.Render(details), m.width, g.Ellipsis),
	}
}

// auditMatchCount is the filter's count for the status line.
func (m *Model) auditMatchCount() string {
	return Thousands(len(m.audit.shown)) + " of " + Thousands(len(m.audit.rows)) + " match"
}
