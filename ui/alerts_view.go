package ui

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// The alerts view at scale (newcomer: 482 critical alerts and no way to
// find one host's): / filters with the alert grammar
// (engine.ParseAlertFilter, the device filter's over alerts), s and S
// sort, space and ctrl+a mark, A clears, and a, x and z acknowledge,
// resolve or snooze the marked alerts (or the selected one) with a note,
// in one request (engine.ChangeAlerts).

// alertsTabIndex is the detail view's Alerts tab.
func alertsTabIndex() int {
	return slices.IndexFunc(detailTabs(), func(t detailTab) bool { return t.name == "Alerts" })
}

// reshow recomputes what the view lists: the filter's matches, in the
// chosen order; marks of alerts that are gone are dropped.
func (a *alertsState) reshow() {
	// A new slice: a Model is a value, and its copies must not share it.
	shown := make([]engine.Alert, 0, len(a.list))
	for i := range a.list {
		if a.filter == "" || a.fltErr == nil && a.flt.Match(&a.list[i]) {
			shown = append(shown, a.list[i])
		}
	}
	if a.fltErr != nil {
		shown = shown[:0]
	}
	if a.sortKey != "" {
		slices.SortStableFunc(shown, func(x, y engine.Alert) int {
			c := engine.CompareAlerts(&x, &y, a.sortKey)
			if a.sortDesc {
				c = -c
			}
			return c
		})
	}
	a.shown = shown
	if len(a.marks) > 0 {
		live := make(map[int64]bool, len(a.list))
		for _, al := range a.list {
			live[al.ID] = true
		}
		for id := range a.marks {
			if !live[id] {
				delete(a.marks, id)
			}
		}
	}
}

// setAlertFilter applies a filter expression to the alerts view.
func (m *Model) setAlertFilter(f string) {
	a := &m.alerts
	a.filter = f
	a.flt, a.fltErr = engine.ParseAlertFilter(f)
	if key, desc, ok := a.flt.Sort(); ok && a.fltErr == nil {
		a.sortKey, a.sortDesc = key, desc
	}
	a.pos = listPos{}
	a.selID = 0
	a.reshow()
}

// alertFilterKey edits the alerts filter while it has the keyboard.
func (m Model) alertFilterKey(msg tea.KeyPressMsg) Model {
	a := &m.alerts
	switch msg.String() {
	case "esc":
		a.typing = false
		m.setAlertFilter("")
	case "enter":
		a.typing = false
	case "backspace":
		if r := []rune(a.filter); len(r) > 0 {
			m.setAlertFilter(string(r[:len(r)-1]))
		}
	case "ctrl+u":
		m.setAlertFilter("")
	case "ctrl+w":
		f := strings.TrimRight(a.filter, " ")
		m.setAlertFilter(f[:strings.LastIndex(f, " ")+1])
	case "up":
		a.pos.move(&m.keys, keyUp, len(a.shown), m.listRows())
		a.follow()
	case "down":
		a.pos.move(&m.keys, keyDown, len(a.shown), m.listRows())
		a.follow()
	default:
		if t := strings.Map(printable, msg.Text); t != "" {
			m.setAlertFilter(a.filter + t)
		}
	}
	return m
}

// alertMatchCount is "12 of 482 alerts" for the status line.
func (m *Model) alertMatchCount() string {
	a := &m.alerts
	if a.fltErr != nil {
		return ""
	}
	return Thousands(len(a.shown)) + " of " + Thousands(len(a.list)) + " alerts"
}

// cycleAlertSort moves the order to the next column: the engine's order,
// then each sort key.
func (m *Model) cycleAlertSort() {
	a := &m.alerts
	keys := engine.AlertSortKeys()
	next := 0
	for i, k := range keys {
		if k[0] == a.sortKey {
			next = i + 1
		}
	}
	if a.sortKey == "" {
		next = 0
	}
	if next >= len(keys) {
		a.sortKey, a.sortDesc = "", false
	} else {
		a.sortKey = keys[next][0]
		// Counts and times read best largest or newest first.
		a.sortDesc = a.sortKey == "count" || a.sortKey == "raised" || a.sortKey == "last"
	}
	a.reshow()
	a.pos.clamp(len(a.shown), m.listRows())
	a.follow()
}

// sortText is how the view says its order, "" for the engine's.
func (a *alertsState) sortText() string {
	if a.sortKey == "" {
		return ""
	}
	dir := "asc"
	if a.sortDesc {
		dir = "desc"
	}
	return "sorted by " + a.sortKey + " " + dir
}

// mark marks an alert. The map is copied first: a Model is a value, and
// its copies must not share it.
func (a *alertsState) mark(id int64) {
	m := make(map[int64]bool, len(a.marks)+1)
	maps.Copy(m, a.marks)
	m[id] = true
	a.marks = m
}

func (a *alertsState) toggleMark(id int64) {
	if a.marks[id] {
		m := maps.Clone(a.marks)
		delete(m, id)
		a.marks = m
		return
	}
	a.mark(id)
}

// alertPrompt asks the note of a change (and a snooze's time) before
// ChangeAlerts goes out.
type alertPrompt struct {
	op    string  // engine.AlertOp*
	ids   []int64 // the alerts it changes
	input textinput.Model
	err   string
}

// askAlertChange opens the prompt for op on the marked alerts, or the
// selected one.
func (m *Model) askAlertChange(op string) {
	a := &m.alerts
	var ids []int64
	for _, al := range a.list {
		if a.marks[al.ID] {
			ids = append(ids, al.ID)
		}
	}
	if len(ids) == 0 {
		al, ok := a.selected()
		if !ok {
			m.notify("no alert selected", true)
			return
		}
		ids = []int64{al.ID}
	}
	in := textinput.New()
	in.Prompt = ""
	in.SetWidth(max(m.width-40, 20))
	in.Focus()
	if op == engine.AlertOpSnooze {
		in.SetValue("1h ")
		in.CursorEnd()
	}
	a.prompt = &alertPrompt{op: op, ids: ids, input: in}
}

// alertPromptText is what the prompt asks, for the status line.
func (m *Model) alertPromptText() string {
	p := m.alerts.prompt
	what := Thousands(len(p.ids)) + " " + plural(len(p.ids), "alert", "alerts")
	if len(p.ids) == 1 {
		what = "alert " + strconv.FormatInt(p.ids[0], 10)
	}
	switch p.op {
	case engine.AlertOpAck:
		return "acknowledge " + what + ", note: "
	case engine.AlertOpResolve:
		return "resolve " + what + ", note: "
	}
	return "snooze " + what + " for (30m, 2h, 3d) and note: "
}

// alertPromptKey edits the prompt: enter sends, esc cancels.
func (m Model) alertPromptKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	a := &m.alerts
	p := a.prompt
	switch msg.String() {
	case "esc":
		a.prompt = nil
		return m, nil
	case "enter":
		req := engine.ChangeAlerts{Op: p.op, IDs: p.ids, Note: strings.TrimSpace(p.input.Value())}
		if p.op == engine.AlertOpSnooze {
			first, rest, _ := strings.Cut(strings.TrimSpace(p.input.Value()), " ")
			d, err := parseSnooze(first)
			if err != nil {
				p.err = err.Error()
				return m, nil
			}
			req.For, req.Note = d, strings.TrimSpace(rest)
		}
		if err := req.Validate(); err != nil {
			p.err = err.Error()
			return m, nil
		}
		a.prompt = nil
		a.marks = nil
		if len(req.IDs) == 1 && req.Op != engine.AlertOpSnooze {
			id := strconv.FormatInt(req.IDs[0], 10)
			if req.Op == engine.AlertOpAck {
				return m, m.send(engine.AckAlert{ID: req.IDs[0], Note: req.Note}, "acknowledging alert "+id)
			}
			return m, m.send(engine.ResolveAlert{ID: req.IDs[0], Note: req.Note}, "resolving alert "+id)
		}
		what := req.Action() + " of " + Thousands(len(req.IDs)) + " " + plural(len(req.IDs), "alert", "alerts")
		return m, m.send(req, what)
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	p.err = ""
	return m, cmd
}

// parseSnooze reads a snooze time: Go's durations (30m, 2h) and days
// (3d).
func parseSnooze(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days > 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errBadSnooze
	}
	return d, nil
}

var errBadSnooze = snoozeError("snooze: write how long first, e.g. 30m, 2h or 3d")

type snoozeError string

func (e snoozeError) Error() string { return string(e) }

// alertsHelpKeys are the alerts view's own keys beyond the key map's
// columns, for the help.
func (m *Model) alertsHelpKeys() []helpItem {
	k := &m.keys
	return []helpItem{{firstKey(k.Filter), "filter (host: sev: state: type: on: msg: count>N)"},
		{firstKey(k.Sort) + "/" + firstKey(k.Reverse), "sort / reverse"}, {firstKey(k.Mark), "mark, next row"},
		{firstKey(k.ClearMarks), "clear marks"}}
}
