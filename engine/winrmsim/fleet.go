package winrmsim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Documented defaults for the credentials every simulated host accepts.
const (
	DefaultUser     = "rmm"
	DefaultPassword = "rmm-sim-password"
)

// Windows defaults the simulator copies.
const (
	// DefaultMaxShellsPerUser is WinRM's MaxShellsPerUser (winrm/config/Winrs).
	DefaultMaxShellsPerUser = 30
	// DefaultShellIdleTimeout is WinRM's IdleTimeout (winrm/config/Winrs).
	DefaultShellIdleTimeout = 2 * time.Hour
	// DefaultOperationTimeoutMax caps how long a Receive long-polls.
	DefaultOperationTimeoutMax = 60 * time.Second
	// DefaultMaxEnvelopeSize is WinRM's MaxEnvelopeSizekb (500) in bytes.
	DefaultMaxEnvelopeSize = 512000
	// LegacyMaxEnvelopeSize is WinRM 2.0's MaxEnvelopeSizekb (150).
	LegacyMaxEnvelopeSize = 153600
	// DefaultMaxOperationsPerShell is WinRM's MaxConcurrentOperationsPerUser.
	DefaultMaxOperationsPerShell = 1500
	// LegacyMaxOperationsPerShell is the same quota on Windows 7 and
	// 2008 R2 with WinRM 2.0 defaults.
	LegacyMaxOperationsPerShell = 15
)

// Config describes a simulated fleet. The zero value of every field but
// Devices is usable.
type Config struct {
	Devices  int    // number of hosts, >= 1
	Seed     int64  // same seed => same hosts, same metric curves
	User     string // Basic user accepted; DefaultUser when empty
	Password string // Basic password accepted; DefaultPassword when empty
	// ListenIP is where every host listens; "127.0.0.1" when empty. New
	// refuses anything outside 127.0.0.0/8.
	ListenIP string
	// BasePort, when non-zero, puts host i on BasePort+i so that ports stay
	// the same from run to run (for `rmm sim` and an imported CSV). Zero
	// means free ports picked at Start, from 20000-32767 (below the
	// kernel's ephemeral range) while that range has room.
	BasePort int
	// OfflineFraction is the share of hosts, chosen by seed, that start
	// offline: their port refuses connections until SetOnline.
	OfflineFraction float64
	// RTT is added latency per HTTP request.
	RTT time.Duration
	// PSStart is what starting powershell.exe costs a Command.
	PSStart time.Duration
	// ScriptTime is the run time of a recognised script (a marker line).
	ScriptTime time.Duration
	// CommandTime is the run time of a script without a marker line: a
	// command an operator typed (rmm run, the PowerShell pane). Zero:
	// it answers at once.
	CommandTime time.Duration
	// OperationTimeoutMax caps a Receive's long-poll; the request's own
	// w:OperationTimeout is honoured below the cap. Default 60s.
	OperationTimeoutMax time.Duration
	// MaxShellsPerUser is the per-host shell quota; DefaultMaxShellsPerUser
	// when zero.
	MaxShellsPerUser int
	// ShellIdleTimeout drops a shell nobody used for this long, as WinRM's
	// IdleTimeout does; DefaultShellIdleTimeout when zero, never when
	// negative.
	ShellIdleTimeout time.Duration
	// Faults gives a share of the hosts, chosen by seed, a fault: e.g.
	// "refuse=2%,hang=1%,http500=1%,malformed=1%" (see FaultKind and
	// ParseFaults). SetFault changes one host's fault later.
	Faults string
	// RebootDowntime is how long a host restarted by action_reboot stays
	// unreachable (half of it for a host woken by Wake-on-LAN);
	// DefaultRebootDowntime when zero.
	RebootDowntime time.Duration
	// WakeListen is the UDP "IP:port" (127.0.0.0/8 only) where the fleet
	// takes Wake-on-LAN magic packets; ListenIP with a free port when
	// empty. See WakeAddr.
	WakeListen string
	// Profile picks the kinds of host (profiles.go): "" or "modern"
	// (Windows 10/11, Server 2016-2025 by seed), "mixed" (those and, by
	// seed, Server Core, 2012 R2 with WinRM 2.0 limits, de-DE and
	// Constrained Language hosts), or profile names separated by commas.
	// See Profiles.
	Profile string
	// AllowUnencrypted makes the hosts accept Basic over plain HTTP, as
	// `winrm set winrm/config/service @{AllowUnencrypted="true"}` does on
	// Windows. Windows' default, false, answers such a request 401
	// offering only Negotiate. HTTPS hosts (TLS) accept Basic either way.
	AllowUnencrypted bool
	// MaxEnvelopeSize is the largest request a host takes, in bytes
	// (MaxEnvelopeSizekb); DefaultMaxEnvelopeSize when zero, and
	// LegacyMaxEnvelopeSize on hosts with WinRM 2.0 limits.
	MaxEnvelopeSize int
	// MaxOperationsPerShell is how many Commands one shell may run before
	// the host refuses more with the operations quota fault (Commands
	// count against MaxConcurrentOperationsPerUser until the shell is
	// deleted); DefaultMaxOperationsPerShell when zero, and
	// LegacyMaxOperationsPerShell on hosts with WinRM 2.0 limits.
	MaxOperationsPerShell int
	// PatchInstallTime is how long one update takes to download and
	// install in a patch task (wua.go); DefaultPatchInstallTime when
	// zero.
	PatchInstallTime time.Duration
	// ServicingTime is how long Component Based Servicing stays busy
	// (ServicingInProgress 2) after a restart that completed installs;
	// DefaultServicingTime when zero, none when negative.
	ServicingTime time.Duration
	// PatchBehind, when 1 or 2, puts every host that many months behind
	// on its Windows updates (a Patch Tuesday for the whole fleet); 0:
	// each host's own patch level, from its seed.
	PatchBehind int
	// TLS, when set, makes hosts serve HTTPS with certificates from a CA
	// (see TLSOptions); nil: every host serves HTTP.
	TLS *TLSOptions
	// Domain is the realm of the simulated Active Directory domain the
	// hosts of the "domain" profile are joined to (DefaultDomain when
	// empty): their FQDN is <hostname>.<domain, lower-cased>, they
	// refuse Basic and take Negotiate (Kerberos, NTLM) and Kerberos for
	// User in the domain, sealed over HTTP (secauth.go).
	Domain string
	// Keytab is the content of a keytab with the keys of the joined
	// hosts' SPNs, HTTP/<fqdn>@<Domain> (what kadmin's ktadd or ktpass
	// exports); a joined host without its key takes NTLM only.
	Keytab []byte
	// KDC is the domain's KDC (host:port): nothing the hosts need (they
	// have the keytab), it is what the fleet tells clients (rmm sim).
	KDC string
	// JoinedBasic makes the joined hosts take Basic too, as an admin
	// enables it (winrm set winrm/config/service/auth @{Basic="true"}):
	// the benchmark's baseline on the same hosts.
	JoinedBasic bool
	// Logf, when set, receives debug lines (ASCII).
	Logf func(format string, args ...any)
}

// HostInfo is one simulated host as a console would import it.
type HostInfo struct {
	Hostname  string
	IP        string // where to connect: the fleet's ListenIP
	Port      int    // 0 until Start unless Config.BasePort is set
	Transport string // "http", or "https" for a host that serves HTTPS (Config.TLS)
	MAC       string
	Site      string
	OSName    string // Win32_OperatingSystem.Caption
	OSVersion string // Win32_OperatingSystem.Version, e.g. 10.0.19045
	Tags      []string
	Server    bool // a Windows Server release, not a workstation
	Online    bool
	Fault     FaultKind // what the host does wrong on purpose; FaultNone when healthy
	Profile   string    // the host profile (Profiles), e.g. win11 or server-core
	// FQDN is a joined host's DNS name (its SPN is HTTP/<FQDN>); "" for
	// the others.
	FQDN string
	// Auth is how a client reaches the host: "negotiate" for a joined
	// host (it refuses Basic), "" (Basic) for the others.
	Auth string
}

// DomainInfo describes the simulated domain.
type DomainInfo struct {
	Realm   string // e.g. RMMLAB.TEST
	NetBIOS string // e.g. RMMLAB
	KDC     string // Config.KDC
	Keytab  bool   // a keytab was given: joined hosts take Kerberos
}

// Domain describes the simulated domain; ok is false when no host is
// joined to one.
func (f *Fleet) Domain() (DomainInfo, bool) {
	if f.dom == nil {
		return DomainInfo{}, false
	}
	return DomainInfo{Realm: f.dom.realm, NetBIOS: f.dom.netbios, KDC: f.dom.kdc, Keytab: f.dom.keytabOK}, true
}

// Fleet is a set of simulated Windows hosts. Create it with New, open its
// ports with Start and stop it with Close. Its methods are safe for
// concurrent use.
type Fleet struct {
	cfg    Config
	epoch  time.Time // metric curves are a function of time since epoch
	hosts  []*host
	byName map[string]*host

	mu      sync.Mutex // lifecycle: started, closed, serving.Add
	started bool
	closed  bool
	serving sync.WaitGroup // one accept loop per open listener
	watch   sync.WaitGroup // the ctx watcher started by Start
	done    chan struct{}  // closed by shutdown

	gate       sync.RWMutex // orders connection entry against shutdown
	gateClosed bool
	conns      sync.WaitGroup // connections being served

	shutdownOnce sync.Once
	shutdownErr  error

	acceptor *acceptor  // accepts for every listener (Linux); nil: a goroutine per listener
	tls      *fleetTLS  // HTTPS hosts and their certificates (tls.go); nil: all HTTP
	dom      *simDomain // the simulated domain (secauth.go); nil when no host is joined

	bufs buffers // recycled request, reply and scanner buffers

	power powerCtl // reboot/shutdown timers and the wake listener (wake.go)

	wu wuCatalog // the updates hosts are offered (wua.go)
}

// New validates cfg and builds the hosts. It opens no sockets.
func New(cfg Config) (*Fleet, error) {
	if cfg.Devices < 1 {
		return nil, fmt.Errorf("winrmsim: config: Devices must be >= 1, got %d", cfg.Devices)
	}
	if cfg.User == "" {
		cfg.User = DefaultUser
	}
	if cfg.Password == "" {
		cfg.Password = DefaultPassword
	}
	if cfg.ListenIP == "" {
		cfg.ListenIP = "127.0.0.1"
	}
	ip := net.ParseIP(cfg.ListenIP)
	if ip == nil {
		return nil, fmt.Errorf("winrmsim: config: ListenIP %q is not an IP address", cfg.ListenIP)
	}
	if ip4 := ip.To4(); ip4 == nil || ip4[0] != 127 {
		return nil, fmt.Errorf("winrmsim: config: ListenIP %s is not in 127.0.0.0/8; the simulator listens on loopback only", cfg.ListenIP)
	}
	cfg.ListenIP = ip.To4().String()
	if cfg.BasePort < 0 || (cfg.BasePort > 0 && (cfg.BasePort < 1024 || cfg.BasePort+cfg.Devices-1 > 65535)) {
		return nil, fmt.Errorf("winrmsim: config: BasePort %d with %d devices does not fit in ports 1024..65535", cfg.BasePort, cfg.Devices)
	}
	if cfg.OfflineFraction < 0 || cfg.OfflineFraction > 1 {
		return nil, fmt.Errorf("winrmsim: config: OfflineFraction must be within 0..1, got %v", cfg.OfflineFraction)
	}
	if cfg.RTT < 0 || cfg.PSStart < 0 || cfg.ScriptTime < 0 || cfg.OperationTimeoutMax < 0 {
		return nil, errors.New("winrmsim: config: RTT, PSStart, ScriptTime and OperationTimeoutMax must not be negative")
	}
	if cfg.OperationTimeoutMax == 0 {
		cfg.OperationTimeoutMax = DefaultOperationTimeoutMax
	}
	if cfg.MaxShellsPerUser < 0 {
		return nil, fmt.Errorf("winrmsim: config: MaxShellsPerUser must not be negative, got %d", cfg.MaxShellsPerUser)
	}
	if cfg.MaxShellsPerUser == 0 {
		cfg.MaxShellsPerUser = DefaultMaxShellsPerUser
	}
	if cfg.MaxEnvelopeSize < 0 || cfg.MaxOperationsPerShell < 0 {
		return nil, errors.New("winrmsim: config: MaxEnvelopeSize and MaxOperationsPerShell must not be negative")
	}
	if cfg.MaxEnvelopeSize == 0 {
		cfg.MaxEnvelopeSize = DefaultMaxEnvelopeSize
	}
	if cfg.MaxOperationsPerShell == 0 {
		cfg.MaxOperationsPerShell = DefaultMaxOperationsPerShell
	}
	spec, err := parseProfileSpec(cfg.Profile)
	if err != nil {
		return nil, fmt.Errorf("winrmsim: config: Profile: %w", err)
	}
	if cfg.ShellIdleTimeout == 0 {
		cfg.ShellIdleTimeout = DefaultShellIdleTimeout
	}
	if cfg.PatchBehind < 0 || cfg.PatchBehind > 2 {
		return nil, fmt.Errorf("winrmsim: config: PatchBehind must be 0..2, got %d", cfg.PatchBehind)
	}
	if cfg.PatchInstallTime < 0 {
		return nil, fmt.Errorf("winrmsim: config: PatchInstallTime must not be negative, got %v", cfg.PatchInstallTime)
	}
	if cfg.PatchInstallTime == 0 {
		cfg.PatchInstallTime = DefaultPatchInstallTime
	}
	switch {
	case cfg.ServicingTime == 0:
		cfg.ServicingTime = DefaultServicingTime
	case cfg.ServicingTime < 0:
		cfg.ServicingTime = 0
	}
	if err := cfg.checkPower(); err != nil {
		return nil, err
	}
	shares, err := ParseFaults(cfg.Faults)
	if err != nil {
		return nil, fmt.Errorf("winrmsim: config: Faults: %w", err)
	}

	f := &Fleet{
		cfg:    cfg,
		epoch:  time.Now(),
		byName: make(map[string]*host, cfg.Devices),
		done:   make(chan struct{}),
	}
	f.hosts = buildHosts(cfg.Devices, cfg.Seed, f.epoch, spec)
	for _, h := range f.hosts {
		f.byName[h.name] = h
		if cfg.BasePort > 0 {
			h.port = cfg.BasePort + h.index
		}
	}
	if off := int(cfg.OfflineFraction*float64(cfg.Devices) + 0.5); off > 0 {
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x0ff11e))
		for _, i := range rng.Perm(cfg.Devices)[:off] {
			f.hosts[i].online = false
		}
	}
	assignFaults(f.hosts, shares, cfg.Seed)
	joined := cfg.Domain != "" || len(cfg.Keytab) > 0
	for _, h := range f.hosts {
		joined = joined || h.hp.domain
	}
	if joined {
		if f.dom, err = newSimDomain(cfg); err != nil {
			return nil, fmt.Errorf("winrmsim: config: %w", err)
		}
		for _, h := range f.hosts {
			if h.hp.domain {
				h.fqdn = f.dom.fqdn(h.name)
			}
		}
	}
	if cfg.TLS != nil {
		if f.tls, err = newFleetTLS(cfg.TLS, f.byName); err != nil {
			return nil, fmt.Errorf("winrmsim: config: %w", err)
		}
	}
	return f, nil
}

// Start opens every host's port (ephemeral unless Config.BasePort is set)
// and serves until Close is called or ctx is done. Hosts that start offline
// get a port too, which then refuses connections. Start returns once the
// ports are open.
func (f *Fleet) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("winrmsim: start: fleet is closed")
	}
	if f.started {
		return errors.New("winrmsim: start: already started")
	}
	if err := f.startWake(); err != nil {
		return fmt.Errorf("winrmsim: start: %w", err)
	}
	// Every port is held until all are assigned, so an offline host's port
	// cannot go to another host.
	lns := make([]net.Listener, len(f.hosts))
	free := newPortPicker()
	for i, h := range f.hosts {
		var ln net.Listener
		var err error
		if h.port != 0 {
			ln, err = f.listen(h.port)
		} else {
			ln, err = free.listen(f)
		}
		if err != nil {
			for _, l := range lns[:i] {
				_ = l.Close()
			}
			f.power.stop()
			return fmt.Errorf("winrmsim: start %s: %w", h.name, err)
		}
		lns[i] = ln
	}
	f.started = true
	f.startAcceptor()
	online := 0
	for i, h := range f.hosts {
		h.mu.Lock()
		h.port = lns[i].Addr().(*net.TCPAddr).Port
		if h.listening() {
			f.serveLocked(h, lns[i])
		} else {
			f.parkLocked(h, lns[i])
		}
		if h.online {
			online++
		}
		h.mu.Unlock()
	}
	f.logf("winrmsim: %d hosts on %s (%d online)", len(f.hosts), f.cfg.ListenIP, online)

	f.watch.Add(1)
	go func() {
		defer f.watch.Done()
		select {
		case <-ctx.Done():
			_ = f.shutdown()
		case <-f.done:
		}
	}()
	return nil
}

// Ports for hosts when Config.BasePort is zero come from below the range
// kernels use for outgoing connections (Linux 32768-60999, Windows and
// macOS 49152-65535). There, a port is not taken by some client's
// connection; an offline host keeps its port bound (parkLocked), so
// neither another fleet (parallel test processes) nor anything else can
// listen on it, and SetOnline can listen on it again; and asking the kernel for 10,000 ephemeral listeners takes seconds, as
// its search for a free port slows down as the range fills.
const (
	freePortLow  = 20000
	freePortHigh = 32768
)

// portPicker walks the free-port range from a random point, so two fleets
// starting at once (parallel tests) rarely probe the same ports.
type portPicker struct {
	next, tried int
}

func newPortPicker() *portPicker {
	return &portPicker{next: rand.IntN(freePortHigh - freePortLow)}
}

// listen opens the next port that is free; once the range is used up it
// lets the kernel choose.
func (p *portPicker) listen(f *Fleet) (net.Listener, error) {
	for p.tried < freePortHigh-freePortLow {
		port := freePortLow + p.next%(freePortHigh-freePortLow)
		p.next++
		p.tried++
		if ln, err := f.listen(port); err == nil {
			return ln, nil
		}
	}
	return f.listen(0)
}

// listen opens a TCP listener on the fleet's loopback address.
func (f *Fleet) listen(port int) (net.Listener, error) {
	// No TCP keep-alive probes on accepted connections: loopback peers
	// do not vanish, and the setsockopt calls cost every connection.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", net.JoinHostPort(f.cfg.ListenIP, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// serveLocked starts serving h on ln. f.mu and h.mu must be held.
func (f *Fleet) serveLocked(h *host, ln net.Listener) {
	hl := &hostListener{Listener: ln, h: h}
	h.ln = hl
	f.startAccepting(hl)
}

// Close stops every listener and connection, ends long-polls, and waits for
// the goroutines the fleet started. It is safe to call more than once.
func (f *Fleet) Close() error {
	err := f.shutdown()
	f.watch.Wait()
	return err
}

func (f *Fleet) shutdown() error {
	f.shutdownOnce.Do(func() {
		f.power.stop() // no reboot or wake comes back after this
		f.mu.Lock()
		f.closed = true
		close(f.done) // handlers waiting (long-polls, hung hosts) return
		f.mu.Unlock()

		f.gate.Lock()
		f.gateClosed = true // no new connection is served
		f.gate.Unlock()

		// Close every listener and every connection, idle keep-alives
		// included.
		var errs []error
		for _, h := range f.hosts {
			h.mu.Lock()
			for _, ln := range []net.Listener{h.ln, h.parked} {
				if ln == nil {
					continue
				}
				if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
					errs = append(errs, err)
				}
			}
			h.ln, h.parked = nil, nil
			drop := h.takeConnsLocked()
			h.mu.Unlock()
			for _, c := range drop {
				_ = c.Close()
			}
		}
		if len(errs) > 0 {
			f.shutdownErr = fmt.Errorf("winrmsim: close: %w", errors.Join(errs...))
		}
		if f.acceptor != nil {
			f.acceptor.close()
		}
		f.serving.Wait()
		if f.acceptor != nil {
			f.acceptor.release()
		}
		f.conns.Wait()
		for _, h := range f.hosts {
			h.mu.Lock()
			h.dropShellsLocked()
			h.mu.Unlock()
		}
		f.logf("winrmsim: closed")
	})
	return f.shutdownErr
}

// Hosts returns every host in a stable order (the order they were built).
func (f *Fleet) Hosts() []HostInfo {
	out := make([]HostInfo, len(f.hosts))
	for i, h := range f.hosts {
		h.mu.Lock()
		out[i] = h.infoLocked(f.cfg.ListenIP)
		h.mu.Unlock()
		out[i].Transport = f.transport(h.name)
	}
	return out
}

// Host returns one host by name.
func (f *Fleet) Host(hostname string) (HostInfo, bool) {
	h, ok := f.byName[hostname]
	if !ok {
		return HostInfo{}, false
	}
	h.mu.Lock()
	info := h.infoLocked(f.cfg.ListenIP)
	h.mu.Unlock()
	info.Transport = f.transport(h.name)
	return info, true
}

// SetOnline takes a host off the network or brings it back. Offline stops
// its listener and closes its open connections, so new connections are
// refused; the port stays bound meanwhile (on Linux), so no other process
// takes it; online listens again on the same port. Shells survive (the machine did
// not restart; see Reboot). Before Start it only sets the initial state.
func (f *Fleet) SetOnline(hostname string, online bool) error {
	h, ok := f.byName[hostname]
	if !ok {
		return fmt.Errorf("winrmsim: set online: unknown host %q", hostname)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("winrmsim: set online %s: fleet is closed", hostname)
	}
	h.mu.Lock()
	if h.online == online {
		h.mu.Unlock()
		return nil
	}
	h.online = online
	drop, err := f.listenLocked(h)
	h.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
	if err != nil {
		h.mu.Lock()
		h.online = !online
		h.mu.Unlock()
		return fmt.Errorf("winrmsim: set online %s: %w", hostname, err)
	}
	if online {
		f.logf("winrmsim: %s online on port %d", h.name, h.port)
	} else {
		f.logf("winrmsim: %s offline", h.name)
	}
	return nil
}

// listening reports whether the host's port should accept connections:
// it is online and not refusing them on purpose. h.mu must be held.
func (h *host) listening() bool { return h.online && h.fault() != FaultRefuse }

// listenLocked opens or closes the host's port to match listening() and
// returns the connections to cut (closed by the caller once h.mu is
// released). Before Start it does nothing: Start reads the state. f.mu
// and h.mu must be held.
func (f *Fleet) listenLocked(h *host) ([]*hostConn, error) {
	if !f.started {
		return nil, nil
	}
	want := h.listening()
	switch {
	case want && h.ln == nil:
		if p := h.parked; p != nil {
			h.parked = nil
			if err := unpark(p); err == nil {
				f.serveLocked(h, p)
				return nil, nil
			}
			_ = p.Close()
		}
		ln, err := f.listen(h.port)
		if err != nil {
			return nil, fmt.Errorf("port %d: %w", h.port, err)
		}
		f.serveLocked(h, ln)
	case !want && h.ln != nil:
		hl := h.ln.(*hostListener)
		h.ln = nil
		if hl.acc != nil {
			// Served by the epoll acceptor: stop that first, then keep
			// the socket bound. (A listener with its own accept
			// goroutine is closed, which ends the goroutine.)
			hl.acc.remove(hl)
			f.parkLocked(h, hl.Listener)
		} else {
			_ = hl.Close()
		}
		return h.takeConnsLocked(), nil
	}
	return nil, nil
}

// errParkUnsupported: this system cannot keep a port bound without
// listening (see portpark_*.go).
var errParkUnsupported = errors.New("keeping a port without listening is not supported on this system")

// parkLocked keeps ln's port for the offline host h, bound and not
// listening, or closes ln where that cannot be done (then the port is
// free until the host comes back, and another process may take it).
// h.mu must be held.
func (f *Fleet) parkLocked(h *host, ln net.Listener) {
	if err := park(ln); err != nil {
		if !errors.Is(err, errParkUnsupported) {
			f.logf("winrmsim: %s: port %d is not kept while offline: %v", h.name, h.port, err)
		}
		_ = ln.Close()
		return
	}
	h.parked = ln
}

// CloseConnections closes a host's open connections, idle keep-alives
// included, and changes nothing else: what HTTP.sys does to a connection
// idle for two minutes, or a restart of the WinRM service. Shells live
// on.
func (f *Fleet) CloseConnections(hostname string) error {
	h, ok := f.byName[hostname]
	if !ok {
		return fmt.Errorf("winrmsim: close connections: unknown host %q", hostname)
	}
	h.mu.Lock()
	drop := h.takeConnsLocked()
	h.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
	return nil
}

// Reboot restarts a host in place: its open connections drop, every shell
// and command is gone (later requests for them get the shell-not-found
// fault) and its last boot time becomes now. The host stays online.
func (f *Fleet) Reboot(hostname string) error {
	h, ok := f.byName[hostname]
	if !ok {
		return fmt.Errorf("winrmsim: reboot: unknown host %q", hostname)
	}
	h.mu.Lock()
	h.dropShellsLocked()
	h.lastBoot = time.Now().Truncate(time.Second)
	drop := h.takeConnsLocked()
	h.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
	h.rebootState(f.cfg.ServicingTime)
	f.logf("winrmsim: %s rebooted", h.name)
	return nil
}

func (f *Fleet) logf(format string, args ...any) {
	if f.cfg.Logf != nil {
		f.cfg.Logf(format, args...)
	}
}

// hostListener registers every accepted connection with its host, so that
// taking the host offline (or closing the fleet) can cut it.
type hostListener struct {
	net.Listener
	h *host

	// Set when the fleet's acceptor (Linux epoll) serves the listener.
	acc *acceptor
	raw syscall.RawConn
	fd  int32
}

// Close stops accepting and closes the listener.
func (l *hostListener) Close() error {
	if l.acc != nil {
		l.acc.remove(l)
	}
	return l.Listener.Close()
}

// register tracks an accepted connection with its host; a host taken
// offline meanwhile refuses it.
func (l *hostListener) register(c net.Conn) (*hostConn, bool) {
	hc := &hostConn{Conn: c, h: l.h}
	l.h.mu.Lock()
	if !l.h.listening() {
		l.h.mu.Unlock()
		_ = c.Close()
		return nil, false
	}
	if l.h.conns == nil {
		l.h.conns = make(map[*hostConn]struct{})
	}
	l.h.conns[hc] = struct{}{}
	l.h.mu.Unlock()
	return hc, true
}

// serveAccepted serves a connection accepted on hl.
func (f *Fleet) serveAccepted(hl *hostListener, c net.Conn) {
	hc, ok := hl.register(c)
	if !ok {
		return
	}
	conn, err := f.wrapConn(hl.h, hc)
	if err != nil {
		f.logf("%v", err)
		_ = hc.Close()
		return
	}
	if !f.enterConn() {
		_ = hc.Close()
		return
	}
	hl.h.stats.connections.Add(1)
	go f.serveConn(hl.h, conn)
}

// hostConn is a server-side connection to one host, tracked so that taking
// the host offline can cut it.
type hostConn struct {
	net.Conn
	h    *host
	once sync.Once
	err  error
}

// Close closes the connection once and forgets it.
func (c *hostConn) Close() error {
	c.once.Do(func() {
		c.h.mu.Lock()
		delete(c.h.conns, c)
		c.h.mu.Unlock()
		c.err = c.Conn.Close()
	})
	return c.err
}

// takeConnsLocked empties the host's connection set and returns what was
// in it, for the caller to close once h.mu is released.
func (h *host) takeConnsLocked() []*hostConn {
	out := make([]*hostConn, 0, len(h.conns))
	for c := range h.conns {
		out = append(out, c)
	}
	h.conns = nil
	return out
}
