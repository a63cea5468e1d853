package winrmsim

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestServicesPerHost checks the service lists the inventory and the
// actions read: counts by role, the services every host has, sorting,
// determinism, and a few stopped Automatic services across the fleet.
func TestServicesPerHost(t *testing.T) {
	hosts := buildHosts(400, 11, time.Now(), profileSpec{})
	again := buildHosts(400, 11, time.Now(), profileSpec{})
	must := []string{"WinRM", "Spooler", "W32Time", "wuauserv", "BITS", "Dnscache", "LanmanServer", "LanmanWorkstation", "EventLog", "Schedule", "WinDefend", "mpssvc", "TermService", "RpcSs"}
	stoppedAuto, pending, rdp := 0, 0, 0
	minW, maxW, minS, maxS := 1000, 0, 1000, 0
	for i, h := range hosts {
		svcs := h.services()
		n := len(svcs)
		if h.server {
			minS, maxS = min(minS, n), max(maxS, n)
		} else {
			minW, maxW = min(minW, n), max(maxW, n)
		}
		if !slices.IsSortedFunc(svcs, func(a, b ServiceInfo) int {
			return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		}) {
			t.Fatalf("%s: services not sorted by name", h.name)
		}
		for _, name := range must {
			if !slices.ContainsFunc(svcs, func(s ServiceInfo) bool { return s.Name == name }) {
				t.Errorf("%s: no %s service", h.name, name)
			}
		}
		for _, s := range svcs {
			if s.StartType == startAuto && s.State == svcStopped {
				stoppedAuto++
				break
			}
		}
		if !slices.Equal(svcs, again[i].services()) {
			t.Fatalf("%s: services differ between two builds with the same seed", h.name)
		}
		if !h.pendingRebootSince().IsZero() {
			pending++
		}
		if h.rdpEnabled() {
			rdp++
		}
	}
	t.Logf("workstations %d..%d services, servers %d..%d; %d hosts with a stopped Automatic service, %d pending reboot, %d RDP", minW, maxW, minS, maxS, stoppedAuto, pending, rdp)
	if minW < 150 || maxW > 220 || minS < 180 || maxS > 260 {
		t.Errorf("service counts: workstations %d..%d (want 150..220), servers %d..%d (want 180..260)", minW, maxW, minS, maxS)
	}
	if stoppedAuto < 10 || stoppedAuto > 120 {
		t.Errorf("%d of 400 hosts have a stopped Automatic service, want a few", stoppedAuto)
	}
	if pending == 0 || pending > 40 {
		t.Errorf("%d of 400 hosts have a pending reboot, want about 3%%", pending)
	}
}

// TestHostStateIsLazyAndConcurrencySafe: a fleet allocates no state until
// something asks, and the state takes concurrent readers, actions and
// reboots (run with -race).
func TestHostStateIsLazyAndConcurrencySafe(t *testing.T) {
	f, err := New(Config{Devices: 2000, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Hosts()
	for _, h := range f.hosts {
		if h.st.Load() != nil {
			t.Fatalf("%s has state before anything asked", h.name)
		}
	}
	h := f.hosts[7]
	_ = h.rdpEnabled()
	if st := h.st.Load(); st == nil || st.svcBuilt || len(st.services) != 0 {
		t.Fatalf("rdpEnabled built the services")
	}
	if h.serviceStates([]string{"WinRM", "NoSuch"})[0] != "Running" || !h.st.Load().svcBuilt {
		t.Fatalf("serviceStates did not build the services")
	}
	if got := h.serviceStates([]string{"NoSuch"}); got[0] != "" {
		t.Fatalf("missing service state %q", got[0])
	}

	done := make(chan struct{})
	for g := range 6 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				switch (g + i) % 6 {
				case 0:
					_ = h.services()
				case 1:
					_, _ = h.serviceOp("Spooler", "restart")
				case 2:
					_, _ = h.stopProcesses("WmiPrvSE", -1)
				case 3:
					h.rebootState(0)
				case 4:
					_ = h.pendingRebootSince()
				case 5:
					h.hs().mu.Lock()
					h.setSessionsLocked(i % 2)
					_ = h.processesLocked()
					h.hs().mu.Unlock()
				}
			}
		}()
	}
	for range 6 {
		<-done
	}
	if s, ok := h.service("Spooler"); !ok || s.State != "Running" {
		t.Fatalf("Spooler after the storm: %+v", s)
	}
}
