package winrm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// The client against the simulator's strict hosts: what real Windows
// refuses or answers differently (../shared/research/fidelity-review.md,
// F1-F6, F9, F18, F19).

// bigScript is a script of about n bytes: a comment block and then
// output, too long for any command line.
func bigScript(n int) *winrm.Script {
	return winrm.NewScript("big", "<#\n"+strings.Repeat("padding line of a long library script\n", n/38)+"#>\nWrite-Output 'big ran'\n")
}

func TestScriptsLongerThanAnyCommandLineRunOnEveryPath(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 81, ScriptTime: time.Millisecond})
	h := f.Hosts()[0]
	sc := bigScript(100 << 10) // three times CreateProcess's limit
	c := newClient(t, winrm.Options{})
	cold := targetOf(h)
	cold.NoLoop = true
	paths := []struct {
		name string
		run  func(ctx context.Context) (winrm.Result, error)
		mode string
	}{
		{"warm, through the loop", func(ctx context.Context) (winrm.Result, error) { return c.Run(ctx, targetOf(h), simCred, sc) }, winrm.ModeWarm},
		{"cold, in a pooled shell", func(ctx context.Context) (winrm.Result, error) { return c.Run(ctx, cold, simCred, sc) }, winrm.ModeCold},
		{"unpooled, a shell of its own", func(ctx context.Context) (winrm.Result, error) { return c.RunUnpooled(ctx, targetOf(h), simCred, sc) }, winrm.ModeCold},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			res, err := p.run(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Stdout) != "big ran\r\n" || res.Exit != 0 || res.Mode != p.mode {
				t.Fatalf("result %q exit %d mode %s", res.Stdout, res.Exit, res.Mode)
			}
		})
	}
}

func TestTheUnpooledPathWaitsThroughReceiveTimeouts(t *testing.T) {
	// The host's long-poll ends after 200 ms with the w:TimedOut fault,
	// several times before the script (1 s) answers.
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 82, ScriptTime: time.Second, OperationTimeoutMax: 200 * time.Millisecond})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	res, err := c.RunUnpooled(testContext(t), targetOf(h), simCred, winrm.NewScript("metrics", "# rmm:script=metrics v3\n"))
	if err != nil {
		t.Fatalf("a script slower than the OperationTimeout: %v", err)
	}
	if !strings.Contains(string(res.Stdout), `"hostname":"`+h.Hostname+`"`) {
		t.Fatalf("stdout %q", res.Stdout)
	}
}

func TestTheLoopKeepsOutputAndExitCodeOfAnExit(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 83, ScriptTime: time.Millisecond})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	tests := []struct {
		name, script string
		stdout       string
		exit         int
		warnings     []string
		info         []string
	}{
		{"exit after output", "Write-Output 'done'; exit 3", "done\r\n", 3, nil, nil},
		{"a suppressed error is no failure", "Get-Service NoSuch -ErrorAction SilentlyContinue; 'ok'", "ok\r\n", 0, nil, nil},
		{"an error record is", "Write-Error 'bad'; 'after'", "after\r\n", 1, nil, nil},
		{"Write-Host and warnings come back", "Write-Host 'hello'; Write-Warning 'careful'; 'out'", "out\r\n", 0, []string{"careful"}, []string{"hello"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Run(testContext(t), targetOf(h), simCred, winrm.NewScript("t", tt.script))
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != winrm.ModeWarm || string(res.Stdout) != tt.stdout || res.Exit != tt.exit ||
				strings.Join(res.Warnings, "|") != strings.Join(tt.warnings, "|") || strings.Join(res.Info, "|") != strings.Join(tt.info, "|") {
				t.Fatalf("result %+v (stdout %q)", res, res.Stdout)
			}
		})
	}
}

func TestTheOperationsQuotaRecreatesTheShell(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 84, ScriptTime: time.Millisecond, MaxOperationsPerShell: 2})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{SessionsPerHost: 1})
	tg := targetOf(h)
	tg.NoLoop = true // one Command per request
	for range 5 {
		mustRun(t, c, tg)
	}
	if st := c.Stats(); st.ShellRecycles < 2 {
		t.Errorf("stats %+v: want the shell recreated after the quota fault", st)
	}
	if hs := hostStats(t, f, h.Hostname); hs.Faults < 1 {
		t.Errorf("the host sent no quota fault: %+v", hs)
	}
}

func TestShellsAreRetiredAfterTheirShareOfCommands(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 85, ScriptTime: time.Millisecond})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{SessionsPerHost: 1, ShellMaxCommands: 2})
	tg := targetOf(h)
	tg.NoLoop = true
	for range 6 {
		mustRun(t, c, tg)
	}
	hs := hostStats(t, f, h.Hostname)
	if hs.ShellsCreated != 3 || hs.Faults != 0 {
		t.Errorf("host %+v: want 3 shells of 2 commands each and no fault", hs)
	}
	if st := c.Stats(); st.ShellRecycles != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestAccessDeniedIsAConfigurationError(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 8, Seed: 86, Faults: "access-denied=100%"})
	c := newClient(t, winrm.Options{})
	codes := map[uint64]bool{}
	for _, h := range f.Hosts() {
		for name, run := range map[string]func() error{
			"pooled": func() error { _, err := c.Run(testContext(t), targetOf(h), simCred, hostnameScript); return err },
			"unpooled": func() error {
				_, err := c.RunUnpooled(testContext(t), targetOf(h), simCred, hostnameScript)
				return err
			},
		} {
			err := run()
			if winrm.ClassOf(err) != winrm.ClassConfiguration {
				t.Errorf("%s %s: %v is %s, want configuration", h.Hostname, name, err, winrm.ClassOf(err))
			}
			if he := httpError(err); he != nil && he.Fault != nil {
				codes[he.Fault.Code] = true
			}
		}
	}
	if !codes[winrm.FaultAccessDenied] || !codes[winrm.FaultAccessDeniedHRESULT] {
		t.Errorf("codes seen %v: want both shapes", codes)
	}
}

func TestAWinRM2HostWorksWithinItsLimits(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 87, Profile: "server2012r2", ScriptTime: time.Millisecond})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	if res := mustRun(t, c, targetOf(h)); res.Mode != winrm.ModeWarm {
		t.Errorf("mode %s", res.Mode)
	}
	// A 100 KB script fits a 150 KB envelope: Sends are chunked.
	if res, err := c.Run(testContext(t), targetOf(h), simCred, bigScript(100<<10)); err != nil || string(res.Stdout) != "big ran\r\n" {
		t.Fatalf("big script: %q %v", res.Stdout, err)
	}
	if _, err := c.RunUnpooled(testContext(t), targetOf(h), simCred, hostnameScript); err != nil {
		t.Fatalf("unpooled on a WinRM 2.0 host (Create reply without the Shell body): %v", err)
	}
	if err := c.TryShell(testContext(t), targetOf(h), simCred); err != nil {
		t.Fatalf("TryShell: %v", err)
	}
}

func TestAConstrainedLanguageHostRunsColdBehindTheStdinBootstrap(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 88, Profile: "clm", ScriptTime: time.Millisecond})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	for range 2 {
		if res := mustRun(t, c, targetOf(h)); res.Mode != winrm.ModeCold {
			t.Errorf("mode %s, want cold", res.Mode)
		}
	}
	if st := c.Stats(); st.Fallbacks != 1 {
		t.Errorf("stats %+v: want one fallback", st)
	}
	// A script that calls .NET fails there, plainly.
	res, err := c.Run(testContext(t), targetOf(h), simCred, winrm.NewScript("dotnet", "[Convert]::ToBase64String([byte[]](1,2))"))
	if err != nil || res.Exit != 1 || len(res.Errors) == 0 || !strings.Contains(res.Errors[0], "language mode") {
		t.Fatalf("a .NET call on a CLM host: %+v %v", res, err)
	}
}

func TestLoopOffRunsEveryRequestCold(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 89, ScriptTime: time.Millisecond})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	tg := targetOf(h)
	mustRun(t, c, tg) // a loop starts
	tg.NoLoop = true
	for range 3 {
		if res := mustRun(t, c, tg); res.Mode != winrm.ModeCold {
			t.Fatalf("mode %s", res.Mode)
		}
	}
	hs := hostStats(t, f, h.Hostname)
	if hs.LoopStarts != 1 || hs.LoopExits != 1 {
		t.Errorf("host %+v: the loop that ran must have been ended, none started again", hs)
	}
	s, err := c.OpenSession(testContext(t), tg, simCred)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if res, err := s.Run(testContext(t), hostnameScript); err != nil || res.Mode != winrm.ModeCold {
		t.Fatalf("a pane session on a loop-off host: %+v %v", res, err)
	}
}

func TestBasicOverHTTPToAHostThatRefusesItIsAConfigurationError(t *testing.T) {
	f, err := winrmsim.New(winrmsim.Config{Devices: 1, Seed: 90}) // Windows' default: AllowUnencrypted false
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	c := newClient(t, winrm.Options{})
	_, err = c.Run(testContext(t), targetOf(f.Hosts()[0]), simCred, hostnameScript)
	he := httpError(err)
	if winrm.ClassOf(err) != winrm.ClassConfiguration || he == nil || he.Status != 401 {
		t.Fatalf("%v: class %s", err, winrm.ClassOf(err))
	}
	var ce *winrm.Error
	if !errors.As(err, &ce) || ce.Device != f.Hosts()[0].Hostname {
		t.Fatalf("%v does not name the device", err)
	}
}
