package ui

// :report TYPE [FORMAT] [PERIOD] [site:NAME|group:NAME] [FILE]: a report
// written by the engine (engine.RunReport), so every run is authorized
// and audited. A console on this machine writes to reports.dir (or the
// path given); over SSH the file goes to the user's export directory,
// fetched with scp. The toast says where it went.

import (
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// reportMsg is a finished report.
type reportMsg struct {
	info engine.ReportInfo
	err  error
}

var reportFormats = []string{"pdf", "html", "xlsx", "csv"}

var reportPeriods = []string{"previous-month", "previous-week", "previous-day", "7d", "30d", "90d"}

// reportRequest parses the palette's arguments into a request; bad says
// why they do not parse.
func (m *Model) reportRequest(args string, now time.Time) (engine.RunReport, string) {
	usage := "usage: :report TYPE [pdf|html|xlsx|csv] [previous-month|previous-week|previous-day|30d] [site:NAME|group:NAME] [FILE]"
	f := strings.Fields(args)
	if len(f) == 0 {
		return engine.RunReport{}, usage
	}
	loc := m.opts.ReportLocation
	if loc == nil {
		loc = time.Local
	}
	r := engine.RunReport{Type: strings.ToLower(f[0]), Format: "pdf", Location: loc, Dir: m.opts.ReportDir, SLATarget: m.opts.SLATarget}
	period := "previous-month"
	for _, w := range f[1:] {
		lw := strings.ToLower(w)
		switch {
		case contains(reportFormats, lw):
			r.Format = lw
		case contains(reportPeriods, lw) || strings.HasSuffix(lw, "d") && isNumber(lw[:len(lw)-1]):
			period = lw
		case strings.HasPrefix(lw, "site:"):
			r.Scope.Site = w[len("site:"):]
		case strings.HasPrefix(lw, "group:"):
			r.Scope.Group = w[len("group:"):]
		case r.Path == "":
			r.Path = w
		default:
			return r, "report: " + strconv.Quote(w) + " is not a format, a period or a scope; " + usage
		}
	}
	r.From, r.To = reportRange(period, now, loc)
	if m.opts.ExportFetch != "" && r.Path != "" {
		if err := engine.CheckExportName(r.Path); err != nil {
			return r, "report: " + err.Error()
		}
	}
	if err := r.Validate(); err != nil {
		return r, err.Error()
	}
	return r, ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func isNumber(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n <= 400
}

// reportRange is the period's [from, to) before now in loc.
func reportRange(period string, now time.Time, loc *time.Location) (time.Time, time.Time) {
	lt := now.In(loc)
	today := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	switch period {
	case "previous-day":
		return today.AddDate(0, 0, -1), today
	case "previous-week":
		monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
		return monday.AddDate(0, 0, -7), monday
	case "previous-month":
		first := time.Date(lt.Year(), lt.Month(), 1, 0, 0, 0, 0, loc)
		return first.AddDate(0, -1, 0), first
	}
	days, _ := strconv.Atoi(strings.TrimSuffix(period, "d"))
	return now.AddDate(0, 0, -days), now
}

// runReport is :report. The report is built and written in a command, so
// a large fleet never holds the screen.
func runReport(m Model, args string) (Model, tea.Cmd) {
	r, bad := m.reportRequest(args, m.now())
	if bad != "" {
		return m, m.notify(bad, true)
	}
	rq := m.feed.caps.req
	if rq == nil {
		return m, m.notify("report: this console cannot send requests to the engine", true)
	}
	ctx := m.feed.ctx
	return m, func() tea.Msg {
		info, err := engine.Ask(ctx, rq, r)
		return reportMsg{info: info, err: err}
	}
}

// reported is the toast of a finished report: where it went.
func (m *Model) reported(msg reportMsg) tea.Cmd {
	if msg.err != nil {
		return m.notify(msg.err.Error(), true)
	}
	i := msg.info
	s := i.Type + " report (" + i.Format + ", " + Thousands(i.Rows) + " rows) written to "
	if !i.Confined {
		return m.notify(s+i.Path, false)
	}
	s += i.Name + " in your export directory"
	if m.opts.ExportFetch != "" {
		s += "; fetch: " + m.opts.ExportFetch + i.Name + " ."
	}
	return m.notify(s, false)
}

// completeReport suggests the report types (with what each holds), then
// formats and periods.
func completeReport(m *Model, args string) []suggestion {
	if !strings.Contains(args, " ") {
		desc := map[string]string{}
		var types []string
		for _, t := range engine.ReportTypes() {
			types = append(types, t[0])
			desc[t[0]] = t[1]
		}
		out := completeWords(m, "report", args, types, func(w string) string { return desc[w] })
		for i := range out {
			out[i].text += " "
			out[i].show += " [FORMAT] [PERIOD]"
		}
		return out
	}
	f := strings.Fields(args)
	prefix := "report " + strings.Join(f, " ")
	last := ""
	if !strings.HasSuffix(args, " ") {
		prefix = "report " + strings.Join(f[:len(f)-1], " ")
		last = f[len(f)-1]
	}
	var out []suggestion
	for _, w := range append(append([]string{}, reportFormats...), reportPeriods...) {
		if strings.HasPrefix(w, strings.ToLower(last)) && !contains(f, w) {
			out = append(out, suggestion{text: prefix + " " + w, show: w, final: true})
		}
	}
	return out
}
