package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rmmhq/rmm/engine/winrmsim"
)

// simFleet is the simulated fleet the sweeps run against: in this process
// (winrmsim.Fleet) or in a child process (`rmm sim`) read over its
// control endpoint.
type simFleet interface {
	// stats returns the fleet's counters.
	stats(ctx context.Context) (winrmsim.ControlStats, error)
	// cpu is the fleet's own CPU time so far; ok is false when it cannot
	// be read apart (in this process, or no /proc).
	cpu() (d time.Duration, ok bool)
	// separate reports whether the fleet runs in another process, so its
	// CPU is not part of CPUTime.
	separate() bool
	// caBundle is the PEM file of the CA the hosts' certificates come
	// from, for winrm.ca_bundle; "" when they serve HTTP.
	caBundle() string
	// csv writes the hosts as the CSV rmm import reads.
	csv(w io.Writer) error
	// close stops the fleet; a child is interrupted and waited for.
	close() error
}

// inProcessFleet is a fleet in this process.
type inProcessFleet struct {
	f  *winrmsim.Fleet
	ca string // the CA's PEM file; "" over HTTP
}

func startInProcess(ctx context.Context, cfg SweepConfig, dir string, auth *authSetup) (*inProcessFleet, error) {
	sc := winrmsim.Config{Devices: cfg.Devices, Seed: cfg.Seed, RTT: cfg.RTT, PSStart: cfg.PSStart, ScriptTime: cfg.ScriptTime,
		CommandTime: cfg.CommandTime, Password: cfg.password}
	if cfg.transport() == TransportHTTPS {
		sc.TLS = &winrmsim.TLSOptions{}
	} else {
		sc.AllowUnencrypted = true // the fleet serves HTTP: its hosts allow unencrypted Basic
	}
	auth.simConfig(&sc)
	if cfg.simCfg != nil {
		cfg.simCfg(&sc)
	}
	fleet, err := winrmsim.New(sc)
	if err != nil {
		return nil, err
	}
	p := &inProcessFleet{f: fleet}
	if ca := fleet.CA(); ca != nil {
		p.ca = filepath.Join(dir, "sim-ca.pem")
		if err := os.WriteFile(p.ca, ca.CertPEM(), 0o600); err != nil {
			return nil, fmt.Errorf("simulator CA: %w", err)
		}
	}
	if err := fleet.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *inProcessFleet) stats(context.Context) (winrmsim.ControlStats, error) {
	s := p.f.Stats()
	return winrmsim.ControlStats{Hosts: s.Hosts, Online: s.Online, Requests: s.Requests, Connections: s.Connections,
		ShellsOpen: s.ShellsOpen, TLSFullHandshakes: s.TLSFullHandshakes, TLSResumed: s.TLSResumed}, nil
}
func (p *inProcessFleet) cpu() (time.Duration, bool) { return 0, false }
func (p *inProcessFleet) separate() bool             { return false }
func (p *inProcessFleet) caBundle() string           { return p.ca }
func (p *inProcessFleet) csv(w io.Writer) error      { return p.f.WriteCSV(w) }
func (p *inProcessFleet) close() error               { return p.f.Close() }

// ChildFleet is `rmm sim` in a child process: started with --control
// 127.0.0.1:0, --export-csv and --ready-file, read over its control
// endpoint, stopped with an interrupt. rmm bench sweep and rmm --demo run
// their simulated hosts this way, so the hosts' listeners and their ends
// of the connections count against the child's file descriptors, not
// the console's.
type ChildFleet struct {
	cmd     *exec.Cmd
	control string // the control endpoint's URL
	wake    string // the Wake-on-LAN listener's address
	csvPath string
	caPath  string // the CA's PEM file (--ca-out); "" over HTTP
	client  *http.Client
	out     *lockedBuffer // the child's stdout and stderr, for errors

	done    chan struct{} // closed when the child has exited
	waitErr error         // cmd.Wait's result, set before done closes

	closeOnce sync.Once
	closeErr  error
	// state is the child's exit state (CPU times, resource usage) once it
	// exited.
	state *os.ProcessState
}

// ChildOptions say how to start the simulator child.
type ChildOptions struct {
	// Command is the argv that runs `rmm sim`: this executable and "sim".
	Command []string
	// Env is the child's environment (nil: this process's).
	Env []string
	// Args are the simulator's own flags (--devices, --seed, --offline,
	// --profile, ...); StartChild adds --control, --export-csv and
	// --ready-file.
	Args []string
	// Dir holds the CSV and the ready file; the caller removes it.
	Dir string
	// CAPath, when set, is where the child writes its CA (--https
	// --ca-out CAPath).
	CAPath string
}

// childStartTimeout bounds how long the child may take to bring its hosts up.
const childStartTimeout = 3 * time.Minute

func startChild(ctx context.Context, cfg SweepConfig, dir string, extra []string) (*ChildFleet, error) {
	if len(cfg.SimCommand) == 0 {
		return nil, errors.New("no simulator command")
	}
	o := ChildOptions{Command: cfg.SimCommand, Env: cfg.SimEnv, Dir: dir, Args: []string{
		"--devices", strconv.Itoa(cfg.Devices), "--seed", strconv.FormatInt(cfg.Seed, 10),
		"--rtt", cfg.RTT.String(), "--ps-start", cfg.PSStart.String(), "--script-time", cfg.ScriptTime.String(),
		"--command-time", cfg.CommandTime.String(),
		"--password", cfg.password, // a loopback test password of this run, not a secret (runPassword)
	}}
	o.Args = append(o.Args, extra...)
	o.Args = append(o.Args, cfg.simArgs...)
	if cfg.transport() == TransportHTTPS {
		o.CAPath = filepath.Join(dir, "sim-ca.pem")
	}
	return StartChild(ctx, o)
}

// StartChild starts the simulated fleet in a child process and returns
// once every host serves (the child wrote its ready file). On Linux the
// child is sent SIGTERM when this process dies, so a killed console
// leaves no fleet behind.
func StartChild(ctx context.Context, o ChildOptions) (*ChildFleet, error) {
	if len(o.Command) == 0 {
		return nil, errors.New("no simulator command")
	}
	ready := filepath.Join(o.Dir, "sim-ready.json")
	c := &ChildFleet{
		csvPath: filepath.Join(o.Dir, "fleet.csv"),
		caPath:  o.CAPath,
		client:  &http.Client{Timeout: time.Minute},
		out:     &lockedBuffer{},
		done:    make(chan struct{}),
	}
	args := append([]string(nil), o.Command[1:]...)
	args = append(args, o.Args...)
	args = append(args, "--control", "127.0.0.1:0", "--export-csv", c.csvPath, "--ready-file", ready)
	if o.CAPath != "" {
		args = append(args, "--https", "--ca-out", o.CAPath)
	}
	// Not exec.CommandContext: the child is stopped with an interrupt
	// (so it closes its hosts and reports), by Close.
	c.cmd = exec.Command(o.Command[0], args...)
	c.cmd.Env = o.Env
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	dieWithParent(c.cmd)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start simulator %s: %w", o.Command[0], err)
	}
	go func() { // owned by c: ends when the child exits; Close waits for it
		c.waitErr = c.cmd.Wait()
		c.state = c.cmd.ProcessState
		close(c.done)
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(childStartTimeout)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			var r winrmsim.Ready
			if err := json.Unmarshal(b, &r); err != nil || r.Control == "" {
				_ = c.Close()
				return nil, fmt.Errorf("simulator ready file %q: %v", b, err)
			}
			c.control, c.wake = r.Control, r.Wake
			return c, nil
		}
		select {
		case <-tick.C:
		case <-c.done:
			return nil, fmt.Errorf("simulator exited before it was ready (%v): %s", c.waitErr, c.out.tail())
		case <-deadline:
			_ = c.Close()
			return nil, fmt.Errorf("simulator not ready after %s: %s", childStartTimeout, c.out.tail())
		case <-ctx.Done():
			_ = c.Close()
			return nil, ctx.Err()
		}
	}
}

// WakeAddr is the child's Wake-on-LAN listener (UDP, loopback); "" when
// it did not say.
func (c *ChildFleet) WakeAddr() string { return c.wake }

// PID is the child's process ID.
func (c *ChildFleet) PID() int { return c.cmd.Process.Pid }

// Exited is closed when the child has exited, by Close or on its own;
// ExitError then says how it ended.
func (c *ChildFleet) Exited() <-chan struct{} { return c.done }

// ExitError is how the child ended, with the tail of its output; nil
// while it runs.
func (c *ChildFleet) ExitError() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	if c.waitErr == nil {
		return errors.New("simulator exited")
	}
	return fmt.Errorf("simulator: %w: %s", c.waitErr, c.out.tail())
}

func (c *ChildFleet) stats(ctx context.Context) (winrmsim.ControlStats, error) { return c.Stats(ctx) }

// Stats reads the fleet's counters from its control endpoint.
func (c *ChildFleet) Stats(ctx context.Context) (winrmsim.ControlStats, error) {
	var s winrmsim.ControlStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.control+"/stats", nil)
	if err != nil {
		return s, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		select {
		case <-c.done:
			return s, fmt.Errorf("simulator exited (%v): %s", c.waitErr, c.out.tail())
		default:
		}
		return s, fmt.Errorf("simulator stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("simulator stats: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, fmt.Errorf("simulator stats: %w", err)
	}
	return s, nil
}

func (c *ChildFleet) separate() bool { return true }

// CABundle is the PEM file of the CA the hosts' certificates come from
// (CAPath), "" when they serve HTTP.
func (c *ChildFleet) CABundle() string { return c.caPath }
func (c *ChildFleet) caBundle() string { return c.caPath }

// cpu reads the child's user+system time from /proc/PID/stat (fields 14
// and 15, in clock ticks of 1/100 s: USER_HZ is 100 on Linux); ok is
// false where there is no /proc (macOS).
func (c *ChildFleet) cpu() (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, false
	}
	d, ok := parseProcStatCPU(string(b))
	return d, ok
}

// parseProcStatCPU returns utime+stime from a /proc/PID/stat line. The
// command name (field 2) may hold spaces, so fields count from its ')'.
func parseProcStatCPU(line string) (time.Duration, bool) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const userHZ = 100
	return time.Duration(ut+st) * time.Second / userHZ, true
}

func (c *ChildFleet) csv(w io.Writer) error { return c.WriteCSV(w) }

// WriteCSV copies the hosts' CSV (what rmm import reads) to w.
func (c *ChildFleet) WriteCSV(w io.Writer) error {
	f, err := os.Open(c.csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// childStopTimeout bounds a clean stop before the child is killed.
const childStopTimeout = time.Minute

func (c *ChildFleet) close() error { return c.Close() }

// Close interrupts the child and waits for it to exit (killed after
// childStopTimeout). It is safe to call more than once.
func (c *ChildFleet) Close() error {
	c.closeOnce.Do(func() {
		_ = c.cmd.Process.Signal(os.Interrupt)
		select {
		case <-c.done:
		case <-time.After(childStopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.done
			c.closeErr = fmt.Errorf("simulator did not stop within %s; killed", childStopTimeout)
			return
		}
		if c.waitErr != nil {
			c.closeErr = fmt.Errorf("simulator: %w: %s", c.waitErr, c.out.tail())
		}
	})
	return c.closeErr
}

// lockedBuffer collects a child's output (exec copies stdout and stderr
// in their own goroutines).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // keep memory bounded; the tail is what matters
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(l.b.String())
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// runPassword is a random password for one benchmark's simulated hosts.
func runPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "bench-" + hex.EncodeToString(b)
}
