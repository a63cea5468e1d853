package winrmsim

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// osRelease is one Windows release a host can run.
type osRelease struct {
	caption string // Win32_OperatingSystem.Caption
	version string // Win32_OperatingSystem.Version
	ubrs    []int  // plausible update build revisions, for `ver`
	weight  int    // relative share within workstations or servers
}

// Releases the fleet draws from. Captions are what Win32_OperatingSystem
// reports; the edition is picked per host.
var (
	workstationReleases = []osRelease{
		{caption: "Microsoft Windows 10 %s", version: "10.0.19045", ubrs: []int{4529, 5011, 5247, 5608}, weight: 35},
		{caption: "Microsoft Windows 11 %s", version: "10.0.22631", ubrs: []int{4460, 4751, 5039, 5335}, weight: 35},
		{caption: "Microsoft Windows 11 %s", version: "10.0.26100", ubrs: []int{2605, 3194, 3476, 4061}, weight: 30},
	}
	serverReleases = []osRelease{
		{caption: "Microsoft Windows Server 2016 %s", version: "10.0.14393", ubrs: []int{7336, 7606, 7876, 8066}, weight: 15},
		{caption: "Microsoft Windows Server 2019 %s", version: "10.0.17763", ubrs: []int{6414, 6659, 6893, 7136}, weight: 30},
		{caption: "Microsoft Windows Server 2022 %s", version: "10.0.20348", ubrs: []int{2849, 3091, 3328, 3561}, weight: 40},
		{caption: "Microsoft Windows Server 2025 %s", version: "10.0.26100", ubrs: []int{2605, 3194, 3476, 4061}, weight: 15},
	}
	workstationEditions = []string{"Pro", "Enterprise"}
	serverEditions      = []string{"Standard", "Datacenter"}
)

// Sites hosts are spread over. Servers live mostly in the datacenter and at
// hq, workstations at hq, the branches and the lab.
var (
	siteNames        = []string{"hq", "branch-east", "branch-west", "datacenter", "lab"}
	workstationSites = []int{0, 0, 0, 1, 1, 2, 2, 4}
	serverSites      = []int{3, 3, 3, 3, 0, 0, 4}
)

// Tags a host may carry, drawn per role.
var (
	workstationTags = []string{"kiosk", "finance", "dev", "vip", "shared"}
	serverTags      = []string{"sql", "iis", "dc", "file", "print", "backup"}
)

// Vendor prefixes for MAC addresses: Dell, HP, Lenovo for workstations,
// Hyper-V and VMware for servers.
var (
	workstationOUIs = [][3]byte{{0x00, 0x14, 0x22}, {0x3C, 0x52, 0x82}, {0x54, 0xEE, 0x75}}
	serverOUIs      = [][3]byte{{0x00, 0x15, 0x5D}, {0x00, 0x50, 0x56}}
)

// volume is one fixed disk (DriveType=3) on a host.
type volume struct {
	drive string
	size  int64   // bytes
	free  float64 // base free fraction, 0..1
	fill  float64 // fraction of size consumed per hour of fleet time (0 for most hosts)
}

// profile is what drives a host's metric curves: fixed at New, so the same
// seed gives the same curves.
type profile struct {
	busy    bool
	cpuBase float64 // percent
	cpuAmp  float64 // percent, amplitude of the noise around the base
	memBase float64 // percent
	memAmp  float64
	memMB   int64 // TotalVisibleMemorySize / 1024
	uptime  time.Duration
	volumes []volume
	// unwrapDisks makes the metrics script print a one-disk array as a bare
	// object, the way Windows PowerShell 5.1 unrolls single-item arrays.
	unwrapDisks bool
}

// counters are a host's protocol statistics.
type counters struct {
	requests      atomic.Int64
	connections   atomic.Int64
	shellsCreated atomic.Int64
	shellsOpen    atomic.Int64
	shellsDeleted atomic.Int64
	shellsDropped atomic.Int64
	commands      atomic.Int64
	faults        atomic.Int64
	authFailures  atomic.Int64

	// Requests by WS-Management action.
	creates, commandRequests, sends, receives, signals, deletes atomic.Int64
	enumerates                                                  atomic.Int64 // Enumerate and Pull requests
	// The resident PowerShell loop: processes started, requests answered,
	// clean exits (an EXIT line or end of input).
	loopStarts, loopRequests, loopExits atomic.Int64
	// injected counts requests (or loop requests) a host fault spoiled.
	injected atomic.Int64
	// Negotiate and Kerberos (secauth.go): contexts established, sealed
	// requests, readable requests refused on a sealed connection.
	ntlmContexts, krbContexts, sealed, plainRefused atomic.Int64
	// TLS handshakes of an HTTPS host: full ones (certificate sent, key
	// exchange) and resumed ones (a session from the host's cache).
	tlsFull, tlsResumed atomic.Int64
}

// host is one simulated Windows machine. Identity and profile are fixed at
// New; network state, boot time and shells change under mu.
type host struct {
	index   int
	name    string
	server  bool
	site    string
	release *osRelease
	caption string
	ubr     int
	tags    []string
	mac     string
	lanIP   string // shown by ipconfig; never listened on
	seed    uint64 // key for this host's noise
	prof    profile
	// hp is the host's kind (profiles.go): never nil after buildHosts.
	hp    *hostProfile
	fqdn  string // a joined host's DNS name (secauth.go)
	stats counters
	// st is what actions change (services, processes, registry, files),
	// allocated on first use (see hs) and built lazily; hoststate.go.
	st atomic.Pointer[hostState]
	// forcedLevel, when 0..2, is the patch level SetPatchLevel gave the
	// host (months behind); -1: its seed's. Guarded by its hostState's
	// mutex.
	forcedLevel int
	// faultIdx is the host's FaultKind (see faultIndex); atomic because
	// processes read it under their command's lock, which must not be
	// nested inside mu's critical sections the other way round.
	faultIdx atomic.Int32

	mu     sync.Mutex
	port   int
	online bool
	ln     net.Listener // nil while offline or before Start
	// parked holds an offline host's port: bound, not listening, so a
	// connection is refused (as by a machine with nothing on the port)
	// and no other process can take the port meanwhile (portpark_*.go).
	// nil when online, or where a port cannot be kept that way.
	parked   net.Listener
	conns    map[*hostConn]struct{}
	shells   map[string]*shell
	enums    map[string]*shellEnum // open enumerations of the shells (enumerate.go)
	lastBoot time.Time
}

// buildHosts creates n hosts for a seed. Host i depends only on the seed and
// i (and the hosts before it, for its number), so growing a fleet keeps the
// hosts it already had.
func buildHosts(n int, seed int64, epoch time.Time, spec profileSpec) []*host {
	hosts := make([]*host, n)
	var workstations, servers, singleDisk int
	macOffset := uint32(splitmix(uint64(seed)^0x6d6163) & 0xFFFFFF)
	for i := range hosts {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)+1))
		h := &host{index: i, seed: splitmix(uint64(seed) ^ splitmix(uint64(i)+0x9e37)), forcedLevel: -1}
		h.server = rng.IntN(100) < 20
		hp := spec.choose(seed, i, h.server)
		if hp != nil {
			h.server = hp.server
		}
		// The same draws whatever the profile, so the rest of the host
		// (site, tags, metrics) is the seed's.
		rels, eds := workstationReleases, workstationEditions
		if h.server {
			rels, eds = serverReleases, serverEditions
		}
		if hp != nil {
			rels = hp.releases
			if hp.editions != nil {
				eds = hp.editions
			}
		}
		if h.server {
			servers++
			h.name = fmt.Sprintf("SRV-%04d", servers)
			h.release = pickRelease(rng, rels)
			h.caption = fmt.Sprintf(h.release.caption, eds[rng.IntN(len(eds))])
			h.site = siteNames[serverSites[rng.IntN(len(serverSites))]]
			h.tags = pickTags(rng, serverTags, 70)
			if rng.IntN(100) < 60 {
				h.tags = append(h.tags, "prod")
			}
		} else {
			workstations++
			h.name = fmt.Sprintf("WS-%04d", workstations)
			h.release = pickRelease(rng, rels)
			h.caption = fmt.Sprintf(h.release.caption, eds[rng.IntN(len(eds))])
			h.site = siteNames[workstationSites[rng.IntN(len(workstationSites))]]
			h.tags = pickTags(rng, workstationTags, 25)
		}
		h.ubr = h.release.ubrs[rng.IntN(len(h.release.ubrs))]
		if hp == nil {
			hp = modernProfile(h.server, h.release)
		}
		h.hp = hp

		ouis := workstationOUIs
		if h.server {
			ouis = serverOUIs
		}
		oui := ouis[rng.IntN(len(ouis))]
		// An odd multiplier is a bijection modulo 2^24, so the low three
		// bytes, and with them the MAC, are unique for up to 16M hosts.
		low := (macOffset + uint32(i)*0x9E3779) & 0xFFFFFF
		h.mac = fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", oui[0], oui[1], oui[2], byte(low>>16), byte(low>>8), byte(low))

		siteIdx := 0
		for j, s := range siteNames {
			if s == h.site {
				siteIdx = j
			}
		}
		h.lanIP = fmt.Sprintf("10.%d.%d.%d", 10+siteIdx, (i/250)%256, i%250+2)

		h.prof = buildProfile(rng, h.server)
		if len(h.prof.volumes) == 1 {
			singleDisk++
			h.prof.unwrapDisks = singleDisk%3 == 0
		}
		h.lastBoot = epoch.Add(-h.prof.uptime).Truncate(time.Second)
		h.online = true
		hosts[i] = h
	}
	return hosts
}

func pickRelease(rng *rand.Rand, rels []osRelease) *osRelease {
	total := 0
	for _, r := range rels {
		total += r.weight
	}
	n := rng.IntN(total)
	for i := range rels {
		if n < rels[i].weight {
			return &rels[i]
		}
		n -= rels[i].weight
	}
	return &rels[len(rels)-1]
}

// pickTags gives a host no tags, or (with the given percent chance) one or
// two distinct tags from the list.
func pickTags(rng *rand.Rand, from []string, percent int) []string {
	if rng.IntN(100) >= percent {
		return nil
	}
	first := rng.IntN(len(from))
	tags := []string{from[first]}
	if rng.IntN(100) < 35 {
		second := (first + 1 + rng.IntN(len(from)-1)) % len(from)
		tags = append(tags, from[second])
	}
	return tags
}

const gib = 1 << 30

func buildProfile(rng *rand.Rand, server bool) profile {
	var p profile
	p.busy = rng.IntN(100) < 12
	switch {
	case p.busy:
		p.cpuBase = 68 + rng.Float64()*22
		p.cpuAmp = 8 + rng.Float64()*6
		p.memBase = 80 + rng.Float64()*12
		p.memAmp = 2 + rng.Float64()*3
	case server:
		p.cpuBase = 8 + rng.Float64()*30
		p.cpuAmp = 5 + rng.Float64()*12
		p.memBase = 40 + rng.Float64()*30
		p.memAmp = 2 + rng.Float64()*5
	default:
		p.cpuBase = 3 + rng.Float64()*20
		p.cpuAmp = 3 + rng.Float64()*12
		p.memBase = 30 + rng.Float64()*35
		p.memAmp = 3 + rng.Float64()*6
	}

	installed := []int64{8192, 16384, 16384, 32768}
	if server {
		installed = []int64{16384, 32768, 65536, 131072}
	}
	// Visible memory is a little under what is installed (firmware, GPU).
	p.memMB = installed[rng.IntN(len(installed))] - int64(90+rng.IntN(260))

	// A few weeks of uptime at most; servers run longer.
	maxUp := 14 * 24 * time.Hour
	if server {
		maxUp = 45 * 24 * time.Hour
	}
	p.uptime = time.Hour + time.Duration(rng.Int64N(int64(maxUp)))

	n := 1
	switch {
	case server:
		n = 1 + rng.IntN(3)
	case rng.IntN(100) < 25:
		n = 2
	}
	for d := range n {
		var sizes []float64
		switch {
		case d == 0 && server:
			sizes = []float64{59.4, 126.4, 126.4, 199.4}
		case d == 0:
			sizes = []float64{118.6, 237.9, 237.9, 475.8, 952.9}
		default:
			sizes = []float64{465.6, 931.5, 1023.9, 2047.9, 3725.9}
		}
		v := volume{
			drive: string(rune('C'+d)) + ":",
			size:  int64(sizes[rng.IntN(len(sizes))] * gib),
			free:  0.2 + rng.Float64()*0.6,
		}
		switch r := rng.IntN(100); {
		case r < 7: // nearly full
			v.free = 0.02 + rng.Float64()*0.08
		case r < 12: // filling up, about a percent of the volume per hour
			v.free = 0.15 + rng.Float64()*0.25
			v.fill = 0.004 + rng.Float64()*0.01
		}
		p.volumes = append(p.volumes, v)
	}
	return p
}

// info returns the host as the public API shows it; h.mu must be held.
func (h *host) infoLocked(ip string) HostInfo {
	return HostInfo{
		Hostname:  h.name,
		IP:        ip,
		Port:      h.port,
		Transport: "http",
		MAC:       h.mac,
		Site:      h.site,
		OSName:    h.caption,
		OSVersion: h.release.version,
		Tags:      append([]string(nil), h.tags...),
		Server:    h.server,
		Online:    h.online,
		Fault:     h.fault(),
		Profile:   h.hp.name,
		FQDN:      h.fqdn,
		Auth:      map[bool]string{true: "negotiate"}[h.hp.domain],
	}
}

// splitmix is the SplitMix64 finaliser: a cheap, well-mixed hash of a key.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
