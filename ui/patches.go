package ui

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// The Patches view: the fleet as hosts by updates. The updates list
// counts, per update, the devices in each state (needs approval,
// approved, installing, failed, needs a restart); the hosts list counts,
// per device, its updates, with its compliance and its install job.
// Compliance per ring (and the fleet's) is on the first line. Enter on a
// host opens its updates, jobs and history; enter on an update its
// decisions per ring. An Operator approves (a) or denies (d) the selected
// update for the selected ring (R), approves every shown update (A),
// installs (i: the selected update on the ring's devices, or on the
// selected host; I: everything approved on the ring), scans (r) and
// cancels a host's job (x); each asks y/n first. A Viewer sees the same,
// and the keys say which role they need. Everything is read through the
// engine's requests (ListPatches, GetDevicePatches) every second or two
// while the view is shown.

// PatchSource marks a client whose engine does patch management (its
// rings): the console then has the Patches view. *engine.Engine
// implements it.
type PatchSource interface {
	PatchRings() []string
}

// patchesState is the Patches view.
type patchesState struct {
	read    bool
	fleet   engine.PatchFleet
	err     error
	hosts   bool // the hosts list; else the updates list
	upos    listPos
	hpos    listPos
	selID   string // the selected update, followed across reads
	selHost string // the selected host
	state   engine.PatchState
	class   string
	ring    string // the ring approvals and installs are for

	device  *engine.PatchDeviceView // a host opened with enter; nil: the lists
	devErr  error
	devPos  listPos
	update  string // an update opened with enter; "" when none
	confirm *patchConfirm
	seq     int
	ticks   int
}

// patchConfirm is a request waiting for y.
type patchConfirm struct {
	text string
	req  engine.Request
	what string
}

// patchesMsg is a read of the fleet (and of the opened host).
type patchesMsg struct {
	seq    int
	fleet  engine.PatchFleet
	err    error
	device *engine.PatchDeviceView
	devErr error
	host   string
}

// patchDoneMsg is a finished approval, install, scan or cancel.
type patchDoneMsg struct {
	text string
	err  error
}

func openPatches(m Model) (Model, tea.Cmd, error) {
	return m, m.loadPatches(), nil
}

// loadPatches reads the fleet (and the opened host) in a command.
func (m *Model) loadPatches() tea.Cmd {
	rq := m.feed.caps.req
	if rq == nil {
		return nil
	}
	p := &m.patches
	p.seq++
	seq, ctx, host := p.seq, m.feed.ctx, ""
	if p.device != nil {
		host = p.device.Host.Hostname
	}
	return func() tea.Msg {
		msg := patchesMsg{seq: seq, host: host}
		msg.fleet, msg.err = engine.Ask(ctx, rq, engine.ListPatches{})
		if host != "" {
			v, err := engine.Ask(ctx, rq, engine.GetDevicePatches{Host: host})
			msg.device, msg.devErr = &v, err
		}
		return msg
	}
}

// patchesTick reads again while the view is shown: every second while a
// job runs or a host is open, else every third.
func (m *Model) patchesTick() tea.Cmd {
	if m.page != pagePatches {
		return nil
	}
	p := &m.patches
	p.ticks++
	busy := p.device != nil
	for _, h := range p.fleet.Hosts {
		if h.Job != nil {
			busy = true
			break
		}
	}
	if busy || p.ticks%3 == 0 || !p.read {
		return m.loadPatches()
	}
	return nil
}

// patchesUpdate takes the view's messages.
func (m Model) patchesUpdate(msg tea.Msg) (Model, tea.Cmd, bool) {
	switch msg := msg.(type) {
	case patchesMsg:
		p := &m.patches
		if msg.seq != p.seq {
			return m, nil, true
		}
		p.read = true
		if msg.err != nil {
			p.err = msg.err
		} else {
			p.fleet, p.err = msg.fleet, nil
		}
		if msg.host != "" && p.device != nil && p.device.Host.Hostname == msg.host {
			if msg.devErr != nil {
				p.devErr = msg.devErr
			} else {
				p.device, p.devErr = msg.device, nil
			}
		}
		if p.ring == "" || !slices.Contains(p.fleet.Rings, p.ring) {
			p.ring = ""
			if len(p.fleet.Rings) > 0 {
				p.ring = p.fleet.Rings[0]
			}
		}
		m.followPatches()
		return m, nil, true
	case patchDoneMsg:
		if msg.err != nil {
			return m, tea.Batch(m.notify(msg.err.Error(), true), m.loadPatches()), true
		}
		return m, tea.Batch(m.notify(msg.text, false), m.loadPatches()), true
	}
	return m, nil, false
}

// shownUpdates are the updates the filters let through.
func (m *Model) shownUpdates() []engine.PatchUpdateRow {
	p := &m.patches
	out := make([]engine.PatchUpdateRow, 0, len(p.fleet.Updates))
	for _, u := range p.fleet.Updates {
		if p.state != "" && u.Counts[p.state] == 0 || p.class != "" && u.Classification != p.class {
			continue
		}
		out = append(out, u)
	}
	return out
}

// shownHosts are the hosts the state filter lets through, those with an
// install job first (their progress on top), then by hostname.
func (m *Model) shownHosts() []engine.PatchHostRow {
	p := &m.patches
	out := make([]engine.PatchHostRow, 0, len(p.fleet.Hosts))
	for _, h := range p.fleet.Hosts {
		if p.state == "" || h.Counts[p.state] > 0 {
			out = append(out, h)
		}
	}
	slices.SortStableFunc(out, func(a, b engine.PatchHostRow) int {
		switch {
		case (a.Job == nil) == (b.Job == nil):
			return 0
		case a.Job != nil:
			return -1
		}
		return 1
	})
	return out
}

// followPatches puts the cursors back on the selected update and host.
func (m *Model) followPatches() {
	p := &m.patches
	us, hs := m.shownUpdates(), m.shownHosts()
	if i := slices.IndexFunc(us, func(u engine.PatchUpdateRow) bool { return u.UpdateID == p.selID }); i >= 0 {
		p.upos.cursor = i
	}
	if i := slices.IndexFunc(hs, func(h engine.PatchHostRow) bool { return h.Hostname == p.selHost }); i >= 0 {
		p.hpos.cursor = i
	}
	rows := m.patchRows()
	p.upos.clamp(len(us), rows)
	p.hpos.clamp(len(hs), rows)
	if len(us) > 0 {
		p.selID = us[p.upos.cursor].UpdateID
	}
	if len(hs) > 0 {
		p.selHost = hs[p.hpos.cursor].Hostname
	}
	if p.device != nil {
		p.devPos.clamp(len(p.device.Updates), rows-2)
	}
}

// pickPatches records the rows under the cursors as the selection.
func (m *Model) pickPatches() {
	p := &m.patches
	if us := m.shownUpdates(); len(us) > 0 {
		p.selID = us[min(p.upos.cursor, len(us)-1)].UpdateID
	}
	if hs := m.shownHosts(); len(hs) > 0 {
		p.selHost = hs[min(p.hpos.cursor, len(hs)-1)].Hostname
	}
}

// patchRows is how many rows the lists show: the body less the summary
// line, the column titles and the footer.
func (m *Model) patchRows() int { return max(m.bodyHeight()-2-listFooter, 1) }

func (m *Model) selectedUpdate() (engine.PatchUpdateRow, bool) {
	us := m.shownUpdates()
	if len(us) == 0 {
		return engine.PatchUpdateRow{}, false
	}
	return us[min(m.patches.upos.cursor, len(us)-1)], true
}

func (m *Model) selectedHost() (engine.PatchHostRow, bool) {
	hs := m.shownHosts()
	if len(hs) == 0 {
		return engine.PatchHostRow{}, false
	}
	return hs[min(m.patches.hpos.cursor, len(hs)-1)], true
}

// ringHosts are the hosts of a ring.
func (m *Model) ringHosts(ring string) []string {
	var out []string
	for _, h := range m.patches.fleet.Hosts {
		if h.Ring == ring {
			out = append(out, h.Hostname)
		}
	}
	return out
}

// cycle returns the entry after cur in list ("" first), wrapping.
func cycle[T comparable](list []T, cur T) T {
	var zero T
	all := append([]T{zero}, list...)
	i := slices.Index(all, cur)
	return all[(i+1)%len(all)]
}

// classes are the classifications some update of the fleet has.
func (m *Model) classes() []string {
	var out []string
	for _, u := range m.patches.fleet.Updates {
		if !slices.Contains(out, u.Classification) {
			out = append(out, u.Classification)
		}
	}
	return out
}

// ask puts a request up for y/n.
func (m *Model) ask(text, what string, r engine.Request) {
	m.patches.confirm = &patchConfirm{text: text, req: r, what: what}
}

// sendPatch runs a patch request; its outcome becomes a toast.
func (m *Model) sendPatch(r engine.Request, what string) tea.Cmd {
	rq := m.feed.caps.req
	if rq == nil {
		return m.notify(r.Action()+": this console cannot send requests to the engine", true)
	}
	ctx := m.feed.ctx
	return func() tea.Msg {
		res, err := rq.Do(ctx, r)
		if err != nil {
			return patchDoneMsg{err: err}
		}
		return patchDoneMsg{text: patchOutcome(r, res, what)}
	}
}

// patchOutcome says what a finished request did.
func patchOutcome(r engine.Request, res any, what string) string {
	switch v := res.(type) {
	case []engine.PatchDecision:
		n := len(v)
		waits := 0
		for _, d := range v {
			if d.Decision == "approved" && d.Effect != "installable now" {
				waits++
			}
		}
		s := fmt.Sprintf("%s: %d decision(s) recorded", what, n)
		if waits > 0 {
			s += fmt.Sprintf(", %d wait for the ring's gate", waits)
		}
		return s
	case engine.PatchRunInfo:
		started, nothing := 0, 0
		for _, j := range v.Jobs {
			if j.Finished() {
				nothing++
			} else {
				started++
			}
		}
		return fmt.Sprintf("%s: %d job(s) started, %d with nothing to install (run %s)", what, started, nothing, v.RunID)
	case []engine.PatchScanResult:
		failed := 0
		for _, s := range v {
			if s.Error != "" {
				failed++
			}
		}
		return fmt.Sprintf("%s: %d scanned, %d failed", what, len(v)-failed, failed)
	case []engine.PatchJobInfo:
		return fmt.Sprintf("%s: %d job(s) cancelled", what, len(v))
	}
	return what + ": done"
}

// patchesKey handles the view's keys.
func patchesKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := &m.keys
	p := &m.patches
	if p.confirm != nil {
		c := p.confirm
		switch msg.String() {
		case "y", "Y":
			p.confirm = nil
			return m, m.sendPatch(c.req, c.what)
		case "n", "N", "esc":
			p.confirm = nil
			return m, m.notify(c.what+": not sent", false)
		}
		return m, nil
	}
	rows := m.patchRows()
	switch {
	case p.device != nil:
		if p.devPos.move(k, msg, len(p.device.Updates), rows-2) {
			return m, nil
		}
	case p.update != "":
	case p.hosts:
		if p.hpos.move(k, msg, len(m.shownHosts()), rows) {
			m.pickPatches()
			return m, nil
		}
	default:
		if p.upos.move(k, msg, len(m.shownUpdates()), rows) {
			m.pickPatches()
			return m, nil
		}
	}
	switch {
	case key.Matches(msg, k.Back):
		switch {
		case p.device != nil:
			p.device, p.devErr = nil, nil
		case p.update != "":
			p.update = ""
		default:
			m.page = pageDevices
		}
	case key.Matches(msg, k.Open):
		if p.device != nil || p.update != "" {
			return m, nil
		}
		if p.hosts {
			if h, ok := m.selectedHost(); ok {
				p.device, p.devErr, p.devPos = &engine.PatchDeviceView{Host: h}, nil, listPos{}
				return m, m.loadPatches()
			}
		} else if u, ok := m.selectedUpdate(); ok {
			p.update = u.UpdateID
		}
	case key.Matches(msg, k.PatchView):
		if p.device == nil && p.update == "" {
			p.hosts = !p.hosts
		}
	case key.Matches(msg, k.PatchState):
		states := engine.PatchStates()
		p.state = cycle(states[:len(states)-1], p.state) // installed counts no missing update
		m.followPatches()
	case key.Matches(msg, k.PatchClass):
		p.class = cycle(m.classes(), p.class)
		m.followPatches()
	case key.Matches(msg, k.PatchRing):
		if len(p.fleet.Rings) > 0 {
			if next := cycle(p.fleet.Rings, p.ring); next != "" {
				p.ring = next
			} else {
				p.ring = p.fleet.Rings[0]
			}
		}
	case key.Matches(msg, k.PatchApprove), key.Matches(msg, k.PatchDeny):
		deny := key.Matches(msg, k.PatchDeny)
		verb := map[bool]string{false: "approving", true: "denying"}[deny]
		if m.denied(engine.PermPatchesApprove, verb+" updates") {
			return m, nil
		}
		u, ok := m.focusedUpdate()
		if !ok || p.ring == "" {
			return m, m.notify("no update selected", true)
		}
		name := updateName(u)
		verbT := map[bool]string{false: "Approve", true: "Deny"}[deny]
		m.ask(fmt.Sprintf("%s %s for ring %s? y/n", verbT, name, p.ring), strings.ToLower(verbT)+" "+name,
			engine.ApprovePatches{Ring: p.ring, KBs: []string{u.UpdateID}, Deny: deny})
	case key.Matches(msg, k.PatchApproveAll):
		if m.denied(engine.PermPatchesApprove, "approving updates") {
			return m, nil
		}
		us := m.shownUpdates()
		var ids []string
		for _, u := range us {
			if st := u.Rings[p.ring]; st == string(engine.PatchNeedsApproval) {
				ids = append(ids, u.UpdateID)
			}
		}
		if len(ids) == 0 {
			return m, m.notify("no shown update needs approval for ring "+p.ring, false)
		}
		m.ask(fmt.Sprintf("Approve the %d shown update(s) that need approval for ring %s? y/n", len(ids), p.ring),
			"approve "+strconv.Itoa(len(ids))+" update(s)", engine.ApprovePatches{Ring: p.ring, KBs: ids})
	case key.Matches(msg, k.PatchInstall):
		if m.denied(engine.PermPatchesInstall, "installing updates") {
			return m, nil
		}
		if h, ok := m.focusedHost(); ok {
			m.ask(fmt.Sprintf("Install the approved updates on %s (restart in its maintenance window)? y/n", h),
				"install on "+h, engine.InstallPatches{Target: engine.RunTarget{Hosts: []string{h}}})
			return m, nil
		}
		u, ok := m.focusedUpdate()
		hosts := m.ringHosts(p.ring)
		if !ok || len(hosts) == 0 {
			return m, m.notify("no update selected, or no device in ring "+p.ring, true)
		}
		m.ask(fmt.Sprintf("Install %s on ring %s (%d devices; restarts in maintenance windows)? y/n", updateName(u), p.ring, len(hosts)),
			"install "+updateName(u), engine.InstallPatches{Target: engine.RunTarget{Hosts: hosts}, KBs: []string{u.UpdateID}})
	case key.Matches(msg, k.PatchInstallAll):
		if m.denied(engine.PermPatchesInstall, "installing updates") {
			return m, nil
		}
		hosts := m.ringHosts(p.ring)
		if len(hosts) == 0 {
			return m, m.notify("no device in ring "+p.ring, true)
		}
		m.ask(fmt.Sprintf("Install every approved update on ring %s (%d devices; restarts in maintenance windows)? y/n", p.ring, len(hosts)),
			"install on ring "+p.ring, engine.InstallPatches{Target: engine.RunTarget{Hosts: hosts}})
	case key.Matches(msg, k.PatchScan):
		if m.denied(engine.PermDevicesPoll, "scanning") {
			return m, nil
		}
		if h, ok := m.focusedHost(); ok {
			return m, m.sendPatch(engine.ScanPatches{Target: engine.RunTarget{Hosts: []string{h}}}, "scan of "+h)
		}
		hosts := m.ringHosts(p.ring)
		if len(hosts) == 0 {
			return m, m.notify("no device in ring "+p.ring, true)
		}
		m.ask(fmt.Sprintf("Scan ring %s (%d devices)? y/n", p.ring, len(hosts)), "scan of ring "+p.ring,
			engine.ScanPatches{Target: engine.RunTarget{Hosts: hosts}})
	case key.Matches(msg, k.PatchCancel):
		if m.denied(engine.PermPatchesInstall, "cancelling installs") {
			return m, nil
		}
		h, ok := m.focusedHost()
		if !ok {
			return m, nil
		}
		m.ask("Cancel the install job on "+h+" (its task is stopped and removed)? y/n", "cancel on "+h,
			engine.CancelPatches{Hosts: []string{h}})
	}
	return m, nil
}

// focusedUpdate is the update the keys act on: the opened one, the
// selected one in the device view, or the selected row.
func (m *Model) focusedUpdate() (engine.PatchUpdateRow, bool) {
	p := &m.patches
	switch {
	case p.device != nil:
		if len(p.device.Updates) == 0 {
			return engine.PatchUpdateRow{}, false
		}
		return p.device.Updates[min(p.devPos.cursor, len(p.device.Updates)-1)].PatchUpdateRow, true
	case p.update != "":
		i := slices.IndexFunc(p.fleet.Updates, func(u engine.PatchUpdateRow) bool { return u.UpdateID == p.update })
		if i < 0 {
			return engine.PatchUpdateRow{}, false
		}
		return p.fleet.Updates[i], true
	case p.hosts:
		return engine.PatchUpdateRow{}, false
	}
	return m.selectedUpdate()
}

// focusedHost is the host the keys act on, in the hosts list or its view.
func (m *Model) focusedHost() (string, bool) {
	p := &m.patches
	switch {
	case p.device != nil:
		return p.device.Host.Hostname, true
	case p.hosts && p.update == "":
		h, ok := m.selectedHost()
		return h.Hostname, ok
	}
	return "", false
}

func updateName(u engine.PatchUpdateRow) string {
	if u.KB != "" {
		return u.KB
	}
	return u.Title
}

// classShort is a classification in a narrow column.
func classShort(c string) string {
	switch c {
	case "Security Updates":
		return "Security"
	case "Critical Updates":
		return "Critical"
	case "Definition Updates":
		return "Definition"
	case "Update Rollups":
		return "Rollup"
	case "Feature Packs":
		return "Feature"
	case "Service Packs":
		return "ServicePack"
	}
	return c
}

// pctText is a compliance row's percentage, or n/a.
func pctText(c engine.ComplianceRow) string {
	if c.Scanned == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(c.Percent, 'f', 1, 64) + "%"
}

// patchesBody renders the view.
func (m *Model) patchesBody(height int) []string {
	th, g := &m.theme, &m.theme.Glyphs
	p := &m.patches
	switch {
	case !p.read:
		return []string{m.centered("reading the patch picture"+g.Ellipsis, height)}
	case p.err != nil && len(p.fleet.Hosts) == 0:
		return []string{m.centered(m.clean(oneLine(p.err.Error())), height)}
	}
	out := []string{m.patchSummary()}
	switch {
	case p.device != nil:
		out = append(out, m.patchDeviceBody(height-1)...)
	case p.update != "":
		out = append(out, m.patchUpdateBody(height-1)...)
	case len(p.fleet.Updates) == 0 && !p.hosts:
		out = append(out, m.centered("No missing update known: nothing scanned yet, or the fleet is up to date.\n"+
			"r scans ring "+p.ring+"; tab lists the hosts.", height-1-listFooter))
		out = append(out, m.patchFooter()...)
	case p.hosts:
		out = append(out, m.patchHostsBody(height-1)...)
	default:
		out = append(out, m.patchUpdatesBody(height-1)...)
	}
	if p.err != nil {
		out[0] = th.Error.Render(ansi.Truncate(" "+oneLine(p.err.Error()), m.width, g.Ellipsis))
	}
	return padLines(out, height)[:height]
}

// patchSummary is the first line: compliance, per ring, the filters.
func (m *Model) patchSummary() string {
	th, g := &m.theme, &m.theme.Glyphs
	p := &m.patches
	f := p.fleet
	s := th.Text.Render(" compliance "+pctText(f.Compliance)) + th.Muted.Render(fmt.Sprintf(" (%d/%d)", f.Compliance.Compliant, f.Compliance.Scanned))
	for _, r := range f.ByRing {
		s += th.Muted.Render(" | ") + th.Text.Render(r.Name+" "+pctText(r))
	}
	view := "updates"
	if p.hosts {
		view = "hosts"
	}
	filt := view
	if p.state != "" {
		filt += " state:" + string(p.state)
	}
	if p.class != "" {
		filt += " class:" + classShort(p.class)
	}
	s += th.Muted.Render(" | ring ") + th.HelpKey.Render(p.ring) + th.Muted.Render(" | "+filt)
	return ansi.Truncate(s, m.width, g.Ellipsis)
}

// patchUpdatesBody is the updates list and its footer.
func (m *Model) patchUpdatesBody(height int) []string {
	th, ell := &m.theme, m.theme.Glyphs.Ellipsis
	p := &m.patches
	us := m.shownUpdates()
	cols := []listCell{{"KB", 9, false}, {"CLASS", 10, false}, {"SEV", 9, false}, {"NEED", 4, true}, {"APPR", 4, true},
		{"RUN", 3, true}, {"FAIL", 4, true}, {"RBT", 3, true}}
	if w := m.flexWidth(cols); w >= 8 {
		cols = append(cols, listCell{"TITLE", w, false})
	}
	out := []string{m.listTitles(cols)}
	rows := min(m.patchRows(), height-1-listFooter)
	for i := p.upos.offset; i < min(p.upos.offset+rows, len(us)); i++ {
		u := us[i]
		sel := i == p.upos.cursor
		num := func(n int, w int) string {
			if n == 0 {
				return fit("-", w, true, ell)
			}
			return fit(Thousands(n), w, true, ell)
		}
		cells := []string{fit(updateName(u), 9, false, ell), fit(classShort(u.Classification), 10, false, ell), fit(orDash(u.Severity), 9, false, ell),
			num(u.Counts[engine.PatchNeedsApproval], 4), num(u.Counts[engine.PatchApproved]+u.Counts[engine.PatchGated], 4),
			num(u.Counts[engine.PatchInstalling], 3), num(u.Counts[engine.PatchFailed], 4), num(u.Counts[engine.PatchNeedsReboot], 3)}
		if len(cols) > 8 {
			cells = append(cells, fit(m.clean(u.Title), cols[8].width, false, ell))
		}
		if !sel {
			if u.Counts[engine.PatchFailed] > 0 {
				cells[6] = th.Error.Render(cells[6])
			}
			if u.Counts[engine.PatchInstalling] > 0 {
				cells[5] = th.Notice.Render(cells[5])
			}
			if u.DenyListed {
				cells[0] = th.Muted.Render(cells[0])
			}
		}
		out = append(out, m.listLine(cells, sel))
	}
	for len(out) < height-listFooter {
		out = append(out, "")
	}
	return append(out, m.patchFooter()...)
}

// patchHostsBody is the hosts list and its footer.
func (m *Model) patchHostsBody(height int) []string {
	th, ell := &m.theme, m.theme.Glyphs.Ellipsis
	p := &m.patches
	hs := m.shownHosts()
	cols := []listCell{{"HOST", 12, false}, {"RING", 10, false}, {"SCAN", 6, false}, {"MISS", 4, true}, {"SEC", 3, true},
		{"APPR", 4, true}, {"FAIL", 4, true}, {"RBT", 3, false}, {"OK", 3, false}}
	if w := m.flexWidth(cols); w >= 6 {
		cols = append(cols, listCell{"JOB", w, false})
	}
	out := []string{m.listTitles(cols)}
	rows := min(m.patchRows(), height-1-listFooter)
	for i := p.hpos.offset; i < min(p.hpos.offset+rows, len(hs)); i++ {
		h := hs[i]
		sel := i == p.hpos.cursor
		scan := "never"
		switch {
		case h.ScanError != "":
			scan = "failed"
		case !h.ScannedAt.IsZero():
			scan = h.ScannedAt.In(m.now().Location()).Format("15:04")
		}
		cells := []string{fit(h.Hostname, 12, false, ell), fit(orDash(h.Ring), 10, false, ell), fit(scan, 6, false, ell),
			fit(Thousands(h.Counts.Missing()), 4, true, ell), fit(Thousands(h.Security), 3, true, ell),
			fit(Thousands(h.Counts[engine.PatchApproved]), 4, true, ell), fit(Thousands(h.Counts[engine.PatchFailed]), 4, true, ell),
			fit(yesDash(h.NeedsReboot), 3, false, ell), fit(yesDash(h.Compliant), 3, false, ell)}
		if len(cols) > 9 {
			cells = append(cells, fit(jobText(h.Job), cols[9].width, false, ell))
		}
		if !sel {
			if h.ScanError != "" {
				cells[2] = th.Error.Render(cells[2])
			}
			if h.Security > 0 {
				cells[4] = th.Warn.Render(cells[4])
			}
			if h.Counts[engine.PatchFailed] > 0 {
				cells[6] = th.Error.Render(cells[6])
			}
		}
		out = append(out, m.listLine(cells, sel))
	}
	for len(out) < height-listFooter {
		out = append(out, "")
	}
	return append(out, m.patchFooter()...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesDash(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

// jobText is a host's job in a few words: "installing 2/5 40%".
func jobText(j *engine.PatchJobInfo) string {
	if j == nil {
		return "-"
	}
	s := strings.ReplaceAll(j.State, "_", " ")
	if j.Progress != nil && j.State == "installing" && j.Progress.Total > 0 {
		s += fmt.Sprintf(" %d/%d %d%%", j.Progress.Current, j.Progress.Total, j.Progress.Percent)
	}
	if j.Round > 1 {
		s += fmt.Sprintf(" (round %d)", j.Round)
	}
	return s
}

// patchFooter is the selected row in full, and the keys (or a question).
func (m *Model) patchFooter() []string {
	th, g := &m.theme, &m.theme.Glyphs
	p := &m.patches
	var first, second string
	if p.hosts {
		if h, ok := m.selectedHost(); ok {
			first = th.HelpKey.Render(h.Hostname) + th.Muted.Render("  "+orDash(h.Service)+" "+h.Server+"  last search ") + th.Text.Render(m.stamp(h.LastSearch))
			switch {
			case h.ScanError != "":
				second = th.Error.Render("scan failed: " + m.clean(oneLine(h.ScanError)))
			case h.Job != nil:
				second = th.Notice.Render(fmt.Sprintf("job %d %s: ", h.Job.ID, h.Job.State)) + th.Text.Render(m.clean(oneLine(h.Job.Message)))
			default:
				second = th.Muted.Render(fmt.Sprintf("%d missing, %d security, %d approved, %d need approval", h.Counts.Missing(), h.Security,
					h.Counts[engine.PatchApproved], h.Counts[engine.PatchNeedsApproval]))
			}
		}
	} else if u, ok := m.selectedUpdate(); ok {
		first = th.HelpKey.Render(updateName(u)) + " " + th.Text.Render(m.clean(u.Title))
		second = th.Muted.Render(m.ringDecisions(u))
	}
	third := m.patchKeysHint()
	if p.confirm != nil {
		third = th.Notice.Render(p.confirm.text)
	}
	return []string{
		ansi.Truncate(" "+first, m.width, g.Ellipsis),
		ansi.Truncate(" "+second, m.width, g.Ellipsis),
		ansi.Truncate(" "+third, m.width, g.Ellipsis),
	}
}

// ringDecisions reads an update's decisions per ring.
func (m *Model) ringDecisions(u engine.PatchUpdateRow) string {
	rings := make([]string, 0, len(u.Rings))
	for r := range u.Rings {
		rings = append(rings, r)
	}
	slices.SortFunc(rings, func(a, b string) int {
		return cmp.Compare(slices.Index(m.patches.fleet.Rings, a), slices.Index(m.patches.fleet.Rings, b))
	})
	parts := make([]string, len(rings))
	for i, r := range rings {
		parts[i] = r + ": " + u.Rings[r]
	}
	s := strings.Join(parts, " | ")
	if u.DenyListed {
		s = "on the deny list (patches.deny) | " + s
	}
	return s
}

// patchKeysHint says what the keys do, or which role they need.
func (m *Model) patchKeysHint() string {
	th := &m.theme
	k := &m.keys
	label := func(b key.Binding) string { return keyLabel(b.Keys()) }
	nav := fmt.Sprintf("%s hosts/updates  %s state  %s class  %s ring  enter open", label(k.PatchView), label(k.PatchState), label(k.PatchClass), label(k.PatchRing))
	switch {
	case m.feed.caps.req == nil:
		return th.Muted.Render(nav)
	case !m.may(engine.PermPatchesApprove):
		need := engine.Permissions()[engine.PermPatchesApprove]
		return th.Muted.Render(nav + "  (approving and installing need the " + need.String() + " role; you are " + m.role.String() + ")")
	case m.patches.hosts:
		return th.Muted.Render(fmt.Sprintf("%s install  %s scan  %s cancel job  ", label(k.PatchInstall), label(k.PatchScan), label(k.PatchCancel)) + nav)
	}
	return th.Muted.Render(fmt.Sprintf("%s approve  %s deny  %s approve shown  %s install  %s install ring  ", label(k.PatchApprove),
		label(k.PatchDeny), label(k.PatchApproveAll), label(k.PatchInstall), label(k.PatchInstallAll)) + nav)
}

// patchDeviceBody is one host: its job with a bar, its updates, the
// selected one's reason.
func (m *Model) patchDeviceBody(height int) []string {
	th, g := &m.theme, &m.theme.Glyphs
	ell := g.Ellipsis
	p := &m.patches
	v := p.device
	h := v.Host
	head := th.HelpKey.Render(" "+h.Hostname) + th.Muted.Render(fmt.Sprintf("  ring %s  %s %s  scanned %s  compliant %s",
		orDash(h.Ring), orDash(h.Service), h.Server, m.stamp(h.ScannedAt), yesDash(h.Compliant)))
	out := []string{ansi.Truncate(head, m.width, ell)}
	job := th.Muted.Render(" no install job")
	if len(v.Jobs) > 0 {
		j := v.Jobs[0]
		line := fmt.Sprintf(" job %d %s, round %d of %d: ", j.ID, strings.ReplaceAll(j.State, "_", " "), j.Round, j.MaxRounds)
		if j.Progress != nil && !j.Finished() && j.Progress.Total > 0 {
			line += m.progressBar(j.Progress.Current, j.Progress.Total, 12) + " "
		}
		job = th.Text.Render(line) + th.Text.Render(m.clean(oneLine(j.Message)))
	}
	if p.devErr != nil {
		job = th.Error.Render(" " + oneLine(p.devErr.Error()))
	}
	out = append(out, ansi.Truncate(job, m.width, ell))
	cols := []listCell{{"STATE", 14, false}, {"KB", 9, false}, {"CLASS", 10, false}, {"SEV", 9, false}}
	if w := m.flexWidth(cols); w >= 8 {
		cols = append(cols, listCell{"TITLE", w, false})
	}
	out = append(out, m.listTitles(cols))
	rows := min(m.patchRows()-2, height-3-listFooter)
	for i := p.devPos.offset; i < min(p.devPos.offset+rows, len(v.Updates)); i++ {
		u := v.Updates[i]
		sel := i == p.devPos.cursor
		cells := []string{fit(string(u.State), 14, false, ell), fit(updateName(u.PatchUpdateRow), 9, false, ell),
			fit(classShort(u.Classification), 10, false, ell), fit(orDash(u.Severity), 9, false, ell)}
		if len(cols) > 4 {
			cells = append(cells, fit(m.clean(u.Title), cols[4].width, false, ell))
		}
		if !sel {
			switch u.State {
			case engine.PatchFailed:
				cells[0] = th.Error.Render(cells[0])
			case engine.PatchInstalling, engine.PatchNeedsReboot:
				cells[0] = th.Notice.Render(cells[0])
			case engine.PatchInstalled:
				cells[0] = th.Muted.Render(cells[0])
			}
		}
		out = append(out, m.listLine(cells, sel))
	}
	for len(out) < height-listFooter {
		out = append(out, "")
	}
	var first, second string
	if len(v.Updates) > 0 {
		u := v.Updates[min(p.devPos.cursor, len(v.Updates)-1)]
		first = th.HelpKey.Render(updateName(u.PatchUpdateRow)) + " " + th.Text.Render(m.clean(u.Title))
		second = th.Muted.Render(string(u.State))
		if u.Reason != "" {
			second += th.Muted.Render(": ") + th.Text.Render(m.clean(u.Reason))
		}
	}
	third := th.Muted.Render("a approve  d deny (for ring " + p.ring + ")  i install  x cancel job  esc back")
	if p.confirm != nil {
		third = th.Notice.Render(p.confirm.text)
	}
	return append(out, ansi.Truncate(" "+first, m.width, ell), ansi.Truncate(" "+second, m.width, ell), ansi.Truncate(" "+third, m.width, ell))
}

// patchUpdateBody is one update: what it is, its decisions per ring, how
// many devices are in each state.
func (m *Model) patchUpdateBody(height int) []string {
	th, ell := &m.theme, m.theme.Glyphs.Ellipsis
	p := &m.patches
	u, ok := m.focusedUpdate()
	if !ok {
		return []string{m.centered("that update is no longer missing anywhere", height)}
	}
	lw := len("classification")
	for _, r := range p.fleet.Rings {
		lw = max(lw, len("ring "+r))
	}
	line := func(label, value string) string {
		return ansi.Truncate(th.Label.Render(fmt.Sprintf(" %-*s  ", lw, label))+th.Text.Render(value), m.width, ell)
	}
	var out []string
	for _, l := range wrapText(m.clean(u.Title), m.width-2) {
		out = append(out, th.HelpKey.Render(" "+l))
	}
	rel := "-"
	if !u.Released.IsZero() {
		rel = u.Released.Format("2006-01-02")
	}
	out = append(out,
		line("KB", orDash(u.KB)),
		line("classification", u.Classification+"  severity "+orDash(u.Severity)),
		line("released", rel+"  size "+sizeText(u.SizeBytes)+"  restart "+u.RebootBehavior),
		line("devices", fmt.Sprintf("%d missing: %d need approval, %d approved, %d gated, %d denied, %d installing, %d failed; %d need a restart",
			u.Counts.Missing(), u.Counts[engine.PatchNeedsApproval], u.Counts[engine.PatchApproved], u.Counts[engine.PatchGated],
			u.Counts[engine.PatchDenied], u.Counts[engine.PatchInstalling], u.Counts[engine.PatchFailed], u.Counts[engine.PatchNeedsReboot])),
		"")
	if u.DenyListed {
		out = append(out, th.Error.Render(" on the deny list (patches.deny): never approved or installed"))
	}
	for _, r := range p.fleet.Rings {
		if d, ok := u.Rings[r]; ok {
			out = append(out, line("ring "+r, d))
		}
	}
	for len(out) < height-1 {
		out = append(out, "")
	}
	hint := th.Muted.Render(" a approve  d deny  i install (for ring " + p.ring + "; R changes it)  esc back")
	if p.confirm != nil {
		hint = th.Notice.Render(" " + p.confirm.text)
	}
	return append(out[:height-1], ansi.Truncate(hint, m.width, ell))
}

func sizeText(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
	case b > 0:
		return fmt.Sprintf("%d KB", b>>10)
	}
	return "-"
}

func patchesClick(m Model, _, y int) (Model, tea.Cmd) {
	p := &m.patches
	if p.device != nil || p.update != "" {
		return m, nil
	}
	// The body's first line is the summary; the list's titles follow.
	if p.hosts {
		p.hpos.click(y-1, len(m.shownHosts()), m.patchRows())
	} else {
		p.upos.click(y-1, len(m.shownUpdates()), m.patchRows())
	}
	m.pickPatches()
	return m, nil
}

// patchesWheel scrolls the shown list.
func (m *Model) patchesWheel(n int) {
	p := &m.patches
	switch {
	case p.device != nil:
		p.devPos.scroll(n, len(p.device.Updates), m.patchRows()-2)
	case p.hosts:
		p.hpos.scroll(n, len(m.shownHosts()), m.patchRows())
	default:
		p.upos.scroll(n, len(m.shownUpdates()), m.patchRows())
	}
	m.pickPatches()
}
