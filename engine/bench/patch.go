package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// PatchConfig is one `rmm bench patch` run: a Patch Tuesday on a
// simulated fleet whose every host is a month behind.
type PatchConfig struct {
	Devices        int
	Throttle       int
	RTT            time.Duration
	PSStart        time.Duration
	ScriptTime     time.Duration // a Windows Update search takes eight of these in the simulator
	InstallTime    time.Duration // one update's download and install in the simulated task
	RebootDowntime time.Duration
	ServicingTime  time.Duration
	PollInterval   time.Duration // patches.poll_interval
	MaxRounds      int
	Seed           int64
	Logf           func(format string, args ...any)
	SimCommand     []string // the simulator child's argv (see SweepConfig); empty: in this process
	SimEnv         []string
	MemoryLimitMB  int
	Transport      string // TransportHTTPS (also when empty) or TransportHTTP, as SweepConfig
}

// Check validates the configuration.
func (c *PatchConfig) Check() error {
	sc := c.sweep()
	if err := sc.Check(); err != nil {
		return err
	}
	switch {
	case c.InstallTime <= 0 || c.RebootDowntime <= 0 || c.ServicingTime < 0:
		return fmt.Errorf("install time and reboot downtime must be positive, servicing time not negative")
	case c.PollInterval < 10*time.Millisecond:
		return fmt.Errorf("poll interval %s is below 10ms", c.PollInterval)
	case c.MaxRounds < 1 || c.MaxRounds > 10:
		return fmt.Errorf("max rounds %d is out of range 1..10", c.MaxRounds)
	}
	return nil
}

func (c *PatchConfig) sweep() SweepConfig {
	return SweepConfig{Devices: c.Devices, Throttle: c.Throttle, RTT: c.RTT, PSStart: c.PSStart, ScriptTime: c.ScriptTime,
		Sweeps: 2, Seed: c.Seed, Logf: c.Logf, SimCommand: c.SimCommand, SimEnv: c.SimEnv, MemoryLimitMB: c.MemoryLimitMB,
		Transport: c.Transport,
		simArgs: []string{"--patch-behind", "1", "--patch-install-time", c.InstallTime.String(),
			"--servicing-time", c.ServicingTime.String(), "--reboot-downtime", c.RebootDowntime.String()},
		simCfg: func(sc *winrmsim.Config) {
			sc.PatchBehind, sc.PatchInstallTime, sc.RebootDowntime = 1, c.InstallTime, c.RebootDowntime
			sc.ServicingTime = c.ServicingTime
			if c.ServicingTime == 0 {
				sc.ServicingTime = -1
			}
		}}
}

// PatchResult is the benchmark's one JSON object (`rmm bench patch
// --json`).
type PatchResult struct {
	Devices        int     `json:"devices"`
	Throttle       int     `json:"throttle"`
	RTTMS          float64 `json:"rtt_ms"`
	ScanMS         float64 `json:"scan_ms"`                   // one search's run time on a host (eight script times)
	InstallMS      float64 `json:"install_ms"`                // one update's download and install on a host
	PollIntervalMS float64 `json:"poll_interval_ms"`          // patches.poll_interval
	Simulator      string  `json:"simulator"`                 // child-process or in-process
	Transport      string  `json:"transport"`                 // https or http
	MemoryLimitMB  int     `json:"memory_limit_mb"`           // this process's soft memory limit
	ScanFloorMS    float64 `json:"scan_floor_ms"`             // ceil(devices/throttle) x (scan_ms + 2 x rtt_ms)
	ScanWallMS     float64 `json:"scan_wall_ms"`              // the scan of the whole fleet, warm shells
	ScanRatio      float64 `json:"scan_ratio"`                // scan_wall_ms / scan_floor_ms
	ScanCPUMSHost  float64 `json:"scan_cpu_ms_per_host"`      // this process's CPU per host over the scan
	InstallWallMS  float64 `json:"install_wall_ms"`           // from the install request until every job ended
	InstallCPUMS   float64 `json:"install_cpu_ms_per_host"`   // this process's CPU per host over the install
	RequestsHost   float64 `json:"install_requests_per_host"` // HTTP requests per host at the hosts over the install
	CPUMSRequest   float64 `json:"install_cpu_ms_per_request"`
	Completed      int     `json:"jobs_completed"`
	Failed         int     `json:"jobs_failed"` // an update failed on the host (by seed), or a step did
	Other          int     `json:"jobs_other"`  // cancelled or expired
	// Failures counts the failed jobs by the start of their message (a
	// failing update's named HRESULT, or the step that failed).
	Failures      map[string]int `json:"failures"`
	Installed     int            `json:"updates_installed"`
	RoundsMean    float64        `json:"rounds_mean"`
	Reboots       int            `json:"reboots"`
	PeakRSSMB     float64        `json:"peak_rss_mb"` // this process's peak resident memory over the whole run
	SimCPUTotalMS float64        `json:"sim_cpu_total_ms"`
	SimPeakRSSMB  float64        `json:"sim_peak_rss_mb"`
}

// Patch runs the benchmark: the fleet (every host a month behind), a
// sweep that warms the pool, a scan of every host (its wall time against
// the floor), then an install of every approved update on every host
// with reboot now (approval rules approve security and critical updates
// at once), driven by the job driver until every job ended.
func Patch(ctx context.Context, cfg PatchConfig) (PatchResult, error) {
	if err := cfg.Check(); err != nil {
		return PatchResult{}, fmt.Errorf("bench: %w", err)
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sc := cfg.sweep()
	sc.password = runPassword() // as Sweep: a poller of another fleet is refused
	idle, err := fileBudget(sc, logf)
	if err != nil {
		return PatchResult{}, fmt.Errorf("bench: %w", err)
	}
	dir, err := os.MkdirTemp("", "rmm-bench-patch-")
	if err != nil {
		return PatchResult{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	restore := engine.SetMemoryLimit(cfg.MemoryLimitMB)
	defer restore()

	res := PatchResult{Devices: cfg.Devices, Throttle: cfg.Throttle, RTTMS: ms(cfg.RTT), ScanMS: 8 * ms(cfg.ScriptTime),
		InstallMS: ms(cfg.InstallTime), PollIntervalMS: ms(cfg.PollInterval), Simulator: "in-process", MemoryLimitMB: max(cfg.MemoryLimitMB, 0), Transport: sc.transport()}
	var fleet simFleet
	var child *ChildFleet
	if len(cfg.SimCommand) > 0 {
		if child, err = startChild(ctx, sc, dir, nil); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		fleet, res.Simulator = child, "child-process"
	} else if fleet, err = startInProcess(ctx, sc, dir, &authSetup{method: AuthBasic, password: sc.password}); err != nil {
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
	zero := 0
	eng, err := engine.New(ctx, db, engine.Options{
		Throttle: cfg.Throttle, Interval: time.Hour, Timeout: engine.DefaultTimeout,
		Credential:   engine.Credential{User: winrmsim.DefaultUser, Password: sc.password},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxIdleConns: max(idle, 1),
		Patches: engine.PatchOptions{PollInterval: cfg.PollInterval, MaxRounds: cfg.MaxRounds,
			RebootTimeout: 10 * time.Minute, ScanTimeout: 10 * time.Minute,
			Rules: []engine.PatchRule{{Name: "bench", Classifications: []string{"Security Updates", "Critical Updates"}, DeferralDays: &zero}}},
	})
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = eng.Close()
		}
	}()
	if ca := fleet.caBundle(); ca != "" {
		if err := eng.SetTransportOptions(winrm.TransportOptions{CABundle: ca}); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
	}
	admin := engine.Identity{User: "bench", Role: engine.RoleAdmin, Via: engine.ViaCLI}

	// A sweep first: the scan then finds the shells and loops warm, as
	// the daily scan does in a running console.
	start := time.Now()
	if _, err := eng.Sweep(ctx); err != nil {
		return res, fmt.Errorf("bench: warm-up sweep: %w", err)
	}
	logf("warm-up sweep: %s", time.Since(start).Round(time.Millisecond))

	waves := math.Ceil(float64(cfg.Devices) / float64(cfg.Throttle))
	res.ScanFloorMS = round(waves*(res.ScanMS+2*res.RTTMS), 1)
	cpu0 := CPUTime()
	start = time.Now()
	scans, err := engine.Call(ctx, eng, admin, engine.ScanPatches{})
	if err != nil {
		return res, fmt.Errorf("bench: scan: %w", err)
	}
	res.ScanWallMS = round(float64(time.Since(start).Microseconds())/1000, 1)
	res.ScanCPUMSHost = round(ms(CPUTime()-cpu0)/float64(cfg.Devices), 3)
	res.ScanRatio = round(res.ScanWallMS/res.ScanFloorMS, 3)
	failed := 0
	for _, s := range scans {
		if s.Error != "" {
			failed++
		}
	}
	logf("scan: %.0f ms (floor %.0f ms), %d of %d failed, RSS %.0f MB", res.ScanWallMS, res.ScanFloorMS, failed, len(scans), rssMB("VmRSS:"))

	hosts := make([]string, 0, cfg.Devices)
	for _, d := range eng.Devices() {
		hosts = append(hosts, d.Hostname)
	}
	st0, err := fleet.stats(ctx)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	cpu0 = CPUTime()
	start = time.Now()
	eng.StartPatchDriver()
	run, err := engine.Call(ctx, eng, admin, engine.InstallPatches{Target: engine.RunTarget{Hosts: hosts}, RebootNow: true})
	if err != nil {
		return res, fmt.Errorf("bench: install: %w", err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		open, err := db.PatchJobs(ctx, store.PatchJobFilter{RunID: run.RunID, Active: true, Limit: 1})
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		if len(open) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		if time.Since(start) > time.Hour {
			return res, fmt.Errorf("bench: install not done after an hour")
		}
	}
	res.InstallWallMS = round(float64(time.Since(start).Microseconds())/1000, 1)
	cpu := CPUTime() - cpu0
	st1, err := fleet.stats(ctx)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	jobs, err := db.PatchJobs(ctx, store.PatchJobFilter{RunID: run.RunID})
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	rounds := 0
	res.Failures = map[string]int{}
	for _, j := range jobs {
		switch j.State {
		case store.JobCompleted:
			res.Completed++
		case store.JobFailed:
			res.Failed++
			reason := j.Message
			if i := strings.Index(reason, "failed: "); i >= 0 {
				reason = reason[i+len("failed: "):]
			}
			if len(reason) > 90 {
				reason = reason[:90]
			}
			res.Failures[reason]++
		default:
			res.Other++
		}
		res.Installed += j.Installed
		rounds += j.Round
	}
	reboots, _ := db.ListAudit(ctx, store.AuditFilter{Action: "patches.reboot"})
	res.Reboots = len(reboots)
	if len(jobs) > 0 {
		res.RoundsMean = round(float64(rounds)/float64(len(jobs)), 2)
	}
	requests := st1.Requests - st0.Requests
	res.InstallCPUMS = round(ms(cpu)/float64(cfg.Devices), 3)
	res.RequestsHost = round(float64(requests)/float64(cfg.Devices), 1)
	if requests > 0 {
		res.CPUMSRequest = round(ms(cpu)/float64(requests), 4)
	}
	logf("install: %.0f ms, %d completed, %d failed, %d other, %d updates, %.1f requests/host, RSS %.0f MB",
		res.InstallWallMS, res.Completed, res.Failed, res.Other, res.Installed, res.RequestsHost, rssMB("VmRSS:"))
	closed = true
	if err := eng.Close(); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	res.PeakRSSMB = round(PeakRSSMB(), 1)
	if child != nil {
		if err := child.close(); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		if ps := child.state; ps != nil {
			res.SimCPUTotalMS = round(ms(ps.UserTime()+ps.SystemTime()), 1)
			res.SimPeakRSSMB = round(maxRSSMB(ps), 1)
		}
	}
	return res, nil
}
