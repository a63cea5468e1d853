package winrm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/rmmhq/rmm/engine/winrm/h1"
)

// poolOptions configure a sessionPool.
type poolOptions struct {
	ttl             time.Duration
	perHost         int
	loopMaxRequests int
	loopMaxAge      time.Duration
	shellMaxCmds    int           // a shell is retired after this many Commands
	loop            loopStart     // how a shell starts the loop
	cleanupTimeout  time.Duration // bound of one Signal or Delete after a failure
	closeWorkers    int           // Deletes in flight at once when expiring or closing
	log             *slog.Logger

	onCreate func(ctx context.Context, s ShellRef) func(string, bool)                                 // Options.OnShellCreate
	onClosed func(s ShellRef)                                                                         // Options.OnShellClosed
	orphans  func(ctx context.Context, at ShellRef, shells []ShellInfo, madeSince time.Time) []string // Options.OrphanShells
}

// target is one device as the pool reaches it. The password is used for
// authentication only, never in keys or logs.
type target struct {
	ref      int64  // Target.Ref
	host     string // device hostname, for errors and logs
	url      string // WS-Man endpoint
	user     string
	password string
	client   *http.Client // the device's TLS profile (transportFor); nil: the pool's client
	noLoop   bool         // the device's loop is off: one powershell.exe per request
	// auth: NTLM, Kerberos or Negotiate (connection-bound, sealed over
	// HTTP; secure.go); zero for Basic.
	auth   authSpec
	kc     *kerberosClient
	counts *authCounters
}

// endpoint makes the target's endpoint.
func (t target) endpoint(client *http.Client, bufs *sync.Pool) *endpoint {
	if t.auth.method == "" {
		return newEndpoint(client, bufs, t.url, t.user, t.password)
	}
	return newSecureEndpoint(bufs, t.url, t.user, t.password, t.auth, t.kc, t.counts)
}

// sessionPool keeps WinRM shells per endpoint and credential, each with a
// resident PowerShell loop, and reuses them across polls. Shells of one
// host are at most perHost (the host's quota is per user, and counts
// every shell); requests beyond that queue, bounded by their context.
// Idle shells are deleted after the TTL by the pool's janitor goroutine,
// and every shell is deleted by Close.
type sessionPool struct {
	client *http.Client
	opts   poolOptions

	mu       sync.Mutex
	slots    map[string]*hostSlot // by endpoint URL
	closed   bool
	busy     int           // sessions handed out and not yet released
	drained  chan struct{} // closed when closed and busy reaches 0
	cleanups sync.WaitGroup

	// Shells dropped after a failure wait in drops for one of at most
	// opts.closeWorkers drop workers (dropLocked): a network blip over
	// 10,000 hosts queues 10,000 deletes, not 10,000 goroutines.
	drops       []droppedShell
	dropWorkers int

	stop        chan struct{} // ends the janitor
	janitorDone chan struct{}

	lost map[string]*lostCreate // by endpoint URL: Creates whose answer was lost (guarded by mu)

	seq    atomic.Uint64 // loop request ids
	minTTL atomic.Int64  // a floor under opts.ttl, set by the scheduler (Engine.keepShellsWarm)
	// revisit is how long until the scheduler polls a host again (its
	// interval; 0: unknown). Set by Client.Revisit.
	revisit atomic.Int64
	bufs    sync.Pool // reply buffers of every endpoint (*[]byte)

	created, reused, expired, recreated, dropped, open           atomic.Int64
	loopStarts, loopRecycles, fallbacks, quotaHits               atomic.Int64
	shellRecycles, reclaimedShells, deleteRetries, deletesFailed atomic.Int64
}

// hostSlot is the pool's state for one endpoint (host). Its fields are
// guarded by the pool's mu.
type hostSlot struct {
	url       string
	idle      []*pooledShell // most recently used last
	open      int            // shells in existence or being created or deleted
	limit     int            // perHost, lowered to what the host allowed after a quota fault
	waiters   []chan struct{}
	refs      int             // acquirers and holders; the slot is forgotten at 0 when empty
	coldUntil time.Time       // the loop could not start here: run plain commands until then
	ep        *endpoint       // the last credential used here, shared by its shells
	ids       map[string]bool // ids of this pool's shells here (idle, in use, being deleted)
	clientIP  string          // this client's address as the host reported it (Create reply)
	reclaimed time.Time       // the last orphan sweep after a quota fault
}

func newSessionPool(client *http.Client, o poolOptions) *sessionPool {
	p := &sessionPool{
		client:      client,
		opts:        o,
		slots:       make(map[string]*hostSlot),
		drained:     make(chan struct{}),
		stop:        make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	go p.janitor()
	return p
}

// Stats returns the pool's counters.
func (p *sessionPool) Stats() Stats {
	return Stats{
		Created: p.created.Load(), Reused: p.reused.Load(), Expired: p.expired.Load(),
		Recreated: p.recreated.Load(), Dropped: p.dropped.Load(), Open: p.open.Load(),
		LoopStarts: p.loopStarts.Load(), LoopRecycles: p.loopRecycles.Load(),
		Fallbacks: p.fallbacks.Load(), QuotaHits: p.quotaHits.Load(), Reclaimed: p.reclaimedShells.Load(),
		ShellRecycles: p.shellRecycles.Load(),
		DeleteRetries: p.deleteRetries.Load(), DeletesFailed: p.deletesFailed.Load(),
	}
}

// ErrClosed is the error of a request made after Close.
var ErrClosed = errors.New("winrm client is closed")

// run runs a script on the target through a pooled shell: the resident
// loop when the host can run it, else a plain powershell.exe. A shell the
// host forgot, or that ran into the host's operations quota, is replaced
// and the request tried once more; a shell that ran its share of
// Commands is replaced before it starts another. Errors are classed
// *Error values naming the device and the step.
func (p *sessionPool) run(ctx context.Context, t target, sc *Script) (Result, error) {
	// One connection from the first request of this run to its last (a
	// warm poll's Send and Receive; a cold one's Create, Command, Send and
	// Receives), past the transport's idle limits: without it, over the
	// idle TLS limit the Send's connection is closed and the Receive pays
	// a second TLS handshake.
	ctx, pin := h1.WithPin(ctx)
	defer func() { pin.Release(p.keepConns()) }()
	retried := false
	for {
		s, slot, err := p.acquire(ctx, t)
		if err != nil {
			return Result{}, classed(t.host, err)
		}
		res, err := p.runOn(ctx, s, slot, sc, t.noLoop)
		switch {
		case err == nil:
			p.release(slot, s, true)
			return res, nil
		case errors.Is(err, errShellWorn):
			// The shell ran its share of Commands: delete it and go on
			// in a new one. Nothing ran; this is no retry.
			p.shellRecycles.Add(1)
			p.drop(slot, s)
			continue
		case isOperationsQuota(err) && !retried && ctx.Err() == nil:
			// The host counted too many Commands in this shell (they
			// count until it is deleted): a new shell, once. The
			// Command was refused, so nothing ran.
			p.opts.log.Debug("operations quota, recreating the shell", "device", t.host, "err", err)
			p.shellRecycles.Add(1)
			p.drop(slot, s)
			retried = true
			continue
		case (isShellLost(err) || s.uses > 1 && isConnectionCut(err)) && !retried && ctx.Err() == nil:
			// The host forgot the shell (reboot, idle expiry), or cut the
			// kept-alive connection of a shell used before (a reboot
			// does both): drop it and try once more on a new one,
			// transparently. Nothing is resent into the old shell.
			p.opts.log.Debug("shell lost, recreating", "device", t.host, "err", err)
			if isShellLost(err) {
				s.running = nil // nothing runs in a shell that is gone
			}
			p.drop(slot, s)
			p.recreated.Add(1)
			retried = true
			continue
		}
		if le, ok := isLoopExit(err); ok && le.Ready {
			// The loop died (crash, killed): the shell is fine and the
			// next request starts a new loop.
			p.loopRecycles.Add(1)
			p.release(slot, s, true)
		} else {
			// A deadline, a cancellation or a failure with the shell in an
			// unknown state: terminate what runs, delete the shell, start
			// fresh next time.
			p.drop(slot, s)
		}
		return Result{}, classed(t.host, err)
	}
}

// keepConns reports whether a run's connection is worth keeping idle
// after it: not when the host's next poll comes after the connection
// will have expired (idleConnTimeout), where keeping it only holds
// memory (an idle TLS connection keeps some 20 KB) until it is closed
// unused. The next poll dials again (and resumes the TLS session).
func (p *sessionPool) keepConns() bool {
	r := time.Duration(p.revisit.Load())
	return r <= 0 || r < idleConnTimeout
}

// classed wraps a session error as the engine's *Error, classed once here
// where it arose.
func classed(host string, err error) error {
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	step := "session"
	var se *stepError
	if errors.As(err, &se) {
		step, err = se.step, se.err
	}
	class := classify(err)
	if _, ok := isLoopExit(err); ok {
		class = ClassTransient // a new loop will be started
	}
	return &Error{Class: class, Device: host, Step: step, Err: err}
}

// errShellWorn is a pooled shell that ran shellMaxCmds Commands: the
// pool replaces it before it starts another.
var errShellWorn = errors.New("the shell ran its share of commands")

// runOn runs one script on an acquired session.
func (p *sessionPool) runOn(ctx context.Context, s *pooledShell, slot *hostSlot, sc *Script, noLoop bool) (Result, error) {
	p.mu.Lock()
	cold := noLoop || time.Now().Before(slot.coldUntil)
	p.mu.Unlock()
	if cold && s.loop != nil {
		// The device's loop was switched off: end the one running here.
		if err := s.exitLoop(ctx, requestID(p.seq.Add(1))); err != nil {
			return Result{}, err
		}
	}
	if (cold || s.loop == nil || s.loopRequests >= p.opts.loopMaxRequests || time.Since(s.loopStarted) >= p.opts.loopMaxAge) &&
		s.commands >= p.opts.shellMaxCmds {
		return Result{}, errShellWorn // the next step starts a Command
	}
	if s.uses > 0 {
		p.reused.Add(1)
	}
	s.uses++
	if cold {
		return s.runCold(ctx, sc)
	}
	if s.loop != nil && (s.loopRequests >= p.opts.loopMaxRequests || time.Since(s.loopStarted) >= p.opts.loopMaxAge) {
		if err := s.exitLoop(ctx, requestID(p.seq.Add(1))); err != nil {
			return Result{}, err
		}
		p.loopRecycles.Add(1)
	}
	if s.loop == nil {
		if err := s.startLoop(ctx, p.opts.loop); err != nil {
			return Result{}, err
		}
		p.loopStarts.Add(1)
	}
	res, err := s.request(ctx, requestID(p.seq.Add(1)), sc, sessionMode{})
	if le, ok := isLoopExit(err); ok && !le.Ready {
		// The loop could not start on this host (it exited before READY,
		// so it never read the request): run plain commands here for a
		// while, starting with this one.
		p.fallbacks.Add(1)
		p.mu.Lock()
		slot.coldUntil = time.Now().Add(p.opts.loopMaxAge)
		p.mu.Unlock()
		p.opts.log.Warn("resident PowerShell cannot start; one powershell.exe per request", "url", slot.url, "err", le)
		return s.runCold(ctx, sc)
	}
	return res, err
}

// acquire hands out a shell for the target: an idle one of the same
// credential, or a new one while the host has fewer than its limit; else
// it waits for one, until ctx ends.
func (p *sessionPool) acquire(ctx context.Context, t target) (*pooledShell, *hostSlot, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil, failed("acquire shell", ErrClosed)
	}
	slot := p.slots[t.url]
	if slot == nil {
		slot = &hostSlot{url: t.url, limit: p.opts.perHost}
		p.slots[t.url] = slot
	}
	p.refLocked(slot)
	ep := slot.ep
	client := t.client
	if client == nil {
		client = p.client
	}
	if ep == nil || ep.user != t.user || ep.password != t.password || !ep.sameAuth(t.auth) || (t.auth.method == "" && ep.client != client) {
		ep = t.endpoint(client, &p.bufs)
		slot.ep = ep
	}
	for {
		if s := p.takeIdleLocked(slot, ep); s != nil {
			p.mu.Unlock()
			return s, slot, nil
		}
		if slot.open < slot.limit || p.evictOtherLocked(slot) {
			slot.open++
			p.mu.Unlock()
			s, err := p.create(ctx, t, slot, ep)
			if err == nil {
				return s, slot, nil
			}
			var he *HTTPError
			quota := errors.As(err, &he) && he.Fault != nil && he.Fault.Code == FaultShellQuota
			if quota && p.reclaim(ctx, t, slot, ep) > 0 {
				// Shells of a crashed rmm held the quota: they are gone,
				// try again (once per reclaimInterval, so no loop).
				if s, err = p.create(ctx, t, slot, ep); err == nil {
					return s, slot, nil
				}
				quota = errors.As(err, &he) && he.Fault != nil && he.Fault.Code == FaultShellQuota
			}
			p.mu.Lock()
			slot.open--
			p.wakeLocked(slot)
			if quota {
				p.quotaHits.Add(1)
				if slot.open > 0 {
					// The host allows fewer shells than perHost (other
					// tools hold some): use ours, queue behind them.
					slot.limit = max(1, slot.open)
					continue
				}
			}
			p.unrefLocked(slot)
			p.mu.Unlock()
			return nil, nil, failed("create shell", err)
		}
		wake := make(chan struct{})
		slot.waiters = append(slot.waiters, wake)
		p.mu.Unlock()
		select {
		case <-wake:
			p.mu.Lock()
		case <-ctx.Done():
			p.mu.Lock()
			if i := slices.Index(slot.waiters, wake); i >= 0 {
				slot.waiters = slices.Delete(slot.waiters, i, i+1)
			} else {
				p.wakeLocked(slot) // pass on the wake-up this waiter got
			}
			p.unrefLocked(slot)
			p.mu.Unlock()
			return nil, nil, failed("wait for a shell", ctx.Err())
		}
		if p.closed {
			p.unrefLocked(slot)
			p.mu.Unlock()
			return nil, nil, failed("acquire shell", ErrClosed)
		}
	}
}

// takeIdleLocked pops the most recently used idle shell of the
// endpoint's user. A shell of the user made with another password is
// deleted instead (the credential or the TLS settings changed). p.mu
// must be held.
func (p *sessionPool) takeIdleLocked(slot *hostSlot, ep *endpoint) *pooledShell {
	for i := len(slot.idle) - 1; i >= 0; i-- {
		s := slot.idle[i]
		if s.ep.user != ep.user {
			continue
		}
		slot.idle = slices.Delete(slot.idle, i, i+1)
		if s.ep.password != ep.password || s.ep.client != ep.client || s.ep.sec != ep.sec && (s.ep.sec == nil || ep.sec == nil || s.ep.sec.id != ep.sec.id) {
			p.dropLocked(slot, s)
			continue
		}
		return s
	}
	return nil
}

// evictOtherLocked deletes an idle shell of another credential to make
// room at the host's limit. p.mu must be held.
func (p *sessionPool) evictOtherLocked(slot *hostSlot) bool {
	if len(slot.idle) == 0 || slot.open < slot.limit {
		return false
	}
	s := slot.idle[0]
	slot.idle = slot.idle[1:]
	p.dropLocked(slot, s)
	return slot.open < slot.limit
}

// create opens a shell, telling the owner (OnShellCreate) before it asks
// and before anything runs in it, so a crash from here on leaves a record.
func (p *sessionPool) create(ctx context.Context, t target, slot *hostSlot, ep *endpoint) (*pooledShell, error) {
	ref := ShellRef{Ref: t.ref, Host: t.host, Endpoint: ep.url}
	asked := time.Now()
	id, clientIP, err := createRecorded(ctx, p.opts.onCreate, ref, func() (string, string, error) { return ep.createShell(ctx) })
	if err != nil {
		if answerLost(err) {
			p.noteLost(ref, slot, ep, asked)
		}
		return nil, err
	}
	p.created.Add(1)
	p.open.Add(1)
	p.mu.Lock()
	if slot.ids == nil {
		slot.ids = map[string]bool{}
	}
	slot.ids[id] = true
	if clientIP != "" {
		slot.clientIP = clientIP
	}
	p.mu.Unlock()
	ref.ShellID = id
	now := time.Now()
	return &pooledShell{ep: ep, ref: ref, shellID: id, created: now, lastUsed: now}, nil
}

// lostCreate is a host a Create was sent to whose answer never came: the
// host may have made a shell nobody knows the id of.
type lostCreate struct {
	ref      ShellRef
	ep       *endpoint
	since    time.Time // when the first such Create was sent
	clientIP string
}

// noteLost remembers a host where a Create's answer was lost (the first
// time counts), for Close to look for the shell it may have made.
func (p *sessionPool) noteLost(ref ShellRef, slot *hostSlot, ep *endpoint, asked time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lost == nil {
		p.lost = map[string]*lostCreate{}
	}
	if _, ok := p.lost[ep.url]; !ok {
		p.lost[ep.url] = &lostCreate{ref: ref, ep: ep, since: asked, clientIP: slot.clientIP}
	}
}

// reclaimLost lists the shells of every host where a Create's answer was
// lost and deletes the ones made since that this client does not hold and
// no live rmm recorded (Options.OrphanShells), a bounded number of hosts
// at a time. Close calls it once every shell of the pool is deleted.
func (p *sessionPool) reclaimLost() {
	p.mu.Lock()
	lost := p.lost
	p.lost = nil
	p.mu.Unlock()
	if len(lost) == 0 || p.opts.orphans == nil {
		return
	}
	wp := pool.New().WithMaxGoroutines(max(1, p.opts.closeWorkers))
	for _, l := range lost {
		wp.Go(func() {
			// A host slow enough to lose an answer gets a few seconds.
			ctx, cancel := context.WithTimeout(context.Background(), max(p.opts.cleanupTimeout, 5*time.Second))
			defer cancel()
			shells, err := l.ep.listShells(ctx)
			if err != nil {
				p.opts.log.Warn("a Create's answer was lost and the host's shells could not be listed; "+
					"the shell it may have made is deleted at the next start", "device", l.ref.Host, "err", err)
				return
			}
			since := time.Since(l.since) + 2*time.Second // ShellRunTime counts whole seconds
			var candidates []ShellInfo
			for _, sh := range shells {
				if sh.ResourceURI == uriShellCmd && SameAccount(sh.Owner, l.ep.user) && sh.RunTime <= since &&
					(l.clientIP == "" || sh.ClientIP == l.clientIP) {
					candidates = append(candidates, sh)
				}
			}
			if len(candidates) == 0 {
				return
			}
			for _, id := range p.opts.orphans(ctx, l.ref, candidates, l.since) {
				if err := l.ep.deleteShell(ctx, id); err != nil && !isShellLost(err) {
					continue
				}
				p.reclaimedShells.Add(1)
				if p.opts.onClosed != nil {
					ref := l.ref
					ref.ShellID = id
					p.opts.onClosed(ref)
				}
			}
		})
	}
	wp.Wait()
}

// reclaimInterval spaces the orphan sweeps of one host.
const reclaimInterval = time.Minute

// reclaim deletes the host's shells that are this account's and this
// client's but no pool's of a live rmm (Options.OrphanShells decides,
// with the records of the shells rmm processes opened), after the host
// refused a shell for its quota. It returns how many it deleted.
func (p *sessionPool) reclaim(ctx context.Context, t target, slot *hostSlot, ep *endpoint) int {
	host := t.host
	if p.opts.orphans == nil {
		return 0
	}
	p.mu.Lock()
	if time.Since(slot.reclaimed) < reclaimInterval {
		p.mu.Unlock()
		return 0
	}
	slot.reclaimed = time.Now()
	clientIP := slot.clientIP
	mine := make(map[string]bool, len(slot.ids))
	for id := range slot.ids {
		mine[id] = true
	}
	p.mu.Unlock()
	shells, err := ep.listShells(ctx)
	if err != nil {
		p.opts.log.Warn("shell quota reached; the host's shells could not be listed", "device", host, "err", err)
		return 0
	}
	var candidates []ShellInfo
	for _, sh := range shells {
		if mine[sh.ID] || sh.ResourceURI != uriShellCmd || !SameAccount(sh.Owner, ep.user) ||
			clientIP != "" && sh.ClientIP != clientIP {
			continue
		}
		candidates = append(candidates, sh)
	}
	if len(candidates) == 0 {
		p.opts.log.Warn("shell quota reached and no shell of this account and client is an orphan", "device", host,
			"shells", len(shells))
		return 0
	}
	deleted := 0
	for _, id := range p.opts.orphans(ctx, ShellRef{Ref: t.ref, Host: host, Endpoint: ep.url}, candidates, time.Time{}) {
		dctx, cancel := context.WithTimeout(ctx, p.opts.cleanupTimeout)
		err := ep.deleteShell(dctx, id)
		cancel()
		if err != nil && !isShellLost(err) {
			p.opts.log.Warn("orphaned shell not deleted", "device", host, "shell", id, "err", err)
			continue
		}
		deleted++
		if p.opts.onClosed != nil {
			p.opts.onClosed(ShellRef{Ref: t.ref, Host: host, Endpoint: ep.url, ShellID: id})
		}
	}
	p.opts.log.Warn("shell quota reached: deleted orphaned shells of an rmm that ended without deleting them",
		"device", host, "deleted", deleted, "listed", len(shells))
	p.reclaimedShells.Add(int64(deleted))
	return deleted
}

// release gives a session back: to the idle list when it is healthy and
// the pool is open, else it is deleted.
func (p *sessionPool) release(slot *hostSlot, s *pooledShell, healthy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if healthy && !p.closed {
		s.lastUsed = time.Now()
		slot.idle = append(slot.idle, s)
		p.wakeLocked(slot)
	} else {
		p.dropLocked(slot, s)
	}
	p.unrefLocked(slot)
}

// drop deletes an acquired session (terminating what runs in it first)
// and releases it.
func (p *sessionPool) drop(slot *hostSlot, s *pooledShell) {
	p.release(slot, s, false)
}

// droppedShell is a shell waiting for a drop worker to delete it.
type droppedShell struct {
	slot *hostSlot
	s    *pooledShell
}

// dropLocked deletes a session in the background: Signal terminate for a
// command still running, then Delete. The slot keeps counting the shell
// until it is gone, so the host never has more than its limit. The delete
// is queued for the pool's drop workers, at most opts.closeWorkers of
// them, each started here when the queue needs one and ending when the
// queue is empty. p.mu must be held.
func (p *sessionPool) dropLocked(slot *hostSlot, s *pooledShell) {
	p.dropped.Add(1)
	p.refLocked(slot) // the cleanup holds the slot
	p.drops = append(p.drops, droppedShell{slot: slot, s: s})
	if p.dropWorkers >= max(1, p.opts.closeWorkers) {
		return // a running worker takes it
	}
	p.dropWorkers++
	p.cleanups.Add(1)
	go p.dropWorker()
}

// dropWorker deletes queued shells until the queue is empty. It is owned
// by the pool: Close waits for it (cleanups), and each delete is bounded
// by the cleanup timeout.
func (p *sessionPool) dropWorker() {
	defer p.cleanups.Done()
	p.mu.Lock()
	for len(p.drops) > 0 {
		d := p.drops[0]
		p.drops[0] = droppedShell{}
		p.drops = p.drops[1:]
		p.mu.Unlock()
		p.deleteSession(d.s)
		p.mu.Lock()
		d.slot.open--
		delete(d.slot.ids, d.s.shellID)
		p.wakeLocked(d.slot)
		p.unrefLocked(d.slot)
	}
	p.drops = nil // let the backing array go
	p.dropWorkers--
	p.mu.Unlock()
}

// deleteAttempts bounds the Deletes of one shell.
const deleteAttempts = 4

// deleteSession terminates the running command, if any, and deletes the
// shell. Each step has the cleanup timeout to itself (a slow Signal must
// not eat the Delete's time). A Delete that fails for a reason that may
// pass (a timeout, a cut connection, HTTP 5xx, out of descriptors or
// ports: a host or a machine under load) is tried again with backoff, up
// to deleteAttempts times: a shell given up here stays open on its host
// until its idle timeout (its record makes the next start delete it).
func (p *sessionPool) deleteSession(s *pooledShell) {
	if w := s.running; w != nil {
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.cleanupTimeout)
		if err := s.ep.signalTerminate(ctx, s.shellID, w.commandID); err != nil {
			p.opts.log.Debug("signal terminate failed", "url", s.ep.url, "err", err)
		}
		cancel()
	}
	var err error
	for attempt := range deleteAttempts {
		if attempt > 0 {
			p.deleteRetries.Add(1)
			time.Sleep(Backoff(attempt-1, 250*time.Millisecond, 2*time.Second))
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.cleanupTimeout)
		err = s.ep.deleteShell(ctx, s.shellID)
		cancel()
		if err == nil || isShellLost(err) || !retryableDelete(err) {
			break
		}
	}
	if err != nil && !isShellLost(err) {
		p.deletesFailed.Add(1)
		p.opts.log.Warn("shell not deleted; it stays open on the host until its idle timeout or the next start",
			"device", s.ref.Host, "url", s.ep.url, "attempts", deleteAttempts, "err", err)
	} else if p.opts.onClosed != nil {
		p.opts.onClosed(s.ref)
	}
	p.open.Add(-1)
}

// retryableDelete reports whether a failed Delete may work if tried
// again soon.
func retryableDelete(err error) bool {
	return classify(err) == ClassTransient || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.ENOBUFS)
}

// wakeLocked wakes the longest waiter of the slot. p.mu must be held.
func (p *sessionPool) wakeLocked(slot *hostSlot) {
	if len(slot.waiters) > 0 {
		close(slot.waiters[0])
		slot.waiters = slot.waiters[1:]
	}
}

// refLocked starts one use of the slot (an acquirer, a holder, a
// cleanup), which also keeps the pool busy. p.mu must be held.
func (p *sessionPool) refLocked(slot *hostSlot) {
	slot.refs++
	p.busy++
}

// unrefLocked ends one use of the slot; a slot with no uses and no shells
// is forgotten. p.mu must be held.
func (p *sessionPool) unrefLocked(slot *hostSlot) {
	slot.refs--
	if slot.refs == 0 && slot.open == 0 && p.slots[slot.url] == slot {
		delete(p.slots, slot.url)
	}
	p.busy--
	if p.closed && p.busy == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
	}
}

// janitor deletes idle shells older than the TTL until the pool closes.
func (p *sessionPool) janitor() {
	defer close(p.janitorDone)
	tick := min(max(p.opts.ttl/4, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.expire(now)
		}
	}
}

// expire deletes the shells idle since before now minus the TTL.
func (p *sessionPool) expire(now time.Time) {
	var old []*pooledShell
	var slots []*hostSlot
	ttl := max(p.opts.ttl, time.Duration(p.minTTL.Load()))
	p.mu.Lock()
	for _, slot := range p.slots {
		keep := slot.idle[:0]
		for _, s := range slot.idle {
			if now.Sub(s.lastUsed) >= ttl {
				old = append(old, s)
				slots = append(slots, slot)
				p.refLocked(slot)
			} else {
				keep = append(keep, s)
			}
		}
		clear(slot.idle[len(keep):])
		slot.idle = keep
	}
	p.mu.Unlock()
	if len(old) == 0 {
		return
	}
	p.deleteAll(old, slots)
	p.expired.Add(int64(len(old)))
}

// deleteAll deletes sessions taken out of their slots (each holding a ref
// on its slot), a bounded number at a time, and waits for them.
func (p *sessionPool) deleteAll(ss []*pooledShell, slots []*hostSlot) {
	wp := pool.New().WithMaxGoroutines(max(1, p.opts.closeWorkers))
	for i, s := range ss {
		slot := slots[i]
		wp.Go(func() {
			p.deleteSession(s)
			p.mu.Lock()
			slot.open--
			delete(slot.ids, s.shellID)
			p.wakeLocked(slot)
			p.unrefLocked(slot)
			p.mu.Unlock()
		})
	}
	wp.Wait()
}

// Close stops the janitor and deletes every shell: the idle ones now,
// the ones in use when they are released. It waits for all of them until
// ctx ends. Requests after Close fail.
func (p *sessionPool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.wait(ctx)
	}
	p.closed = true
	close(p.stop)
	var idle []*pooledShell
	var slots []*hostSlot
	for _, slot := range p.slots {
		for _, s := range slot.idle {
			idle = append(idle, s)
			slots = append(slots, slot)
			p.refLocked(slot)
		}
		slot.idle = nil
		for _, w := range slot.waiters {
			close(w) // waiters see closed and give up
		}
		slot.waiters = nil
	}
	if p.busy == 0 {
		close(p.drained)
	}
	p.mu.Unlock()
	<-p.janitorDone
	p.deleteAll(idle, slots)
	err := p.wait(ctx)
	p.reclaimLost() // a shell a lost Create may have made, now that ours are gone
	return err
}

func (p *sessionPool) wait(ctx context.Context) error {
	select {
	case <-p.drained:
	default:
		// Not drained yet: wait for it or the deadline. (Drained first:
		// deleting the idle shells may outlast the deadline, and a select
		// over both would then pick either.)
		select {
		case <-p.drained:
		case <-ctx.Done():
			return fmt.Errorf("close session pool: %d shells still in use: %w", p.open.Load(), ctx.Err())
		}
	}
	p.cleanups.Wait() // each cleanup is bounded by the cleanup timeout
	return nil
}
