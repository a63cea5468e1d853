package cmd

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/rmmhq/rmm/engine/bench"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/store"
	"github.com/spf13/cobra"
)

// The demo (rmm --demo, rmm serve --demo): a simulated fleet in a child
// process (this executable's `sim` command, as rmm bench sweep runs it),
// imported into a temporary database. The hosts' listeners and their
// ends of the connections are the child's file descriptors, so the
// console keeps its own for its connections, its database and its log.

// Descriptor budget of the demo (see planDemoFiles).
const (
	// demoInFlightPerThrottle: a request in flight may hold a new socket
	// at both ends while an old one closes.
	demoInFlightPerThrottle = 2
	// demoReserve is what each process keeps for everything else: the
	// database and its WAL, the log, the terminal, panes, the control
	// endpoint.
	demoReserve = 256
	// demoMinKept is the fewest connections the engine keeps when the
	// demo is cut down to fit.
	demoMinKept = 256
)

// demoPlan is how the demo fits the file descriptor limit.
type demoPlan struct {
	devices int    // hosts to simulate: those asked for, or fewer when even their listeners do not fit
	keep    int    // connections the engine keeps between sweeps; 0: all
	notice  string // what the console's status line says; "" when everything fits
	detail  string // the same with the reasons, for stderr and the log
}

// planDemoFiles decides what a demo of devices hosts does within the
// file descriptor limit (soft, after Go raised it to hard; 0: unknown,
// no limit). Each simulated host costs the simulator child one
// descriptor for its listener and one for its end of the connection the
// engine keeps to it; requests in flight cost up to
// demoInFlightPerThrottle per throttle slot. When every connection fits
// the demo runs as asked. When only the listeners fit, the engine keeps
// fewer connections (the other hosts reconnect each sweep) and the
// notice says so, with the ulimit that keeps them all. When not even the
// listeners fit, the demo simulates fewer hosts and says how many, and
// the ulimit for the number asked. A limit too small for any demo is an
// error.
func planDemoFiles(devices, throttle int, soft, hard uint64) (demoPlan, error) {
	p := demoPlan{devices: devices}
	if soft == 0 {
		return p, nil
	}
	limit := int(min(soft, 1<<30))
	overhead := demoInFlightPerThrottle*throttle + demoReserve
	full := 2*devices + overhead
	if limit >= full {
		return p, nil
	}
	raise := func(need int) string {
		s := fmt.Sprintf("ulimit -n %d", need)
		if hard != 0 && uint64(need) > hard {
			s += fmt.Sprintf(" (above the hard limit %d: raise it as root, e.g. nofile in /etc/security/limits.conf or LimitNOFILE= for a systemd unit)", hard)
		}
		return s
	}
	if keep := limit - devices - overhead; keep >= demoMinKept {
		p.keep = keep
		p.notice = fmt.Sprintf("fd limit %d: keeping %s of %s hosts' connections between sweeps (the rest reconnect); for all: ulimit -n %d",
			limit, thousands(keep), thousands(devices), full)
		p.detail = fmt.Sprintf("file descriptor limit %d: the simulated fleet needs 2 per host (%d for %d hosts, plus %d for requests in flight); "+
			"the engine keeps %d of %d hosts' connections between sweeps and the others reconnect each sweep. To keep them all: %s",
			limit, 2*devices, devices, overhead, keep, devices, raise(full))
		return p, nil
	}
	fit := limit - overhead - demoMinKept
	if fit < 1 {
		return p, fmt.Errorf("file descriptor limit %d is too low for the demo (it needs at least %d): %s", limit, overhead+demoMinKept+1, raise(full))
	}
	p.devices, p.keep = fit, demoMinKept
	p.notice = fmt.Sprintf("fd limit %d: simulating %s of the %s hosts asked for; for all: ulimit -n %d",
		limit, thousands(fit), thousands(devices), full)
	p.detail = fmt.Sprintf("file descriptor limit %d: --devices %d needs %d (2 per simulated host plus %d for requests in flight); "+
		"the demo simulates %d hosts instead, and the engine keeps %d connections between sweeps. For %d hosts: %s",
		limit, devices, full, overhead, fit, demoMinKept, devices, raise(full))
	return p, nil
}

// demoFleet is a running demo: the simulator child and what the engine
// must know about it.
type demoFleet struct {
	stop   func() // stops the child and removes the temporary files
	keep   int    // engine MaxIdleConns; 0: no bound from the demo
	notice string // short, for the console's status line
	detail string // with the reasons, for stderr
	sim    *bench.ChildFleet
}

// startDemo starts a simulated fleet in a child process and imports it
// into the database (a temporary one unless --db). stop ends the child
// and removes the temporary files; it is safe to call once the console
// is gone (SIGHUP, SIGTERM and SIGINT end the console's context, which
// runs it). announce, when not nil, is told about the descriptor limit
// too (the SSH server prints there).
func (a *app) startDemo(ctx context.Context, devices int, seed int64, offline float64, announce io.Writer) (demoFleet, error) {
	if devices < 1 || devices > 100000 {
		return demoFleet{}, exitError{2, fmt.Errorf("--devices %d is out of range 1..100000", devices)}
	}
	if offline < 0 || offline > 1 {
		return demoFleet{}, exitError{2, fmt.Errorf("--offline %v is out of range 0..1", offline)}
	}
	soft, hard, _ := fileLimit()
	plan, err := planDemoFiles(devices, a.cfg.Engine.Throttle, soft, hard)
	if err != nil {
		return demoFleet{}, exitError{2, fmt.Errorf("demo: %w", err)}
	}
	d := demoFleet{keep: plan.keep, notice: plan.notice, detail: plan.detail}
	if plan.notice != "" {
		a.log.Warn("demo: "+plan.detail, "limit", soft, "hard", hard, "devices", devices, "simulated", plan.devices, "kept_connections", plan.keep)
		if announce != nil {
			fmt.Fprintf(announce, "rmm: %s\n", plan.detail)
		}
	}
	var cleanups []func()
	d.stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		cleanups = nil
	}
	dir, err := os.MkdirTemp("", "rmm-demo-")
	if err != nil {
		return demoFleet{}, fmt.Errorf("demo: temporary directory: %w", err)
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
	if a.dbPath == "" {
		a.cfg.Store.DB = filepath.Join(dir, "rmm.db")
	}
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	exe, err := os.Executable()
	if err != nil {
		d.stop()
		return demoFleet{}, fmt.Errorf("demo: simulator child: %w", err)
	}
	// The demo mixes every kind of host the simulator plays (Server
	// Core, 2012 R2 with WinRM 2.0 limits, German, Constrained Language,
	// domain-joined) among Windows 10/11 and Server 2016-2025. Its hosts
	// serve plain HTTP on loopback, configured to allow unencrypted
	// Basic; the joined ones refuse Basic and are reached with Negotiate
	// (NTLM, as no KDC serves the simulated realm), every message sealed.
	// Its realm is simulated: no Kerberos query may leave the machine.
	a.demoDomain = true
	sim, err := bench.StartChild(ctx, bench.ChildOptions{
		Command: []string{exe, "sim"},
		Env:     a.simChildEnv(),
		Dir:     dir,
		Args: []string{
			"--devices", strconv.Itoa(plan.devices), "--seed", strconv.FormatInt(seed, 10),
			"--offline", strconv.FormatFloat(offline, 'g', -1, 64), "--profile", "mixed",
			"--ps-start", "400ms", "--script-time", "250ms", "--allow-unencrypted=true",
			// Updates install in seconds, not minutes, and servicing
			// settles quickly after a restart, so a demo install is
			// watchable.
			"--patch-install-time", "3s", "--servicing-time", "10s",
		},
	})
	if err != nil {
		d.stop()
		return demoFleet{}, fmt.Errorf("demo: %w", err)
	}
	cleanups = append(cleanups, func() { _ = sim.Close() })
	d.sim = sim
	// Wake-on-LAN only to the simulator, never the LAN.
	a.cfg.Actions.WOLAddress = "127.0.0.1:9"
	if w := sim.WakeAddr(); w != "" {
		a.cfg.Actions.WOLAddress = w
	}
	var fleetCSV bytes.Buffer
	if err := sim.WriteCSV(&fleetCSV); err != nil {
		d.stop()
		return demoFleet{}, fmt.Errorf("demo: export simulator CSV: %w", err)
	}
	if err := a.importFleet(ctx, func(w io.Writer) error { _, err := w.Write(fleetCSV.Bytes()); return err }); err != nil {
		d.stop()
		return demoFleet{}, fmt.Errorf("demo: %w", err)
	}
	a.demoPatches(siteHosts(fleetCSV.Bytes(), "lab"), time.Now())
	a.log.Info("demo started", "devices", plan.devices, "seed", seed, "db", a.cfg.Store.DB, "simulator_pid", sim.PID())
	return d, nil
}

// importFleet imports the simulator's hosts through the same CSV path a
// user's file takes.
func (a *app) importFleet(ctx context.Context, writeCSV func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := writeCSV(&buf); err != nil {
		return fmt.Errorf("export simulator CSV: %w", err)
	}
	db, err := store.Open(ctx, a.cfg.Store.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, _, err := csvimport.Import(ctx, db, "simulator.csv", &buf, csvimport.Options{}); err != nil {
		return fmt.Errorf("import simulator CSV: %w", err)
	}
	return nil
}

// demoRun reports a command started with --demo (the console, rmm serve).
func demoRun(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("demo")
	return f != nil && f.Value.String() == "true"
}

// demoLogFile is where a demo logs: rmm-demo.log beside the configured
// log file (its rotation settings apply too).
func demoLogFile(logFile string) string {
	return filepath.Join(filepath.Dir(logFile), "rmm-demo.log")
}

// siteHosts returns the hostnames of a simulator CSV's rows in site (the
// simulator writes the Hostname and Site columns; an unreadable CSV gives
// none, and the import reports it).
func siteHosts(b []byte, site string) []string {
	r := csv.NewReader(bytes.NewReader(b))
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil
	}
	host, col := slices.Index(rows[0], "Hostname"), slices.Index(rows[0], "Site")
	if host < 0 || col < 0 {
		return nil
	}
	var out []string
	for _, row := range rows[1:] {
		if len(row) > max(host, col) && row[col] == site {
			out = append(out, row[host])
		}
	}
	return out
}
