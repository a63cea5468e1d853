package winrmsim

// The hardware collector's answer: a machine consistent with the host's
// vendor, release and seed.

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

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
