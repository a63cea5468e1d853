package sshserve_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
	"github.com/rmmhq/rmm/ui"
	"github.com/rmmhq/rmm/ui/sshserve"
)

// These tests run the real SSH server on 127.0.0.1 over a real engine and
// SQLite file, with golang.org/x/crypto/ssh as the client.

const waitLong = 10 * time.Second // generous: -race slows everything

// syncBuffer is a bytes.Buffer safe for the writers of a test (the log,
// a session's stdout and stderr).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// key is a test user's SSH key.
type key struct {
	signer gossh.Signer
	pub    gossh.PublicKey
}

func newKey(t *testing.T) key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return key{signer: s, pub: s.PublicKey()}
}

// fixture is a running server over a real engine with two devices.
type fixture struct {
	db      *store.DB
	eng     *engine.Engine
	srv     *sshserve.Server
	addr    string
	log     *syncBuffer
	users   atomic.Pointer[[]sshserve.User]
	admin   key
	viewer  key
	served  chan error
	stopped bool
	exports string // the SSH users' export directories
}

var cliAdmin = engine.Identity{User: "tester", Role: engine.RoleAdmin, Via: engine.ViaCLI, RemoteAddr: "127.0.0.1"}

// newFixture opens the DB and engine and imports the devices; start runs
// the server.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{log: &syncBuffer{}, admin: newKey(t), viewer: newKey(t), exports: filepath.Join(t.TempDir(), "exports")}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	eng, err := engine.New(ctx, db, engine.Options{
		Credential: engine.Credential{User: "rmm-test", Password: "not-a-secret"},
		Timeout:    2 * time.Second,
		Writer:     store.WriterOptions{FlushInterval: 20 * time.Millisecond},
		ExportsDir: f.exports,
	})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	f.db, f.eng = db, eng
	f.importDevices(t, "WS-SSH-001", "WS-SSH-002")
	f.setUsers(
		sshserve.User{Name: "alice", Role: engine.RoleAdmin, Keys: []gossh.PublicKey{f.admin.pub}},
		sshserve.User{Name: "victor", Role: engine.RoleViewer, Keys: []gossh.PublicKey{f.viewer.pub}},
	)
	return f
}

// importDevices adds devices whose WinRM port refuses connections, so a
// sweep marks them Offline at once.
func (f *fixture) importDevices(t *testing.T, hosts ...string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	in := make([]store.DeviceInput, len(hosts))
	allow := true // Basic over plain HTTP is refused unless the device allows it
	for i, h := range hosts {
		in[i] = store.DeviceInput{Hostname: h, IP: "127.0.0.1", Port: closed, Transport: "http", Site: "hq", OSName: "Windows Server 2022",
			AllowUnencrypted: &allow}
	}
	if _, err := f.eng.Do(context.Background(), cliAdmin, engine.ImportDevices{Source: "test", Devices: in}); err != nil {
		t.Fatalf("import: %v", err)
	}
}

func (f *fixture) setUsers(us ...sshserve.User) { f.users.Store(&us) }

func (f *fixture) config(t *testing.T) sshserve.Config {
	return sshserve.Config{
		Addr:        "127.0.0.1:0",
		HostKeyPath: filepath.Join(t.TempDir(), "keys", "ssh_host_ed25519_key"),
		Users:       func() []sshserve.User { return *f.users.Load() },
		Engine:      f.eng,
		ExportsDir:  f.exports,
		ConsoleOptions: func(engine.Identity) ui.Options {
			return ui.Options{Title: "Contoso MSP", Theme: "ascii"}
		},
		Logger: slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// start runs the server with cfg; Cleanup shuts it down.
func (f *fixture) start(t *testing.T, cfg sshserve.Config) {
	t.Helper()
	srv, err := sshserve.New(cfg)
	if err != nil {
		t.Fatalf("sshserve.New: %v", err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.addr, f.served = srv, ln.Addr().String(), make(chan error, 1)
	go func() { f.served <- srv.Serve(ln) }()
	t.Cleanup(func() { f.shutdown(t) })
}

// shutdown stops the server and checks Serve returned ErrServerClosed.
func (f *fixture) shutdown(t *testing.T) {
	t.Helper()
	if f.stopped {
		return
	}
	f.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-f.served:
		if !errors.Is(err, sshserve.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(waitLong):
		t.Error("Serve did not return after Shutdown")
	}
}

// dial logs in as user with k, pinning the server's host key.
func (f *fixture) dial(user string, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	want := f.srv.HostKeyFingerprint()
	return gossh.Dial("tcp", f.addr, &gossh.ClientConfig{
		User: user,
		Auth: auth,
		HostKeyCallback: func(_ string, _ net.Addr, k gossh.PublicKey) error {
			if got := gossh.FingerprintSHA256(k); got != want {
				return fmt.Errorf("host key %s, want %s", got, want)
			}
			return nil
		},
		Timeout: waitLong,
	})
}

func (f *fixture) login(t *testing.T, user string, k key) *gossh.Client {
	t.Helper()
	c, err := f.dial(user, gossh.PublicKeys(k.signer))
	if err != nil {
		t.Fatalf("login as %s: %v", user, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// term is one SSH session as the client sees it.
type term struct {
	sess *gossh.Session
	in   interface{ Write([]byte) (int, error) }
	out  *syncBuffer
	done chan error
}

// open starts a shell session, with a 120x40 PTY when pty is set.
func open(t *testing.T, c *gossh.Client, pty bool) *term {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	tm := &term{sess: sess, out: &syncBuffer{}, done: make(chan error, 1)}
	sess.Stdout, sess.Stderr = tm.out, tm.out
	in, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	tm.in = in
	if pty {
		if err := sess.RequestPty("xterm-256color", 40, 120, gossh.TerminalModes{}); err != nil {
			t.Fatalf("request pty: %v", err)
		}
	}
	if err := sess.Shell(); err != nil {
		t.Fatalf("shell: %v", err)
	}
	go func() { tm.done <- sess.Wait() }()
	return tm
}

// waitFor waits until the session's output has shown every one of want.
func (tm *term) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		out := tm.out.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session output lacks %q; got:\n%q", missing, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// end waits for the session to end and returns its exit status.
func (tm *term) end(t *testing.T) int {
	t.Helper()
	select {
	case err := <-tm.done:
		var ee *gossh.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitStatus()
		}
		t.Fatalf("session ended with %v", err)
	case <-time.After(waitLong):
		t.Fatalf("session did not end; output:\n%q", tm.out.String())
	}
	return -1
}

// sessionRows are the session.open and session.close audit rows of user.
func (f *fixture) sessionRows(t *testing.T, user string) (opens, closes []store.AuditEntry) {
	t.Helper()
	rows, err := f.db.ListAudit(context.Background(), store.AuditFilter{User: user})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		switch r.Action {
		case "session.open":
			opens = append(opens, r)
		case "session.close":
			closes = append(closes, r)
		}
	}
	return opens, closes
}

// checkClosed checks user has exactly one session opened and closed from
// remote, with the role and the close reason.
func (f *fixture) checkClosed(t *testing.T, user, role, remote, reason string) {
	t.Helper()
	opens, closes := f.sessionRows(t, user)
	if len(opens) != 1 || len(closes) != 1 {
		t.Fatalf("%s: %d session.open and %d session.close rows, want 1 and 1", user, len(opens), len(closes))
	}
	for _, r := range []store.AuditEntry{opens[0], closes[0]} {
		if r.Via != "ssh" || r.Role != role || r.RemoteAddr != remote || r.Result != store.AuditSuccess {
			t.Errorf("%s %s: via %q role %q remote %q result %q; want ssh, %s, %s, success",
				user, r.Action, r.Via, r.Role, r.RemoteAddr, r.Result, role, remote)
		}
	}
	if got := fmt.Sprint(closes[0].Details["reason"]); got != reason {
		t.Errorf("%s: close reason %q, want %q", user, got, reason)
	}
	if got := fmt.Sprint(opens[0].Details["term"]); got != "xterm-256color" {
		t.Errorf("%s: open term %q, want xterm-256color", user, got)
	}
}

func TestAdminAndViewerShareTheLiveFleetAndAreAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, f.config(t))

	adminC := f.login(t, "alice", f.admin)
	viewerC := f.login(t, "victor", f.viewer)
	admin, viewer := open(t, adminC, true), open(t, viewerC, true)
	admin.waitFor(t, "Contoso MSP", "alice (Admin)", "WS-SSH-001", "WS-SSH-002")
	viewer.waitFor(t, "Contoso MSP", "victor (Viewer)", "WS-SSH-001", "WS-SSH-002")

	// One engine, a subscription each: a sweep's results reach both
	// consoles (the devices' ports refuse, so they go Offline).
	if _, err := f.eng.Sweep(context.Background()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	admin.waitFor(t, "Offline")
	viewer.waitFor(t, "Offline")

	for _, tm := range []*term{admin, viewer} {
		if _, err := tm.in.Write([]byte("q")); err != nil {
			t.Fatal(err)
		}
		if code := tm.end(t); code != 0 {
			t.Errorf("exit status %d after q, want 0", code)
		}
	}
	f.checkClosed(t, "alice", "Admin", adminC.LocalAddr().String(), "quit")
	f.checkClosed(t, "victor", "Viewer", viewerC.LocalAddr().String(), "quit")
	opens, _ := f.sessionRows(t, "alice")
	if !strings.HasPrefix(fmt.Sprint(opens[0].Details), "map[") || strings.Contains(fmt.Sprint(opens[0].Details), "AAAA") {
		t.Errorf("open details %v carry key material", opens[0].Details)
	}
	if log := f.log.String(); !strings.Contains(log, gossh.FingerprintSHA256(f.admin.pub)) {
		t.Errorf("log does not name alice's key fingerprint:\n%s", log)
	}
}

// reasonOf is the refusal reason a test expects in the audit row: the
// logged text, or "unknown key" when the log names only the fingerprint.
func reasonOf(logged, fp string) string {
	if logged == fp {
		return "unknown key"
	}
	return logged
}

func TestLoginsThatAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, f.config(t))
	stranger := newKey(t)
	tests := []struct {
		name   string
		user   string
		auth   gossh.AuthMethod
		logged string          // a line of the log must hold this
		key    gossh.PublicKey // the key an audited refusal names; nil: nothing to audit (the server offers no such method)
	}{
		{"an unknown key", "alice", gossh.PublicKeys(stranger.signer), gossh.FingerprintSHA256(stranger.pub), stranger.pub},
		{"a known key under another user's name", "alice", gossh.PublicKeys(f.viewer.signer), "log in as victor", f.viewer.pub},
		{"a key under a name nobody has", "mallory", gossh.PublicKeys(f.admin.signer), "log in as alice", f.admin.pub},
		{"a password", "alice", gossh.Password("hunter2"), "", nil},
		{"keyboard-interactive", "alice", gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
			return []string{"hunter2"}, nil
		}), "", nil},
	}
	refusals := func(t *testing.T) []store.AuditEntry {
		rows, err := f.db.ListAudit(context.Background(), store.AuditFilter{Action: "session.login"})
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(refusals(t))
			defer func() {
				rows := refusals(t)
				added := len(rows) - before
				if tt.key == nil {
					if added != 0 {
						t.Errorf("%d session.login rows for a method the server does not offer", added)
					}
					return
				}
				if added != 1 {
					t.Fatalf("%d session.login rows, want one per refused key (the library asks twice)", added)
				}
				r := rows[len(rows)-1]
				fp := gossh.FingerprintSHA256(tt.key)
				if r.Result != store.AuditDenied || r.User != tt.user || r.Role != "None" || r.Via != "ssh" ||
					!strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") || r.Details["fingerprint"] != fp ||
					!strings.Contains(fmt.Sprint(r.Details["reason"]), reasonOf(tt.logged, fp)) {
					t.Errorf("refusal row %+v; want denied, user %s, no role, ssh from 127.0.0.1, key %s", r, tt.user, fp)
				}
			}()
			c, err := f.dial(tt.user, tt.auth)
			if err == nil {
				_ = c.Close()
				t.Fatal("login succeeded")
			}
			if !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("error %v, want an authentication failure", err)
			}
			if tt.logged == "" {
				return
			}
			log := f.log.String()
			found := false
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, "ssh login refused") && strings.Contains(line, tt.logged) &&
					strings.Contains(line, "remote=127.0.0.1:") && strings.Contains(line, "user="+tt.user) {
					found = true
				}
			}
			if !found {
				t.Errorf("no refusal line naming %q, the user and the client address:\n%s", tt.logged, log)
			}
		})
	}
	if log := f.log.String(); strings.Contains(log, "hunter2") {
		t.Errorf("the log holds a password:\n%s", log)
	}
}

func TestSessionWithoutPTYGetsAMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, f.config(t))
	tm := open(t, f.login(t, "alice", f.admin), false)
	tm.waitFor(t, "rmm: the console needs a terminal; connect with ssh -t")
	if code := tm.end(t); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if opens, _ := f.sessionRows(t, "alice"); len(opens) != 0 {
		t.Errorf("%d session.open rows for a refused session, want 0", len(opens))
	}
}

func TestSessionsOverTheLimitGetAMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config(t)
	cfg.MaxSessions = 1
	f.start(t, cfg)
	first := open(t, f.login(t, "alice", f.admin), true)
	first.waitFor(t, "alice (Admin)")

	second := open(t, f.login(t, "victor", f.viewer), true)
	second.waitFor(t, "rmm: too many sessions (max 1); try again later")
	if code := second.end(t); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}

	// The slot is free again once the first quits.
	_, _ = first.in.Write([]byte("q"))
	first.end(t)
	third := open(t, f.login(t, "victor", f.viewer), true)
	third.waitFor(t, "victor (Viewer)")
	_, _ = third.in.Write([]byte("q"))
	third.end(t)
}

func TestIdleSessionIsClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config(t)
	cfg.IdleTimeout = 500 * time.Millisecond
	f.start(t, cfg)
	c := f.login(t, "alice", f.admin)
	tm := open(t, c, true)
	tm.waitFor(t, "rmm: session closed after 500ms without input")
	tm.end(t)
	f.checkClosed(t, "alice", "Admin", c.LocalAddr().String(), "idle timeout")
}

// Not parallel: it counts the process's goroutines, so it runs while the
// parallel tests wait.
func TestShutdownEndsSessionsWithAMessageAndLeavesNoGoroutines(t *testing.T) {
	f := newFixture(t)
	before := runtime.NumGoroutine()
	f.start(t, f.config(t))
	c := f.login(t, "alice", f.admin)
	tm := open(t, c, true)
	tm.waitFor(t, "alice (Admin)", "WS-SSH-001")
	idle := f.login(t, "victor", f.viewer) // a connection with no session

	f.shutdown(t)
	tm.waitFor(t, "rmm: server shutting down")
	tm.end(t)
	f.checkClosed(t, "alice", "Admin", c.LocalAddr().String(), "server shutdown")
	if _, _, err := idle.SendRequest("keepalive@openssh.com", true, nil); err == nil {
		t.Error("a connection without a session is still open after Shutdown")
	}
	if _, err := f.dial("alice", gossh.PublicKeys(f.admin.signer)); err == nil {
		t.Error("a login succeeded after Shutdown")
	}
	_ = c.Close()
	_ = idle.Close()

	deadline := time.Now().Add(waitLong)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Shutdown, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHostKeyIsCreatedPrivateAndReused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config(t)
	first, err := sshserve.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(cfg.HostKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.Stat(filepath.Dir(cfg.HostKeyPath))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("host key mode %04o, want 0600", got)
		}
		if got := dir.Mode().Perm(); got != 0o700 {
			t.Errorf("host key directory mode %04o, want 0700", got)
		}
	}
	if fp := first.HostKeyFingerprint(); !strings.HasPrefix(fp, "SHA256:") {
		t.Errorf("fingerprint %q", fp)
	}
	second, err := sshserve.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := first.HostKeyFingerprint(), second.HostKeyFingerprint(); a != b {
		t.Errorf("second start has host key %s, first had %s", b, a)
	}
	if !strings.Contains(f.log.String(), "ssh host key generated") {
		t.Error("the first start did not log the new host key")
	}

	if runtime.GOOS != "windows" {
		if err := os.Chmod(cfg.HostKeyPath, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := sshserve.New(cfg); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("a world-readable host key gave %v, want a refusal", err)
		}
	}
}

func TestRemovedUserCannotLogInOrOpenASession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, f.config(t))
	c := f.login(t, "victor", f.viewer) // logged in before the reload
	before := open(t, c, true)
	before.waitFor(t, "victor (Viewer)")

	// A config reload drops victor.
	f.setUsers((*f.users.Load())[0])

	if _, err := f.dial("victor", gossh.PublicKeys(f.viewer.signer)); err == nil {
		t.Fatal("a removed user logged in")
	}
	// The connection made before the reload cannot open another session.
	after := open(t, c, true)
	after.waitFor(t, "rmm: access denied")
	if code := after.end(t); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(f.log.String(), "reason=\"unknown key\"") {
		t.Errorf("the log does not say why:\n%s", f.log.String())
	}
	_, _ = before.in.Write([]byte("q"))
	before.end(t)
	// alice, still configured, is unaffected.
	tm := open(t, f.login(t, "alice", f.admin), true)
	tm.waitFor(t, "alice (Admin)")
	_, _ = tm.in.Write([]byte("q"))
	tm.end(t)
}

func TestCommandsAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, f.config(t))
	sess, err := f.login(t, "alice", f.admin).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput("cat /etc/passwd")
	var ee *gossh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 1 {
		t.Errorf("exit %v, want status 1", err)
	}
	if !strings.Contains(string(out), "only runs the console") {
		t.Errorf("output %q", out)
	}
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := f.config(t)
	tests := []struct {
		name string
		mod  func(*sshserve.Config)
		want string
	}{
		{"no users func", func(c *sshserve.Config) { c.Users = nil }, "Users is required"},
		{"no engine", func(c *sshserve.Config) { c.Engine = nil }, "Engine is required"},
		{"no host key path", func(c *sshserve.Config) { c.HostKeyPath = "" }, "HostKeyPath is required"},
		{"a negative idle timeout", func(c *sshserve.Config) { c.IdleTimeout = -time.Second }, "negative"},
		{"a negative session limit", func(c *sshserve.Config) { c.MaxSessions = -1 }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			if _, err := sshserve.New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// A listener beyond loopback is logged as the explicit choice it is. The
// test never binds every interface (tests stay on loopback): it serves
// on a loopback listener that reports the address 0.0.0.0, which is what
// the server looks at.
func TestListeningBeyondLoopbackIsLogged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ip   net.IP
		warn bool
	}{
		{net.IPv4zero, true},
		{net.IPv6unspecified, true},
		{net.ParseIP("192.0.2.10"), true},
		{net.IPv4(127, 0, 0, 1), false},
		{net.IPv6loopback, false},
	} {
		t.Run(tc.ip.String(), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			srv, err := sshserve.New(f.config(t))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := srv.Listen() // the config's loopback address
			if err != nil {
				t.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			f.srv, f.addr, f.served = srv, ln.Addr().String(), make(chan error, 1)
			go func() { f.served <- srv.Serve(reportedAs{ln, &net.TCPAddr{IP: tc.ip, Port: port}}) }()
			t.Cleanup(func() { f.shutdown(t) })
			// Once a login works, Serve has logged what it logs at start.
			c := f.login(t, "alice", f.admin)
			_ = c.Close()
			if got := strings.Contains(f.log.String(), "beyond loopback"); got != tc.warn {
				t.Errorf("serving on %s: warning logged %v, want %v:\n%s", tc.ip, got, tc.warn, f.log.String())
			}
		})
	}
}

// reportedAs is a listener that reports another address than its own.
type reportedAs struct {
	net.Listener
	addr net.Addr
}

func (r reportedAs) Addr() net.Addr { return r.addr }
