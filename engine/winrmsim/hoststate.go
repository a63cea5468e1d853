package winrmsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// svcSlot is one service of one host: an index into serviceCatalog and
// its current state, 4 bytes so a host's list stays small.
type svcSlot struct {
	def      uint16
	instance bool // the per-user instance (<name>_<suffix>) of a "u" service
	running  bool
	failing  bool // an Automatic service that does not start at boot
}

// procEntry is one running process.
type procEntry struct {
	name string
	pid  int
	sess int    // session id; 0 for services
	svc  string // the service it is, if any (stopping it ends the process)
	user bool   // belongs to the interactive user (logoff ends it)
	crit bool   // a critical system process: Stop-Process is denied
}

// regValue is one value in a host's virtual registry.
type regValue struct {
	path, name, typ, value string
}

// vfile is one file on a host's virtual disk.
type vfile struct {
	path string // as first written
	data []byte
	at   time.Time
}

// hostState is what actions change on a host: services, processes,
// sessions, the RDP flag, the virtual registry and disk. It is built from
// the host's seed the first time something asks (most hosts of a big
// fleet never are) and guarded by its own mutex, a leaf lock: nothing
// else is locked while it is held.
type hostState struct {
	mu       sync.Mutex
	built    bool // the small part: RDP, pending reboot, sessions, temp
	svcBuilt bool // the services

	suffix   string // per-user service suffix, e.g. 3f2a1
	services []svcSlot
	rdp      bool
	pending  time.Time // pending reboot since; zero if none

	boots    int // reboots since the fleet started: seeds process ids
	procs    []procEntry
	nextPID  int
	sessions int  // interactive sessions
	locked   bool // the sessions are locked (disconnected)
	logons   int  // logons since start: seeds the user's processes

	tempFiles int
	tempBytes int64

	registry map[string]regValue // key: lower(path)+"\\"+lower(name)
	files    map[string]*vfile   // key: lower(path)

	// power is the machine's power state as actions left it.
	power powerState

	// wu is the Windows Update Agent's state (wua.go), built the first
	// time a patch script asks.
	wu *wuHost
}

// powerState says whether a host is up, restarting or switched off.
type powerState int

const (
	powerOn        powerState = iota
	powerRebooting            // going down, or down, after action_reboot
	powerStopping             // going down after action_shutdown
	powerOff                  // shut down; a Wake-on-LAN packet boots it
	powerBooting              // woken, booting
)

func (p powerState) String() string {
	switch p {
	case powerRebooting:
		return "rebooting"
	case powerStopping:
		return "shutting-down"
	case powerOff:
		return "off"
	case powerBooting:
		return "booting"
	}
	return "on"
}

// hostRole reports whether h has the given server tag or vendor key.
func (h *host) hasScope(scope string) bool {
	switch scope {
	case "*", "u":
		return true
	case "w":
		return !h.server
	case "s":
		return h.server
	case "hv":
		return strings.HasPrefix(h.mac, "00:15:5D")
	case "vm":
		return strings.HasPrefix(h.mac, "00:50:56")
	case "dell":
		return strings.HasPrefix(h.mac, "00:14:22")
	case "hp":
		return strings.HasPrefix(h.mac, "3C:52:82")
	case "lenovo":
		return strings.HasPrefix(h.mac, "54:EE:75")
	}
	return h.server && slices.Contains(h.tags, scope)
}

// stateLocked returns the host's state, building its small part (RDP,
// pending reboot, sessions, temp files) on first use; the services are
// built by servicesLocked. h.hs().mu must be held.
func (h *host) stateLocked() *hostState {
	st := h.hs()
	if st.built {
		return st
	}
	st.built = true
	rng := rand.New(rand.NewPCG(h.seed, 0xba5e57a7e))
	if h.server {
		st.rdp = rng.IntN(100) < 85
	} else {
		st.rdp = rng.IntN(100) < 30
	}
	if rng.IntN(100) < 3 {
		age := time.Duration(rng.Int64N(int64(h.prof.uptime)))
		st.pending = time.Now().Add(-age).Truncate(time.Second)
	}
	if h.server {
		if rng.IntN(100) < 20 {
			st.sessions = 1
		}
	} else if rng.IntN(100) < 80 {
		st.sessions = 1
	}
	st.tempFiles = 40 + rng.IntN(2400)
	st.tempBytes = int64(st.tempFiles) * int64(20_000+rng.IntN(400_000))
	return st
}

// servicesLocked returns the host's state with its services built (a
// few hundred slots of 6 bytes, made the first time a script or an
// operator asks). h.hs().mu must be held.
func (h *host) servicesLocked() *hostState {
	st := h.stateLocked()
	if st.svcBuilt {
		return st
	}
	st.svcBuilt = true
	rng := rand.New(rand.NewPCG(h.seed, 0x5e7c1ce5))
	st.suffix = fmt.Sprintf("%05x", rng.Uint32()&0xFFFFF)
	hyperV := h.hasScope("hv")
	for i, d := range serviceCatalog {
		pct := d.pct
		if !h.server && pct < 100 {
			pct = pct * 55 / 100 // workstation images are trimmed more
		}
		if !h.hasScope(d.scope) || rng.IntN(100) >= pct {
			continue
		}
		running := d.running
		if hyperV && strings.HasPrefix(d.name, "vmic") && d.name != "vmicrdv" && d.name != "vmicvmsession" && d.name != "vmicguestinterface" {
			running = true
		}
		if d.scope == "u" {
			// The template never runs; the instance runs while a user is
			// logged on.
			running = false
			st.services = append(st.services, svcSlot{def: uint16(i), instance: true, running: st.sessions > 0})
		}
		st.services = append(st.services, svcSlot{def: uint16(i), running: running})
	}
	slices.SortFunc(st.services, func(a, b svcSlot) int {
		return compareFold(st.nameOf(a), st.nameOf(b))
	})
	// About one host in eight has an Automatic service or two that did not
	// start (or crashed): what "watched service stopped" alerts are for.
	if rng.IntN(100) < 12 {
		candidates := []string{"Spooler", "W32Time", "BITS", "wuauserv", "WSearch", "SQLSERVERAGENT", "DiagTrack", "AdobeARMservice", "VMTools", "Dnscache", "TrkWks", "UsoSvc"}
		for range 1 + rng.IntN(2) {
			name := candidates[rng.IntN(len(candidates))]
			if i := st.serviceIndex(name); i >= 0 && startOf(st.services[i]) == startAuto {
				st.services[i].running = false
				st.services[i].failing = true
			}
		}
	}
	return st
}

// serviceStates returns the state (Running, Stopped, or "" when the host
// has no such service) of each named service, without copying the list.
func (h *host) serviceStates(names []string) []string {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.servicesLocked()
	out := make([]string, len(names))
	for i, n := range names {
		if j := st.serviceIndex(n); j >= 0 {
			out[i] = svcStopped
			if st.services[j].running {
				out[i] = svcRunning
			}
		}
	}
	return out
}

// nameOf is a service slot's service name.
func (st *hostState) nameOf(s svcSlot) string {
	d := &serviceCatalog[s.def]
	if s.instance {
		return d.name + "_" + st.suffix
	}
	return d.name
}

// infoOf is a service slot as ServiceInfo.
func (st *hostState) infoOf(s svcSlot) ServiceInfo {
	d := &serviceCatalog[s.def]
	// Per-user services (a template that never runs, an instance that
	// runs while its user is around) are not started at boot by the SCM:
	// startOf calls them Manual.
	si := ServiceInfo{Name: d.name, DisplayName: d.display, State: svcStopped, StartType: startOf(s)}
	if s.instance {
		si.Name += "_" + st.suffix
		si.DisplayName += "_" + st.suffix
	}
	if s.running {
		si.State = svcRunning
	}
	return si
}

// startOf is a service slot's start type.
func startOf(s svcSlot) string {
	d := &serviceCatalog[s.def]
	if d.scope == "u" {
		return startManual
	}
	return d.start
}

// serviceIndex finds a service by name, case-insensitively; -1 if none.
func (st *hostState) serviceIndex(name string) int {
	for i, s := range st.services {
		if strings.EqualFold(st.nameOf(s), name) {
			return i
		}
	}
	return -1
}

// services returns the host's services with their current states, sorted
// by name.
func (h *host) services() []ServiceInfo {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.servicesLocked()
	out := make([]ServiceInfo, len(st.services))
	for i, s := range st.services {
		out[i] = st.infoOf(s)
	}
	return out
}

// rdpEnabled reports whether Remote Desktop connections are allowed.
func (h *host) rdpEnabled() bool {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	return h.stateLocked().rdp
}

// pendingRebootSince is when the host started waiting for a reboot (an
// update, or a registry_set of a well-known key); zero if it is not.
func (h *host) pendingRebootSince() time.Time {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	return h.stateLocked().pending
}

// rebootState applies a restart to the host's state: processes start
// afresh, Automatic services start, sessions end, a pending reboot is
// done. Stopped Manual services stay stopped. The virtual disk and
// registry persist (minus the pending-reboot markers). Windows Update:
// tasks that ran are dead, installs that waited for the restart are
// complete, and servicing stays busy for servicing when there were any.
func (h *host) rebootState(servicing time.Duration) {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	now := time.Now()
	h.wuBootLocked(now, servicing)
	st := h.stateLocked() // built now, so a seeded pending reboot clears too
	st.boots++
	st.procs = nil
	st.sessions = 0
	st.locked = false
	st.pending = time.Time{}
	for i := range st.services {
		s := &st.services[i]
		if startOf(*s) == startAuto && !s.failing {
			s.running = true
		}
	}
	for k := range st.registry {
		if isPendingRebootKey(st.registry[k].path, st.registry[k].name) {
			delete(st.registry, k)
		}
	}
}

// isPendingRebootKey reports the registry values Windows (and every RMM
// pending-reboot check) reads as "a reboot is pending".
func isPendingRebootKey(path, name string) bool {
	p := strings.ToLower(strings.TrimRight(path, `\`))
	p = strings.Replace(p, "hkey_local_machine", "hklm:", 1)
	p = strings.Replace(p, "hklm:\\", "hklm:", 1)
	p = strings.Replace(p, "hklm:", "hklm:\\", 1)
	switch {
	case strings.HasSuffix(p, `\microsoft\windows\currentversion\component based servicing\rebootpending`),
		strings.HasSuffix(p, `\microsoft\windows\currentversion\windowsupdate\auto update\rebootrequired`):
		return true
	case strings.HasSuffix(p, `\currentcontrolset\control\session manager`):
		return strings.EqualFold(name, "PendingFileRenameOperations")
	}
	return false
}

// Processes: a host's process list is built from its seed and boot count
// the first time something lists or kills processes after a boot, from
// the services then running and the sessions then open.

// sysProc is a process every Windows host runs.
type sysProc struct {
	name string
	sess int
	crit bool
}

var (
	bootProcs = []sysProc{
		{"Registry", 0, true}, {"smss", 0, true}, {"csrss", 0, true}, {"wininit", 0, true},
		{"csrss", 1, true}, {"winlogon", 1, true}, {"services", 0, true}, {"lsass", 0, true},
		{"Memory Compression", 0, true}, {"fontdrvhost", 0, false}, {"fontdrvhost", 1, false},
		{"dwm", 1, true}, {"WmiPrvSE", 0, false}, {"WmiPrvSE", 0, false}, {"dllhost", 0, false},
		{"conhost", 0, false}, {"MpDefenderCoreService", 0, false},
	}
	// userProcs run while a user is logged on; pct is the chance a host's
	// user runs it, n how many instances.
	userProcs = []struct {
		name   string
		ws     bool // workstations only
		pct, n int
	}{
		{"explorer", false, 100, 1}, {"sihost", false, 100, 1}, {"taskhostw", false, 100, 1},
		{"RuntimeBroker", false, 100, 3}, {"ctfmon", false, 100, 1}, {"ShellExperienceHost", true, 100, 1},
		{"StartMenuExperienceHost", false, 100, 1}, {"SearchHost", true, 100, 1}, {"TextInputHost", false, 100, 1},
		{"SecurityHealthSystray", true, 100, 1}, {"OneDrive", true, 70, 1}, {"msedge", false, 75, 7},
		{"chrome", true, 40, 9}, {"ms-teams", true, 50, 2}, {"OUTLOOK", true, 60, 1}, {"WINWORD", true, 30, 1},
		{"EXCEL", true, 30, 1}, {"notepad", false, 35, 1}, {"mmc", false, 15, 1}, {"ServerManager", false, 15, 1},
		{"audiodg", true, 60, 1}, {"conhost", false, 100, 1},
	}
)

// newPIDLocked hands out the next process id: a multiple of 4, rising by
// a hashed step as Windows' do.
func (st *hostState) newPIDLocked() int {
	st.nextPID += 4 + 4*int(splitmix(uint64(st.nextPID))%40)
	if st.nextPID > 65000 {
		st.nextPID = 1000 + st.nextPID%4000/4*4
	}
	return st.nextPID
}

// processesLocked returns the current processes sorted by name and id,
// building them after a boot. h.hs().mu must be held.
func (h *host) processesLocked() []procEntry {
	st := h.servicesLocked()
	if st.procs != nil {
		return st.procs
	}
	rng := rand.New(rand.NewPCG(h.seed^uint64(st.boots)*0x9e3779b97f4a7c15, 0x70c5))
	st.nextPID = 88 + 4*rng.IntN(40)
	st.procs = append(st.procs, procEntry{name: "Idle", pid: 0, crit: true}, procEntry{name: "System", pid: 4, crit: true})
	for _, p := range bootProcs {
		st.procs = append(st.procs, procEntry{name: p.name, pid: st.newPIDLocked(), sess: p.sess, crit: p.crit})
	}
	n := 70 + rng.IntN(25)
	if h.server {
		n = 55 + rng.IntN(25)
	}
	for range n {
		st.procs = append(st.procs, procEntry{name: "svchost", pid: st.newPIDLocked(), crit: true})
	}
	for _, s := range st.services {
		if d := &serviceCatalog[s.def]; s.running && d.process != "" {
			st.procs = append(st.procs, procEntry{name: d.process, pid: st.newPIDLocked(), svc: d.name})
		}
	}
	if st.sessions > 0 {
		h.addUserProcsLocked(rng)
	} else if !h.server {
		st.procs = append(st.procs, procEntry{name: "LogonUI", pid: st.newPIDLocked(), sess: 1, crit: true})
	}
	sortProcs(st.procs)
	return st.procs
}

// addUserProcsLocked starts what a logged-on user runs.
func (h *host) addUserProcsLocked(rng *rand.Rand) {
	st := h.hs()
	sess := 1
	if h.server {
		sess = 2 // an RDP session; the console stays at the logon screen
	}
	for _, u := range userProcs {
		if (u.ws && h.server) || rng.IntN(100) >= u.pct {
			continue
		}
		k := u.n
		if k > 1 {
			k = 1 + rng.IntN(k)
		}
		for range k {
			st.procs = append(st.procs, procEntry{name: u.name, pid: st.newPIDLocked(), sess: sess, user: true})
		}
	}
}

func sortProcs(ps []procEntry) {
	slices.SortFunc(ps, func(a, b procEntry) int {
		if c := strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)); c != 0 {
			return c
		}
		return a.pid - b.pid
	})
}

// killLocked ends one process; a service's own process stops the service.
func (h *host) killLocked(pid int) {
	st := h.hs()
	i := slices.IndexFunc(st.procs, func(p procEntry) bool { return p.pid == pid })
	if i < 0 {
		return
	}
	svc := st.procs[i].svc
	st.procs = slices.Delete(st.procs, i, i+1)
	if svc != "" {
		if j := st.serviceIndex(svc); j >= 0 {
			st.services[j].running = false
		}
	}
}

// setServiceLocked starts or stops service i, with its process.
func (h *host) setServiceLocked(i int, running bool) {
	st := h.hs()
	s := &st.services[i]
	if s.running == running {
		return
	}
	s.running = running
	if running {
		s.failing = false
	}
	d := &serviceCatalog[s.def]
	if d.process == "" || st.procs == nil || s.instance {
		return
	}
	if running {
		st.procs = append(st.procs, procEntry{name: d.process, pid: st.newPIDLocked(), svc: d.name})
		sortProcs(st.procs)
		return
	}
	st.procs = slices.DeleteFunc(st.procs, func(p procEntry) bool { return p.svc == d.name })
}

// setSessionsLocked logs users on (n > 0, when nobody is) or off (n == 0):
// their processes and per-user services start or end.
func (h *host) setSessionsLocked(n int) {
	st := h.stateLocked()
	was := st.sessions
	st.sessions = n
	if n == 0 {
		st.locked = false
	}
	if (was == 0) == (n == 0) {
		return
	}
	for i := range st.services {
		if st.services[i].instance {
			st.services[i].running = n > 0
		}
	}
	if st.procs == nil {
		return // built from the sessions when first listed
	}
	if n == 0 {
		st.procs = slices.DeleteFunc(st.procs, func(p procEntry) bool { return p.user })
		if !h.server {
			st.procs = append(st.procs, procEntry{name: "LogonUI", pid: st.newPIDLocked(), sess: 1, crit: true})
		}
	} else {
		st.logons++
		st.procs = slices.DeleteFunc(st.procs, func(p procEntry) bool { return p.name == "LogonUI" })
		h.addUserProcsLocked(rand.New(rand.NewPCG(h.seed, uint64(st.logons)<<8|0x10)))
	}
	sortProcs(st.procs)
}

// unstoppable services: the SCM refuses to stop them (and WinRM is what
// every session runs on: the simulator restarts it but never stops it).
var unstoppable = []string{"RpcSs", "DcomLaunch", "RpcEptMapper", "LSM", "Power", "BrokerInfrastructure", "SamSs", "PlugPlay", "WinRM"}

// service looks one service up by name, case-insensitively.
func (h *host) service(name string) (ServiceInfo, bool) {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.servicesLocked()
	i := st.serviceIndex(name)
	if i < 0 {
		return ServiceInfo{}, false
	}
	return st.infoOf(st.services[i]), true
}

// serviceOp starts, stops or restarts a service the way Start-Service,
// Stop-Service -Force and Restart-Service -Force do; the error is the
// cmdlet's message.
func (h *host) serviceOp(name, op string) (ServiceInfo, error) {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	st := h.servicesLocked()
	i := st.serviceIndex(name)
	if i < 0 {
		return ServiceInfo{}, fmt.Errorf("Cannot find any service with service name '%s'.", name)
	}
	info := st.infoOf(st.services[i])
	if op != "start" && slices.Contains(unstoppable, info.Name) && !(op == "restart" && info.Name == "WinRM") {
		return info, fmt.Errorf("Service '%s (%s)' cannot be stopped due to the following error: Cannot stop %s service on computer '.'.", info.DisplayName, info.Name, info.Name)
	}
	if op != "stop" && info.StartType == startDisable {
		if op == "restart" {
			h.setServiceLocked(i, false)
		}
		return info, fmt.Errorf("Service '%s (%s)' cannot be started due to the following error: Cannot start service %s on computer '.'.", info.DisplayName, info.Name, info.Name)
	}
	switch op {
	case "start":
		h.setServiceLocked(i, true)
	case "stop":
		h.setServiceLocked(i, false)
	case "restart":
		h.setServiceLocked(i, false)
		h.setServiceLocked(i, true)
	}
	return st.infoOf(st.services[i]), nil
}

// stopProcesses ends every process of a name (without .exe), or the one
// with pid when pid >= 0, as Stop-Process -Force does: nothing is stopped
// if one of them is a protected system process. It returns the pids.
func (h *host) stopProcesses(name string, pid int) ([]int, error) {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	procs := h.processesLocked()
	var match []procEntry
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".exe"), ".EXE")
	for _, p := range procs {
		if pid >= 0 && p.pid == pid || pid < 0 && base != "" && strings.EqualFold(p.name, base) {
			match = append(match, p)
		}
	}
	if len(match) == 0 {
		if pid >= 0 {
			return nil, fmt.Errorf("Cannot find a process with the process identifier %d.", pid)
		}
		return nil, fmt.Errorf("Cannot find a process with the name \"%s\".", name)
	}
	for _, p := range match {
		if p.crit {
			return nil, fmt.Errorf("Cannot stop process \"%s (%d)\" because of the following error: Access is denied", p.name, p.pid)
		}
	}
	pids := make([]int, len(match))
	for i, p := range match {
		pids[i] = p.pid
		h.killLocked(p.pid)
	}
	return pids, nil
}

// hs returns the host's state holder, allocating it on first use so that
// a big fleet pays one pointer per host until actions touch it.
func (h *host) hs() *hostState {
	if st := h.st.Load(); st != nil {
		return st
	}
	h.st.CompareAndSwap(nil, &hostState{})
	return h.st.Load()
}

// compareFold orders two names as strings.Compare of their lower-case
// forms does, for ASCII without allocating (the service table of a host
// is sorted once, on its first Get-Service; 10,000 hosts do it at once
// under rmm bench run); anything else falls back to strings.ToLower.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca >= 0x80 || cb >= 0x80 {
			return strings.Compare(strings.ToLower(a), strings.ToLower(b))
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}
