// Package bench measures rmm's engine against a simulated Windows fleet
// (engine/winrmsim) over real HTTPS (or HTTP) on loopback, with a fresh
// SQLite database: the numbers `rmm bench sweep` prints. It owns the
// harness only; it changes nothing in the engine or the simulator, and it
// never touches the network beyond 127.0.0.1.
//
// By default the hosts serve HTTPS with certificates from a CA the
// simulator generates, and the engine verifies them against that CA (as
// winrm.ca_bundle does): the TLS handshakes and record encryption of a
// console's default transport are in the figures. Sweeps run back to
// back unless SweepConfig.Interval spaces them as engine.poll_interval
// does, so connections and shells expire between polls as they would.
//
// By default (SweepConfig.SimCommand set) the fleet runs in a child
// process (`rmm sim`), so this process's CPU time and peak RSS are the
// console's alone, as on a real console polling remote Windows hosts; the
// child's CPU and peak RSS are reported beside them. With no SimCommand
// the fleet runs in this process and its CPU and memory count in the
// process's figures.
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
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// SweepConfig is one `rmm bench sweep` run.
type SweepConfig struct {
	Devices    int           // simulated hosts, 1..100000
	Throttle   int           // the engine's requests in flight, 1..1000
	RTT        time.Duration // added latency per HTTP request
	PSStart    time.Duration // what starting powershell.exe costs
	ScriptTime time.Duration // run time of the metrics script
	// CommandTime is the run time of a script without a marker line (an
	// ad-hoc command, rmm bench run); zero for the sweeps.
	CommandTime time.Duration
	Sweeps      int   // sweeps per mode, >= 2: the first is cold, the rest warm
	Seed        int64 // the fleet's seed
	// Transport is what the hosts serve: TransportHTTPS (also when
	// empty: a console's default) or TransportHTTP.
	Transport string
	// Interval, when > 0, spaces the sweeps' starts as
	// engine.poll_interval does (the engine's idle shells then live
	// engine.WarmTTL(Interval), as under Run); 0 runs them back to back.
	Interval time.Duration
	// Auth is how the engine authenticates: AuthBasic (also when empty),
	// or AuthNTLM, AuthKerberos or AuthNegotiate against the simulator's
	// domain-joined hosts, every message sealed over HTTP (auth.go).
	Auth string
	// Logf, when set, receives one line per sweep.
	Logf func(format string, args ...any)
	// CPUProfile, when set, receives a CPU profile (pprof) of the warm
	// pooled sweeps: the part of the run the targets are about.
	CPUProfile io.Writer
	// SimCommand, when set, is the argv that starts `rmm sim` in a child
	// process (e.g. {os.Executable(), "sim"}); the harness appends the
	// fleet's flags. Empty: the fleet runs in this process.
	SimCommand []string
	// SimEnv is the child's environment (nil: this process's).
	SimEnv []string
	// MemoryLimitMB, when > 0, is applied to this process as a console
	// applies engine.memory_limit_mb (engine.SetMemoryLimit) for the
	// run, and restored after.
	MemoryLimitMB int

	idleConns int                    // connections the engine may keep (fileBudget)
	password  string                 // the hosts' password for this run (runPassword)
	simArgs   []string               // more flags for the simulator child (the patch benchmark's)
	simCfg    func(*winrmsim.Config) // more settings for an in-process fleet (the patch benchmark's)
}

// SweepResult is the benchmark's one JSON object; its field names are the
// stable output of `rmm bench sweep --json`.
type SweepResult struct {
	Devices       int     `json:"devices"`
	Throttle      int     `json:"throttle"`
	RTTMS         float64 `json:"rtt_ms"`
	PSStartMS     float64 `json:"ps_start_ms"`
	ScriptMS      float64 `json:"script_ms"`
	Transport     string  `json:"transport"`       // "https" (the default) or "http"
	IntervalS     float64 `json:"interval_s"`      // seconds between sweep starts; 0: back to back
	Simulator     string  `json:"simulator"`       // "child-process" (the default) or "in-process"
	MemoryLimitMB int     `json:"memory_limit_mb"` // this process's soft memory limit (engine.memory_limit_mb), 0: Go's defaults
	// FloorMS is the least a warm sweep can take (see FloorMS): ceil(N/T)
	// x (rtt + max(rtt, script)).
	FloorMS            float64 `json:"floor_ms"`
	ColdWallMS         float64 `json:"cold_wall_ms"`          // the first sweep: shells created, loops started
	WarmWallMS         float64 `json:"warm_wall_ms"`          // median of the later sweeps
	Ratio              float64 `json:"ratio"`                 // warm / floor, >= 1
	RequestsPerPoll    float64 `json:"requests_per_poll"`     // HTTP requests per device, counted at the hosts, warm sweeps
	UnpooledWarmWallMS float64 `json:"unpooled_warm_wall_ms"` // the same sweeps with no pool and no resident PowerShell
	PooledVsUnpooled   float64 `json:"pooled_vs_unpooled"`    // warm / unpooled warm
	// CPUMSPerPoll is this process's user+system CPU per device over the
	// warm pooled poll cycles (each from the end of the sweep before to
	// the end of its own, the wait between sweeps included, the
	// harness's reads of the hosts' counters left out): the console
	// alone when the simulator is a child process, console and simulator
	// together when it is in-process.
	CPUMSPerPoll float64 `json:"cpu_ms_per_poll"`
	// PeakRSSMB is this process's peak resident memory (VmHWM): the
	// console's alone with a child simulator, both with in-process.
	PeakRSSMB float64 `json:"peak_rss_mb"`
	// SimCPUMSPerPoll is the simulator child's CPU per device over the
	// same warm poll cycles (/proc/PID/stat); 0 in-process (it is then in
	// cpu_ms_per_poll), and -1 where /proc cannot be read (not Linux).
	SimCPUMSPerPoll float64 `json:"sim_cpu_ms_per_poll"`
	// SimCPUTotalMS is the child's CPU over its whole life, start-up and
	// both modes included (getrusage of the exited child); 0 in-process.
	SimCPUTotalMS float64 `json:"sim_cpu_total_ms"`
	// SimPeakRSSMB is the child's peak resident memory (maxrss); 0 in-process.
	SimPeakRSSMB    float64 `json:"sim_peak_rss_mb"`
	ShellsOpenAfter int64   `json:"shells_open_after"` // shells left on the hosts after the engine closed
	// Auth is the method of the pooled and unpooled sweeps; with a
	// domain method, KDCRequestsCold and KDCRequestsPerPoll are the KDC
	// messages of the first sweep and per device over the warm ones,
	// and the Basic* fields the same pooled sweeps with Basic on the
	// same hosts in the same run (CPUVsBasic: cpu_ms_per_poll over
	// Basic's).
	Auth               string  `json:"auth"`
	KDCRequestsCold    int64   `json:"kdc_requests_cold"`
	KDCRequestsPerPoll float64 `json:"kdc_requests_per_poll"`
	BasicWarmWallMS    float64 `json:"basic_warm_wall_ms"`
	BasicCPUMSPerPoll  float64 `json:"basic_cpu_ms_per_poll"`
	CPUVsBasic         float64 `json:"cpu_vs_basic"`
	// ConnsDialedPerPoll is the TCP connections the engine opened per
	// device over the warm pooled sweeps (the engine's count): 0 when
	// every host's connection was kept from the sweep before.
	ConnsDialedPerPoll float64 `json:"conns_dialed_per_poll"`
	// ConnsAcceptedPerPoll is the same counted at the hosts (TCP
	// connections they accepted): over HTTPS, each is a TLS handshake.
	ConnsAcceptedPerPoll float64 `json:"conns_accepted_per_poll"`
	// TLSFullHandshakesPerPoll and TLSResumedPerPoll split the TLS
	// handshakes the hosts completed over the warm pooled sweeps, per
	// device: full ones (certificate, key exchange) and abbreviated ones
	// that resumed a session the host had issued. Both 0 over HTTP.
	TLSFullHandshakesPerPoll float64 `json:"tls_full_handshakes_per_poll"`
	TLSResumedPerPoll        float64 `json:"tls_resumed_per_poll"`
	// IdleConnLimit is how many connections the engine could keep
	// between sweeps: every host's, unless the file descriptor limit
	// leaves room for fewer (the simulator needs one per host for its
	// listener and one for its end of each kept connection).
	IdleConnLimit int `json:"idle_conn_limit"`
}

// fileBudget raises the file descriptor limit for the sweep and returns
// how many connections the engine may keep open between sweeps. Every
// host listens on its own port, the simulator holds its end of each kept
// connection (in one process the engine's end counts too), and every
// request in flight may hold a new socket at both ends. Where the limit
// cannot be raised that far, the engine keeps fewer connections and
// dials the rest each sweep.
func fileBudget(cfg SweepConfig, logf func(string, ...any)) (int, error) {
	inFlight := 2*cfg.Throttle + 256
	ends := 1
	if len(cfg.SimCommand) == 0 {
		ends = 2
	}
	if RaiseFileLimit(uint64(cfg.Devices*(1+ends)+inFlight)) == nil {
		return cfg.Devices, nil
	}
	if err := RaiseFileLimit(uint64(cfg.Devices + inFlight)); err != nil {
		return 0, err
	}
	keep := max((winrm.OpenFileLimit()-cfg.Devices-inFlight)/ends, 0)
	logf("file descriptor limit %d: the engine keeps %d of %d hosts' connections between sweeps", winrm.OpenFileLimit(), keep, cfg.Devices)
	return keep, nil
}

// RequestsPerPollMin is what a warm poll needs at least: a Send with the
// request and a Receive with the answer.
const RequestsPerPollMin = 2

// Transports a sweep can run over.
const (
	TransportHTTPS = "https"
	TransportHTTP  = "http"
)

// FloorMS is the least time a warm sweep of devices hosts can take, in
// milliseconds, throttle at a time, when every request pays rtt and the
// metrics script runs script: ceil(devices/throttle) waves of one warm
// poll each, and a warm poll is the Send's round trip, then the longer of
// the script and the Receive's round trip. The script starts when the
// Send is handled, so the Receive travels while it runs: rtt +
// max(rtt, script), not script + 2 x rtt. It counts no TCP or TLS
// handshake: the simulator adds no latency to them, and a kept
// connection pays none.
func FloorMS(devices, throttle int, rtt, script time.Duration) float64 {
	if devices < 1 || throttle < 1 {
		return 0
	}
	waves := math.Ceil(float64(devices) / float64(throttle))
	return waves * (ms(rtt) + ms(max(rtt, script)))
}

// Check validates the configuration: Sweep refuses what it refuses.
func (c *SweepConfig) Check() error {
	switch {
	case c.Devices < 1 || c.Devices > 100000:
		return fmt.Errorf("devices %d is out of range 1..100000", c.Devices)
	case c.Throttle < 1 || c.Throttle > engine.MaxThrottle:
		return fmt.Errorf("throttle %d is out of range 1..%d", c.Throttle, engine.MaxThrottle)
	case c.Sweeps < 2:
		return fmt.Errorf("sweeps %d: need at least 2 (one cold, one warm)", c.Sweeps)
	case c.RTT < 0 || c.PSStart < 0 || c.ScriptTime < 0:
		return errors.New("rtt, ps-start and script-time must not be negative")
	case c.Transport != "" && c.Transport != TransportHTTPS && c.Transport != TransportHTTP:
		return fmt.Errorf("transport %q: want https or http", c.Transport)
	case c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Second):
		return fmt.Errorf("interval %s: want 0 (back to back) or at least 1s, as engine.poll_interval", c.Interval)
	case !slices.Contains([]string{AuthBasic, AuthNTLM, AuthKerberos, AuthNegotiate}, c.auth()):
		return fmt.Errorf("auth %q: want basic, ntlm, kerberos or negotiate", c.Auth)
	}
	return nil
}

// transport is the configuration's transport: https when unset, http
// with a domain auth (whose messages are sealed over HTTP).
func (c *SweepConfig) transport() string {
	switch {
	case c.Transport != "":
		return c.Transport
	case c.auth() != AuthBasic:
		return TransportHTTP
	}
	return TransportHTTPS
}

// auth is the sweep's auth method.
func (c *SweepConfig) auth() string {
	if c.Auth == "" {
		return AuthBasic
	}
	return strings.ToLower(c.Auth)
}

// Sweep runs the benchmark: the fleet, then Sweeps sweeps with the
// session pool and the resident PowerShell, then the engine closes and
// the hosts' open shells are counted, then the same sweeps without the
// pool. Each sweep waits for its rows to be committed.
func Sweep(ctx context.Context, cfg SweepConfig) (SweepResult, error) {
	if err := cfg.Check(); err != nil {
		return SweepResult{}, fmt.Errorf("bench: %w", err)
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	idle, err := fileBudget(cfg, logf)
	if err != nil {
		return SweepResult{}, fmt.Errorf("bench: %w", err)
	}
	cfg.idleConns = idle
	dir, err := os.MkdirTemp("", "rmm-bench-")
	if err != nil {
		return SweepResult{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)

	restore := engine.SetMemoryLimit(cfg.MemoryLimitMB)
	defer restore()
	// The hosts accept a password of this run alone: on a machine where
	// other rmm processes poll other simulated fleets with the default
	// credential, one that reaches a port this fleet reuses is refused
	// (401) instead of opening shells that shells_open_after would count.
	cfg.password = runPassword()
	res := SweepResult{
		Devices: cfg.Devices, Throttle: cfg.Throttle, Simulator: "in-process", MemoryLimitMB: max(cfg.MemoryLimitMB, 0),
		RTTMS: ms(cfg.RTT), PSStartMS: ms(cfg.PSStart), ScriptMS: ms(cfg.ScriptTime),
		Transport: cfg.transport(), IntervalS: cfg.Interval.Seconds(), Auth: cfg.auth(),
	}
	auth, err := setupAuth(ctx, cfg, dir, logf)
	if err != nil {
		return SweepResult{}, fmt.Errorf("bench: %w", err)
	}
	defer auth.close()
	var fleet simFleet
	var child *ChildFleet
	if len(cfg.SimCommand) > 0 {
		if child, err = startChild(ctx, cfg, dir, auth.sim); err != nil {
			return SweepResult{}, fmt.Errorf("bench: %w", err)
		}
		fleet, res.Simulator = child, "child-process"
	} else if fleet, err = startInProcess(ctx, cfg, dir, auth); err != nil {
		return SweepResult{}, fmt.Errorf("bench: %w", err)
	}
	defer fleet.close()

	db, err := store.Open(ctx, filepath.Join(dir, "rmm.db"))
	if err != nil {
		return SweepResult{}, fmt.Errorf("bench: %w", err)
	}
	defer db.Close()
	var csv bytes.Buffer
	if err := fleet.csv(&csv); err != nil {
		return SweepResult{}, fmt.Errorf("bench: %w", err)
	}
	if _, _, err := csvimport.Import(ctx, db, "fleet.csv", &csv, csvimport.Options{}); err != nil {
		return SweepResult{}, fmt.Errorf("bench: import: %w", err)
	}

	res.FloorMS = round(FloorMS(cfg.Devices, cfg.Throttle, cfg.RTT, cfg.ScriptTime), 1)
	devices, err := db.ListDevices(ctx)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	if err := auth.setDevices(ctx, db, devices, auth.method); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}

	pooled, err := runSweeps(ctx, db, fleet, cfg, auth, auth.method, false, logf)
	if err != nil {
		return res, err
	}
	if auth.method != AuthBasic {
		// The baseline: Basic on the same hosts, in the same run.
		if err := auth.setDevices(ctx, db, devices, AuthBasic); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		basic, err := runSweeps(ctx, db, fleet, cfg, auth, AuthBasic, false, logf)
		if err != nil {
			return res, err
		}
		res.BasicWarmWallMS = round(basic.warm, 1)
		res.BasicCPUMSPerPoll = round(basic.cpuMSPerPoll, 3)
		if basic.cpuMSPerPoll > 0 {
			res.CPUVsBasic = round(pooled.cpuMSPerPoll/basic.cpuMSPerPoll, 3)
		}
		if err := auth.setDevices(ctx, db, devices, auth.method); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
	}
	after, err := fleet.stats(ctx)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	res.ShellsOpenAfter = after.ShellsOpen
	unpooled, err := runSweeps(ctx, db, fleet, cfg, auth, auth.method, true, logf)
	if err != nil {
		return res, err
	}

	res.ColdWallMS = round(pooled.cold, 1)
	res.WarmWallMS = round(pooled.warm, 1)
	res.UnpooledWarmWallMS = round(unpooled.warm, 1)
	if res.FloorMS > 0 {
		res.Ratio = round(res.WarmWallMS/res.FloorMS, 3)
	}
	if res.UnpooledWarmWallMS > 0 {
		res.PooledVsUnpooled = round(res.WarmWallMS/res.UnpooledWarmWallMS, 3)
	}
	res.RequestsPerPoll = round(pooled.requestsPerPoll, 3)
	res.KDCRequestsCold = pooled.kdcCold
	res.KDCRequestsPerPoll = round(pooled.kdcPerPoll, 4)
	res.ConnsDialedPerPoll = round(pooled.dialsPerPoll, 3)
	res.ConnsAcceptedPerPoll = round(pooled.acceptsPerPoll, 3)
	res.TLSFullHandshakesPerPoll = round(pooled.tlsFullPerPoll, 3)
	res.TLSResumedPerPoll = round(pooled.tlsResumedPerPoll, 3)
	res.IdleConnLimit = cfg.idleConns
	res.CPUMSPerPoll = round(pooled.cpuMSPerPoll, 3)
	res.PeakRSSMB = round(PeakRSSMB(), 1)
	res.SimCPUMSPerPoll = round(pooled.simCPUMSPerPoll, 3)
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

// modeResult is what the sweeps of one mode measured.
type modeResult struct {
	cold, warm        float64 // ms
	requestsPerPoll   float64
	dialsPerPoll      float64
	acceptsPerPoll    float64
	tlsFullPerPoll    float64 // full TLS handshakes at the hosts per device, warm sweeps
	tlsResumedPerPoll float64 // resumed ones
	cpuMSPerPoll      float64
	simCPUMSPerPoll   float64 // -1: the child's CPU could not be read
	kdcCold           int64   // KDC messages in the first sweep
	kdcPerPoll        float64 // KDC messages per device, warm sweeps
}

// runSweeps builds an engine (pooled or not) that authenticates with
// method, sweeps cfg.Sweeps times and
// closes it. With cfg.Interval the sweeps start that far apart. Every
// warm figure covers a poll cycle: from just after the counters were
// read at the end of the sweep before to the end of this one, so what
// the engine does between sweeps (expiring connections and shells)
// counts, and the harness's own reads of the counters do not.
func runSweeps(ctx context.Context, db *store.DB, fleet simFleet, cfg SweepConfig, auth *authSetup, method string, unpooled bool, logf func(string, ...any)) (modeResult, error) {
	mode := "pooled"
	if unpooled {
		mode = "unpooled"
	}
	if method != AuthBasic || auth.method != AuthBasic {
		mode += " " + method
	}
	opts := engine.Options{
		Throttle:   cfg.Throttle,
		Interval:   time.Hour,
		Timeout:    engine.DefaultTimeout,
		Credential: auth.credential(method),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Unpooled:   unpooled,
		// At least 1: zero would mean the engine's own budget.
		MaxIdleConns: max(cfg.idleConns, 1),
	}
	if cfg.Interval > 0 {
		// As under Engine.Run: idle shells outlive the interval.
		opts.Interval = cfg.Interval
		opts.SessionTTL = max(winrm.DefaultSessionTTL, engine.WarmTTL(cfg.Interval))
	}
	eng, err := engine.New(ctx, db, opts)
	if err != nil {
		return modeResult{}, fmt.Errorf("bench: %w", err)
	}
	if cfg.Interval > 0 {
		eng.SweepsEvery(cfg.Interval) // what Engine.Run does before each sweep
	}
	topts := auth.transport()
	topts.CABundle = fleet.caBundle() // "" over HTTP
	if err := eng.SetTransportOptions(topts); err != nil {
		_ = eng.Close()
		return modeResult{}, fmt.Errorf("bench: %w", err)
	}
	var r modeResult
	var warm []float64
	var kdc, kdcWarm int64
	var requests, accepted, dials, dialed, tlsFull, tlsResumed int64
	var cpu, simCPU time.Duration
	simCPUKnown := true
	profiling := false
	defer func() {
		if profiling {
			pprof.StopCPUProfile()
		}
	}()
	st0, err := fleet.stats(ctx)
	if err != nil {
		_ = eng.Close()
		return r, fmt.Errorf("bench: %w", err)
	}
	sim0, simOK0 := fleet.cpu()
	cpu0 := CPUTime()
	first := time.Now() // the sweeps start Interval apart from here
	for i := range cfg.Sweeps {
		if cfg.Interval > 0 && i > 0 {
			next := first.Add(time.Duration(i) * cfg.Interval)
			logf("%s sweep %d starts at %s (interval %s)", mode, i+1, next.Format(time.TimeOnly), cfg.Interval)
			select {
			case <-time.After(time.Until(next)):
			case <-ctx.Done():
				_ = eng.Close()
				return r, fmt.Errorf("bench: %w", ctx.Err())
			}
		}
		if i == 1 && !unpooled && method == auth.method && cfg.CPUProfile != nil {
			if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
				_ = eng.Close()
				return r, fmt.Errorf("bench: cpu profile: %w", err)
			}
			profiling = true
		}
		start := time.Now()
		sr, err := eng.Sweep(ctx)
		took := time.Since(start)
		cpu1 := CPUTime()
		sim1, simOK1 := fleet.cpu()
		st1, serr := fleet.stats(ctx)
		if err == nil {
			err = serr
		}
		if err == nil && sr.Online != cfg.Devices {
			err = fmt.Errorf("%d of %d devices online (errors by class %v)", sr.Online, cfg.Devices, sr.Errors)
		}
		if err != nil {
			_ = eng.Close()
			return r, fmt.Errorf("bench: %s sweep %d: %w", mode, i+1, err)
		}
		wall := float64(took.Microseconds()) / 1000
		logf("%s sweep %d: %.0f ms, %d requests, %d connections accepted, %.0f ms CPU (simulator child %.0f ms), RSS %.0f MB (peak %.0f MB), pool %+v",
			mode, i+1, wall, st1.Requests-st0.Requests, st1.Connections-st0.Connections, ms(cpu1-cpu0), ms(sim1-sim0), rssMB("VmRSS:"), PeakRSSMB(), sr.Pool)
		newConns := sr.Pool.ConnsDialed - dialed
		dialed = sr.Pool.ConnsDialed
		newKDC := sr.Pool.KDCRequests - kdc
		kdc = sr.Pool.KDCRequests
		if i == 0 {
			r.cold = wall
			r.kdcCold = newKDC
		} else {
			kdcWarm += newKDC
			warm = append(warm, wall)
			dials += newConns
			requests += st1.Requests - st0.Requests
			accepted += st1.Connections - st0.Connections
			tlsFull += st1.TLSFullHandshakes - st0.TLSFullHandshakes
			tlsResumed += st1.TLSResumed - st0.TLSResumed
			cpu += cpu1 - cpu0
			simCPU += sim1 - sim0
			simCPUKnown = simCPUKnown && simOK0 && simOK1
		}
		// The next cycle starts here: after the counters were read.
		st0 = st1
		sim0, simOK0 = fleet.cpu()
		cpu0 = CPUTime()
	}
	if profiling {
		pprof.StopCPUProfile()
		profiling = false
	}
	if err := eng.Close(); err != nil {
		return r, fmt.Errorf("bench: %s: %w", mode, err)
	}
	r.warm = median(warm)
	polls := float64(len(warm) * cfg.Devices)
	r.requestsPerPoll = float64(requests) / polls
	r.dialsPerPoll = float64(dials) / polls
	r.acceptsPerPoll = float64(accepted) / polls
	r.tlsFullPerPoll = float64(tlsFull) / polls
	r.tlsResumedPerPoll = float64(tlsResumed) / polls
	r.cpuMSPerPoll = ms(cpu) / polls
	switch {
	case !fleet.separate():
		r.simCPUMSPerPoll = 0 // in this process: part of cpuMSPerPoll
	case !simCPUKnown:
		r.simCPUMSPerPoll = -1
	default:
		r.simCPUMSPerPoll = ms(simCPU) / polls
	}
	r.kdcPerPoll = float64(kdcWarm) / polls
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// rssMB reads a memory line (VmRSS:, VmHWM:) of /proc/self/status in MiB,
// or 0.
func rssMB(key string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			if f := strings.Fields(v); len(f) >= 1 {
				if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
					return kb / 1024
				}
			}
		}
	}
	return 0
}
