package ui

import (
	"errors"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// The Actions view: the recent runs (ListRuns) with their progress, and
// the offline queue (ListQueue), whose entries can be cancelled. Enter on
// a run opens its progress: counts, a bar, the results grouped by outcome
// and per device; enter on a device shows its full output. The console
// reads the engine once a second while the view is shown, and every
// runPollEvery (longer for runs over 3,000 devices) while a run is open
// or a run this console started has not finished (a toast says when it does, and q asks before quitting). Those
// reads are brief (no device's stdout or stderr): the output view reads
// its one device's result in full (GetActionResult) when it opens and
// again when a read of the run shows that result changed.

// Polling intervals and list sizes.
const (
	runPollEvery = 300 * time.Millisecond
	// runPollPerDevice stretches runPollEvery for big runs: a read of a
	// run costs about 10 us per device, so a 10,000-device run is read
	// once a second, not three times (the reads stay under a tenth of a
	// core).
	runPollPerDevice = 100 * time.Microsecond
	listPollEvery    = time.Second
	runsShown        = 100
	groupsShown      = 5
)

// actionsState is the Actions view and the runs the console follows.
type actionsState struct {
	read     bool
	runs     []engine.RunSummary
	runsErr  error
	queue    []engine.QueueEntry
	queueErr error
	focus    int // 0: runs, 1: the offline queue
	runPos   listPos
	queuePos listPos

	open    string // the run shown in full; "" for the lists
	prog    *engine.RunProgress
	progErr error
	resPos  listPos
	output  bool // the selected device's output is shown
	outOff  int
	// full is the shown device's result with its output, as the last
	// GetActionResult read it; nil until then. fullSeq numbers those
	// reads, and fullApplied is the newest applied (or dropped: the
	// output closed), so a late answer never replaces a newer one.
	full        *engine.ActionResult
	fullErr     error
	fullSeq     int
	fullApplied int

	follow  map[string]followed // runs started here and not yet seen finished
	workSeq int                 // negative work ids for followed runs
	ticking bool                // a poll chain is running
	seq     int

	// shellSession is the PowerShell pane's open session, so that Close
	// (called on any copy of the Model) can end it.
	shellSession string

	// The open run when it is an ad-hoc command (command_view.go): read
	// grouped by output as well, shown as its groups, then one group's
	// hosts, then one host's output.
	openCmd  bool
	mask     bool // host names masked before grouping
	cmdRun   *engine.CommandRun
	cmdErr   error
	groupPos listPos
	group    int // -1: the groups; else the hosts of cmdRun.Groups[group]
}

// followed is a run this console started.
type followed struct {
	title   string
	workID  int
	total   int  // devices in the run
	command bool // an ad-hoc command: its toast gives the groups
}

// actionsTickMsg is the poll chain's clock.
type actionsTickMsg struct{}

// actionsMsg is what one poll read.
type actionsMsg struct {
	seq      int
	chain    bool // from the poll chain: schedule the next
	runs     []engine.RunSummary
	runsErr  error
	readRuns bool
	queue    []engine.QueueEntry
	queueErr error
	readQ    bool
	prog     map[string]engine.RunProgress
	progErr  map[string]error
	cmd      map[string]engine.CommandRun // command runs, grouped
	cmdErr   map[string]error
	mask     bool
}

// resultMsg is one device's full result (GetActionResult) for the
// output view.
type resultMsg struct {
	seq int
	id  int64
	res engine.ActionResult
	err error
}

// actionDoneMsg is a finished CancelRun or CancelQueued.
type actionDoneMsg struct {
	text string
	err  error
}

// openActions shows the view and starts reading the engine.
func openActions(m Model) (Model, tea.Cmd, error) {
	return m, m.pollActions(), nil
}

// pollActions starts the poll chain unless one runs.
func (m *Model) pollActions() tea.Cmd {
	if m.acts.ticking {
		return nil
	}
	m.acts.ticking = true
	return m.loadActions(true)
}

// pollNeeded reports whether the chain goes on, and how often.
func (m *Model) pollNeeded() (time.Duration, bool) {
	a := m.acts
	if len(a.follow) > 0 || (m.page == pageActions && a.open != "" && (a.prog == nil || !a.prog.Finished)) {
		devices := 0
		for _, f := range a.follow {
			devices = max(devices, f.total)
		}
		if a.open != "" && a.prog != nil {
			devices = max(devices, a.prog.Total)
		}
		return max(runPollEvery, time.Duration(devices)*runPollPerDevice), true
	}
	if m.page == pageActions {
		return listPollEvery, true
	}
	return 0, false
}

// loadActions reads what the view and the followed runs need. A load of
// the poll chain schedules the next; another (a key asking for fresh
// data now) does not.
func (m *Model) loadActions(chain bool) tea.Cmd {
	rq := m.feed.caps.req
	if rq == nil {
		if chain {
			m.acts.ticking = false
		}
		return nil
	}
	a := m.acts
	a.seq++
	msg := actionsMsg{seq: a.seq, chain: chain, prog: map[string]engine.RunProgress{}, progErr: map[string]error{},
		cmd: map[string]engine.CommandRun{}, cmdErr: map[string]error{}, mask: a.mask}
	var cmdIDs []string
	if m.page == pageActions && a.open != "" && a.openCmd {
		cmdIDs = append(cmdIDs, a.open)
	}
	for id, f := range a.follow {
		if f.command && !slices.Contains(cmdIDs, id) {
			cmdIDs = append(cmdIDs, id)
		}
	}
	lists := m.page == pageActions && a.open == ""
	var ids []string
	if m.page == pageActions && a.open != "" {
		ids = append(ids, a.open)
	}
	for id := range a.follow {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	ctx := m.feed.ctx
	return func() tea.Msg {
		if lists {
			msg.readRuns, msg.readQ = true, true
			msg.runs, msg.runsErr = engine.Ask(ctx, rq, engine.ListRuns{Limit: runsShown})
			msg.queue, msg.queueErr = engine.Ask(ctx, rq, engine.ListQueue{})
		}
		for _, id := range ids {
			if p, err := engine.Ask(ctx, rq, engine.GetRun{RunID: id, Brief: true}); err == nil {
				msg.prog[id] = p
			} else {
				msg.progErr[id] = err
			}
		}
		for _, id := range cmdIDs {
			if c, err := engine.Ask(ctx, rq, engine.GetCommandRun{RunID: id, MaskHost: msg.mask}); err == nil {
				msg.cmd[id] = c
			} else {
				msg.cmdErr[id] = err
			}
		}
		return msg
	}
}

// actionsUpdate takes the messages of the dialog, the view and the pane.
func (m Model) actionsUpdate(msg tea.Msg) (Model, tea.Cmd, bool) {
	switch msg := msg.(type) {
	case shellMsg:
		return m, m.shellDone(msg), true
	case shellClosedMsg:
		if msg.err != nil {
			return m, m.notify(msg.err.Error(), true), true
		}
		return m, nil, true
	case runStartedMsg:
		return m.runStarted(msg)
	case actionsTickMsg:
		if _, ok := m.pollNeeded(); !ok || m.quitting {
			m.acts.ticking = false
			return m, nil, true
		}
		return m, m.loadActions(true), true
	case actionsMsg:
		return m, m.actionsLoaded(msg), true
	case resultMsg:
		m.resultLoaded(msg)
		return m, nil, true
	case actionDoneMsg:
		if msg.err != nil {
			return m, m.notify(msg.err.Error(), true), true
		}
		return m, m.notify(msg.text, false), true
	}
	return m, nil, false
}

// runStarted takes a finished StartRun: the Actions view opens on the
// run, and the console follows it.
func (m Model) runStarted(msg runStartedMsg) (Model, tea.Cmd, bool) {
	m.dialog, m.cmd = nil, nil
	if msg.err != nil {
		return m, m.notify(msg.err.Error(), true), true
	}
	a := m.acts
	if a.follow == nil {
		a.follow = map[string]followed{}
	}
	a.workSeq--
	a.follow[msg.info.ID] = followed{title: msg.name, workID: a.workSeq, total: msg.info.Total, command: msg.command}
	m.work = append(slices.Clone(m.work), work{id: a.workSeq, what: "the run " + msg.name})
	a.open, a.prog, a.progErr, a.resPos = msg.info.ID, nil, nil, listPos{}
	a.openRun(msg.command)
	if msg.command {
		a.mask = msg.mask
	}
	m.showOutput(false)
	m.clearMarks() // the marks did their job
	m.page = pageActions
	toast := m.notify(msg.name+": started on "+Thousands(msg.info.Total)+" "+plural(msg.info.Total, "device", "devices"), false)
	return m, tea.Batch(toast, m.pollActions()), true
}

// actionsLoaded applies a poll, toasts the followed runs that finished,
// and schedules the next poll.
func (m *Model) actionsLoaded(msg actionsMsg) (cmd tea.Cmd) {
	a := m.acts
	if msg.chain {
		defer func() {
			if d, ok := m.pollNeeded(); ok && !m.quitting {
				cmd = tea.Batch(cmd, tea.Tick(d, func(time.Time) tea.Msg { return actionsTickMsg{} }))
			} else {
				a.ticking = false
			}
		}()
	}
	if msg.seq != a.seq {
		return nil // a newer load is on its way; the chain goes on
	}
	if msg.readRuns {
		a.read, a.runs, a.runsErr = true, msg.runs, msg.runsErr
		a.queue, a.queueErr = msg.queue, msg.queueErr
		a.runPos.clamp(len(a.runs), m.actionsListRows(0))
		a.queuePos.clamp(len(a.queue), m.actionsListRows(1))
	}
	var cmds []tea.Cmd
	if a.open != "" && a.openCmd && msg.mask == a.mask {
		if c, ok := msg.cmd[a.open]; ok {
			a.cmdRun, a.cmdErr = &c, nil
			a.clampCommand(m)
		} else if err, ok := msg.cmdErr[a.open]; ok {
			a.cmdErr = err
		}
	}
	if a.open != "" {
		if p, ok := msg.prog[a.open]; ok {
			a.prog, a.progErr = &p, nil
			a.resPos.clamp(len(p.Results), m.runRows())
			cmds = append(cmds, m.loadResult())
		} else if err, ok := msg.progErr[a.open]; ok {
			a.progErr = err
		}
	}
	for id, f := range a.follow {
		p, ok := msg.prog[id]
		if !ok {
			if _, failed := msg.progErr[id]; failed {
				m.unfollow(id) // the engine cannot say: stop waiting for it
			}
			continue
		}
		if i := slices.IndexFunc(m.work, func(w work) bool { return w.id == f.workID }); i >= 0 {
			m.work = slices.Clone(m.work)
			m.work[i].what = "the run " + f.title + " (" + Thousands(runDone(p.RunSummary)) + "/" + Thousands(p.Total) + " done)"
		}
		if p.Finished {
			text := f.title + " finished: " + runCounts(p.RunSummary)
			if c, ok := msg.cmd[id]; ok && f.command && c.Finished {
				text = f.title + " finished: " + m.clean(oneLine(engine.FormatOutputGroups(c.Groups)))
			} else if f.command {
				continue // its grouped read shows the run still going: wait for the next
			}
			m.unfollow(id)
			cmds = append(cmds, m.notify(text, false))
		}
	}
	return tea.Batch(cmds...)
}

// shownResult is the device result the output view shows, as the last
// (brief) read of the run has it.
func (m *Model) shownResult() (engine.ActionResult, bool) {
	a := m.acts
	rs := m.runResults()
	if a.prog == nil || a.resPos.cursor >= len(rs) {
		return engine.ActionResult{}, false
	}
	return rs[a.resPos.cursor], true
}

// runResults are the open run's device results the view lists: every
// device, or for a command run the open group's.
func (m *Model) runResults() []engine.ActionResult {
	a := m.acts
	if a.prog == nil {
		return nil
	}
	if !a.openCmd || a.cmdRun == nil || a.group < 0 || a.group >= len(a.cmdRun.Groups) {
		return a.prog.Results
	}
	in := make(map[int64]bool, a.cmdRun.Groups[a.group].Count)
	for _, r := range a.cmdRun.Results {
		if r.Group == a.group {
			in[r.ID] = true
		}
	}
	out := make([]engine.ActionResult, 0, len(in))
	for _, r := range a.prog.Results {
		if in[r.ID] {
			out = append(out, r)
		}
	}
	return out
}

// showOutput opens (reading the device's full result) or closes the
// output view; an answer still on its way for an earlier view is dropped.
func (m *Model) showOutput(on bool) tea.Cmd {
	a := m.acts
	a.output, a.outOff, a.full, a.fullErr, a.fullApplied = on, 0, nil, nil, a.fullSeq
	return m.loadResult()
}

// loadResult reads the shown device's full result when the output view
// is open and has none, or has one that the run's last read shows
// changed (its output is written with its status, attempts and finish
// time). Else it returns nil.
func (m *Model) loadResult() tea.Cmd {
	a := m.acts
	r, ok := m.shownResult()
	if !a.output || !ok || (a.full != nil && sameResultState(*a.full, r)) {
		return nil
	}
	rq := m.feed.caps.req
	if rq == nil {
		a.fullErr = errors.New("this console cannot send requests to the engine")
		return nil
	}
	a.fullSeq++
	seq, id, ctx := a.fullSeq, r.ID, m.feed.ctx
	return func() tea.Msg {
		full, err := engine.Ask(ctx, rq, engine.GetActionResult{ID: id})
		return resultMsg{seq: seq, id: id, res: full, err: err}
	}
}

// sameResultState reports whether two reads of a device's result are of
// the same state.
func sameResultState(a, b engine.ActionResult) bool {
	return a.ID == b.ID && a.Status == b.Status && a.Message == b.Message && a.Attempts == b.Attempts &&
		a.FinishedAt.Equal(b.FinishedAt)
}

// resultLoaded applies a GetActionResult answer unless a newer one was
// applied, the output view closed, or it is of another device.
func (m *Model) resultLoaded(msg resultMsg) {
	a := m.acts
	r, ok := m.shownResult()
	if msg.seq <= a.fullApplied || !a.output || !ok || r.ID != msg.id {
		return
	}
	a.fullApplied = msg.seq
	if msg.err != nil {
		a.fullErr = msg.err
		return
	}
	a.full, a.fullErr = &msg.res, nil
}

// unfollow stops following a run, and its quit question.
func (m *Model) unfollow(id string) {
	f := m.acts.follow[id]
	delete(m.acts.follow, id)
	if i := slices.IndexFunc(m.work, func(w work) bool { return w.id == f.workID }); i >= 0 {
		m.work = slices.Delete(slices.Clone(m.work), i, i+1)
	}
	if len(m.work) == 0 {
		m.confirmQuit = false
	}
}

// runDone counts the devices a run is done with.
func runDone(s engine.RunSummary) int {
	return s.Completed + s.Failed + s.Cancelled + s.Expired
}

// runCounts is "48 Completed, 2 Failed, 1 Queued": the non-zero counts.
func runCounts(s engine.RunSummary) string {
	var parts []string
	for _, c := range []struct {
		n    int
		name string
	}{{s.Completed, engine.ActionCompleted}, {s.Failed, engine.ActionFailed}, {s.Queued, engine.ActionQueued},
		{s.Running, engine.ActionRunning}, {s.Pending, engine.ActionPending}, {s.Cancelled, engine.ActionCancelled}, {s.Expired, engine.ActionExpired}} {
		if c.n > 0 {
			parts = append(parts, Thousands(c.n)+" "+c.name)
		}
	}
	if len(parts) == 0 {
		return "no devices"
	}
	return strings.Join(parts, ", ")
}

// runState is a run's one-word state.
func runState(s engine.RunSummary) string {
	switch {
	case !s.Finished:
		return "Running"
	case s.Cancelled > 0:
		return "Cancelled"
	case s.Failed > 0 || s.Expired > 0:
		return "Failed"
	case s.Queued > 0:
		return "Queued"
	}
	return "Completed"
}

// actionsListRows is how many rows each list of the view shows: the page
// is shared by the runs (list 0) and the queue (list 1).
func (m *Model) actionsListRows(list int) int {
	avail := max(m.bodyHeight()-4, 2) // two section titles, two column title lines
	runs := max(avail*3/5, 1)
	if list == 0 {
		return runs
	}
	return max(avail-runs, 1)
}

// runRows is how many result rows the run view shows.
func (m *Model) runRows() int {
	if m.acts.openCmd {
		return max(m.bodyHeight()-commandHead-2-listFooter, 1)
	}
	return max(m.bodyHeight()-6-min(groupsShown, m.groupCount())-listFooter, 1)
}

func (m *Model) groupCount() int {
	if m.acts.prog == nil {
		return 0
	}
	return len(m.acts.prog.Groups)
}

// actionsKey handles the view's keys.
func actionsKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	a := m.acts
	k := &m.keys
	switch {
	case a.open != "" && a.output:
		switch {
		case key.Matches(msg, k.Back):
			return m, m.showOutput(false)
		case key.Matches(msg, k.Up):
			a.outOff--
		case key.Matches(msg, k.Down):
			a.outOff++
		case key.Matches(msg, k.PageUp, k.HalfUp):
			a.outOff -= max(m.bodyHeight()/2, 1)
		case key.Matches(msg, k.PageDown, k.HalfDown):
			a.outOff += max(m.bodyHeight()/2, 1)
		case key.Matches(msg, k.Top):
			a.outOff = 0
		}
		a.outOff = max(a.outOff, 0)
		return m, nil
	case a.open != "" && a.openCmd:
		return m.commandRunKey(msg)
	case a.open != "":
		n := 0
		if a.prog != nil {
			n = len(a.prog.Results)
		}
		switch {
		case key.Matches(msg, k.Back):
			a.open, a.prog, a.progErr = "", nil, nil
			return m, tea.Batch(m.loadActions(false), m.pollActions())
		case key.Matches(msg, k.Open):
			if n > 0 {
				return m, m.showOutput(true)
			}
		case key.Matches(msg, k.Cancel):
			if m.denied(engine.PermActionsRun, "cancelling a run") {
				return m, nil
			}
			return m, m.cancelRun(a.open)
		case key.Matches(msg, k.ExportRun):
			m.palette = palette{open: true, sel: -1, input: "export-results csv rmm-run-" + a.open + ".csv"}
		default:
			a.resPos.move(k, msg, n, m.runRows())
		}
		return m, nil
	}
	switch {
	case msg.String() == "tab" || msg.String() == "shift+tab":
		a.focus = 1 - a.focus
	case key.Matches(msg, k.Back):
		m.page = pageDevices
	case key.Matches(msg, k.Open):
		if a.focus == 0 && a.runPos.cursor < len(a.runs) {
			a.open, a.prog, a.progErr, a.resPos = a.runs[a.runPos.cursor].ID, nil, nil, listPos{}
			a.openRun(a.runs[a.runPos.cursor].Action == engine.ActCommand)
			m.showOutput(false)
			return m, tea.Batch(m.loadActions(false), m.pollActions())
		}
	case key.Matches(msg, k.Cancel):
		if a.focus == 0 && a.runPos.cursor < len(a.runs) {
			if m.denied(engine.PermActionsRun, "cancelling a run") {
				return m, nil
			}
			return m, m.cancelRun(a.runs[a.runPos.cursor].ID)
		}
		if a.focus == 1 && a.queuePos.cursor < len(a.queue) {
			if m.denied(engine.PermQueueEdit, "cancelling a queued action") {
				return m, nil
			}
			e := a.queue[a.queuePos.cursor]
			return m, m.actionRequest(engine.CancelQueued{ID: e.ID}, "cancelled queued "+e.Action+" on "+e.Host)
		}
	default:
		if a.focus == 0 {
			a.runPos.move(k, msg, len(a.runs), m.actionsListRows(0))
		} else {
			a.queuePos.move(k, msg, len(a.queue), m.actionsListRows(1))
		}
	}
	return m, nil
}

// actionsClick selects the clicked row: a run or a queue entry in the
// lists, a device in an open run.
func actionsClick(m Model, _, y int) (Model, tea.Cmd) {
	a := m.acts
	switch {
	case a.open != "" && a.output:
	case a.open != "" && a.openCmd:
		// Rows start under the head lines and the list's titles.
		if a.group < 0 && a.cmdRun != nil {
			a.groupPos.click(y-commandHead, len(a.cmdRun.Groups), m.groupRows())
		} else if a.group >= 0 {
			a.resPos.click(y-commandHead, len(m.runResults()), m.runRows())
		}
	case a.open != "":
		if a.prog != nil {
			titles := 4 + min(groupsShown, len(a.prog.Groups)) // header, bar, counts, the groups, a blank line
			if len(a.prog.Groups) > groupsShown {
				titles++
			}
			a.resPos.click(y-titles+1, len(a.prog.Results), m.runRows())
		}
	default:
		vis := m.actionsListRows(0)
		if y >= 2 && y < 2+vis {
			a.focus = 0
			a.runPos.click(y-1, len(a.runs), vis)
		} else if y >= 4+vis {
			a.focus = 1
			a.queuePos.click(y-3-vis, len(a.queue), m.actionsListRows(1))
		}
	}
	return m, nil
}

// cancelRun asks the engine to cancel a run.
func (m *Model) cancelRun(id string) tea.Cmd {
	return m.actionRequest(engine.CancelRun{RunID: id}, "cancelling run "+id)
}

// actionRequest sends a request whose outcome is a toast.
func (m *Model) actionRequest(r engine.Request, done string) tea.Cmd {
	rq, ctx := m.feed.caps.req, m.feed.ctx
	if rq == nil {
		return m.notify(r.Action()+": this console cannot send requests to the engine", true)
	}
	return func() tea.Msg {
		_, err := rq.Do(ctx, r)
		return actionDoneMsg{text: done, err: err}
	}
}

// actionsHelpItems is the status line's help for the view.
func (m *Model) actionsHelpItems() []helpItem {
	k := &m.keys
	move := helpItem{moveLabel(k), "move"}
	a := m.acts
	switch {
	case a.open != "" && a.output:
		return []helpItem{{moveLabel(k), "scroll"}, item(k.Back, "back")}
	case a.open != "" && a.openCmd:
		return m.commandRunHelpItems()
	case a.open != "":
		items := []helpItem{move, item(k.Open, "output")}
		if m.may(engine.PermActionsRun) {
			items = append(items, item(k.Cancel, "cancel run"))
		}
		return append(items, item(k.ExportRun, "export"), item(k.Back, "back"))
	}
	items := []helpItem{move, {"tab", "runs/queue"}, item(k.Open, "open run")}
	if m.may(engine.PermActionsRun) {
		items = append(items, item(k.Cancel, "cancel"))
	}
	return append(items, item(k.Back, "back"))
}

// actionsWheel scrolls the list, the results or the output under the
// mouse.
func (m *Model) actionsWheel(n int) {
	a := m.acts
	switch {
	case a.open != "" && a.output:
		a.outOff = max(a.outOff+n, 0)
	case a.open != "" && a.openCmd && a.group < 0 && a.cmdRun != nil:
		a.groupPos.scroll(n, len(a.cmdRun.Groups), m.groupRows())
	case a.open != "" && a.prog != nil:
		a.resPos.scroll(n, len(m.runResults()), m.runRows())
	case a.focus == 0:
		a.runPos.scroll(n, len(a.runs), m.actionsListRows(0))
	default:
		a.queuePos.scroll(n, len(a.queue), m.actionsListRows(1))
	}
}
