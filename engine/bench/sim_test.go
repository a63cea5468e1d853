package bench

import (
	"context"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

func TestParseProcStatCPUCountsFromTheCommandNamesParenthesis(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	line := "4242 (rmm sim) (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 66 0 0 20 0 12 0"
	got, ok := parseProcStatCPU(line)
	if !ok || got != 13*time.Second {
		t.Errorf("parseProcStatCPU = %v, %v; want 13s (1300 ticks)", got, ok)
	}
	if _, ok := parseProcStatCPU("4242 (rmm) S 1 2"); ok {
		t.Error("a short line parsed")
	}
}

// TestAnotherPollerWithTheDefaultCredentialCannotOpenShellsOnTheBenchsFleet:
// the fleet's hosts take this run's password only, so a poller of another
// simulated fleet on the machine that reaches a port this fleet reuses is
// refused instead of leaving shells shells_open_after would count.
func TestAnotherPollerWithTheDefaultCredentialCannotOpenShellsOnTheBenchsFleet(t *testing.T) {
	ctx := context.Background()
	cfg := SweepConfig{Devices: 1, Transport: TransportHTTP, password: runPassword()}
	if cfg.password == winrmsim.DefaultPassword || cfg.password == runPassword() {
		t.Fatal("the run's password is not a fresh random one")
	}
	fleet, err := startInProcess(ctx, cfg, t.TempDir(), &authSetup{method: AuthBasic})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.close()
	h := fleet.f.Hosts()[0]
	c, err := winrm.New(winrm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	tgt := winrm.Target{Host: h.Hostname, Address: h.IP, Port: h.Port, AllowUnencrypted: true}
	_, err = c.Run(ctx, tgt, winrm.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}, winrm.NewScript("hostname", "hostname"))
	if winrm.ClassOf(err) != winrm.ClassConfiguration {
		t.Errorf("the default credential: %v, want refused (401)", err)
	}
	if st, _ := fleet.stats(ctx); st.ShellsOpen != 0 {
		t.Errorf("%d shells open", st.ShellsOpen)
	}
}
