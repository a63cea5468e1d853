package winrm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Session is one WinRM shell kept for a single caller (the console's
// PowerShell pane): a shell of its own with the resident loop running in
// it, never shared with the pool and not counted against the pool's
// shells of its host. Each Run is one loop request in the loop's session
// runspace, so variables, functions and the location carry over from one
// Run to the next, until the shell is replaced (an interrupt, a failure,
// a reboot: Result.SessionLines is then 1 again). On a host where the
// loop cannot start, each Run is a powershell.exe of its own and nothing
// carries over (Result.SessionLines 0).
//
// Run is not for concurrent use: a second Run while one runs fails.
// Close may come at any time: a Run in progress is ended by its context,
// which its caller cancels, and the shell it used is deleted when it
// returns.
type Session struct {
	c    *Client
	ref  int64 // Target.Ref, for OnShellCreate
	host string
	ep   *endpoint // the listener, with the session's credential

	mu     sync.Mutex
	sh     *pooledShell // nil until the next Run creates one
	cold   bool         // the loop cannot start on this host: one powershell.exe per Run
	width  int          // the output's width in columns (SetWidth); 0: DefaultSessionWidth
	busy   bool
	closed bool
}

// sessionBook is the client's open sessions, so Close deletes their
// shells. Its zero value is ready.
type sessionBook struct {
	mu      sync.Mutex
	open    map[*Session]struct{}
	closed  bool
	working sync.WaitGroup // Runs in progress and shells being deleted
	seq     atomic.Uint64  // loop request ids
}

// ErrSessionClosed is the error of a Run on a closed session.
var ErrSessionClosed = errors.New("session closed")

// OpenSession creates a shell on the target and starts the resident loop
// in it, so an unreachable host says so at once and the first Run is
// warm. The target's transport policy applies as to Run, with any auth
// method.
func (c *Client) OpenSession(ctx context.Context, t Target, cred Credential) (*Session, error) {
	t = t.Prepare()
	dt, err := c.transportFor(ctx, t)
	if err != nil {
		return nil, err
	}
	var bufs *sync.Pool
	if c.pool != nil {
		bufs = &c.pool.bufs
	}
	s := &Session{c: c, ref: t.Ref, host: t.Host, ep: c.endpointFor(t, dt, cred, bufs), cold: t.NoLoop}
	b := &c.shell
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, fmt.Errorf("open shell on %s: %w", t.Host, ErrClosed)
	}
	b.working.Add(1)
	b.mu.Unlock()
	defer b.working.Done()
	sh, err := s.start(ctx)
	if err != nil {
		return nil, classed(t.Host, err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.deleteShell(sh)
		return nil, fmt.Errorf("open shell on %s: %w", t.Host, ErrClosed)
	}
	if b.open == nil {
		b.open = make(map[*Session]struct{})
	}
	b.open[s] = struct{}{}
	s.sh = sh
	b.mu.Unlock()
	return s, nil
}

// Run runs one script in the session's shell: through its loop, or as a
// powershell.exe of its own where the loop cannot start. A session whose
// shell was lost (the host rebooted or expired it) gets a new one, once.
// When Run fails, or ctx ends it, the shell is terminated and deleted;
// the next Run starts a new one.
func (s *Session) Run(ctx context.Context, sc *Script) (Result, error) {
	b := &s.c.shell
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return Result{}, fmt.Errorf("%s: %w", s.host, ErrSessionClosed)
	case s.busy:
		s.mu.Unlock()
		return Result{}, fmt.Errorf("%s: a command is still running in this shell", s.host)
	}
	s.busy = true
	sh := s.sh
	s.sh = nil
	b.working.Add(1)
	s.mu.Unlock()
	defer b.working.Done()

	sh, res, err := s.runLine(ctx, sh, sc)

	s.mu.Lock()
	s.busy = false
	if err == nil && !s.closed {
		s.sh, sh = sh, nil // kept for the next Run
	}
	s.mu.Unlock()
	if sh != nil {
		// Failed, cut short or closed meanwhile: terminate what runs and
		// delete the shell.
		s.deleteShell(sh)
	}
	if err != nil {
		return Result{}, classed(s.host, err)
	}
	return res, nil
}

// Close ends the session: its shell is deleted now, or, while a Run is in
// progress, when that Run returns.
func (s *Session) Close() {
	b := &s.c.shell
	b.mu.Lock()
	delete(b.open, s)
	b.working.Add(1)
	b.mu.Unlock()
	defer b.working.Done()
	s.mu.Lock()
	s.closed = true
	sh := s.sh
	s.sh = nil
	s.mu.Unlock()
	if sh != nil {
		s.deleteShell(sh)
	}
}

// start creates a shell on the session's host and starts the resident
// loop in it (unless the host cannot run it).
func (s *Session) start(ctx context.Context) (*pooledShell, error) {
	ref := ShellRef{Ref: s.ref, Host: s.host, Endpoint: s.ep.url}
	shellID, _, err := createRecorded(ctx, s.c.opts.OnShellCreate, ref, func() (string, string, error) { return s.ep.createShell(ctx) })
	if err != nil {
		return nil, failed("create shell", err)
	}
	ref.ShellID = shellID
	now := time.Now()
	sh := &pooledShell{ep: s.ep, ref: ref, shellID: shellID, created: now, lastUsed: now}
	s.mu.Lock()
	cold := s.cold
	s.mu.Unlock()
	if cold {
		return sh, nil
	}
	if err := sh.startLoop(ctx, s.c.loop); err != nil {
		s.deleteShell(sh)
		return nil, err
	}
	return sh, nil
}

// runLine runs a script on the shell, creating one when there is none. A
// shell the host forgot is replaced once. It returns the shell to keep or
// delete (nil when none is left).
func (s *Session) runLine(ctx context.Context, sh *pooledShell, sc *Script) (*pooledShell, Result, error) {
	for retried := false; ; retried = true {
		var err error
		if sh == nil {
			if sh, err = s.start(ctx); err != nil {
				return nil, Result{}, err
			}
		}
		res, err := s.runOn(ctx, sh, sc)
		if err == nil {
			if res.Errors == nil {
				res.Errors = []string{}
			}
			return sh, res, nil
		}
		if (isShellLost(err) || isOperationsQuota(err)) && !retried && ctx.Err() == nil {
			// The host forgot the shell, or counted too many Commands in
			// it (a cold session runs one per line): a new shell, once.
			if isShellLost(err) {
				sh.running = nil // nothing runs in a shell that is gone
			}
			s.deleteShell(sh)
			sh = nil
			continue
		}
		return sh, Result{}, err
	}
}

// DefaultSessionWidth is how wide a session's output is formatted when
// SetWidth was not called.
const DefaultSessionWidth = 120

// SetWidth sets how many columns wide the next lines' output is
// formatted (the pane's width), within 20..1000.
func (s *Session) SetWidth(cols int) {
	s.mu.Lock()
	s.width = min(max(cols, minSessionWidth), maxSessionWidth)
	s.mu.Unlock()
}

// runOn runs one script on the shell: through its loop, in the loop's
// session runspace (state carries over from line to line), or as a
// powershell.exe of its own where the loop cannot start.
func (s *Session) runOn(ctx context.Context, sh *pooledShell, sc *Script) (Result, error) {
	if sh.loop == nil {
		return sh.runCold(ctx, sc)
	}
	s.mu.Lock()
	width := cmp.Or(s.width, DefaultSessionWidth)
	s.mu.Unlock()
	res, err := sh.request(ctx, "s"+requestID(s.c.shell.seq.Add(1)), sc, sessionMode{width: width})
	if le, ok := isLoopExit(err); ok && !le.Ready {
		s.mu.Lock()
		s.cold = true
		s.mu.Unlock()
		return sh.runCold(ctx, sc)
	}
	return res, err
}

// deleteShell ends what runs in a shell and deletes it, bounded by the
// cleanup timeout whatever the caller's context.
func (s *Session) deleteShell(sh *pooledShell) {
	ctx, cancel := context.WithTimeout(context.Background(), min(5*time.Second, s.c.opts.Timeout))
	defer cancel()
	if w := sh.running; w != nil {
		_ = sh.ep.signalTerminate(ctx, sh.shellID, w.commandID)
	}
	// A shell the host forgot is gone anyway; one not deleted stays
	// recorded for the engine's next start.
	if err := sh.ep.deleteShell(ctx, sh.shellID); (err == nil || isShellLost(err)) && s.c.opts.OnShellClosed != nil {
		s.c.opts.OnShellClosed(sh.ref)
	}
}

// closeSessions closes every open session and waits until their shells
// are deleted: the client is closing.
func (c *Client) closeSessions() {
	b := &c.shell
	b.mu.Lock()
	b.closed = true
	open := make([]*Session, 0, len(b.open))
	for s := range b.open {
		open = append(open, s)
	}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range open {
		wg.Go(s.Close)
	}
	wg.Wait()
	b.working.Wait()
}
