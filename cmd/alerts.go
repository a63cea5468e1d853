package cmd

import (
	"encoding/json"
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
	return j
}

const alertJSONFields = `id, device_id (null: no single device),
hostname, type (offline, unmanageable, cpu_high, mem_high, disk_used,
pending_reboot, defender_stale, service_stopped), instance ("C:" for a volume,
a service name, or ""), severity, state, message, count (detections folded
into the alert), first_seen, last_seen, acked_by, acked_at, ack_note,
resolved_by ("rmm" when auto-resolved), resolved_at, resolve_note,
auto_resolved. Times are RFC 3339 UTC; absent ones are null.`

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
	)
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List alerts; acknowledge or resolve one",
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

--json prints an array of objects with the stable fields ` + alertJSONFields,
		Example: `  rmm alerts
  rmm alerts --severity critical --json
  rmm alerts ack 42 --note "on it"
  rmm alerts resolve 42 --note "disk cleaned up"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := engine.ListAlerts{State: state, Severity: severity, Limit: limit}
			if err := req.Validate(); err != nil {
				return exitError{2, err}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				alerts, err := engine.Call(cmd.Context(), eng, id, req)
				if err != nil {
					return err
				}
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
	cmd.AddCommand(a.alertChangeCommand("ack"), a.alertChangeCommand("resolve"))
	return cmd
}

// alertChangeCommand is rmm alerts ack ID or rmm alerts resolve ID.
func (a *app) alertChangeCommand(verb string) *cobra.Command {
	var (
		note   string
		asJSON bool
	)
	short, long, done := "Acknowledge an active alert: someone is on it",
		`Acknowledge an Active alert. Who and when are recorded with the alert and in
the audit log, with the note. Acknowledging an unknown, already acknowledged or
resolved alert fails (exit 1). Admin and Operator only.`, "acknowledged"
	if verb == "resolve" {
		short, long, done = "Resolve an active or acknowledged alert by hand",
			`Resolve an Active or Acknowledged alert by hand. Who and when are recorded
with the alert and in the audit log, with the note. Resolving an unknown or
already resolved alert fails (exit 1). If its condition still holds at the
next poll, the alert comes back (within 5 minutes: reopened). Admin and
Operator only.`, "resolved"
	}
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Long:  long + "\n\n--json prints the alert after the change, fields as in rmm alerts --json.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			alertID, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || alertID <= 0 {
				return exitError{2, fmt.Errorf("alert id %q: want a positive number (see rmm alerts)", args[0])}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				var req engine.Req[engine.Alert] = engine.AckAlert{ID: alertID, Note: note}
				if verb == "resolve" {
					req = engine.ResolveAlert{ID: alertID, Note: note}
				}
				al, err := engine.Call(cmd.Context(), eng, id, req)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, toAlertJSON(al))
				}
				host := al.Hostname
				if host == "" {
					host = "no single device"
				}
				fmt.Fprintf(a.stdout, "alert %d (%s %s on %s) %s by %s\n", al.ID, al.Severity, al.Type, host, done, id.User)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "a note kept with the alert and in the audit log")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the changed alert as JSON")
	return cmd
}
