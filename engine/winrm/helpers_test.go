package winrm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// Tests of the client against engine/winrmsim alone, over real HTTP(S) on
// 127.0.0.1: what the hosts saw (requests, shells, loops) is read from
// the simulator's counters, not only from the client's own Stats.

// simCred is the account every simulated host accepts.
var simCred = winrm.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}

// hostnameScript prints the host's name: the simulator answers it in the
// loop and as a powershell.exe of its own alike.
var hostnameScript = winrm.NewScript("hostname", "hostname")

// startFleet starts a simulated fleet that closes when the test ends
// (after the clients, which are closed first: cleanups run last in, first
// out). Hosts that serve plain HTTP allow unencrypted Basic, as an admin
// sets for such hosts (Windows' default refuses it).
func startFleet(t *testing.T, cfg winrmsim.Config) *winrmsim.Fleet {
	t.Helper()
	if cfg.TLS == nil {
		cfg.AllowUnencrypted = true
	}
	f, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close fleet: %v", err)
		}
	})
	return f
}

// newClient opens a client that is closed when the test ends.
func newClient(t *testing.T, o winrm.Options) *winrm.Client {
	t.Helper()
	c, err := winrm.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close client: %v", err)
		}
	})
	return c
}

// targetOf is the target of a simulated host as its record would say: the
// HTTPS hosts verified by name, the HTTP ones allowed unencrypted Basic.
func targetOf(h winrmsim.HostInfo) winrm.Target {
	https := h.Transport == "https"
	return winrm.Target{Host: h.Hostname, Address: h.IP, Port: h.Port, HTTPS: https, AllowUnencrypted: !https}
}

// hostStats reads one host's counters.
func hostStats(t *testing.T, f *winrmsim.Fleet, name string) winrmsim.HostStats {
	t.Helper()
	hs, ok := f.HostStats(name)
	if !ok {
		t.Fatalf("no host %s", name)
	}
	return hs
}

// waitFor polls cond until it holds; the deadline only stops a hung test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writePEM writes a CA certificate where a CA bundle setting can point.
func writePEM(t *testing.T, pem []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testContext is a context that ends a hung test, not a working one.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustRun runs the hostname script and checks it answered with the
// host's name.
func mustRun(t *testing.T, c *winrm.Client, tg winrm.Target) winrm.Result {
	t.Helper()
	res, err := c.Run(testContext(t), tg, simCred, hostnameScript)
	if err != nil {
		t.Fatalf("run on %s: %v", tg.Host, err)
	}
	if got := string(res.Stdout); got != tg.Host+"\r\n" || res.Exit != 0 {
		t.Fatalf("run on %s: stdout %q exit %d", tg.Host, got, res.Exit)
	}
	return res
}
