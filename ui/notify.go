package ui

// The notifications view: the outbox as the engine keeps it (counts by
// state, the newest messages with their last error), read through the
// engine (engine.ListOutbox) when the view opens and every few seconds
// while it is shown; R queues a failed message again
// (engine.RetryOutbox).

import (
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// notifyRefresh is how often the view reads the outbox while shown.
const notifyRefresh = 2 * time.Second

// notifyState is the notifications view.
type notifyState struct {
	view   engine.OutboxView
	read   bool
	err    error
	seq    int
	loaded time.Time // when the last read was asked for
	pos    listPos
}

// notifyMsg is a finished read of the outbox.
type notifyMsg struct {
	seq  int
	view engine.OutboxView
	err  error
}

// retriedMsg is a finished RetryOutbox.
type retriedMsg struct {
	id  int64
	n   int
	err error
}

func openNotify(m Model) (Model, tea.Cmd, error) {
	return m, m.loadNotify(), nil
}

func (m *Model) loadNotify() tea.Cmd {
	rq := m.feed.caps.req
	if rq == nil {
		return nil
	}
	m.notif.seq++
	m.notif.loaded = m.now()
	seq, ctx := m.notif.seq, m.feed.ctx
	return func() tea.Msg {
		v, err := engine.Ask(ctx, rq, engine.ListOutbox{Limit: 200})
		return notifyMsg{seq: seq, view: v, err: err}
	}
}

func (m *Model) notifyLoaded(msg notifyMsg) tea.Cmd {
	n := &m.notif
	if msg.seq != n.seq {
		return nil
	}
	n.read, n.err = true, msg.err
	if msg.err != nil {
		n.view = engine.OutboxView{}
		return m.notify(msg.err.Error(), true)
	}
	n.view = msg.view
	n.pos.clamp(len(n.view.Messages), m.listRows()-1)
	return nil
}

func notifyKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := &m.keys
	n := &m.notif
	if n.pos.move(k, msg, len(n.view.Messages), m.listRows()-1) {
		return m, nil
	}
	switch {
	case key.Matches(msg, k.Back):
		m.page = pageDevices
	case key.Matches(msg, k.Refresh):
		return m, m.loadNotify()
	case key.Matches(msg, k.RetrySend):
		if len(n.view.Messages) == 0 || m.denied(engine.PermAlertsEdit, "queueing a message again") {
			return m, nil
		}
		sel := n.view.Messages[n.pos.cursor]
		if sel.State != store.OutboxFailed {
			return m, m.notify("message "+strconv.FormatInt(sel.ID, 10)+" is "+sel.State+", not failed: nothing to retry", true)
		}
		rq, ctx := m.feed.caps.req, m.feed.ctx
		return m, func() tea.Msg {
			c, err := engine.Ask(ctx, rq, engine.RetryOutbox{IDs: []int64{sel.ID}})
			return retriedMsg{id: sel.ID, n: c, err: err}
		}
	}
	return m, nil
}

func (m *Model) retried(msg retriedMsg) tea.Cmd {
	if msg.err != nil {
		return m.notify(msg.err.Error(), true)
	}
	return tea.Batch(m.notify("message "+strconv.FormatInt(msg.id, 10)+" queued again; it goes out within seconds", false), m.loadNotify())
}

func notifyClick(m Model, _, y int) (Model, tea.Cmd) {
	if y >= 1 { // the counts line is not a row
		m.notif.pos.click(y-1, len(m.notif.view.Messages), m.listRows()-1)
	}
	return m, nil
}

// notifyColumns sizes the table; SUBJECT takes the rest.
func (m *Model) notifyColumns() []listCell {
	chW, routeW := len("CHANNEL"), len("ROUTE")
	for _, x := range m.notif.view.Messages {
		chW = max(chW, ansi.StringWidth(x.Channel))
		routeW = max(routeW, ansi.StringWidth(x.Route))
	}
	cols := []listCell{{"ID", 6, true}, {"STATE", len("suppressed"), false}, {"CHANNEL", min(chW, 16), false},
		{"ROUTE", min(routeW, 14), false}, {"KIND", len("acknowledged"), false}, {"CREATED", len("01-02 15:04:05"), false},
		{"TRIES", 5, true}}
	if m.flexWidth(cols) < 20 {
		cols = append(cols[:3], cols[4:]...) // ROUTE goes first on a narrow terminal
	}
	return append(cols, listCell{"SUBJECT", max(m.flexWidth(cols), 4), false})
}

// notifyBody is the view: the counts, the messages newest first, then the
// selected message whole.
func (m *Model) notifyBody(height int) []string {
	th, g := &m.theme, &m.theme.Glyphs
	n := &m.notif
	switch {
	case !n.read:
		return []string{m.centered("reading the outbox"+g.Ellipsis, height)}
	case n.err != nil:
		return []string{m.centered("outbox unavailable: "+n.err.Error(), height)}
	}
	v := &n.view
	var parts []string
	for _, s := range []string{store.OutboxHeld, store.OutboxPending, store.OutboxSending, store.OutboxSent, store.OutboxFailed,
		store.OutboxSuppressed, store.OutboxMerged} {
		c := strconv.Itoa(v.Counts[s]) + " " + s
		switch {
		case s == store.OutboxFailed && v.Counts[s] > 0:
			c = th.Error.Render(c)
		case v.Counts[s] == 0:
			c = th.Muted.Render(c)
		}
		parts = append(parts, c)
	}
	head := " " + strings.Join(parts, "  ")
	if len(v.Routes) == 0 {
		head += "   " + th.Warn.Render("no routes configured: nothing is sent (notifications: in the config)")
	} else {
		head += "   " + th.Muted.Render(strconv.Itoa(len(v.Routes))+" routes, channels "+strings.Join(v.Channels, ", "))
	}
	out := []string{ansi.Truncate(head, m.width, g.Ellipsis)}
	if len(v.Messages) == 0 {
		msg := "The outbox is empty: no alert change has been routed yet."
		if len(v.Routes) == 0 {
			msg = "No notifications are configured. See notifications: in the README; rmm notify test CHANNEL tries one."
		}
		return append(out, m.centered(msg, height-1))
	}
	cols := m.notifyColumns()
	out = append(out, m.listTitles(cols))
	loc := m.now().Location()
	vis := min(m.listRows()-1, height-2)
	ell := g.Ellipsis
	for i := n.pos.offset; i < min(n.pos.offset+vis, len(v.Messages)); i++ {
		x := &v.Messages[i]
		sel := i == n.pos.cursor
		cells := make([]string, len(cols))
		for c, col := range cols {
			var s string
			switch col.title {
			case "ID":
				s = strconv.FormatInt(x.ID, 10)
			case "STATE":
				s = x.State
			case "CHANNEL":
				s = x.Channel
			case "ROUTE":
				s = x.Route
				if s == "" {
					s = "-"
				}
			case "KIND":
				s = x.Kind
			case "CREATED":
				s = x.CreatedAt.In(loc).Format("01-02 15:04:05")
			case "TRIES":
				s = strconv.Itoa(x.Attempts)
			case "SUBJECT":
				s = x.Subject
			}
			cells[c] = fit(oneLine(s), col.width, col.right, ell)
			if sel {
				continue
			}
			switch {
			case col.title == "STATE" && x.State == store.OutboxFailed:
				cells[c] = th.Error.Render(cells[c])
			case col.title == "STATE" && (x.State == store.OutboxPending && x.Attempts > 0 || x.State == store.OutboxHeld):
				cells[c] = th.Warn.Render(cells[c])
			case col.title == "CREATED" || col.title == "ID" || col.title == "TRIES":
				cells[c] = th.Muted.Render(cells[c])
			}
		}
		out = append(out, m.listLine(cells, sel))
	}
	for len(out) < height-listFooter {
		out = append(out, "")
	}
	out = append(out, m.notifyFooter(&v.Messages[n.pos.cursor])...)
	return out[:height]
}

// notifyFooter is the selected message whole: its subject, what happened
// to it, and its last error.
func (m *Model) notifyFooter(x *engine.OutboxEntry) []string {
	th, g := &m.theme, &m.theme.Glyphs
	now := m.now()
	first := " " + th.Text.Render(oneLine(x.Subject))
	var second string
	switch x.State {
	case store.OutboxSent:
		second = "sent " + x.SentAt.In(now.Location()).Format("2006-01-02 15:04:05") + " (" + RelativeAge(now, x.SentAt) + ")"
	case store.OutboxHeld:
		second = "held until " + x.NextAt.In(now.Location()).Format("2006-01-02 15:04") + " (a digest window or quiet hours)"
	case store.OutboxPending:
		second = "due " + x.NextAt.In(now.Location()).Format("2006-01-02 15:04:05")
		if x.Attempts > 0 {
			second = "retry at " + x.NextAt.In(now.Location()).Format("2006-01-02 15:04:05") + " after " + strconv.Itoa(x.Attempts) + " failed tries"
		}
	case store.OutboxFailed:
		second = "given up after " + strconv.Itoa(x.Attempts) + " tries"
		if m.may(engine.PermAlertsEdit) {
			second += "; " + firstKey(m.keys.RetrySend) + " queues it again"
		}
	case store.OutboxMerged:
		second = "sent inside digest " + strconv.FormatInt(x.MergedTo, 10)
	default:
		second = x.State
	}
	second = " " + th.HelpKey.Render(x.Channel) + "  " + th.Text.Render(second)
	third := " " + th.Muted.Render("no error")
	if x.LastError != "" {
		third = " " + th.Error.Render(oneLine(x.LastError))
	}
	return []string{
		ansi.Truncate(first, m.width, g.Ellipsis),
		ansi.Truncate(second, m.width, g.Ellipsis),
		ansi.Truncate(third, m.width, g.Ellipsis),
	}
}

// notifyDue reports whether the shown view should read the outbox again.
func (m *Model) notifyDue() bool {
	return m.page == pageNotify && m.now().Sub(m.notif.loaded) >= notifyRefresh
}
