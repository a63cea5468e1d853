package scripts

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/rmmhq/rmm/engine/psjson"
)

// The inventory documents: what the collectors (engine/scripts/
// inventory_*.ps1) print, decoded with the 5.1 quirks handled (List,
// PSDate, enums as numbers), and what the engine stores and `rmm inventory
// --json` prints (the same types marshalled: arrays always arrays, dates
// RFC 3339). Member names follow the scripts' JSON.

// Part is a collector part that may be unavailable on a host: the script
// prints {"unavailable":"reason"} in its place when the cmdlet, module or
// class is missing, instead of failing the whole category.
type Part[T any] struct {
	Value       T
	Unavailable string // why the host could not answer; "" when Value holds the answer
}

// UnmarshalJSON accepts {"unavailable":"reason"} or the value itself.
func (p *Part[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var probe struct {
			Unavailable *string `json:"unavailable"`
		}
		if err := json.Unmarshal(b, &probe); err == nil && probe.Unavailable != nil {
			*p = Part[T]{Unavailable: *probe.Unavailable}
			if p.Unavailable == "" {
				p.Unavailable = "unavailable"
			}
			return nil
		}
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = Part[T]{Value: v}
	return nil
}

// MarshalJSON writes {"unavailable":"reason"} or the value.
func (p Part[T]) MarshalJSON() ([]byte, error) {
	if p.Unavailable != "" {
		return json.Marshal(struct {
			Unavailable string `json:"unavailable"`
		}{p.Unavailable})
	}
	return json.Marshal(p.Value)
}

// Inventory categories.
const (
	InventoryHardware = "hardware"
	InventorySoftware = "software"
	InventorySecurity = "security"
	InventoryNetwork  = "network"
)

// InventoryCategories lists the categories in the order they are shown.
func InventoryCategories() []string {
	return []string{InventoryHardware, InventorySoftware, InventorySecurity, InventoryNetwork}
}

// --- hardware ---

// HardwareInventory is the hardware collector's document.
type HardwareInventory struct {
	System          ComputerSystem                     `json:"system"`
	BIOS            Part[*BIOSInfo]                    `json:"bios"`
	Baseboard       Part[*BaseboardInfo]               `json:"baseboard"`
	Processors      Part[psjson.List[Processor]]       `json:"processors"`
	Memory          Part[psjson.List[MemoryModule]]    `json:"memory"`
	Disks           Part[psjson.List[DiskDrive]]       `json:"disks"`
	Volumes         Part[psjson.List[Volume]]          `json:"volumes"`
	Video           Part[psjson.List[VideoController]] `json:"video"`
	NetworkAdapters Part[psjson.List[NetworkAdapter]]  `json:"network_adapters"`
	Battery         Part[psjson.List[Battery]]         `json:"battery"`
}

// ComputerSystem is Win32_ComputerSystem.
type ComputerSystem struct {
	Manufacturer      string `json:"manufacturer"`
	Model             string `json:"model"`
	Domain            string `json:"domain"`
	PartOfDomain      bool   `json:"part_of_domain"`
	SystemType        string `json:"system_type"`
	PCSystemType      int    `json:"pc_system_type"` // 1 desktop, 2 mobile, 4 enterprise server...
	TotalMemoryBytes  int64  `json:"total_memory_bytes"`
	Processors        int    `json:"processors"`
	LogicalProcessors int    `json:"logical_processors"`
}

// BIOSInfo is Win32_BIOS.
type BIOSInfo struct {
	Manufacturer string        `json:"manufacturer"`
	Version      string        `json:"version"`
	SerialNumber string        `json:"serial_number"`
	ReleaseDate  psjson.PSDate `json:"release_date"`
}

// BaseboardInfo is Win32_BaseBoard.
type BaseboardInfo struct {
	Manufacturer string `json:"manufacturer"`
	Product      string `json:"product"`
	SerialNumber string `json:"serial_number"`
}

// Processor is one Win32_Processor.
type Processor struct {
	Name              string `json:"name"`
	Manufacturer      string `json:"manufacturer"`
	Cores             int    `json:"cores"`
	LogicalProcessors int    `json:"logical_processors"`
	MaxClockMHz       int    `json:"max_clock_mhz"`
	Architecture      int    `json:"architecture"` // 0 x86, 9 x64, 12 ARM64
}

// MemoryModule is one Win32_PhysicalMemory.
type MemoryModule struct {
	Bank          string `json:"bank"`
	Locator       string `json:"locator"`
	Manufacturer  string `json:"manufacturer"`
	PartNumber    string `json:"part_number"`
	CapacityBytes int64  `json:"capacity_bytes"`
	SpeedMHz      int    `json:"speed_mhz"`
}

// DiskDrive is one Win32_DiskDrive.
type DiskDrive struct {
	Index        int    `json:"index"`
	Model        string `json:"model"`
	SerialNumber string `json:"serial_number"`
	Interface    string `json:"interface"`
	MediaType    string `json:"media_type"`
	SizeBytes    int64  `json:"size_bytes"`
	Partitions   int    `json:"partitions"`
}

// Volume is one Win32_LogicalDisk.
type Volume struct {
	Drive      string `json:"drive"`
	Label      string `json:"label"`
	FileSystem string `json:"file_system"`
	DriveType  int    `json:"drive_type"` // 2 removable, 3 fixed, 4 network, 5 optical
	SizeBytes  int64  `json:"size_bytes"`
	FreeBytes  int64  `json:"free_bytes"`
}

// VideoController is one Win32_VideoController.
type VideoController struct {
	Name          string        `json:"name"`
	DriverVersion string        `json:"driver_version"`
	DriverDate    psjson.PSDate `json:"driver_date"`
	RAMBytes      int64         `json:"ram_bytes"`
	Horizontal    int           `json:"horizontal"`
	Vertical      int           `json:"vertical"`
}

// NetworkAdapter is one physical Win32_NetworkAdapter.
type NetworkAdapter struct {
	Name         string `json:"name"`
	ConnectionID string `json:"connection_id"`
	Manufacturer string `json:"manufacturer"`
	MAC          string `json:"mac"`
	SpeedBPS     int64  `json:"speed_bps"`
	Enabled      bool   `json:"enabled"`
	Status       int    `json:"status"` // NetConnectionStatus: 2 connected, 7 media disconnected
}

// Battery is one Win32_Battery.
type Battery struct {
	Name          string `json:"name"`
	Status        int    `json:"status"` // BatteryStatus: 1 discharging, 2 on AC
	ChargePct     int    `json:"charge_pct"`
	DesignVoltage int    `json:"design_voltage"`
}

// --- software ---

// SoftwareInventory is the software collector's document.
type SoftwareInventory struct {
	OS           OSInfo                         `json:"os"`
	Hotfixes     Part[psjson.List[Hotfix]]      `json:"hotfixes"`
	Applications Part[psjson.List[Application]] `json:"applications"`
	Services     Part[psjson.List[Service]]     `json:"services"`
	Startup      Part[psjson.List[StartupItem]] `json:"startup"`
}

// OSInfo is Win32_OperatingSystem plus CurrentVersion from the registry.
type OSInfo struct {
	Name           string        `json:"name"`
	Version        string        `json:"version"`
	Build          string        `json:"build"`
	UBR            int           `json:"ubr"`
	DisplayVersion string        `json:"display_version"` // "23H2"; absent on Server 2016 and 2019
	EditionID      string        `json:"edition_id"`
	Architecture   string        `json:"architecture"`
	ProductType    int           `json:"product_type"` // 1 workstation, 2 domain controller, 3 server
	InstallDate    psjson.PSDate `json:"install_date"`
	LastBoot       psjson.PSDate `json:"last_boot"`
	Locale         string        `json:"locale"`
	RegisteredTo   string        `json:"registered_to"`
}

// Hotfix is one Win32_QuickFixEngineering.
type Hotfix struct {
	ID          string        `json:"id"`
	Description string        `json:"description"`
	InstalledOn psjson.PSDate `json:"installed_on"`
	InstalledBy string        `json:"installed_by"`
}

// Application is one Uninstall registry entry.
type Application struct {
	Name        Text   `json:"name"`
	Version     Text   `json:"version"`
	Publisher   Text   `json:"publisher"`
	InstallDate Text   `json:"install_date"` // yyyyMMdd as installers write it, when they do
	SizeKB      int64  `json:"size_kb"`
	Arch        string `json:"arch"` // x64 or x86 (the WOW6432Node key)
}

// Service is one Win32_Service.
type Service struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	State       string `json:"state"`      // Running, Stopped...
	StartType   string `json:"start_type"` // Auto, Manual, Disabled
	Account     string `json:"account"`
}

// StartupItem is one Win32_StartupCommand.
type StartupItem struct {
	Name     string `json:"name"`
	Command  string `json:"command"`
	Location string `json:"location"`
	User     string `json:"user"`
}

// --- security ---

// SecurityInventory is the security collector's document.
type SecurityInventory struct {
	Defender            Part[*DefenderStatus]              `json:"defender"`
	Firewall            Part[psjson.List[FirewallProfile]] `json:"firewall"`
	BitLocker           Part[psjson.List[BitLockerVolume]] `json:"bitlocker"`
	TPM                 Part[*TPMInfo]                     `json:"tpm"`
	Administrators      Part[psjson.List[GroupMember]]     `json:"administrators"`
	PendingReboot       PendingReboot                      `json:"pending_reboot"`
	LastUpdateInstalled psjson.PSDate                      `json:"last_update_installed"`
}

// DefenderStatus is Get-MpComputerStatus.
type DefenderStatus struct {
	AntivirusEnabled     bool          `json:"antivirus_enabled"`
	RealTimeProtection   bool          `json:"real_time_protection"`
	SignatureVersion     string        `json:"signature_version"`
	SignatureLastUpdated psjson.PSDate `json:"signature_last_updated"`
	EngineVersion        string        `json:"engine_version"`
	ServiceEnabled       bool          `json:"service_enabled"`
}

// FirewallProfile is one Get-NetFirewallProfile; Enabled is the GpoBoolean
// enum as 5.1 prints it: 1 True, 0 False, 2 NotConfigured.
type FirewallProfile struct {
	Name    string `json:"name"`
	Enabled int    `json:"enabled"`
	Inbound int    `json:"inbound"` // DefaultInboundAction: 0 NotConfigured, 2 Allow, 4 Block
}

// On reports whether the profile is enabled.
func (p FirewallProfile) On() bool { return p.Enabled == 1 }

// BitLockerVolume is one Get-BitLockerVolume; the enums as numbers.
type BitLockerVolume struct {
	MountPoint       string `json:"mount_point"`
	ProtectionStatus int    `json:"protection_status"` // 0 Off, 1 On, 2 Unknown
	VolumeStatus     int    `json:"volume_status"`     // 0 FullyDecrypted, 1 FullyEncrypted, 2 EncryptionInProgress...
	EncryptionPct    int    `json:"encryption_pct"`
	Method           int    `json:"method"` // 0 None, 6 XtsAes128, 7 XtsAes256...
}

// TPMInfo is Get-Tpm.
type TPMInfo struct {
	Present      bool   `json:"present"`
	Ready        bool   `json:"ready"`
	Enabled      bool   `json:"enabled"`
	Manufacturer string `json:"manufacturer"`
	Version      string `json:"version"`
}

// GroupMember is one Get-LocalGroupMember of the local Administrators.
type GroupMember struct {
	Name   string `json:"name"`
	Class  string `json:"class"`  // User or Group
	Source int    `json:"source"` // PrincipalSource: 1 Local, 2 ActiveDirectory, 3 AzureAD, 4 MicrosoftAccount
}

// PendingReboot is what the usual registry keys say.
type PendingReboot struct {
	Pending bool                `json:"pending"`
	Reasons psjson.List[string] `json:"reasons"` // component_servicing, windows_update, file_rename
	Since   psjson.PSDate       `json:"since"`   // an estimate: the newest update installed since the last boot
}

// --- network ---

// NetworkInventory is the network collector's document.
type NetworkInventory struct {
	Adapters  Part[psjson.List[IPAdapter]]     `json:"adapters"`
	Routes    Part[psjson.List[Route]]         `json:"routes"`
	Shares    Part[psjson.List[Share]]         `json:"shares"`
	Listening Part[psjson.List[ListeningPort]] `json:"listening"`
}

// IPAdapter is one IP-enabled Win32_NetworkAdapterConfiguration.
type IPAdapter struct {
	Index       int                 `json:"index"`
	Description string              `json:"description"`
	MAC         string              `json:"mac"`
	DHCP        bool                `json:"dhcp"`
	IPv4        psjson.List[string] `json:"ipv4"`
	IPv6        psjson.List[string] `json:"ipv6"`
	Gateways    psjson.List[string] `json:"gateways"`
	DNSServers  psjson.List[string] `json:"dns_servers"`
	DNSDomain   string              `json:"dns_domain"`
}

// Route is one Get-NetRoute (IPv4).
type Route struct {
	Destination string `json:"destination"`
	NextHop     string `json:"next_hop"`
	Interface   int    `json:"interface"`
	Metric      int    `json:"metric"`
}

// Share is one Get-SmbShare; Type is the ShareType enum: 0 directory, 1
// print queue, 2 device, 3 IPC.
type Share struct {
	Name        string `json:"name"`
	Path        string `json:"path"`
	Description string `json:"description"`
	Type        int    `json:"type"`
}

// ListeningPort is one Get-NetTCPConnection -State Listen.
type ListeningPort struct {
	Address string `json:"address"`
	Port    int    `json:"port"`
	PID     int    `json:"pid"`
	State   int    `json:"state"` // TcpState: 2 Listen
}

// ParseInventory decodes a collector's stdout (or a stored document) of a
// category into its type, and returns it with its normalised JSON.
func ParseInventory(category string, stdout []byte) (any, json.RawMessage, error) {
	doc := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(stdout), []byte("\xef\xbb\xbf")))
	if len(doc) == 0 {
		return nil, nil, fmt.Errorf("inventory %s: empty output", category)
	}
	var v any
	switch category {
	case InventoryHardware:
		v = &HardwareInventory{}
	case InventorySoftware:
		v = &SoftwareInventory{}
	case InventorySecurity:
		v = &SecurityInventory{}
	case InventoryNetwork:
		v = &NetworkInventory{}
	case InventoryPatches:
		scan, err := ParsePatchScan(doc)
		if err != nil {
			return nil, nil, err
		}
		norm, err := json.Marshal(scan)
		if err != nil {
			return nil, nil, fmt.Errorf("inventory %s: %w", category, err)
		}
		return scan, norm, nil
	default:
		return nil, nil, fmt.Errorf("inventory: unknown category %q (valid: hardware, software, security, network, patches)", category)
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return nil, nil, fmt.Errorf("inventory %s: %w", category, err)
	}
	norm, err := json.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("inventory %s: %w", category, err)
	}
	return v, norm, nil
}

// ParseHardware decodes the hardware collector's output.
func ParseHardware(stdout []byte) (*HardwareInventory, error) {
	v, _, err := ParseInventory(InventoryHardware, stdout)
	if err != nil {
		return nil, err
	}
	return v.(*HardwareInventory), nil
}

// ParseSoftware decodes the software collector's output.
func ParseSoftware(stdout []byte) (*SoftwareInventory, error) {
	v, _, err := ParseInventory(InventorySoftware, stdout)
	if err != nil {
		return nil, err
	}
	return v.(*SoftwareInventory), nil
}

// ParseSecurity decodes the security collector's output.
func ParseSecurity(stdout []byte) (*SecurityInventory, error) {
	v, _, err := ParseInventory(InventorySecurity, stdout)
	if err != nil {
		return nil, err
	}
	return v.(*SecurityInventory), nil
}

// ParseNetwork decodes the network collector's output.
func ParseNetwork(stdout []byte) (*NetworkInventory, error) {
	v, _, err := ParseInventory(InventoryNetwork, stdout)
	if err != nil {
		return nil, err
	}
	return v.(*NetworkInventory), nil
}

// Text is a string member that some hosts write as a number (an installer
// that stored InstallDate or DisplayVersion as a DWORD): it accepts a JSON
// string, number or boolean, and null as "".
type Text string

// UnmarshalJSON accepts a string, a number, a boolean or null.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9' || b[0] == 't' || b[0] == 'f'):
		*t = Text(b)
	default:
		return fmt.Errorf("text: want a string, number or boolean, got %.20s", b)
	}
	return nil
}
