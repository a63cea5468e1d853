package winrmsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Inventory: the engine's collectors (engine/scripts/inventory_*.ps1)
// answered per host, the way Windows PowerShell 5.1 prints them:
// ConvertTo-Json -Compress, dates as "\/Date(ms)\/", enums as numbers, and
// a collector part that returned one item unrolled into that item (none:
// null). Everything is a function of the seed, the host and the time, and
// consistent with the host's release: Server 2016 and 2019 have no
// DisplayVersion, Windows 11 always has a TPM 2.0, servers without the
// BitLocker feature report it unavailable.

// inventoryVersion is the collectors' script version the simulator knows.
const inventoryVersion = 1

// runInventory answers the engine's inventory collectors (inventory_*).
func (p *psProcess) runInventory(out psOutput, at time.Time, script, name string, version, pos int) {
	cat := strings.TrimPrefix(name, "inventory_")
	h := p.m.h
	if version != inventoryVersion {
		p.notFound(out, at, script, name, version, pos)
		return
	}
	// Collectors read far more than the metrics script: software walks the
	// registry and every service.
	cost := map[string]int{"hardware": 2, "software": 4, "security": 3, "network": 2}[cat]
	if cost == 0 {
		p.notFound(out, at, script, name, version, pos)
		return
	}
	done := at.Add(time.Duration(cost) * p.m.fleet.cfg.ScriptTime)
	doc := h.inventoryDoc(p.m.fleet, cat, done, p.m.lastBoot)
	out.Stdout(done, append(doc, '\r', '\n'))
	if bytes.Contains(doc, []byte(`"unavailable"`)) {
		// A part the host cannot answer: Get-Command -ErrorAction
		// SilentlyContinue found no cmdlet, or a catch under Stop
		// caught its error. Either way 5.1 set HadErrors.
		out.Suppressed()
	}
	out.ErrorRecords(done, nil)
	out.Done(done)
}

// Inventory returns what the collector of category (hardware, software,
// security, network) prints on the named host at time at.
func (f *Fleet) Inventory(hostname, category string, at time.Time) ([]byte, bool) {
	h, ok := f.byName[hostname]
	if !ok {
		return nil, false
	}
	switch category {
	case "hardware", "software", "security", "network":
	default:
		return nil, false
	}
	h.mu.Lock()
	boot := h.lastBoot
	h.mu.Unlock()
	return h.inventoryDoc(f, category, at, boot), true
}

func (h *host) inventoryDoc(f *Fleet, cat string, at, boot time.Time) []byte {
	epoch := f.epoch
	var doc obj
	switch cat {
	case "hardware":
		doc = h.hardwareDoc(at, epoch)
	case "software":
		doc = h.softwareDoc(f, at, boot)
	case "security":
		doc = h.securityDoc(at, epoch, boot)
	default:
		doc = h.networkDoc()
	}
	b, err := json.Marshal(doc)
	if err != nil {
		// Every value in a document is marshalable; this is a bug.
		panic(fmt.Sprintf("winrmsim: inventory %s: %v", cat, err))
	}
	return b
}

// --- JSON the way ConvertTo-Json writes it -------------------------------

// kv is one property of a [pscustomobject], in order.
type kv struct {
	k string
	v any
}

// obj is a [pscustomobject]: its properties in declaration order.
type obj []kv

// MarshalJSON writes the properties in order.
func (o obj) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, p := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, p.k)
		b = append(b, ':')
		v, err := json.Marshal(p.v)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", p.k, err)
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// psDate is a DateTime as 5.1 writes it: "\/Date(ms)\/"; the zero time is
// $null.
type psDate time.Time

// MarshalJSON writes "\/Date(ms)\/".
func (d psDate) MarshalJSON() ([]byte, error) {
	t := time.Time(d)
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"\/Date(` + strconv.FormatInt(t.UnixMilli(), 10) + `)\/"`), nil
}

// unrolled is what a function returning an array gives its caller in
// PowerShell: nothing ($null) for none, the bare item for one, else the
// array.
func unrolled[T any](items []T) any {
	switch len(items) {
	case 0:
		return nil
	case 1:
		return items[0]
	}
	return items
}

// unavailable is a collector part the host cannot answer.
func unavailable(reason string) obj { return obj{{"unavailable", reason}} }

func notAvailable(cmdlet string) obj { return unavailable(cmdlet + " is not available on this host") }

// rngFor is a host's random source for one purpose: the same every time.
func (h *host) rngFor(purpose uint64) *rand.Rand {
	return rand.New(rand.NewPCG(h.seed, purpose))
}

// --- what the host is ------------------------------------------------------

// vendor is who built the machine, from its MAC's OUI.
type vendor struct {
	name, short string
	desktop     []string
	laptop      []string
}

var (
	vendorDell   = vendor{name: "Dell Inc.", short: "dell", desktop: []string{"OptiPlex 7090", "OptiPlex 7010", "Precision 3660"}, laptop: []string{"Latitude 5440", "Latitude 7430"}}
	vendorHP     = vendor{name: "HP", short: "hp", desktop: []string{"HP EliteDesk 800 G6 Tower PC", "HP ProDesk 400 G7"}, laptop: []string{"HP EliteBook 840 G8", "HP ProBook 450 G9"}}
	vendorLenovo = vendor{name: "LENOVO", short: "lenovo", desktop: []string{"11DT0036US", "11T3S0BH00"}, laptop: []string{"20XW003GUS", "21HD0053US"}}
	vendorHyperV = vendor{name: "Microsoft Corporation", short: "hyperv", desktop: []string{"Virtual Machine"}}
	vendorVMware = vendor{name: "VMware, Inc.", short: "vmware", desktop: []string{"VMware7,1", "VMware20,1"}}
)

func (h *host) vendor() vendor {
	switch strings.ToUpper(h.mac[:8]) {
	case "00:14:22":
		return vendorDell
	case "3C:52:82":
		return vendorHP
	case "54:EE:75":
		return vendorLenovo
	case "00:15:5D":
		return vendorHyperV
	}
	return vendorVMware
}

func (h *host) virtual() bool { v := h.vendor().short; return v == "hyperv" || v == "vmware" }

// laptop: about a third of the workstations.
func (h *host) laptop() bool { return !h.server && h.seed%3 == 0 }

// build is the release's build number ("19045").
func (h *host) build() string {
	return h.release.version[strings.LastIndexByte(h.release.version, '.')+1:]
}

func (h *host) win11() bool { return !h.server && strings.Contains(h.caption, "Windows 11") }

func (h *host) server2016() bool { return h.server && h.build() == "14393" }

// displayVersion is CurrentVersion\DisplayVersion: absent on Server 2016
// and 2019 (they have only ReleaseId).
func (h *host) displayVersion() any {
	switch h.build() {
	case "19045":
		return "22H2"
	case "22631":
		return "23H2"
	case "26100":
		return "24H2"
	case "20348":
		return "21H2"
	}
	return nil
}

func (h *host) editionID() string {
	e := h.caption[strings.LastIndexByte(h.caption, ' ')+1:]
	switch {
	case h.server:
		return "Server" + e
	case e == "Pro":
		return "Professional"
	}
	return e
}

// domainController: servers tagged dc.
func (h *host) hasTag(t string) bool {
	for _, x := range h.tags {
		if x == t {
			return true
		}
	}
	return false
}

// installDate is when Windows was installed: a few months to a few years
// before the fleet began.
func (h *host) installDate(epoch time.Time) time.Time {
	r := h.rngFor(0x1a57)
	days := 60 + r.IntN(1200)
	if h.win11() {
		days = 30 + r.IntN(500)
	}
	return epoch.Add(-time.Duration(days)*24*time.Hour - time.Duration(r.IntN(86400))*time.Second).Truncate(time.Second)
}

// --- hardware ------------------------------------------------------------------

// signaturesUpdated is when Defender's signatures were last updated: every
// few hours on a healthy host, frozen days before the fleet began on a
// few whose updates are broken.
func (h *host) signaturesUpdated(at, epoch time.Time) time.Time {
	r := h.rngFor(0x5167)
	if r.IntN(100) < 4 {
		return epoch.Add(-time.Duration(4+r.IntN(8))*24*time.Hour - time.Duration(r.IntN(86400))*time.Second).Truncate(time.Second)
	}
	const every = 8 * time.Hour
	off := time.Duration(r.Int64N(int64(every)))
	return at.Add(-off).Truncate(every).Add(off).Truncate(time.Second)
}

// hasDefender: Server 2016 hosts with third-party antivirus have the
// Defender feature removed, so Get-MpComputerStatus is missing; so do
// Server Core and 2012 R2 hosts (the Defender module is not there).
func (h *host) hasDefender() bool {
	return !h.hp.core && !h.hp.legacy && (!h.server2016() || h.seed%4 != 0)
}

func (h *host) securityDoc(at, epoch, boot time.Time) obj {
	r := h.rngFor(0x5ec)
	var defender any = notAvailable("Get-MpComputerStatus")
	if h.hasDefender() {
		defender = obj{{"antivirus_enabled", true}, {"real_time_protection", r.IntN(100) >= 2},
			{"signature_version", fmt.Sprintf("1.421.%d.0", 1000+r.IntN(900))},
			{"signature_last_updated", psDate(h.signaturesUpdated(at, epoch))},
			{"engine_version", "1.1.24090.11"}, {"service_enabled", true}}
	}
	fw := make([]obj, 3)
	for i, p := range []string{"Domain", "Private", "Public"} {
		enabled := 1 // GpoBoolean: True
		if p == "Private" && r.IntN(100) < 3 {
			enabled = 0
		}
		fw[i] = obj{{"name", p}, {"enabled", enabled}, {"inbound", 4}} // 4: NotConfigured (block)
	}
	var bitlocker any
	switch {
	case h.server && r.IntN(100) < 80 || h.hp.core || h.hp.legacy:
		bitlocker = notAvailable("Get-BitLockerVolume")
	default:
		var vols []obj
		for i, v := range h.prof.volumes {
			prot, status, pct, method := 1, 1, 100, 6 // On, FullyEncrypted, XtsAes128
			if h.server || (i > 0 && r.IntN(2) == 0) || r.IntN(100) < 8 {
				prot, status, pct, method = 0, 0, 0, 0 // Off, FullyDecrypted
			}
			vols = append(vols, obj{{"mount_point", v.drive}, {"protection_status", prot}, {"volume_status", status},
				{"encryption_pct", pct}, {"method", method}})
		}
		bitlocker = unrolled(vols)
	}
	var tpm any
	switch {
	case h.win11():
		tpm = obj{{"present", true}, {"ready", true}, {"enabled", true}, {"manufacturer", []string{"INTC", "IFX", "NTC"}[r.IntN(3)]}, {"version", "600.18.0.0"}}
	case h.vendor().short == "vmware" || h.server2016():
		tpm = obj{{"present", false}, {"ready", false}, {"enabled", false}, {"manufacturer", nil}, {"version", nil}}
	case h.vendor().short == "hyperv":
		tpm = obj{{"present", true}, {"ready", true}, {"enabled", true}, {"manufacturer", "MSFT"}, {"version", "8215.0.0.0"}}
	default:
		tpm = obj{{"present", true}, {"ready", r.IntN(100) >= 5}, {"enabled", true}, {"manufacturer", "INTC"}, {"version", "500.14.0.0"}}
	}
	admins := []obj{{{"name", h.name + `\Administrator`}, {"class", "User"}, {"source", 1}}} // 1: Local
	if h.site != "lab" {
		admins = append(admins, obj{{"name", `CORP\Domain Admins`}, {"class", "Group"}, {"source", 2}}) // 2: ActiveDirectory
		if !h.server && r.IntN(100) < 10 {
			admins = append(admins, obj{{"name", `CORP\` + strings.ToLower(h.name) + "-owner"}, {"class", "User"}, {"source", 2}})
		}
	}
	var administrators any = unrolled(admins)
	if h.hp.legacy {
		administrators = notAvailable("Get-LocalGroupMember") // no LocalAccounts module before 2016
	}
	since := h.pendingRebootSince()
	var reasons []string
	var sinceVal any
	if !since.IsZero() {
		reasons = []string{"windows_update"}
		if r.IntN(2) == 0 {
			reasons = append(reasons, "component_servicing")
		}
		if since.After(boot) {
			sinceVal = psDate(since)
		}
	}
	last := h.lastUpdate(epoch)
	return obj{
		{"defender", defender},
		{"firewall", unrolled(fw)},
		{"bitlocker", bitlocker},
		{"tpm", tpm},
		{"administrators", administrators},
		{"pending_reboot", obj{{"pending", !since.IsZero()}, {"reasons", reasons}, {"since", sinceVal}}},
		{"last_update_installed", psDate(last)},
	}
}

// --- network -----------------------------------------------------------------

func (h *host) networkDoc() obj {
	r := h.rngFor(0x7e7)
	gw := h.lanIP[:strings.LastIndexByte(h.lanIP, '.')] + ".1"
	prefix := h.lanIP[:strings.LastIndexByte(h.lanIP, '.')] + ".0/24"
	idx := 4 + r.IntN(20)
	ll := fmt.Sprintf("fe80::%x:%x:%x:%x", r.IntN(0x10000), r.IntN(0x10000), r.IntN(0x10000), r.IntN(0x10000))
	dns := []string{"10.30.0.10", "10.30.0.11"}
	var domain any = "corp.example.com"
	if h.site == "lab" {
		dns = []string{gw}
		domain = nil
	}
	adapters := []obj{{{"index", idx}, {"description", h.nicName()}, {"mac", h.mac}, {"dhcp", !h.server},
		{"ipv4", []string{h.lanIP}}, {"ipv6", []string{ll}}, {"gateways", []string{gw}}, {"dns_servers", dns}, {"dns_domain", domain}}}
	routes := []obj{
		{{"destination", "0.0.0.0/0"}, {"next_hop", gw}, {"interface", idx}, {"metric", 0}},
		{{"destination", prefix}, {"next_hop", "0.0.0.0"}, {"interface", idx}, {"metric", 256}},
		{{"destination", h.lanIP + "/32"}, {"next_hop", "0.0.0.0"}, {"interface", idx}, {"metric", 256}},
		{{"destination", "127.0.0.0/8"}, {"next_hop", "0.0.0.0"}, {"interface", 1}, {"metric", 256}},
		{{"destination", "127.0.0.1/32"}, {"next_hop", "0.0.0.0"}, {"interface", 1}, {"metric", 256}},
		{{"destination", "224.0.0.0/4"}, {"next_hop", "0.0.0.0"}, {"interface", idx}, {"metric", 256}},
		{{"destination", "255.255.255.255/32"}, {"next_hop", "0.0.0.0"}, {"interface", idx}, {"metric", 256}},
	}
	shares := []obj{
		{{"name", "ADMIN$"}, {"path", `C:\Windows`}, {"description", "Remote Admin"}, {"type", 0}},
		{{"name", "C$"}, {"path", `C:\`}, {"description", "Default share"}, {"type", 0}},
		{{"name", "IPC$"}, {"path", ""}, {"description", "Remote IPC"}, {"type", 3}},
	}
	for _, v := range h.prof.volumes[1:] {
		shares = append(shares, obj{{"name", v.drive[:1] + "$"}, {"path", v.drive + `\`}, {"description", "Default share"}, {"type", 0}})
	}
	if h.hasTag("file") {
		for _, s := range []string{"Departments", "Home", "Profiles", "Scans", "Software"} {
			shares = append(shares, obj{{"name", s}, {"path", `D:\Shares\` + s}, {"description", ""}, {"type", 0}})
		}
	}
	if h.hasTag("print") {
		for i := range 3 + r.IntN(6) {
			shares = append(shares, obj{{"name", fmt.Sprintf("PRN-%s-%02d", strings.ToUpper(h.site), i+1)}, {"path", ""}, {"description", "HP LaserJet M507"}, {"type", 1}})
		}
	}
	if h.hasTag("dc") {
		shares = append(shares,
			obj{{"name", "NETLOGON"}, {"path", `C:\Windows\SYSVOL\sysvol\corp.example.com\SCRIPTS`}, {"description", "Logon server share"}, {"type", 0}},
			obj{{"name", "SYSVOL"}, {"path", `C:\Windows\SYSVOL\sysvol`}, {"description", "Logon server share"}, {"type", 0}})
	}
	type port struct {
		addr      string
		port, pid int
	}
	ports := []port{{"0.0.0.0", 135, 1040}, {"0.0.0.0", 445, 4}, {"0.0.0.0", 5985, 4}, {"0.0.0.0", 47001, 4},
		{h.lanIP, 139, 4}, {"::", 135, 1040}, {"::", 445, 4}, {"::", 5985, 4}}
	for i := range 6 {
		ports = append(ports, port{"0.0.0.0", 49664 + i, 700 + 40*i})
	}
	if h.rdpEnabled() {
		ports = append(ports, port{"0.0.0.0", 3389, 1212}, port{"::", 3389, 1212})
	}
	if h.hasTag("iis") {
		ports = append(ports, port{"::", 80, 4}, port{"::", 443, 4})
	}
	if h.hasTag("sql") {
		ports = append(ports, port{"0.0.0.0", 1433, 3920}, port{"::", 1433, 3920})
	}
	if h.hasTag("dc") {
		for _, p := range []int{53, 88, 389, 464, 636, 3268, 3269, 9389} {
			ports = append(ports, port{"0.0.0.0", p, 780})
		}
	}
	listen := make([]obj, len(ports))
	for i, p := range ports {
		listen[i] = obj{{"address", p.addr}, {"port", p.port}, {"pid", p.pid}, {"state", 2}} // 2: Listen
	}
	return obj{
		{"adapters", unrolled(adapters)},
		{"routes", unrolled(routes)},
		{"shares", unrolled(shares)},
		{"listening", unrolled(listen)},
	}
}
