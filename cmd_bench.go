package main

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
	cmd.AddCommand(a.benchSweepCommand())
	return cmd
}

func (a *app) benchSweepCommand() *cobra.Command {
	var (
		cfg        bench.SweepConfig
		asJSON     bool
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Sweep a simulated fleet with and without the session pool; print wall time, requests, CPU and memory",
		Long: `Start N simulated Windows hosts on 127.0.0.1 and the engine in this one
process, with a fresh temporary database, and sweep the fleet --sweeps
times: the first sweep is cold (shells created, resident PowerShell
started), the others warm. Then the engine closes (the hosts' open shells
are counted) and the same sweeps run again with no session pool and no
resident PowerShell (a new shell and powershell.exe per poll), for
comparison.

--json prints one object:
  devices, throttle, rtt_ms, ps_start_ms, script_ms,
  floor_ms              ceil(devices/throttle) x (script_ms + 2 x rtt_ms)
  cold_wall_ms          the first sweep
  warm_wall_ms          the median of the later sweeps
  ratio                 warm_wall_ms / floor_ms
  requests_per_poll     HTTP requests per device, counted at the hosts (warm)
  unpooled_warm_wall_ms the same sweeps without pool and resident PowerShell
  pooled_vs_unpooled    warm_wall_ms / unpooled_warm_wall_ms
  cpu_ms_per_poll       process CPU per device over the warm sweeps
  peak_rss_mb           the process's peak resident memory
  shells_open_after     shells left open on the hosts after the engine closed

CPU and memory are the whole process's: the simulated hosts run in it
too, so they include the server side of every request. --cpuprofile FILE
writes a pprof CPU profile of the warm pooled sweeps (go tool pprof FILE).`,
		Example: `  rmm bench sweep --devices 10000 --throttle 500 --rtt 5ms --json
  rmm bench sweep --devices 500 --throttle 50 --rtt 20ms --sweeps 5
  rmm bench sweep --devices 10000 --throttle 500 --cpuprofile warm.prof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				cfg.Logf = func(format string, args ...any) { a.log.Info(fmt.Sprintf(format, args...)) }
			} else {
				cfg.Logf = func(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) }
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("bench: cpu profile: %w", err)
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
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the warm pooled sweeps to this file")
	return cmd
}

func (a *app) printBenchSweep(r bench.SweepResult) {
	w := a.stdout
	fmt.Fprintf(w, "sweep of %d simulated hosts, throttle %d, rtt %gms, powershell start %gms, script %gms\n",
		r.Devices, r.Throttle, r.RTTMS, r.PSStartMS, r.ScriptMS)
	rows := [][2]string{
		{"floor (protocol)", fmt.Sprintf("%.0f ms", r.FloorMS)},
		{"cold sweep", fmt.Sprintf("%.0f ms", r.ColdWallMS)},
		{"warm sweep (median)", fmt.Sprintf("%.0f ms", r.WarmWallMS)},
		{"warm / floor", fmt.Sprintf("%.3f", r.Ratio)},
		{"requests per poll", fmt.Sprintf("%.3f", r.RequestsPerPoll)},
		{"unpooled warm sweep", fmt.Sprintf("%.0f ms", r.UnpooledWarmWallMS)},
		{"pooled / unpooled", fmt.Sprintf("%.3f", r.PooledVsUnpooled)},
		{"CPU per poll", fmt.Sprintf("%.3f ms (engine and simulator, one process)", r.CPUMSPerPoll)},
		{"peak RSS", fmt.Sprintf("%.1f MB (engine and simulator)", r.PeakRSSMB)},
		{"shells open after close", fmt.Sprintf("%d", r.ShellsOpenAfter)},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "  %-24s %s\n", row[0], row[1])
	}
}
