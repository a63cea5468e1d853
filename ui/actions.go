package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// The action dialog: on the marked devices (or the selected one), x
// opens the engine's catalog, then a form for the action's parameters
// (one text input each; a choice cycles with left/right), then a
// confirmation naming the action and the number of devices. A
// destructive action on more than typedConfirmOver devices is confirmed
// by typing that number (or "yes"). The run starts with StartRun and the
// Actions view shows its progress.

// typedConfirmOver is the number of devices above which a destructive
// action needs its count typed.
const typedConfirmOver = 10

// Steps of the dialog.
const (
	stepCatalog = iota
	stepForm
	stepConfirm
)

// actionDialog is the open dialog.
type actionDialog struct {
	step    int
	ids     []int64  // the target devices
	hosts   []string // their names, for the confirmation
	catalog []engine.ActionSpec
	pos     listPos // over the catalog

	spec    engine.ActionSpec
	fields  []engine.ParamSpec // the form: the action's parameters, and scriptArgs for run-script
	inputs  []textinput.Model  // one per field
	focus   int
	invalid string // the parameter the validation error is about ("" when none, or not one parameter)
	err     string // the validation error

	// target, when set, is what the run targets instead of ids (a
	// collection), and count how many devices it picks now.
	target engine.RunTarget
	count  int

	params   map[string]string // validated, for the confirmation and StartRun
	typed    textinput.Model   // the typed confirmation
	needType bool
	starting bool // StartRun is in flight
}

// runStartedMsg is a finished StartRun.
type runStartedMsg struct {
	info    engine.RunInfo
	name    string
	err     error
	command bool // an ad-hoc command (command.go): its results are read grouped
	mask    bool // with host names masked
}

// deviceKey handles the device keys of the devices and detail views: p
// opens the PowerShell pane on the device, x the action dialog.
func (m Model) deviceKey(msg tea.KeyPressMsg) (Model, tea.Cmd, bool) {
	if m.page != pageDevices && m.page != pageDetail {
		return m, nil, false
	}
	k := &m.keys
	switch {
	case key.Matches(msg, k.Shell):
		if m.denied(engine.PermActionsRun, "the remote PowerShell pane") {
			return m, nil, true
		}
		d, ok := m.actionDevice()
		if !ok {
			return m, m.notify(errNoDevice.Error(), true), true
		}
		nm, cmd := m.openShell(d)
		return nm, cmd, true
	case key.Matches(msg, k.RunCommand):
		ids, what := m.commandTargets()
		nm, cmd := m.openCommand(engine.RunTarget{DeviceIDs: ids}, len(ids), what)
		return nm, cmd, true
	case key.Matches(msg, k.RunAction):
		if m.denied(engine.PermActionsRun, "running an action") {
			return m, nil, true
		}
		ids, hosts := m.actionTargets()
		if len(ids) == 0 {
			return m, m.notify(errNoDevice.Error(), true), true
		}
		nm, cmd := m.openDialog(ids, hosts)
		return nm, cmd, true
	}
	return m, nil, false
}

// actionDevice is the device p and x act on alone: the detail view's, or
// the grid's selected row.
func (m *Model) actionDevice() (*engine.DeviceState, bool) {
	if m.page == pageDetail {
		if i, ok := m.index[m.detail.id]; ok {
			return &m.devices[i], true
		}
		return nil, false
	}
	return m.selectedDevice()
}

// actionTargets are the devices x acts on: the marked ones in the grid
// (all of them, shown or hidden by the filter), else the selected one.
func (m *Model) actionTargets() ([]int64, []string) {
	if m.page == pageDevices && len(m.grid.marks) > 0 {
		ids := make([]int64, 0, len(m.grid.marks))
		for id := range m.grid.marks {
			if _, ok := m.index[id]; ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		hosts := make([]string, len(ids))
		for i, id := range ids {
			hosts[i] = m.devices[m.index[id]].Hostname
		}
		return ids, hosts
	}
	d, ok := m.actionDevice()
	if !ok {
		return nil, nil
	}
	return []int64{d.ID}, []string{d.Hostname}
}

// harmlessDefault is where the catalog's cursor starts: Flush DNS cache,
// else the first action that is not destructive.
func harmlessDefault(cat []engine.ActionSpec) int {
	if i := slices.IndexFunc(cat, func(a engine.ActionSpec) bool { return a.Name == engine.ActFlushDNS }); i >= 0 {
		return i
	}
	return max(slices.IndexFunc(cat, func(a engine.ActionSpec) bool { return !a.Destructive }), 0)
}

// confirmPhrase is what the confirmation says will run: "Restart
// (delay_s=30)", "Run script cleanup (Days=30)".
func confirmPhrase(spec engine.ActionSpec, params map[string]string) string {
	if spec.Name == engine.ActRunScript && params["script"] != "" {
		rest := make(map[string]string, len(params))
		for k, v := range params {
			if k != "script" {
				rest[k] = v
			}
		}
		s := "Run script " + params["script"]
		if pt := paramText(spec, rest); pt != "" {
			s += " (" + pt + ")"
		}
		return s
	}
	s := spec.Title
	if pt := paramText(spec, params); pt != "" {
		s += " (" + pt + ")"
	}
	return s
}

// openDialog opens the action dialog on the devices.
func (m Model) openDialog(ids []int64, hosts []string) (Model, tea.Cmd) {
	cat := engine.Catalog()
	if len(cat) == 0 {
		return m, m.notify("the engine offers no actions", true)
	}
	m.dialog = &actionDialog{ids: ids, hosts: hosts, catalog: cat}
	// The cursor starts on a harmless action: x, enter, enter must never
	// restart a host (the catalog lists Restart first).
	m.dialog.pos.cursor = harmlessDefault(cat)
	return m, nil
}

// modalKey gives a key to what holds the keyboard on top of the views:
// the PowerShell pane (every key, ctrl+c included: it interrupts), then
// the action dialog (all but ctrl+c, which still quits).
func (m Model) modalKey(msg tea.KeyPressMsg) (Model, tea.Cmd, bool) {
	switch {
	case m.page == pageShell && m.shell != nil:
		nm, cmd := m.shellKey(msg)
		return nm, cmd, true
	case m.dialog != nil && msg.String() != "ctrl+c":
		nm, cmd := m.dialogKey(msg)
		return nm, cmd, true
	case m.cmd != nil && msg.String() != "ctrl+c":
		nm, cmd := m.commandKey(msg)
		return nm, cmd, true
	}
	return m, nil, false
}

// modalPaste gives pasted text to the pane or the dialog's input.
func (m Model) modalPaste(text string) (Model, bool) {
	switch {
	case m.page == pageShell && m.shell != nil:
		return m.shellPaste(text), true
	case m.cmd != nil:
		return m.commandPaste(text), true
	case m.dialog != nil:
		dl := m.dialog
		text = strings.Map(printable, text)
		switch {
		case dl.step == stepForm && dl.focus < len(dl.inputs):
			in := &dl.inputs[dl.focus]
			in.SetValue(in.Value() + text)
			in.CursorEnd()
		case dl.step == stepConfirm && dl.needType:
			dl.typed.SetValue(dl.typed.Value() + text)
			dl.typed.CursorEnd()
		}
		return m, true
	}
	return m, false
}

// dialogKey handles a key in the dialog.
func (m Model) dialogKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	dl := m.dialog
	k := &m.keys
	if dl.starting {
		return m, nil
	}
	switch dl.step {
	case stepCatalog:
		vis := m.dialogRows()
		switch {
		case msg.String() == "esc":
			m.dialog = nil
		case msg.String() == "enter":
			m.chooseAction(dl.catalog[dl.pos.cursor])
		case dl.pos.move(k, msg, len(dl.catalog), vis):
		}
		return m, nil
	case stepForm:
		return m.formKey(msg)
	}
	// The confirmation.
	switch msg.String() {
	case "esc":
		if len(dl.fields) == 0 {
			dl.step = stepCatalog
		} else {
			dl.step = stepForm
		}
		return m, nil
	case "enter":
		if dl.needType {
			t := strings.TrimSpace(dl.typed.Value())
			if t != strconv.Itoa(dl.devices()) && !strings.EqualFold(t, "yes") {
				dl.err = "type " + strconv.Itoa(dl.devices()) + " (the number of devices) or yes to confirm"
				return m, nil
			}
		}
		return m, m.startRun()
	case "y", "Y":
		if !dl.needType {
			return m, m.startRun()
		}
	case "n", "N":
		if !dl.needType {
			m.dialog = nil
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

// chooseAction moves the dialog to the action's form, or straight to the
// confirmation when it has no parameters.
func (m *Model) chooseAction(spec engine.ActionSpec) {
	dl := m.dialog
	dl.spec, dl.err, dl.invalid, dl.focus = spec, "", "", 0
	dl.fields = slices.Clone(spec.Params)
	if spec.Name == engine.ActRunScript {
		dl.fields = append(dl.fields, engine.ParamSpec{Name: scriptArgs, Type: "string",
			Help: "the script's own parameters: name=value, separated by spaces; quote a value with spaces (name=\"a b\")"})
	}
	dl.inputs = make([]textinput.Model, len(dl.fields))
	for i, p := range dl.fields {
		in := textinput.New()
		in.Prompt = ""
		in.KeyMap.Paste = key.NewBinding(key.WithDisabled())
		in.SetStyles(m.shellInputStyles())
		in.SetWidth(40)
		in.SetValue(p.Default)
		if p.Type == "choice" && p.Default == "" && len(p.Choices) > 0 {
			in.SetValue(p.Choices[0])
		}
		if p.Type == "bool" && p.Default == "" {
			in.SetValue("false")
		}
		dl.inputs[i] = in
	}
	if len(dl.inputs) == 0 {
		dl.params = map[string]string{}
		m.toConfirm()
		return
	}
	dl.inputs[0].Focus()
	dl.step = stepForm
}

// formKey edits the parameter form: tab/up/down move between fields,
// left/right cycle a choice, enter goes on (validating on the last field).
func (m Model) formKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	dl := m.dialog
	p := dl.fields[dl.focus]
	in := &dl.inputs[dl.focus]
	switch msg.String() {
	case "esc":
		dl.step = stepCatalog
		return m, nil
	case "tab", "down":
		m.focusField(dl.focus + 1)
		return m, nil
	case "shift+tab", "up":
		m.focusField(dl.focus - 1)
		return m, nil
	case "enter":
		if dl.focus < len(dl.inputs)-1 {
			m.focusField(dl.focus + 1)
			return m, nil
		}
		m.submitForm()
		return m, nil
	case "ctrl+s":
		m.submitForm()
		return m, nil
	case "left", "right":
		if choices := paramChoices(p); len(choices) > 0 {
			i := slices.Index(choices, in.Value())
			if msg.String() == "right" {
				i = (i + 1) % len(choices)
			} else {
				i = (i - 1 + len(choices)) % len(choices)
			}
			in.SetValue(choices[i])
			return m, nil
		}
	}
	if len(paramChoices(p)) > 0 {
		return m, nil // a choice is picked, not typed
	}
	var cmd tea.Cmd
	*in, cmd = in.Update(msg)
	if dl.invalid == p.Name {
		dl.err, dl.invalid = "", ""
	}
	return m, cmd
}

// paramChoices are the values a parameter cycles through; nil for typed
// ones.
func paramChoices(p engine.ParamSpec) []string {
	switch p.Type {
	case "choice":
		return p.Choices
	case "bool":
		return []string{"false", "true"}
	}
	return nil
}

func (m *Model) focusField(i int) {
	dl := m.dialog
	n := len(dl.inputs)
	i = (i%n + n) % n
	dl.inputs[dl.focus].Blur()
	dl.focus = i
	dl.inputs[i].Focus()
}

// submitForm validates the form with the catalog's own rules and moves
// to the confirmation, or shows the error by its parameter.
func (m *Model) submitForm() {
	dl := m.dialog
	params := make(map[string]string, len(dl.inputs))
	for i, p := range dl.fields {
		v := strings.TrimSpace(dl.inputs[i].Value())
		if p.Name == scriptArgs {
			if err := addScriptArgs(params, v); err != nil {
				dl.err, dl.invalid = "param "+scriptArgs+": "+err.Error(), scriptArgs
				m.focusField(i)
				return
			}
			continue
		}
		if v != "" {
			params[p.Name] = v
		}
	}
	if err := dl.spec.Validate(params); err != nil {
		dl.err, dl.invalid = err.Error(), ""
		for i, p := range dl.fields {
			if strings.Contains(dl.err, "param "+p.Name+":") {
				dl.invalid = p.Name
				m.focusField(i)
				break
			}
		}
		return
	}
	dl.params = params
	m.toConfirm()
}

func (m *Model) toConfirm() {
	dl := m.dialog
	dl.step, dl.err = stepConfirm, ""
	dl.needType = dl.spec.NeedsConfirm(dl.params) && dl.devices() > typedConfirmOver
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

// startRun sends StartRun for the confirmed dialog.
func (m *Model) startRun() tea.Cmd {
	dl := m.dialog
	rq := m.feed.caps.req
	if rq == nil {
		m.dialog = nil
		return m.notify("actions.run: this console cannot send requests to the engine", true)
	}
	dl.starting = true
	target := engine.RunTarget{DeviceIDs: slices.Clone(dl.ids)}
	if dl.target.Collection != "" {
		target = dl.target
	}
	r := engine.StartRun{Name: dl.spec.Name, Params: dl.params, Target: target, Confirmed: true}
	ctx, title := m.feed.ctx, dl.spec.Title
	return func() tea.Msg {
		info, err := engine.Ask(ctx, rq, r)
		return runStartedMsg{name: title, err: err, info: info}
	}
}

// dialogWidth is the width of the dialog's text.
func (m *Model) dialogWidth() int {
	return max(min(m.width-helpChromeW, 96), 30)
}

// dialogRows is how many catalog entries the dialog lists at once.
func (m *Model) dialogRows() int {
	return max(m.height-helpChromeH-10, 3) // 10: title, description, help, the "more" markers
}

// devices is how many devices the dialog's run picks.
func (dl *actionDialog) devices() int {
	if dl.target.Collection != "" {
		return dl.count
	}
	return len(dl.ids)
}

// targetText is "WS-0001" or "50 devices (WS-0001, WS-0002, ...)".
func (m *Model) targetText() string {
	dl := m.dialog
	if dl.target.Collection != "" {
		return "collection " + dl.target.Collection + " (" + Thousands(dl.count) + " " + plural(dl.count, "device", "devices") + ")"
	}
	if len(dl.hosts) == 1 {
		return dl.hosts[0]
	}
	shown := dl.hosts[:min(3, len(dl.hosts))]
	s := Thousands(len(dl.hosts)) + " devices (" + strings.Join(shown, ", ")
	if len(dl.hosts) > len(shown) {
		s += ", " + m.theme.Glyphs.Ellipsis
	}
	return s + ")"
}

// paramText is "name=Spooler, op=restart": the catalog's parameters in
// its order, then any others (a library script's) by name.
func paramText(spec engine.ActionSpec, params map[string]string) string {
	var parts []string
	seen := map[string]bool{}
	for _, p := range spec.Params {
		if v, ok := params[p.Name]; ok {
			parts = append(parts, p.Name+"="+v)
			seen[p.Name] = true
		}
	}
	var rest []string
	for k := range params {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		parts = append(parts, k+"="+params[k])
	}
	return strings.Join(parts, ", ")
}

// scriptArgs is the form field for a library script's own parameters.
const scriptArgs = "script-params"

// addScriptArgs parses `name=value name2="a b"` into params; a name the
// action already has, or a word without "=", is an error.
func addScriptArgs(params map[string]string, s string) error {
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t\"") {
			word, _, _ := strings.Cut(s, " ")
			return fmt.Errorf("%q is not name=value", word)
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return fmt.Errorf("the value of %s has no closing quote", name)
			}
			value, s = rest[1:1+end], rest[2+end:]
		} else {
			value, s, _ = strings.Cut(rest, " ")
		}
		if _, dup := params[name]; dup {
			return fmt.Errorf("%s is given twice", name)
		}
		params[name] = value
	}
	return nil
}

// dialogBox draws the dialog, framed like the help.
func (m *Model) dialogBox() string {
	dl := m.dialog
	th, g := &m.theme, &m.theme.Glyphs
	w := m.dialogWidth()
	var out []string
	add := func(s ...string) { out = append(out, s...) }
	switch dl.step {
	case stepCatalog:
		add(th.HelpTitle.Render("Run an action on "+m.targetText()), "")
		vis := m.dialogRows()
		dl.pos.clamp(len(dl.catalog), vis)
		tw := 0
		for _, a := range dl.catalog {
			tw = max(tw, ansi.StringWidth(a.Title))
		}
		tw = min(tw, w/2)
		if dl.pos.offset > 0 {
			add(th.Muted.Render(g.Ellipsis + " " + itoa(dl.pos.offset) + " more above"))
		}
		for i := dl.pos.offset; i < min(dl.pos.offset+vis, len(dl.catalog)); i++ {
			a := dl.catalog[i]
			note := a.Name
			if a.Destructive {
				note += "  (confirm)"
			}
			line := fit(a.Title, tw, false, g.Ellipsis) + "  " + note
			if i == dl.pos.cursor {
				add(th.Selected.Render(fit(g.Pointer+" "+line, w, false, g.Ellipsis)))
			} else {
				add(th.Text.Render(fit("  "+line, w, false, g.Ellipsis)))
			}
		}
		if below := len(dl.catalog) - (dl.pos.offset + vis); below > 0 {
			add(th.Muted.Render(g.Ellipsis + " " + itoa(below) + " more below"))
		}
		add("", th.Muted.Render(dl.catalog[dl.pos.cursor].Description))
		add("", th.Muted.Render(moveLabel(&m.keys)+" choose  enter select  esc close"))
	case stepForm:
		add(th.HelpTitle.Render(dl.spec.Title+" on "+m.targetText()), th.Muted.Render(dl.spec.Description), "")
		lw := 0
		for _, p := range dl.fields {
			lw = max(lw, ansi.StringWidth(p.Name))
		}
		for i, p := range dl.fields {
			label := fit(p.Name, lw, false, "")
			if i == dl.focus {
				label = th.HelpKey.Render(g.Pointer + " " + label)
			} else {
				label = th.Label.Render("  " + label)
			}
			var value string
			if choices := paramChoices(p); len(choices) > 0 {
				value = th.Input.Render("< "+dl.inputs[i].Value()+" >") + th.Muted.Render("  "+strings.Join(choices, "|"))
			} else {
				value = dl.inputs[i].View()
			}
			add(label + "  " + value)
			var hint []string
			hint = append(hint, p.Type)
			if p.Required {
				hint = append(hint, "required")
			}
			if p.Help != "" {
				hint = append(hint, p.Help)
			}
			add(strings.Repeat(" ", lw+4) + th.Muted.Render(strings.Join(hint, "; ")))
			if dl.invalid == p.Name && dl.err != "" {
				add(strings.Repeat(" ", lw+4) + th.Error.Render(dl.err))
			}
		}
		if dl.err != "" && dl.invalid == "" {
			add("", th.Error.Render(dl.err))
		}
		add("", th.Muted.Render("tab/up/down field  left/right choice  enter next, on the last: confirm  esc back"))
	case stepConfirm:
		what := confirmPhrase(dl.spec, dl.params)
		n := dl.devices()
		add(th.HelpTitle.Render("Confirm"), "")
		on := "on " + m.targetText()
		if n == 1 {
			on = "on 1 device: " + m.targetText()
		}
		add(th.Text.Render(what), th.Text.Render(on))
		switch dl.spec.Name {
		case engine.ActWake: // meant for offline devices: nothing waits for them
		case engine.ActFilePush, engine.ActFilePull:
			add("", th.Muted.Render("Offline devices fail: file copies are not queued."))
		default:
			add("", th.Muted.Render("Offline devices get the action queued until they are back (default expiry 7 days)."))
		}
		if dl.spec.NeedsConfirm(dl.params) {
			add(th.Warn.Render("This action is destructive."))
		}
		add("")
		switch {
		case dl.starting:
			add(th.Muted.Render("starting" + g.Ellipsis))
		case dl.needType:
			add(th.Warn.Render("Type "+strconv.Itoa(n)+" (the number of devices) or yes to confirm: ") + dl.typed.View())
			add("", th.Muted.Render("enter run  esc back"))
		default:
			add(th.Muted.Render("enter or y run  n cancel  esc back"))
		}
		if dl.err != "" {
			add("", th.Error.Render(dl.err))
		}
	}
	for i, l := range out {
		out[i] = ansi.Truncate(l, w, g.Ellipsis)
	}
	block := lipgloss.NewStyle().Width(w).Render(strings.Join(out, "\n"))
	return th.HelpBox.Render(block)
}
