package cmd

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

func (a *app) queueCommand() *cobra.Command {
	var (
		state  string
		asJSON bool
	)
	list := func(cmd *cobra.Command, _ []string) error {
		st, err := queueState(state)
		if err != nil {
			return err
		}
		return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
			entries, err := engine.Call(cmd.Context(), eng, id, engine.ListQueue{State: st})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, entries)
			}
			now := time.Now()
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tHOST\tACTION\tSTATE\tQUEUED\tEXPIRES\tBY\tRUN\tLAST ERROR")
			for _, q := range entries {
				expires := "never"
				if !q.ExpiresAt.IsZero() {
					expires = q.ExpiresAt.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", q.ID, q.Host, q.Action, q.State,
					age(now, q.EnqueuedAt), expires, q.RequestedBy, q.RunID, q.LastError)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d entries\n", len(entries))
			return nil
		})
	}
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "List the offline queue (actions waiting for a device), cancel an entry",
		Long: `The offline queue holds actions whose device could not be reached (refused,
unreachable) when they ran. When an rmm process sees the device online (the
first poll of the console, rmm serve or rmm poll that finds it Online, the
first after it was not, and every 30 seconds for devices it sees online), it
runs the device's entries in the order they were queued, each once, and marks them Done or Failed; the run's result
for that device is updated (rmm action history --run ID). Entries past their
expiry (actions.queue_expiry, default 7 days, or rmm action run --expiry)
become Expired. A short-lived command such as rmm action run does not wait
for the replay: the queue is in the database, and the next rmm process that
sees the device online runs it.

States: Pending, Replaying, Done, Failed, Expired, Cancelled. --state pending
(default), all, or one state.

--json prints an array of {id, device_id, host, action, params, requested_by,
enqueued_at, expires_at, state, attempts, last_error, run_id}.`,
		Example: `  rmm queue
  rmm queue list --state all --json
  rmm queue cancel 12`,
		Args: cobra.NoArgs,
		RunE: list,
	}
	lc := &cobra.Command{Use: "list", Short: "List queue entries (the default)", Args: cobra.NoArgs, RunE: list}
	for _, c := range []*cobra.Command{cmd, lc} {
		c.Flags().StringVar(&state, "state", "pending", "pending, all, or one of replaying, done, failed, expired, cancelled")
		c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array (see rmm queue --help)")
	}
	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a pending queue entry",
		Long:  `Cancel a Pending entry: it will not run, and its run's result for the device becomes Cancelled. Audited. Operator and Admin only.`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			qid, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || qid <= 0 {
				return exitError{2, fmt.Errorf("queue id %q: want a positive number (see rmm queue)", args[0])}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				if _, err := engine.Call(cmd.Context(), eng, id, engine.CancelQueued{ID: qid}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "queue entry %d cancelled\n", qid)
				return nil
			})
		},
	}
	cmd.AddCommand(lc, cancel)
	return cmd
}

// queueState reads --state: all (""), or a state in any case.
func queueState(s string) (string, error) {
	if strings.EqualFold(s, "all") {
		return "", nil
	}
	states := []string{engine.QueuePending, engine.QueueReplaying, engine.QueueDone, engine.QueueFailed, engine.QueueExpired, engine.QueueCancelled}
	for _, st := range states {
		if strings.EqualFold(s, st) {
			return st, nil
		}
	}
	return "", exitError{2, fmt.Errorf("--state %q: want all or one of %s", s, strings.ToLower(strings.Join(states, ", ")))}
}
