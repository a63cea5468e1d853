package winrmsim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// FaultKind is a way a simulated host misbehaves on purpose, so the
// console's error handling can be tested against real sockets and real
// HTTP instead of mocks. Set it per host with SetFault or for a share of
// the fleet with Config.Faults.
type FaultKind string

// Host faults. The network ones (refuse, hang, http500, malformed) last
// until cleared; the resident-loop ones (loop-crash, loop-hang) fire on
// the next loop request and then clear themselves, as a one-off crash
// would; no-loop lasts until cleared.
const (
	// FaultNone is a healthy host.
	FaultNone FaultKind = ""
	// FaultRefuse closes the host's port: connections are refused, as
	// when the WinRM service is stopped or a firewall rejects them.
	FaultRefuse FaultKind = "refuse"
	// FaultHang accepts a request, reads it and never answers, as a host
	// stuck in a driver or paging to death does.
	FaultHang FaultKind = "hang"
	// FaultHTTP500 answers every request with HTTP 500 and an empty body
	// (no WS-Management fault), as a broken proxy or HTTP.sys does.
	FaultHTTP500 FaultKind = "http500"
	// FaultMalformed answers HTTP 200 with a SOAP content type and a body
	// that is not well-formed XML (a truncated envelope).
	FaultMalformed FaultKind = "malformed"
	// FaultNoLoop makes powershell.exe unable to run the resident loop
	// (Constrained Language Mode blocks its .NET calls): the loop exits
	// with an error before it prints READY. Plain scripts still run.
	FaultNoLoop FaultKind = "no-loop"
	// FaultLoopCrash kills the resident loop process on its next request,
	// without an answer.
	FaultLoopCrash FaultKind = "loop-crash"
	// FaultLoopHang makes the resident loop take its next request and
	// never answer it (nor anything after it).
	FaultLoopHang FaultKind = "loop-hang"
	// FaultAccessDenied refuses the account after it authenticated, as a
	// host does where the user is no administrator or UAC remote
	// restrictions strip a local account: every WS-Management request but
	// Identify gets HTTP 500 with access denied (Code 5 as w:AccessDenied
	// on some hosts, 2147942405 as w:InternalError on others, by seed).
	FaultAccessDenied FaultKind = "access-denied"
	// FaultDiskFull leaves the system drive a few MB free: small files
	// are written, but Windows Update fails every download over 1 MB
	// with 0x80070070 (ERROR_DISK_FULL).
	FaultDiskFull FaultKind = "disk-full"
	// FaultTaskStuck makes scheduled tasks never start: registration
	// and Run succeed, the task stays Ready with LastTaskResult
	// 0x00041303 (SCHED_S_TASK_HAS_NOT_RUN), as on a host whose Task
	// Scheduler is wedged or whose policy blocks the task.
	FaultTaskStuck FaultKind = "task-stuck"
)

// faultKinds lists every kind, in the order Config.Faults assigns hosts.
var faultKinds = []FaultKind{FaultRefuse, FaultHang, FaultHTTP500, FaultMalformed, FaultNoLoop, FaultLoopCrash, FaultLoopHang, FaultAccessDenied,
	FaultDiskFull, FaultTaskStuck}

// faultIndex is a kind's index in faultKinds plus one; 0 is FaultNone.
// Hosts store the index in an atomic so that a process, which runs under
// its command's lock, can read it without taking the host's lock.
func faultIndex(k FaultKind) (int32, bool) {
	if k == FaultNone {
		return 0, true
	}
	i := slices.Index(faultKinds, k)
	return int32(i + 1), i >= 0
}

func faultOf(i int32) FaultKind {
	if i <= 0 || int(i) > len(faultKinds) {
		return FaultNone
	}
	return faultKinds[i-1]
}

// fault returns the host's current fault.
func (h *host) fault() FaultKind { return faultOf(h.faultIdx.Load()) }

// takeFault reports whether the host has the one-shot fault k, clearing
// it if so.
func (h *host) takeFault(k FaultKind) bool {
	i, _ := faultIndex(k)
	if h.faultIdx.CompareAndSwap(i, 0) {
		h.stats.injected.Add(1)
		return true
	}
	return false
}

// ParseFaults reads a fault spec such as "refuse=2%,hang=1%,http500=1%,
// malformed=1%": kinds with the share of hosts that get them, as a
// percentage or a fraction (0.02). The shares must add up to at most 1.
func ParseFaults(spec string) (map[FaultKind]float64, error) {
	out := make(map[FaultKind]float64)
	total := 0.0
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("fault %q: want kind=share, e.g. hang=1%%", part)
		}
		k := FaultKind(strings.ToLower(strings.TrimSpace(name)))
		if _, known := faultIndex(k); !known || k == FaultNone {
			return nil, fmt.Errorf("fault %q: unknown kind (want one of %s)", name, kindList())
		}
		val = strings.TrimSpace(val)
		scale := 1.0
		if v, found := strings.CutSuffix(val, "%"); found {
			val, scale = v, 0.01
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("fault %s: share %q is not a number >= 0", k, val)
		}
		f *= scale
		out[k] += f
		total += f
	}
	if total > 1 {
		return nil, fmt.Errorf("fault shares add up to %.0f%%, more than every host", total*100)
	}
	return out, nil
}

func kindList() string {
	names := make([]string, len(faultKinds))
	for i, k := range faultKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// assignFaults gives each kind its share of hosts, chosen by seed, each
// host at most one kind.
func assignFaults(hosts []*host, shares map[FaultKind]float64, seed int64) {
	if len(shares) == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0xfa017))
	perm := rng.Perm(len(hosts))
	next := 0
	for _, k := range faultKinds {
		n := int(shares[k]*float64(len(hosts)) + 0.5)
		idx, _ := faultIndex(k)
		for ; n > 0 && next < len(perm); n-- {
			hosts[perm[next]].faultIdx.Store(idx)
			next++
		}
	}
}

// SetFault makes a host misbehave (see FaultKind), or heals it with
// FaultNone. FaultRefuse closes the host's port and clearing it opens the
// port again (unless the host is offline); open connections are cut.
func (f *Fleet) SetFault(hostname string, kind FaultKind) error {
	idx, ok := faultIndex(kind)
	if !ok {
		return fmt.Errorf("winrmsim: set fault: unknown kind %q (want one of %s)", kind, kindList())
	}
	h, ok := f.byName[hostname]
	if !ok {
		return fmt.Errorf("winrmsim: set fault: unknown host %q", hostname)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("winrmsim: set fault %s: fleet is closed", hostname)
	}
	h.mu.Lock()
	h.faultIdx.Store(idx)
	drop, err := f.listenLocked(h)
	h.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
	if err != nil {
		return fmt.Errorf("winrmsim: set fault %s: %w", hostname, err)
	}
	f.logf("winrmsim: %s fault %q", hostname, kind)
	return nil
}

// injectHTTPFault answers the request the way the host's network fault
// says, and reports whether it did (the request is then handled).
func (f *Fleet) injectHTTPFault(x *exchange) bool {
	switch x.h.fault() {
	case FaultHang:
		x.h.stats.injected.Add(1)
		select {
		case <-x.clientGone():
			x.clientLeft = true
		case <-f.done:
		}
		return true
	case FaultHTTP500:
		x.h.stats.injected.Add(1)
		x.respond(http.StatusInternalServerError, "", nil, nil)
		return true
	case FaultMalformed:
		x.h.stats.injected.Add(1)
		body := envReply + `<s:Header><a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse</a:Action></s:Header><s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId=`
		x.respond(http.StatusOK, soapContentType, nil, []byte(body))
		return true
	}
	return false
}
