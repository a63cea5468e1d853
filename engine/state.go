package engine

import (
	"time"

	"github.com/rmmhq/rmm/engine/filter"
)

// Status is a device's reachability as the engine last saw it.
type Status string

// Device statuses.
const (
	StatusOnline  Status = "Online"
	StatusOffline Status = "Offline"
	StatusUnknown Status = "Unknown"
)

// DeviceState is what the console shows for one device: identity, status
// and the latest metrics. It is a value; the engine hands out copies.
type DeviceState struct {
	ID          int64
	Hostname    string
	Site        string
	OSName      string   // e.g. "Microsoft Windows Server 2019 Datacenter"
	OSVersion   string   // e.g. "10.0.17763"
	Tags        []string // shared, read-only: never modify
	Groups      []string // shared, read-only: never modify
	Status      Status
	HasMetrics  bool    // false until a poll succeeded once
	CPUPct      float64 // 0..100
	MemPct      float64 // 0..100
	DiskFreePct float64 // lowest free % over fixed volumes
	LastSeen    time.Time
	LastError   string
	Mode        string // how it is polled: "warm" (resident PowerShell), "cold" (one powershell.exe per poll), "" before a poll

	// LastBoot is when the host last started, as its last good poll
	// said (zero until then): a reboot shows as a new boot time.
	LastBoot time.Time
	// Reboot is whether the latest poll saw a reboot pending (metrics
	// script v2); Unknown until one said.
	Reboot filter.Tri
	// Facts are the device's indexed inventory facts (software,
	// services, hotfixes, BitLocker...), nil until an inventory was
	// stored or the index loaded (Engine.LoadFacts). Shared and
	// immutable: never modify.
	Facts *filter.Facts
}

// Summary is the fleet at a glance, for headers and status lines.
type Summary struct {
	Devices  int
	Online   int
	Offline  int
	Unknown  int
	Sweeping bool          // a sweep is in progress
	Done     int           // devices finished in the current (or last) sweep
	LastEnd  time.Time     // when the last complete sweep ended; zero if none yet
	LastTook time.Duration // how long the last complete sweep took
	// PollingOff is why polling is off (no credential: the vault is
	// locked, nothing stored), with the fix; "" while polling is on.
	PollingOff string
}
