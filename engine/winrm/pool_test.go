package winrm_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// Tests of the session pool and its resident PowerShell loop.

func TestRunCreatesAShellAndItsLoopOnceAndLaterRunsReuseThem(t *testing.T) {
	tests := []struct {
		name  string
		tls   bool
		setup func(t *testing.T, c *winrm.Client, f *winrmsim.Fleet, tg *winrm.Target)
	}{
		{"Basic over HTTPS verified with the client's CA bundle", true, func(t *testing.T, c *winrm.Client, f *winrmsim.Fleet, _ *winrm.Target) {
			if err := c.SetTransportOptions(winrm.TransportOptions{CABundle: writePEM(t, f.CA().CertPEM())}); err != nil {
				t.Fatal(err)
			}
		}},
		{"Basic over HTTPS verified with the target's CA bundle", true, func(t *testing.T, _ *winrm.Client, f *winrmsim.Fleet, tg *winrm.Target) {
			tg.CABundle = writePEM(t, f.CA().CertPEM())
		}},
		{"Basic over HTTP where the target allows unencrypted traffic", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := winrmsim.Config{Devices: 1, Seed: 31}
			if tt.tls {
				cfg.TLS = &winrmsim.TLSOptions{}
			}
			f := startFleet(t, cfg)
			h := f.Hosts()[0]
			c := newClient(t, winrm.Options{})
			tg := targetOf(h)
			if tt.setup != nil {
				tt.setup(t, c, f, &tg)
			}
			if !c.Pooled(tg) {
				t.Fatalf("a Basic target is not pooled: %+v", tg)
			}

			if res := mustRun(t, c, tg); res.Mode != winrm.ModeWarm {
				t.Errorf("first run: mode %q, want warm", res.Mode)
			}
			hs := hostStats(t, f, h.Hostname)
			// Create, Command (the loop), Send, Receive.
			if hs.Requests != 4 || hs.Creates != 1 || hs.CommandRequests != 1 || hs.LoopStarts != 1 || hs.LoopRequests != 1 {
				t.Fatalf("the host after the first run: %+v; want 4 requests: one shell, one loop, one loop request", hs)
			}
			for i := 1; i <= 3; i++ {
				before := hostStats(t, f, h.Hostname).Requests
				if res := mustRun(t, c, tg); res.Mode != winrm.ModeWarm {
					t.Errorf("run %d: mode %q, want warm", i+1, res.Mode)
				}
				if got := hostStats(t, f, h.Hostname).Requests - before; got != 2 {
					t.Errorf("warm run %d made %d requests at the host, want 2 (Send, Receive)", i+1, got)
				}
			}
			hs = hostStats(t, f, h.Hostname)
			if hs.ShellsCreated != 1 || hs.ShellsOpen != 1 || hs.LoopStarts != 1 || hs.LoopRequests != 4 || hs.Signals != 0 {
				t.Errorf("the host after 4 runs: %+v; want 4 loop requests through one shell and one loop, nothing signalled", hs)
			}
			if hs.Connections != 1 {
				t.Errorf("the host accepted %d connections, want 1 kept alive", hs.Connections)
			}
			st := c.Stats()
			if st.Created != 1 || st.Reused != 3 || st.Open != 1 || st.LoopStarts != 1 || st.Fallbacks != 0 || st.ConnsDialed != 1 {
				t.Errorf("client stats %+v; want 1 created, 3 reused, 1 open, 1 loop, 1 connection", st)
			}
		})
	}
}

func TestAShellTheHostForgotIsRecreatedOnceTransparently(t *testing.T) {
	const idle = 100 * time.Millisecond
	tests := []struct {
		name   string
		cfg    winrmsim.Config
		forget func(t *testing.T, f *winrmsim.Fleet, name string)
	}{
		{"after a reboot", winrmsim.Config{Devices: 1, Seed: 33}, func(t *testing.T, f *winrmsim.Fleet, name string) {
			if err := f.Reboot(name); err != nil {
				t.Fatal(err)
			}
		}},
		{"after the host's idle timeout", winrmsim.Config{Devices: 1, Seed: 33, ShellIdleTimeout: idle}, func(t *testing.T, _ *winrmsim.Fleet, _ string) {
			// The host's clock has to pass its IdleTimeout; nothing to
			// synchronise with.
			since := time.Now()
			waitFor(t, "the host's idle timeout to pass", func() bool { return time.Since(since) > 2*idle })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFleet(t, tt.cfg)
			h := f.Hosts()[0]
			c := newClient(t, winrm.Options{})
			tg := targetOf(h)
			mustRun(t, c, tg)
			tt.forget(t, f, h.Hostname)
			if res := mustRun(t, c, tg); res.Mode != winrm.ModeWarm {
				t.Errorf("run on a new shell: mode %q, want warm", res.Mode)
			}
			st := c.Stats()
			if st.Recreated != 1 || st.Created != 2 || st.LoopStarts != 2 {
				t.Errorf("client stats %+v; want the lost shell recreated once (2 created, 2 loops)", st)
			}
			hs := hostStats(t, f, h.Hostname)
			if hs.ShellsCreated != 2 || hs.LoopStarts != 2 || hs.LoopRequests != 2 {
				t.Errorf("the host %+v; want 2 shells, 2 loops, 2 loop requests", hs)
			}
			// At most the Send into the lost shell failed, and the Delete
			// of it, which finds nothing to delete: nothing was resent
			// into it.
			waitFor(t, "the lost shell to be given up", func() bool { return c.Stats().Open == 1 })
			if hs := hostStats(t, f, h.Hostname); hs.Faults > 2 || hs.ShellsOpen != 1 {
				t.Errorf("the host %+v; want at most 2 shell-not-found faults (the Send, the Delete) and 1 shell open", hs)
			}
			mustRun(t, c, tg)
			if st := c.Stats(); st.Recreated != 1 || st.Created != 2 {
				t.Errorf("the next run made more shells: %+v", st)
			}
		})
	}
}

func TestAResidentLoopThatCrashesFailsOneRunAndTheNextRunStartsAnotherInTheSameShell(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 35})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	tg := targetOf(h)
	mustRun(t, c, tg)
	if err := f.SetFault(h.Hostname, winrmsim.FaultLoopCrash); err != nil {
		t.Fatal(err)
	}
	_, err := c.Run(testContext(t), tg, simCred, hostnameScript)
	var ce *winrm.Error
	var le *winrm.LoopExitError
	if !errors.As(err, &ce) || ce.Class != winrm.ClassTransient || ce.Device != h.Hostname || ce.Step != "receive" ||
		!errors.As(err, &le) || !le.Ready || le.Code == 0 {
		t.Fatalf("run over a crashing loop: %v (%#v); want a transient receive error of %s, a loop that had started and exited non-zero", err, err, h.Hostname)
	}
	if res := mustRun(t, c, tg); res.Mode != winrm.ModeWarm {
		t.Errorf("run after the crash: mode %q", res.Mode)
	}
	if st := c.Stats(); st.LoopRecycles != 1 || st.LoopStarts != 2 || st.Created != 1 || st.Dropped != 0 {
		t.Errorf("client stats %+v; want the loop replaced in the same shell", st)
	}
	if hs := hostStats(t, f, h.Hostname); hs.LoopStarts != 2 || hs.ShellsCreated != 1 || hs.Signals != 0 || hs.Deletes != 0 {
		t.Errorf("the host %+v; want 2 loops in 1 shell, a dead loop not signalled", hs)
	}
}

func TestAResidentLoopThatHangsIsTerminatedAndItsShellDeleted(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 37})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{Timeout: 2 * time.Second})
	tg := targetOf(h)
	mustRun(t, c, tg)
	if err := f.SetFault(h.Hostname, winrmsim.FaultLoopHang); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, tg, simCred, hostnameScript)
	var ce *winrm.Error
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ce) || ce.Class != winrm.ClassTransient || ce.Device != h.Hostname {
		t.Fatalf("run over a hung loop: %v; want a transient deadline of %s", err, h.Hostname)
	}
	waitFor(t, "the hung shell to be deleted", func() bool { return hostStats(t, f, h.Hostname).ShellsDeleted == 1 })
	if hs := hostStats(t, f, h.Hostname); hs.Signals != 1 || hs.ShellsOpen != 0 {
		t.Errorf("the host %+v; want the hung loop terminated and its shell deleted", hs)
	}
	if res := mustRun(t, c, tg); res.Mode != winrm.ModeWarm {
		t.Errorf("run after the hang: mode %q", res.Mode)
	}
	if st := c.Stats(); st.Dropped != 1 || st.Created != 2 || st.LoopStarts != 2 || st.Open != 1 {
		t.Errorf("client stats %+v; want the hung shell dropped and a fresh one", st)
	}
}

func TestAHostThatCannotRunTheLoopIsRunColdInItsPooledShell(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 39})
	h := f.Hosts()[0]
	if err := f.SetFault(h.Hostname, winrmsim.FaultNoLoop); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, winrm.Options{})
	tg := targetOf(h)
	for i := range 2 {
		if res := mustRun(t, c, tg); res.Mode != winrm.ModeCold {
			t.Errorf("run %d: mode %q, want cold", i+1, res.Mode)
		}
	}
	if st := c.Stats(); st.Fallbacks != 1 || st.Created != 1 || st.Reused != 1 || st.LoopStarts != 1 {
		t.Errorf("client stats %+v; want one fallback, the loop tried once, one shell reused", st)
	}
	// The loop was tried once; then each run is a powershell.exe of its
	// own in the same shell, and a finished command is never signalled.
	if hs := hostStats(t, f, h.Hostname); hs.ShellsCreated != 1 || hs.CommandRequests != 3 || hs.LoopStarts != 0 || hs.Signals != 0 {
		t.Errorf("the host %+v; want 1 shell, 3 commands (the loop and two cold runs), no loop running", hs)
	}
}

func TestTheLoopIsEndedWithEXITAndRestartedAfterItsRequestLimit(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 41})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{LoopMaxRequests: 2})
	tg := targetOf(h)
	for range 5 {
		if res := mustRun(t, c, tg); res.Mode != winrm.ModeWarm {
			t.Errorf("mode %q, want warm", res.Mode)
		}
	}
	if hs := hostStats(t, f, h.Hostname); hs.LoopStarts != 3 || hs.LoopExits != 2 || hs.LoopRequests != 5 || hs.ShellsCreated != 1 || hs.Signals != 0 {
		t.Errorf("the host %+v; want 3 loops, 2 ended by EXIT, 5 requests, 1 shell", hs)
	}
	if st := c.Stats(); st.LoopRecycles != 2 || st.LoopStarts != 3 || st.Created != 1 {
		t.Errorf("client stats %+v; want 2 recycles", st)
	}
}

func TestRunsBeyondTheShellsOfAHostQueueForThem(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 43})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{SessionsPerHost: 1})
	tg := targetOf(h)
	sc := winrm.NewScript("slow", "Start-Sleep -Milliseconds 20; hostname")
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			_, err := c.Run(testContext(t), tg, simCred, sc)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a queued run failed: %v", err)
		}
	}
	if hs := hostStats(t, f, h.Hostname); hs.ShellsCreated != 1 || hs.LoopRequests != 5 {
		t.Errorf("the host %+v; want 5 requests through 1 shell", hs)
	}
	if st := c.Stats(); st.Created != 1 || st.Reused != 4 {
		t.Errorf("client stats %+v; want 1 created, 4 reused", st)
	}
}

func TestAHostThatAllowsFewerShellsIsUsedWithTheShellsItAllows(t *testing.T) {
	// The host allows two shells and another tool holds one of them.
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 45, MaxShellsPerUser: 2})
	h := f.Hosts()[0]
	tg := targetOf(h)
	other := newClient(t, winrm.Options{})
	held, err := other.OpenSession(testContext(t), tg, simCred)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	c := newClient(t, winrm.Options{SessionsPerHost: 3})
	// A first run takes the one shell left and keeps it busy.
	slow, cancelSlow := context.WithCancel(context.Background())
	defer cancelSlow()
	slowDone := make(chan error, 1)
	go func() {
		_, err := c.Run(slow, tg, simCred, winrm.NewScript("slow", "Start-Sleep -Seconds 60"))
		slowDone <- err
	}()
	waitFor(t, "the slow run to reach its loop", func() bool { return hostStats(t, f, h.Hostname).LoopRequests == 1 })

	// Two more runs meet the host's quota, then wait for the busy shell.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			_, err := c.Run(testContext(t), tg, simCred, hostnameScript)
			errs <- err
		})
	}
	waitFor(t, "the quota fault", func() bool { return c.Stats().QuotaHits >= 1 })
	cancelSlow() // its shell is deleted, which makes room for one
	if err := <-slowDone; !errors.Is(err, context.Canceled) {
		t.Errorf("the slow run: %v, want cancelled", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a run that met the quota failed: %v", err)
		}
	}
	hs := hostStats(t, f, h.Hostname)
	if hs.ShellsCreated != 3 || hs.ShellsOpen != 2 {
		t.Errorf("the host %+v; want 3 shells created (the tool's, the slow run's, one after it), 2 open", hs)
	}
	if st := c.Stats(); st.Open != 1 || st.QuotaHits < 1 || st.Created != 2 {
		t.Errorf("client stats %+v; want the client down to the one shell the host allows", st)
	}
}

func TestExpireIdleDeletesShellsIdlePastTheTTLAndKeepWarmRaisesIt(t *testing.T) {
	const ttl = time.Minute // the janitor (every ttl/4) stays out of the way
	f := startFleet(t, winrmsim.Config{Devices: 2, Seed: 47})
	c := newClient(t, winrm.Options{SessionTTL: ttl})
	runAll := func() {
		t.Helper()
		for _, h := range f.Hosts() {
			mustRun(t, c, targetOf(h))
		}
	}
	open := func() int64 { return f.Stats().ShellsOpen }

	runAll()
	c.ExpireIdle(time.Now())
	if open() != 2 || c.Stats().Expired != 0 {
		t.Fatalf("shells used just now were expired: %d open at the hosts, stats %+v", open(), c.Stats())
	}
	c.ExpireIdle(time.Now().Add(ttl))
	if s := f.Stats(); s.ShellsOpen != 0 || s.ShellsDeleted != 2 || s.ShellsDropped != 0 {
		t.Errorf("the hosts after expiry: %+v; want both shells deleted by a real Delete", s)
	}
	if st := c.Stats(); st.Expired != 2 || st.Open != 0 {
		t.Errorf("client stats %+v; want 2 expired, none open", st)
	}

	c.KeepWarm(time.Second) // a floor below the TTL does not lower it
	runAll()
	c.ExpireIdle(time.Now().Add(2 * time.Second))
	if open() != 2 {
		t.Errorf("KeepWarm(1s) lowered the TTL: %d shells open, want 2", open())
	}
	c.ExpireIdle(time.Now().Add(ttl))
	if open() != 0 {
		t.Errorf("KeepWarm(1s): %d shells open after the TTL, want 0", open())
	}

	c.KeepWarm(10 * time.Minute)
	runAll()
	c.ExpireIdle(time.Now().Add(ttl))
	if open() != 2 {
		t.Errorf("KeepWarm(10m): %d shells open after the configured TTL, want 2", open())
	}
	c.ExpireIdle(time.Now().Add(10 * time.Minute))
	if open() != 0 {
		t.Errorf("KeepWarm(10m): %d shells open after 10 minutes, want 0", open())
	}

	c.KeepWarm(0)
	runAll()
	c.ExpireIdle(time.Now().Add(ttl))
	if open() != 0 || c.Stats().Expired != 8 {
		t.Errorf("KeepWarm(0) did not restore the TTL: %d open, stats %+v", open(), c.Stats())
	}
	if s := f.Stats(); s.ShellsCreated != 8 || s.ShellsDeleted != 8 {
		t.Errorf("the hosts %+v; want 8 shells created and deleted", s)
	}
}

func TestCloseDeletesEveryShellAndLaterRequestsFailWithErrClosed(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 3, Seed: 49})
	c, err := winrm.New(winrm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hosts := f.Hosts()
	for _, h := range hosts {
		mustRun(t, c, targetOf(h))
	}
	s, err := c.OpenSession(testContext(t), targetOf(hosts[0]), simCred)
	if err != nil {
		t.Fatal(err)
	}
	if st := f.Stats(); st.ShellsOpen != 4 {
		t.Fatalf("%d shells open at the hosts, want 4 (3 pooled, 1 session)", st.ShellsOpen)
	}
	if err := c.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if st := f.Stats(); st.ShellsOpen != 0 || st.ShellsDeleted != 4 || st.ShellsDropped != 0 {
		t.Errorf("the hosts after Close: %+v; want all 4 shells deleted", st)
	}
	if st := c.Stats(); st.Open != 0 {
		t.Errorf("client stats after Close %+v", st)
	}
	requests := f.Stats().Requests
	tg := targetOf(hosts[1])
	if _, err := c.Run(testContext(t), tg, simCred, hostnameScript); !errors.Is(err, winrm.ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
	if _, err := c.RunUnpooled(testContext(t), tg, simCred, hostnameScript); !errors.Is(err, winrm.ErrClosed) {
		t.Errorf("RunUnpooled after Close: %v, want ErrClosed", err)
	}
	ntlm := tg
	ntlm.Auth = winrm.AuthNTLM // one shell per request, outside the pool
	if _, err := c.Run(testContext(t), ntlm, simCred, hostnameScript); !errors.Is(err, winrm.ErrClosed) {
		t.Errorf("Run on an NTLM target after Close: %v, want ErrClosed", err)
	}
	if _, err := c.OpenSession(testContext(t), tg, simCred); !errors.Is(err, winrm.ErrClosed) {
		t.Errorf("OpenSession after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Run(testContext(t), hostnameScript); !errors.Is(err, winrm.ErrSessionClosed) {
		t.Errorf("a session's Run after Close: %v, want ErrSessionClosed", err)
	}
	if got := f.Stats().Requests - requests; got != 0 {
		t.Errorf("%d requests reached the hosts after Close", got)
	}
	if err := c.Close(testContext(t)); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func TestAnUnpooledClientRunsColdAndFailsWithErrClosedAfterClose(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 51})
	h := f.Hosts()[0]
	c, err := winrm.New(winrm.Options{Unpooled: true})
	if err != nil {
		t.Fatal(err)
	}
	tg := targetOf(h)
	if c.Pooled(tg) {
		t.Error("an unpooled client says it pools")
	}
	for i := range 2 {
		if res := mustRun(t, c, tg); res.Mode != winrm.ModeCold {
			t.Errorf("run %d: mode %q, want cold", i+1, res.Mode)
		}
	}
	// A new shell and powershell.exe per run, each deleted at its end.
	if hs := hostStats(t, f, h.Hostname); hs.ShellsCreated != 2 || hs.ShellsDeleted != 2 || hs.ShellsOpen != 0 || hs.LoopStarts != 0 {
		t.Errorf("the host %+v; want 2 shells created and deleted, no loop", hs)
	}
	if err := c.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	requests := hostStats(t, f, h.Hostname).Requests
	_, err = c.Run(testContext(t), tg, simCred, hostnameScript)
	var ce *winrm.Error
	if !errors.Is(err, winrm.ErrClosed) || !errors.As(err, &ce) || ce.Device != h.Hostname {
		t.Errorf("Run after Close: %v, want ErrClosed naming %s", err, h.Hostname)
	}
	if got := hostStats(t, f, h.Hostname).Requests - requests; got != 0 {
		t.Errorf("%d requests reached the host after Close", got)
	}
}

func TestCloseLetsARunInFlightFinishAndThenDeletesItsShell(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 53})
	h := f.Hosts()[0]
	c, err := winrm.New(winrm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tg := targetOf(h)
	type result struct {
		res winrm.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.Run(testContext(t), tg, simCred, winrm.NewScript("slow", "Start-Sleep -Milliseconds 300; hostname"))
		done <- result{res, err}
	}()
	waitFor(t, "the run to reach the loop", func() bool { return hostStats(t, f, h.Hostname).LoopRequests == 1 })
	if err := c.Close(testContext(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r := <-done
	if r.err != nil || string(r.res.Stdout) != h.Hostname+"\r\n" {
		t.Errorf("the run in flight during Close: %q, %v; want it answered", r.res.Stdout, r.err)
	}
	// Its loop still runs: terminated (one Signal), then the shell deleted.
	if hs := hostStats(t, f, h.Hostname); hs.ShellsOpen != 0 || hs.ShellsDeleted != 1 || hs.Signals > 1 || hs.LoopRequests != 1 {
		t.Errorf("the host after Close: %+v; want the shell deleted once its run was answered", hs)
	}
}
