package winrmsim

import (
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
	doc := h.inventoryDoc(cat, done, p.m.fleet.epoch, p.m.lastBoot)
	out.Stdout(done, append(doc, '\r', '\n'))
	out.ErrorRecords(done, nil)
	out.Exit(done, 0)
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
	return h.inventoryDoc(category, at, f.epoch, boot), true
}

func (h *host) inventoryDoc(cat string, at, epoch, boot time.Time) []byte {
	var doc obj
	switch cat {
	case "hardware":
		doc = h.hardwareDoc(at, epoch)
	case "software":
		doc = h.softwareDoc(at, epoch, boot)
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

func (h *host) hardwareDoc(at, epoch time.Time) obj {
	r := h.rngFor(0x4a7d)
	v := h.vendor()
	model := v.desktop[r.IntN(len(v.desktop))]
	pcType := 1 // desktop
	if h.laptop() {
		model = v.laptop[r.IntN(len(v.laptop))]
		pcType = 2
	}
	if h.server && !h.virtual() {
		pcType = 4
	}
	installedMB := int64(1024)
	for installedMB < h.prof.memMB+90 {
		installedMB *= 2
	}
	cpu := workstationCPUs[r.IntN(len(workstationCPUs))]
	sockets := 1
	if h.server {
		cpu = serverCPUs[r.IntN(len(serverCPUs))]
		if !h.virtual() && r.IntN(2) == 0 {
			sockets = 2
		}
	}
	serial := h.serial(r)
	procs := make([]obj, sockets)
	for i := range procs {
		procs[i] = obj{{"name", cpu.name}, {"manufacturer", cpu.maker}, {"cores", cpu.cores}, {"logical_processors", cpu.threads},
			{"max_clock_mhz", cpu.mhz}, {"architecture", 9}} // 9: x64
	}
	domain := "WORKGROUP"
	inDomain := h.site != "lab"
	if inDomain {
		domain = "corp.example.com"
	}

	// Memory modules: two for workstations, four or eight for physical
	// servers, one for a VM's dynamic memory.
	modules := 2
	switch {
	case h.virtual():
		modules = 1
	case h.server:
		modules = 4 + 4*r.IntN(2)
	}
	if installedMB/int64(modules) < 2048 {
		modules = 1
	}
	mem := make([]obj, modules)
	// A machine's modules are one kit: the same maker, part and speed.
	maker := []string{"Samsung", "SK Hynix", "Micron Technology", "Kingston"}[r.IntN(4)]
	part := fmt.Sprintf("M378A%dK43DB1-CWE", 1+r.IntN(4))
	speed := []int{2666, 3200, 4800}[r.IntN(3)]
	for i := range mem {
		if h.virtual() {
			mem[i] = obj{{"bank", nil}, {"locator", "RAM " + strconv.Itoa(i)}, {"manufacturer", "Microsoft Corporation"},
				{"part_number", "None"}, {"capacity_bytes", installedMB / int64(modules) << 20}, {"speed_mhz", nil}}
			continue
		}
		mem[i] = obj{{"bank", "BANK " + strconv.Itoa(i)}, {"locator", "DIMM " + strconv.Itoa(i+1)}, {"manufacturer", maker},
			{"part_number", part}, {"capacity_bytes", installedMB / int64(modules) << 20}, {"speed_mhz", speed}}
	}

	m := h.metricsAt(at.Sub(epoch), at)
	disks := make([]obj, len(h.prof.volumes))
	vols := make([]obj, 0, len(h.prof.volumes)+1)
	for i, vol := range h.prof.volumes {
		dm := diskModel(h, r, i)
		disks[i] = obj{{"index", i}, {"model", dm.model}, {"serial_number", dm.serial}, {"interface", dm.iface},
			{"media_type", "Fixed hard disk media"}, {"size_bytes", vol.size + 1<<20*int64(1+r.IntN(600))}, {"partitions", 1 + boolInt(i == 0)*2}}
		label := "Data"
		if i == 0 {
			label = "OS"
			if h.server {
				label = ""
			}
		}
		var lbl any = label
		if label == "" {
			lbl = nil
		}
		vols = append(vols, obj{{"drive", vol.drive}, {"label", lbl}, {"file_system", "NTFS"}, {"drive_type", 3},
			{"size_bytes", vol.size}, {"free_bytes", m.Disks[i].FreeBytes}})
	}
	if !h.server && !h.laptop() && r.IntN(3) == 0 {
		// An optical drive: DriveType 5, no medium, no size.
		vols = append(vols, obj{{"drive", string(rune('C'+len(h.prof.volumes))) + ":"}, {"label", nil}, {"file_system", nil},
			{"drive_type", 5}, {"size_bytes", nil}, {"free_bytes", nil}})
	}

	var video []obj
	switch v.short {
	case "hyperv":
		video = []obj{{{"name", "Microsoft Hyper-V Video"}, {"driver_version", "10.0." + h.build() + ".1"}, {"driver_date", psDate(time.Date(2006, 6, 21, 0, 0, 0, 0, time.UTC))},
			{"ram_bytes", nil}, {"horizontal", 1024}, {"vertical", 768}}}
	case "vmware":
		video = []obj{{{"name", "VMware SVGA 3D"}, {"driver_version", "9.17.7.2"}, {"driver_date", psDate(time.Date(2023, 9, 6, 0, 0, 0, 0, time.UTC))},
			{"ram_bytes", 4194304}, {"horizontal", 1280}, {"vertical", 800}}}
	default:
		video = []obj{{{"name", "Intel(R) UHD Graphics 770"}, {"driver_version", "31.0.101.4577"}, {"driver_date", psDate(time.Date(2023, 6, 27, 0, 0, 0, 0, time.UTC))},
			{"ram_bytes", 1073741824}, {"horizontal", 1920}, {"vertical", 1080}}}
		if r.IntN(4) == 0 {
			// AdapterRAM is a uint32: 4 GB and more wraps, as on real hosts.
			video = append(video, obj{{"name", "NVIDIA RTX A2000"}, {"driver_version", "31.0.15.3734"}, {"driver_date", psDate(time.Date(2023, 8, 30, 0, 0, 0, 0, time.UTC))},
				{"ram_bytes", 4293918720}, {"horizontal", 2560}, {"vertical", 1440}})
		}
	}

	nics := []obj{{{"name", h.nicName()}, {"connection_id", "Ethernet"}, {"manufacturer", h.nicMaker()},
		{"mac", h.mac}, {"speed_bps", h.nicSpeed()}, {"enabled", true}, {"status", 2}}} // 2: Connected
	if h.laptop() {
		nics = append(nics, obj{{"name", "Intel(R) Wi-Fi 6E AX211 160MHz"}, {"connection_id", "Wi-Fi"}, {"manufacturer", "Intel Corporation"},
			{"mac", wifiMAC(h.mac)}, {"speed_bps", nil}, {"enabled", false}, {"status", 7}}) // 7: Media disconnected
	}

	var battery []obj
	if h.laptop() {
		battery = []obj{{{"name", []string{"DELL 7FJ9263", "Primary", "5B10W51867"}[r.IntN(3)]}, {"status", 2}, // 2: AC
			{"charge_pct", 60 + r.IntN(41)}, {"design_voltage", 11400 + 100*r.IntN(8)}}}
	}

	return obj{
		{"system", obj{{"manufacturer", v.name}, {"model", model}, {"domain", domain}, {"part_of_domain", inDomain},
			{"system_type", "x64-based PC"}, {"pc_system_type", pcType}, {"total_memory_bytes", installedMB<<20 - int64(r.IntN(400))<<20},
			{"processors", sockets}, {"logical_processors", sockets * cpu.threads}}},
		{"bios", obj{{"manufacturer", v.name}, {"version", h.biosVersion(r)}, {"serial_number", serial},
			{"release_date", psDate(h.installDate(epoch).AddDate(0, -2-r.IntN(10), 0).Truncate(24 * time.Hour))}}},
		{"baseboard", obj{{"manufacturer", v.name}, {"product", h.boardProduct(r)}, {"serial_number", "/" + serial + "/CNFCW00" + strconv.Itoa(r.IntN(10)) + "/"}}},
		{"processors", unrolled(procs)},
		{"memory", unrolled(mem)},
		{"disks", unrolled(disks)},
		{"volumes", unrolled(vols)},
		{"video", unrolled(video)},
		{"network_adapters", unrolled(nics)},
		{"battery", unrolled(battery)},
	}
}

type cpuModel struct {
	name, maker         string
	cores, threads, mhz int
}

var (
	workstationCPUs = []cpuModel{
		{name: "Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz", maker: "GenuineIntel", cores: 6, threads: 12, mhz: 3096},
		{name: "Intel(R) Core(TM) i7-12700 CPU", maker: "GenuineIntel", cores: 12, threads: 20, mhz: 2100},
		{name: "13th Gen Intel(R) Core(TM) i5-1345U", maker: "GenuineIntel", cores: 10, threads: 12, mhz: 1600},
		{name: "AMD Ryzen 7 PRO 5850U with Radeon Graphics", maker: "AuthenticAMD", cores: 8, threads: 16, mhz: 1901},
	}
	serverCPUs = []cpuModel{
		{name: "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", maker: "GenuineIntel", cores: 24, threads: 48, mhz: 2993},
		{name: "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz", maker: "GenuineIntel", cores: 16, threads: 32, mhz: 2394},
		{name: "AMD EPYC 7443P 24-Core Processor", maker: "AuthenticAMD", cores: 24, threads: 48, mhz: 2850},
	}
)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const serialChars = "BCDFGHJKLMNPQRSTVWXYZ0123456789"

func randChars(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = serialChars[r.IntN(len(serialChars))]
	}
	return string(b)
}

// serial is Win32_BIOS.SerialNumber in the vendor's format.
func (h *host) serial(r *rand.Rand) string {
	switch h.vendor().short {
	case "dell":
		return randChars(r, 7)
	case "hp":
		return "CZC" + randChars(r, 7)
	case "lenovo":
		return "PF" + randChars(r, 6)
	case "hyperv":
		return fmt.Sprintf("%04d-%04d-%04d-%04d-%04d-%04d-%02d", r.IntN(10000), r.IntN(10000), r.IntN(10000), r.IntN(10000), r.IntN(10000), r.IntN(10000), r.IntN(100))
	}
	return fmt.Sprintf("VMware-56 4d %02x %02x %02x %02x %02x %02x-%02x %02x %02x %02x %02x %02x %02x %02x",
		r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256),
		r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256))
}

func (h *host) biosVersion(r *rand.Rand) string {
	switch h.vendor().short {
	case "dell":
		return fmt.Sprintf("1.%d.%d", 10+r.IntN(15), r.IntN(3))
	case "hp":
		return fmt.Sprintf("S01 Ver. 02.%02d.00", 10+r.IntN(10))
	case "lenovo":
		return fmt.Sprintf("M3%cKT%dA", 'A'+rune(r.IntN(6)), 30+r.IntN(20))
	case "hyperv":
		return "Hyper-V UEFI Release v4.1"
	}
	return "VMW71.00V.21100432.B64.2301110304"
}

func (h *host) boardProduct(r *rand.Rand) string {
	switch h.vendor().short {
	case "dell":
		return fmt.Sprintf("0%dJ%dK%d", r.IntN(10), r.IntN(10), r.IntN(10))
	case "hp":
		return "8767"
	case "lenovo":
		return "SDK0J40697 WIN"
	case "hyperv":
		return "Virtual Machine"
	}
	return "440BX Desktop Reference Platform"
}

type diskInfo struct{ model, serial, iface string }

func diskModel(h *host, r *rand.Rand, i int) diskInfo {
	switch h.vendor().short {
	case "hyperv":
		return diskInfo{"Microsoft Virtual Disk", "", "SCSI"}
	case "vmware":
		return diskInfo{"VMware Virtual disk SCSI Disk Device", "", "SCSI"}
	}
	if i == 0 {
		m := []string{"SAMSUNG MZVL2512HCJQ-00BL7", "KXG60ZNV512G KIOXIA", "PC SN740 NVMe WDC 512GB"}[r.IntN(3)]
		return diskInfo{m, "0025_38B2_" + randChars(r, 4) + "_" + randChars(r, 4) + ".", "SCSI"}
	}
	return diskInfo{"ST2000DM008-2FR102", "ZFL" + randChars(r, 5), "IDE"}
}

func (h *host) nicName() string {
	switch h.vendor().short {
	case "hyperv":
		return "Microsoft Hyper-V Network Adapter"
	case "vmware":
		return "vmxnet3 Ethernet Adapter"
	}
	return "Intel(R) Ethernet Connection (17) I219-LM"
}

func (h *host) nicMaker() string {
	switch h.vendor().short {
	case "hyperv":
		return "Microsoft"
	case "vmware":
		return "VMware, Inc."
	}
	return "Intel Corporation"
}

func (h *host) nicSpeed() int64 {
	if h.server {
		return 10000000000
	}
	return 1000000000
}

// wifiMAC is a second, locally administered address next to the wired one.
func wifiMAC(mac string) string { return "0A" + mac[2:] }

// --- software ----------------------------------------------------------------

func (h *host) softwareDoc(at, epoch, boot time.Time) obj {
	productType := 1
	switch {
	case h.server && h.hasTag("dc"):
		productType = 2
	case h.server:
		productType = 3
	}
	var services []obj
	for _, s := range h.services() {
		start := s.StartType
		switch start {
		case "Automatic", "AutomaticDelayedStart":
			start = "Auto"
		}
		account := "LocalSystem"
		if strings.HasPrefix(s.Name, "Dns") || s.Name == "W32Time" || s.Name == "EventLog" {
			account = `NT AUTHORITY\LocalService`
		}
		services = append(services, obj{{"name", s.Name}, {"display_name", s.DisplayName}, {"state", s.State},
			{"start_type", start}, {"account", account}})
	}
	return obj{
		{"os", obj{{"name", h.caption}, {"version", h.release.version}, {"build", h.build()}, {"ubr", h.ubr},
			{"display_version", h.displayVersion()}, {"edition_id", h.editionID()}, {"architecture", "64-bit"},
			{"product_type", productType}, {"install_date", psDate(h.installDate(epoch))}, {"last_boot", psDate(boot)},
			{"locale", "0409"}, {"registered_to", "IT"}}},
		{"hotfixes", unrolled(h.hotfixes(at, epoch))},
		{"applications", unrolled(h.applications(epoch))},
		{"services", unrolled(services)},
		{"startup", unrolled(h.startup())},
	}
}

// hotfixes are Win32_QuickFixEngineering's entries: servicing stack and
// cumulative updates, and on older releases a longer list of individual
// fixes. The newest is the host's last update.
func (h *host) hotfixes(at, epoch time.Time) []obj {
	r := h.rngFor(0x4f1c)
	n := 3 + r.IntN(5)
	if h.server2016() || h.build() == "17763" {
		n = 12 + r.IntN(20)
	}
	last := h.lastUpdate(epoch)
	out := make([]obj, n)
	when := last
	kb := 5040000 + r.IntN(9000)
	for i := range out {
		desc := "Update"
		switch {
		case i == 0:
			desc = "Security Update"
		case i%4 == 1:
			desc = "Servicing Stack Update"
		}
		out[n-1-i] = obj{{"id", "KB" + strconv.Itoa(kb)}, {"description", desc}, {"installed_on", psDate(when)},
			{"installed_by", `NT AUTHORITY\SYSTEM`}}
		kb -= 1000 + r.IntN(40000)
		when = when.AddDate(0, 0, -20-r.IntN(25))
	}
	_ = at
	return out
}

// lastUpdate is the host's newest hotfix install date: within the last
// month for most hosts, months ago for a neglected few.
func (h *host) lastUpdate(epoch time.Time) time.Time {
	r := h.rngFor(0x1a57e)
	days := 2 + r.IntN(26)
	if r.IntN(100) < 6 {
		days = 45 + r.IntN(200)
	}
	return epoch.AddDate(0, 0, -days).Truncate(24 * time.Hour)
}

// app is one Uninstall registry entry.
type app struct {
	name, version, publisher string
	sizeKB                   int
	arch                     string
}

var (
	commonApps = []app{
		{"Microsoft Edge", "131.0.2903.70", "Microsoft Corporation", 0, "x86"},
		{"Microsoft Edge WebView2 Runtime", "131.0.2903.70", "Microsoft Corporation", 0, "x86"},
		{"Microsoft Update Health Tools", "5.72.0.0", "Microsoft Corporation", 1034, "x64"},
		{"7-Zip 23.01 (x64)", "23.01", "Igor Pavlov", 5638, "x64"},
		{"Notepad++ (64-bit x64)", "8.6.2", "Notepad++ Team", 15012, "x64"},
		{"Google Chrome", "131.0.6778.86", "Google LLC", 0, "x64"},
		{"Mozilla Firefox (x64 en-US)", "133.0", "Mozilla", 243510, "x64"},
		{"Mozilla Maintenance Service", "133.0", "Mozilla", 325, "x86"},
		{"PowerShell 7-x64", "7.4.6.0", "Microsoft Corporation", 283000, "x64"},
		{"Microsoft Intune Management Extension", "1.83.107.0", "Microsoft Corporation", 31240, "x86"},
		{"Microsoft Monitoring Agent", "10.20.18067.0", "Microsoft Corporation", 0, "x64"},
		{"Microsoft Policy Platform", "68.1.1010.0", "Microsoft Corporation", 6048, "x64"},
		{"Configuration Manager Client", "5.00.9122.1000", "Microsoft Corporation", 59870, "x64"},
		{"Local Administrator Password Solution", "6.2.0.0", "Microsoft Corporation", 1110, "x64"},
	}
	workstationApps = []app{
		{"Microsoft 365 Apps for enterprise - en-us", "16.0.17928.20156", "Microsoft Corporation", 0, "x64"},
		{"Microsoft OneDrive", "24.211.1020.0001", "Microsoft Corporation", 289452, "x64"},
		{"Microsoft Teams Meeting Add-in for Microsoft Office", "1.24.25604", "Microsoft", 28810, "x86"},
		{"Teams Machine-Wide Installer", "1.7.0.156", "Microsoft Corporation", 145000, "x86"},
		{"Adobe Acrobat (64-bit)", "24.004.20220", "Adobe", 1254810, "x64"},
		{"Zoom Workplace (64-bit)", "6.2.11", "Zoom Video Communications, Inc.", 402113, "x64"},
		{"Cisco Secure Client - AnyConnect VPN", "5.1.2.42", "Cisco Systems, Inc.", 23102, "x86"},
		{"VLC media player", "3.0.20", "VideoLAN", 169540, "x64"},
		{"Microsoft Visio - en-us", "16.0.17928.20156", "Microsoft Corporation", 0, "x64"},
		{"Snagit 2024", "24.1.0.1784", "TechSmith Corporation", 640000, "x64"},
		{"Realtek Audio Driver", "6.0.9549.1", "Realtek Semiconductor Corp.", 284000, "x86"},
		{"Intel(R) Management Engine Components", "2345.5.42.0", "Intel Corporation", 74000, "x86"},
		{"Intel(R) Chipset Device Software", "10.1.19444.8378", "Intel(R) Corporation", 3210, "x86"},
		{"Intel(R) Serial IO", "30.100.2131.1", "Intel Corporation", 1550, "x64"},
		{"Microsoft Windows Desktop Runtime - 8.0.11 (x64)", "8.0.11.34221", "Microsoft Corporation", 212880, "x64"},
	}
	devApps = []app{
		{"Microsoft Visual Studio Code", "1.95.3", "Microsoft Corporation", 387000, "x64"},
		{"Git", "2.47.1", "The Git Development Community", 336000, "x64"},
		{"Python 3.12.7 (64-bit)", "3.12.7150.0", "Python Software Foundation", 0, "x64"},
		{"Python 3.12.7 Core Interpreter (64-bit)", "3.12.7150.0", "Python Software Foundation", 6214, "x64"},
		{"Python 3.12.7 Standard Library (64-bit)", "3.12.7150.0", "Python Software Foundation", 22612, "x64"},
		{"Python Launcher", "3.12.7150.0", "Python Software Foundation", 1830, "x86"},
		{"Docker Desktop", "4.36.0", "Docker Inc.", 0, "x64"},
		{"Wireshark 4.4.2 x64", "4.4.2", "The Wireshark developer community", 240000, "x64"},
		{"Npcap", "1.79", "Nmap Project", 0, "x86"},
		{"Node.js", "22.11.0", "Node.js Foundation", 103000, "x64"},
		{"Visual Studio Community 2022", "17.12.1", "Microsoft Corporation", 0, "x86"},
		{"Microsoft Visual Studio Installer", "3.12.2149.20818", "Microsoft Corporation", 0, "x86"},
		{"WinSCP 6.3.5", "6.3.5", "Martin Prikryl", 41000, "x86"},
		{"PuTTY release 0.81 (64-bit)", "0.81.0.0", "Simon Tatham", 4700, "x64"},
	}
	sqlApps = []app{
		{"Microsoft SQL Server 2019 (64-bit)", "", "Microsoft Corporation", 0, "x64"},
		{"SQL Server Management Studio", "20.2.30.0", "Microsoft Corp.", 0, "x86"},
		{"Microsoft ODBC Driver 17 for SQL Server", "17.10.6.1", "Microsoft Corporation", 7980, "x64"},
		{"Microsoft OLE DB Driver for SQL Server", "18.7.4.0", "Microsoft Corporation", 5720, "x64"},
		{"Microsoft SQL Server 2019 Setup (English)", "15.0.4382.1", "Microsoft Corporation", 143000, "x64"},
		{"Browser for SQL Server 2019", "15.0.2000.5", "Microsoft Corporation", 11200, "x86"},
		{"Microsoft VSS Writer for SQL Server 2019", "15.0.2000.5", "Microsoft Corporation", 3070, "x64"},
		{"SQL Server 2019 Database Engine Services", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 Database Engine Shared", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 Connection Info", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 Shared Management Objects", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 Common Files", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
		{"SQL Server 2019 XEvent", "15.0.2000.5", "Microsoft Corporation", 0, "x64"},
	}
	serverApps = []app{
		{"VMware Tools", "12.4.5.23787635", "VMware, Inc.", 103000, "x64"},
		{"Veeam Agent for Microsoft Windows", "6.2.0.121", "Veeam Software Group GmbH", 640000, "x64"},
		{"Microsoft Azure Connected Machine Agent", "1.47.02877.1846", "Microsoft Corporation", 0, "x64"},
		{"Windows Admin Center", "2.3.2410.28002", "Microsoft Corporation", 290000, "x64"},
		{"IIS URL Rewrite Module 2", "7.2.1993", "Microsoft Corporation", 2900, "x64"},
		{"Microsoft Web Deploy 4.0", "10.0.8321", "Microsoft Corporation", 15000, "x64"},
	}
)

// applications are the host's Uninstall entries, 64- and 32-bit: common
// tools, the role's software, and the long tail of runtimes (Visual C++
// redistributables, .NET, SDK parts) that makes a real list hundreds long.
func (h *host) applications(epoch time.Time) []obj {
	r := h.rngFor(0xa995)
	var apps []app
	pick := func(from []app, pct int) {
		for _, a := range from {
			if r.IntN(100) < pct {
				apps = append(apps, a)
			}
		}
	}
	pick(commonApps, 70)
	if h.server {
		pick(serverApps, 40)
		if h.hasTag("sql") {
			pick(sqlApps, 100)
		}
	} else {
		pick(workstationApps, 75)
		if h.hasTag("dev") || r.IntN(100) < 15 {
			pick(devApps, 90)
		}
	}
	// Visual C++ redistributables: every year, both architectures, with
	// their Minimum and Additional Runtime entries.
	for _, vc := range []struct{ year, ver string }{
		{"2005", "8.0.61001"}, {"2008", "9.0.30729.6161"}, {"2010", "10.0.40219"}, {"2012", "11.0.61030"},
		{"2013", "12.0.40664"}, {"2015-2022", "14.40.33810"},
	} {
		if r.IntN(100) < 25 && vc.year != "2015-2022" {
			continue
		}
		for _, arch := range []string{"x64", "x86"} {
			apps = append(apps,
				app{"Microsoft Visual C++ " + vc.year + " Redistributable (" + arch + ") - " + vc.ver, vc.ver, "Microsoft Corporation", 20000 + r.IntN(3000), "x86"},
				app{"Microsoft Visual C++ " + vc.year + " " + arch + " Minimum Runtime - " + vc.ver, vc.ver, "Microsoft Corporation", 2200 + r.IntN(300), arch},
				app{"Microsoft Visual C++ " + vc.year + " " + arch + " Additional Runtime - " + vc.ver, vc.ver, "Microsoft Corporation", 12000 + r.IntN(300), arch},
			)
		}
	}
	// .NET runtimes: a few patch levels of each major, each with its host,
	// resolver and runtime entries.
	for _, major := range []int{6, 7, 8} {
		for range 1 + r.IntN(3) {
			patch := 10 + r.IntN(26)
			v := fmt.Sprintf("%d.0.%d", major, patch)
			for _, arch := range []string{"x64", "x86"} {
				for _, part := range []string{"Microsoft .NET Runtime", "Microsoft .NET Host FX Resolver", "Microsoft ASP.NET Core " + v + " Shared Framework"} {
					name := part + " - " + v + " (" + arch + ")"
					if strings.HasPrefix(part, "Microsoft ASP") {
						name = part + " (" + arch + ")"
					}
					apps = append(apps, app{name, v + "." + strconv.Itoa(30000+r.IntN(9000)), "Microsoft Corporation", 60000 + r.IntN(40000), arch})
				}
			}
		}
		apps = append(apps, app{fmt.Sprintf("Microsoft .NET Host - %d.0.%d (x64)", major, 10+r.IntN(26)), "", "Microsoft Corporation", 200, "x64"})
	}
	// Windows SDK and driver packages: the long tail.
	sdk := 20 + r.IntN(60)
	if h.server {
		sdk = 10 + r.IntN(30)
	}
	sdkParts := []string{"Windows SDK AddOn", "Windows SDK Desktop Tools x64", "Windows SDK Desktop Headers x86", "Windows SDK Signing Tools",
		"Windows SDK for Windows Store Apps Contracts", "Windows App Certification Kit Native Components", "Universal CRT Tools x64",
		"Kits Configuration Installer", "WinRT Intellisense Desktop - en-us", "Windows IoT Extension SDK", "MSI Development Tools",
		"Windows Team Extension SDK", "Application Verifier x64 External Package", "Universal General MIDI DLS Extension SDK"}
	for i := range sdk {
		p := sdkParts[i%len(sdkParts)]
		v := fmt.Sprintf("10.1.%d.%d", []int{19041, 22000, 22621, 26100}[i/len(sdkParts)%4], 685+r.IntN(3000))
		apps = append(apps, app{p + " " + v, v, "Microsoft Corporation", 100 + r.IntN(90000), []string{"x64", "x86"}[i%2]})
	}
	drivers := 10 + r.IntN(25)
	for i := range drivers {
		c := []string{"Printer", "Scanner", "Bluetooth", "Card Reader", "Dock", "Camera", "Touchpad", "Thunderbolt"}[i%8]
		apps = append(apps, app{fmt.Sprintf("%s %s Driver Package (%d)", h.vendor().name, c, i), fmt.Sprintf("%d.%d.%d", 1+r.IntN(20), r.IntN(100), r.IntN(10000)),
			h.vendor().name, 500 + r.IntN(50000), "x64"})
	}
	out := make([]obj, len(apps))
	install := h.installDate(epoch)
	span := int(epoch.Sub(install).Hours()/24) + 1
	for i, a := range apps {
		var version, size any = a.version, a.sizeKB
		if a.version == "" {
			version = nil
		}
		if a.sizeKB == 0 {
			size = nil
		}
		var date any = install.AddDate(0, 0, r.IntN(span)).Format("20060102")
		if r.IntN(10) == 0 {
			date = nil // many installers leave InstallDate out
		}
		out[i] = obj{{"name", a.name}, {"version", version}, {"publisher", a.publisher}, {"install_date", date}, {"size_kb", size}, {"arch", a.arch}}
	}
	return out
}

func (h *host) startup() []obj {
	var out []obj
	out = append(out, obj{{"name", "SecurityHealth"}, {"command", `%windir%\system32\SecurityHealthSystray.exe`},
		{"location", `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`}, {"user", "Public"}})
	if h.server {
		return out
	}
	out = append(out,
		obj{{"name", "OneDrive"}, {"command", `"C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background`},
			{"location", `HKU\S-1-5-21-1004336348-1177238915-682003330-1001\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`}, {"user", `CORP\user`}},
		obj{{"name", "RtkAudUService"}, {"command", `"C:\Windows\System32\DriverStore\FileRepository\realtekservice.inf_amd64_1b8e1b0b0a0b0a0b\RtkAudUService64.exe" -background`},
			{"location", `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`}, {"user", "Public"}},
	)
	return out
}

// --- security ----------------------------------------------------------------

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
// Defender feature removed, so Get-MpComputerStatus is missing.
func (h *host) hasDefender() bool { return !h.server2016() || h.seed%4 != 0 }

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
	case h.server && r.IntN(100) < 80:
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
		{"administrators", unrolled(admins)},
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
