package ui

import (
	"context"
	"strings"
	"time"
	"unicode"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/themes"
)

// Client is what the console needs of the engine. *engine.Engine
// satisfies it; tests use a slice plus a real engine.Hub. Detail and
// History are called from tea.Cmds, never from Update or View, so a slow
// store never freezes the screen.
type Client interface {
	Devices() []engine.DeviceState // full snapshot, any order
	Summary() engine.Summary
	Subscribe() *engine.Subscription
	Detail(ctx context.Context, id int64) (engine.DeviceDetail, error)
	// History returns the samples of one metric ("cpu_pct", "mem_pct")
	// since a time, oldest first.
	History(ctx context.Context, id int64, metric string, since time.Time) ([]engine.MetricPoint, error)
}

// The interfaces below are optional: a Client that also implements one
// gets the views and keys built on it, and a console without them shows
// nothing in their place. *engine.Engine implements all but Requester,
// whose Do takes no identity: the front end binds it (see Requester).

// Requester sends requests to the engine as the console's user. The
// front end binds the identity (sshserve's session client; main wraps
// the engine with the local user's), so the console cannot speak for
// anyone else. With it the console's mutating keys (poll now, ack,
// resolve, run a schedule) and the audit view are on. Every request runs
// in a tea.Cmd; its error, a *engine.DeniedError included, is shown as an
// error toast with the engine's text.
type Requester interface {
	Do(ctx context.Context, r engine.Request) (any, error)
}

// AlertSource is the engine's unresolved alerts, for the alerts view,
// the header's counts and the detail view. The console reads both after
// every engine update (the engine publishes one when an alert changes),
// in a tea.Cmd.
type AlertSource interface {
	ActiveAlerts() []engine.Alert         // Active and Acknowledged
	AlertCounts() map[engine.Severity]int // Active only, by severity
}

// HealthSource scores devices: the detail view shows one device's
// breakdown ("why is this host 62?"). Called from the detail load's
// tea.Cmd.
type HealthSource interface {
	Health(ctx context.Context, at time.Time) ([]engine.DeviceHealth, error)
}

// ScheduleSource lists the scheduled jobs with their next run times, for
// the schedules view; read once a second while the view is shown.
type ScheduleSource interface {
	Schedules() []engine.JobStatus
}

// PoolSource is the WinRM session pool's counters, for the header.
type PoolSource interface {
	PoolStats() engine.PoolStats
}

// CredentialAgeSource names the stored credentials older than the
// rotation age (security.credential_max_age), e.g. "default (120 days)",
// for the status bar's rotation reminder. Read once a second, in a
// tea.Cmd; it must be cheap (main's localClient returns what the
// engine's CredentialWatch found at its last check).
type CredentialAgeSource interface {
	StaleCredentials() []string
}

// staleCredsMsg carries what a CredentialAgeSource returned.
type staleCredsMsg struct{ names []string }

// InventorySource is the engine's stored inventory, for the detail
// view's hardware, software, security and network tabs; read in the
// detail load's tea.Cmd. Collecting goes through the Requester
// (engine.CollectInventory).
type InventorySource interface {
	StoredInventory(ctx context.Context, id int64, categories []string) ([]engine.InventoryDoc, error)
}

// caps are the optional interfaces the Client implements; nil when not.
type caps struct {
	req     Requester
	alerts  AlertSource
	health  HealthSource
	scheds  ScheduleSource
	pool    PoolSource
	creds   CredentialAgeSource
	inv     InventorySource
	patches PatchSource
}

func capsOf(c Client) caps {
	var k caps
	k.req, _ = c.(Requester)
	k.alerts, _ = c.(AlertSource)
	k.health, _ = c.(HealthSource)
	k.inv, _ = c.(InventorySource)
	k.scheds, _ = c.(ScheduleSource)
	k.pool, _ = c.(PoolSource)
	k.creds, _ = c.(CredentialAgeSource)
	k.patches, _ = c.(PatchSource)
	return k
}

// Setting is one line of the settings view: a config key, its effective
// value, its default and what it does.
type Setting struct {
	Key, Value, Default, Doc string
}

// Options configure the console. The zero value works.
type Options struct {
	// Theme is a name from themes.Names(); "" is the default theme. An
	// unknown name falls back to the default with an error toast: validate
	// user input with themes.Get first to report it. main picks "ascii"
	// for non-UTF-8 locales with themes.AutoName.
	Theme string
	// NoColor drops all colour from the theme (NO_COLOR; see
	// themes.NoColor). Selection and headings stay visible through
	// bold/reverse.
	NoColor bool
	// Title is the org / app name in the header; "" is "rmm".
	Title string
	// EmptyHint is shown centred when there are no devices at all.
	EmptyHint string
	// User and Role are shown in the header; a Viewer also gets a
	// [READ-ONLY] badge there. Role ("Admin", "Operator", "Viewer", any
	// case) also decides which request keys and dialogs the console
	// offers: the help, the status line and the tab bar leave out what
	// the role may not do, and such a key pressed anyway opens nothing
	// and says which role it needs. The engine still decides what is
	// allowed for every request it gets. An empty or unknown Role offers
	// every key.
	User, Role string
	// Now is the clock for relative times ("4s ago") and the sparklines'
	// 24 hours; nil is time.Now. Tests fix it so screens are stable.
	Now func() time.Time
	// Settings is the effective configuration, shown read-only by the
	// settings view in this order. Send a SettingsMsg after a reload.
	Settings []Setting
	// ConfigPath is the config file, named in the settings view so the
	// admin knows where to change a value; "" names none.
	ConfigPath string
	// SavedViews maps a view name to a filter expression (see
	// ParseFilter; a sort:COLUMN or sort:-COLUMN term sets the order),
	// applied with :view NAME. Check them with ValidateViews.
	SavedViews map[string]string
	// ExportFetch is set by rmm serve: :export and :export-results then
	// take a file name, written to the user's export directory on the
	// server, and the toast shows this command followed by the name to
	// fetch it (e.g. "scp -O -P 2222 bob@HOST:"). Empty on a console on
	// this machine, which writes where its user asks.
	ExportFetch string
	// ReportDir is where :report writes on a console on this machine
	// (reports.dir); over SSH reports go to the export directory.
	// ReportLocation is the time zone of report periods
	// (schedules.timezone; nil: the local one), SLATarget the uptime
	// report's availability target (reports.sla_target; 0: the engine's
	// default).
	ReportDir      string
	ReportLocation *time.Location
	SLATarget      float64
	// StartNotice is shown in the status line from the start, in the
	// error style until a key is pressed: what the user must not miss
	// (the demo cut down to the file descriptor limit).
	StartNotice string
	// Keys overrides DefaultKeyMap by action name (see Actions), e.g.
	// {"filter": {"/", "f"}}. Check it with ValidateKeys: a bad map is
	// ignored (the defaults apply) and the console says so.
	Keys map[string][]string
}

// Screen geometry: three header lines (title, fleet, tabs), the page, one
// status line. In the device grid the page starts with the column titles.
const (
	titleY      = 0
	fleetY      = 1
	tabsY       = 2
	headerLines = 3
	bodyTop     = headerLines // y of the first line of a page
	gridTop     = bodyTop     // y of the column titles
	rowsTop     = gridTop + 1 // y of the first device row
	chromeLines = headerLines + 1
	wheelStep   = 3

	// MinWidth and MinHeight are the smallest terminal the console draws
	// in; below it says so instead of drawing a broken grid.
	MinWidth  = 80
	MinHeight = 24
)

// Model is the console: a tea.Model (Bubble Tea v2). Create it with New.
type Model struct {
	*look // changes only as a whole (ThemeMsg); a pointer keeps Model small to copy
	opts  Options
	feed  *feed
	now   func() time.Time

	sub     *engine.Subscription
	loaded  bool                 // the first snapshot has arrived
	devices []engine.DeviceState // every device, in arrival order
	index   map[int64]int        // device ID -> position in devices
	summary engine.Summary

	role engine.Role // parsed Options.Role; 0 when unknown

	grid      grid
	page      pageID
	detail    detailState
	settings  settingsState
	alerts    alertsState
	schedules schedulesState
	audit     auditState
	notif     notifyState // the notifications view (notify.go)
	patches   patchesState
	palette   palette

	shell  *shellPane     // the remote PowerShell pane; nil when closed (rshell.go)
	dialog *actionDialog  // the action dialog; nil when closed (actions.go)
	cmd    *commandDialog // the command dialog; nil when closed (command.go)

	cmdHistory []string          // commands run from this console, oldest first (command.go)
	acts       *actionsState     // the actions view, runs followed for toasts (actions_view.go)
	colls      *collectionsState // the collections view (collections.go)

	pool    engine.PoolStats
	hasPool bool // pool has been read

	staleCreds []string // credentials due for rotation (CredentialAgeSource); shown in the status line

	work        []work // requests the user started that are still running
	workSeq     int
	confirmQuit bool // "quit anyway? y/n" is asked

	showHelp   bool
	helpOffset int

	toast    toast
	toastSeq int

	width, height int
	quitting      bool
}

// look is how the console draws and which keys it answers: theme, inks,
// keys. Shared by all copies of a Model; replaced, never modified.
type look struct {
	theme    themes.Theme
	inks     inks
	keys     KeyMap
	commands []command
}

func newLook(th themes.Theme, keys KeyMap) *look {
	l := &look{theme: th, inks: newInks(th), keys: keys}
	l.commands = commands()
	return l
}

// New returns the console for c. It does nothing until the program runs
// Init, which subscribes to the engine.
func New(c Client, opts Options) Model {
	if opts.Title == "" {
		opts.Title = "rmm"
	}
	var startErrs []string
	th, err := themes.Get(opts.Theme)
	if opts.Theme == "" {
		th, err = themes.Get(themes.Default)
	}
	if err != nil {
		startErrs = append(startErrs, err.Error())
		th, _ = themes.Get(themes.Default)
	}
	if opts.NoColor {
		th = th.WithoutColor()
	}
	km, err := DefaultKeyMap().WithKeys(opts.Keys)
	if err != nil {
		startErrs = append(startErrs, "key overrides ignored: "+strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	role, _ := engine.ParseRole(strings.ToLower(opts.Role))
	m := Model{
		look:     newLook(th, km),
		opts:     opts,
		feed:     newFeed(c),
		now:      now,
		role:     role,
		index:    make(map[int64]int),
		grid:     newGrid(),
		settings: settingsState{items: opts.Settings},
		acts:     &actionsState{},
		colls:    &collectionsState{},
	}
	if opts.StartNotice != "" {
		startErrs = append(startErrs, opts.StartNotice)
	}
	if len(startErrs) > 0 {
		m.toast = toast{text: strings.Join(startErrs, "; "), err: true}
	}
	return m
}

// Close unsubscribes from the engine and cancels loads in flight.
// Quitting with q or ctrl+c does it already; main may also call it after
// Run returns (safe to repeat) for the cases where the program ended
// otherwise (killed, context done).
func (m Model) Close() {
	m.closeShellNow()
	m.feed.close()
}

type tickMsg time.Time

// tick refreshes relative times ("4s ago") once a second, on the second.
func tick() tea.Cmd {
	return tea.Every(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Init subscribes to the engine and starts the clock.
func (m Model) Init() tea.Cmd {
	return tea.Batch(m.feed.subscribe, tick())
}

// Update applies engine events, keys, mouse, resizes and the messages
// main sends (NoticeMsg, ThemeMsg, SettingsMsg).
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clamp()
		m.clampScrolls()
		m.layoutShell()
		return m, nil

	case tickMsg:
		if m.quitting {
			return m, nil
		}
		cmds := []tea.Cmd{tick()}
		if m.page == pageSchedules || m.trackingJobs() {
			cmds = append(cmds, m.loadSchedules())
		}
		if m.notifyDue() {
			cmds = append(cmds, m.loadNotify())
		}
		if c := m.patchesTick(); c != nil {
			cmds = append(cmds, c)
		}
		if m.feed.caps.pool != nil {
			cmds = append(cmds, m.feed.readPool)
		}
		if c := m.feed.caps.creds; c != nil {
			cmds = append(cmds, func() tea.Msg { return staleCredsMsg{names: c.StaleCredentials()} })
		}
		return m, tea.Batch(cmds...)

	case snapshotMsg:
		m.sub = msg.sub
		m.loaded = true
		m.devices = m.devices[:0]
		clear(m.index)
		m.apply(msg.devices)
		m.summary = msg.summary
		m.refresh()
		m.setLive(msg.live)
		return m, m.feed.wait(m.sub, time.Time{})

	case updateMsg:
		reorder, detailChanged := m.apply(msg.update.Devices)
		if len(msg.update.Removed) > 0 {
			m.remove(msg.update.Removed)
			reorder = true
		}
		if reorder {
			m.refresh()
		}
		m.summary = msg.update.Summary
		m.setLive(msg.live)
		cmds := []tea.Cmd{m.feed.wait(m.sub, msg.at)}
		if detailChanged {
			cmds = append(cmds, m.detailChanged())
		}
		return m, tea.Batch(cmds...)

	case poolMsg:
		m.pool, m.hasPool = msg.stats, true
		return m, nil

	case staleCredsMsg:
		m.staleCreds = msg.names
		return m, nil

	case detailMsg:
		return m, m.detailLoaded(msg)

	case requestMsg:
		return m, m.requestDone(msg)

	case schedulesMsg:
		return m, m.schedulesLoaded(msg)

	case auditMsg:
		return m, m.auditLoaded(msg)

	case exportedMsg:
		return m, m.exported(msg)

	case notifyMsg:
		return m, m.notifyLoaded(msg)

	case retriedMsg:
		return m, m.retried(msg)

	case reportMsg:
		return m, m.reported(msg)

	case NoticeMsg:
		return m, m.notify(msg.Text, msg.Err)

	case ThemeMsg:
		return m, m.setTheme(msg.Name)

	case TitleMsg:
		m.opts.Title = msg.Title
		if m.opts.Title == "" {
			m.opts.Title = "rmm"
		}
		return m, nil

	case SettingsMsg:
		m.settings.items = msg.Settings
		m.clampScrolls()
		return m, nil

	case toastExpiredMsg:
		if msg.seq == m.toast.seq && !m.toast.err {
			m.toast = toast{}
		}
		return m, nil

	case tea.KeyPressMsg:
		return m.key(msg)

	case tea.PasteMsg:
		if nm, ok := m.modalPaste(msg.Content); ok {
			return nm, nil
		}
		text := strings.Map(printable, msg.Content)
		switch {
		case m.confirmQuit:
		case m.palette.open:
			m.palette.setInput(m.palette.input + text)
		case m.grid.typing:
			m.setFilter(m.grid.filter + text)
		case m.audit.typing:
			m.setAuditFilter(m.audit.filter + text)
		case m.alerts.typing && m.page == pageAlerts:
			m.setAlertFilter(m.alerts.filter + text)
		case m.alerts.prompt != nil && m.page == pageAlerts:
			m.alerts.prompt.input.SetValue(m.alerts.prompt.input.Value() + text)
			m.alerts.prompt.input.CursorEnd()
		}
		return m, nil

	case tea.MouseWheelMsg:
		n := 0
		switch msg.Button {
		case tea.MouseWheelUp:
			n = -wheelStep
		case tea.MouseWheelDown:
			n = wheelStep
		}
		if m.showHelp {
			m.helpOffset += n
			m.clampScrolls()
		} else if n != 0 {
			m.wheel(n)
		}
		return m, nil

	case tea.MouseClickMsg:
		return m.click(msg.Mouse())
	}
	if nm, cmd, ok := m.actionsUpdate(msg); ok {
		return nm, cmd
	}
	if nm, cmd, ok := m.collectionsUpdate(msg); ok {
		return nm, cmd
	}
	if nm, cmd, ok := m.patchesUpdate(msg); ok {
		return nm, cmd
	}
	return m, nil
}

// apply merges device states by ID: replace a known device, append a new
// one. reorder reports whether the grid's rows must be recomputed: not
// when every change keeps its device's place (same sort key, same
// hostname, same filter match, same group), which is the common case
// during a sweep sorted by hostname, and saves re-sorting 10,000 rows for
// nothing. detail reports that the device the detail view shows changed.
func (m *Model) apply(ds []engine.DeviceState) (reorder, detail bool) {
	g := &m.grid
	for _, d := range ds {
		i, ok := m.index[d.ID]
		if !ok {
			m.index[d.ID] = len(m.devices)
			m.devices = append(m.devices, d)
			reorder = true
			continue
		}
		old := &m.devices[i]
		if !reorder && (CompareDevices(old, &d, g.sortBy, false) != 0 ||
			matches(&g.flt, old) != matches(&g.flt, &d) ||
			g.grouped && (old.Site != d.Site || old.Status != d.Status)) {
			reorder = true
		}
		if d.ID == m.detail.id && m.detail.opened && !sameState(old, &d) {
			detail = true
		}
		m.devices[i] = d
	}
	return reorder, detail
}

// remove drops devices the engine deleted, and their marks.
func (m *Model) remove(ids []int64) {
	gone := make(map[int64]bool, len(ids))
	marks := m.editMarks()
	for _, id := range ids {
		gone[id] = true
		delete(marks, id)
	}
	kept := make([]engine.DeviceState, 0, len(m.devices))
	for _, d := range m.devices {
		if !gone[d.ID] {
			kept = append(kept, d)
		}
	}
	m.devices = kept
	clear(m.index)
	for i := range m.devices {
		m.index[m.devices[i].ID] = i
	}
}

func (m Model) quit() (tea.Model, tea.Cmd) {
	m.quitting = true
	m.feed.close()
	return m, tea.Quit
}

// quitOrAsk quits, or first asks when a request the user started is
// still running: quitting cancels it.
func (m Model) quitOrAsk() (tea.Model, tea.Cmd) {
	if m.busyText() != "" { // requests, action runs in progress (actions_view.go), collections, pane lines
		m.confirmQuit = true
		return m, nil
	}
	return m.quit()
}

// confirmKey answers "quit anyway? y/n": y quits, any other key stays.
func (m Model) confirmKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	m.confirmQuit = false
	if msg.String() == "y" || msg.String() == "Y" {
		return m.quit()
	}
	return m, nil
}

// key routes a key press: ctrl+c first, then whatever has the keyboard
// (palette, filter input, help), then the keys every page shares, then
// the page's own.
func (m Model) key(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := &m.keys
	if nm, cmd, ok := m.modalKey(msg); ok { // the PowerShell pane, the action dialog
		return nm, cmd
	}
	if msg.String() == "ctrl+c" {
		if m.confirmQuit {
			return m.quit() // a second ctrl+c does not ask again
		}
		return m.quitOrAsk()
	}
	if m.confirmQuit {
		return m.confirmKey(msg)
	}
	if m.palette.open {
		return m.paletteKey(msg)
	}
	if m.grid.typing {
		return m.filterKey(msg), nil
	}
	if m.audit.typing {
		return m.auditFilterKey(msg), nil
	}
	if m.alerts.typing && m.page == pageAlerts {
		return m.alertFilterKey(msg), nil
	}
	if m.alerts.prompt != nil && m.page == pageAlerts {
		return m.alertPromptKey(msg) // the note takes every key, q and digits too
	}
	// An error stays until a key is pressed; esc only dismisses it.
	if m.toast.err && m.toast.text != "" {
		m.toast = toast{}
		if key.Matches(msg, k.Back) {
			return m, nil
		}
	}
	if m.showHelp {
		return m.helpKey(msg)
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.quitOrAsk()
	case key.Matches(msg, k.Help):
		m.showHelp, m.helpOffset = true, 0
		return m, nil
	case key.Matches(msg, k.Command):
		m.palette = palette{open: true, sel: -1}
		return m, nil
	}
	// 1..9 and 0 switch views (0: the tenth tab); alt+1..9 and alt+0 too,
	// as from the PowerShell pane's prompt (where the digits are typed),
	// so one habit works everywhere.
	if i := tabForKey(strings.TrimPrefix(msg.String(), "alt+")); i >= 0 {
		if tabs := m.tabs(); i < len(tabs) {
			return m.switchTo(tabs[i].id)
		}
		return m, nil
	}
	if nm, cmd, ok := m.deviceKey(msg); ok { // p and x on a device (actions.go)
		return nm, cmd
	}
	return pageOf(m.page).key(m, msg)
}

func (m Model) helpKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := &m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return m.quitOrAsk()
	case key.Matches(msg, k.Help, k.Back):
		m.showHelp = false
	case key.Matches(msg, k.Down):
		m.helpOffset++
	case key.Matches(msg, k.Up):
		m.helpOffset--
	case key.Matches(msg, k.PageDown, k.HalfDown):
		m.helpOffset += max(m.height/2, 1)
	case key.Matches(msg, k.PageUp, k.HalfUp):
		m.helpOffset -= max(m.height/2, 1)
	case key.Matches(msg, k.Top):
		m.helpOffset = 0
	case key.Matches(msg, k.Bottom):
		m.helpOffset = 1 << 30
	}
	m.clampScrolls()
	return m, nil
}

// printable drops control characters (a pasted newline, a tab) from text
// input.
func printable(r rune) rune {
	if unicode.IsPrint(r) {
		return r
	}
	return -1
}

// click handles a left click: the tab bar switches views, the rest goes
// to the page.
func (m Model) click(ms tea.Mouse) (tea.Model, tea.Cmd) {
	if ms.Button != tea.MouseLeft || m.showHelp || m.palette.open || m.tooSmall() {
		return m, nil
	}
	if ms.Y == tabsY {
		for _, t := range m.tabs() {
			if ms.X >= t.x && ms.X < t.x+t.width {
				return m.switchTo(t.id)
			}
		}
		return m, nil
	}
	if ms.Y >= bodyTop && ms.Y < m.height-1 {
		return pageOf(m.page).click(m, ms.X, ms.Y-bodyTop)
	}
	return m, nil
}

// wheel scrolls the page under the mouse.
func (m *Model) wheel(n int) {
	switch m.page {
	case pageDevices:
		m.scroll(n)
	case pageDetail:
		m.detail.offset += n
	case pageSettings:
		m.settings.pos.scroll(n, len(m.settings.items), m.settingsRows())
	case pageAlerts:
		m.alerts.pos.scroll(n, len(m.alerts.shown), m.listRows())
		m.alerts.follow()
	case pageSchedules:
		m.schedules.pos.scroll(n, len(m.schedules.jobs), m.listRows())
		m.schedules.follow()
	case pageAudit:
		m.audit.pos.scroll(n, len(m.audit.shown), m.listRows())
	case pageShell:
		if n < 0 {
			m.shell.view.ScrollUp(-n)
		} else {
			m.shell.view.ScrollDown(n)
		}
	case pageActions:
		m.actionsWheel(n)
	case pageCollections:
		m.colls.pos.scroll(n, len(m.colls.list), m.listRows())
	case pagePatches:
		m.patchesWheel(n)
	}
	m.clampScrolls()
}

func (m Model) tooSmall() bool {
	return m.width < MinWidth || m.height < MinHeight
}

// bodyHeight is the number of lines a page has.
func (m *Model) bodyHeight() int {
	return max(0, m.height-chromeLines)
}

// clampScrolls keeps the scrolled pages and the help within their content.
func (m *Model) clampScrolls() {
	m.detail.offset = min(max(m.detail.offset, 0), max(len(m.detailLines())-m.bodyHeight(), 0))
	m.settings.pos.clamp(len(m.settings.items), m.settingsRows())
	m.alerts.pos.clamp(len(m.alerts.shown), m.listRows())
	m.schedules.pos.clamp(len(m.schedules.jobs), m.listRows())
	m.audit.pos.clamp(len(m.audit.shown), m.listRows())
	m.helpOffset = min(max(m.helpOffset, 0), m.helpMaxOffset())
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
