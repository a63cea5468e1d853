package cmd

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

// rmm patch: Windows updates without an agent. Every subcommand goes
// through the engine's requests (RBAC and audit); --json prints the
// engine's types, whose field names are the stable output.

func (a *app) patchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "patch",
		Short: "Windows updates: scan, list, approve, deny, install, status, history, cancel",
		Long: `Patch management over WinRM, without an agent on the hosts.

scan      asks each host's Windows Update Agent (through WinRM; its search is
          allowed from a remote session) which updates it misses and has
          installed, and which update service it uses (WSUS, Windows Update,
          Microsoft Update). Also on the schedule schedules.patch_scan.
list      the fleet by updates (how many devices are in each state) and by
          hosts, with compliance per site, group and ring.
approve,  decide per update and ring (patches.rings); patches.auto_approve
deny      approves by classification, severity and deferral on its own.
install   installs the approved missing updates: on each device rmm places an
          installer and runs it as SYSTEM in a one-shot scheduled task (the
          agent refuses downloads and installs to remote sessions), reads its
          progress file, restarts the host in its maintenance window (or at
          once with --reboot-now), waits for servicing to settle, scans again
          and goes round again (patches.max_rounds).
status    the install jobs and their progress.
history   each update's outcome, with its HRESULT named and the usual fix.
cancel    stops running install tasks.

A console or rmm serve moves install jobs on by itself. Without one, install
--wait and status --follow move them on from this command.

None of this has run against real Windows Update: it is built and tested
against rmm's simulator (see the README, Patch management).`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(a.patchScanCommand(), a.patchListCommand(), a.patchApproveCommand(false), a.patchApproveCommand(true),
		a.patchInstallCommand(), a.patchStatusCommand(), a.patchHistoryCommand(), a.patchCancelCommand())
	return cmd
}

// targetFlags picks devices: --target (repeatable), --site, --group,
// --filter; none is every device when all is allowed.
type targetFlags struct {
	hosts               []string
	site, group, filter string
}

func (t *targetFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&t.hosts, "target", nil, "a device by hostname (repeatable)")
	fl.StringVar(&t.site, "site", "", "every device of a site")
	fl.StringVar(&t.group, "group", "", "every device in a group or with a tag")
	fl.StringVar(&t.filter, "filter", "", `devices matching a filter expression, e.g. "site:hq os:2019"`)
}

func (t *targetFlags) target(all bool) (engine.RunTarget, error) {
	n := 0
	for _, set := range []bool{len(t.hosts) > 0, t.site != "", t.group != "", t.filter != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0 && all:
		return engine.RunTarget{}, nil
	case n != 1:
		return engine.RunTarget{}, exitError{2, errors.New("pick the devices with exactly one of --target, --site, --group, --filter")}
	}
	return engine.RunTarget{Hosts: t.hosts, Site: t.site, Group: t.group, Filter: t.filter}, nil
}

// splitKBs reads KB arguments, comma-separated or not.
func splitKBs(args []string) []string {
	var out []string
	for _, a := range args {
		for _, p := range strings.Split(a, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (a *app) patchScanCommand() *cobra.Command {
	var (
		tf     targetFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Ask devices' Windows Update which updates they miss and have (all devices by default)",
		Long: `Scan devices now (every device when none is picked): each host's Windows
Update Agent searches its update service (WSUS when group policy points it
there) for missing and installed updates. A search takes minutes on a real
host. Then the approval rules (patches.auto_approve) run once.

--json prints an array of {host, scanned_at, service, missing,
missing_security, installed, reboot_required, error}.

Exit status: 0 when every device scanned, 1 when one failed, 3 permission
denied.`,
		Example: `  rmm patch scan
  rmm patch scan --site hq --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := tf.target(true)
			if err != nil {
				return err
			}
			return a.withRunEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				res, err := engine.Call(cmd.Context(), eng, id, engine.ScanPatches{Target: t})
				if errors.Is(err, engine.ErrNoTargets) {
					return exitError{2, err}
				}
				if asJSON && res != nil {
					if werr := writeJSON(a.stdout, res); werr != nil {
						return werr
					}
				} else if res != nil {
					tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "HOST\tSERVICE\tMISSING\tSECURITY\tINSTALLED\tRESTART\tERROR")
					for _, r := range res {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.Host, dash(r.Service), r.Missing, r.Security, r.Installed,
							yesNo(r.Reboot), asciiOnly(r.Error))
					}
					if werr := tw.Flush(); werr != nil {
						return werr
					}
				}
				if err != nil {
					return err
				}
				failed := 0
				for _, r := range res {
					if r.Error != "" {
						failed++
					}
				}
				if failed > 0 {
					return exitError{1, fmt.Errorf("%d of %d device(s) could not be scanned", failed, len(res))}
				}
				return nil
			})
		},
	}
	tf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) patchListCommand() *cobra.Command {
	var (
		asJSON, hosts bool
		host, state   string
		class         string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "The fleet by updates (or --hosts, or one --host) with compliance per site, group and ring",
		Long: `List what the last scans found, as the engine's picture:

  rmm patch list             every update some device misses or needs a restart
                             for, with how many devices are in each state:
                             needs-approval, approved, gated (approved; its ring
                             waits for the ring before it), denied, installing,
                             failed, needs-reboot; and per ring what is decided
  rmm patch list --hosts     every device with its counts, compliance and job
  rmm patch list --host H    one device's updates, its jobs and its history

--state and --classification filter the updates. Compliance: a device whose
last scan worked and which misses no Security or Critical update (denied ones
aside) and needs no restart.

--json prints the engine's PatchFleet ({at, rings, updates, hosts, compliance,
by_site, by_group, by_ring}) or, with --host, PatchDeviceView ({host,
updates, jobs, history}).`,
		Example: `  rmm patch list --classification "Security Updates"
  rmm patch list --hosts --json
  rmm patch list --host SRV-0003`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" && !validPatchState(state) {
				return exitError{2, fmt.Errorf("--state %q: want one of %s", state, patchStateNames())}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				ctx := cmd.Context()
				if host != "" {
					v, err := engine.Call(ctx, eng, id, engine.GetDevicePatches{Host: host})
					if errors.Is(err, engine.ErrUnknownDevice) {
						return exitError{2, err}
					}
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(a.stdout, v)
					}
					writeDevicePatches(a.stdout, v)
					return nil
				}
				f, err := engine.Call(ctx, eng, id, engine.ListPatches{})
				if err != nil {
					return err
				}
				f.Updates = filterUpdates(f.Updates, engine.PatchState(state), class)
				if asJSON {
					return writeJSON(a.stdout, f)
				}
				writeCompliance(a.stdout, f)
				if hosts {
					writePatchHosts(a.stdout, f.Hosts)
				} else {
					writePatchUpdates(a.stdout, f.Updates)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&asJSON, "json", false, "print JSON (see above)")
	fl.BoolVar(&hosts, "hosts", false, "list devices instead of updates")
	fl.StringVar(&host, "host", "", "one device in detail")
	fl.StringVar(&state, "state", "", "only updates some device has in this state: "+patchStateNames())
	fl.StringVar(&class, "classification", "", `only this classification, e.g. "Security Updates"`)
	return cmd
}

func patchStateNames() string {
	names := make([]string, 0, 8)
	for _, s := range engine.PatchStates() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

func validPatchState(s string) bool {
	for _, st := range engine.PatchStates() {
		if string(st) == s {
			return true
		}
	}
	return false
}

// filterUpdates keeps the updates in a state (on some device) and of a
// classification.
func filterUpdates(us []engine.PatchUpdateRow, state engine.PatchState, class string) []engine.PatchUpdateRow {
	out := us[:0:0]
	for _, u := range us {
		if state != "" && u.Counts[state] == 0 {
			continue
		}
		if class != "" && !strings.EqualFold(u.Classification, class) {
			continue
		}
		out = append(out, u)
	}
	return out
}

func compliancePct(c engine.ComplianceRow) string {
	if c.Scanned == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(c.Percent, 'f', 1, 64) + "%"
}

func writeCompliance(w io.Writer, f engine.PatchFleet) {
	c := f.Compliance
	fmt.Fprintf(w, "compliance %s (%d of %d scanned devices; %d devices)\n", compliancePct(c), c.Compliant, c.Scanned, c.Devices)
	for _, set := range []struct {
		name string
		rows []engine.ComplianceRow
	}{{"ring", f.ByRing}, {"site", f.BySite}, {"group", f.ByGroup}} {
		if len(set.rows) == 0 {
			continue
		}
		parts := make([]string, len(set.rows))
		for i, r := range set.rows {
			parts[i] = fmt.Sprintf("%s %s", asciiOnly(r.Name), compliancePct(r))
		}
		fmt.Fprintf(w, "  by %s: %s\n", set.name, strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
}

func writePatchUpdates(w io.Writer, us []engine.PatchUpdateRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KB\tCLASSIFICATION\tSEVERITY\tMISSING\tAPPROVAL\tAPPROVED\tINSTALLING\tFAILED\tRESTART\tTITLE")
	for _, u := range us {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", dash(u.KB), u.Classification, dash(u.Severity), u.Counts.Missing(),
			u.Counts[engine.PatchNeedsApproval], u.Counts[engine.PatchApproved]+u.Counts[engine.PatchGated], u.Counts[engine.PatchInstalling],
			u.Counts[engine.PatchFailed], u.Counts[engine.PatchNeedsReboot], clip(asciiOnly(u.Title), 70))
	}
	_ = tw.Flush()
	if len(us) == 0 {
		fmt.Fprintln(w, "(no missing update: scan first, rmm patch scan)")
	}
}

func writePatchHosts(w io.Writer, hs []engine.PatchHostRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSITE\tRING\tSCANNED\tMISSING\tSECURITY\tAPPROVED\tFAILED\tRESTART\tCOMPLIANT\tJOB")
	for _, h := range hs {
		scanned := "never"
		if !h.ScannedAt.IsZero() {
			scanned = h.ScannedAt.UTC().Format("01-02 15:04")
		}
		if h.ScanError != "" {
			scanned = "failed"
		}
		job := "-"
		if h.Job != nil {
			job = fmt.Sprintf("%d %s", h.Job.ID, h.Job.State)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", h.Hostname, dash(h.Site), dash(h.Ring), scanned, h.Counts.Missing(),
			h.Security, h.Counts[engine.PatchApproved], h.Counts[engine.PatchFailed], yesNo(h.NeedsReboot), yesNo(h.Compliant), job)
	}
	_ = tw.Flush()
}

func writeDevicePatches(w io.Writer, v engine.PatchDeviceView) {
	h := v.Host
	fmt.Fprintf(w, "%s  ring %s  site %s  service %s %s\n", h.Hostname, dash(h.Ring), dash(h.Site), dash(h.Service), h.Server)
	if h.ScannedAt.IsZero() {
		fmt.Fprintln(w, "never scanned (rmm patch scan --target "+h.Hostname+")")
	} else {
		fmt.Fprintf(w, "scanned %s; last successful search %s, install %s; restart needed: %s; compliant: %s\n",
			h.ScannedAt.UTC().Format(time.RFC3339), when(h.LastSearch), when(h.LastInstall), yesNo(h.NeedsReboot), yesNo(h.Compliant))
	}
	if h.ScanError != "" {
		fmt.Fprintln(w, "last scan failed: "+asciiOnly(h.ScanError))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tKB\tCLASSIFICATION\tSEVERITY\tRESTART\tTITLE")
	for _, u := range v.Updates {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.State, dash(u.KB), u.Classification, dash(u.Severity), u.RebootBehavior, clip(asciiOnly(u.Title), 60))
		if u.Reason != "" && u.State != engine.PatchInstalled {
			fmt.Fprintf(tw, "\t\t\t\t\t  %s\n", clip(asciiOnly(u.Reason), 100))
		}
	}
	_ = tw.Flush()
	if len(v.Jobs) > 0 {
		fmt.Fprintln(w, "\nJOBS")
		writeJobs(w, v.Jobs)
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func (a *app) patchApproveCommand(deny bool) *cobra.Command {
	var (
		ring, class, severity, note string
		override, asJSON            bool
	)
	verb, what := "approve", "Approve"
	if deny {
		verb, what = "deny", "Deny"
	}
	cmd := &cobra.Command{
		Use:   verb + " [KB...]",
		Short: what + " updates for a ring (by KB, or by --classification and --severity)",
		Long: what + ` updates for a ring (--ring NAME, or * for every ring; with one ring,
its name may be left out): the KBs (or UpdateIDs) named, or every update of
--classification (and --severity: Critical, Important, Moderate, Low, none)
that a device of the ring misses. Every update named must be known to a scan;
an approval of a KB on patches.deny is refused; nothing is stored when one
is refused. A ring after another (patches.rings: after) installs an approved
update once the earlier ring's installs of it succeeded (success_rate) and
its soak passed; --override (Admin) approves past that. A ring with
approve_role admin takes decisions from Admins only. Every decision is
audited.

--json prints an array of {update_id, kb, title, ring, decision, before,
effect, override}.`,
		Example: `  rmm patch approve --ring pilot --classification "Security Updates"
  rmm patch approve KB5050021 KB5049993 --ring production
  rmm patch deny KB5034441 --ring '*' --note "fails with 0x80070643 everywhere"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			kbs := splitKBs(args)
			if len(kbs) == 0 && class == "" {
				return exitError{2, errors.New("name the updates (KB numbers) or --classification")}
			}
			if len(kbs) > 0 && (class != "" || severity != "") {
				return exitError{2, errors.New("name updates or use --classification/--severity, not both")}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				ds, err := engine.Call(cmd.Context(), eng, id, engine.ApprovePatches{Ring: ring, KBs: kbs, Classification: class,
					Severity: severity, Deny: deny, Override: override, Note: note})
				if err != nil {
					if !errors.Is(err, engine.ErrDenied) {
						return exitError{2, err}
					}
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, ds)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "KB\tRING\tDECISION\tBEFORE\tEFFECT\tTITLE")
				for _, d := range ds {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", dash(d.KB), d.Ring, d.Decision, dash(d.Before), dash(asciiOnly(d.Effect)), clip(asciiOnly(d.Title), 60))
				}
				return tw.Flush()
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&ring, "ring", "", "the ring (patches.rings), or * for every ring")
	fl.StringVar(&class, "classification", "", `every missing update of a classification, e.g. "Security Updates"`)
	fl.StringVar(&severity, "severity", "", "with --classification: only this MSRC severity (Critical, Important, Moderate, Low, none)")
	fl.StringVar(&note, "note", "", "why, for the audit log")
	if !deny {
		fl.BoolVar(&override, "override", false, "approve past the ring's gate (Admin)")
	}
	fl.BoolVar(&asJSON, "json", false, "print the decisions as JSON")
	return cmd
}

func (a *app) patchInstallCommand() *cobra.Command {
	var (
		tf                        targetFlags
		kbs                       []string
		rebootNow, noReboot, wait bool
		asJSON                    bool
		rounds                    int
	)
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install the approved missing updates on devices (a SYSTEM task on each)",
		Long: `Install, on the devices picked by exactly one of --target, --site, --group or
--filter, the updates approved for each device's ring that it misses (only
--kb ones when given). Per device, a job: rmm places an installer in
patches.dir and runs it as SYSTEM, at the highest run level, in a one-shot
scheduled task; reads its progress; records each update's result; restarts
the host inside its maintenance window (maintenance_windows; --reboot-now:
at once; --no-reboot: never) when an install needs it; waits for WinRM and
for servicing to settle; scans again; goes round again while approved
updates remain (--max-rounds, default patches.max_rounds). A device offline
now gets its job when it is back (patches jobs wait for actions.queue_expiry).
A device that already has a job is left alone.

Without --wait this command starts the jobs and returns: a console or
rmm serve moves them on; rmm patch status --follow does from here.

--json prints {run_id, jobs: [{id, run_id, device_id, host, state, round,
max_rounds, reboot, kbs, updates, progress, message, hresult, installed,
failed, reboot_required, requested_by, requested_at, state_since,
finished_at}]} (with --wait, as the jobs ended).

Exit status: 0 when no job failed, 1 when one failed (or was cancelled or
expired), 2 bad input, 3 permission denied.`,
		Example: `  rmm patch install --group pilot
  rmm patch install --target WS-0042 --kb KB5050021 --reboot-now --wait
  rmm patch install --filter "site:hq os:2022" --no-reboot --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := tf.target(false)
			if err != nil {
				return err
			}
			if rebootNow && noReboot {
				return exitError{2, errors.New("--reboot-now and --no-reboot contradict each other")}
			}
			if rounds < 0 || rounds > 10 {
				return exitError{2, fmt.Errorf("--max-rounds %d is out of range 1..10", rounds)}
			}
			return a.withRunEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				ctx := cmd.Context()
				run, err := engine.Call(ctx, eng, id, engine.InstallPatches{Target: t, KBs: splitKBs(kbs), RebootNow: rebootNow,
					NoReboot: noReboot, MaxRounds: rounds})
				if err != nil {
					if errors.Is(err, engine.ErrDenied) {
						return err
					}
					return exitError{2, err}
				}
				jobs := run.Jobs
				if !asJSON {
					fmt.Fprintf(a.stdout, "run %s: %d device(s)\n", run.RunID, len(jobs))
				}
				jobs, err = engine.Call(ctx, eng, id, engine.DrivePatches{RunID: run.RunID, Wait: wait})
				if err != nil {
					return err
				}
				run.Jobs = jobs
				if asJSON {
					if err := writeJSON(a.stdout, run); err != nil {
						return err
					}
				} else {
					writeJobs(a.stdout, jobs)
					if !wait {
						fmt.Fprintf(a.stdout, "follow: rmm patch status --run %s --follow\n", run.RunID)
					}
				}
				return jobsExit(jobs)
			})
		},
	}
	tf.register(cmd)
	fl := cmd.Flags()
	fl.StringSliceVar(&kbs, "kb", nil, "only these updates (KB numbers or UpdateIDs; repeatable or comma-separated)")
	fl.BoolVar(&rebootNow, "reboot-now", false, "restart as soon as an install needs it, not in the maintenance window")
	fl.BoolVar(&noReboot, "no-reboot", false, "never restart: leave the restart pending")
	fl.BoolVar(&wait, "wait", false, "move the jobs on from here until they end")
	fl.IntVar(&rounds, "max-rounds", 0, "install rounds per device (default patches.max_rounds)")
	fl.BoolVar(&asJSON, "json", false, "print the run as JSON (see above)")
	return cmd
}

// jobsExit is the exit status of a set of jobs: 1 when one ended badly.
func jobsExit(jobs []engine.PatchJobInfo) error {
	bad := 0
	for _, j := range jobs {
		switch j.State {
		case "failed", "cancelled", "expired":
			bad++
		}
	}
	if bad > 0 {
		return exitError{1, fmt.Errorf("%d of %d job(s) did not complete", bad, len(jobs))}
	}
	return nil
}

func writeJobs(w io.Writer, jobs []engine.PatchJobInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tHOST\tSTATE\tROUND\tPROGRESS\tINSTALLED\tFAILED\tMESSAGE")
	for _, j := range jobs {
		prog := "-"
		if p := j.Progress; p != nil && !j.Finished() && p.Total > 0 {
			prog = fmt.Sprintf("%d/%d %d%%", p.Current, p.Total, p.Percent)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%d\t%s\t%d\t%d\t%s\n", j.ID, j.Host, j.State, j.Round, j.MaxRounds, prog, j.Installed, j.Failed,
			clip(asciiOnly(j.Message), 110))
	}
	_ = tw.Flush()
}

func (a *app) patchStatusCommand() *cobra.Command {
	var (
		runID, host    string
		follow, asJSON bool
		limit          int
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Install jobs and their progress (--follow moves them on until they end)",
		Long: `Show install jobs, newest first: the unfinished ones, or those of --run ID or
--host H (at most --limit). --follow moves the unfinished jobs (of --run, or
all) on from this command until they end, as a console does, printing a line
when one changes; it needs a WinRM credential.

--json prints an array of jobs (see rmm patch install).`,
		Example: `  rmm patch status
  rmm patch status --run 20261207-220912-c705fd --follow`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			show := func(eng *engine.Engine, id engine.Identity) error {
				jobs, err := engine.Call(cmd.Context(), eng, id, engine.ListPatchJobs{RunID: runID, Host: host,
					Active: runID == "" && host == "", Limit: limit})
				if errors.Is(err, engine.ErrUnknownDevice) {
					return exitError{2, err}
				}
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, jobs)
				}
				if len(jobs) == 0 {
					fmt.Fprintln(a.stdout, "no job")
					return nil
				}
				writeJobs(a.stdout, jobs)
				return nil
			}
			if !follow {
				return a.withEngine(cmd, show)
			}
			return a.withRunEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				if !asJSON {
					fmt.Fprintln(a.stderr, "following: jobs move on from here until they end (Ctrl+C stops following; the jobs go on)")
				}
				jobs, err := engine.Call(cmd.Context(), eng, id, engine.DrivePatches{RunID: runID, Wait: true})
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, jobs)
				}
				writeJobs(a.stdout, jobs)
				return jobsExit(jobs)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&runID, "run", "", "the jobs of one install run")
	fl.StringVar(&host, "host", "", "the jobs of one device")
	fl.BoolVar(&follow, "follow", false, "move unfinished jobs on until they end")
	fl.IntVar(&limit, "limit", 100, "at most this many jobs")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) patchHistoryCommand() *cobra.Command {
	var (
		host, kb, since string
		limit           int
		asJSON          bool
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Each update's outcome: installed or failed with its HRESULT named and the usual fix",
		Long: `Show updates' outcomes in install jobs, newest first (of --host, of --kb,
--since a duration or date; at most --limit, default 200). A failure names
its HRESULT (0x8024xxxx and the Windows error codes) and the usual fix.

--json prints an array of {job_id, run_id, host, round, update_id, kb, title,
result (installed, failed, aborted, not-applicable), result_code, hresult,
fix, reboot_required, message, finished_at}.`,
		Example: `  rmm patch history --host WS-0042
  rmm patch history --kb KB5034441 --since 7d --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := parseSince(since, time.Now())
			if err != nil {
				return exitError{2, err}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				rs, err := engine.Call(cmd.Context(), eng, id, engine.PatchHistory{Host: host, KB: kb, Since: from, Limit: limit})
				if errors.Is(err, engine.ErrUnknownDevice) {
					return exitError{2, err}
				}
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, rs)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "FINISHED\tHOST\tROUND\tKB\tRESULT\tHRESULT\tTITLE")
				for _, r := range rs {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.FinishedAt.UTC().Format("2006-01-02 15:04"), r.Host, r.Round, dash(r.KB),
						r.Result, dash(r.HResult), clip(asciiOnly(r.Title), 60))
					if r.Fix != "" {
						fmt.Fprintf(tw, "\t\t\t\t\t  fix: %s\t\n", asciiOnly(r.Fix))
					}
				}
				return tw.Flush()
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&host, "host", "", "one device")
	fl.StringVar(&kb, "kb", "", "one KB")
	fl.StringVar(&since, "since", "", "a duration (7d, 24h) or a date (2026-11-01)")
	fl.IntVar(&limit, "limit", 200, "at most this many")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) patchCancelCommand() *cobra.Command {
	var (
		runID  string
		hosts  []string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "cancel [JOB...]",
		Short: "Cancel install jobs: a running task is stopped and removed",
		Long: `Cancel unfinished install jobs: those named by id, of --run ID, or of
--target HOST (repeatable). A job whose task runs has it stopped through the
Task Scheduler and removed; what installed before stays installed (and may
need a restart). Audited.

--json prints the cancelled jobs.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ids []int64
			for _, s := range args {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return exitError{2, fmt.Errorf("job %q is not a number", s)}
				}
				ids = append(ids, n)
			}
			if len(ids) == 0 && runID == "" && len(hosts) == 0 {
				return exitError{2, errors.New("name jobs, --run or --target")}
			}
			return a.withRunEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				jobs, err := engine.Call(cmd.Context(), eng, id, engine.CancelPatches{RunID: runID, Hosts: hosts, JobIDs: ids})
				if err != nil {
					if errors.Is(err, engine.ErrDenied) {
						return err
					}
					return exitError{2, err}
				}
				if asJSON {
					return writeJSON(a.stdout, jobs)
				}
				writeJobs(a.stdout, jobs)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&runID, "run", "", "every unfinished job of a run")
	fl.StringArrayVar(&hosts, "target", nil, "the unfinished job of a device (repeatable)")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
