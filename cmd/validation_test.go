package cmd

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rmmhq/rmm/engine/winrmsim"
)

// TestConfigCheckRefusesWhatEveryCommandRefuses is reliability F10: a
// maintenance window on "Funday 25:99" and an inverted threshold pair
// passed rmm config check (exit 0) while every other command refused
// the file.
func TestConfigCheckRefusesWhatEveryCommandRefuses(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"a window on no weekday", "maintenance_windows:\n  - name: x\n    group: g\n    every: \"Funday 25:99 + 4h\"\n",
			`maintenance_windows[0].every: maintenance window "Funday 25:99 + 4h": "funday" is not a weekday`},
		{"an inverted threshold pair", "thresholds:\n  cpu_warning: 90\n  cpu_critical: 80\n",
			"thresholds.cpu_warning: 90 is above cpu_critical 80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfg, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errb := c.run("config", "check", cfg)
			if code != 2 || !strings.Contains(errb, tt.want) || strings.Contains(out, "ok") {
				t.Errorf("config check: exit %d, %q %q; want exit 2 and %q", code, out, errb, tt.want)
			}
			code, _, errb2 := c.run("--config", cfg, "--db", filepath.Join(t.TempDir(), "rmm.db"), "devices")
			if code != 2 || errb2 != errb {
				t.Errorf("devices: exit %d, %q; want the same refusal as config check (%q)", code, errb2, errb)
			}
		})
	}
}

// childRMM runs this test binary as rmm (see TestMain) in a child
// process: as user nobody when the test runs as root (root writes any
// file, so a read-only database is only read-only for someone else).
type childRMM struct {
	t    *testing.T
	exe  string
	home string
	env  []string
	cred *syscall.Credential
}

// newChildRMM copies the test binary into a directory every user can
// reach, with a HOME of its own.
func newChildRMM(t *testing.T) *childRMM {
	t.Helper()
	dir, err := os.MkdirTemp("", "rmm-child-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c := &childRMM{t: t, exe: filepath.Join(dir, "rmm"), home: filepath.Join(dir, "home")}
	if os.Geteuid() == 0 {
		c.cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(c.exe, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, c.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		c.own(d)
	}
	c.env = []string{asRMM + "=1", "HOME=" + c.home, "PATH=" + os.Getenv("PATH")}
	return c
}

// own gives path to the child's user.
func (c *childRMM) own(path string) {
	c.t.Helper()
	if c.cred == nil {
		return
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *childRMM) run(env []string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	cmd := exec.Command(c.exe, args...)
	cmd.Env = append(append([]string(nil), c.env...), env...)
	cmd.Dir = c.home
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		c.t.Fatalf("run %v: %v", args, err)
	}
	return 0, out.String(), errb.String()
}

// TestAReadOnlyDatabaseIsFoundBeforeAnyWinRMTraffic is reliability F11,
// as reproduced there: a database made read-only (its -wal and -shm left
// read-only by a reader since) was found by rmm poll only at its first
// commit, after a sweep of every host.
func TestAReadOnlyDatabaseIsFoundBeforeAnyWinRMTraffic(t *testing.T) {
	fleet := startFleet(t, winrmsim.Config{Devices: 3, Seed: 7})
	c := newChildRMM(t)
	data := filepath.Join(c.home, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	c.own(data)
	csvPath := filepath.Join(c.home, "fleet.csv")
	var b bytes.Buffer
	if err := fleet.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(csvPath, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "rmm.db")
	if code, _, errb := c.run(nil, "--db", db, "import", csvPath); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errb)
	}
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	// A reader still works, and leaves a read-only -wal and -shm behind.
	if code, out, errb := c.run(nil, "--db", db, "devices"); code != 0 || !strings.Contains(out, "3 devices") {
		t.Fatalf("devices on a read-only database: exit %d: %s %s", code, out, errb)
	}
	before := fleet.Stats().Requests
	code, out, errb := c.run([]string{"RMM_WINRM_USER=" + winrmsim.DefaultUser, "RMM_WINRM_PASSWORD=" + winrmsim.DefaultPassword},
		"--db", db, "poll", "--once")
	if code != 1 || !strings.Contains(errb, "database is read-only") || !strings.Contains(errb, db) {
		t.Errorf("poll: exit %d, %q %q; want exit 1 naming the read-only database", code, out, errb)
	}
	if n := fleet.Stats().Requests - before; n != 0 {
		t.Errorf("poll sent %d WinRM requests before finding the database read-only", n)
	}
}
