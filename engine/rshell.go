package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Interactive remote PowerShell (the console's PowerShell pane). Each open
// session is a winrm.Session: a dedicated WinRM shell on the host with the
// resident PowerShell loop running in it, the same Create, Command, Send
// and Receive as a warm poll, but a shell of its own, never shared with
// polling and not counted against the pool's shells of the host. This
// file keeps the sessions' owners, idle timers and interrupts.
// Each line the user types is one loop request in the loop's session
// runspace (loop v3), so variables, functions and the current location
// carry over from one line to the next, as in Enter-PSSession, until the
// shell is replaced (ctrl+c, a failure, the host's reboot):
// ShellOutput.SessionLines says when that happened. A host that cannot
// run the loop runs each line as a powershell.exe of its own, where
// nothing carries over (ShellOutput.Mode ModeCold).
//
// ctrl+c (ShellInterrupt) cancels the line: the loop command is signalled
// to terminate and the shell deleted; the next line starts a new shell.
// Sessions end on CloseShell, after DefaultShellIdle without a line, and
// when the engine closes (every shell deleted on its host).

// Remote shell limits.
const (
	DefaultShellIdle = 10 * time.Minute // a session with no line for this long is closed
	MaxShellsPerHost = 3                // interactive sessions on one host at once (Windows allows 30 shells per user)
	maxShells        = 100              // interactive sessions in one engine
	shellLineMax     = time.Hour        // one line runs at most this long
)

// ErrShellInterrupted is the error of a line stopped by ShellInterrupt (or
// by closing its session while it ran).
var ErrShellInterrupted = errors.New("interrupted")

// ErrNoShell is the error for a session that does not exist (any more):
// closed, expired after DefaultShellIdle, or another user's.
var ErrNoShell = errors.New("no such remote shell session")

// ShellInfo describes an open remote shell session; OpenShell returns it.
type ShellInfo struct {
	SessionID string        `json:"session_id"`
	DeviceID  int64         `json:"device_id"`
	Host      string        `json:"host"`
	OpenedAt  time.Time     `json:"opened_at"`
	Idle      time.Duration `json:"idle_ns"` // the session closes after this long without a line
}

// ShellOutput is what one line produced; ShellRun returns it.
type ShellOutput struct {
	Output   string        `json:"output"`             // stdout as PowerShell formats it (Out-String), CRLF line ends
	Info     []string      `json:"info,omitempty"`     // Write-Host and Write-Information text (in Output when the line ran cold)
	Warnings []string      `json:"warnings,omitempty"` // Write-Warning messages
	Errors   []string      `json:"errors"`             // the error records' messages
	Exit     int           `json:"exit"`               // the line's exit N, else 1 when it wrote errors
	Duration time.Duration `json:"duration"`           // as the engine measured it
	Mode     string        `json:"mode"`               // ModeWarm (the resident loop) or ModeCold (a powershell.exe per line)
	// SessionLines is how many lines the session's PowerShell runspace
	// has run, this one included: 1 means a new runspace (the variables
	// and location of earlier lines are gone). 0 when the line ran cold.
	SessionLines int `json:"session_lines"`
}

// shellBook holds the engine's remote shell sessions. Its zero value is
// ready; closeShells ends it.
type shellBook struct {
	mu       sync.Mutex
	sessions map[string]*rshell
	closed   bool
	idle     time.Duration  // 0: DefaultShellIdle (tests shorten it)
	running  sync.WaitGroup // lines running and sessions being closed
}

// rshell is one session. Its fields after sess are guarded by the book's
// mu.
type rshell struct {
	id       string
	owner    Identity
	deviceID int64
	host     string
	opened   time.Time
	sess     *winrm.Session // the shell on the host

	busy        bool
	cancel      context.CancelFunc // the running line's
	running     int64              // the running line's ShellRun.Seq
	interrupted bool
	stopBefore  int64 // lines numbered up to this were interrupted (ShellInterrupt.Seq)
	gone        bool  // removed from the book
	lastUsed    time.Time
	timer       *time.Timer // idle expiry
}

func (b *shellBook) idleTime() time.Duration {
	if b.idle > 0 {
		return b.idle
	}
	return DefaultShellIdle
}

// newShellID returns a session id: 16 random hex digits, "@", the host.
func newShellID(host string) string {
	var r [8]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(r[:]) + "@" + host
}

// shellHost is the host part of a session id, for audit rows.
func shellHost(sessionID string) string {
	if i := strings.LastIndexByte(sessionID, '@'); i >= 0 {
		return sessionID[i+1:]
	}
	return sessionID
}

// sameCaller reports whether id may use a session opened by owner: the
// same user through the same front end and connection.
func sameCaller(owner, id Identity) bool {
	return owner.User == id.User && owner.Via == id.Via && owner.RemoteAddr == id.RemoteAddr
}

// openShell opens a session on a device.
func (e *Engine) openShell(ctx context.Context, id Identity, deviceID int64, host string) (ShellInfo, error) {
	d, err := e.shellDevice(deviceID, host)
	if err != nil {
		return ShellInfo{}, err
	}
	b := &e.shells
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return ShellInfo{}, fmt.Errorf("open shell on %s: %w", d.Hostname, winrm.ErrClosed)
	case len(b.sessions) >= maxShells:
		b.mu.Unlock()
		return ShellInfo{}, fmt.Errorf("open shell on %s: %d remote shells are open, the most one engine keeps", d.Hostname, maxShells)
	}
	n := 0
	for _, s := range b.sessions {
		if s.deviceID == d.ID {
			n++
		}
	}
	b.mu.Unlock()
	if n >= MaxShellsPerHost {
		return ShellInfo{}, fmt.Errorf("open shell on %s: %d remote shells are open there, the most rmm opens on one host", d.Hostname, MaxShellsPerHost)
	}

	if err := e.refuseWrongHost(d, "open shell"); err != nil {
		return ShellInfo{}, err
	}
	o := e.options()
	if err := e.relayedError(d); err != nil {
		return ShellInfo{}, err // a relayed site's pane is not served over the relay yet
	}
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cred, err := e.credentialFor(cctx, o, d)
	if err != nil {
		return ShellInfo{}, err
	}
	// The device's transport policy applies as to polling: TLS verified
	// with its CA bundle, Basic over plain HTTP refused unless allowed.
	// The shell and its loop start now, so an unreachable host says so at
	// once and the first line is warm.
	sess, err := e.winrm.OpenSession(cctx, e.target(d), cred)
	if err != nil {
		return ShellInfo{}, err
	}
	s := &rshell{id: newShellID(d.Hostname), owner: id, deviceID: d.ID, host: d.Hostname, opened: time.Now().UTC(), sess: sess}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		sess.Close()
		return ShellInfo{}, fmt.Errorf("open shell on %s: %w", d.Hostname, winrm.ErrClosed)
	}
	if b.sessions == nil {
		b.sessions = make(map[string]*rshell)
	}
	b.sessions[s.id] = s
	s.lastUsed = time.Now()
	idle := b.idleTime()
	s.timer = time.AfterFunc(idle, func() { e.expireShell(s) })
	b.mu.Unlock()
	e.log.Info("remote shell opened", "device", d.Hostname, "user", id.User, "via", string(id.Via))
	return ShellInfo{SessionID: s.id, DeviceID: d.ID, Host: d.Hostname, OpenedAt: s.opened, Idle: idle}, nil
}

// shellDevice finds the device by id, else by hostname; both given must
// agree.
func (e *Engine) shellDevice(id int64, host string) (store.Device, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if id != 0 {
		en, ok := e.devices[id]
		if !ok {
			return store.Device{}, fmt.Errorf("open shell: device %d not found", id)
		}
		if host != "" && !strings.EqualFold(host, en.dev.Hostname) {
			return store.Device{}, fmt.Errorf("open shell: device %d is %s, not %s", id, en.dev.Hostname, host)
		}
		return en.dev, nil
	}
	for _, en := range e.devices {
		if strings.EqualFold(en.dev.Hostname, host) {
			return en.dev, nil
		}
	}
	return store.Device{}, fmt.Errorf("open shell: device %q not found", host)
}

// session returns the caller's session.
func (b *shellBook) sessionLocked(sessionID string, id Identity) (*rshell, error) {
	s, ok := b.sessions[sessionID]
	if !ok || !sameCaller(s.owner, id) {
		return nil, fmt.Errorf("%s: %w", shellHost(sessionID), ErrNoShell)
	}
	return s, nil
}

// shellRun runs one line in a session.
func (e *Engine) shellRun(ctx context.Context, id Identity, sessionID, line string, seq int64, width int) (ShellOutput, error) {
	b := &e.shells
	b.mu.Lock()
	s, err := b.sessionLocked(sessionID, id)
	if err != nil {
		b.mu.Unlock()
		return ShellOutput{}, err
	}
	if seq > 0 && seq <= s.stopBefore {
		// ctrl+c came first: the line never runs.
		b.mu.Unlock()
		return ShellOutput{}, fmt.Errorf("%s: %w", s.host, ErrShellInterrupted)
	}
	if s.busy {
		b.mu.Unlock()
		return ShellOutput{}, fmt.Errorf("%s: a command is still running in this shell (ctrl+c interrupts it)", s.host)
	}
	rctx, cancel := context.WithTimeout(ctx, shellLineMax)
	defer cancel()
	s.busy, s.cancel, s.running, s.interrupted = true, cancel, seq, false
	s.timer.Stop()
	b.running.Add(1)
	b.mu.Unlock()
	defer b.running.Done()

	// Interrupted, failed or closed meanwhile, the session terminates what
	// runs and deletes the shell; the next line starts a new one.
	start := time.Now()
	if width > 0 {
		s.sess.SetWidth(width)
	}
	res, err := s.sess.Run(rctx, winrm.NewScript("shell", line))

	b.mu.Lock()
	interrupted := s.interrupted
	s.busy, s.cancel = false, nil
	s.lastUsed = time.Now()
	if !s.gone {
		s.timer.Reset(b.idleTime())
	}
	b.mu.Unlock()
	switch {
	case interrupted:
		return ShellOutput{}, fmt.Errorf("%s: %w", s.host, ErrShellInterrupted)
	case err != nil:
		return ShellOutput{}, err
	}
	return ShellOutput{Output: string(res.Stdout), Info: res.Info, Warnings: res.Warnings, Errors: res.Errors, Exit: res.Exit,
		Mode: res.Mode, Duration: time.Since(start), SessionLines: res.SessionLines}, nil
}

// shellInterrupt stops the line running in a session, if any, and with
// seq every line numbered up to seq that has not started yet.
func (e *Engine) shellInterrupt(id Identity, sessionID string, seq int64) error {
	b := &e.shells
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.sessionLocked(sessionID, id)
	if err != nil {
		return err
	}
	s.stopBefore = max(s.stopBefore, seq)
	if s.busy && s.cancel != nil && (seq == 0 || s.running <= seq) {
		s.interrupted = true
		s.cancel()
	}
	return nil
}

// closeShell ends a session: a running line is interrupted, the shell
// deleted.
func (e *Engine) closeShell(id Identity, sessionID string) error {
	b := &e.shells
	b.mu.Lock()
	s, err := b.sessionLocked(sessionID, id)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	b.removeLocked(s)
	b.mu.Unlock()
	s.sess.Close()
	return nil
}

// removeLocked takes a session out of the book and interrupts its
// running line, if any; the caller closes the session (its shell is
// deleted now, or when the running line ends). b.mu must be held.
func (b *shellBook) removeLocked(s *rshell) {
	delete(b.sessions, s.id)
	s.gone = true
	s.timer.Stop()
	if s.busy {
		s.interrupted = true
		s.cancel()
	}
}

// expireShell closes a session idle for longer than the idle time.
func (e *Engine) expireShell(s *rshell) {
	b := &e.shells
	b.mu.Lock()
	if b.closed || s.gone || s.busy || time.Since(s.lastUsed) < b.idleTime() {
		b.mu.Unlock()
		return
	}
	b.running.Add(1)
	b.removeLocked(s)
	idle := b.idleTime()
	b.mu.Unlock()
	defer b.running.Done()
	s.sess.Close()
	e.log.Info("remote shell closed after idle time", "device", s.host, "user", s.owner.User, "idle", idle)
}

// closeShells ends every session and waits for their shells to be
// deleted: the engine is closing.
func (e *Engine) closeShells() {
	b := &e.shells
	b.mu.Lock()
	b.closed = true
	open := make([]*rshell, 0, len(b.sessions))
	for _, s := range b.sessions {
		b.removeLocked(s)
		open = append(open, s)
	}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range open {
		wg.Go(s.sess.Close)
	}
	wg.Wait()
	b.running.Wait() // lines interrupted above end, and their shells are deleted
}

// ShellSessions is how many remote shell sessions are open.
func (e *Engine) ShellSessions() int {
	e.shells.mu.Lock()
	defer e.shells.mu.Unlock()
	return len(e.shells.sessions)
}
