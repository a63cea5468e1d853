package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/psjson"
	"github.com/rmmhq/rmm/engine/scripts"
)

// InventorySection is one readable part of an inventory document, for
// the CLI's text output and the console's detail tabs (each renders it
// its own way): fields (label, value), or a table, or a note when the
// host could not answer that part.
type InventorySection struct {
	Title  string
	Fields [][2]string
	Header []string
	Rows   [][]string
	Note   string // "unavailable: reason", "none"
}

// InventorySections turns a stored document of a category into sections.
func InventorySections(category string, data []byte) ([]InventorySection, error) {
	v, _, err := scripts.ParseInventory(category, data)
	if err != nil {
		return nil, err
	}
	switch doc := v.(type) {
	case *scripts.HardwareInventory:
		return hardwareSections(doc), nil
	case *scripts.SoftwareInventory:
		return softwareSections(doc), nil
	case *scripts.SecurityInventory:
		return securitySections(doc), nil
	case *scripts.NetworkInventory:
		return networkSections(doc), nil
	case *scripts.PatchScan:
		return patchSections(doc), nil
	}
	return nil, fmt.Errorf("inventory: no view of %s", category)
}

// patchSections shows a patch scan: the update service, then the missing
// and the installed updates.
func patchSections(s *scripts.PatchScan) []InventorySection {
	svc := InventorySection{Title: "Windows Update", Fields: [][2]string{
		{"Service", invDash(strings.TrimSpace(s.Service + " " + s.Server))},
		{"Last successful search", invStamp(psjson.PSDate{Time: s.LastSearchSuccess.Time})},
		{"Last successful install", invStamp(psjson.PSDate{Time: s.LastInstallSuccess.Time})},
		{"Restart required", strconv.FormatBool(s.RebootRequired)},
	}}
	list := func(title string, us []scripts.Update) InventorySection {
		sec := InventorySection{Title: title + " (" + strconv.Itoa(len(us)) + ")"}
		if len(us) == 0 {
			sec.Note = "none"
			return sec
		}
		sec.Header = []string{"KB", "CLASSIFICATION", "SEVERITY", "RESTART", "TITLE"}
		for _, u := range us {
			sec.Rows = append(sec.Rows, []string{invDash(u.KB), u.Classification, invDash(u.Severity), scripts.RebootBehaviorName(u.RebootBehavior), u.Title})
		}
		return sec
	}
	return []InventorySection{svc, list("Missing updates", s.Missing), list("Installed updates", s.Installed)}
}

// table builds a section from a Part's rows, or its note.
func invTable[T any](title string, p scripts.Part[psjson.List[T]], header []string, row func(T) []string) InventorySection {
	s := InventorySection{Title: title}
	switch {
	case p.Unavailable != "":
		s.Note = "unavailable: " + p.Unavailable
	case len(p.Value) == 0:
		s.Note = "none"
	default:
		s.Header = header
		for _, v := range p.Value {
			s.Rows = append(s.Rows, row(v))
		}
	}
	return s
}

func invGiB(b int64) string {
	if b <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + " GiB"
}

func invDay(t psjson.PSDate) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02")
}

func invStamp(t psjson.PSDate) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func invYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func invDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

var driveTypes = map[int]string{2: "removable", 3: "fixed", 4: "network", 5: "optical", 6: "ram disk"}

func hardwareSections(h *scripts.HardwareInventory) []InventorySection {
	sys := InventorySection{Title: "System", Fields: [][2]string{
		{"Manufacturer", invDash(h.System.Manufacturer)}, {"Model", invDash(h.System.Model)},
		{"Domain", invDash(h.System.Domain)}, {"Memory", invGiB(h.System.TotalMemoryBytes)},
		{"Processors", fmt.Sprintf("%d (%d logical)", h.System.Processors, h.System.LogicalProcessors)},
	}}
	switch {
	case h.BIOS.Unavailable != "":
		sys.Fields = append(sys.Fields, [2]string{"BIOS", "unavailable: " + h.BIOS.Unavailable})
	case h.BIOS.Value != nil:
		b := h.BIOS.Value
		sys.Fields = append(sys.Fields, [2]string{"Serial number", invDash(b.SerialNumber)},
			[2]string{"BIOS", invDash(b.Manufacturer+" "+b.Version) + ", " + invDay(b.ReleaseDate)})
	}
	if bb := h.Baseboard.Value; bb != nil {
		sys.Fields = append(sys.Fields, [2]string{"Baseboard", invDash(strings.TrimSpace(bb.Manufacturer + " " + bb.Product))})
	}
	return []InventorySection{
		sys,
		invTable("Processors", h.Processors, []string{"NAME", "CORES", "LOGICAL", "MHZ"}, func(p scripts.Processor) []string {
			return []string{p.Name, strconv.Itoa(p.Cores), strconv.Itoa(p.LogicalProcessors), strconv.Itoa(p.MaxClockMHz)}
		}),
		invTable("Memory modules", h.Memory, []string{"SLOT", "SIZE", "MHZ", "MAKER", "PART"}, func(m scripts.MemoryModule) []string {
			return []string{invDash(m.Locator), invGiB(m.CapacityBytes), invDash(invItoa(m.SpeedMHz)), invDash(m.Manufacturer), invDash(m.PartNumber)}
		}),
		invTable("Disk drives", h.Disks, []string{"#", "MODEL", "SIZE", "INTERFACE", "SERIAL"}, func(d scripts.DiskDrive) []string {
			return []string{strconv.Itoa(d.Index), d.Model, invGiB(d.SizeBytes), invDash(d.Interface), invDash(d.SerialNumber)}
		}),
		invTable("Volumes", h.Volumes, []string{"DRIVE", "TYPE", "FS", "SIZE", "FREE", "LABEL"}, func(v scripts.Volume) []string {
			return []string{v.Drive, invDash(driveTypes[v.DriveType]), invDash(v.FileSystem), invGiB(v.SizeBytes), invGiB(v.FreeBytes), invDash(v.Label)}
		}),
		invTable("Video", h.Video, []string{"NAME", "DRIVER", "RESOLUTION"}, func(v scripts.VideoController) []string {
			res := "-"
			if v.Horizontal > 0 {
				res = fmt.Sprintf("%dx%d", v.Horizontal, v.Vertical)
			}
			return []string{v.Name, invDash(v.DriverVersion), res}
		}),
		invTable("Network adapters", h.NetworkAdapters, []string{"NAME", "CONNECTION", "MAC", "SPEED", "ENABLED"}, func(n scripts.NetworkAdapter) []string {
			speed := "-"
			if n.SpeedBPS > 0 {
				speed = strconv.FormatInt(n.SpeedBPS/1_000_000, 10) + " Mb/s"
			}
			return []string{n.Name, invDash(n.ConnectionID), invDash(n.MAC), speed, invYesNo(n.Enabled)}
		}),
		invTable("Battery", h.Battery, []string{"NAME", "CHARGE", "STATUS"}, func(b scripts.Battery) []string {
			status := map[int]string{1: "discharging", 2: "on AC"}[b.Status]
			return []string{b.Name, strconv.Itoa(b.ChargePct) + "%", invDash(status)}
		}),
	}
}

func invItoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func softwareSections(s *scripts.SoftwareInventory) []InventorySection {
	build := s.OS.Build
	if s.OS.UBR > 0 {
		build += "." + strconv.Itoa(s.OS.UBR)
	}
	osSec := InventorySection{Title: "Operating system", Fields: [][2]string{
		{"Name", invDash(s.OS.Name)}, {"Version", invDash(strings.TrimSpace(s.OS.Version + " " + s.OS.DisplayVersion))},
		{"Build", invDash(build)}, {"Edition", invDash(s.OS.EditionID)}, {"Installed", invDay(s.OS.InstallDate)},
		{"Last boot", invStamp(s.OS.LastBoot)},
	}}
	apps := s.Applications
	if apps.Unavailable == "" {
		sorted := slices.Clone(apps.Value)
		slices.SortFunc(sorted, func(a, b scripts.Application) int {
			return strings.Compare(strings.ToLower(string(a.Name)), strings.ToLower(string(b.Name)))
		})
		apps.Value = sorted
	}
	appSec := invTable("Installed applications", apps, []string{"NAME", "VERSION", "PUBLISHER", "ARCH"}, func(a scripts.Application) []string {
		return []string{string(a.Name), invDash(string(a.Version)), invDash(string(a.Publisher)), a.Arch}
	})
	if n := len(apps.Value); n > 0 {
		appSec.Title += " (" + strconv.Itoa(n) + ")"
	}
	svcSec := invTable("Services", s.Services, []string{"NAME", "STATE", "START", "DISPLAY NAME"}, func(v scripts.Service) []string {
		return []string{v.Name, v.State, v.StartType, v.DisplayName}
	})
	if n := len(s.Services.Value); n > 0 {
		running := 0
		for _, v := range s.Services.Value {
			if v.State == "Running" {
				running++
			}
		}
		svcSec.Title += fmt.Sprintf(" (%d, %d running)", n, running)
	}
	return []InventorySection{
		osSec,
		invTable("Hotfixes", s.Hotfixes, []string{"ID", "DESCRIPTION", "INSTALLED"}, func(h scripts.Hotfix) []string {
			return []string{h.ID, invDash(h.Description), invDay(h.InstalledOn)}
		}),
		appSec,
		svcSec,
		invTable("Startup commands", s.Startup, []string{"NAME", "COMMAND", "USER"}, func(v scripts.StartupItem) []string {
			return []string{v.Name, v.Command, invDash(v.User)}
		}),
	}
}

var bitlockerProtection = map[int]string{0: "off", 1: "on", 2: "unknown"}
var bitlockerStatus = map[int]string{0: "decrypted", 1: "encrypted", 2: "encrypting", 3: "decrypting", 4: "encryption paused", 5: "decryption paused"}
var principalSources = map[int]string{1: "local", 2: "Active Directory", 3: "Entra ID", 4: "Microsoft account"}

func securitySections(s *scripts.SecurityInventory) []InventorySection {
	def := InventorySection{Title: "Microsoft Defender"}
	switch d := s.Defender.Value; {
	case s.Defender.Unavailable != "":
		def.Note = "unavailable: " + s.Defender.Unavailable
	case d == nil:
		def.Note = "none"
	default:
		age := "-"
		if !d.SignatureLastUpdated.IsZero() {
			age = roundAge(time.Since(d.SignatureLastUpdated.Time)) + " ago"
		}
		def.Fields = [][2]string{{"Antivirus", invOnOff(d.AntivirusEnabled)}, {"Real-time", invOnOff(d.RealTimeProtection)},
			{"Signatures", invDash(d.SignatureVersion) + ", updated " + invStamp(d.SignatureLastUpdated) + " (" + age + ")"},
			{"Engine", invDash(d.EngineVersion)}}
	}
	tpm := InventorySection{Title: "TPM"}
	switch t := s.TPM.Value; {
	case s.TPM.Unavailable != "":
		tpm.Note = "unavailable: " + s.TPM.Unavailable
	case t == nil || !t.Present:
		tpm.Note = "no TPM"
	default:
		tpm.Fields = [][2]string{{"Present", "yes"}, {"Ready", invYesNo(t.Ready)}, {"Enabled", invYesNo(t.Enabled)},
			{"Maker", invDash(t.Manufacturer) + " " + invDash(t.Version)}}
	}
	reboot := InventorySection{Title: "Updates and reboot", Fields: [][2]string{
		{"Last update", invDay(s.LastUpdateInstalled)}, {"Reboot", map[bool]string{true: "pending", false: "not pending"}[s.PendingReboot.Pending]}}}
	if s.PendingReboot.Pending {
		reboot.Fields = append(reboot.Fields, [2]string{"Because", invDash(strings.Join(s.PendingReboot.Reasons, ", "))})
		if !s.PendingReboot.Since.IsZero() {
			reboot.Fields = append(reboot.Fields, [2]string{"Since about", invStamp(s.PendingReboot.Since)})
		}
	}
	return []InventorySection{
		def,
		invTable("Firewall profiles", s.Firewall, []string{"PROFILE", "ENABLED"}, func(p scripts.FirewallProfile) []string {
			return []string{p.Name, map[int]string{0: "no", 1: "yes", 2: "not configured"}[p.Enabled]}
		}),
		invTable("BitLocker", s.BitLocker, []string{"VOLUME", "PROTECTION", "STATUS", "ENCRYPTED"}, func(b scripts.BitLockerVolume) []string {
			return []string{b.MountPoint, invDash(bitlockerProtection[b.ProtectionStatus]), invDash(bitlockerStatus[b.VolumeStatus]), strconv.Itoa(b.EncryptionPct) + "%"}
		}),
		tpm,
		invTable("Local Administrators", s.Administrators, []string{"MEMBER", "CLASS", "SOURCE"}, func(m scripts.GroupMember) []string {
			return []string{m.Name, invDash(m.Class), invDash(principalSources[m.Source])}
		}),
		reboot,
	}
}

func invOnOff(b bool) string {
	if b {
		return "on"
	}
	return "OFF"
}

var shareTypes = map[int]string{0: "disk", 1: "printer", 2: "device", 3: "IPC"}

func networkSections(n *scripts.NetworkInventory) []InventorySection {
	return []InventorySection{
		invTable("Adapters", n.Adapters, []string{"ADAPTER", "IPV4", "GATEWAY", "DNS", "DHCP"}, func(a scripts.IPAdapter) []string {
			return []string{a.Description, invDash(strings.Join(a.IPv4, ", ")), invDash(strings.Join(a.Gateways, ", ")),
				invDash(strings.Join(a.DNSServers, ", ")), invYesNo(a.DHCP)}
		}),
		invTable("IPv6", n.Adapters, []string{"ADAPTER", "IPV6"}, func(a scripts.IPAdapter) []string {
			return []string{a.Description, invDash(strings.Join(a.IPv6, ", "))}
		}),
		invTable("Routes (IPv4)", n.Routes, []string{"DESTINATION", "NEXT HOP", "IF", "METRIC"}, func(r scripts.Route) []string {
			return []string{r.Destination, r.NextHop, strconv.Itoa(r.Interface), strconv.Itoa(r.Metric)}
		}),
		invTable("SMB shares", n.Shares, []string{"NAME", "TYPE", "PATH", "DESCRIPTION"}, func(s scripts.Share) []string {
			return []string{s.Name, invDash(shareTypes[s.Type]), invDash(s.Path), invDash(s.Description)}
		}),
		invTable("Listening TCP ports", n.Listening, []string{"ADDRESS", "PORT", "PID"}, func(p scripts.ListeningPort) []string {
			return []string{p.Address, strconv.Itoa(p.Port), strconv.Itoa(p.PID)}
		}),
	}
}
