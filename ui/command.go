package ui

// The command dialog: ! runs PowerShell an operator types on the marked
// devices, else on every device the grid shows (the filter, a saved view
// or a collection's view; every device when there is none), or, in the
// Collections view, on the selected collection. One line of text
// (statements separated by ;), a timeout, and whether host names are
// masked when the results are grouped. On more than engine.ConfirmOver
// devices the number of devices must be typed: what a command does is
// not guessed from its text. The run opens in the Actions view, grouped
// by output.

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// Steps of the command dialog.
const (
	cmdEdit = iota
	cmdConfirm
)

// maxCommandHistory bounds the commands a console remembers (up/down in
// the dialog).
const maxCommandHistory = 50

// commandDialog is the open command dialog.
type commandDialog struct {
	step   int
	target engine.RunTarget // device ids, or a collection
	n      int              // devices it picks now
	what   string           // "193 devices shown by tag:print", "collection Print servers (12 devices)"

	input   textinput.Model // the command
	timeout textinput.Model
	focus   int // 0 the command, 1 the timeout
	mask    bool
	hist    int // position in the history while browsing; len(history) when not

	typed    textinput.Model
	needType bool
	err      string
	starting bool
}

// commandTargets are the devices ! acts on in the grid: the marked
// ones, else every device shown. what describes them.
func (m *Model) commandTargets() (ids []int64, what string) {
	if m.page == pageDevices && len(m.grid.marks) > 0 {
		ids, _ = m.actionTargets()
		return ids, Thousands(len(ids)) + " marked " + plural(len(ids), "device", "devices")
	}
	if m.page == pageDetail {
		if d, ok := m.actionDevice(); ok {
			return []int64{d.ID}, d.Hostname
		}
		return nil, ""
	}
	ids = make([]int64, len(m.grid.rows))
	for i, r := range m.grid.rows {
		ids[i] = m.devices[r].ID
	}
	switch {
	case m.grid.view != "":
		what = " in view " + m.grid.view
	case m.grid.flt.Expr() != "":
		what = " shown by " + m.grid.flt.Expr()
	default:
		what = " (every device)"
	}
	return ids, Thousands(len(ids)) + " " + plural(len(ids), "device", "devices") + what
}

// openCommand opens the dialog on a target.
func (m Model) openCommand(target engine.RunTarget, n int, what string) (Model, tea.Cmd) {
	if m.denied(engine.PermActionsRun, "running a command") {
		return m, nil
	}
	if m.feed.caps.req == nil {
		return m, m.notify("command.run: this console cannot send requests to the engine", true)
	}
	if n == 0 {
		return m, m.notify("no device to run a command on: the grid shows none", true)
	}
	in := textinput.New()
	in.Prompt = "PS> "
	in.Placeholder = "Get-Service Spooler | Select Status"
	in.CharLimit = engine.MaxCommandBytes
	in.KeyMap.Paste = key.NewBinding(key.WithDisabled())
	in.SetStyles(m.shellInputStyles())
	in.SetWidth(max(m.dialogWidth()-6, 20))
	in.Focus()
	to := textinput.New()
	to.Prompt = ""
	to.KeyMap.Paste = key.NewBinding(key.WithDisabled())
	to.SetStyles(m.shellInputStyles())
	to.SetWidth(10)
	to.SetValue(engine.DefaultCommandTimeout.String())
	to.Blur()
	m.cmd = &commandDialog{target: target, n: n, what: what, input: in, timeout: to, hist: len(m.cmdHistory)}
	return m, nil
}

// commandKey handles a key in the dialog.
func (m Model) commandKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	dl := m.cmd
	if dl.starting {
		return m, nil
	}
	if dl.step == cmdConfirm {
		switch msg.String() {
		case "esc":
			dl.step, dl.err = cmdEdit, ""
			return m, nil
		case "enter":
			if dl.needType && strings.TrimSpace(dl.typed.Value()) != strconv.Itoa(dl.n) {
				dl.err = "type " + strconv.Itoa(dl.n) + " (the number of devices) to run it"
				return m, nil
			}
			return m, m.startCommand()
		case "y", "Y":
			if !dl.needType {
				return m, m.startCommand()
			}
		case "n", "N":
			if !dl.needType {
				m.cmd = nil
				return m, nil
			}
		}
		if dl.needType {
			var cmd tea.Cmd
			dl.typed, cmd = dl.typed.Update(msg)
			dl.err = ""
			return m, cmd
		}
		return m, nil
	}
	switch msg.String() {
	case "esc":
		m.cmd = nil
		return m, nil
	case "tab", "shift+tab":
		dl.focus = 1 - dl.focus
		if dl.focus == 0 {
			dl.timeout.Blur()
			dl.input.Focus()
		} else {
			dl.input.Blur()
			dl.timeout.Focus()
		}
		return m, nil
	case "ctrl+t":
		dl.mask = !dl.mask
		return m, nil
	case "up", "down":
		if dl.focus == 0 && len(m.cmdHistory) > 0 {
			if msg.String() == "up" {
				dl.hist = max(dl.hist-1, 0)
			} else {
				dl.hist = min(dl.hist+1, len(m.cmdHistory))
			}
			v := ""
			if dl.hist < len(m.cmdHistory) {
				v = m.cmdHistory[dl.hist]
			}
			dl.input.SetValue(v)
			dl.input.CursorEnd()
		}
		return m, nil
	case "enter":
		m.toCommandConfirm()
		return m, nil
	}
	var cmd tea.Cmd
	if dl.focus == 0 {
		dl.input, cmd = dl.input.Update(msg)
	} else {
		dl.timeout, cmd = dl.timeout.Update(msg)
	}
	dl.err = ""
	return m, cmd
}

// commandPaste puts pasted text in the focused input; line breaks become
// "; " (the dialog takes one line).
func (m Model) commandPaste(text string) Model {
	dl := m.cmd
	text = strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", "; ").Replace(text)
	text = strings.Map(printable, text)
	in := &dl.input
	switch {
	case dl.step == cmdConfirm && dl.needType:
		in = &dl.typed
	case dl.focus == 1:
		in = &dl.timeout
	}
	in.SetValue(in.Value() + text)
	in.CursorEnd()
	return m
}

// toCommandConfirm checks the text and the timeout and asks for the
// confirmation.
func (m *Model) toCommandConfirm() {
	dl := m.cmd
	text := dl.input.Value()
	if err := engine.CheckCommand(text); err != nil {
		dl.err = err.Error()
		return
	}
	to, err := time.ParseDuration(strings.TrimSpace(dl.timeout.Value()))
	if err != nil || to < time.Second || to > engine.MaxCommandTimeout {
		dl.err = "timeout: want a duration from 1s to 24h, e.g. 30s, 5m"
		return
	}
	dl.step, dl.err = cmdConfirm, ""
	dl.needType = dl.n > engine.ConfirmOver
	if dl.needType {
		in := textinput.New()
		in.Prompt = ""
		in.KeyMap.Paste = key.NewBinding(key.WithDisabled())
		in.SetStyles(m.shellInputStyles())
		in.SetWidth(12)
		in.Focus()
		dl.typed = in
	}
}

// startCommand sends RunCommand for the confirmed dialog.
func (m *Model) startCommand() tea.Cmd {
	dl := m.cmd
	rq := m.feed.caps.req
	text := dl.input.Value()
	to, _ := time.ParseDuration(strings.TrimSpace(dl.timeout.Value()))
	if i := slices.Index(m.cmdHistory, text); i >= 0 {
		m.cmdHistory = slices.Delete(slices.Clone(m.cmdHistory), i, i+1)
	}
	m.cmdHistory = append(slices.Clone(m.cmdHistory), text)
	if len(m.cmdHistory) > maxCommandHistory {
		m.cmdHistory = m.cmdHistory[len(m.cmdHistory)-maxCommandHistory:]
	}
	dl.starting = true
	r := engine.RunCommand{Script: text, Target: dl.target, Confirmed: true, Timeout: to}
	ctx, mask := m.feed.ctx, dl.mask
	return func() tea.Msg {
		info, err := engine.Ask(ctx, rq, r)
		return runStartedMsg{name: "command", err: err, info: info, command: true, mask: mask}
	}
}

// commandBox draws the dialog.
func (m *Model) commandBox() string {
	dl := m.cmd
	th, g := &m.theme, &m.theme.Glyphs
	w := m.dialogWidth()
	var out []string
	add := func(s ...string) { out = append(out, s...) }
	on := "on " + m.clean(dl.what)
	switch dl.step {
	case cmdEdit:
		add(th.HelpTitle.Render("Run a PowerShell command "+on), "")
		add(dl.input.View(), "")
		label := th.Label.Render("  timeout ")
		if dl.focus == 1 {
			label = th.HelpKey.Render(g.Pointer + " timeout ")
		}
		mask := "off"
		if dl.mask {
			mask = "on"
		}
		add(label + dl.timeout.View() + th.Muted.Render("   mask host names when grouping: ") + th.Text.Render(mask))
		add("", th.Muted.Render("Windows PowerShell 5.1 on every host; results grouped by identical output."))
		add(th.Muted.Render("One line (separate statements with ;), at most 32 KiB; longer scripts belong in the library."))
		add("", th.Muted.Render("enter next  tab timeout  up/down history  ctrl+t mask host names  esc close"))
	default:
		add(th.HelpTitle.Render("Confirm"), "")
		add(th.Text.Render("Run "+m.clean(oneLine(dl.input.Value()))), th.Text.Render(on))
		add("", th.Muted.Render("Every run is audited with its text. Offline devices fail; commands are not queued."))
		add("")
		switch {
		case dl.starting:
			add(th.Muted.Render("starting" + g.Ellipsis))
		case dl.needType:
			add(th.Warn.Render("Type "+strconv.Itoa(dl.n)+" (the number of devices) to run it: ") + dl.typed.View())
			add("", th.Muted.Render("enter run  esc back"))
		default:
			add(th.Muted.Render("enter or y run  n cancel  esc back"))
		}
	}
	if dl.err != "" {
		add("", th.Error.Render(dl.err))
	}
	for i, l := range out {
		out[i] = ansi.Truncate(l, w, g.Ellipsis)
	}
	block := lipgloss.NewStyle().Width(w).Render(strings.Join(out, "\n"))
	return th.HelpBox.Render(block)
}
