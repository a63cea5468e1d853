package ui

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// historySpan is how far back the detail view's sparklines go.
const historySpan = 24 * time.Hour

// loadTimeout bounds one detail load (identity plus two histories).
const loadTimeout = 15 * time.Second

// detailState is the device detail view: which device, and what the
// engine said about it. Live status and metrics come from the grid's
// device states; identity and history are loaded with a tea.Cmd.
type detailState struct {
	id       int64
	hostname string // for the tab, kept when the device goes away
	opened   bool   // a device has been opened at least once
	seq      int    // load generation: a stale load is dropped
	loading  bool   // a load is in flight
	dirty    bool   // the device changed since the last load started
	loaded   bool   // info (or err) is from a finished load

	info     engine.DeviceDetail
	err      error // Detail failed
	cpu, mem []engine.MetricPoint
	histErr  error
	at       time.Time // the "now" the histories were asked at

	// health is the device's score and its breakdown; nil when the
	// engine has none for it (or no HealthSource).
	health    *engine.HealthScore
	healthErr error
	avail     engine.Availability // uptime % and latency, with the health score

	// The tabs (inventory.go): which one is shown, the stored inventory
	// by category, and a collection the user started.
	tab        int
	inv        map[string]engine.InventoryDoc
	invErr     error
	collecting bool
	collectErr error

	from   pageID // the view it was opened from, where esc goes back
	offset int    // scroll
}

// detailMsg is a finished load.
type detailMsg struct {
	seq      int
	id       int64
	info     engine.DeviceDetail
	err      error
	cpu, mem []engine.MetricPoint
	histErr  error
	at       time.Time

	health    *engine.HealthScore
	healthErr error
	avail     engine.Availability

	inv        []engine.InventoryDoc
	invErr     error
	collected  bool // the load followed a collection the user started
	collectErr error
}

// openDetail opens the selected device's detail view.
func openDetail(m Model) (Model, tea.Cmd, error) {
	d, ok := m.selectedDevice()
	if !ok {
		return m, nil, errNoDevice
	}
	m, cmd := m.showDetail(d.ID, d.Hostname)
	return m, cmd, nil
}

// openDeviceDetail shows device id's detail (an alert's device).
func (m Model) openDeviceDetail(id int64, hostname string) (Model, tea.Cmd) {
	m, cmd := m.showDetail(id, hostname)
	m.page = pageDetail
	return m, cmd
}

// showDetail points the detail view at device id, coming from the current
// view. It reloads when the device is another than last time, or changed
// meanwhile.
func (m Model) showDetail(id int64, hostname string) (Model, tea.Cmd) {
	from := m.page
	if from == pageDetail {
		from = m.detail.from
	}
	if m.detail.opened && m.detail.id == id && !m.detail.dirty && (m.detail.loaded || m.detail.loading) {
		m.detail.from = from
		m.page = pageDetail
		m.clampScrolls()
		return m, nil
	}
	m.detail = detailState{id: id, hostname: hostname, opened: true, seq: m.detail.seq + 1, from: from, tab: m.detail.tab}
	return m, m.loadDetail()
}

// loadDetail starts a load of the detail device.
func (m *Model) loadDetail() tea.Cmd { return m.loadDetailAfter(nil) }

// loadDetailAfter starts a load of the detail device that first runs pre
// (a collection), when it is set, and reports what it returned.
func (m *Model) loadDetailAfter(pre func(ctx context.Context) (bool, error)) tea.Cmd {
	dt := &m.detail
	dt.seq++
	dt.loading, dt.dirty = true, false
	id, seq, client, ctx := dt.id, dt.seq, m.feed.client, m.feed.ctx
	hs, is := m.feed.caps.health, m.feed.caps.inv
	now := m.now()
	return func() tea.Msg {
		msg := detailMsg{seq: seq, id: id, at: now}
		if pre != nil {
			// A collection takes as long as the host needs: not bounded
			// by the load's timeout.
			msg.collected, msg.collectErr = pre(ctx)
		}
		ctx, cancel := context.WithTimeout(ctx, loadTimeout)
		defer cancel()
		msg.info, msg.err = client.Detail(ctx, id)
		since := now.Add(-historySpan)
		var err error
		if msg.cpu, err = client.History(ctx, id, "cpu_pct", since); err != nil {
			msg.histErr = err
		} else if msg.mem, err = client.History(ctx, id, "mem_pct", since); err != nil {
			msg.histErr = err
		}
		if hs != nil {
			// The engine scores the fleet at once; one device is picked.
			all, err := hs.Health(ctx, now)
			msg.healthErr = err
			for i := range all {
				if all[i].DeviceID == id {
					msg.health = &all[i].HealthScore
					msg.avail = all[i].Availability
					break
				}
			}
		}
		if is != nil {
			msg.inv, msg.invErr = is.StoredInventory(ctx, id, nil)
		}
		return msg
	}
}

// detailLoaded takes a finished load, and starts another if the device
// changed while it ran.
func (m *Model) detailLoaded(msg detailMsg) tea.Cmd {
	dt := &m.detail
	if msg.collected && msg.id == dt.id {
		dt.collecting, dt.collectErr = false, msg.collectErr
	}
	if msg.seq != dt.seq || msg.id != dt.id {
		return nil // an older load, or another device
	}
	dt.loading, dt.loaded = false, true
	dt.info, dt.err, dt.cpu, dt.mem, dt.histErr, dt.at = msg.info, msg.err, msg.cpu, msg.mem, msg.histErr, msg.at
	dt.health, dt.healthErr, dt.avail = msg.health, msg.healthErr, msg.avail
	dt.inv, dt.invErr = make(map[string]engine.InventoryDoc, len(msg.inv)), msg.invErr
	for _, d := range msg.inv {
		dt.inv[d.Category] = d
	}
	if msg.err == nil {
		dt.hostname = msg.info.State.Hostname
	}
	m.clampScrolls()
	if dt.dirty && m.page == pageDetail {
		return m.loadDetail()
	}
	return nil
}

// detailChanged is the engine telling the detail device changed: reload
// now if the view is shown and idle, else when it is next shown or the
// current load lands.
func (m *Model) detailChanged() tea.Cmd {
	dt := &m.detail
	if m.page != pageDetail || dt.loading {
		dt.dirty = true
		return nil
	}
	return m.loadDetail()
}

// detailKey handles the detail view's keys: tabs and collecting
// (inventory.go), scrolling, and back.
func detailKey(m Model, msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if nm, cmd, ok := m.detailTabKey(msg); ok {
		nm.clampScrolls()
		return nm, cmd
	}
	k := &m.keys
	dt := &m.detail
	body := m.bodyHeight()
	switch {
	case key.Matches(msg, k.Back):
		m.page = dt.from
		if !m.available(pageOf(m.page)) || m.page == pageDetail {
			m.page = pageDevices
		}
		return m, nil
	case key.Matches(msg, k.Up):
		dt.offset--
	case key.Matches(msg, k.Down):
		dt.offset++
	case key.Matches(msg, k.PageUp):
		dt.offset -= max(body, 1)
	case key.Matches(msg, k.PageDown):
		dt.offset += max(body, 1)
	case key.Matches(msg, k.HalfUp):
		dt.offset -= max(body/2, 1)
	case key.Matches(msg, k.HalfDown):
		dt.offset += max(body/2, 1)
	case key.Matches(msg, k.Top):
		dt.offset = 0
	case key.Matches(msg, k.Bottom):
		dt.offset = 1 << 30
	}
	m.clampScrolls()
	return m, nil
}

// detailBody is the detail page, scrolled.
func (m *Model) detailBody(height int) []string {
	all := m.detailLines()
	off := min(m.detail.offset, max(len(all)-height, 0))
	out := make([]string, 0, height)
	out = append(out, all[off:min(off+height, len(all))]...)
	for len(out) < height {
		out = append(out, "")
	}
	if off+height < len(all) && height > 0 {
		out[height-1] = m.moreLine("more below")
	}
	return out
}

// moreLine says there is more to scroll to.
func (m *Model) moreLine(what string) string {
	th := &m.theme
	return " " + th.Muted.Render(what+" ("+moveLabel(&m.keys)+" scroll)")
}

// labelWidth is the width of the detail view's field names.
const labelWidth = 13

// detailLines renders the whole detail page, unscrolled: live state,
// last error, history, identity, custom fields.
func (m *Model) detailLines() []string {
	dt := &m.detail
	th, g := &m.theme, &m.theme.Glyphs
	w := m.width
	if w <= 0 || !dt.opened {
		return nil
	}
	var out []string
	add := func(s ...string) { out = append(out, s...) }
	field := func(label, value string) {
		l := " " + th.Label.Render(fit(label, labelWidth, false, g.Ellipsis)) + " "
		if value == "" {
			add(l + th.Muted.Render("-"))
			return
		}
		room := w - 2 - labelWidth
		for i, part := range wrapText(value, room) {
			if i == 0 {
				add(l + part)
			} else {
				add(strings.Repeat(" ", labelWidth+2) + part)
			}
		}
	}
	section := func(title string) {
		add("", " "+th.Section.Render(title))
	}

	idx, live := m.index[dt.id]
	var d engine.DeviceState
	switch {
	case live:
		d = m.devices[idx]
	case dt.loaded && dt.err == nil:
		d = dt.info.State
	}

	// The device and its live state.
	title := dt.hostname
	if d.Hostname != "" {
		title = d.Hostname
	}
	head := " " + th.HelpTitle.Render(title)
	if dt.info.FQDN != "" && !strings.EqualFold(dt.info.FQDN, title) {
		head += "  " + th.Muted.Render(dt.info.FQDN)
	}
	add(ansi.Truncate(head, w, g.Ellipsis))
	if !live {
		add(" " + th.Error.Render("this device no longer exists in the engine"))
	}
	add(m.tabBar())
	switch tab := detailTabs()[min(dt.tab, len(detailTabs())-1)]; {
	case tab.category != "":
		return append(out, m.inventoryTabLines(tab.category)...)
	case tab.name == "Alerts":
		return append(out, m.alertTabLines()...)
	}
	if d.ID != 0 || live {
		sym, st := m.statusLook(d.Status)
		status := st.pre + sym + string(d.Status) + st.post
		seen := "last seen " + RelativeAge(m.now(), d.LastSeen)
		if !d.LastSeen.IsZero() {
			seen += " (" + d.LastSeen.UTC().Format("2006-01-02 15:04:05") + " UTC)"
		}
		line := " " + status + "   " + th.Text.Render(seen)
		switch d.Mode {
		case "":
		case "warm":
			line += "   " + th.Muted.Render("polled warm (resident PowerShell)")
		case "cold":
			line += "   " + th.Muted.Render("polled cold (powershell.exe per poll)")
		default:
			line += "   " + th.Muted.Render("polled "+d.Mode)
		}
		add(ansi.Truncate(line, w, g.Ellipsis))
		add("")
		metrics := []struct {
			label string
			col   Column
		}{{"CPU", ColCPU}, {"Memory", ColMem}, {"Disk free", ColDisk}}
		var parts []string
		for _, mt := range metrics {
			v := th.Muted.Render("-")
			if d.HasMetrics {
				val := metric(&d, mt.col)
				v = Percent(val)
				if k := m.levelInk(mt.col, val); k != nil {
					v = k.pre + v + k.post
				} else {
					v = th.Text.Render(v)
				}
			}
			parts = append(parts, th.Label.Render(mt.label)+" "+v)
		}
		line = " " + strings.Join(parts, "    ")
		if d.HasMetrics && d.Status != engine.StatusOnline {
			line += "    " + th.Muted.Render("(last known)")
		}
		add(ansi.Truncate(line, w, g.Ellipsis))
		if !d.LastBoot.IsZero() {
			// "It rebooted" is visible here, not only in the Software tab.
			boot := th.Label.Render("Uptime") + " " + th.Text.Render(Uptime(d.LastSeen.Sub(d.LastBoot))) +
				th.Muted.Render(" at the last poll") + "    " + th.Label.Render("Last boot") + " " +
				th.Text.Render(d.LastBoot.Format("2006-01-02 15:04:05")+" UTC ("+RelativeAge(m.now(), d.LastBoot)+")")
			add(ansi.Truncate(" "+boot, w, g.Ellipsis))
		}
	}

	if m.feed.caps.health != nil {
		section("Health")
		add(m.healthLines()...)
		if line := m.availabilityLine(); line != "" {
			add(line)
		}
	}
	if m.feed.caps.alerts != nil {
		section("Alerts")
		add(m.deviceAlertLines(dt.id)...)
	}

	section("Last error")
	if d.LastError == "" {
		add(" " + th.Muted.Render("none"))
	} else {
		for _, l := range wrapText(d.LastError, w-2) {
			add(" " + th.Error.Render(l))
		}
	}

	section("Last 24 hours")
	switch {
	case !dt.loaded:
		add(" " + th.Muted.Render("loading history"+g.Ellipsis))
	case dt.histErr != nil:
		for _, l := range wrapText("history unavailable: "+dt.histErr.Error(), w-2) {
			add(" " + th.Error.Render(l))
		}
	default:
		add(m.sparkLines(dt.cpu, dt.mem, dt.at)...)
	}

	section("Identity")
	switch {
	case !dt.loaded:
		add(" " + th.Muted.Render("loading"+g.Ellipsis))
	case dt.err != nil:
		for _, l := range wrapText(dt.err.Error(), w-2) {
			add(" " + th.Error.Render(l))
		}
	default:
		in := &dt.info
		field("Hostname", in.State.Hostname)
		field("FQDN", in.FQDN)
		field("IP address", in.IP)
		field("MAC address", in.MAC)
		field("Site", in.State.Site)
		field("Groups", strings.Join(in.Groups, ", "))
		field("Tags", strings.Join(in.Tags, ", "))
		osName := in.OSName
		if in.OSVersion != "" {
			osName = strings.TrimSpace(osName + ", build " + in.OSVersion)
		}
		field("OS", osName)
		if in.Description != "" {
			field("Description", in.Description)
		}
		field("Endpoint", in.Endpoint)
		transport := in.Transport
		if in.Port != 0 {
			transport += ", port " + strconv.Itoa(in.Port)
		}
		if in.Auth != "" && in.Auth != "basic" {
			transport += ", auth " + in.Auth
		}
		field("Transport", strings.TrimPrefix(transport, ", "))
		cred := in.CredentialID
		if cred == "" {
			cred = "(the default credential)"
		}
		field("Credential", cred)
		if len(in.Custom) > 0 {
			section("Custom fields")
			keys := make([]string, 0, len(in.Custom))
			for k := range in.Custom {
				keys = append(keys, k)
			}
			slices.SortFunc(keys, NaturalCompare)
			for _, k := range keys {
				field(k, in.Custom[k])
			}
		}
	}
	return out
}

// sparkLines draws CPU and memory over the last 24 hours, one cell per
// time slice, with the latest, average and peak values.
func (m *Model) sparkLines(cpu, mem []engine.MetricPoint, now time.Time) []string {
	th := &m.theme
	const label = 5 // "CPU  "
	stats := len("  last 100.0%  avg 100.0%  max 100.0%")
	width := max(m.width-2-label-stats, 10)
	since := now.Add(-historySpan)
	var out []string
	for _, s := range []struct {
		name string
		pts  []engine.MetricPoint
	}{{"CPU", cpu}, {"MEM", mem}} {
		line := " " + th.Label.Render(fit(s.name, label, false, ""))
		if len(s.pts) == 0 {
			line += th.Muted.Render("no samples in the last 24 hours")
		} else {
			line += th.Spark.Render(Sparkline(s.pts, since, now, width, m.theme.Glyphs.Spark))
			last, avg, peak := pointStats(s.pts)
			line += "  " + th.Label.Render("last ") + th.Text.Render(Percent(last)) +
				"  " + th.Label.Render("avg ") + th.Text.Render(Percent(avg)) +
				"  " + th.Label.Render("max ") + th.Text.Render(Percent(peak))
		}
		out = append(out, ansi.Truncate(line, m.width, m.theme.Glyphs.Ellipsis))
	}
	if len(cpu) > 0 || len(mem) > 0 {
		axis := fit("24h ago", width/2, false, "") + fit("now", width-width/2, true, "")
		out = append(out, " "+strings.Repeat(" ", label)+th.Muted.Render(axis))
	}
	return out
}

func pointStats(pts []engine.MetricPoint) (last, avg, peak float64) {
	sum := 0.0
	peak = math.Inf(-1)
	for _, p := range pts {
		sum += p.Value
		peak = max(peak, p.Value)
	}
	return pts[len(pts)-1].Value, sum / float64(len(pts)), peak
}

// Sparkline draws the points between since and now as width cells, each
// the average of the points in its slice of time, on a fixed 0..100
// scale (the metrics are percentages, and a fixed scale keeps a quiet
// machine looking quiet). levels are the glyphs from lowest to highest; a
// slice without points is a space.
func Sparkline(pts []engine.MetricPoint, since, now time.Time, width int, levels []string) string {
	if width <= 0 || len(levels) == 0 {
		return ""
	}
	sums := make([]float64, width)
	counts := make([]int, width)
	span := now.Sub(since)
	if span <= 0 {
		span = time.Nanosecond
	}
	for _, p := range pts {
		if p.At.Before(since) || p.At.After(now) {
			continue
		}
		i := int(int64(p.At.Sub(since)) * int64(width) / int64(span))
		i = min(max(i, 0), width-1)
		sums[i] += p.Value
		counts[i]++
	}
	var b strings.Builder
	for i := range width {
		if counts[i] == 0 {
			b.WriteByte(' ')
			continue
		}
		v := clampPct(sums[i] / float64(counts[i]))
		b.WriteString(levels[int(math.Round(v/100*float64(len(levels)-1)))])
	}
	return b.String()
}

// wrapText breaks s into lines of at most width cells, at spaces where it
// can, hard where a word is longer than a line. Lines in s are kept.
func wrapText(s string, width int) []string {
	if width <= 0 {
		return []string{""}
	}
	var out []string
	for _, para := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		para = strings.Map(func(r rune) rune {
			if r == '\t' {
				return ' '
			}
			return printable(r)
		}, para)
		out = append(out, strings.Split(ansi.Wrap(para, width, ""), "\n")...)
	}
	return out
}

// healthLines explain the detail device's score: each part with its
// points and why it lost some; a part without data is n/a, and the score
// says it is taken over the parts with data.
func (m *Model) healthLines() []string {
	dt := &m.detail
	th, g := &m.theme, &m.theme.Glyphs
	w := m.width
	switch {
	case !dt.loaded:
		return []string{" " + th.Muted.Render("loading"+g.Ellipsis)}
	case dt.healthErr != nil:
		var out []string
		for _, l := range wrapText("health unavailable: "+dt.healthErr.Error(), w-2) {
			out = append(out, " "+th.Error.Render(l))
		}
		return out
	case dt.health == nil:
		return []string{" " + th.Muted.Render("no score for this device yet")}
	}
	h := dt.health
	var got, of, total int
	scoreW := len("n/a")
	for _, p := range h.Parts {
		total += p.Max
		if p.HasData {
			got += p.Score
			of += p.Max
		}
		scoreW = max(scoreW, len(itoa(p.Score)+"/"+itoa(p.Max)))
	}
	line := " " + th.Label.Render(fit("Score", labelWidth, false, g.Ellipsis)) + " " +
		th.HelpTitle.Render(itoa(h.Score)+"/100") + "  " + m.healthStatus(h.Status)
	if of < total && of > 0 {
		// The engine scales the parts with data to 100.
		line += "  " + th.Muted.Render("("+itoa(got)+" of the "+itoa(of)+" points with data; parts without data are left out)")
	}
	out := []string{ansi.Truncate(line, w, g.Ellipsis)}
	if h.Because != "" {
		// The status follows an unresolved alert, not the score.
		out = append(out, ansi.Truncate(" "+th.Label.Render(fit("Status", labelWidth, false, g.Ellipsis))+" "+
			m.healthStatus(h.Status)+"  "+th.Text.Render(m.clean(h.Because)), w, g.Ellipsis))
	}
	indent := 1 + labelWidth + 1 + scoreW + 2
	for _, p := range h.Parts {
		score := itoa(p.Score) + "/" + itoa(p.Max)
		if !p.HasData {
			score = "n/a"
		}
		head := " " + th.Label.Render(fit(p.Name, labelWidth, false, g.Ellipsis)) + " "
		sc := fit(score, scoreW, true, "")
		switch {
		case !p.HasData:
			sc = th.Muted.Render(sc)
		case p.Score < p.Max:
			sc = th.Warn.Render(sc)
		default:
			sc = th.Text.Render(sc)
		}
		if len(p.Reasons) == 0 {
			out = append(out, head+sc)
			continue
		}
		first := true
		for _, r := range p.Reasons {
			for _, l := range wrapText(r, max(w-indent, 10)) {
				st := th.Text
				if !p.HasData {
					st = th.Muted
				}
				if first {
					out = append(out, head+sc+"  "+st.Render(l))
					first = false
				} else {
					out = append(out, strings.Repeat(" ", indent)+st.Render(l))
				}
			}
		}
	}
	return out
}

// healthStatus is a health status word in its style.
func (m *Model) healthStatus(s engine.HealthStatus) string {
	th := &m.theme
	switch s {
	case engine.HealthHealthy:
		return th.Online.Render(string(s))
	case engine.HealthWarning:
		return th.Warn.Render(string(s))
	case engine.HealthCritical:
		return th.Critical.Render(string(s))
	case engine.HealthOffline:
		return th.Offline.Render(string(s))
	}
	return th.Unknown.Render(string(s))
}

// deviceAlertLines are the device's unresolved alerts, one a line.
func (m *Model) deviceAlertLines(id int64) []string {
	th, g := &m.theme, &m.theme.Glyphs
	if !m.alerts.read {
		return []string{" " + th.Muted.Render("loading"+g.Ellipsis)}
	}
	as := m.alerts.deviceAlerts(id)
	if len(as) == 0 {
		return []string{" " + th.Muted.Render("none")}
	}
	now := m.now()
	out := make([]string, 0, len(as))
	for _, a := range as {
		sym, st := m.sevLook(a.Severity)
		line := " " + st.Render(fit(sym+" "+string(a.Severity), 10, false, g.Ellipsis)) + "  " +
			th.Text.Render(fit(stateWord(a.State), 6, false, g.Ellipsis)) + "  " +
			th.Text.Render(oneLine(a.Message)) + "  " +
			th.Muted.Render("raised "+RelativeAge(now, a.FirstSeen)+", seen "+Thousands(a.Count)+" "+plural(a.Count, "time", "times"))
		out = append(out, ansi.Truncate(line, m.width, g.Ellipsis))
	}
	return out
}
