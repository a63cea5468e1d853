package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine/bench"
)

func (a *app) benchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Headless benchmarks that print ratios",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(a.benchSweepCommand(), a.benchRunCommand(), a.benchPatchCommand())
	return cmd
}

func (a *app) benchSweepCommand() *cobra.Command {
	var (
		cfg        bench.SweepConfig
		asJSON     bool
		cpuProfile string
		inProcess  bool
		memLimit   int
	)
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Sweep a simulated fleet with and without the session pool; print wall time, requests, CPU and memory",
		Long: `Start N simulated Windows hosts on 127.0.0.1 (rmm sim, in a child
process) and the engine in this process, with a fresh temporary database,
and sweep the fleet --sweeps times: the first sweep is cold (shells
created, resident PowerShell started), the others warm. Then the engine
closes (the hosts' open shells are counted) and the same sweeps run again
with no session pool and no resident PowerShell (a new shell and
powershell.exe per poll), for comparison.

What a console pays by default: the hosts serve HTTPS (--transport https,
the default; certificates from a test CA that the engine verifies, as
with winrm.ca_bundle), and --interval D spaces the sweeps' starts D apart
as engine.poll_interval does (default 5m), so kept connections expire
between polls (after 110 s idle) and every poll dials and handshakes
anew; idle shells then live D and a fifth, as under the console's
scheduler. --interval 0 (the default here) runs the sweeps back to back,
over connections kept from the sweep before. --transport http measures
plain HTTP.

--json prints one object:
  devices, throttle, rtt_ms, ps_start_ms, script_ms,
  transport             https (default) or http
  interval_s            seconds between sweep starts; 0: back to back
  simulator             child-process (default) or in-process
  memory_limit_mb       this process's soft memory limit (engine.memory_limit_mb,
                        or --memory-limit-mb; 0: Go's defaults)
  floor_ms              ceil(devices/throttle) x (rtt_ms + max(rtt_ms, script_ms)):
                        a warm poll is the Send's round trip, then the longer
                        of the script and the Receive's round trip (the script
                        starts when the Send is handled); no TCP or TLS
                        handshake is counted
  cold_wall_ms          the first sweep
  warm_wall_ms          the median of the later sweeps
  ratio                 warm_wall_ms / floor_ms (at least 1)
  requests_per_poll     HTTP requests per device, counted at the hosts (warm)
  unpooled_warm_wall_ms the same sweeps without pool and resident PowerShell
  pooled_vs_unpooled    warm_wall_ms / unpooled_warm_wall_ms
  cpu_ms_per_poll       this process's CPU (user+system) per device over the
                        warm pooled poll cycles: each from the end of the
                        sweep before to the end of its own, the wait between
                        sweeps included
  peak_rss_mb           this process's peak resident memory (VmHWM)
  sim_cpu_ms_per_poll   the simulator child's CPU per device, same cycles
                        (-1: not measured, no /proc)
  sim_cpu_total_ms      the simulator child's CPU over its whole life
  sim_peak_rss_mb       the simulator child's peak resident memory
  shells_open_after     shells left open on the hosts after the engine closed
  conns_dialed_per_poll TCP connections the engine opened per device (warm
                        pooled sweeps): 0 when each host's connection from the
                        sweep before was reused
  conns_accepted_per_poll the same, counted at the hosts (over HTTPS, one
                        TLS handshake each), with the availability probe's
                        TCP connects when due (every 30 minutes per device)
  tls_full_handshakes_per_poll
                        full TLS handshakes the hosts completed per device
                        (warm pooled sweeps): certificate sent and verified,
                        key exchange
  tls_resumed_per_poll  the same for abbreviated handshakes that resumed a
                        session the host had issued (hosts with TLS 1.3 on
                        by default: Windows 11, Server 2022 and later);
                        both 0 over HTTP
  auth                  basic, ntlm, kerberos or negotiate (--auth)
  kdc_requests_cold     KDC messages in the first pooled sweep (a TGT, a
                        ticket per host)
  kdc_requests_per_poll KDC messages per device over the warm pooled sweeps
  basic_warm_wall_ms, basic_cpu_ms_per_poll
                        with --auth other than basic: the same pooled sweeps
                        with Basic, on the same hosts in the same run
  cpu_vs_basic          cpu_ms_per_poll / basic_cpu_ms_per_poll
  idle_conn_limit       connections the engine could keep between sweeps:
                        every host's, unless the file descriptor limit (the
                        simulator needs two per host) leaves room for fewer

The simulator runs in a child process (this executable's "sim" command),
so cpu_ms_per_poll and peak_rss_mb are the console's alone, as for a
console polling real Windows hosts; the sim_* fields show the hosts' side.
--in-process runs the hosts in this process instead: cpu_ms_per_poll and
peak_rss_mb then include the server side of every request, and the sim_*
fields are 0. --cpuprofile FILE writes a pprof CPU profile of this
process over the warm pooled sweeps (go tool pprof FILE).

--auth ntlm, kerberos or negotiate sweeps the simulator's domain-joined
hosts (rmm sim --domain), every message sealed (WinRM message
encryption): a kept connection is authenticated once and its security
context serves every later request on it. Kerberos and Negotiate start
an MIT KDC on 127.0.0.1 (Debian's krb5-kdc and krb5-admin-server; creating
10,000 host principals takes about a minute) that issues the tickets the
hosts check. The hosts also take Basic, so the run measures Basic on
them too, as the baseline.`,
		Example: `  rmm bench sweep --devices 10000 --throttle 500 --rtt 5ms --json
  rmm bench sweep --devices 10000 --throttle 500 --rtt 5ms --interval 5m --json
  rmm bench sweep --devices 500 --throttle 50 --rtt 20ms --sweeps 5 --transport http
  rmm bench sweep --devices 10000 --throttle 500 --cpuprofile warm.prof
  rmm bench sweep --devices 10000 --throttle 500 --rtt 5ms --auth kerberos --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				cfg.Logf = func(format string, args ...any) { a.log.Info(fmt.Sprintf(format, args...)) }
			} else {
				cfg.Logf = func(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) }
			}
			if !inProcess {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("bench: simulator child: %w", err)
				}
				cfg.SimCommand, cfg.SimEnv = []string{exe, "sim"}, a.simChildEnv()
			}
			switch {
			case memLimit >= 0:
				cfg.MemoryLimitMB = memLimit
			case a.getenv("GOGC") == "" && a.getenv("GOMEMLIMIT") == "":
				cfg.MemoryLimitMB = a.cfg.Engine.MemoryLimitMB
			}
			if err := cfg.Check(); err != nil {
				return exitError{2, fmt.Errorf("bench: %w", err)}
			}
			if cpuProfile != "" {
				f, err := createCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				cfg.CPUProfile = f
			}
			res, err := bench.Sweep(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(res)
			}
			a.printBenchSweep(res)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Devices, "devices", 1000, "simulated hosts")
	f.IntVar(&cfg.Throttle, "throttle", 100, "requests in flight (engine.throttle), 1..1000")
	f.DurationVar(&cfg.RTT, "rtt", 5*time.Millisecond, "added latency per request")
	f.DurationVar(&cfg.PSStart, "ps-start", 400*time.Millisecond, "cost of starting powershell.exe")
	f.DurationVar(&cfg.ScriptTime, "script-time", 250*time.Millisecond, "run time of the metrics script")
	f.IntVar(&cfg.Sweeps, "sweeps", 3, "sweeps per mode (the first is cold), at least 2")
	f.Int64Var(&cfg.Seed, "seed", 1, "simulator seed")
	f.StringVar(&cfg.Transport, "transport", "", "what the hosts serve: https (verified against the simulator's CA, a console's default) or http; empty: https, or http with --auth other than basic (messages sealed)")
	f.DurationVar(&cfg.Interval, "interval", 0, "time between sweep starts, as engine.poll_interval (5m by default in a console); 0: back to back")
	f.StringVar(&cfg.Auth, "auth", bench.AuthBasic, "basic, or ntlm, kerberos or negotiate against domain-joined hosts (messages sealed; Kerberos with an MIT KDC on loopback)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&memLimit, "memory-limit-mb", -1, "this process's soft memory limit in MiB, 0: Go's defaults (default: engine.memory_limit_mb, as a console applies it)")
	f.BoolVar(&inProcess, "in-process", false, "run the simulated hosts in this process (their CPU and memory then count in cpu_ms_per_poll and peak_rss_mb)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the warm pooled sweeps to this file")
	return cmd
}

func (a *app) printBenchSweep(r bench.SweepResult) {
	w := a.stdout
	fmt.Fprintf(w, "sweep of %d simulated hosts, throttle %d, rtt %gms, powershell start %gms, script %gms\n",
		r.Devices, r.Throttle, r.RTTMS, r.PSStartMS, r.ScriptMS)
	spacing := "back to back"
	if r.IntervalS > 0 {
		spacing = fmt.Sprintf("starting %s apart", time.Duration(r.IntervalS*float64(time.Second)))
	}
	fmt.Fprintf(w, "transport: %s; sweeps %s\n", r.Transport, spacing)
	limit := "Go's defaults"
	if r.MemoryLimitMB > 0 {
		limit = fmt.Sprintf("%d MiB (engine.memory_limit_mb)", r.MemoryLimitMB)
	}
	fmt.Fprintf(w, "simulator: %s; console memory limit: %s\n", r.Simulator, limit)
	who := "console and simulator, one process"
	if r.Simulator != "in-process" {
		who = "console"
	}
	rows := [][2]string{
		{"floor (rtt+max(rtt,script))", fmt.Sprintf("%.0f ms", r.FloorMS)},
		{"cold sweep", fmt.Sprintf("%.0f ms", r.ColdWallMS)},
		{"warm sweep (median)", fmt.Sprintf("%.0f ms", r.WarmWallMS)},
		{"warm / floor", fmt.Sprintf("%.3f", r.Ratio)},
		{"requests per poll", fmt.Sprintf("%.3f", r.RequestsPerPoll)},
		{"connections per poll", fmt.Sprintf("%.3f dialed, %.3f accepted by the hosts (idle limit %d)", r.ConnsDialedPerPoll, r.ConnsAcceptedPerPoll, r.IdleConnLimit)},
		{"TLS handshakes per poll", fmt.Sprintf("%.3f full, %.3f resumed", r.TLSFullHandshakesPerPoll, r.TLSResumedPerPoll)},
		{"unpooled warm sweep", fmt.Sprintf("%.0f ms", r.UnpooledWarmWallMS)},
		{"pooled / unpooled", fmt.Sprintf("%.3f", r.PooledVsUnpooled)},
		{"CPU per poll", fmt.Sprintf("%.3f ms (%s)", r.CPUMSPerPoll, who)},
		{"peak RSS", fmt.Sprintf("%.1f MB (%s)", r.PeakRSSMB, who)},
	}
	if r.Simulator != "in-process" {
		simCPU := fmt.Sprintf("%.3f ms (child process, same sweeps; %.0f ms in all)", r.SimCPUMSPerPoll, r.SimCPUTotalMS)
		if r.SimCPUMSPerPoll < 0 {
			simCPU = fmt.Sprintf("not measured (no /proc); %.0f ms in all", r.SimCPUTotalMS)
		}
		rows = append(rows,
			[2]string{"simulator CPU per poll", simCPU},
			[2]string{"simulator peak RSS", fmt.Sprintf("%.1f MB (child process)", r.SimPeakRSSMB)})
	}
	if r.Auth != "" && r.Auth != bench.AuthBasic {
		rows = append(rows,
			[2]string{"auth", r.Auth + map[bool]string{true: " (messages sealed)", false: " (TLS, not sealed)"}[r.Transport == bench.TransportHTTP]},
			[2]string{"KDC requests", fmt.Sprintf("%d in the first sweep, %.4f per poll warm", r.KDCRequestsCold, r.KDCRequestsPerPoll)},
			[2]string{"Basic, same hosts", fmt.Sprintf("warm sweep %.0f ms, CPU per poll %.3f ms", r.BasicWarmWallMS, r.BasicCPUMSPerPoll)},
			[2]string{"CPU / Basic's", fmt.Sprintf("%.3f", r.CPUVsBasic)})
	}
	rows = append(rows, [2]string{"shells open after close", fmt.Sprintf("%d", r.ShellsOpenAfter)})
	for _, row := range rows {
		fmt.Fprintf(w, "  %-28s %s\n", row[0], row[1])
	}
}

// simChildEnv is the simulator child's environment: this process's
// without its secrets (childEnv), with the directory variables as this
// command sees them (the config and log locations), so the child writes
// where the parent would.
func (a *app) simChildEnv() []string {
	env := childEnv(os.Environ())
	for _, k := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"} {
		if v := a.getenv(k); v != os.Getenv(k) {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (a *app) benchPatchCommand() *cobra.Command {
	var (
		cfg       bench.PatchConfig
		asJSON    bool
		inProcess bool
		memLimit  int
	)
	cmd := &cobra.Command{
		Use:   "patch",
		Short: "A Patch Tuesday on a simulated fleet: scan every host, install on every host; print wall time, CPU and memory",
		Long: `Start N simulated Windows hosts (rmm sim, in a child process), every one a
month behind on its updates and serving HTTPS (--transport), and the engine in
this process with a fresh temporary database and an approval rule for
security and critical updates.
A sweep warms the session pool; then every host is scanned (a Windows Update
search: eight --script-time on the simulated host) and the scan's wall time
is set against its floor; then every host installs its approved updates
with reboot now: a one-shot SYSTEM task per host, its progress polled every
--poll-interval, a restart, servicing, a scan, a second round for what the
restart brings, until every job ended.

--json prints one object:
  devices, throttle, rtt_ms, scan_ms, install_ms, poll_interval_ms,
  simulator, transport, memory_limit_mb
  scan_floor_ms               ceil(devices/throttle) x (scan_ms + 2 x rtt_ms)
  scan_wall_ms, scan_ratio    the scan of the fleet, and wall / floor
  scan_cpu_ms_per_host        this process's CPU per host over the scan
  install_wall_ms             from the install request until every job ended
  install_cpu_ms_per_host     this process's CPU per host over the install
  install_requests_per_host   HTTP requests per host, counted at the hosts
  install_cpu_ms_per_request  the install's CPU per request
  jobs_completed, jobs_failed, jobs_other, updates_installed, rounds_mean, reboots
  peak_rss_mb                 this process's peak resident memory
  sim_cpu_total_ms, sim_peak_rss_mb   the simulator child's`,
		Example: `  rmm bench patch --devices 10000 --throttle 500 --json
  rmm bench patch --devices 200 --throttle 50`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				cfg.Logf = func(format string, args ...any) { a.log.Info(fmt.Sprintf(format, args...)) }
			} else {
				cfg.Logf = func(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) }
			}
			if !inProcess {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("bench: simulator child: %w", err)
				}
				cfg.SimCommand, cfg.SimEnv = []string{exe, "sim"}, a.simChildEnv()
			}
			switch {
			case memLimit >= 0:
				cfg.MemoryLimitMB = memLimit
			case a.getenv("GOGC") == "" && a.getenv("GOMEMLIMIT") == "":
				cfg.MemoryLimitMB = a.cfg.Engine.MemoryLimitMB
			}
			if err := cfg.Check(); err != nil {
				return exitError{2, fmt.Errorf("bench: %w", err)}
			}
			res, err := bench.Patch(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(res)
			}
			w := a.stdout
			fmt.Fprintf(w, "Patch Tuesday on %d simulated hosts, throttle %d (simulator: %s, %s)\n", res.Devices, res.Throttle, res.Simulator, res.Transport)
			for _, row := range [][2]string{
				{"scan floor", fmt.Sprintf("%.0f ms", res.ScanFloorMS)},
				{"scan wall", fmt.Sprintf("%.0f ms (ratio %.3f)", res.ScanWallMS, res.ScanRatio)},
				{"scan CPU per host", fmt.Sprintf("%.3f ms", res.ScanCPUMSHost)},
				{"install wall", fmt.Sprintf("%.0f ms", res.InstallWallMS)},
				{"install CPU per host", fmt.Sprintf("%.3f ms (%.4f ms per request, %.1f requests per host)", res.InstallCPUMS, res.CPUMSRequest, res.RequestsHost)},
				{"jobs", fmt.Sprintf("%d completed, %d failed, %d other; %d updates; %.2f rounds; %d restarts", res.Completed, res.Failed, res.Other, res.Installed, res.RoundsMean, res.Reboots)},
				{"peak RSS", fmt.Sprintf("%.1f MB (console)", res.PeakRSSMB)},
			} {
				fmt.Fprintf(w, "  %-22s %s\n", row[0], row[1])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Devices, "devices", 1000, "simulated hosts")
	f.IntVar(&cfg.Throttle, "throttle", 100, "requests in flight (engine.throttle), 1..1000")
	f.DurationVar(&cfg.RTT, "rtt", 5*time.Millisecond, "added latency per request")
	f.DurationVar(&cfg.PSStart, "ps-start", 400*time.Millisecond, "cost of starting powershell.exe")
	f.DurationVar(&cfg.ScriptTime, "script-time", 250*time.Millisecond, "run time of a script (a scan takes eight)")
	f.DurationVar(&cfg.InstallTime, "install-time", 2*time.Second, "one update's download and install on a host")
	f.DurationVar(&cfg.RebootDowntime, "reboot-downtime", 5*time.Second, "how long a restarting host is away")
	f.DurationVar(&cfg.ServicingTime, "servicing-time", 3*time.Second, "how long servicing is busy after a restart")
	f.DurationVar(&cfg.PollInterval, "poll-interval", 5*time.Second, "patches.poll_interval: how often a running job reads its host")
	f.IntVar(&cfg.MaxRounds, "max-rounds", 3, "install rounds per host")
	f.Int64Var(&cfg.Seed, "seed", 1, "simulator seed")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&memLimit, "memory-limit-mb", -1, "this process's soft memory limit in MiB, 0: Go's defaults (default: engine.memory_limit_mb)")
	f.StringVar(&cfg.Transport, "transport", bench.TransportHTTPS, "what the hosts serve: https (verified against the simulator's CA, a console's default) or http")
	f.BoolVar(&inProcess, "in-process", false, "run the simulated hosts in this process")
	return cmd
}

// createCPUProfile creates the file --cpuprofile names, for the benchmark
// commands.
func createCPUProfile(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	return f, nil
}
