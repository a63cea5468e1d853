package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

// runHostsShown is how many hosts a group lists before "and N more".
const runHostsShown = 8

func (a *app) runCommand() *cobra.Command {
	var (
		hosts                            []string
		site, group, flt, collection     string
		scriptFile, show                 string
		timeout                          time.Duration
		yes, asJSON, asCSV, mask, output bool
	)
	cmd := &cobra.Command{
		Use:   "run [flags] -- 'POWERSHELL'",
		Short: "Run a PowerShell command on many devices; results grouped by identical output",
		Long: `Run PowerShell text on the devices picked by exactly one of --target HOST
(repeatable), --site S, --group G (a group or a tag), --filter EXPR (the
console's filter grammar, inventory terms included: software:zoom,
service:Spooler=stopped, missing:KB5034441, bitlocker:off, uptime>30d...) or
--collection NAME (rmm collections). The text is the arguments after --,
or --script-file FILE (- for stdin); at most 32 KiB (longer scripts belong
in the library: rmm scripts add). It runs as Windows PowerShell 5.1 on each
host through the session pool's resident PowerShell, like every script rmm
sends: base64 in one request line, never on a command line.

Every run is audited with the whole text and its target, and each device's
result is audited. rmm does not guess what a command does: on more than 10
devices it asks you to type the number of devices (--yes confirms without
asking; without a terminal and without --yes nothing runs, exit 2). A
device that cannot be reached fails its part ("Device offline"); commands
are not put in the offline queue. Operator or Admin.

The results are grouped by identical output: line endings made \n,
trailing blanks and blank first and last lines removed; --mask-host also
replaces each device's own name in its output with <host>, so "hostname"
or a path holding the name groups as one. Each group is labelled by the
lines that set it apart (a table's header is left out), e.g.
  193 Running
  7 Stopped
  3 Failed: Device offline (connection refused)
--output prints each group's whole output under it. --show RUN reads a
past run again (with --mask-host, --json or --csv).

--json prints the finished run: id, action, requested_by, started_at,
finished_at, total, pending, running, completed, failed, cancelled, queued,
expired, finished, script, script_hidden, timeout, target, mask_host,
groups ({status, label, message, output, errors, count, hosts, sample_id,
output_read}, biggest first) and results (one per device: host, status,
group (1 is the first group), group_label, group_size, exit_code, message,
stdout, stderr). --csv prints the results, one line per device, with the
same columns; cells from hosts or people are neutralised against formula
injection.

Exit status: 0 when every device completed, 1 when one failed (or was
cancelled), 2 bad input or a refused confirmation, 3 permission denied.`,
		Example: `  rmm run --collection "Print servers" -- 'Get-Service Spooler | Select Status'
  rmm run --filter 'os:"Server 2019" status:online' --yes -- '$PSVersionTable.PSVersion'
  rmm run --site London --mask-host --json -- hostname
  rmm run --target WS-0042 --timeout 5m --script-file ./check.ps1
  rmm run --show 20250314-092653-1a2b3c --output`,
		RunE: func(cmd *cobra.Command, args []string) error {
			format := ""
			switch {
			case asJSON && asCSV:
				return exitError{2, errors.New("--json and --csv: pick one")}
			case asJSON:
				format = "json"
			case asCSV:
				format = "csv"
			}
			if show != "" {
				if len(args) > 0 || scriptFile != "" {
					return exitError{2, errors.New("--show reads a past run: give no command with it")}
				}
				return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
					return a.printCommandRun(cmd.Context(), eng, id, show, mask, format, output)
				})
			}
			text, err := a.commandText(args, scriptFile)
			if err != nil {
				return exitError{2, err}
			}
			if err := engine.CheckCommand(text); err != nil {
				return exitError{2, err}
			}
			target := engine.RunTarget{Hosts: hosts, Site: site, Group: group, Filter: flt, Collection: collection}
			n := 0
			for _, set := range []bool{len(hosts) > 0, site != "", group != "", flt != "", collection != ""} {
				if set {
					n++
				}
			}
			if n != 1 {
				return exitError{2, errors.New("pick the devices with exactly one of --target, --site, --group, --filter, --collection")}
			}
			if timeout != 0 && (timeout < time.Second || timeout > engine.MaxCommandTimeout) {
				return exitError{2, fmt.Errorf("--timeout %s is out of range 1s..24h", timeout)}
			}
			return a.withRunEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				req := engine.RunCommand{Script: text, Target: target, Confirmed: yes, Timeout: timeout}
				return a.runAdHoc(cmd.Context(), eng, id, req, mask, format, output)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&hosts, "target", nil, "a device by hostname (repeatable)")
	fl.StringVar(&site, "site", "", "every device of a site")
	fl.StringVar(&group, "group", "", "every device in a group or with a tag")
	fl.StringVar(&flt, "filter", "", `devices matching a filter expression, e.g. "tag:print status:online"`)
	fl.StringVar(&collection, "collection", "", "the members of a collection (rmm collections list)")
	fl.StringVar(&scriptFile, "script-file", "", "read the command from this file (- for stdin) instead of the arguments")
	fl.DurationVar(&timeout, "timeout", 0, "how long the command may run on each host, 1s..24h (default 1m)")
	fl.BoolVar(&yes, "yes", false, "confirm a command on more than 10 devices without asking")
	fl.BoolVar(&mask, "mask-host", false, "mask each device's name in its output before grouping")
	fl.BoolVar(&output, "output", false, "print each group's whole output")
	fl.BoolVar(&asJSON, "json", false, "print the finished run as JSON (see above)")
	fl.BoolVar(&asCSV, "csv", false, "print the results as CSV, one line per device")
	fl.StringVar(&show, "show", "", "read a past command run by its id instead of running one")
	return cmd
}

// commandText is the command: the arguments after --, or a file.
func (a *app) commandText(args []string, file string) (string, error) {
	switch {
	case file != "" && len(args) > 0:
		return "", errors.New("give the command as arguments or with --script-file, not both")
	case file == "-":
		b, err := io.ReadAll(io.LimitReader(a.stdin, engine.MaxCommandBytes+1))
		if err != nil {
			return "", fmt.Errorf("read the command from stdin: %w", err)
		}
		return string(b), nil
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--script-file: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, engine.MaxCommandBytes+1))
		if err != nil {
			return "", fmt.Errorf("--script-file %s: %w", file, err)
		}
		return string(b), nil
	case len(args) == 0:
		return "", errors.New("no command: put it after --, e.g. rmm run --site London -- 'Get-Service Spooler'")
	}
	return strings.Join(args, " "), nil
}

// runAdHoc starts the command (asking for the device count on the
// terminal when the engine wants it confirmed), follows it and prints the
// grouped outcome.
func (a *app) runAdHoc(ctx context.Context, eng *engine.Engine, id engine.Identity, req engine.RunCommand, mask bool, format string, output bool) error {
	info, err := engine.Call(ctx, eng, id, req)
	var ce *engine.ConfirmError
	if errors.As(err, &ce) {
		tty := a.stdinTerminal()
		if tty == nil {
			return exitError{2, fmt.Errorf("this command would run on %d devices and stdin is not a terminal to ask on: add --yes to confirm", ce.Devices)}
		}
		fmt.Fprintf(a.stderr, "Run this command on %d devices? Type %d to confirm: ", ce.Devices, ce.Devices)
		line, _ := bufio.NewReader(tty).ReadString('\n')
		if strings.TrimSpace(line) != strconv.Itoa(ce.Devices) {
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
	if format == "" {
		fmt.Fprintf(a.stdout, "run %s: command on %d device(s)\n", info.ID, info.Total)
	}
	if _, err := a.followRun(ctx, eng, id, info.ID, format != ""); err != nil {
		return err
	}
	return a.printCommandRun(context.WithoutCancel(ctx), eng, id, info.ID, mask, format, output)
}

// printCommandRun prints a command run grouped: as text, JSON or CSV.
func (a *app) printCommandRun(ctx context.Context, eng *engine.Engine, id engine.Identity, runID string, mask bool, format string, output bool) error {
	cr, err := engine.Call(ctx, eng, id, engine.GetCommandRun{RunID: runID, MaskHost: mask})
	if err != nil {
		return err
	}
	switch format {
	case "json", "csv":
		full, err := engine.Call(ctx, eng, id, engine.GetRun{RunID: runID})
		if err != nil {
			return err
		}
		if err := engine.WriteCommandResults(a.stdout, format, cr, full.Results); err != nil {
			return err
		}
	default:
		a.printGroups(cr, output)
	}
	if bad := cr.Failed + cr.Cancelled + cr.Expired; bad > 0 {
		return exitError{1, fmt.Errorf("%d of %d device(s) did not complete", bad, cr.Total)}
	}
	return nil
}

// printGroups is the human form of a command run's groups.
func (a *app) printGroups(cr engine.CommandRun, output bool) {
	w := a.stdout
	for _, g := range cr.Groups {
		line := fmt.Sprintf("%d %s", g.Count, g.Label)
		switch {
		case g.Status == engine.ActionPending || g.Status == engine.ActionRunning:
			line = fmt.Sprintf("%d %s", g.Count, g.Status)
		case g.Status != engine.ActionCompleted:
			line = fmt.Sprintf("%d %s: %s", g.Count, g.Status, g.Label)
		}
		fmt.Fprintln(w, line)
		shown := g.Hosts[:min(len(g.Hosts), runHostsShown)]
		hosts := strings.Join(shown, ", ")
		if len(g.Hosts) > len(shown) {
			hosts += fmt.Sprintf(", and %d more", len(g.Hosts)-len(shown))
		}
		fmt.Fprintln(w, "    "+hosts)
		if output && g.OutputRead {
			for _, l := range strings.Split(g.Output, "\n") {
				fmt.Fprintln(w, "    | "+l)
			}
			if g.Errors != "" {
				for _, l := range strings.Split(g.Errors, "\n") {
					fmt.Fprintln(w, "    ! "+l)
				}
			}
		}
	}
	fmt.Fprintf(w, "details: rmm run --show %s --output (one host in full: rmm action history --run %s)\n", cr.ID, cr.ID)
}
