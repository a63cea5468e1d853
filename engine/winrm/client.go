// Package winrm is rmm's WinRM (WS-Management) client: targets and their
// transports (HTTP and HTTPS; Basic, NTLM, Kerberos and Negotiate, with
// WinRM message encryption over HTTP), the SOAP
// envelopes and faults, the error classes, the session pool of shells
// kept warm across requests, each with a resident PowerShell loop, and
// the decoding of what powershell.exe writes (CLIXML, the loop's frames).
//
// Its API is small: New opens a client, Run runs a script on a target,
// Stats counts, Close deletes every shell it opened. The probes doctor
// uses (Identify, InspectTLS, TryShell) and the interactive Session of the
// PowerShell pane sit beside it.
//
// It imports nothing of rmm's engine, store or config: it is a protocol
// client that any front end could use, and its tests run against
// engine/winrmsim alone.
package winrm

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
	"unicode/utf16"
)

// Client defaults and limits (config sessions.ttl, sessions.per_host)
// and the resident loop's recycling.
const (
	DefaultTimeout         = 30 * time.Second
	DefaultSessionTTL      = 5 * time.Minute
	DefaultSessionsPerHost = 2
	MaxSessionsPerHost     = 10 // well under Windows' MaxShellsPerUser (30)
	DefaultLoopMaxRequests = 1000
	DefaultLoopMaxAge      = time.Hour
	// DefaultShellMaxCommands retires a pooled shell after this many
	// Commands: Windows counts each against MaxConcurrentOperationsPerUser
	// (1500 by default) until the shell is deleted.
	DefaultShellMaxCommands = 1000
)

// Modes a script ran in (Result.Mode).
const (
	ModeWarm = "warm" // through the resident PowerShell loop of a pooled shell
	ModeCold = "cold" // one powershell.exe for the script (the loop cannot start there, or the pool is off)
)

// Options configure a Client. Zero values take the defaults.
type Options struct {
	Throttle int           // requests in flight at most; sizes the connection pools (default 50)
	Timeout  time.Duration // how long a request may take at most; bounds cleanups (default 30s)

	SessionTTL      time.Duration // idle shells are deleted after this (default 5m)
	SessionsPerHost int           // shells per host at most, 1..10 (default 2)
	LoopMaxRequests int           // the resident PowerShell is recycled after this many requests (default 1000)
	LoopMaxAge      time.Duration // or after running this long (default 1h)
	// ShellMaxCommands retires a pooled shell after it ran this many
	// Commands (default 1000; config sessions.max_commands).
	ShellMaxCommands int
	Unpooled         bool // no pool: a new shell and powershell.exe per request (the benchmark's baseline)

	// MaxIdleConns bounds the HTTP connections kept open between
	// requests (one per host is what a sweep reuses); zero: what the
	// process's file descriptor limit leaves room for.
	MaxIdleConns int

	Logger *slog.Logger // default: discard
	// OnInsecure is called once per process for each host whose
	// certificate is not verified (Target.InsecureSkipVerify), so the
	// caller can log and audit it. It must not block for long.
	OnInsecure func(ctx context.Context, host string)

	// OnShellCreate is called before the client asks a host for a shell,
	// and the function it returns (when not nil) once the host answered:
	// with the new shell's id before anything runs in it, or with "" when
	// no shell was made (lost false) or when the answer was lost after the
	// request went out (lost true: a timeout or a cut connection; the host
	// may have made one). So the caller can record the attempt, then the
	// shell, and a crash at any moment leaves a record to delete the shell
	// from at the next start (DeleteShell, ListShells). Both may block
	// briefly; their failures are the caller's to report.
	OnShellCreate func(ctx context.Context, s ShellRef) (created func(shellID string, lost bool))
	// OnShellClosed is called once a shell OnShellCreate was told of is
	// gone from its host (deleted, or forgotten by it), so its record can
	// go.
	OnShellClosed func(s ShellRef)
	// OrphanShells is asked which of a host's shells (already narrowed to
	// cmd shells of the credential's account, from this client's address,
	// that this client does not hold) were left by an rmm process, this one
	// included, that will not delete them; the client deletes those. It is
	// asked when the host refuses a shell for its quota (madeSince zero:
	// the shells of processes that are gone, and the ones nobody recorded
	// that sat idle for a while), and at Close for a host where a Create's
	// answer was lost (madeSince is when it was sent: the shells made since
	// that nobody recorded are the one the host may have made). Nil: none
	// are.
	OrphanShells func(ctx context.Context, at ShellRef, shells []ShellInfo, madeSince time.Time) []string
}

func (o *Options) setDefaults() error {
	if o.Throttle == 0 {
		o.Throttle = 50
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.SessionTTL < 10*time.Millisecond {
		return fmt.Errorf("session ttl %s is below the minimum 10ms", o.SessionTTL)
	}
	if o.SessionsPerHost == 0 {
		o.SessionsPerHost = DefaultSessionsPerHost
	}
	if o.SessionsPerHost < 1 || o.SessionsPerHost > MaxSessionsPerHost {
		return fmt.Errorf("sessions per host %d is out of range 1..%d", o.SessionsPerHost, MaxSessionsPerHost)
	}
	if o.LoopMaxRequests == 0 {
		o.LoopMaxRequests = DefaultLoopMaxRequests
	}
	if o.LoopMaxAge == 0 {
		o.LoopMaxAge = DefaultLoopMaxAge
	}
	if o.LoopMaxRequests < 1 || o.LoopMaxAge < time.Second {
		return fmt.Errorf("loop recycling after %d requests or %s is below the minimum 1 request or 1s", o.LoopMaxRequests, o.LoopMaxAge)
	}
	if o.ShellMaxCommands == 0 {
		o.ShellMaxCommands = DefaultShellMaxCommands
	}
	if o.ShellMaxCommands < 1 {
		return fmt.Errorf("shell recycling after %d commands is below the minimum 1", o.ShellMaxCommands)
	}
	return nil
}

// Client reaches WinRM targets. It is safe for concurrent use. Create it
// with New, end it with Close.
type Client struct {
	opts  Options
	log   *slog.Logger
	http  *http.Client // its Transport is the transportSet
	ts    *transportSet
	pool  *sessionPool // nil with Options.Unpooled
	loop  loopStart    // how a shell starts the resident loop
	shell sessionBook  // interactive sessions (session.go)

	krb        *kerberosClient // tickets of Kerberos and Negotiate targets
	authCounts authCounters    // connection handshakes of NTLM, Kerberos and Negotiate

	closed atomic.Bool // Close was called: requests outside the pool fail too
}

// New builds a client. It opens no connection.
func New(o Options) (*Client, error) {
	if err := o.setDefaults(); err != nil {
		return nil, fmt.Errorf("winrm client: %w", err)
	}
	ls, err := newLoopStart()
	if err != nil {
		return nil, fmt.Errorf("winrm client: %w", err)
	}
	c := &Client{opts: o, log: o.Logger, loop: ls, krb: newKerberosClient(o.Logger)}
	c.http = newHTTPClient(o.Throttle, o.SessionsPerHost, o.MaxIdleConns, o.Timeout)
	c.ts = c.http.Transport.(*transportSet)
	if !o.Unpooled {
		c.pool = newSessionPool(c.http, poolOptions{
			ttl:             o.SessionTTL,
			perHost:         o.SessionsPerHost,
			loopMaxRequests: o.LoopMaxRequests,
			loopMaxAge:      o.LoopMaxAge,
			shellMaxCmds:    o.ShellMaxCommands,
			loop:            ls,
			cleanupTimeout:  min(5*time.Second, o.Timeout),
			closeWorkers:    o.Throttle,
			log:             o.Logger,
			onCreate:        o.OnShellCreate,
			onClosed:        o.OnShellClosed,
			orphans:         o.OrphanShells,
		})
	}
	return c, nil
}

// closeTimeout bounds how long Close waits, at most, for the hosts to
// delete their shells when its context has no deadline of its own.
const closeTimeout = 30 * time.Second

// Close deletes every shell the client opened (pooled and interactive)
// and closes idle connections. Requests after Close fail.
func (c *Client) Close(ctx context.Context) error {
	c.closed.Store(true)
	c.closeSessions()
	var err error
	if c.pool != nil {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, closeTimeout)
			defer cancel()
		}
		err = c.pool.Close(ctx)
	}
	c.http.CloseIdleConnections()
	return err
}

// CloseIdleConnections closes the kept-alive connections no request uses
// now (the next request to each host dials again).
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Script is a PowerShell script ready for either way of running it:
// through the resident loop (its UTF-8 text in base64 on one request
// line) or as a powershell.exe of its own (its text over stdin). It is
// never put on a command line. Build it once with NewScript and reuse
// it.
type Script struct {
	name string
	b64  string // base64 of the UTF-8 text: a loop request line carries it
	text string // the UTF-8 text: a cold powershell.exe reads it on stdin
}

// NewScript prepares a script. Its name appears in errors; its body is a
// Windows PowerShell 5.1 script.
func NewScript(name, body string) *Script {
	return &Script{
		name: name,
		b64:  base64.StdEncoding.EncodeToString([]byte(body)),
		text: body,
	}
}

// EncodedCommand returns the powershell.exe command line that runs body
// (-EncodedCommand: base64 of its UTF-16LE text). rmm uses it only for
// its two fixed bootstraps (LoopCommandLine, ColdCommandLine).
func EncodedCommand(body string) string {
	u := utf16.Encode([]rune(body))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return "powershell.exe -NoProfile -NonInteractive -EncodedCommand " + base64.StdEncoding.EncodeToString(b)
}

// Name is the script's name.
func (s *Script) Name() string { return s.name }

// Result is what a script run produced.
type Result struct {
	Stdout   []byte
	Errors   []string // the messages of the error records it wrote
	Warnings []string // Write-Warning messages
	Info     []string // the information stream: Write-Host and Write-Information text (warm); cold, Write-Host is in Stdout
	// Exit is the code the script gave `exit`, else 1 when it wrote error
	// records, else 0 (warm); powershell.exe's exit code (cold).
	Exit int
	Mode string // ModeWarm or ModeCold
	// SessionLines is, for a Session's line run by the resident loop,
	// how many lines its session runspace has run, this one included: 1
	// means a new runspace (the state of earlier lines is gone). 0 when
	// the line ran cold (each line its own powershell.exe) or outside a
	// session.
	SessionLines int
}

// Stats counts what the client did since it was made. Its JSON form is
// the "pool" object of `rmm poll --json`.
type Stats struct {
	Created      int64 `json:"created"`       // shells created
	Reused       int64 `json:"reused"`        // requests served by a shell that served one before
	Expired      int64 `json:"expired"`       // idle shells deleted after sessions.ttl
	Recreated    int64 `json:"recreated"`     // shells the host forgot (reboot, idle expiry), replaced once
	Dropped      int64 `json:"dropped"`       // shells given up after a failure or a deadline (terminate + delete)
	Open         int64 `json:"open"`          // shells open now
	LoopStarts   int64 `json:"loop_starts"`   // resident PowerShell loops started
	LoopRecycles int64 `json:"loop_recycles"` // loops ended after N requests or H hours, or replaced after dying
	Fallbacks    int64 `json:"fallbacks"`     // times a host could not run the loop: one powershell.exe per request there
	QuotaHits    int64 `json:"quota_hits"`    // Creates refused by the host's shell quota
	// ShellRecycles counts shells deleted and replaced after
	// ShellMaxCommands Commands, or after the host's operations quota
	// fault.
	ShellRecycles int64 `json:"shell_recycles"`
	Reclaimed     int64 `json:"reclaimed"` // orphaned shells (of an rmm that crashed) deleted after a quota fault
	// Deleting shells: Deletes tried again after a failure that may pass
	// (a timeout, a cut connection, HTTP 5xx), and shells given up after
	// every attempt (left open on the host until its idle timeout; the
	// engine's next start deletes them from their records).
	DeleteRetries int64 `json:"delete_retries"`
	DeletesFailed int64 `json:"deletes_failed"`

	// The HTTP connections (kept alive across requests).
	ConnsDialed int64 `json:"conns_dialed"` // TCP (and TLS) connections opened
	ConnsReused int64 `json:"conns_reused"` // requests sent on a kept connection
	ConnsStale  int64 `json:"conns_stale"`  // kept connections the host had closed, or idle past 110 s
	ConnsIdle   int   `json:"conns_idle"`   // connections kept open now

	// NTLM, Kerberos and Negotiate: security contexts established (one
	// per kept connection), Negotiate handshakes that fell back to NTLM,
	// messages sent to KDCs (AS and TGS requests, all KDCs tried),
	// KDC exchanges that failed, and service tickets cached.
	AuthHandshakes int64 `json:"auth_handshakes"`
	NTLMFallbacks  int64 `json:"ntlm_fallbacks"`
	KDCRequests    int64 `json:"kdc_requests"`
	KDCFailures    int64 `json:"kdc_failures"`
	Tickets        int   `json:"tickets"`
}

// Stats returns the session pool's counters (shell counters all zero when
// the pool is off) and the HTTP connection counters.
func (c *Client) Stats() Stats {
	var st Stats
	if c.pool != nil {
		st = c.pool.Stats()
	}
	cs := c.ts.connStats()
	st.ConnsDialed, st.ConnsReused, st.ConnsStale, st.ConnsIdle = cs.Dialed, cs.Reused, cs.Stale, cs.Idle
	st.AuthHandshakes, st.NTLMFallbacks = c.authCounts.handshakes.Load(), c.authCounts.fallbacks.Load()
	st.KDCRequests, st.KDCFailures = c.krb.stats()
	st.Tickets = c.krb.ticketCount()
	return st
}

// KeepWarm makes idle pooled shells last at least ttl, whatever
// Options.SessionTTL says: a scheduler that polls every interval keeps
// its shells until the next sweep. Zero restores the configured TTL.
func (c *Client) KeepWarm(ttl time.Duration) {
	if c.pool != nil {
		c.pool.minTTL.Store(int64(ttl))
	}
}

// Revisit tells the client that each host is polled again about every
// interval (the scheduler's): when that is longer than a kept connection
// lives (idleConnTimeout, 110 s), a pooled run closes its connection when
// it ends instead of keeping it idle, where it would only hold memory
// until it expired. Zero (the default) keeps connections.
func (c *Client) Revisit(interval time.Duration) {
	if c.pool != nil {
		c.pool.revisit.Store(int64(interval))
	}
}

// ExpireIdle deletes the pooled shells idle for longer than the TTL as of
// now, and waits for the hosts to answer. The pool's janitor does this
// every quarter TTL; a caller (a test with its own clock) may do it at
// any time.
func (c *Client) ExpireIdle(now time.Time) {
	if c.pool != nil {
		c.pool.expire(now)
	}
}

// Pooled reports whether requests to t go through the session pool and
// its resident loop: every target while the pool is on, whatever its
// auth method.
func (c *Client) Pooled(Target) bool {
	return c.pool != nil
}

// KerberosSkew is the KDC's clock minus this machine's, as the last AS
// exchange saw it (zero before any).
func (c *Client) KerberosSkew() time.Duration { return c.krb.clockSkew() }

// Run runs a script on the target as cred, within ctx: through the session
// pool and its resident loop where the target allows, else as a new shell
// and powershell.exe. It returns what the script printed and its exit
// code, whatever the code; errors are classed *Error values naming the
// target and the step.
func (c *Client) Run(ctx context.Context, t Target, cred Credential, s *Script) (Result, error) {
	t = t.Prepare()
	dt, err := c.transportFor(ctx, t)
	if err != nil {
		return Result{}, err
	}
	if c.pool != nil {
		return c.pool.run(ctx, c.poolTarget(t, dt, cred), s)
	}
	return c.runUnpooled(ctx, t, dt, cred, s)
}

// RunUnpooled runs a script as a new shell and powershell.exe, whatever
// the pool: how rmm ran every request before the pool, kept for doctor
// and the benchmark's comparison.
func (c *Client) RunUnpooled(ctx context.Context, t Target, cred Credential, s *Script) (Result, error) {
	t = t.Prepare()
	dt, err := c.transportFor(ctx, t)
	if err != nil {
		return Result{Mode: ModeCold}, err
	}
	return c.runUnpooled(ctx, t, dt, cred, s)
}
