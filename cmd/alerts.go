package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

// alertJSON is the stable --json form of one alert (rmm alerts, ack,
// resolve). Absent values are null, never omitted.
type alertJSON struct {
	ID           int64      `json:"id"`
	DeviceID     *int64     `json:"device_id"` // null for an alert of no single device
	Hostname     string     `json:"hostname"`
	Type         string     `json:"type"`
	Instance     string     `json:"instance"`
	Severity     string     `json:"severity"`
	State        string     `json:"state"`
	Message      string     `json:"message"`
	Count        int        `json:"count"`
	FirstSeen    time.Time  `json:"first_seen"`
	LastSeen     time.Time  `json:"last_seen"`
	AckedBy      *string    `json:"acked_by"`
	AckedAt      *time.Time `json:"acked_at"`
	AckNote      string     `json:"ack_note"`
	ResolvedBy   *string    `json:"resolved_by"`
	ResolvedAt   *time.Time `json:"resolved_at"`
	ResolveNote  string     `json:"resolve_note"`
	AutoResolved bool       `json:"auto_resolved"`
	SnoozedUntil *time.Time `json:"snoozed_until"`
	SnoozedBy    string     `json:"snoozed_by"`
	SnoozeNote   string     `json:"snooze_note"`
}

func toAlertJSON(a engine.Alert) alertJSON {
	j := alertJSON{ID: a.ID, Hostname: a.Hostname, Type: a.Type, Instance: a.Instance, Severity: string(a.Severity),
		State: string(a.State), Message: a.Message, Count: a.Count, FirstSeen: a.FirstSeen.UTC(), LastSeen: a.LastSeen.UTC(),
		AckNote: a.AckNote, ResolveNote: a.ResolveNote, AutoResolved: a.AutoResolved}
	if a.DeviceID != 0 {
		j.DeviceID = &a.DeviceID
	}
	if !a.AckedAt.IsZero() {
		by, at := a.AckedBy, a.AckedAt.UTC()
		j.AckedBy, j.AckedAt = &by, &at
	}
	if !a.ResolvedAt.IsZero() {
		by, at := a.ResolvedBy, a.ResolvedAt.UTC()
		j.ResolvedBy, j.ResolvedAt = &by, &at
	}
	if !a.SnoozedUntil.IsZero() {
		until := a.SnoozedUntil.UTC()
		j.SnoozedUntil, j.SnoozedBy, j.SnoozeNote = &until, a.SnoozedBy, a.SnoozeNote
	}
	return j
}

const alertJSONFields = `id, device_id (null: no single device),
hostname, type (offline, unmanageable, cpu_high, mem_high, disk_used,
pending_reboot, defender_stale, service_stopped), instance ("C:" for a volume,
a service name, or ""), severity, state, message, count (detections folded
into the alert), first_seen, last_seen, acked_by, acked_at, ack_note,
resolved_by ("rmm" when auto-resolved), resolved_at, resolve_note,
auto_resolved, snoozed_until (null: never snoozed), snoozed_by,
snooze_note. Times are RFC 3339 UTC; absent ones are null.`

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) alertsCommand() *cobra.Command {
	var (
		state, severity string
		limit           int
		asJSON          bool
		expr            string
	)
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List alerts; acknowledge, resolve or snooze them",
		Long: `List alerts, most urgent severity first (Critical, High, Medium, Low, Info),
then the most recently raised first.

Lifecycle: Active -> Acknowledged -> Resolved; resolved alerts are archived by
retention after retention.data. One alert per condition (device, type and
instance): while unresolved, a repeat bumps its count; a condition back within
5 minutes of its alert's resolution reopens it; an alert whose condition
cleared is resolved by "rmm" (auto_resolved). An offline device raises one
offline alert after 2 failed polls in a row; maintenance windows raise none.

--state: open (default: Active and Acknowledged), active, acknowledged,
resolved or all. --severity: one of Critical, High, Medium, Low, Info.
--filter EXPR: the console's filter grammar over alerts: free text,
host:, sev:, state: (active, acknowledged, snoozed), type:, on: (the
instance), msg:, count>N, ! or - to negate, sort:COLUMN (severity, host,
type, state, count, raised, last).

ack, resolve and snooze take one alert id, or --filter EXPR for every
unresolved alert it matches (ack: the Active ones), with one --note and
one audit row.

--json prints an array of objects with the stable fields ` + alertJSONFields,
		Example: `  rmm alerts
  rmm alerts --severity critical --json
  rmm alerts --filter "host:WS-00 sev:crit"
  rmm alerts ack 42 --note "on it"
  rmm alerts ack --filter "type:disk site" --note "ticket 1234"
  rmm alerts snooze --filter "type:pending_reboot" --for 24h --note "patch window tonight"
  rmm alerts resolve 42 --note "disk cleaned up"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := engine.ListAlerts{State: state, Severity: severity, Limit: limit}
			if err := req.Validate(); err != nil {
				return exitError{2, err}
			}
			f, err := engine.ParseAlertFilter(expr)
			if err != nil {
				return exitError{2, fmt.Errorf("alerts: --filter: %w", err)}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				all, err := engine.Call(cmd.Context(), eng, id, req)
				if err != nil {
					return err
				}
				alerts := filterAlerts(all, f)
				if asJSON {
					js := make([]alertJSON, len(alerts))
					for i, al := range alerts {
						js[i] = toAlertJSON(al)
					}
					return writeJSON(a.stdout, js)
				}
				now := time.Now()
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSEVERITY\tSTATE\tRAISED\tHOST\tTYPE\tCOUNT\tMESSAGE")
				for _, al := range alerts {
					typ := al.Type
					if al.Instance != "" {
						typ += " " + al.Instance
					}
					host := al.Hostname
					if host == "" {
						host = "-"
					}
					msg := al.Message
					if len(msg) > 80 {
						msg = msg[:77] + "..."
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", al.ID, al.Severity, al.State,
						age(now, al.FirstSeen), host, typ, al.Count, msg)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%d alerts\n", len(alerts))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&state, "state", "open", "open, active, acknowledged, resolved or all")
	fl.StringVar(&severity, "severity", "", "only this severity: Critical, High, Medium, Low, Info")
	fl.IntVar(&limit, "limit", 0, "at most N alerts, the most urgent (0: all)")
	fl.BoolVar(&asJSON, "json", false, "print a JSON array (stable fields, see above)")
	fl.StringVar(&expr, "filter", "", `only the alerts matching EXPR (e.g. "host:WS-0042 !sev:info")`)
	cmd.AddCommand(a.alertChangeCommand("ack"), a.alertChangeCommand("resolve"), a.alertChangeCommand("snooze"))
	return cmd
}

// filterAlerts keeps the alerts f matches, in f's sort: order when it
// has one.
func filterAlerts(all []engine.Alert, f engine.AlertFilter) []engine.Alert {
	var out []engine.Alert
	for i := range all {
		if f.Match(&all[i]) {
			out = append(out, all[i])
		}
	}
	if key, desc, ok := f.Sort(); ok {
		engine.SortAlertsBy(out, key, desc)
	}
	return out
}

// alertChangeCommand is rmm alerts ack|resolve|snooze (ID | --filter EXPR).
func (a *app) alertChangeCommand(verb string) *cobra.Command {
	var (
		note, expr string
		asJSON     bool
		dur        time.Duration
	)
	short, long, done := "Acknowledge active alerts: someone is on it",
		`Acknowledge an Active alert (ID), or every Active alert --filter matches.
Who and when are recorded with the alert and in the audit log, with the
note. Acknowledging one unknown, already acknowledged or resolved alert
fails (exit 1). Admin and Operator only.`, "acknowledged"
	switch verb {
	case "resolve":
		short, long, done = "Resolve active or acknowledged alerts by hand",
			`Resolve an Active or Acknowledged alert (ID), or every unresolved alert
--filter matches, by hand. Who and when are recorded with the alert and in
the audit log, with the note. Resolving an unknown or already resolved alert
fails (exit 1). If its condition still holds at the next poll, the alert
comes back (within 5 minutes: reopened). Admin and Operator only.`, "resolved"
	case "snooze":
		short, long, done = "Snooze alerts for a while",
			`Snooze an unresolved alert (ID), or every unresolved alert --filter
matches, for --for (up to 30 days; 0 wakes them): it stays unresolved but
the console does not count it in its header and lists it as Snoozed until
then. Who, until when and the note are kept with the alert and in the
audit log. Admin and Operator only.`, "snoozed"
	}
	cmd := &cobra.Command{
		Use:   verb + " [ID]",
		Short: short,
		Long: long + "\n\n--json prints the alert after the change, fields as in rmm alerts --json;\n" +
			`with --filter, {"changed": [alerts], "failed": [{"id", "error"}]}.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (expr != "") {
				return exitError{2, fmt.Errorf("alerts %s: give an alert id or --filter EXPR, one of them (see rmm alerts)", verb)}
			}
			if verb == "snooze" && !cmd.Flags().Changed("for") {
				return exitError{2, errors.New("alerts snooze: --for is required, e.g. --for 2h")}
			}
			if len(args) == 0 {
				req := engine.ChangeAlerts{Op: verb, Filter: expr, Note: note, For: dur}
				if err := req.Validate(); err != nil {
					return exitError{2, err}
				}
				return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
					res, err := engine.Call(cmd.Context(), eng, id, req)
					if err != nil {
						return err
					}
					if asJSON {
						out := struct {
							Changed []alertJSON           `json:"changed"`
							Failed  []engine.AlertFailure `json:"failed"`
						}{Changed: make([]alertJSON, len(res.Changed)), Failed: res.Failed}
						for i, al := range res.Changed {
							out.Changed[i] = toAlertJSON(al)
						}
						if err := writeJSON(a.stdout, out); err != nil {
							return err
						}
					} else {
						for _, al := range res.Changed {
							fmt.Fprintf(a.stdout, "alert %d (%s %s on %s) %s\n", al.ID, al.Severity, al.Type, alertHost(al), done)
						}
						for _, f := range res.Failed {
							fmt.Fprintf(a.stderr, "alert %d: %s\n", f.ID, f.Error)
						}
						fmt.Fprintf(a.stdout, "%d %s %s by %s, %d failed\n", len(res.Changed), plural(len(res.Changed), "alert", "alerts"), done, id.User, len(res.Failed))
					}
					if len(res.Failed) > 0 {
						return fmt.Errorf("%d of %d alerts not %s", len(res.Failed), len(res.Failed)+len(res.Changed), done)
					}
					return nil
				})
			}
			alertID, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || alertID <= 0 {
				return exitError{2, fmt.Errorf("alert id %q: want a positive number (see rmm alerts)", args[0])}
			}
			if verb == "snooze" {
				req := engine.ChangeAlerts{Op: verb, IDs: []int64{alertID}, Note: note, For: dur}
				if err := req.Validate(); err != nil {
					return exitError{2, err}
				}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				var al engine.Alert
				var err error
				switch verb {
				case "ack":
					al, err = engine.Call(cmd.Context(), eng, id, engine.AckAlert{ID: alertID, Note: note})
				case "resolve":
					al, err = engine.Call(cmd.Context(), eng, id, engine.ResolveAlert{ID: alertID, Note: note})
				default:
					var res engine.AlertChanges
					res, err = engine.Call(cmd.Context(), eng, id, engine.ChangeAlerts{Op: verb, IDs: []int64{alertID}, Note: note, For: dur})
					if err == nil && len(res.Failed) > 0 {
						err = errors.New(res.Failed[0].Error)
					}
					if err == nil {
						al = res.Changed[0]
					}
				}
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, toAlertJSON(al))
				}
				what := done
				if verb == "snooze" {
					what = "snoozed until " + al.SnoozedUntil.UTC().Format(time.RFC3339)
					if al.SnoozedUntil.IsZero() {
						what = "woken"
					}
				}
				fmt.Fprintf(a.stdout, "alert %d (%s %s on %s) %s by %s\n", al.ID, al.Severity, al.Type, alertHost(al), what, id.User)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "a note kept with the alert and in the audit log")
	cmd.Flags().StringVar(&expr, "filter", "", "every unresolved alert matching EXPR instead of one id (see rmm alerts --help)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the changed alert as JSON")
	if verb == "snooze" {
		cmd.Flags().DurationVar(&dur, "for", 0, "how long, e.g. 30m, 2h, 24h (0 wakes the alerts)")
	}
	return cmd
}

func alertHost(al engine.Alert) string {
	if al.Hostname == "" {
		return "no single device"
	}
	return al.Hostname
}
