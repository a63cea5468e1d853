package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/store"
)

// RunConfig is one `rmm bench run`: an ad-hoc command on every host of a
// warm fleet, then a collection query over the fleet's software
// inventory.
type RunConfig struct {
	Devices     int           // simulated hosts, 1..100000
	Throttle    int           // the engine's requests in flight, 1..1000
	RTT         time.Duration // added latency per HTTP request
	PSStart     time.Duration // what starting powershell.exe costs (the warm-up pays it)
	CommandTime time.Duration // what the command costs on a host
	ScriptTime  time.Duration // what rmm's own scripts cost (the warm-up's metrics, the inventory collector)
	Seed        int64
	Script      string // the command; default "Get-Service Spooler | Select Status"
	Query       string // the collection's expression; default `software:"Zoom" software.version<5.17`
	Queries     int    // times the query is evaluated (the median is reported); default 21
	SkipQuery   bool   // no inventory collection, no query
	Logf        func(format string, args ...any)
	// CPUProfile, when set, receives a pprof CPU profile of the command
	// (request to the last result recorded).
	CPUProfile io.Writer
	SimCommand []string // as SweepConfig's: `rmm sim` in a child process; empty: in this process
	SimEnv     []string
}

// RunResult is the stable output of `rmm bench run --json`.
type RunResult struct {
	Devices         int     `json:"devices"`
	Throttle        int     `json:"throttle"`
	RTTMS           float64 `json:"rtt_ms"`
	CommandMS       float64 `json:"command_ms"`
	Simulator       string  `json:"simulator"`
	Script          string  `json:"script"`
	WarmupMS        float64 `json:"warmup_ms"` // the sweep that opened every shell and resident loop
	FloorMS         float64 `json:"floor_ms"`  // ceil(N/T) x (rtt + max(rtt, command))
	WallMS          float64 `json:"wall_ms"`   // RunCommand to the last result recorded and audited
	Ratio           float64 `json:"ratio"`     // wall / floor
	Groups          string  `json:"groups"`    // the grouped outcome, "9813 Running / 187 Stopped"
	CPUMSPerHost    float64 `json:"cpu_ms_per_host"`
	SimCPUMSPerHost float64 `json:"sim_cpu_ms_per_host"` // the simulator child's, 0 in-process
	PeakRSSMB       float64 `json:"peak_rss_mb"`

	InventoryMS   float64 `json:"inventory_ms"`  // collecting every host's software inventory (indexed as it is stored)
	IndexLoadMS   float64 `json:"index_load_ms"` // building every device's facts from the stored index, as a new engine does
	HeapMB        float64 `json:"heap_mb"`       // this process's live heap after the index loaded (engine, pool, index)
	AppsPerHost   float64 `json:"apps_per_host"` // applications per host in the index
	Query         string  `json:"query"`
	QueryMatches  int     `json:"query_matches"`   // devices the query matched
	QueryMedianMS float64 `json:"query_median_ms"` // evaluating it over the fleet, median of Queries
	QueryMaxMS    float64 `json:"query_max_ms"`
	QueryTargetMS float64 `json:"query_target_ms"` // 100
	QueryVsTarget float64 `json:"query_vs_target"` // median / target
}

// QueryTarget is the collection query's latency target.
const QueryTarget = 100 * time.Millisecond

// Check validates the configuration.
func (c *RunConfig) Check() error {
	switch {
	case c.Devices < 1 || c.Devices > 100000:
		return fmt.Errorf("devices %d is out of range 1..100000", c.Devices)
	case c.Throttle < 1 || c.Throttle > engine.MaxThrottle:
		return fmt.Errorf("throttle %d is out of range 1..%d", c.Throttle, engine.MaxThrottle)
	case c.RTT < 0 || c.PSStart < 0 || c.CommandTime < 0 || c.ScriptTime < 0:
		return errors.New("rtt, ps-start, command-time and script-time must not be negative")
	case c.Queries < 0:
		return errors.New("queries must not be negative")
	}
	if c.Script != "" {
		if err := engine.CheckCommand(c.Script); err != nil {
			return err
		}
	}
	return nil
}

// Run runs the benchmark: a fleet (a child `rmm sim` by default) with a
// fresh database, one sweep to open every host's shell and resident
// PowerShell, then the command on every host through RunCommand (wall
// time, this process's CPU), then every host's software inventory
// collected and the query evaluated Queries times over the index.
func Run(ctx context.Context, cfg RunConfig) (RunResult, error) {
	if err := cfg.Check(); err != nil {
		return RunResult{}, fmt.Errorf("bench: %w", err)
	}
	if cfg.Script == "" {
		cfg.Script = "Get-Service Spooler | Select Status"
	}
	if cfg.Query == "" {
		cfg.Query = `software:"Zoom" software.version<5.17`
	}
	if cfg.Queries == 0 {
		cfg.Queries = 21
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	// Over HTTP (hosts that allow unencrypted Basic): the benchmark is of
	// the command's fan-out and recording, as its figures in the README
	// were measured; rmm bench sweep measures the transports.
	sc := SweepConfig{Devices: cfg.Devices, Throttle: cfg.Throttle, RTT: cfg.RTT, PSStart: cfg.PSStart, ScriptTime: cfg.ScriptTime,
		CommandTime: cfg.CommandTime, Sweeps: 2, Seed: cfg.Seed, SimCommand: cfg.SimCommand, SimEnv: cfg.SimEnv,
		Transport: TransportHTTP}
	// The hosts take a password of this run alone (see Sweep).
	sc.password = runPassword()
	auth := &authSetup{method: AuthBasic, password: sc.password}
	idle, err := fileBudget(sc, logf)
	if err != nil {
		return RunResult{}, fmt.Errorf("bench: %w", err)
	}
	dir, err := os.MkdirTemp("", "rmm-bench-run-")
	if err != nil {
		return RunResult{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	res := RunResult{Devices: cfg.Devices, Throttle: cfg.Throttle, RTTMS: ms(cfg.RTT), CommandMS: ms(cfg.CommandTime),
		Simulator: "in-process", Script: cfg.Script, Query: cfg.Query, QueryTargetMS: ms(QueryTarget)}
	var fleet simFleet
	if len(cfg.SimCommand) > 0 {
		child, err := startChild(ctx, sc, dir, nil)
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		fleet, res.Simulator = child, "child-process"
	} else if fleet, err = startInProcess(ctx, sc, dir, auth); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	defer fleet.close()

	db, err := store.Open(ctx, filepath.Join(dir, "rmm.db"))
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	defer db.Close()
	var csv bytes.Buffer
	if err := fleet.csv(&csv); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	if _, _, err := csvimport.Import(ctx, db, "fleet.csv", &csv, csvimport.Options{}); err != nil {
		return res, fmt.Errorf("bench: import: %w", err)
	}
	eng, err := engine.New(ctx, db, engine.Options{
		Throttle:     cfg.Throttle,
		Interval:     time.Hour,
		Timeout:      engine.DefaultTimeout,
		Credential:   auth.credential(AuthBasic),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxIdleConns: max(idle, 1),
	})
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	defer eng.Close()

	start := time.Now()
	sr, err := eng.Sweep(ctx)
	if err == nil && sr.Online != cfg.Devices {
		err = fmt.Errorf("%d of %d devices online after the warm-up sweep (errors by class %v)", sr.Online, cfg.Devices, sr.Errors)
	}
	if err != nil {
		return res, fmt.Errorf("bench: warm-up: %w", err)
	}
	res.WarmupMS = round(ms(time.Since(start)), 1)
	logf("warm-up sweep: %.0f ms, pool %+v", res.WarmupMS, sr.Pool)

	waves := math.Ceil(float64(cfg.Devices) / float64(cfg.Throttle))
	res.FloorMS = round(waves*(res.RTTMS+max(res.RTTMS, res.CommandMS)), 1)
	sys := engine.SystemIdentity()
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return res, fmt.Errorf("bench: cpu profile: %w", err)
		}
	}
	sim0, _ := fleet.cpu()
	cpu0 := CPUTime()
	start = time.Now()
	info, err := engine.Call(ctx, eng, sys, engine.RunCommand{Script: cfg.Script, Target: engine.RunTarget{Filter: "status:online"}, Confirmed: true})
	if err != nil {
		return res, fmt.Errorf("bench: run command: %w", err)
	}
	if err := eng.WaitRun(ctx, info.ID); err != nil {
		return res, fmt.Errorf("bench: run command: %w", err)
	}
	wall := time.Since(start)
	cpu1 := CPUTime()
	sim1, _ := fleet.cpu()
	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	res.WallMS = round(ms(wall), 1)
	if res.FloorMS > 0 {
		res.Ratio = round(res.WallMS/res.FloorMS, 3)
	}
	res.CPUMSPerHost = round(ms(cpu1-cpu0)/float64(cfg.Devices), 3)
	res.SimCPUMSPerHost = round(ms(sim1-sim0)/float64(cfg.Devices), 3)
	cr, err := engine.Call(ctx, eng, sys, engine.GetCommandRun{RunID: info.ID})
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	res.Groups = engine.FormatOutputGroups(cr.Groups)
	logf("command on %d hosts: %.0f ms (floor %.0f ms), %s", cfg.Devices, res.WallMS, res.FloorMS, res.Groups)
	if cr.Completed != cfg.Devices {
		return res, fmt.Errorf("bench: the command completed on %d of %d hosts: %s", cr.Completed, cfg.Devices, res.Groups)
	}

	if !cfg.SkipQuery {
		start = time.Now()
		inv, err := eng.CollectFleetInventory(ctx, []string{engine.InventorySoftware}, 0)
		if err != nil {
			return res, fmt.Errorf("bench: software inventory: %w", err)
		}
		if inv.Collected != cfg.Devices {
			return res, fmt.Errorf("bench: software inventory of %d of %d hosts (errors %v)", inv.Collected, cfg.Devices, inv.Errors)
		}
		res.InventoryMS = round(ms(time.Since(start)), 1)
		apps := 0
		for _, d := range eng.Devices() {
			n, _, _ := d.Facts.Sizes()
			apps += n
		}
		res.AppsPerHost = round(float64(apps)/float64(cfg.Devices), 1)
		logf("software inventory of %d hosts: %.0f ms, %.0f applications per host", cfg.Devices, res.InventoryMS, res.AppsPerHost)
		start = time.Now()
		if err := eng.LoadFacts(ctx); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		res.IndexLoadMS = round(ms(time.Since(start)), 1)
		runtime.GC()
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		res.HeapMB = round(float64(mem.HeapAlloc)/(1<<20), 1)
		var took []float64
		for range cfg.Queries {
			t0 := time.Now()
			tab, err := engine.Call(ctx, eng, sys, engine.QueryInventory{Expr: cfg.Query, Columns: []string{"host"}})
			if err != nil {
				return res, fmt.Errorf("bench: query: %w", err)
			}
			took = append(took, ms(time.Since(t0)))
			res.QueryMatches = tab.Devices
		}
		res.QueryMedianMS = round(median(took), 2)
		res.QueryMaxMS = round(slices.Max(took), 2)
		res.QueryVsTarget = round(res.QueryMedianMS/res.QueryTargetMS, 3)
		logf("query %s: %d matches, median %.2f ms, max %.2f ms", cfg.Query, res.QueryMatches, res.QueryMedianMS, res.QueryMaxMS)
	}
	res.PeakRSSMB = round(PeakRSSMB(), 1)
	return res, nil
}
