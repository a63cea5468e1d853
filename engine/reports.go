package engine

// Reports: what rmm hands to someone else. RunReport builds one of six
// documents from the store (the metric rollups, the alerts, the stored
// inventory) for a period and a scope, renders it (engine/report) and
// writes it where the caller may write, or mails it through a route.
// Every run is audited, whoever asks; a Viewer may run reports, mailing
// one needs what sending a notification needs (Operator).

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/notify"
	"github.com/rmmhq/rmm/engine/report"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

// Report types.
const (
	ReportInventory = "inventory" // hardware and software of every device
	ReportPatches   = "patches"   // patch compliance, as far as rmm knows it
	ReportUptime    = "uptime"    // availability and SLA per device and site, with the outages
	ReportAlerts    = "alerts"    // alert history with MTTA and MTTR
	ReportSecurity  = "security"  // Defender, firewall, BitLocker, TPM, admins, pending reboot
	ReportExecutive = "executive" // the summary with trends
)

// ReportTypes lists the report types with what each holds.
func ReportTypes() [][2]string {
	return [][2]string{
		{ReportInventory, "hardware and software of every device"},
		{ReportPatches, "compliance from Windows Update scans per ring, site and group, missing updates per device, hotfixes installed"},
		{ReportUptime, "availability and SLA per device and site, with the outages"},
		{ReportAlerts, "alert history: counts by severity, type and site, MTTA and MTTR"},
		{ReportSecurity, "security posture: Defender, firewall, BitLocker, TPM, local admins, pending reboot"},
		{ReportExecutive, "executive summary: key figures, trends, problem devices"},
	}
}

// DefaultSLATarget is the availability % a device must reach when
// RunReport names none.
const DefaultSLATarget = 99.5

// RunReport builds a report and writes it: to W, or to Path (a file name
// in an SSH user's export directory; any path for a local or CLI user),
// or, with neither, to Dir under a name of its type and period. With
// Mail, the file then goes out through that route: attached on its email
// channels, announced on the others (PagerDuty takes no reports).
type RunReport struct {
	Type      string
	Scope     store.Scope
	From, To  time.Time      // [From, To)
	Location  *time.Location // the days of trends and the period's dates; nil: UTC
	Format    string         // csv, html, pdf, xlsx
	Path      string
	W         io.Writer
	Dir       string // where a report without Path or W goes (reports.dir)
	Mail      string // a route name
	SLATarget float64
	Name      string    // a scheduled report's name, for the audit row and the file name
	Now       time.Time // zero: now
}

// ReportInfo is what RunReport did.
type ReportInfo struct {
	Type     string       `json:"type"`
	Format   string       `json:"format"`
	Path     string       `json:"path,omitempty"` // the file written; "" when written to W
	Name     string       `json:"name,omitempty"`
	Bytes    int64        `json:"bytes"`
	Rows     int          `json:"rows"`
	Confined bool         `json:"confined,omitempty"` // in the SSH user's export directory
	Mailed   []TestResult `json:"mailed,omitempty"`
}

// Action implements Request.
func (RunReport) Action() string { return "reports.run" }

// Permission implements Request: Viewers run reports; mailing one sends
// it out, which takes an Operator.
func (r RunReport) Permission() Permission {
	if r.Mail != "" {
		return PermAlertsEdit
	}
	return PermFleetView
}

// Mutating implements Request: not a change, but every run is audited
// (who took which fleet data where), success or failure.
func (RunReport) Mutating() bool { return true }

// Targets implements Request.
func (r RunReport) Targets() []string {
	t := []string{"report " + r.Type}
	if r.Path != "" {
		t = append(t, r.Path)
	}
	return t
}

// Details implements Request.
func (r RunReport) Details() map[string]any {
	d := map[string]any{"type": r.Type, "format": r.Format, "from": r.From.UTC().Format(time.RFC3339),
		"to": r.To.UTC().Format(time.RFC3339), "site": r.Scope.Site, "group": r.Scope.Group}
	if r.Mail != "" {
		d["mail"] = r.Mail
	}
	if r.Name != "" {
		d["schedule"] = r.Name
	}
	return d
}

// Validate checks the type, format, period and scope, so a front end can
// refuse bad input before it asks.
func (r RunReport) Validate() error {
	if !slices.ContainsFunc(ReportTypes(), func(t [2]string) bool { return t[0] == r.Type }) {
		names := make([]string, 0, 6)
		for _, t := range ReportTypes() {
			names = append(names, t[0])
		}
		return fmt.Errorf("report type %q is not one of %s", r.Type, strings.Join(names, ", "))
	}
	if !slices.Contains(report.Formats, r.Format) {
		return fmt.Errorf("report format %q is not one of %s", r.Format, strings.Join(report.Formats, ", "))
	}
	if r.From.IsZero() || r.To.IsZero() || !r.To.After(r.From) {
		return fmt.Errorf("report period %s to %s: the end must be after the start", day(r.From), day(r.To))
	}
	if r.To.Sub(r.From) > 400*24*time.Hour {
		return fmt.Errorf("report period of %d days: at most 400 (the rollups' reach)", int(r.To.Sub(r.From).Hours()/24))
	}
	if r.Scope.Site != "" && r.Scope.Group != "" {
		return errors.New("report: give a site or a group, not both")
	}
	return nil
}

func day(t time.Time) string {
	if t.IsZero() {
		return "(none)"
	}
	return t.Format("2006-01-02")
}

func (r RunReport) run(ctx context.Context, e *Engine, id Identity) (ReportInfo, error) {
	info := ReportInfo{Type: r.Type, Format: r.Format}
	if err := r.Validate(); err != nil {
		return info, err
	}
	if r.Location == nil {
		r.Location = time.UTC
	}
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	if r.SLATarget == 0 {
		r.SLATarget = DefaultSLATarget
	}
	var route notify.Route
	if r.Mail != "" {
		var ok bool
		if route, ok = e.NotifyOptions().RouteByName(r.Mail); !ok {
			return info, fmt.Errorf("report: no route %q in notifications.routes", r.Mail)
		}
	}
	// Every sample so far is in the rollups the report reads.
	if _, err := e.RollUp(ctx); err != nil {
		return info, fmt.Errorf("report: %w", err)
	}
	doc, err := e.buildReport(ctx, r)
	if err != nil {
		return info, fmt.Errorf("report %s: %w", r.Type, err)
	}
	info.Rows = doc.Rows()
	write := func(w io.Writer) error {
		cw := &countingWriter{w: w}
		err := report.Render(cw, doc, r.Format)
		info.Bytes = cw.n
		return err
	}
	switch {
	case r.W != nil && r.Path == "":
		if err := write(r.W); err != nil {
			return info, err
		}
	case id.Via == ViaSSH:
		name := r.Path
		if name == "" {
			name = r.fileName()
		}
		ex, err := exportConfined(e.opts.ExportsDir, id.User, name, info.Rows, write)
		if err != nil {
			return info, fmt.Errorf("report: %w", err)
		}
		info.Path, info.Name, info.Confined = ex.Path, ex.Name, true
	default:
		p := r.Path
		if p == "" {
			if r.Dir == "" {
				return info, errors.New("report: no file to write (give --out, or set reports.dir)")
			}
			if err := os.MkdirAll(r.Dir, 0o700); err != nil {
				return info, fmt.Errorf("report: %w", err)
			}
			p = filepath.Join(r.Dir, r.fileName())
		}
		p, err = expandHome(p)
		if err == nil {
			p, err = filepath.Abs(p)
		}
		if err != nil {
			return info, fmt.Errorf("report to %s: %w", r.Path, err)
		}
		if err := writeFileAtomic(p, write); err != nil {
			return info, fmt.Errorf("report to %s: %w", p, err)
		}
		info.Path, info.Name = p, filepath.Base(p)
	}
	if r.Mail == "" {
		return info, nil
	}
	if info.Path == "" {
		return info, errors.New("report: a mailed report needs a file (not standard output)")
	}
	info.Mailed, err = e.mailReport(ctx, route, doc, r, info)
	return info, err
}

// fileName is a report's default file name: type, scope and period.
func (r RunReport) fileName() string {
	parts := []string{"rmm"}
	if r.Name != "" {
		parts = append(parts, safeName(r.Name))
	}
	parts = append(parts, r.Type)
	if r.Scope.Site != "" {
		parts = append(parts, "site-"+safeName(r.Scope.Site))
	}
	if r.Scope.Group != "" {
		parts = append(parts, "group-"+safeName(r.Scope.Group))
	}
	parts = append(parts, r.From.In(r.Location).Format("2006-01-02"), r.To.Add(-time.Second).In(r.Location).Format("2006-01-02"))
	return strings.Join(parts, "_") + report.Ext(r.Format)
}

// safeName keeps letters, digits, '-' and '.' of a name for a file name.
func safeName(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' {
			return c
		}
		return '-'
	}, s)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// mailReport sends a written report through route: each email channel
// gets it attached, the other channels (but PagerDuty) a message saying
// where it is. Each message goes through the outbox, sent now.
func (e *Engine) mailReport(ctx context.Context, route notify.Route, doc report.Document, r RunReport, info ReportInfo) ([]TestResult, error) {
	opts, _ := e.notify.current()
	now := e.notify.now()
	msg := notify.Message{Kind: notify.KindReport, Route: route.Name, Org: opts.Org, At: now,
		Title:      "Report: " + doc.Title + " (" + doc.Subtitle + ")",
		Text:       fmt.Sprintf("%s, %d rows, %s.", doc.Title, info.Rows, strings.ToUpper(r.Format)),
		Attachment: &notify.Attachment{Path: info.Path, Name: info.Name, ContentType: report.ContentType(r.Format)}}
	for _, f := range doc.Facts {
		msg.Text += "\n" + f.Label + ": " + f.Value
	}
	payload, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var ms []store.OutboxMessage
	for _, name := range route.Channels {
		if opts.Channels[name].Type == notify.TypePagerDuty {
			continue
		}
		ms = append(ms, store.OutboxMessage{Route: route.Name, Channel: name, Kind: string(notify.KindReport),
			State: store.OutboxPending, Payload: payload, NotBefore: now})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("report: route %s has no channel that takes a report (PagerDuty does not)", route.Name)
	}
	ids, err := e.db.AddOutbox(ctx, ms, now)
	if err != nil {
		return nil, err
	}
	outs, err := e.deliverNow(ctx, ids)
	if err != nil {
		return nil, err
	}
	var res []TestResult
	var errs []error
	for i, id := range ids {
		tr := TestResult{Channel: ms[i].Channel, OutboxID: id}
		o, ok := outs[id]
		switch {
		case !ok:
			tr.Error = "queued; another rmm process sends it"
		case o.Sent:
			tr.Sent = true
		default:
			tr.Error = o.Err
			if !o.Retry.IsZero() {
				tr.Error += " (retried at " + o.Retry.UTC().Format(time.RFC3339) + ")"
			} else {
				errs = append(errs, fmt.Errorf("channel %s: %s", tr.Channel, o.Err))
			}
		}
		res = append(res, tr)
	}
	return res, errors.Join(errs...)
}

// reportCtx is what the builders share.
type reportCtx struct {
	e       *Engine
	r       RunReport
	devices []store.Device
	byID    map[int64]store.Device
	period  string // store.PeriodHour or store.PeriodDay
	notes   []string
}

func (e *Engine) buildReport(ctx context.Context, r RunReport) (report.Document, error) {
	devs, err := e.db.ScopedDevices(ctx, r.Scope)
	if err != nil {
		return report.Document{}, err
	}
	if len(devs) == 0 && r.Scope != (store.Scope{}) {
		return report.Document{}, fmt.Errorf("no device is in %s", scopeText(r.Scope))
	}
	rc := &reportCtx{e: e, r: r, devices: devs, byID: make(map[int64]store.Device, len(devs))}
	for _, d := range devs {
		rc.byID[d.ID] = d
	}
	if err := rc.choosePeriod(ctx); err != nil {
		return report.Document{}, err
	}
	var doc report.Document
	switch r.Type {
	case ReportInventory:
		doc, err = rc.inventory(ctx)
	case ReportPatches:
		doc, err = rc.patches(ctx)
	case ReportUptime:
		doc, err = rc.uptime(ctx)
	case ReportAlerts:
		doc, err = rc.alerts(ctx)
	case ReportSecurity:
		doc, err = rc.security(ctx)
	case ReportExecutive:
		doc, err = rc.executive(ctx)
	}
	if err != nil {
		return doc, err
	}
	doc.Org = e.NotifyOptions().Org
	doc.Generated = r.Now.UTC()
	doc.Subtitle = scopeText(r.Scope) + ", " + r.periodText()
	doc.Notes = append(doc.Notes, rc.notes...)
	return doc, nil
}

func scopeText(s store.Scope) string {
	switch {
	case s.Site != "":
		return "site " + s.Site
	case s.Group != "":
		return "group " + s.Group
	}
	return "all devices"
}

func (r RunReport) periodText() string {
	last := r.To.Add(-time.Nanosecond).In(r.Location)
	zone := r.Location.String()
	if zone == "Local" {
		zone = r.From.In(r.Location).Format("MST") // the zone's own name, not "Local"
	}
	return fmt.Sprintf("%s to %s (%s)", r.From.In(r.Location).Format("2006-01-02"), last.Format("2006-01-02"), zone)
}

// choosePeriod reads the hourly rollups when they reach back to the
// period's start, else the daily ones (whole UTC days), and says so.
func (rc *reportCtx) choosePeriod(ctx context.Context) error {
	rc.period = store.PeriodHour
	hourly, err := rc.e.db.OldestRollup(ctx, store.PeriodHour)
	if err != nil {
		return err
	}
	daily, err := rc.e.db.OldestRollup(ctx, store.PeriodDay)
	if err != nil {
		return err
	}
	if !hourly.IsZero() && rc.r.From.Before(hourly) && daily.Before(hourly.Truncate(24*time.Hour)) {
		rc.period = store.PeriodDay
		rc.notes = append(rc.notes, "Hourly data for the start of this period is past retention.rollups_hourly: "+
			"availability and trends come from daily rollups, whose days are UTC days.")
	}
	return nil
}

// bucketRange is the period widened to whole buckets of rc.period.
func (rc *reportCtx) bucketRange() (time.Time, time.Time) {
	if rc.period == store.PeriodDay {
		from := rc.r.From.UTC().Truncate(24 * time.Hour)
		to := rc.r.To.UTC().Add(24*time.Hour - time.Nanosecond).Truncate(24 * time.Hour)
		return from, to
	}
	return rc.r.From.UTC().Truncate(time.Hour), rc.r.To.UTC().Add(time.Hour - time.Nanosecond).Truncate(time.Hour)
}

func (rc *reportCtx) query(typ string) store.RollupQuery {
	from, to := rc.bucketRange()
	return store.RollupQuery{Period: rc.period, Type: typ, From: from, To: to, Scope: rc.r.Scope}
}

// days are the period's day labels (in the report's zone, or UTC for
// daily rollups) and the day index of a bucket start.
func (rc *reportCtx) days() ([]string, func(time.Time) int) {
	loc := rc.r.Location
	if rc.period == store.PeriodDay {
		loc = time.UTC
	}
	first := rc.r.From.In(loc)
	first = time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, loc)
	var labels []string
	index := map[string]int{}
	for d := first; d.Before(rc.r.To); d = d.AddDate(0, 0, 1) {
		k := d.Format("2006-01-02")
		index[k] = len(labels)
		labels = append(labels, d.Format("01-02"))
	}
	return labels, func(t time.Time) int {
		i, ok := index[t.In(loc).Format("2006-01-02")]
		if !ok {
			return -1
		}
		return i
	}
}

// trend turns rollup points into one chart series per name (site, or
// "all" for the fleet): sum/n (times scale) per day; a day without
// samples is a gap.
func (rc *reportCtx) trend(points []store.TrendPoint, perSite bool, scale float64) ([]string, []report.Series) {
	labels, dayOf := rc.days()
	type acc struct{ n, sum []float64 }
	series := map[string]*acc{}
	var names []string
	get := func(name string) *acc {
		a := series[name]
		if a == nil {
			a = &acc{n: make([]float64, len(labels)), sum: make([]float64, len(labels))}
			series[name] = a
			names = append(names, name)
		}
		return a
	}
	get("all")
	for _, p := range points {
		i := dayOf(p.Start)
		if i < 0 {
			continue
		}
		for _, name := range []string{"all", p.Site} {
			if name == p.Site && !perSite {
				continue
			}
			a := get(name)
			a.n[i] += float64(p.N)
			a.sum[i] += p.Sum
		}
	}
	var out []report.Series
	for _, name := range names {
		a := series[name]
		vals := make([]float64, len(labels))
		for i := range vals {
			vals[i] = math.NaN()
			if a.n[i] > 0 {
				vals[i] = a.sum[i] / a.n[i] * scale
			}
		}
		label := name
		if name == "all" {
			label = "all devices"
			if rc.r.Scope.Site != "" {
				label = "site " + rc.r.Scope.Site
			} else if rc.r.Scope.Group != "" {
				label = "group " + rc.r.Scope.Group
			}
		}
		out = append(out, report.Series{Name: label, Values: vals})
	}
	return labels, out
}

// availabilityChart is the availability per day, overall and per site
// (when the report spans 2 to 5 sites).
func (rc *reportCtx) availabilityChart(ctx context.Context) (report.Chart, error) {
	pts, err := rc.e.db.RollupTrend(ctx, rc.query(MetricPollOK))
	if err != nil {
		return report.Chart{}, err
	}
	sites := map[string]bool{}
	for _, d := range rc.devices {
		sites[d.Site] = true
	}
	labels, series := rc.trend(pts, len(sites) >= 2 && len(sites) <= 5, 100)
	lo := 100.0
	for _, s := range series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				lo = math.Min(lo, v)
			}
		}
	}
	// A scale that shows the dips: from the nearest 10 below the lowest day.
	ymin := math.Max(0, math.Floor((lo-0.5)/10)*10)
	return report.Chart{Title: "Availability per day", Kind: "line", Unit: "%", YMin: ymin, YMax: 100, Labels: labels, Series: series}, nil
}

// avail is a device's availability over the period.
type avail struct {
	polls, ok int64
}

func (a avail) pct() float64 {
	if a.polls == 0 {
		return math.NaN()
	}
	return float64(a.ok) / float64(a.polls) * 100
}

func (rc *reportCtx) availability(ctx context.Context) (map[int64]avail, error) {
	tot, err := rc.e.db.RollupTotals(ctx, rc.query(MetricPollOK))
	if err != nil {
		return nil, err
	}
	out := make(map[int64]avail, len(tot))
	for id, t := range tot {
		out[id] = avail{polls: t.N, ok: int64(math.Round(t.Sum))}
	}
	return out, nil
}

// outage is one offline stretch inside the period.
type outage struct {
	a          store.Alert
	site       string
	start, end time.Time
	ongoing    bool
}

func (o outage) minutes() float64 { return o.end.Sub(o.start).Minutes() }

func (rc *reportCtx) outages(ctx context.Context) ([]outage, error) {
	as, sites, err := rc.e.db.AlertsInRange(ctx, store.AlertRange{From: rc.r.From, To: rc.r.To, Overlap: true,
		Types: []string{AlertTypeOffline}, Scope: rc.r.Scope})
	if err != nil {
		return nil, err
	}
	var out []outage
	for _, a := range as {
		o := outage{a: a, site: sites[a.ID], start: a.FirstSeen, end: a.ResolvedAt}
		if o.end.IsZero() {
			o.end, o.ongoing = rc.r.Now, true
		}
		if o.start.Before(rc.r.From) {
			o.start = rc.r.From
		}
		if o.end.After(rc.r.To) {
			o.end = rc.r.To
		}
		if o.end.After(o.start) {
			out = append(out, o)
		}
	}
	return out, nil
}

func pctText(v float64) string {
	if math.IsNaN(v) {
		return "no data"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "%"
}

func durationText(d time.Duration) string {
	switch {
	case d <= 0:
		return "0m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()+0.5))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes()+0.5)%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func (rc *reportCtx) stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(rc.r.Location).Format("2006-01-02 15:04")
}

// --- uptime and SLA ---

func (rc *reportCtx) uptime(ctx context.Context) (report.Document, error) {
	doc := report.Document{Title: "Uptime and SLA"}
	av, err := rc.availability(ctx)
	if err != nil {
		return doc, err
	}
	outs, err := rc.outages(ctx)
	if err != nil {
		return doc, err
	}
	chart, err := rc.availabilityChart(ctx)
	if err != nil {
		return doc, err
	}
	doc.Charts = []report.Chart{chart}
	perDev := map[int64][]outage{}
	for _, o := range outs {
		perDev[o.a.DeviceID] = append(perDev[o.a.DeviceID], o)
	}
	type siteAcc struct {
		devices, met, withData, outages int
		polls, ok                       int64
		down                            time.Duration
	}
	sites := map[string]*siteAcc{}
	var fleet avail
	met, withData := 0, 0
	devRows := [][]report.Cell{}
	for _, d := range rc.devices {
		a := av[d.ID]
		s := sites[d.Site]
		if s == nil {
			s = &siteAcc{}
			sites[d.Site] = s
		}
		s.devices++
		var down time.Duration
		for _, o := range perDev[d.ID] {
			down += o.end.Sub(o.start)
		}
		s.outages += len(perDev[d.ID])
		s.down += down
		sla := "no data"
		if a.polls > 0 {
			withData++
			s.withData++
			s.polls += a.polls
			s.ok += a.ok
			fleet.polls += a.polls
			fleet.ok += a.ok
			sla = "missed"
			if a.pct() >= rc.r.SLATarget {
				sla = "met"
				met++
				s.met++
			}
		}
		devRows = append(devRows, []report.Cell{report.HostText(d.Hostname), report.HostText(d.Site), report.Percent(a.pct()),
			report.Int(a.polls), report.Int(a.polls - a.ok), report.Int(int64(len(perDev[d.ID]))),
			report.Number(down.Minutes(), 0), report.Text(sla)})
	}
	// Worst first: the devices a manager asks about.
	slices.SortStableFunc(devRows, func(x, y []report.Cell) int {
		return cmp.Compare(nanLast(x[2].Num, x[2].IsNum), nanLast(y[2].Num, y[2].IsNum))
	})
	var siteRows [][]report.Cell
	for _, name := range sortedKeys(sites) {
		s := sites[name]
		siteRows = append(siteRows, []report.Cell{report.HostText(name), report.Int(int64(s.devices)),
			report.Percent(avail{s.polls, s.ok}.pct()), report.Int(s.polls), report.Text(fmt.Sprintf("%d of %d", s.met, s.withData)),
			report.Int(int64(s.outages)), report.Number(s.down.Minutes(), 0)})
	}
	var outRows [][]report.Cell
	var total time.Duration
	for _, o := range outs {
		total += o.end.Sub(o.start)
		end := rc.stamp(o.end)
		if o.ongoing {
			end = "ongoing"
		}
		outRows = append(outRows, []report.Cell{report.HostText(o.a.Hostname), report.HostText(o.site), report.Text(rc.stamp(o.start)),
			report.Text(end), report.Number(o.minutes(), 0), report.Int(o.a.ID)})
	}
	doc.Facts = []report.Fact{
		{Label: "Availability", Value: pctText(fleet.pct())},
		{Label: "SLA target", Value: strconv.FormatFloat(rc.r.SLATarget, 'f', -1, 64) + "%"},
		{Label: "Devices meeting the SLA", Value: fmt.Sprintf("%d of %d", met, withData)},
		{Label: "Outages", Value: strconv.Itoa(len(outs))},
		{Label: "Time offline (all devices)", Value: durationText(total)},
		{Label: "Devices", Value: strconv.Itoa(len(rc.devices))},
	}
	if n := len(rc.devices) - withData; n > 0 {
		rc.notes = append(rc.notes, fmt.Sprintf("%d devices have no poll in this period (added later, or polling was off): they are listed as no data.", n))
	}
	rc.notes = append(rc.notes, "Availability is the share of polls that reached the device. An outage starts when rmm raised "+
		"the device's offline alert (after alerts.offline_after failed polls) and ends when a poll worked again.")
	doc.Tables = []report.Table{
		{Name: "Sites", Title: "Availability per site", Columns: []report.Column{{Title: "Site"}, {Title: "Devices", Numeric: true},
			{Title: "Availability %", Numeric: true}, {Title: "Polls", Numeric: true}, {Title: "Meeting SLA"},
			{Title: "Outages", Numeric: true}, {Title: "Minutes offline", Numeric: true}}, Rows: siteRows},
		{Name: "Devices", Title: "Availability per device (lowest first)", Columns: []report.Column{{Title: "Device"}, {Title: "Site"},
			{Title: "Availability %", Numeric: true}, {Title: "Polls", Numeric: true}, {Title: "Failed polls", Numeric: true},
			{Title: "Outages", Numeric: true}, {Title: "Minutes offline", Numeric: true}, {Title: "SLA"}}, Rows: devRows},
		{Name: "Outages", Title: "Outages", Columns: []report.Column{{Title: "Device"}, {Title: "Site"}, {Title: "Start"}, {Title: "End"},
			{Title: "Minutes", Numeric: true}, {Title: "Alert", Numeric: true}}, Rows: outRows},
	}
	return doc, nil
}

func nanLast(v float64, ok bool) float64 {
	if !ok || math.IsNaN(v) {
		return math.Inf(1)
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// --- alert history ---

// alertStats are the figures of a set of alerts.
type alertStats struct {
	raised, acked, resolved, auto int
	bySev                         map[string]int
	ackSum, resolveSum            time.Duration
}

func statsOf(as []store.Alert) alertStats {
	s := alertStats{bySev: map[string]int{}}
	for _, a := range as {
		s.raised++
		s.bySev[a.Severity]++
		if !a.AckedAt.IsZero() {
			s.acked++
			s.ackSum += a.AckedAt.Sub(a.FirstSeen)
		}
		if !a.ResolvedAt.IsZero() {
			s.resolved++
			s.resolveSum += a.ResolvedAt.Sub(a.FirstSeen)
			if a.AutoResolved {
				s.auto++
			}
		}
	}
	return s
}

func (s alertStats) mtta() time.Duration {
	if s.acked == 0 {
		return -1
	}
	return s.ackSum / time.Duration(s.acked)
}

func (s alertStats) mttr() time.Duration {
	if s.resolved == 0 {
		return -1
	}
	return s.resolveSum / time.Duration(s.resolved)
}

func meanText(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return durationText(d)
}

func minutesCell(d time.Duration) report.Cell {
	if d < 0 {
		return report.Text("-")
	}
	return report.Number(d.Minutes(), 1)
}

func (rc *reportCtx) alertsRaised(ctx context.Context) ([]store.Alert, map[int64]string, error) {
	return rc.e.db.AlertsInRange(ctx, store.AlertRange{From: rc.r.From, To: rc.r.To, Scope: rc.r.Scope})
}

// alertsChart counts the alerts raised per day by severity.
func (rc *reportCtx) alertsChart(as []store.Alert) report.Chart {
	labels, dayOf := rc.days()
	if rc.period == store.PeriodDay {
		// Alerts carry exact times: count them in the report's zone.
		rcc := *rc
		rcc.period = store.PeriodHour
		labels, dayOf = rcc.days()
	}
	var series []report.Series
	for _, sev := range []string{store.SeverityCritical, store.SeverityHigh, store.SeverityMedium, store.SeverityLow} {
		vals := make([]float64, len(labels))
		any := false
		for _, a := range as {
			if a.Severity == sev {
				if i := dayOf(a.FirstSeen); i >= 0 {
					vals[i]++
					any = true
				}
			}
		}
		if any {
			series = append(series, report.Series{Name: sev, Values: vals})
		}
	}
	if len(series) == 0 {
		series = []report.Series{{Name: "alerts", Values: make([]float64, len(labels))}}
	}
	return report.Chart{Title: "Alerts raised per day", Kind: "bar", Labels: labels, Series: series}
}

func (rc *reportCtx) alerts(ctx context.Context) (report.Document, error) {
	doc := report.Document{Title: "Alert history"}
	as, sites, err := rc.alertsRaised(ctx)
	if err != nil {
		return doc, err
	}
	st := statsOf(as)
	doc.Facts = []report.Fact{
		{Label: "Alerts raised", Value: strconv.Itoa(st.raised)},
		{Label: "Critical", Value: strconv.Itoa(st.bySev[store.SeverityCritical])},
		{Label: "High", Value: strconv.Itoa(st.bySev[store.SeverityHigh])},
		{Label: "MTTA (mean time to acknowledge)", Value: meanText(st.mtta())},
		{Label: "MTTR (mean time to resolve)", Value: meanText(st.mttr())},
		{Label: "Acknowledged", Value: fmt.Sprintf("%d of %d", st.acked, st.raised)},
		{Label: "Resolved (automatically)", Value: fmt.Sprintf("%d (%d)", st.resolved, st.auto)},
	}
	doc.Charts = []report.Chart{rc.alertsChart(as)}
	group := func(key func(store.Alert) string) [][]report.Cell {
		m := map[string][]store.Alert{}
		for _, a := range as {
			m[key(a)] = append(m[key(a)], a)
		}
		var rows [][]report.Cell
		for _, k := range sortedKeys(m) {
			s := statsOf(m[k])
			rows = append(rows, []report.Cell{report.HostText(k), report.Int(int64(s.raised)),
				report.Int(int64(s.bySev[store.SeverityCritical])), report.Int(int64(s.bySev[store.SeverityHigh])),
				minutesCell(s.mtta()), minutesCell(s.mttr())})
		}
		slices.SortStableFunc(rows, func(x, y []report.Cell) int { return cmp.Compare(y[1].Num, x[1].Num) })
		return rows
	}
	cols := func(first string) []report.Column {
		return []report.Column{{Title: first}, {Title: "Raised", Numeric: true}, {Title: "Critical", Numeric: true},
			{Title: "High", Numeric: true}, {Title: "MTTA min", Numeric: true}, {Title: "MTTR min", Numeric: true}}
	}
	var list [][]report.Cell
	for _, a := range as {
		tta, ttr := time.Duration(-1), time.Duration(-1)
		if !a.AckedAt.IsZero() {
			tta = a.AckedAt.Sub(a.FirstSeen)
		}
		if !a.ResolvedAt.IsZero() {
			ttr = a.ResolvedAt.Sub(a.FirstSeen)
		}
		what := a.Type
		if a.Instance != "" {
			what += " (" + a.Instance + ")"
		}
		list = append(list, []report.Cell{report.Int(a.ID), report.Text(rc.stamp(a.FirstSeen)), report.HostText(a.Hostname),
			report.HostText(sites[a.ID]), report.HostText(what), report.Text(a.Severity), report.Text(a.State),
			report.HostText(a.AckedBy), minutesCell(tta), minutesCell(ttr), report.HostText(a.Message)})
	}
	doc.Tables = []report.Table{
		{Name: "By type", Title: "By alert type", Columns: cols("Type"), Rows: group(func(a store.Alert) string { return a.Type })},
		{Name: "By site", Title: "By site", Columns: cols("Site"), Rows: group(func(a store.Alert) string { return sites[a.ID] })},
		{Name: "Alerts", Title: "Alerts raised", Columns: []report.Column{{Title: "Id", Numeric: true}, {Title: "Raised"}, {Title: "Device"},
			{Title: "Site"}, {Title: "Type"}, {Title: "Severity"}, {Title: "State"}, {Title: "Acknowledged by"},
			{Title: "To ack min", Numeric: true}, {Title: "To resolve min", Numeric: true}, {Title: "Message"}}, Rows: list},
	}
	rc.notes = append(rc.notes, "MTTA and MTTR count from when rmm raised each alert. Alerts moved to the archive by retention "+
		"(retention.data) are not counted.")
	return doc, nil
}

// --- inventory ---

// inventoryOf reads the stored documents of a category for the scope's
// devices, parsed.
func (rc *reportCtx) inventoryOf(ctx context.Context, category string) (map[int64]any, map[int64]time.Time, error) {
	rows, err := rc.e.db.InventoryOf(ctx, category)
	if err != nil {
		return nil, nil, err
	}
	docs, at := map[int64]any{}, map[int64]time.Time{}
	for _, r := range rows {
		if _, ok := rc.byID[r.DeviceID]; !ok {
			continue
		}
		v, _, err := scripts.ParseInventory(category, r.Data)
		if err != nil {
			continue // a document this rmm cannot read: shown as not collected
		}
		docs[r.DeviceID], at[r.DeviceID] = v, r.CollectedAt
	}
	return docs, at, nil
}

func gib(b int64) report.Cell {
	if b <= 0 {
		return report.Text("-")
	}
	return report.Number(float64(b)/(1<<30), 1)
}

func (rc *reportCtx) inventory(ctx context.Context) (report.Document, error) {
	doc := report.Document{Title: "Fleet inventory"}
	hw, hwAt, err := rc.inventoryOf(ctx, scripts.InventoryHardware)
	if err != nil {
		return doc, err
	}
	sw, _, err := rc.inventoryOf(ctx, scripts.InventorySoftware)
	if err != nil {
		return doc, err
	}
	type app struct{ name, version, publisher string }
	apps := map[app]int{}
	var devRows, detail [][]report.Cell
	osCount := map[string]int{}
	collected := 0
	for _, d := range rc.devices {
		row := []report.Cell{report.HostText(d.Hostname), report.HostText(d.Site), report.HostText(strings.Join(d.Groups, ", "))}
		var s *scripts.SoftwareInventory
		if v, ok := sw[d.ID].(*scripts.SoftwareInventory); ok {
			s = v
		}
		osName, build, lastBoot := d.OSName, d.OSVersion, "-"
		if s != nil {
			osName, build = s.OS.Name, s.OS.Version
			if s.OS.Build != "" {
				build = s.OS.Build
				if s.OS.UBR > 0 {
					build += "." + strconv.Itoa(s.OS.UBR)
				}
			}
			if !s.OS.LastBoot.IsZero() {
				lastBoot = rc.stamp(s.OS.LastBoot.Time)
			}
			for _, a := range s.Applications.Value {
				k := app{string(a.Name), string(a.Version), string(a.Publisher)}
				apps[k]++
				detail = append(detail, []report.Cell{report.HostText(d.Hostname), report.HostText(k.name), report.HostText(k.version),
					report.HostText(k.publisher), report.HostText(string(a.InstallDate))})
			}
		}
		if osName != "" {
			osCount[osName]++
		}
		row = append(row, report.HostText(osName), report.HostText(build))
		h, ok := hw[d.ID].(*scripts.HardwareInventory)
		if ok {
			collected++
			serial, cpu, disk := "-", "-", int64(0)
			if h.BIOS.Value != nil {
				serial = h.BIOS.Value.SerialNumber
			}
			if len(h.Processors.Value) > 0 {
				cpu = h.Processors.Value[0].Name
			}
			cores := 0
			for _, p := range h.Processors.Value {
				cores += p.Cores
			}
			for _, v := range h.Volumes.Value {
				if v.DriveType == 3 {
					disk += v.SizeBytes
				}
			}
			row = append(row, report.HostText(h.System.Manufacturer), report.HostText(h.System.Model), report.HostText(serial),
				report.HostText(cpu), report.Int(int64(cores)), gib(h.System.TotalMemoryBytes), gib(disk), report.Text(lastBoot),
				report.Text(rc.stamp(hwAt[d.ID])))
		} else {
			row = append(row, report.Text("not collected"), report.Text("-"), report.Text("-"), report.Text("-"), report.Text("-"),
				report.Text("-"), report.Text("-"), report.Text(lastBoot), report.Text("-"))
		}
		devRows = append(devRows, row)
	}
	var appRows [][]report.Cell
	for k, n := range apps {
		appRows = append(appRows, []report.Cell{report.HostText(k.name), report.HostText(k.version), report.HostText(k.publisher), report.Int(int64(n))})
	}
	slices.SortFunc(appRows, func(x, y []report.Cell) int {
		return cmp.Or(cmp.Compare(y[3].Num, x[3].Num), strings.Compare(x[0].Text, y[0].Text), strings.Compare(x[1].Text, y[1].Text))
	})
	var osRows [][]report.Cell
	for _, name := range sortedKeys(osCount) {
		osRows = append(osRows, []report.Cell{report.HostText(name), report.Int(int64(osCount[name]))})
	}
	slices.SortStableFunc(osRows, func(x, y []report.Cell) int { return cmp.Compare(y[1].Num, x[1].Num) })
	doc.Facts = []report.Fact{
		{Label: "Devices", Value: strconv.Itoa(len(rc.devices))},
		{Label: "Hardware inventory collected", Value: fmt.Sprintf("%d of %d", collected, len(rc.devices))},
		{Label: "Operating systems", Value: strconv.Itoa(len(osCount))},
		{Label: "Distinct applications", Value: strconv.Itoa(len(apps))},
	}
	if collected < len(rc.devices) {
		rc.notes = append(rc.notes, fmt.Sprintf("%d devices have no hardware inventory yet: run rmm inventory collect, or wait for schedules.inventory.", len(rc.devices)-collected))
	}
	doc.Tables = []report.Table{
		{Name: "Devices", Title: "Devices (hardware and operating system)", Columns: []report.Column{{Title: "Device"}, {Title: "Site"},
			{Title: "Groups"}, {Title: "OS"}, {Title: "Build"}, {Title: "Manufacturer"}, {Title: "Model"}, {Title: "Serial"},
			{Title: "CPU"}, {Title: "Cores", Numeric: true}, {Title: "Memory GiB", Numeric: true}, {Title: "Disk GiB", Numeric: true},
			{Title: "Last boot"}, {Title: "Collected"}}, Rows: devRows},
		{Name: "Operating systems", Title: "Operating systems", Columns: []report.Column{{Title: "OS"}, {Title: "Devices", Numeric: true}}, Rows: osRows},
		{Name: "Applications", Title: "Applications (installed on how many devices)", Columns: []report.Column{{Title: "Application"},
			{Title: "Version"}, {Title: "Publisher"}, {Title: "Devices", Numeric: true}}, Rows: appRows},
		{Name: "Software per device", Title: "Software per device", Detail: true, Columns: []report.Column{{Title: "Device"},
			{Title: "Application"}, {Title: "Version"}, {Title: "Publisher"}, {Title: "Installed"}}, Rows: detail},
	}
	rc.notes = append(rc.notes, "Inventory is the latest collection of each device, not the state at the end of the period.")
	return doc, nil
}

// --- patch compliance ---

func (rc *reportCtx) patches(ctx context.Context) (report.Document, error) {
	doc := report.Document{Title: "Patch compliance"}
	scanFacts, scanTables, scanned, err := rc.patchScanPart(ctx)
	if err != nil {
		return doc, err
	}
	if scanned {
		doc.Notes = []string{"Compliance is from each device's last Windows Update scan (rmm patch scan, schedules.patch_scan), " +
			"as it is now, not at the end of the period. The hotfix tables after it are what the software inventory holds."}
	} else {
		doc.Notes = []string{"No device in this report has a Windows Update scan yet (rmm patch scan, or wait for " +
			"schedules.patch_scan): this report cannot list missing updates. It shows what the software and security " +
			"inventory hold: the hotfixes installed on each device, when the newest was installed, and pending reboots."}
	}
	sw, swAt, err := rc.inventoryOf(ctx, scripts.InventorySoftware)
	if err != nil {
		return doc, err
	}
	sec, _, err := rc.inventoryOf(ctx, scripts.InventorySecurity)
	if err != nil {
		return doc, err
	}
	opts, _ := AlertOptions{}.withDefaults()
	if rc.e.alerts != nil {
		opts = rc.e.alerts.options()
	}
	var rows, detail [][]report.Cell
	within, stale, unknown, reboot := 0, 0, 0, 0
	for _, d := range rc.devices {
		limit := opts.Thresholds.For(d.Hostname, d.Groups).UpdatesAge
		s, _ := sw[d.ID].(*scripts.SoftwareInventory)
		x, _ := sec[d.ID].(*scripts.SecurityInventory)
		var newest time.Time
		newestID, count := "-", 0
		if s != nil {
			for _, h := range s.Hotfixes.Value {
				count++
				if h.InstalledOn.After(newest) {
					newest, newestID = h.InstalledOn.Time, h.ID
				}
				detail = append(detail, []report.Cell{report.HostText(d.Hostname), report.HostText(h.ID), report.HostText(h.Description),
					report.Text(day(h.InstalledOn.Time)), report.HostText(h.InstalledBy)})
			}
		}
		if x != nil && x.LastUpdateInstalled.After(newest) {
			newest = x.LastUpdateInstalled.Time
		}
		pending := "-"
		if x != nil {
			pending = "no"
			if x.PendingReboot.Pending {
				pending = "yes"
				reboot++
			}
		}
		state, age := "not collected", math.NaN()
		switch {
		case s == nil && x == nil:
			unknown++
		case newest.IsZero():
			state = "no update date known"
			unknown++
		default:
			age = rc.r.Now.Sub(newest).Hours() / 24
			if rc.r.Now.Sub(newest) <= limit {
				state = "yes"
				within++
			} else {
				state = "no"
				stale++
			}
		}
		build := d.OSVersion
		if s != nil && s.OS.Build != "" {
			build = s.OS.Build
			if s.OS.UBR > 0 {
				build += "." + strconv.Itoa(s.OS.UBR)
			}
		}
		rows = append(rows, []report.Cell{report.HostText(d.Hostname), report.HostText(d.Site), report.HostText(build),
			report.Int(int64(count)), report.HostText(newestID), report.Text(day(newest)), report.Number(age, 0),
			report.Text(fmt.Sprintf("%s (%d d)", state, int(limit.Hours()/24))), report.Text(pending), report.Text(rc.stamp(swAt[d.ID]))})
	}
	slices.SortStableFunc(rows, func(x, y []report.Cell) int {
		return cmp.Compare(nanLast(-y[6].Num, y[6].IsNum), nanLast(-x[6].Num, x[6].IsNum))
	})
	doc.Facts = []report.Fact{
		{Label: "Devices", Value: strconv.Itoa(len(rc.devices))},
		{Label: "Update installed within updates_max_age", Value: strconv.Itoa(within)},
		{Label: "No update within updates_max_age", Value: strconv.Itoa(stale)},
		{Label: "Not known (not collected)", Value: strconv.Itoa(unknown)},
		{Label: "Pending reboot", Value: strconv.Itoa(reboot)},
	}
	doc.Facts = append(scanFacts, doc.Facts...)
	doc.Tables = append(scanTables, []report.Table{
		{Name: "Devices", Title: "Updates installed per device (oldest first)", Columns: []report.Column{{Title: "Device"}, {Title: "Site"},
			{Title: "OS build"}, {Title: "Hotfixes", Numeric: true}, {Title: "Newest hotfix"}, {Title: "Installed on"},
			{Title: "Days since", Numeric: true}, {Title: "Within updates_max_age"}, {Title: "Pending reboot"}, {Title: "Collected"}}, Rows: rows},
		{Name: "Hotfixes", Title: "Hotfixes per device", Detail: true, Columns: []report.Column{{Title: "Device"}, {Title: "Hotfix"},
			{Title: "Description"}, {Title: "Installed on"}, {Title: "Installed by"}}, Rows: detail},
	}...)
	return doc, nil
}

// --- security posture ---

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (rc *reportCtx) security(ctx context.Context) (report.Document, error) {
	doc := report.Document{Title: "Security posture"}
	sec, secAt, err := rc.inventoryOf(ctx, scripts.InventorySecurity)
	if err != nil {
		return doc, err
	}
	var rows [][]report.Cell
	var n, av, rtp, fw, bl, tpm, reboot int
	for _, d := range rc.devices {
		x, ok := sec[d.ID].(*scripts.SecurityInventory)
		if !ok {
			rows = append(rows, []report.Cell{report.HostText(d.Hostname), report.HostText(d.Site), report.Text("not collected"),
				report.Text("-"), report.Text("-"), report.Text("-"), report.Text("-"), report.Text("-"), report.Text("-"), report.Text("-"), report.Text("-")})
			continue
		}
		n++
		def, rt, sigAge := "unknown", "unknown", math.NaN()
		if dv := x.Defender.Value; dv != nil {
			def, rt = yesNo(dv.AntivirusEnabled), yesNo(dv.RealTimeProtection)
			if dv.AntivirusEnabled {
				av++
			}
			if dv.RealTimeProtection {
				rtp++
			}
			if !dv.SignatureLastUpdated.IsZero() {
				sigAge = rc.r.Now.Sub(dv.SignatureLastUpdated.Time).Hours() / 24
			}
		}
		firewall := "unknown"
		if ps := x.Firewall.Value; len(ps) > 0 {
			on := true
			for _, p := range ps {
				on = on && p.On()
			}
			firewall = yesNo(on)
			if on {
				fw++
			}
		}
		bitlocker := "unknown"
		if vs := x.BitLocker.Value; len(vs) > 0 {
			bitlocker = "no"
			for _, v := range vs {
				if strings.EqualFold(strings.TrimSuffix(v.MountPoint, `\`), "C:") && v.ProtectionStatus == 1 {
					bitlocker = "yes"
					bl++
				}
			}
		}
		tpmText := "unknown"
		if t := x.TPM.Value; t != nil {
			tpmText = yesNo(t.Present && t.Ready)
			if t.Present && t.Ready {
				tpm++
			}
		}
		admins := report.Text("-")
		if x.Administrators.Unavailable == "" {
			admins = report.Int(int64(len(x.Administrators.Value)))
		}
		pending := yesNo(x.PendingReboot.Pending)
		if x.PendingReboot.Pending {
			reboot++
		}
		rows = append(rows, []report.Cell{report.HostText(d.Hostname), report.HostText(d.Site), report.Text(def), report.Text(rt),
			report.Number(sigAge, 1), report.Text(firewall), report.Text(bitlocker), report.Text(tpmText), admins, report.Text(pending),
			report.Text(rc.stamp(secAt[d.ID]))})
	}
	share := func(k int) string {
		if n == 0 {
			return "no data"
		}
		return fmt.Sprintf("%d of %d (%.0f%%)", k, n, float64(k)/float64(n)*100)
	}
	doc.Facts = []report.Fact{
		{Label: "Security inventory collected", Value: fmt.Sprintf("%d of %d", n, len(rc.devices))},
		{Label: "Defender antivirus on", Value: share(av)},
		{Label: "Real-time protection on", Value: share(rtp)},
		{Label: "Firewall on (every profile)", Value: share(fw)},
		{Label: "BitLocker protecting C:", Value: share(bl)},
		{Label: "TPM present and ready", Value: share(tpm)},
		{Label: "Pending reboot", Value: strconv.Itoa(reboot)},
	}
	if n < len(rc.devices) {
		rc.notes = append(rc.notes, fmt.Sprintf("%d devices have no security inventory yet (schedules.security collects it).", len(rc.devices)-n))
	}
	rc.notes = append(rc.notes, "Posture is each device's latest security collection, not the state over the period.")
	doc.Tables = []report.Table{{Name: "Devices", Title: "Security posture per device", Columns: []report.Column{{Title: "Device"},
		{Title: "Site"}, {Title: "Defender"}, {Title: "Real-time"}, {Title: "Signatures age d", Numeric: true}, {Title: "Firewall"},
		{Title: "BitLocker C:"}, {Title: "TPM"}, {Title: "Local admins", Numeric: true}, {Title: "Pending reboot"}, {Title: "Collected"}}, Rows: rows}}
	return doc, nil
}

// --- executive summary ---

func (rc *reportCtx) executive(ctx context.Context) (report.Document, error) {
	doc := report.Document{Title: "Executive summary"}
	av, err := rc.availability(ctx)
	if err != nil {
		return doc, err
	}
	as, _, err := rc.alertsRaised(ctx)
	if err != nil {
		return doc, err
	}
	outs, err := rc.outages(ctx)
	if err != nil {
		return doc, err
	}
	availChart, err := rc.availabilityChart(ctx)
	if err != nil {
		return doc, err
	}
	var perf []report.Series
	var perfLabels []string
	for _, m := range []struct{ typ, name string }{{"cpu_pct", "CPU %"}, {"mem_pct", "memory %"}} {
		pts, err := rc.e.db.RollupTrend(ctx, rc.query(m.typ))
		if err != nil {
			return doc, err
		}
		labels, series := rc.trend(pts, false, 1)
		perfLabels = labels
		series[0].Name = m.name
		perf = append(perf, series[0])
	}
	doc.Charts = []report.Chart{availChart, rc.alertsChart(as),
		{Title: "Average CPU and memory use per day", Kind: "line", Unit: "%", YMax: 100, Labels: perfLabels, Series: perf}}

	var fleet avail
	met, withData := 0, 0
	for _, d := range rc.devices {
		a := av[d.ID]
		if a.polls > 0 {
			withData++
			fleet.polls += a.polls
			fleet.ok += a.ok
			if a.pct() >= rc.r.SLATarget {
				met++
			}
		}
	}
	st := statsOf(as)
	health, err := rc.e.Health(ctx, rc.r.Now)
	if err != nil {
		return doc, err
	}
	scores := map[int64]DeviceHealth{}
	var sum, counted, healthy, warning, critical int
	for _, h := range health {
		if _, ok := rc.byID[h.DeviceID]; !ok {
			continue
		}
		scores[h.DeviceID] = h
		sum += h.Score
		counted++
		switch h.Status {
		case HealthHealthy:
			healthy++
		case HealthWarning:
			warning++
		default:
			critical++
		}
	}
	avgHealth := "n/a"
	if counted > 0 {
		avgHealth = strconv.Itoa(sum / counted)
	}
	var down time.Duration
	for _, o := range outs {
		down += o.end.Sub(o.start)
	}
	doc.Facts = []report.Fact{
		{Label: "Devices", Value: strconv.Itoa(len(rc.devices))},
		{Label: "Availability", Value: pctText(fleet.pct())},
		{Label: "Meeting the SLA (" + strconv.FormatFloat(rc.r.SLATarget, 'f', -1, 64) + "%)", Value: fmt.Sprintf("%d of %d", met, withData)},
		{Label: "Outages (time offline)", Value: fmt.Sprintf("%d (%s)", len(outs), durationText(down))},
		{Label: "Alerts raised (critical)", Value: fmt.Sprintf("%d (%d)", st.raised, st.bySev[store.SeverityCritical])},
		{Label: "MTTR", Value: meanText(st.mttr())},
		{Label: "Health score now (average)", Value: avgHealth},
		{Label: "Healthy / warning / critical now", Value: fmt.Sprintf("%d / %d / %d", healthy, warning, critical)},
	}
	// Problem devices: most alerts, then lowest availability.
	alertsOf := map[int64][2]int{}
	for _, a := range as {
		c := alertsOf[a.DeviceID]
		c[0]++
		if a.Severity == store.SeverityCritical {
			c[1]++
		}
		alertsOf[a.DeviceID] = c
	}
	type problem struct {
		d      store.Device
		alerts [2]int
		avail  float64
	}
	var ps []problem
	for _, d := range rc.devices {
		p := problem{d: d, alerts: alertsOf[d.ID], avail: av[d.ID].pct()}
		if p.alerts[0] > 0 || (!math.IsNaN(p.avail) && p.avail < rc.r.SLATarget) {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(x, y problem) int {
		return cmp.Or(cmp.Compare(y.alerts[1], x.alerts[1]), cmp.Compare(y.alerts[0], x.alerts[0]),
			cmp.Compare(nanLast(x.avail, true), nanLast(y.avail, true)), strings.Compare(x.d.Hostname, y.d.Hostname))
	})
	if len(ps) > 10 {
		ps = ps[:10]
	}
	var rows [][]report.Cell
	for _, p := range ps {
		hs := report.Text("-")
		if h, ok := scores[p.d.ID]; ok {
			hs = report.Int(int64(h.Score))
		}
		rows = append(rows, []report.Cell{report.HostText(p.d.Hostname), report.HostText(p.d.Site), hs, report.Percent(p.avail),
			report.Int(int64(p.alerts[0])), report.Int(int64(p.alerts[1]))})
	}
	doc.Tables = []report.Table{{Name: "Problem devices", Title: "Problem devices (most alerts, lowest availability)",
		Columns: []report.Column{{Title: "Device"}, {Title: "Site"}, {Title: "Health now", Numeric: true},
			{Title: "Availability %", Numeric: true}, {Title: "Alerts", Numeric: true}, {Title: "Critical", Numeric: true}}, Rows: rows}}
	rc.notes = append(rc.notes, "Health scores are as of when the report was made; availability, alerts and trends cover the period.")
	return doc, nil
}
