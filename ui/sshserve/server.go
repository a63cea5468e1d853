package sshserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"charm.land/ssh"
	"charm.land/wish/v2"
	gossh "golang.org/x/crypto/ssh"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/ui"
)

// Defaults of Config.
const (
	DefaultAddr        = "127.0.0.1:2222"
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxSessions = 10

	// handshakeTimeout bounds a client that connects and never finishes
	// logging in.
	handshakeTimeout = 30 * time.Second
	// connIdleGrace is how much longer than IdleTimeout a connection with
	// no traffic at all is kept: the session's own idle timer ends a console
	// first, with a message; this only sweeps up connections with no session.
	connIdleGrace = time.Minute
)

// Engine is what the server needs of rmm's engine: what the console reads
// (ui.Client) and Do, through which a session's requests go with its
// identity. *engine.Engine satisfies it; one is shared by every session.
type Engine interface {
	ui.Client
	ui.AlertSource
	ui.HealthSource
	ui.ScheduleSource
	ui.PoolSource
	ui.InventorySource
	ui.PatchSource
	Do(ctx context.Context, id engine.Identity, r engine.Request) (any, error)
}

// Config configures a Server.
type Config struct {
	// Addr is where ListenAndServe listens; "" is DefaultAddr (loopback).
	// Listening beyond loopback is an explicit choice, logged as a warning.
	Addr string
	// HostKeyPath is the server's ed25519 host key (OpenSSH format). It is
	// generated on first start (file 0600, directory 0700) and reused after.
	HostKeyPath string
	// IdleTimeout ends a session with no input for this long; 0 is
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxSessions is the most consoles at once; 0 is DefaultMaxSessions.
	MaxSessions int
	// Users returns who may log in now. It is called at every login and
	// session start, from many goroutines at once, so a config reload takes
	// effect without a restart (main swaps an atomic pointer).
	Users func() []User
	// Engine is the one engine every session shares.
	Engine Engine
	// ConsoleOptions builds a session's console options (theme, title...)
	// for its identity; nil is the zero ui.Options. User and Role are
	// always set from the identity. An empty Theme is chosen from the
	// client's locale (LANG, LC_ALL sent by the client), and a client's
	// NO_COLOR is honoured.
	ConsoleOptions func(engine.Identity) ui.Options
	// ExportsDir holds the users' exports, one directory per user (see
	// engine.UserExportDir); a user fetches theirs with scp -O. It must be
	// the engine's Options.ExportsDir. "" serves no exports.
	ExportsDir string
	// Logger receives logins, refusals and session ends; nil discards.
	Logger *slog.Logger
}

// ErrServerClosed is what Serve returns after Shutdown.
var ErrServerClosed = errors.New("ssh server closed")

// Server serves the console over SSH. Create it with New, run it with
// Serve or ListenAndServe, stop it with Shutdown.
type Server struct {
	cfg    Config
	log    *slog.Logger
	srv    *ssh.Server
	hostFP string

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*trackedConn]struct{}
	live      map[*liveSession]struct{}
	refusals  refusalLimiter // audited refused logins (auth.go)

	serving  sync.WaitGroup // Serve calls
	handlers sync.WaitGroup // session handlers
	connsWG  sync.WaitGroup // connections, from accept to close
}

// New checks cfg, loads (or creates) the host key and builds the server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Users == nil:
		return nil, errors.New("ssh server: Config.Users is required")
	case cfg.Engine == nil:
		return nil, errors.New("ssh server: Config.Engine is required")
	case cfg.HostKeyPath == "":
		return nil, errors.New("ssh server: Config.HostKeyPath is required")
	case cfg.IdleTimeout < 0:
		return nil, fmt.Errorf("ssh server: idle timeout %s is negative", cfg.IdleTimeout)
	case cfg.MaxSessions < 0:
		return nil, fmt.Errorf("ssh server: max sessions %d is negative", cfg.MaxSessions)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	signer, err := loadHostKey(cfg.HostKeyPath, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		hostFP:    gossh.FingerprintSHA256(signer.PublicKey()),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*trackedConn]struct{}),
		live:      make(map[*liveSession]struct{}),
	}
	// Only public-key auth is configured, so the SSH library offers no
	// password or keyboard-interactive method, and refuses "none".
	s.srv, err = wish.NewServer(
		func(srv *ssh.Server) error { srv.AddHostKey(signer); return nil },
		wish.WithAddress(cfg.Addr),
		wish.WithVersion("rmm"),
		wish.WithPublicKeyAuth(s.authorize),
		wish.WithIdleTimeout(cfg.IdleTimeout+connIdleGrace),
		// The last middleware runs first: scp fetches of exports, then
		// the console for every other session.
		wish.WithMiddleware(func(next ssh.Handler) ssh.Handler {
			return func(sess ssh.Session) {
				s.handle(sess)
				next(sess)
			}
		}, s.scpMiddleware()),
		func(srv *ssh.Server) error {
			srv.HandshakeTimeout = handshakeTimeout
			srv.ConnCallback = s.track
			srv.ConnectionFailedCallback = func(c net.Conn, err error) {
				s.log.Debug("ssh connection failed", "remote", addrString(c.RemoteAddr()), "err", err.Error())
			}
			return nil
		},
	)
	if err != nil {
		return nil, fmt.Errorf("ssh server: %w", err)
	}
	return s, nil
}

// HostKeyFingerprint is the host key's SHA256 fingerprint, for users to
// check the first time they connect.
func (s *Server) HostKeyFingerprint() string { return s.hostFP }

// Listen opens Config.Addr.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ssh listen %s: %w", s.cfg.Addr, err)
	}
	return ln, nil
}

// ListenAndServe listens on Config.Addr and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts SSH connections on ln until Shutdown, then returns
// ErrServerClosed. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()

	addr := ln.Addr().String()
	if !IsLoopback(ln.Addr()) {
		s.log.Warn("ssh server listens beyond loopback: other hosts can reach it (an explicit choice)", "addr", addr)
	}
	s.log.Info("ssh server listening", "addr", addr, "host_key", s.hostFP,
		"idle_timeout", s.cfg.IdleTimeout.String(), "max_sessions", s.cfg.MaxSessions)
	err := s.srv.Serve(ln)

	s.mu.Lock()
	delete(s.listeners, ln)
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return ErrServerClosed
	}
	return fmt.Errorf("ssh serve %s: %w", addr, err)
}

// Shutdown stops accepting connections, ends every session with the
// message "rmm: server shutting down" (each audited as closed), waits for
// them, then closes every connection left. If ctx ends first, the
// connections are closed at once and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	lns := make([]net.Listener, 0, len(s.listeners))
	for ln := range s.listeners {
		lns = append(lns, ln)
	}
	for ls := range s.live {
		ls.end(errShutdown)
	}
	s.mu.Unlock()

	var errs []error
	for _, ln := range lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close listener %s: %w", ln.Addr(), err))
		}
	}
	if err := wait(ctx, &s.handlers); err != nil {
		s.closeConns()
		return fmt.Errorf("ssh shutdown: sessions still open: %w", err)
	}
	// Clients may keep a connection open after their session ended, and
	// some may still be logging in.
	s.closeConns()
	if err := wait(ctx, &s.connsWG); err != nil {
		return fmt.Errorf("ssh shutdown: connections still open: %w", err)
	}
	if err := wait(ctx, &s.serving); err != nil {
		return fmt.Errorf("ssh shutdown: %w", err)
	}
	s.log.Info("ssh server stopped")
	return errors.Join(errs...)
}

func (s *Server) closeConns() {
	s.mu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// wait waits for wg or ctx. When ctx wins, the waiting goroutine ends with
// wg, which the caller has already told to finish.
func wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// track registers every accepted connection so Shutdown can close it, even
// one that has not finished logging in. After Shutdown began it refuses.
func (s *Server) track(_ ssh.Context, c net.Conn) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil // the SSH library closes it
	}
	tc := &trackedConn{Conn: c, s: s}
	s.conns[tc] = struct{}{}
	s.connsWG.Add(1)
	return tc
}

// trackedConn leaves the server's set when it is closed (by the SSH
// library when the connection ends, or by Shutdown).
type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		c.s.connsWG.Done()
	})
	return err
}

// IsLoopback reports whether addr is a loopback TCP address.
func IsLoopback(addr net.Addr) bool {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	return false
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
