package ui

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/themes"
)

// The remote PowerShell pane: a prompt "PS HOST> " on one device, the
// scrollback above it, history with up/down. Each line goes to the engine
// as a ShellRun (audited with the line) on a session of its own (see
// engine/rshell.go), whose runspace keeps variables, functions and the
// location from line to line, as Enter-PSSession does; the pane says
// when a new runspace started. ctrl+c sends ShellInterrupt; esc goes
// back to the view the pane came from and keeps the session (its tab
// stays; alt+1..9 switch views from the prompt too); ctrl+d or exit
// closes the session.

// Scrollback and history bounds.
const (
	shellScrollback = 5000 // lines kept in the pane
	shellHistory    = 500  // lines kept for up/down
	shellCloseWait  = 5 * time.Second
)

// shellPane is the open pane. It lives behind a pointer in the Model and
// only Update changes it; its commands carry copies of what they need.
type shellPane struct {
	deviceID int64
	host     string
	session  string   // "" until opened, and after the engine closed it
	opening  bool     // the first OpenShell is in flight
	running  string   // the line being run; "" when the prompt is free
	queue    []string // lines typed ahead while one ran
	seq      int      // request generation: a stale answer is dropped

	input   textinput.Model
	view    viewport.Model
	lines   []string // the scrollback, styled
	history []string
	histPos int    // position in history while browsing; len(history) when not
	draft   string // what was typed before browsing the history
	from    pageID // where esc goes back
	w, h    int    // the viewport's size last laid out

	ran  int  // lines that ran and answered, for "a new session" notes
	cold bool // the host runs each line in its own powershell.exe: nothing carries over
}

// shellMsg is a finished OpenShell (line == "") or ShellRun.
type shellMsg struct {
	seq      int
	line     string
	info     *engine.ShellInfo // a session opened for this message
	out      engine.ShellOutput
	err      error
	reopened bool // the session had expired and a new one was opened
}

// shellClosedMsg is a finished CloseShell.
type shellClosedMsg struct{ err error }

// shellKeys are the pane's fixed keys (not configurable: the prompt
// takes every printable key).
const (
	shellKeyRun       = "enter"
	shellKeyInterrupt = "ctrl+c"
	shellKeyLeave     = "esc"
	shellKeyEOF       = "ctrl+d"
	shellKeyView      = "alt+1..9, alt+0"
)

// openShell opens the pane on device d: the session is opened at once,
// so a refusal or an unreachable host shows before anything is typed.
func (m Model) openShell(d *engine.DeviceState) (Model, tea.Cmd) {
	if m.shell != nil && m.shell.host == d.Hostname {
		m.page = pageShell
		return m, nil
	}
	if m.feed.caps.req == nil {
		return m, m.notify("shell.open: this console cannot send requests to the engine", true)
	}
	var closeOld tea.Cmd
	if m.shell != nil {
		closeOld = m.closeShellCmd()
	}
	in := textinput.New()
	in.Prompt = "PS " + d.Hostname + "> "
	in.KeyMap.Paste = key.NewBinding(key.WithDisabled()) // never read this machine's clipboard (an SSH jump host)
	in.KeyMap.AcceptSuggestion = key.NewBinding(key.WithDisabled())
	in.KeyMap.NextSuggestion = key.NewBinding(key.WithDisabled())
	in.KeyMap.PrevSuggestion = key.NewBinding(key.WithDisabled())
	in.KeyMap.DeleteCharacterForward = key.NewBinding(key.WithKeys("delete")) // ctrl+d closes the pane
	in.SetStyles(m.shellInputStyles())
	in.Focus()
	vp := viewport.New()
	vp.SoftWrap = true
	vp.KeyMap = viewport.KeyMap{} // the pane routes scrolling itself
	from := m.page
	if from == pageShell && m.shell != nil {
		from = m.shell.from
	}
	m.shell = &shellPane{deviceID: d.ID, host: d.Hostname, opening: true, input: in, view: vp, from: from, seq: 1}
	sp := m.shell
	sp.add(m.theme.Muted.Render("Opening a remote PowerShell on " + d.Hostname + m.theme.Glyphs.Ellipsis))
	m.page = pageShell
	m.layoutShell()
	rq, ctx := m.feed.caps.req, m.feed.ctx
	id, host := d.ID, d.Hostname
	open := func() tea.Msg {
		info, err := engine.Ask(ctx, rq, engine.OpenShell{DeviceID: id, Host: host})
		msg := shellMsg{seq: 1, err: err}
		if err == nil {
			msg.info = &info
		}
		return msg
	}
	return m, tea.Batch(closeOld, open)
}

// shellInputStyles are the prompt's styles from the theme, without a
// blinking cursor (a blink is a redraw twice a second for nothing).
func (m *Model) shellInputStyles() textinput.Styles {
	th := &m.theme
	st := textinput.Styles{
		Focused: textinput.StyleState{Text: th.Input, Placeholder: th.Muted, Suggestion: th.Muted, Prompt: th.Prompt},
		Blurred: textinput.StyleState{Text: th.Muted, Placeholder: th.Muted, Suggestion: th.Muted, Prompt: th.Muted},
	}
	st.Cursor.Blink = false
	return st
}

// add appends lines to the scrollback, keeping its bound.
func (sp *shellPane) add(lines ...string) {
	sp.lines = append(sp.lines, lines...)
	if over := len(sp.lines) - shellScrollback; over > 0 {
		sp.lines = append(sp.lines[:0], sp.lines[over:]...)
	}
	atBottom := sp.view.AtBottom() || sp.view.TotalLineCount() <= sp.view.Height()
	sp.view.SetContentLines(sp.lines)
	if atBottom {
		sp.view.GotoBottom()
	}
}

// layoutShell sizes the pane to the terminal: a hint line, the
// scrollback, the prompt.
func (m *Model) layoutShell() {
	sp := m.shell
	if sp == nil {
		return
	}
	w, h := max(m.width, 1), max(m.bodyHeight()-2, 1)
	if w == sp.w && h == sp.h {
		return
	}
	sp.w, sp.h = w, h
	sp.view.SetWidth(w)
	sp.view.SetHeight(h)
	sp.input.SetWidth(max(w-ansi.StringWidth(sp.input.Prompt)-2, 10))
	sp.view.SetContentLines(sp.lines)
	sp.view.GotoBottom()
}

// shellBody draws the pane: hint (or what runs), scrollback, prompt.
func (m *Model) shellBody(height int) []string {
	sp := m.shell
	th := &m.theme
	if sp == nil {
		return padLines(nil, height)
	}
	m.layoutShell()
	var hint string
	switch {
	case sp.opening:
		hint = th.Muted.Render("connecting to " + sp.host + th.Glyphs.Ellipsis)
	case sp.running != "":
		more := ""
		if n := len(sp.queue); n > 0 {
			more = ", " + itoa(n) + " more typed ahead"
		}
		hint = th.Warn.Render(fit("running: "+m.clean(sp.running)+"   (ctrl+c interrupts"+more+")", m.width, false, th.Glyphs.Ellipsis))
	case sp.cold:
		hint = th.Section.Render(fit("PowerShell on "+sp.host+"  "+th.Glyphs.Separator+"  this host runs each line in its own powershell.exe: variables do not carry over; every line is audited",
			m.width, false, th.Glyphs.Ellipsis))
	default:
		hint = th.Section.Render(fit("PowerShell on "+sp.host+"  "+th.Glyphs.Separator+"  a session: variables, functions and the location carry over; every line is audited  "+
			th.Glyphs.Separator+"  esc back (stays open), ctrl+d closes", m.width, false, th.Glyphs.Ellipsis))
	}
	out := []string{hint}
	out = append(out, strings.Split(sp.view.View(), "\n")...)
	out = padLines(out, height-1)
	out = append(out, ansi.Truncate(sp.input.View(), m.width, th.Glyphs.Ellipsis))
	return out
}

// padLines cuts or pads lines to exactly height.
func padLines(lines []string, height int) []string {
	if len(lines) > height {
		return lines[:height]
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return lines
}

// shellKey handles a key while the pane is shown: everything goes to the
// prompt but its own keys. Lines typed while one runs wait their turn,
// as in a console window.
func (m Model) shellKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	sp := m.shell
	// alt+1..9 switch views without closing the session (the digits
	// themselves belong to the prompt).
	if s, ok := strings.CutPrefix(msg.String(), "alt+"); ok && tabForKey(s) >= 0 {
		if tabs, i := m.tabs(), tabForKey(s); i < len(tabs) {
			return m.switchTo(tabs[i].id)
		}
		return m, nil
	}
	switch msg.String() {
	case shellKeyInterrupt:
		if sp.running == "" {
			sp.input.SetValue("")
			sp.add(m.promptLine("") + m.theme.Muted.Render("^C"))
			return m, nil
		}
		sp.queue = nil // ctrl+c drops what was typed ahead
		sp.add(m.theme.Warn.Render("^C interrupting " + m.clean(sp.running)))
		return m, m.sendQuiet(engine.ShellInterrupt{SessionID: sp.session, Seq: int64(sp.seq)})
	case shellKeyLeave:
		return m.leaveShellPane(), nil
	case shellKeyEOF:
		return m.closeShellPane()
	case "pgup":
		sp.view.PageUp()
		return m, nil
	case "pgdown":
		sp.view.PageDown()
		return m, nil
	case "up":
		if sp.histPos > 0 {
			if sp.histPos == len(sp.history) {
				sp.draft = sp.input.Value()
			}
			sp.histPos--
			sp.input.SetValue(sp.history[sp.histPos])
			sp.input.CursorEnd()
		}
		return m, nil
	case "down":
		if sp.histPos < len(sp.history) {
			sp.histPos++
			if sp.histPos == len(sp.history) {
				sp.input.SetValue(sp.draft)
			} else {
				sp.input.SetValue(sp.history[sp.histPos])
			}
			sp.input.CursorEnd()
		}
		return m, nil
	case shellKeyRun:
		line := strings.TrimSpace(sp.input.Value())
		sp.input.SetValue("")
		if line != "" && (len(sp.history) == 0 || sp.history[len(sp.history)-1] != line) {
			sp.history = append(sp.history, line)
			if over := len(sp.history) - shellHistory; over > 0 {
				sp.history = sp.history[over:]
			}
		}
		sp.histPos, sp.draft = len(sp.history), ""
		if sp.running != "" || sp.opening {
			if line != "" {
				sp.queue = append(sp.queue, line)
			}
			return m, nil
		}
		return m.startLine(line)
	}
	var cmd tea.Cmd
	sp.input, cmd = sp.input.Update(msg)
	return m, cmd
}

// startLine echoes a line and runs it (exit and cls are the pane's own).
func (m Model) startLine(line string) (Model, tea.Cmd) {
	sp := m.shell
	sp.add(m.promptLine(line))
	switch strings.ToLower(line) {
	case "":
		return m, nil
	case "exit", "logout":
		return m.closeShellPane()
	case "cls", "clear", "clear-host":
		sp.lines = nil
		sp.view.SetContentLines(nil)
		return m, nil
	}
	sp.running = line
	sp.seq++
	return m, m.shellLineCmd(line)
}

// nextLine starts the next line typed ahead, if any.
func (m *Model) nextLine() tea.Cmd {
	sp := m.shell
	for sp != nil && sp.running == "" && len(sp.queue) > 0 {
		line := sp.queue[0]
		sp.queue = sp.queue[1:]
		nm, cmd := m.startLine(line)
		*m = nm
		if cmd != nil {
			return cmd
		}
		sp = m.shell
	}
	return nil
}

// leaveShellPane goes back to the view the pane was opened from; the
// session and the pane's tab stay (its number key, p on the device or a
// click on the tab come back).
func (m Model) leaveShellPane() Model {
	m.page = m.shell.from
	if !m.available(pageOf(m.page)) || m.page == pageShell {
		m.page = pageDevices
	}
	return m
}

// closeShellPane closes the pane and its session and goes back to the
// view it was opened from.
func (m Model) closeShellPane() (Model, tea.Cmd) {
	cmd := m.closeShellCmd()
	m.page = m.shell.from
	m.shell = nil
	if !m.available(pageOf(m.page)) || m.page == pageShell {
		m.page = pageDevices
	}
	return m, cmd
}

// shellPaste takes pasted text into the prompt (one line: newlines become
// spaces, so a paste never runs anything by itself).
func (m Model) shellPaste(text string) Model {
	sp := m.shell
	text = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return printable(r)
	}, text)
	sp.input.SetValue(sp.input.Value() + text)
	sp.input.CursorEnd()
	return m
}

// promptLine is a line as typed, for the scrollback.
func (m *Model) promptLine(line string) string {
	th := &m.theme
	return th.Prompt.Render("PS "+m.shell.host+"> ") + th.Text.Render(m.clean(line))
}

// shellLineCmd runs a line: on the pane's session, or on a new one when
// there is none (after an interrupt the engine keeps the session; after
// its idle time it does not, and the line reopens it once).
func (m *Model) shellLineCmd(line string) tea.Cmd {
	sp := m.shell
	rq, ctx := m.feed.caps.req, m.feed.ctx
	session, id, host, seq := sp.session, sp.deviceID, sp.host, sp.seq
	width := max(sp.w-2, 40) // the output fits the pane
	return func() tea.Msg {
		msg := shellMsg{seq: seq, line: line}
		open := func() bool {
			info, err := engine.Ask(ctx, rq, engine.OpenShell{DeviceID: id, Host: host})
			if err != nil {
				msg.err = err
				return false
			}
			msg.info, session = &info, info.SessionID
			return true
		}
		if session == "" && !open() {
			return msg
		}
		out, err := engine.Ask(ctx, rq, engine.ShellRun{SessionID: session, Line: line, Seq: int64(seq), Width: width})
		if errors.Is(err, engine.ErrNoShell) && msg.info == nil {
			msg.reopened = true
			if !open() {
				return msg
			}
			out, err = engine.Ask(ctx, rq, engine.ShellRun{SessionID: session, Line: line, Seq: int64(seq), Width: width})
		}
		msg.out, msg.err = out, err
		return msg
	}
}

// shellDone takes a finished OpenShell or ShellRun.
func (m *Model) shellDone(msg shellMsg) tea.Cmd {
	sp := m.shell
	if sp == nil || msg.seq != sp.seq {
		if msg.info != nil {
			// The pane was closed (or moved on) meanwhile: close the
			// session it opened.
			return m.sendQuiet(engine.CloseShell{SessionID: msg.info.SessionID})
		}
		return nil
	}
	th := &m.theme
	if msg.info != nil {
		sp.session = msg.info.SessionID
		m.acts.shellSession = sp.session
	}
	if msg.reopened {
		sp.add(th.Muted.Render("(the session had been closed after its idle time; a new one was opened)"))
	}
	if msg.line == "" { // the pane's OpenShell
		sp.opening = false
		if msg.err != nil {
			var denied *engine.DeniedError
			if errors.As(msg.err, &denied) {
				m.shell = nil
				m.page = sp.from
				if m.page == pageShell || !m.available(pageOf(m.page)) {
					m.page = pageDevices
				}
				return m.notify(msg.err.Error(), true)
			}
			sp.queue = nil
			sp.add(th.Error.Render(m.clean(msg.err.Error())), th.Muted.Render("(the next line tries to connect again; esc closes)"))
			return nil
		}
		sp.add(th.Muted.Render("Connected: Windows PowerShell on " + sp.host + ". Lines are audited. ctrl+c interrupts, esc goes back (the session stays), ctrl+d or exit closes."))
		return m.nextLine()
	}
	sp.running = ""
	if msg.err != nil {
		switch {
		case errors.Is(msg.err, engine.ErrShellInterrupted):
			sp.add(th.Warn.Render("(interrupted; the next line starts a new PowerShell session: variables and the location are gone)"))
		case errors.Is(msg.err, engine.ErrNoShell):
			sp.session = ""
			sp.add(th.Error.Render(m.clean(msg.err.Error())))
		default:
			var denied *engine.DeniedError
			if errors.As(msg.err, &denied) {
				sp.queue = nil
				sp.add(th.Error.Render(m.clean(msg.err.Error())))
				return m.notify(msg.err.Error(), true)
			}
			sp.add(th.Error.Render(m.clean(msg.err.Error())))
		}
		return m.nextLine()
	}
	switch {
	case msg.out.Mode == engine.ModeCold && !sp.cold:
		sp.cold = true
		sp.add(th.Muted.Render("(" + sp.host + " runs each line in its own powershell.exe: variables and the location do not carry over)"))
	case msg.out.SessionLines == 1 && sp.ran > 0:
		sp.add(th.Muted.Render("(a new PowerShell session on " + sp.host + ": the variables, functions and location of earlier lines are gone)"))
	}
	sp.ran++
	// Write-Host text first: the loop returns it apart from the output
	// (cold, it is already in the output, where the console host put it).
	for _, l := range msg.out.Info {
		sp.add(th.Text.Render(m.clean(l)))
	}
	out := strings.ReplaceAll(msg.out.Output, "\r\n", "\n")
	out = strings.TrimRight(out, "\n")
	if out != "" {
		for l := range strings.SplitSeq(out, "\n") {
			sp.add(th.Text.Render(m.clean(l)))
		}
	}
	for _, w := range msg.out.Warnings {
		sp.add(th.Muted.Render(m.clean("WARNING: " + w)))
	}
	for _, e := range msg.out.Errors {
		for l := range strings.SplitSeq(strings.ReplaceAll(strings.TrimRight(e, "\r\n"), "\r\n", "\n"), "\n") {
			sp.add(th.Error.Render(m.clean(l)))
		}
	}
	if msg.out.Exit != 0 && len(msg.out.Errors) == 0 {
		sp.add(th.Muted.Render("(exit code " + itoa(msg.out.Exit) + ")"))
	}
	return m.nextLine()
}

// clean makes remote text safe to draw: no control characters (a host's
// output must not drive the terminal), tabs as spaces, and only ASCII in
// the ascii theme.
func (m *Model) clean(s string) string {
	ascii := m.theme.Name == themes.ASCII
	s = strings.ReplaceAll(s, "\t", "    ")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r' || r == '\n':
			return -1
		case !unicode.IsPrint(r) && r != ' ':
			return -1
		case ascii && r > 0x7e:
			return '?'
		}
		return r
	}, s)
}

// closeShellCmd closes the pane's session, if it has one.
func (m *Model) closeShellCmd() tea.Cmd {
	if m.shell == nil || m.shell.session == "" {
		return nil
	}
	rq, ctx, id := m.feed.caps.req, m.feed.ctx, m.shell.session
	if m.acts.shellSession == id {
		m.acts.shellSession = ""
	}
	return func() tea.Msg {
		_, err := rq.Do(ctx, engine.CloseShell{SessionID: id})
		return shellClosedMsg{err: err}
	}
}

// closeShellNow closes the pane's session before the console goes away
// (Model.Close): the engine would close it after its idle time anyway.
func (m *Model) closeShellNow() {
	id := m.acts.shellSession
	if id == "" || m.feed.caps.req == nil {
		return
	}
	m.acts.shellSession = ""
	ctx, cancel := context.WithTimeout(context.Background(), shellCloseWait)
	defer cancel()
	_, _ = m.feed.caps.req.Do(ctx, engine.CloseShell{SessionID: id})
}

// sendQuiet runs a request whose success needs no toast (interrupt,
// close); a failure is shown.
func (m *Model) sendQuiet(r engine.Request) tea.Cmd {
	rq, ctx := m.feed.caps.req, m.feed.ctx
	if rq == nil {
		return nil
	}
	return func() tea.Msg {
		_, err := rq.Do(ctx, r)
		if err != nil {
			return NoticeMsg{Text: err.Error(), Err: true}
		}
		return nil
	}
}

// shellHelp is the pane's keys, for the help.
func (m *Model) shellHelp() []helpItem {
	return []helpItem{{shellKeyRun, "run the line"}, {"up/down", "history"}, {"pgup/pgdown", "scroll"},
		{shellKeyInterrupt, "interrupt the line"}, {shellKeyLeave, "back (the session stays open)"},
		{shellKeyView, "switch view (the session stays open)"}, {shellKeyEOF + ", exit", "close the session"}}
}

// shellHelpItems is the status line's help while the pane is shown.
func (m *Model) shellHelpItems() []helpItem {
	return []helpItem{{shellKeyRun, "run"}, {"up/down", "history"}, {"pgup/pgdown", "scroll"},
		{shellKeyInterrupt, "interrupt"}, {shellKeyLeave, "back"}, {shellKeyView, "view"}, {shellKeyEOF, "close"}}
}
