package cmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// reportPeriod turns --from, --to and --period into [from, to) in loc:
// dates are whole days, --to the last day included; without any, the
// previous calendar month.
func reportPeriod(from, to, period string, now time.Time, loc *time.Location) (time.Time, time.Time, error) {
	parse := func(flag, s string) (time.Time, error) {
		for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", time.RFC3339} {
			if t, err := time.ParseInLocation(layout, s, loc); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("--%s %q: use a date (2026-11-01) or a time (2026-11-01T08:00)", flag, s)
	}
	if period != "" {
		if from != "" || to != "" {
			return time.Time{}, time.Time{}, fmt.Errorf("give --period or --from/--to, not both")
		}
		p, err := config.ParsePeriod(period)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--period: %w", err)
		}
		f, t := p.Range(now, loc)
		return f, t, nil
	}
	if from == "" && to == "" {
		f, t := config.Period{Kind: "month"}.Range(now, loc)
		return f, t, nil
	}
	var f, t time.Time
	var err error
	if from != "" {
		if f, err = parse("from", from); err != nil {
			return f, t, err
		}
	}
	switch {
	case to == "":
		lt := now.In(loc)
		t = time.Date(lt.Year(), lt.Month(), lt.Day()+1, 0, 0, 0, 0, loc) // through today
	default:
		if t, err = parse("to", to); err != nil {
			return f, t, err
		}
		if len(to) == len("2006-01-02") {
			t = t.AddDate(0, 0, 1) // the last day is included
		}
	}
	if f.IsZero() {
		f = t.AddDate(0, -1, 0)
	}
	return f, t, nil
}

func (a *app) reportCommand() *cobra.Command {
	var (
		site, group, from, to, period, format, out, mail string
		sla                                              float64
		asJSON                                           bool
	)
	var types []string
	for _, t := range engine.ReportTypes() {
		types = append(types, fmt.Sprintf("  %-10s %s", t[0], t[1]))
	}
	cmd := &cobra.Command{
		Use:   "report TYPE",
		Short: "Write a report (inventory, patches, uptime, alerts, security, executive) as CSV, HTML, PDF or XLSX",
		Long: `Write a report of the devices of a site, a group or the whole fleet over a
period, as CSV (for spreadsheets and scripts), HTML (one self-contained page
with charts), PDF (with charts) or XLSX (a sheet per table). Types:
` + strings.Join(types, "\n") + `

The period: --from and --to are dates in schedules.timezone, --to the last day
included; or --period previous-day, previous-week, previous-month or a length
(30d). Without either: the previous calendar month. Availability and trends
come from the hourly and daily metric rollups (retention.rollups_hourly,
retention.rollups), so a monthly report works while raw metrics are kept 7
days.

Where it goes: --out FILE (- for standard output), else reports.dir with a
name of its type and period; the path is printed. --mail ROUTE then sends it
through that route: attached on its email channels, announced on its Teams,
Slack and webhook channels. Any role may run a report (each run is audited);
--mail needs Operator.`,
		Example: `  rmm report uptime --format pdf                         # last month, to reports.dir
  rmm report uptime --site hq --from 2026-11-01 --to 2026-11-30 --out hq-nov.pdf
  rmm report inventory --format xlsx --out fleet.xlsx
  rmm report alerts --period previous-week --format csv --out - | head
  rmm report executive --group servers --mail managers`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := a.current()
			loc := scheduleLocation(c)
			f, t, err := reportPeriod(from, to, period, time.Now(), loc)
			if err != nil {
				return exitError{2, err}
			}
			if sla == 0 {
				sla = c.Reports.SLATarget
			}
			req := engine.RunReport{Type: strings.ToLower(args[0]), Scope: store.Scope{Site: site, Group: group}, From: f, To: t,
				Location: loc, Format: strings.ToLower(format), Dir: c.Reports.Dir, Mail: mail, SLATarget: sla}
			switch out {
			case "-":
				req.W = a.stdout
			default:
				req.Path = out
			}
			if err := req.Validate(); err != nil {
				return exitError{2, err}
			}
			if req.W != nil && mail != "" {
				return exitError{2, fmt.Errorf("--mail needs a file: drop --out -")}
			}
			return a.withNotifyEngine(cmd, true, func(eng *engine.Engine, id engine.Identity) error {
				info, err := engine.Call(cmd.Context(), eng, id, req)
				if asJSON && req.W == nil {
					if jerr := writeJSON(a.stdout, info); jerr != nil {
						return jerr
					}
				} else if req.W == nil && info.Path != "" {
					fmt.Fprintf(a.stdout, "%s report (%s, %d rows, %d bytes) written to %s\n", info.Type, info.Format, info.Rows, info.Bytes, info.Path)
					for _, m := range info.Mailed {
						if m.Sent {
							fmt.Fprintf(a.stdout, "sent on channel %s (outbox id %d)\n", m.Channel, m.OutboxID)
						} else {
							fmt.Fprintf(a.stdout, "not sent on channel %s (outbox id %d): %s\n", m.Channel, m.OutboxID, asciiOnly(m.Error))
						}
					}
				}
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&site, "site", "", "only the devices of this site")
	f.StringVar(&group, "group", "", "only the devices of this group")
	f.StringVar(&from, "from", "", "first day (2026-11-01) in schedules.timezone")
	f.StringVar(&to, "to", "", "last day included (2026-11-30)")
	f.StringVar(&period, "period", "", "previous-day, previous-week, previous-month or a length back from now (30d)")
	f.StringVar(&format, "format", "pdf", "csv, html, pdf or xlsx")
	f.StringVar(&out, "out", "", "file to write (- for standard output); default: reports.dir")
	f.StringVar(&mail, "mail", "", "send the report through this route of notifications.routes")
	f.Float64Var(&sla, "sla", 0, "availability % that meets the SLA (default reports.sla_target)")
	f.BoolVar(&asJSON, "json", false, "print where the report went as JSON: {type, format, path, name, bytes, rows, mailed}")
	return cmd
}
