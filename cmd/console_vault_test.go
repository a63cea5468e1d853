//go:build linux

package cmd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/creack/pty"
)

// ptyRMM is this test binary acting as rmm on a pseudo-terminal.
type ptyRMM struct {
	t    *testing.T
	f    *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func startPTY(t *testing.T, env []string, args ...string) *ptyRMM {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &ptyRMM{t: t, cmd: exec.Command(self, args...), done: make(chan error, 1)}
	p.cmd.Env = append(childEnv(os.Environ()), append([]string{asRMM + "=1", "TERM=xterm-256color"}, env...)...)
	p.f, err = pty.StartWithSize(p.cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	go func() { // ends when the pty closes
		buf := make([]byte, 16<<10)
		for {
			n, err := p.f.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
		_ = p.f.Close()
	})
	return p
}

// text is everything the terminal received so far, without escapes.
func (p *ptyRMM) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ansi.Strip(p.out.String())
}

// since is the text received after mark (a length of text()).
func (p *ptyRMM) since(mark int) string {
	s := p.text()
	if mark > len(s) {
		return ""
	}
	return s[mark:]
}

func (p *ptyRMM) waitFor(mark int, want ...string) {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		s := p.since(mark)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return
		}
		select {
		case err := <-p.done:
			p.t.Fatalf("rmm exited (%v) before showing %q; it showed:\n%s", err, want, tail(p.text(), 3000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("rmm did not show %q; it showed:\n%s", want, tail(p.text(), 3000))
		}
	}
}

// waitCount waits until want was shown n times.
func (p *ptyRMM) waitCount(want string, n int) {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for strings.Count(p.text(), want) < n {
		select {
		case err := <-p.done:
			p.t.Fatalf("rmm exited (%v) before showing %q %d times; it showed:\n%s", err, want, n, tail(p.text(), 3000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("rmm did not show %q %d times; it showed:\n%s", want, n, tail(p.text(), 3000))
		}
	}
}

func (p *ptyRMM) send(s string) {
	p.t.Helper()
	if _, err := p.f.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *ptyRMM) wait() error {
	select {
	case err := <-p.done:
		return err
	case <-time.After(time.Minute):
		p.t.Fatal("rmm did not exit")
		return nil
	}
}

// Newcomer B2: the console on a locked vault asks for the passphrase as
// the CLI does; after three wrong ones it opens with polling off: a
// banner with the fix that stays, and r refused with the same words.
func TestTheConsoleAsksForTheVaultPassphraseAndSaysPollingIsOffWithoutIt(t *testing.T) {
	c := newCLI(t)
	csv := filepath.Join(t.TempDir(), "devices.csv")
	if err := os.WriteFile(csv, []byte("Hostname,IPAddress,Port\nWS-0001,127.0.0.1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errb := c.run("import", csv); code != 0 {
		t.Fatalf("import: %d %s", code, errb)
	}
	c.env["RMM_VAULT_PASSPHRASE"] = "the-right-passphrase-1"
	if code, _, errb := c.runStdin("secret-password\n", "creds", "set", "default", "--user", "rmm", "--password-stdin"); code != 0 {
		t.Fatalf("creds set: %d %s", code, errb)
	}
	env := []string{"HOME=" + c.home}

	// The right passphrase at the prompt: the console polls.
	p := startPTY(t, env, "--interval", "1h", "--theme", "ascii")
	p.waitFor(0, "Vault passphrase (")
	mark := len(p.text())
	p.send("wrong-one\r")
	p.waitFor(mark, "vault locked: wrong passphrase or identity", "Vault passphrase (")
	p.send("the-right-passphrase-1\r")
	p.waitFor(mark, "1 offline") // polled: the address has no WinRM listener
	if strings.Contains(p.text(), "POLLING OFF") {
		t.Error("POLLING OFF shown although the vault was unlocked")
	}
	p.send("q")
	if err := p.wait(); err != nil {
		t.Fatalf("rmm: %v", err)
	}

	// Three wrong ones: the console opens, polling off, said and kept.
	p = startPTY(t, env, "--interval", "1h", "--theme", "ascii")
	for i := range vaultPromptTries {
		p.waitCount("Vault passphrase (", i+1)
		p.send("wrong-one\r")
		p.waitCount("wrong passphrase", i+1)
	}
	p.waitFor(0, "POLLING OFF: vault locked: wrong passphrase or identity")
	mark = len(p.text())
	p.send("r")
	// Refused: the audit chain's key is in the locked vault too, so no
	// change can be recorded (and none is made) until it is unlocked.
	p.waitFor(mark, "devices.poll not done: it could not be recorded")
	p.send("q")
	if err := p.wait(); err != nil {
		t.Fatalf("rmm: %v", err)
	}
}
