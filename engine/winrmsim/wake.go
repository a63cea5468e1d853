package winrmsim

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Power: action_reboot and action_shutdown take a host down a moment
// after they answer (shutdown.exe /t 2), a reboot brings it back after
// Config.RebootDowntime with a new boot time, and a shut-down host waits
// for a Wake-on-LAN magic packet on the fleet's UDP listener.

// DefaultRebootDowntime is how long a rebooting host stays unreachable.
const DefaultRebootDowntime = 20 * time.Second

// powerCtl owns the fleet's power timers and the Wake-on-LAN listener.
// Its mutex is taken alone (never while holding another lock that its
// timers' callbacks need).
type powerCtl struct {
	mu     sync.Mutex
	closed bool
	timers map[*time.Timer]struct{}
	wg     sync.WaitGroup // running timer callbacks and the wake reader

	wake  net.PacketConn         // nil before Start
	byMAC map[[6]byte]*host      // written before the reader starts
	rx    atomic.Int64           // wake datagrams received
	woken atomic.Int64           // hosts a magic packet booted
	last  atomic.Pointer[string] // last MAC a magic packet named
}

// checkPower validates the power fields of a Config and fills defaults.
func (c *Config) checkPower() error {
	if c.RebootDowntime < 0 {
		return fmt.Errorf("winrmsim: config: RebootDowntime must not be negative, got %v", c.RebootDowntime)
	}
	if c.RebootDowntime == 0 {
		c.RebootDowntime = DefaultRebootDowntime
	}
	if c.WakeListen == "" {
		return nil
	}
	if err := CheckLoopbackAddr(c.WakeListen); err != nil {
		return fmt.Errorf("winrmsim: config: WakeListen: %w", err)
	}
	return nil
}

// CheckLoopbackAddr accepts "IP:port" with an IPv4 address in 127.0.0.0/8,
// the only addresses the simulator listens on.
func CheckLoopbackAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not IP:port: %w", addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: bad port: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || ip.To4()[0] != 127 {
		return fmt.Errorf("%q is not in 127.0.0.0/8; the simulator listens on loopback only", addr)
	}
	return nil
}

// after runs fn once d has passed, unless the fleet closes first.
func (pc *powerCtl) after(d time.Duration, fn func()) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return false
	}
	if pc.timers == nil {
		pc.timers = make(map[*time.Timer]struct{})
	}
	pc.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer pc.wg.Done()
		pc.mu.Lock()
		delete(pc.timers, t)
		closed := pc.closed
		pc.mu.Unlock()
		if !closed {
			fn()
		}
	})
	pc.timers[t] = struct{}{}
	return true
}

// stop cancels pending timers, closes the wake listener and waits for
// callbacks and the reader to finish. Safe to call more than once.
func (pc *powerCtl) stop() {
	pc.mu.Lock()
	pc.closed = true
	for t := range pc.timers {
		if t.Stop() {
			pc.wg.Done()
		}
		delete(pc.timers, t)
	}
	if pc.wake != nil {
		_ = pc.wake.Close()
	}
	pc.mu.Unlock()
	pc.wg.Wait()
}

// errShutdownInProgress is Windows' ERROR_SHUTDOWN_IN_PROGRESS text.
var errShutdownInProgress = errors.New("A system shutdown is in progress.")

// schedulePower takes h down at the given instant: to reboot (back after
// RebootDowntime) or to power off (back on a Wake-on-LAN packet).
func (f *Fleet) schedulePower(h *host, at time.Time, kind powerState) error {
	h.hs().mu.Lock()
	if h.hs().power != powerOn {
		h.hs().mu.Unlock()
		return errShutdownInProgress
	}
	if kind == powerOff {
		kind = powerStopping
	}
	h.hs().power = kind
	h.hs().mu.Unlock()
	down := func() {
		h.wuDown(time.Now()) // a patch task running dies here
		_ = f.SetOnline(h.name, false)
		if kind == powerStopping {
			h.setPower(powerOff)
			f.logf("winrmsim: %s is shut down; a magic packet for %s wakes it", h.name, h.mac)
			return
		}
		f.power.after(f.cfg.RebootDowntime, func() { f.boot(h) })
	}
	if !f.power.after(time.Until(at), down) {
		h.setPower(powerOn)
		return errors.New("the simulated fleet is closing")
	}
	return nil
}

// boot brings a host up after a restart or a wake: shells gone, new boot
// time, state reset as a boot resets it, port open again.
func (f *Fleet) boot(h *host) {
	_ = f.Reboot(h.name)
	h.setPower(powerOn)
	f.listenAgain(h, 0)
}

// listenAgain opens a booted host's port. Another program may have taken
// the port while the host was down (ports are shared with everything on
// the machine): then it retries every half second for a minute, as a
// service whose port is busy would, and gives up with a log line.
func (f *Fleet) listenAgain(h *host, attempt int) {
	err := f.SetOnline(h.name, true)
	if err == nil {
		return
	}
	if attempt >= 120 {
		f.logf("winrmsim: %s stays offline: %v", h.name, err)
		return
	}
	if attempt == 0 {
		f.logf("winrmsim: %s boot: %v; retrying", h.name, err)
	}
	f.power.after(500*time.Millisecond, func() { f.listenAgain(h, attempt+1) })
}

func (h *host) setPower(p powerState) {
	h.hs().mu.Lock()
	h.hs().power = p
	h.hs().mu.Unlock()
}

func (h *host) powerNow() powerState {
	if h.st.Load() == nil {
		return powerOn // never touched by an action
	}
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	return h.hs().power
}

// wakeHost boots a host that is off: shut down by action_shutdown, or
// offline for any other reason but not in the middle of a restart. It
// reports whether the host will boot.
func (f *Fleet) wakeHost(h *host) bool {
	h.mu.Lock()
	online := h.online
	h.mu.Unlock()
	h.hs().mu.Lock()
	ok := h.hs().power == powerOff || h.hs().power == powerOn && !online
	if ok {
		h.hs().power = powerBooting
	}
	h.hs().mu.Unlock()
	if !ok {
		return false
	}
	if !f.power.after(f.cfg.RebootDowntime/2, func() { f.boot(h) }) {
		h.setPower(powerOff)
		return false
	}
	f.logf("winrmsim: %s woken by a magic packet", h.name)
	return true
}

// startWake opens the Wake-on-LAN listener (UDP, loopback) and its reader.
func (f *Fleet) startWake() error {
	addr := f.cfg.WakeListen
	if addr == "" {
		addr = net.JoinHostPort(f.cfg.ListenIP, "0")
	}
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return fmt.Errorf("wake listener: %w", err)
	}
	f.power.byMAC = make(map[[6]byte]*host, len(f.hosts))
	for _, h := range f.hosts {
		if m, err := net.ParseMAC(h.mac); err == nil && len(m) == 6 {
			f.power.byMAC[[6]byte(m)] = h
		}
	}
	f.power.mu.Lock()
	f.power.wake = pc
	f.power.wg.Add(1)
	f.power.mu.Unlock()
	go f.readWake(pc)
	return nil
}

// readWake reads magic packets until the listener closes.
func (f *Fleet) readWake(pc net.PacketConn) {
	defer f.power.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		f.power.rx.Add(1)
		mac, ok := magicPacketMAC(buf[:n])
		if !ok {
			continue
		}
		s := net.HardwareAddr(mac[:]).String()
		f.power.last.Store(&s)
		if h := f.power.byMAC[mac]; h != nil && f.wakeHost(h) {
			f.power.woken.Add(1)
		}
	}
}

// magicPacketMAC finds a Wake-on-LAN magic packet in a datagram: six 0xFF
// bytes then the target MAC sixteen times (anywhere in the payload, with
// an optional SecureOn password after it, as NICs accept it).
func magicPacketMAC(p []byte) ([6]byte, bool) {
	sync := []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
	for i := 0; i+102 <= len(p); i++ {
		if !bytes.Equal(p[i:i+6], sync) {
			continue
		}
		mac := p[i+6 : i+12]
		good := true
		for k := 1; k < 16 && good; k++ {
			good = bytes.Equal(p[i+6+6*k:i+12+6*k], mac)
		}
		if good {
			return [6]byte(mac), true
		}
	}
	return [6]byte{}, false
}

// WakeAddr is where the fleet's Wake-on-LAN listener takes magic packets
// (UDP, "127.0.0.1:port"); empty before Start.
func (f *Fleet) WakeAddr() string {
	f.power.mu.Lock()
	defer f.power.mu.Unlock()
	if f.power.wake == nil {
		return ""
	}
	return f.power.wake.LocalAddr().String()
}

// WakeStats counts what reached the wake listener.
type WakeStats struct {
	Addr    string `json:"addr"`     // the listener, as WakeAddr
	Packets int64  `json:"packets"`  // datagrams received
	Woken   int64  `json:"woken"`    // hosts a magic packet booted
	LastMAC string `json:"last_mac"` // MAC named by the last magic packet
}

// Wake returns the wake listener's address and counters.
func (f *Fleet) Wake() WakeStats {
	ws := WakeStats{Addr: f.WakeAddr(), Packets: f.power.rx.Load(), Woken: f.power.woken.Load()}
	if s := f.power.last.Load(); s != nil {
		ws.LastMAC = strings.ToUpper(*s)
	}
	return ws
}

// MagicPacket builds the Wake-on-LAN payload for a MAC such as
// "00:15:5D:01:02:03": six 0xFF bytes and the MAC sixteen times.
func MagicPacket(mac string) ([]byte, error) {
	m, err := net.ParseMAC(mac)
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("magic packet: %q is not a 6-byte MAC", mac)
	}
	p := bytes.Repeat([]byte{0xFF}, 6)
	for range 16 {
		p = append(p, m...)
	}
	return p, nil
}
