package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine/bench"
)

func (a *app) benchRunCommand() *cobra.Command {
	var (
		cfg        bench.RunConfig
		asJSON     bool
		inProcess  bool
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "An ad-hoc command on every host of a warm simulated fleet, then a collection query",
		Long: `Start N simulated Windows hosts on 127.0.0.1 (rmm sim, in a child process)
and the engine in this process with a fresh temporary database; sweep once so
every host has its shell and resident PowerShell open (the warm-up), then run
--script on every host through rmm run's request (RunCommand) and wait until
every result is recorded and audited. Then collect every host's software
inventory (indexed as it is stored) and evaluate --query over the fleet
--queries times, as a collection or an inventory query does.

--json prints one object:
  devices, throttle, rtt_ms, command_ms, simulator, script,
  warmup_ms            the sweep that opened every shell and loop
  floor_ms             ceil(devices/throttle) x (rtt_ms + max(rtt_ms, command_ms))
  wall_ms              the command: request to the last result recorded
  ratio                wall_ms / floor_ms
  groups               the grouped outcome ("9813 Running / 187 Stopped")
  cpu_ms_per_host      this process's CPU (user+system) per host over the command
  sim_cpu_ms_per_host  the simulator child's, same span (0 in-process)
  peak_rss_mb          this process's peak resident memory
  inventory_ms         collecting every host's software inventory
  index_load_ms        building every device's facts from the stored index
  heap_mb              this process's live heap after the index loaded
  apps_per_host        applications per host in the index
  query, query_matches, query_median_ms, query_max_ms,
  query_target_ms      100
  query_vs_target      query_median_ms / query_target_ms`,
		Example: `  rmm bench run --devices 10000 --throttle 500
  rmm bench run --devices 1000 --throttle 100 --rtt 20ms --command-time 50ms --json`,
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
			res, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(res)
			}
			w := a.stdout
			fmt.Fprintf(w, "ad-hoc command on %d simulated hosts, throttle %d, rtt %gms, command %gms (%s simulator)\n",
				res.Devices, res.Throttle, res.RTTMS, res.CommandMS, res.Simulator)
			fmt.Fprintf(w, "  %-22s %s\n", "command", res.Script)
			fmt.Fprintf(w, "  %-22s %.0f ms\n", "warm-up sweep", res.WarmupMS)
			fmt.Fprintf(w, "  %-22s %.0f ms\n", "floor", res.FloorMS)
			fmt.Fprintf(w, "  %-22s %.0f ms\n", "wall", res.WallMS)
			fmt.Fprintf(w, "  %-22s %.3f\n", "wall / floor", res.Ratio)
			fmt.Fprintf(w, "  %-22s %.3f ms (simulator %.3f ms)\n", "CPU per host", res.CPUMSPerHost, res.SimCPUMSPerHost)
			fmt.Fprintf(w, "  %-22s %s\n", "groups", res.Groups)
			if !cfg.SkipQuery {
				fmt.Fprintf(w, "collection query over %d hosts (%.0f applications each)\n", res.Devices, res.AppsPerHost)
				fmt.Fprintf(w, "  %-22s %s (%d matches)\n", "query", res.Query, res.QueryMatches)
				fmt.Fprintf(w, "  %-22s %.2f ms (max %.2f ms)\n", "median latency", res.QueryMedianMS, res.QueryMaxMS)
				fmt.Fprintf(w, "  %-22s %.3f (target %g ms)\n", "median / target", res.QueryVsTarget, res.QueryTargetMS)
				fmt.Fprintf(w, "  %-22s %.0f ms\n", "inventory collection", res.InventoryMS)
				fmt.Fprintf(w, "  %-22s %.0f ms\n", "index load", res.IndexLoadMS)
				fmt.Fprintf(w, "  %-22s %.0f MB\n", "live heap after", res.HeapMB)
			}
			fmt.Fprintf(w, "  %-22s %.0f MB\n", "peak RSS", res.PeakRSSMB)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Devices, "devices", 1000, "simulated hosts")
	f.IntVar(&cfg.Throttle, "throttle", 100, "requests in flight (engine.throttle), 1..1000")
	f.DurationVar(&cfg.RTT, "rtt", 5*time.Millisecond, "added latency per request")
	f.DurationVar(&cfg.PSStart, "ps-start", 400*time.Millisecond, "cost of starting powershell.exe (paid in the warm-up)")
	f.DurationVar(&cfg.CommandTime, "command-time", 50*time.Millisecond, "run time of the command on a host")
	f.DurationVar(&cfg.ScriptTime, "script-time", 50*time.Millisecond, "run time of rmm's own scripts (the warm-up's metrics, the inventory collector)")
	f.StringVar(&cfg.Script, "script", "Get-Service Spooler | Select Status", "the command")
	f.StringVar(&cfg.Query, "query", `software:"Zoom" software.version<5.17`, "the collection's expression")
	f.IntVar(&cfg.Queries, "queries", 21, "times the query is evaluated (the median is reported)")
	f.BoolVar(&cfg.SkipQuery, "no-query", false, "skip the inventory collection and the query")
	f.Int64Var(&cfg.Seed, "seed", 1, "simulator seed")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the command's run to this file")
	f.BoolVar(&inProcess, "in-process", false, "run the simulated hosts in this process (their CPU then counts in cpu_ms_per_host)")
	return cmd
}
