package sshserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2/bubbletea"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/themes"
	"github.com/rmmhq/rmm/ui"
)

// Why a console ended, as the cause of its context.
var (
	errQuit     = errors.New("quit")
	errIdle     = errors.New("idle timeout")
	errShutdown = errors.New("server shutdown")
)

// msgShutdown is the last line a session sees when the server stops.
const msgShutdown = "rmm: server shutting down"

// The terminal size assumed when the client's PTY says 0x0.
const (
	defaultWidth  = 80
	defaultHeight = 24
)

// liveSession is a running console, ended by Shutdown through end.
type liveSession struct {
	end context.CancelCauseFunc
}

// sessionClient is the engine as one session's console sees it: the reads
// of ui.Client, and Do bound to the session's identity (it hides the
// engine's Do), so nothing the console sends can carry another identity.
type sessionClient struct {
	Engine
	id engine.Identity
}

// Do runs r as the session's user, through the engine's authorization and
// audit.
func (c sessionClient) Do(ctx context.Context, r engine.Request) (any, error) {
	return c.Engine.Do(ctx, c.id, r)
}

// handle serves one SSH session: checks, then the console, then the audit
// of its end.
func (s *Server) handle(sess ssh.Session) {
	if !s.enter() {
		s.refuse(sess, msgShutdown, "server shutting down", nil)
		return
	}
	defer s.handlers.Done()

	remote := addrString(sess.RemoteAddr())
	id, err := s.identify(sess)
	if err != nil {
		s.refuse(sess, "rmm: access denied", err.Error(), []any{"user", clean(sess.User()), "remote", remote})
		return
	}
	who := []any{"user", id.User, "role", id.Role.String(), "remote", remote, "key", id.KeyFP}
	if sess.RawCommand() != "" {
		s.refuse(sess, "rmm: this server only runs the console; connect without a command", "command requested", who)
		return
	}
	pty, winch, ok := sess.Pty()
	if !ok {
		s.refuse(sess, "rmm: the console needs a terminal; connect with ssh -t", "no PTY", who)
		return
	}

	ctx, end := context.WithCancelCause(sess.Context())
	defer end(nil)
	ctx = withIdentity(ctx, id)
	ls := &liveSession{end: end}
	if msg, reason := s.claim(ls); msg != "" {
		s.refuse(sess, msg, reason, who)
		return
	}
	defer s.release(ls)

	term := clean(pty.Term)
	if _, err := s.cfg.Engine.Do(ctx, id, engine.OpenSession{Term: term}); err != nil {
		s.refuse(sess, "rmm: session refused: "+err.Error(), "session.open failed: "+err.Error(), who)
		return
	}
	start := time.Now()
	s.log.Info("ssh session opened", append(who, "term", term)...)

	reason := s.console(ctx, end, sess, id, pty, winch)

	switch reason {
	case errShutdown.Error():
		s.say(sess, msgShutdown)
	case errIdle.Error():
		s.say(sess, fmt.Sprintf("rmm: session closed after %s without input", s.cfg.IdleTimeout))
	}
	if _, err := s.cfg.Engine.Do(context.WithoutCancel(ctx), id, engine.CloseSession{Reason: reason}); err != nil {
		s.log.Error("ssh session close not recorded", append(who, "err", err.Error())...)
	}
	s.log.Info("ssh session closed", append(who, "reason", reason, "duration", time.Since(start).Round(time.Second).String())...)
	// The slot is free before the client learns the session ended, so a
	// user who quits and reconnects at once is not refused as one too many.
	s.release(ls)
	// Exit here, not in the SSH library after handle returns: Shutdown
	// closes the connections once every handler returned, and the client
	// must have its exit status by then.
	_ = sess.Exit(0)
}

// console runs the session's own console until the user quits, the client
// goes, the session idles out or the server shuts down; it returns why.
// Its helper goroutines end before it returns.
func (s *Server) console(ctx context.Context, end context.CancelCauseFunc, sess ssh.Session, id engine.Identity, pty ssh.Pty, winch <-chan ssh.Window) string {
	model := ui.New(sessionClient{Engine: s.cfg.Engine, id: id}, s.consoleOptions(id, sess))
	defer model.Close()

	in := &inputReader{r: sess}
	in.touch()
	opts := append(bubbletea.MakeOptions(sess),
		tea.WithInput(in),          // counts keystrokes for the idle timeout
		tea.WithContext(ctx),       // ended by Shutdown, idle, disconnect
		tea.WithoutSignalHandler(), // the server's signals are not the session's
	)
	if w := pty.Window; w.Width <= 0 || w.Height <= 0 {
		// Some clients (ssh -tt without a terminal) say 0x0: draw for the
		// classic terminal rather than nothing.
		opts = append(opts, tea.WithWindowSize(defaultWidth, defaultHeight))
	}
	prog := tea.NewProgram(model, opts...)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		forwardResizes(ctx, prog, winch)
	}()
	go func() {
		defer wg.Done()
		watchIdle(ctx, end, in.quiet, s.cfg.IdleTimeout, time.After)
	}()
	_, err := prog.Run()
	if err != nil && ctx.Err() == nil {
		end(fmt.Errorf("console: %w", err))
	}
	end(errQuit) // no-op when the context already ended, keeping its cause
	wg.Wait()

	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errQuit), errors.Is(cause, errIdle), errors.Is(cause, errShutdown):
		return cause.Error()
	case errors.Is(cause, context.Canceled):
		return "disconnected"
	}
	return cause.Error()
}

// consoleOptions are the session's console options: the configured ones,
// the identity in the header, the client's locale and NO_COLOR.
func (s *Server) consoleOptions(id engine.Identity, sess ssh.Session) ui.Options {
	var opts ui.Options
	if s.cfg.ConsoleOptions != nil {
		opts = s.cfg.ConsoleOptions(id)
	}
	opts.User, opts.Role = id.User, id.Role.String()
	opts.ExportFetch = ""
	if s.cfg.ExportsDir != "" {
		opts.ExportFetch = fetchCommand(id.User, sess.LocalAddr())
	}
	env := sessionEnv(sess.Environ())
	if opts.Theme == "" {
		opts.Theme = themes.AutoName(env)
	}
	if themes.NoColor(env) {
		opts.NoColor = true
	}
	return opts
}

// fetchCommand is the scp command, up to the file name, that fetches an
// export of user from the address the client reached the server on.
func fetchCommand(user string, local net.Addr) string {
	host, port := "HOST", "PORT"
	if tcp, ok := local.(*net.TCPAddr); ok {
		host, port = tcp.IP.String(), strconv.Itoa(tcp.Port)
		if tcp.IP.To4() == nil {
			host = "[" + host + "]"
		}
	}
	return "scp -O -P " + port + " " + user + "@" + host + ":"
}

// sessionEnv looks up the variables the client sent (SendEnv).
func sessionEnv(environ []string) func(string) string {
	return func(key string) string {
		v := ""
		for _, kv := range environ {
			if k, val, ok := strings.Cut(kv, "="); ok && k == key {
				v = val // the last one wins, like a shell
			}
		}
		return v
	}
}

// enter admits a session handler unless Shutdown began; the handler calls
// s.handlers.Done when it returns.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.handlers.Add(1)
	return true
}

// claim takes a console slot, or says why not.
func (s *Server) claim(ls *liveSession) (msg, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return msgShutdown, "server shutting down"
	case len(s.live) >= s.cfg.MaxSessions:
		return fmt.Sprintf("rmm: too many sessions (max %d); try again later", s.cfg.MaxSessions), "too many sessions"
	}
	s.live[ls] = struct{}{}
	return "", ""
}

// release gives a console slot back; releasing it twice is harmless.
func (s *Server) release(ls *liveSession) {
	s.mu.Lock()
	delete(s.live, ls)
	s.mu.Unlock()
}

// refuse ends a session that gets no console with a one-line message and
// exit status 1, and logs why.
func (s *Server) refuse(sess ssh.Session, msg, reason string, who []any) {
	s.log.Warn("ssh session refused", append(who, "reason", reason)...)
	s.say(sess, msg)
	_ = sess.Exit(1)
}

// say writes one line to the client's terminal (stderr, as ssh does for
// errors). With a PTY the library turns "\n" into "\r\n".
func (s *Server) say(sess ssh.Session, msg string) {
	_, _ = io.WriteString(sess.Stderr(), msg+"\n")
}

// forwardResizes passes the client's window changes to the console.
func forwardResizes(ctx context.Context, prog *tea.Program, winch <-chan ssh.Window) {
	for {
		select {
		case <-ctx.Done():
			return
		case w, ok := <-winch:
			if !ok {
				return
			}
			if w.Width > 0 && w.Height > 0 {
				prog.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
			}
		}
	}
}

// watchIdle ends the session after idle without input. The console
// redraws on its own (the clock, live data), so output says nothing about
// whether someone is there; only input does. quiet is how long the input
// has been quiet; after waits (time.After, a fake clock in tests).
func watchIdle(ctx context.Context, end context.CancelCauseFunc, quiet func() time.Duration, idle time.Duration,
	after func(time.Duration) <-chan time.Time) {
	wait := idle
	for {
		select {
		case <-ctx.Done():
			return
		case <-after(wait):
			q := quiet()
			if q >= idle {
				end(errIdle)
				return
			}
			wait = idle - q
		}
	}
}

// inputReader is the session's input, noting when it last had any.
type inputReader struct {
	r    io.Reader
	last atomic.Int64 // unix nanoseconds
}

func (in *inputReader) Read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	if n > 0 {
		in.touch()
	}
	return n, err
}

func (in *inputReader) touch() { in.last.Store(time.Now().UnixNano()) }

func (in *inputReader) quiet() time.Duration {
	return time.Since(time.Unix(0, in.last.Load()))
}
