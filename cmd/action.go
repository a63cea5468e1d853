package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/csvsafe"
	"github.com/rmmhq/rmm/engine"
)

// actionOptions maps the actions: section onto the engine's options.
func (a *app) actionOptions() engine.ActionOptions {
	c := a.cfg.Actions
	retries := c.Retries
	if retries == 0 {
		retries = -1 // config 0 means none; the engine's 0 means "default"
	}
	return engine.ActionOptions{QueueExpiry: c.QueueExpiry, OutputMaxBytes: c.OutputMaxBytes, WakeAddress: c.WOLAddress, Retries: retries}
}

// withRunEngine runs fn with an engine that can reach devices: the same
// credentials as rmm poll (the credentials store when it opens without a
// prompt, RMM_WINRM_USER and RMM_WINRM_PASSWORD as the fallback).
func (a *app) withRunEngine(cmd *cobra.Command, fn func(eng *engine.Engine, id engine.Identity) error) error {
	id, err := a.localIdentity(engine.ViaCLI)
	if err != nil {
		return err
	}
	cred, vault, err := a.pollCredentials()
	if err != nil {
		return err
	}
	if vault != nil {
		defer vault.Close()
	}
	db, eng, err := a.openEngine(cmd.Context(), cred, vault, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	defer eng.Close()
	return fn(eng, id)
}

func (a *app) actionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "action",
		Short: "Run remote actions on devices: list, run, history, export",
		Long: `Remote actions: restart, shut down, wake, lock, log off, Remote Desktop on or
off, services, processes, temp files, DNS cache, group policy, registry values,
file copies and library scripts (rmm scripts). Each runs as a PowerShell 5.1
script over WinRM through the engine's session pool; Wake-on-LAN is a UDP
packet from this machine. Every run and every device's result is audited.

A device that cannot be reached gets the action queued in the offline queue
(rmm queue) until it is back, or until the expiry (actions.queue_expiry, or
--expiry). This command exits when its devices are done or queued; the queued
ones are run by whichever rmm process (the console, rmm serve, rmm poll) next
sees the device come back online.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(a.actionListCommand(), a.actionRunCommand(), a.actionHistoryCommand(), a.actionExportCommand())
	return cmd
}

func (a *app) actionListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the action catalog with each action's parameters",
		Long: `List the actions rmm action run takes, with their parameters (name, type,
default, required) and whether they are destructive (they need --yes or a typed
confirmation).

--json prints an array of {name, title, description, destructive, params:
[{name, type, default, required, choices, help}]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat := engine.Catalog()
			if asJSON {
				return writeJSON(a.stdout, cat)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTION\tCONFIRM\tPARAMETERS\tDESCRIPTION")
			for _, s := range cat {
				confirm := ""
				switch {
				case s.Destructive:
					confirm = "yes"
				case s.Name == engine.ActService:
					confirm = "op=stop"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, confirm, paramSummary(s.Params), s.Title)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the catalog as JSON")
	return cmd
}

// paramSummary is "name=string! op=restart|start|stop".
func paramSummary(ps []engine.ParamSpec) string {
	if len(ps) == 0 {
		return "-"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		s := p.Name + "=" + p.Type
		if len(p.Choices) > 0 {
			s = p.Name + "=" + strings.Join(p.Choices, "|")
		}
		if p.Default != "" {
			s += "(" + p.Default + ")"
		}
		if p.Required {
			s += "!"
		}
		parts[i] = s
	}
	return strings.Join(parts, " ")
}

// parseParams reads repeated --param k=v flags.
func parseParams(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--param %q: want NAME=VALUE", kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

func (a *app) actionRunCommand() *cobra.Command {
	var (
		hosts                           []string
		site, group, filter, collection string
		params                          []string
		yes, asJSON                     bool
		expiry                          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run ACTION",
		Short: "Run an action on devices and print the grouped results",
		Long: `Run ACTION (see rmm action list) on the devices picked by exactly one of
--target HOST (repeatable), --site S, --group G (a group or a tag) or
--filter EXPR (the console's filter: host:, site:, status:, os:, tag:, group:,
cpu>N, mem>N, disk<N, free text, ! or - to negate, and the inventory terms of
rmm collections --help) or --collection NAME (a saved collection's members).
Parameters are --param NAME=VALUE, repeatable.

Destructive actions (reboot, shutdown, logoff, disable-rdp, process-kill,
registry-set, service with op=stop) ask "Reboot 12 devices? Type yes:" on the
terminal; --yes skips the question. Without a terminal on stdin and without
--yes they are refused (exit 2) and nothing runs.

While the run goes on, a progress line is printed when the counts change;
then the results grouped by identical status and message, e.g.
  212 Completed: Spooler restarted
  3 Failed: Access is denied
  2 Queued
Devices that cannot be reached are Queued in the offline queue (rmm queue)
for --expiry (default actions.queue_expiry, 7d); whichever rmm process next
sees such a device online (the console, rmm serve, rmm poll) runs it then.
Ctrl+C cancels the run (commands in flight are signalled to stop).

--json prints the finished run as one object: id, action, requested_by,
started_at, finished_at, total, pending, running, completed, failed,
cancelled, queued, expired, finished, results (one per device: id, run_id,
device_id, host, action, params, status, message, stdout, stderr, exit_code,
duration_ns, attempts, script_version, started_at, finished_at) and groups
({status, message, count, hosts}).

Exit status: 0 when no device failed, 1 when one failed (or was cancelled or
expired), 2 bad input or refused confirmation, 3 permission denied.`,
		Example: `  rmm action run service --filter "tag:print" --param name=Spooler --param op=restart
  rmm action run reboot --target WS-0042 --yes
  rmm action run run-script --site London --param script=cleanup --param Days=30 --json
  rmm action run file-push --target SRV-01 --param source=./tool.msi --param path='C:\Temp\tool.msi'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, ok := engine.LookupAction(args[0])
			if !ok {
				return exitError{2, fmt.Errorf("action %q is not in the catalog (rmm action list)", args[0])}
			}
			target := engine.RunTarget{Hosts: hosts, Site: site, Group: group, Filter: filter, Collection: collection}
			n := 0
			for _, set := range []bool{len(hosts) > 0, site != "", group != "", filter != "", collection != ""} {
				if set {
					n++
				}
			}
			if n != 1 {
				return exitError{2, errors.New("pick the devices with exactly one of --target, --site, --group, --filter, --collection")}
			}
			p, err := parseParams(params)
			if err != nil {
				return exitError{2, err}
			}
			if err := spec.Validate(p); err != nil {
				return exitError{2, fmt.Errorf("%s: %w", spec.Name, err)}
			}
			if expiry < 0 {
				return exitError{2, fmt.Errorf("--expiry %s: must not be negative", expiry)}
			}
			if spec.NeedsConfirm(p) && !yes && a.stdinTerminal() == nil {
				return exitError{2, fmt.Errorf("%s is destructive and stdin is not a terminal to ask on: add --yes to confirm", spec.Name)}
			}
			with := a.withRunEngine
			if spec.Name == engine.ActWake {
				with = a.withEngine // a UDP packet from here: no WinRM credential needed
			}
			return with(cmd, func(eng *engine.Engine, id engine.Identity) error {
				return a.runAction(cmd.Context(), eng, id, engine.StartRun{Name: spec.Name, Params: p, Target: target, Confirmed: yes, Expiry: expiry}, asJSON)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&hosts, "target", nil, "a device by hostname (repeatable)")
	fl.StringVar(&site, "site", "", "every device of a site")
	fl.StringVar(&group, "group", "", "every device in a group or with a tag")
	fl.StringVar(&filter, "filter", "", `devices matching a filter expression, e.g. "tag:sql status:online"`)
	fl.StringVar(&collection, "collection", "", "the members of a collection (rmm collections list)")
	fl.StringArrayVar(&params, "param", nil, "NAME=VALUE parameter (repeatable)")
	fl.BoolVar(&yes, "yes", false, "confirm a destructive action without asking")
	fl.BoolVar(&asJSON, "json", false, "print the finished run as JSON (see above)")
	fl.DurationVar(&expiry, "expiry", 0, "how long an offline device's action waits in the queue (default actions.queue_expiry)")
	return cmd
}

// runAction starts the run (asking for confirmation on the terminal when
// the engine says it is destructive), follows its progress and prints the
// outcome.
func (a *app) runAction(ctx context.Context, eng *engine.Engine, id engine.Identity, req engine.StartRun, asJSON bool) error {
	info, err := engine.Call(ctx, eng, id, req)
	var ce *engine.ConfirmError
	if errors.As(err, &ce) {
		tty := a.stdinTerminal()
		if tty == nil {
			return exitError{2, fmt.Errorf("%s is destructive and stdin is not a terminal to ask on: add --yes to confirm", ce.Action)}
		}
		fmt.Fprintf(a.stderr, "%s %d device(s)? Type yes: ", ce.Title, ce.Devices)
		line, _ := bufio.NewReader(tty).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return exitError{2, errors.New("not confirmed; nothing was run")}
		}
		req.Confirmed = true
		info, err = engine.Call(ctx, eng, id, req)
	}
	if errors.Is(err, engine.ErrNoTargets) || errors.Is(err, engine.ErrNoCollection) {
		return exitError{2, err}
	}
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(a.stdout, "run %s: %s on %d device(s)\n", info.ID, info.Action, info.Total)
	}
	p, err := a.followRun(ctx, eng, id, info.ID, asJSON)
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(a.stdout, p); err != nil {
			return err
		}
	} else {
		for _, g := range p.Groups {
			line := fmt.Sprintf("%d %s", g.Count, g.Status)
			if g.Message != "" {
				line += ": " + g.Message
			}
			if g.Count <= 5 {
				line += " (" + strings.Join(g.Hosts, ", ") + ")"
			}
			fmt.Fprintln(a.stdout, line)
		}
		if p.Queued > 0 {
			fmt.Fprintf(a.stdout, "%d queued until the device is back (rmm queue); the rmm process that sees it online runs it\n", p.Queued)
		}
		fmt.Fprintf(a.stdout, "details: rmm action history --run %s\n", p.ID)
	}
	if bad := p.Failed + p.Cancelled + p.Expired; bad > 0 {
		return exitError{1, fmt.Errorf("%d of %d device(s) did not complete", bad, p.Total)}
	}
	return nil
}

// followRun polls the run every 300ms until its fan-out ends, printing a
// progress line when the counts change, and returns the finished run
// with every device's output. An interrupt cancels the run. The polls
// leave the outputs out (a 10,000-device run's would be read three
// times a second); the last read has them.
func (a *app) followRun(ctx context.Context, eng *engine.Engine, id engine.Identity, runID string, quiet bool) (engine.RunProgress, error) {
	bg := context.WithoutCancel(ctx)
	last := ""
	cancelled := false
	for {
		p, err := engine.Call(bg, eng, id, engine.GetRun{RunID: runID, Brief: true})
		if err != nil {
			return engine.RunProgress{}, err
		}
		if !quiet {
			done := p.Completed + p.Failed + p.Cancelled + p.Queued + p.Expired
			line := fmt.Sprintf("%d/%d done: %d completed, %d failed, %d queued, %d remaining", done, p.Total,
				p.Completed, p.Failed, p.Queued, p.Total-done)
			if line != last {
				fmt.Fprintln(a.stdout, line)
				last = line
			}
		}
		if p.Finished {
			full, err := engine.Call(bg, eng, id, engine.GetRun{RunID: runID})
			if err != nil {
				return p, err
			}
			return full, nil
		}
		select {
		case <-ctx.Done():
			if !cancelled {
				cancelled = true
				fmt.Fprintln(a.stderr, "interrupted: cancelling the run")
				if _, err := engine.Call(bg, eng, id, engine.CancelRun{RunID: runID}); err != nil {
					return p, err
				}
			}
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func (a *app) actionHistoryCommand() *cobra.Command {
	var (
		device, run string
		limit       int
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show past runs, a run's per-device results, or a device's actions",
		Long: `Without flags: the latest runs, newest first (with --device: the runs that
touched that device). With --run ID: that run's result per device and the
grouped outcome. With --device HOST and no --run: every action on that
device, newest first.

--json prints, respectively, an array of runs (id, action, requested_by,
started_at, finished_at, total, pending, running, completed, failed,
cancelled, queued, expired, finished), the run object of rmm action run
--json, or an array of per-device results.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				ctx := cmd.Context()
				switch {
				case run != "":
					p, err := engine.Call(ctx, eng, id, engine.GetRun{RunID: run})
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(a.stdout, p)
					}
					fmt.Fprintf(a.stdout, "run %s: %s by %s, started %s\n", p.ID, p.Action, p.RequestedBy, p.StartedAt.Local().Format("2006-01-02 15:04:05"))
					if err := a.printResults(p.Results); err != nil {
						return err
					}
					fmt.Fprintln(a.stdout, engine.FormatGroups(p.Groups))
					return nil
				case device != "":
					rs, err := engine.Call(ctx, eng, id, engine.ListActions{Device: device, Limit: limit})
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(a.stdout, rs)
					}
					return a.printResults(rs)
				}
				runs, err := engine.Call(ctx, eng, id, engine.ListRuns{Limit: limit})
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, runs)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "RUN\tSTARTED\tACTION\tBY\tDEVICES\tCOMPLETED\tFAILED\tQUEUED\tSTATE")
				for _, r := range runs {
					state := "running"
					if r.Finished {
						state = "finished"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.StartedAt.Local().Format("2006-01-02 15:04"),
						r.Action, r.RequestedBy, r.Total, r.Completed, r.Failed, r.Queued, state)
				}
				return tw.Flush()
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&device, "device", "", "only this device (hostname)")
	fl.StringVar(&run, "run", "", "one run's results")
	fl.IntVar(&limit, "limit", 100, "at most N rows")
	fl.BoolVar(&asJSON, "json", false, "print JSON (see above)")
	return cmd
}

func (a *app) printResults(rs []engine.ActionResult) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tACTION\tSTATUS\tATTEMPTS\tTOOK\tRUN\tMESSAGE")
	for _, r := range rs {
		msg := r.Message
		if len(msg) > 90 {
			msg = msg[:87] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Host, r.Action, r.Status, r.Attempts, r.Duration.Round(time.Millisecond), r.RunID, msg)
	}
	return tw.Flush()
}

func (a *app) actionExportCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "export RUN",
		Short: "Write a run's per-device results as CSV or JSON",
		Long: `Write every device's result of run RUN to stdout, with its full output.

CSV columns: run_id, host, action, status, message, exit_code, attempts,
script_version, duration_ms, started_at, finished_at, stdout, stderr (times
RFC 3339 UTC; empty when unset). JSON: the run object of rmm action run --json.`,
		Example: `  rmm action export 20261126-143000-a1b2c3 --format csv > results.csv`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "csv" && format != "json" {
				return exitError{2, fmt.Errorf("--format %q: want csv or json", format)}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				p, err := engine.Call(cmd.Context(), eng, id, engine.GetRun{RunID: args[0]})
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(a.stdout, p)
				}
				return writeResultsCSV(a.stdout, p.Results)
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "csv", "csv or json")
	return cmd
}

// writeResultsCSV writes rmm action export's CSV. message, stdout and
// stderr come from the managed host, host and action from people: those
// cells go through csvsafe, so no spreadsheet runs them as formulas.
func writeResultsCSV(w io.Writer, rs []engine.ActionResult) error {
	cw := csvsafe.NewWriter(w)
	if err := cw.Header([]string{"run_id", "host", "action", "status", "message", "exit_code", "attempts", "script_version",
		"duration_ms", "started_at", "finished_at", "stdout", "stderr"}); err != nil {
		return err
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, r := range rs {
		exit := ""
		if r.ExitCode != nil {
			exit = strconv.Itoa(*r.ExitCode)
		}
		// Computed by rmm: run_id, status, exit_code, attempts,
		// script_version, duration_ms, started_at, finished_at.
		if err := cw.Row([]string{r.RunID, r.Host, r.Action, r.Status, r.Message, exit, strconv.Itoa(r.Attempts),
			strconv.Itoa(r.ScriptVersion), strconv.FormatInt(r.Duration.Milliseconds(), 10), ts(r.StartedAt), ts(r.FinishedAt),
			r.Stdout, r.Stderr}, 0, 3, 5, 6, 7, 8, 9, 10); err != nil {
			return err
		}
	}
	return cw.Flush()
}
