package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/rmmhq/rmm/engine/bench"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// asRMM, set in the environment, makes this test binary act as the rmm
// executable (see TestMain): `rmm bench sweep` starts its simulator child
// as os.Executable() + "sim", and in a test that is this binary.
const asRMM = "RMM_TEST_BINARY_AS_RMM"

// envDump, set in the environment of this binary acting as rmm, names a
// file it writes its environment to.
const envDump = "RMM_TEST_ENV_DUMP"

// nofileEnv, set in the environment of this binary acting as rmm, is the
// file descriptor limit (soft and hard) it sets on itself first.
const nofileEnv = "RMM_TEST_NOFILE"

func TestMain(m *testing.M) {
	// go-keyring's mock stands in for the OS keyring in this process and
	// its children: nothing a test does can reach the machine's real one
	// (the CLI's tests also never ask for it: see newCLI).
	keyring.MockInit()
	if os.Getenv(asRMM) == "1" {
		if p := os.Getenv(envDump); p != "" {
			// What this process (a child rmm) inherited, for the tests.
			if err := os.WriteFile(p, []byte(strings.Join(os.Environ(), "\n")), 0o600); err != nil {
				os.Exit(99)
			}
		}
		if n := os.Getenv(nofileEnv); n != "" {
			// A lower descriptor limit, soft and hard, for this process
			// and its children (the demo's simulator).
			v, err := strconv.ParseUint(n, 10, 64)
			if err != nil || syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: v, Max: v}) != nil {
				os.Exit(98)
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		code := Execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestBenchSweepPrintsOneJSONObjectWithTheIssuesFields(t *testing.T) {
	t.Setenv(asRMM, "1") // the simulator child is this binary acting as rmm
	c := newCLI(t)
	code, out, errb := c.run("bench", "sweep", "--devices", "12", "--throttle", "4", "--rtt", "1ms",
		"--ps-start", "10ms", "--script-time", "5ms", "--sweeps", "2", "--json")
	if code != 0 {
		t.Fatalf("bench sweep: exit %d: %s", code, errb)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"auth", "basic_cpu_ms_per_poll", "basic_warm_wall_ms", "cold_wall_ms", "conns_accepted_per_poll", "conns_dialed_per_poll", "cpu_ms_per_poll", "cpu_vs_basic", "devices", "floor_ms",
		"idle_conn_limit", "interval_s", "kdc_requests_cold", "kdc_requests_per_poll", "memory_limit_mb", "peak_rss_mb", "pooled_vs_unpooled", "ps_start_ms", "ratio", "requests_per_poll",
		"rtt_ms", "script_ms", "shells_open_after", "sim_cpu_ms_per_poll", "sim_cpu_total_ms", "sim_peak_rss_mb", "simulator", "throttle",
		"tls_full_handshakes_per_poll", "tls_resumed_per_poll", "transport", "unpooled_warm_wall_ms", "warm_wall_ms"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	// ceil(12/4) x (1 + max(1, 5)); HTTPS and back to back by default.
	if got["floor_ms"] != 18.0 || got["devices"] != 12.0 || got["shells_open_after"] != 0.0 || got["requests_per_poll"] != 2.0 ||
		got["transport"] != "https" || got["interval_s"] != 0.0 {
		t.Errorf("bench sweep = %v", got)
	}
	// Twelve hosts fit any descriptor limit: every host's connection is
	// kept, and the warm sweep opens none (the hosts accept none).
	if got["idle_conn_limit"] != 12.0 || got["conns_dialed_per_poll"] != 0.0 || got["conns_accepted_per_poll"] != 0.0 {
		t.Errorf("bench sweep connections: idle_conn_limit %v, conns_dialed_per_poll %v, conns_accepted_per_poll %v; want 12, 0 and 0",
			got["idle_conn_limit"], got["conns_dialed_per_poll"], got["conns_accepted_per_poll"])
	}
	// The hosts ran in a child process: its CPU and memory are reported
	// apart from this process's.
	if got["simulator"] != "child-process" || got["sim_cpu_total_ms"].(float64) <= 0 || got["sim_peak_rss_mb"].(float64) <= 0 {
		t.Errorf("simulator child not measured: %v", got)
	}
	code, out, errb = c.run("bench", "sweep", "--in-process", "--devices", "6", "--throttle", "3", "--rtt", "1ms",
		"--ps-start", "10ms", "--script-time", "5ms", "--sweeps", "2", "--transport", "http", "--interval", "1s", "--json")
	if code != 0 {
		t.Fatalf("bench sweep --in-process: exit %d: %s", code, errb)
	}
	got = nil
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if got["simulator"] != "in-process" || got["sim_cpu_total_ms"] != 0.0 || got["requests_per_poll"] != 2.0 || got["shells_open_after"] != 0.0 ||
		got["transport"] != "http" || got["interval_s"] != 1.0 {
		t.Errorf("bench sweep --in-process --transport http --interval 1s = %v", got)
	}
	if code, _, errb := c.run("bench", "sweep", "--sweeps", "1"); code != 2 || !strings.Contains(errb, "need at least 2") {
		t.Errorf("one sweep (no warm one): exit %d %q, want 2 (bad input) and the reason", code, errb)
	}
	if code, _, errb := c.run("bench", "sweep", "--throttle", "0"); code != 2 || !strings.Contains(errb, "throttle 0 is out of range") {
		t.Errorf("--throttle 0: exit %d %q, want 2 (bad input) and the reason", code, errb)
	}
	if code, _, errb := c.run("bench", "sweep", "--transport", "tls"); code != 2 || !strings.Contains(errb, `transport "tls"`) {
		t.Errorf("--transport tls: exit %d %q, want 2 (bad input) and the reason", code, errb)
	}
}

func TestPollOnceLeavesNoShellOpenOnTheHosts(t *testing.T) {
	fleet := startFleet(t, winrmsim.Config{Devices: 5, Seed: 3})
	c := newCLI(t)
	csvPath := fleetCSV(t, fleet)
	if code, _, errb := c.run("import", csvPath); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	c.env["RMM_WINRM_USER"], c.env["RMM_WINRM_PASSWORD"] = winrmsim.DefaultUser, winrmsim.DefaultPassword
	code, out, errb := c.run("poll", "--once", "--json")
	if code != 0 {
		t.Fatalf("poll: exit %d: %s", code, errb)
	}
	var res struct {
		Online int `json:"online"`
		Pool   struct {
			Created    int64 `json:"created"`
			Open       int64 `json:"open"`
			LoopStarts int64 `json:"loop_starts"`
		} `json:"pool"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("poll --json %q: %v", out, err)
	}
	if res.Online != 5 || res.Pool.Created != 5 || res.Pool.LoopStarts != 5 || res.Pool.Open != 5 {
		t.Errorf("poll --json = %s", out)
	}
	if s := fleet.Stats(); s.ShellsOpen != 0 || s.ShellsDeleted != 5 {
		t.Errorf("after rmm poll --once: %d shells open, %d deleted; want 0 and 5", s.ShellsOpen, s.ShellsDeleted)
	}
}

func TestBenchSweepTableListsTheSimulatorRowsBeforeTheShellsLeftOpen(t *testing.T) {
	for _, tc := range []struct {
		simulator string
		want      []string
	}{
		{"child-process", []string{"peak RSS", "simulator CPU per poll", "simulator peak RSS", "shells open after close"}},
		{"in-process", []string{"peak RSS", "shells open after close"}},
	} {
		var out bytes.Buffer
		(&app{stdout: &out}).printBenchSweep(bench.SweepResult{Simulator: tc.simulator})
		var labels []string
		for _, l := range strings.Split(out.String(), "\n") {
			if !strings.HasPrefix(l, "  ") {
				continue
			}
			for _, w := range []string{"peak RSS", "simulator CPU per poll", "simulator peak RSS", "shells open after close"} {
				if strings.HasPrefix(strings.TrimSpace(l), w+" ") {
					labels = append(labels, w)
				}
			}
		}
		if !slices.Equal(labels, tc.want) {
			t.Errorf("simulator %s: rows %q, want %q in that order:\n%s", tc.simulator, labels, tc.want, out.String())
		}
	}
}

// TestTheBenchSimulatorChildInheritsNoSecrets is reliability F12: the
// simulator child of rmm bench sweep had RMM_VAULT_PASSPHRASE and
// RMM_WINRM_PASSWORD in its environment. The child here is this binary
// acting as rmm, and writes the environment it got.
func TestTheBenchSimulatorChildInheritsNoSecrets(t *testing.T) {
	t.Setenv(asRMM, "1")
	dump := filepath.Join(t.TempDir(), "child.env")
	t.Setenv(envDump, dump)
	canaries := map[string]string{
		"RMM_WINRM_USER": "canary-user-5512", "RMM_WINRM_PASSWORD": "Canary-Pw-7731xq", "RMM_VAULT_PASSPHRASE": "vault-pass-9921",
		"SOME_API_TOKEN": "canary-token-0042", "DB_PASSWORD": "canary-db-pw-17",
	}
	for k, v := range canaries {
		t.Setenv(k, v)
	}
	c := newCLI(t)
	code, _, errb := c.run("bench", "sweep", "--devices", "2", "--throttle", "2", "--rtt", "1ms",
		"--ps-start", "5ms", "--script-time", "5ms", "--sweeps", "2", "--json")
	if code != 0 {
		t.Fatalf("bench sweep: exit %d: %s", code, errb)
	}
	env, err := os.ReadFile(dump)
	if err != nil {
		t.Fatalf("the child wrote no environment: %v", err)
	}
	for k, v := range canaries {
		if bytes.Contains(env, []byte(v)) || bytes.Contains(env, []byte(k+"=")) {
			t.Errorf("the simulator child inherited %s", k)
		}
	}
	if !bytes.Contains(env, []byte("PATH=")) {
		t.Errorf("the child lost its ordinary environment:\n%s", env)
	}
}

func TestChildEnvDropsSecretsAndKeepsTheRest(t *testing.T) {
	in := []string{"PATH=/usr/bin", "HOME=/home/a", "RMM_WINRM_PASSWORD=x", "rmm_vault_passphrase=y", "RMM_AUDIT_KEY=z",
		"GITHUB_TOKEN=t", "AWS_SECRET_ACCESS_KEY=s", "SSH_AUTH_SOCK=/tmp/agent", "LANG=C.UTF-8", "XDG_DATA_HOME=/d", "GOMAXPROCS=2"}
	got := childEnv(in)
	want := []string{"PATH=/usr/bin", "HOME=/home/a", "LANG=C.UTF-8", "XDG_DATA_HOME=/d", "GOMAXPROCS=2"}
	if !slices.Equal(got, want) {
		t.Errorf("childEnv = %v, want %v", got, want)
	}
}
