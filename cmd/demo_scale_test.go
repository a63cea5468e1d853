//go:build linux

package cmd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/creack/pty"
)

// TestTheTenThousandHostDemoRunsUnderALowDescriptorLimit is the README's
// invitation, rmm --demo --devices 10000, on a machine whose descriptor
// limit (12,000 here) cannot hold every simulated host's connection: rmm
// says at start how many it keeps and the ulimit that keeps them all,
// polls thousands of hosts without a store error, quits on q with exit
// 0, and leaves no temporary directory and no simulator behind.
func TestTheTenThousandHostDemoRunsUnderALowDescriptorLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 10,000 simulated hosts")
	}
	if raceEnabled {
		// Instrumented, the 10,000 hosts and the console need several
		// times the CPU: CI runs this test in its own step without -race.
		t.Skip("starts 10,000 simulated hosts: run without -race")
	}
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "--demo", "--devices", "10000", "--seed", "7", "--interval", "1h", "--log-level", "debug", "--theme", "ascii")
	cmd.Env = append(childEnv(os.Environ()), asRMM+"=1", nofileEnv+"=12000", "TMPDIR="+tmp, "HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "cfg"), "XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_STATE_HOME="+filepath.Join(home, "state"), "TERM=xterm-256color")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 48, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		mu  sync.Mutex
		out bytes.Buffer
	)
	readDone := make(chan struct{})
	go func() { // owned by this test: ends when the pty closes
		defer close(readDone)
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			if out.Len() > 4<<20 {
				out.Next(out.Len() - 2<<20) // keep the tail
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	screen := func() string {
		mu.Lock()
		defer mu.Unlock()
		return ansi.Strip(out.String())
	}
	logFile := filepath.Join(home, "state", "rmm", "logs", "rmm-demo.log")
	polled := func() int {
		b, _ := os.ReadFile(logFile)
		return bytes.Count(b, []byte(`msg="poll ok"`))
	}
	waitFor := func(what string, limit time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !ok() {
			select {
			case err := <-exited:
				t.Fatalf("rmm exited (%v) while waiting for %s; screen tail:\n%s", err, what, tail(screen(), 2000))
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %s; polled %d; screen tail:\n%s", what, limit, polled(), tail(screen(), 2000))
			}
		}
	}
	// Before the console takes the screen, and in its status line.
	waitFor("the descriptor warning", 3*time.Minute, func() bool {
		s := screen()
		return strings.Contains(s, "file descriptor limit 12000") && strings.Contains(s, "ulimit -n 20356") &&
			strings.Contains(s, "keeping 1,644 of 10,000")
	})
	waitFor("3,000 hosts polled", 6*time.Minute, func() bool { return polled() >= 3000 })

	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"store write failed", "unable to open database file", "fatal error"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("the demo log holds %q", bad)
		}
	}
	simPID := 0
	if m := regexp.MustCompile(`simulator_pid=(\d+)`).FindSubmatch(b); m != nil {
		simPID, _ = strconv.Atoi(string(m[1]))
	}
	if simPID == 0 {
		t.Fatal("the demo log does not name the simulator's pid")
	}
	if n := openFiles(t, cmd.Process.Pid); n > 12000-256 {
		t.Errorf("the console holds %d descriptors of its 12,000", n)
	}

	if _, err := f.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("rmm exited with %v after q; screen tail:\n%s", err, tail(screen(), 2000))
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("rmm did not exit within 2 minutes of q")
	}
	entries, _ := filepath.Glob(filepath.Join(tmp, "rmm-demo-*"))
	if len(entries) > 0 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := syscall.Kill(simPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the simulator child %d still runs after rmm quit (kill 0: %v)", simPID, err)
		_ = syscall.Kill(simPID, syscall.SIGKILL)
	}
	_ = f.Close()
	<-readDone
}

// openFiles counts a process's open file descriptors.
func openFiles(t *testing.T, pid int) int {
	t.Helper()
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
