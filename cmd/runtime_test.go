package cmd

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// TestTheFleetRuntimeRunsItsTasksAndStopsThemAll starts what runs beside a
// console (local or SSH) on a real engine over a simulated fleet: sweeps,
// scheduler, credential watch and config watch. A config edit reaches
// onReload, and stop ends every task and closes the engine.
func TestTheFleetRuntimeRunsItsTasksAndStopsThemAll(t *testing.T) {
	for _, poll := range []bool{true, false} {
		name := "with a credential"
		if !poll {
			name = "without a credential"
		}
		t.Run(name, func(t *testing.T) {
			fleet := startFleet(t, winrmsim.Config{Devices: 3, Seed: 5})
			a, home, cfgPath := setupApp(t)
			// The audit chain's key lives in the vault (the tests have no
			// keyring): the import and the runtime open the same one.
			const pass = "runtime-test-passphrase"
			getenv := a.getenv
			a.getenv = func(k string) string {
				if k == "RMM_VAULT_PASSPHRASE" {
					return pass
				}
				return getenv(k)
			}
			c := &cli{t: t, home: home, env: map[string]string{"HOME": home, "RMM_VAULT_PASSPHRASE": pass}, keyringAnswer: errTestNoKeyring}
			if code, _, errb := c.run(
				"--config", cfgPath, "--db", a.cfg.Store.DB, "import", fleetCSV(t, fleet)); code != 0 {
				t.Fatalf("import: %s", errb)
			}
			ctx := context.Background()
			db, eng, err := a.openEngine(ctx, engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}, nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()

			rt := a.newFleetRuntime(eng, poll)
			notices := make(chan reloadNotice, 4)
			rt.onReload = func(n reloadNotice) { notices <- n }
			rt.onFatal = func() { t.Error("onFatal called without a Fatal error") }
			if err := rt.start(ctx, db); err != nil {
				t.Fatal(err)
			}
			stopped := false
			t.Cleanup(func() { // a failed wait below must not leave the tasks running past the test
				if !stopped {
					_, _ = rt.stop()
				}
			})
			if (rt.done() == nil) == poll {
				t.Errorf("poll %v: done() is nil: %v", poll, rt.done() == nil)
			}
			if len(eng.Schedules()) == 0 {
				t.Error("no scheduler attached to the engine")
			}
			if err := os.WriteFile(cfgPath, []byte("engine:\n  throttle: 60\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			select {
			case n := <-notices:
				if n.Err || n.Text != "config reloaded: engine.throttle: 50 -> 60" {
					t.Errorf("notice %+v", n)
				}
			case <-time.After(60 * time.Second): // only stops a hung test; -race on a loaded machine is slow
				t.Fatal("no reload notice")
			}
			if poll {
				deadline := time.Now().Add(60 * time.Second)
				for eng.Summary().Online < 3 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if s := eng.Summary(); s.Online != 3 {
					t.Errorf("the sweeps did not run: %+v", s)
				}
			} else if s := eng.Summary(); s.Online != 0 {
				t.Errorf("without a credential the engine swept: %+v", s)
			}
			runErr, closeErr := rt.stop()
			stopped = true
			if runErr != nil || closeErr != nil {
				t.Fatalf("stop: run %v, close %v", runErr, closeErr)
			}
			if _, err := engine.Call(ctx, eng, engine.SystemIdentity(), engine.PollNow{}); err == nil {
				t.Error("the engine still answers after stop; want it closed")
			}
		})
	}
}
