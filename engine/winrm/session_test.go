package winrm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// Tests of the interactive Session (the console's PowerShell pane).

func TestASessionKeepsOneShellWarmUntilARunIsCancelledAndDeletesItOnClose(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 61})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	tg := targetOf(h)

	s, err := c.OpenSession(testContext(t), tg, simCred)
	if err != nil {
		t.Fatal(err)
	}
	// Opening creates the shell and starts the loop, so the first Run is
	// warm.
	if hs := hostStats(t, f, h.Hostname); hs.Requests != 2 || hs.ShellsCreated != 1 || hs.LoopStarts != 1 {
		t.Fatalf("the host after OpenSession: %+v; want Create and Command, one loop", hs)
	}
	for i := range 2 {
		before := hostStats(t, f, h.Hostname).Requests
		res, err := s.Run(testContext(t), hostnameScript)
		if err != nil || string(res.Stdout) != h.Hostname+"\r\n" || res.Mode != winrm.ModeWarm {
			t.Fatalf("run %d: %q %q, %v; want the host's name, warm", i+1, res.Stdout, res.Mode, err)
		}
		if got := hostStats(t, f, h.Hostname).Requests - before; got != 2 {
			t.Errorf("run %d made %d requests at the host, want 2 (Send, Receive)", i+1, got)
		}
	}
	if hs := hostStats(t, f, h.Hostname); hs.ShellsCreated != 1 || hs.LoopRequests != 2 {
		t.Errorf("the host %+v; want 2 loop requests in 1 shell", hs)
	}
	if st := c.Stats(); st.Created != 0 || st.Open != 0 {
		t.Errorf("client stats %+v: a session's shell is not the pool's", st)
	}

	// A run its caller cancels: the loop is terminated and the shell
	// deleted before Run returns.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, winrm.NewScript("sleep", "Start-Sleep -Seconds 60"))
		done <- err
	}()
	waitFor(t, "the long run to reach the loop", func() bool { return hostStats(t, f, h.Hostname).LoopRequests == 3 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled run: %v, want context.Canceled", err)
	}
	if hs := hostStats(t, f, h.Hostname); hs.Signals != 1 || hs.ShellsDeleted != 1 || hs.ShellsOpen != 0 {
		t.Errorf("the host after the cancelled run: %+v; want the loop terminated and its shell deleted", hs)
	}

	// The next run opens a new shell.
	res, err := s.Run(testContext(t), hostnameScript)
	if err != nil || string(res.Stdout) != h.Hostname+"\r\n" || res.Mode != winrm.ModeWarm {
		t.Fatalf("the run after the cancel: %q %q, %v", res.Stdout, res.Mode, err)
	}
	if hs := hostStats(t, f, h.Hostname); hs.ShellsCreated != 2 || hs.LoopStarts != 2 || hs.ShellsOpen != 1 {
		t.Errorf("the host %+v; want a second shell and loop", hs)
	}

	s.Close()
	if hs := hostStats(t, f, h.Hostname); hs.ShellsOpen != 0 || hs.ShellsDeleted != 2 {
		t.Errorf("the host after Close: %+v; want both shells deleted", hs)
	}
	requests := hostStats(t, f, h.Hostname).Requests
	if _, err := s.Run(testContext(t), hostnameScript); !errors.Is(err, winrm.ErrSessionClosed) {
		t.Errorf("Run after Close: %v, want ErrSessionClosed", err)
	}
	s.Close() // a second Close does nothing
	if got := hostStats(t, f, h.Hostname).Requests - requests; got != 0 {
		t.Errorf("%d requests after Close", got)
	}
}

func TestASessionOnAHostThatCannotRunTheLoopRunsCold(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 63})
	h := f.Hosts()[0]
	if err := f.SetFault(h.Hostname, winrmsim.FaultNoLoop); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, winrm.Options{})
	s, err := c.OpenSession(testContext(t), targetOf(h), simCred)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 2 {
		res, err := s.Run(testContext(t), hostnameScript)
		if err != nil || string(res.Stdout) != h.Hostname+"\r\n" || res.Mode != winrm.ModeCold {
			t.Fatalf("run %d: %q %q, %v; want the host's name, cold", i+1, res.Stdout, res.Mode, err)
		}
	}
	if hs := hostStats(t, f, h.Hostname); hs.ShellsCreated != 1 || hs.CommandRequests != 3 || hs.LoopStarts != 0 {
		t.Errorf("the host %+v; want 1 shell, the loop tried once, then 2 plain commands", hs)
	}
}

func TestASessionOverNTLMRunsWarmWithItsMessagesSealed(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 65})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	tg := targetOf(h)
	tg.Auth, tg.AllowUnencrypted = winrm.AuthNTLM, false // the host's local account, as Windows' default Negotiate takes it
	s, err := c.OpenSession(testContext(t), tg, simCred)
	if err != nil {
		t.Fatalf("OpenSession over NTLM: %v", err)
	}
	defer s.Close()
	for i := range 3 {
		res, err := s.Run(testContext(t), hostnameScript)
		if err != nil || string(res.Stdout) != h.Hostname+"\r\n" || res.Mode != winrm.ModeWarm {
			t.Fatalf("run %d: %q %q, %v; want the host's name, warm", i+1, res.Stdout, res.Mode, err)
		}
	}
	if hs := hostStats(t, f, h.Hostname); hs.NTLMContexts != 1 || hs.Sealed == 0 || hs.PlainRefused != 0 {
		t.Errorf("the host %+v; want one NTLM context and every message sealed", hs)
	}
}

func TestASessionWhoseShellTheHostForgotGetsANewOneTransparently(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 67})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	s, err := c.OpenSession(testContext(t), targetOf(h), simCred)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := f.Reboot(h.Hostname); err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(testContext(t), hostnameScript)
	if err != nil || string(res.Stdout) != h.Hostname+"\r\n" || res.Mode != winrm.ModeWarm {
		t.Fatalf("run after a reboot: %q %q, %v; want the host's name, warm", res.Stdout, res.Mode, err)
	}
	if hs := hostStats(t, f, h.Hostname); hs.ShellsCreated != 2 || hs.LoopStarts != 2 || hs.ShellsOpen != 1 {
		t.Errorf("the host %+v; want a second shell and loop, one open", hs)
	}
}
