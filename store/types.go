package store

import "time"

// Device status values stored in Devices.status.
const (
	StatusOnline  = "Online"
	StatusOffline = "Offline"
	StatusUnknown = "Unknown"
)

// DeviceInput is one device as an importer describes it. Empty optional
// fields leave the stored value unchanged on update; Hostname is the key
// (matched case-insensitively).
type DeviceInput struct {
	Hostname     string
	FQDN         string
	IP           string
	MAC          string
	Site         string   // site name; empty means "main"
	Groups       []string // group names; created when missing
	OSName       string
	OSVersion    string
	Tags         []string
	Description  string
	Port         int    // 0 means the transport's default (5985 http, 5986 https)
	Transport    string // "http" or "https"; empty means https
	CredentialID string
	Custom       map[string]string // unknown CSV columns, kept as custom fields

	// WinRM transport security (engine/transport.go). Empty or nil leaves
	// the stored value; a new device gets basic, no CA bundle, verify on,
	// encryption required.
	Auth               string // "basic", "negotiate", "ntlm" or "kerberos"
	CABundle           string // PEM file of the CAs trusted for the device's certificate
	InsecureSkipVerify *bool  // skip TLS verification (logged and audited when used)
	AllowUnencrypted   *bool  // allow Basic or Kerberos over plain HTTP

	// Line is where the row came from in its source (the CSV's physical
	// line, 1-based), for messages about it; 0 when unknown. Not stored.
	Line int

	// LoopOff never starts rmm's resident PowerShell loop on the device
	// (nil leaves the stored value; a new device runs the loop).
	LoopOff *bool
}

// Device is a stored device with its last known status and metrics.
type Device struct {
	ID           int64
	Hostname     string
	FQDN         string
	IP           string
	MAC          string
	Site         string
	Groups       []string
	OSName       string
	OSVersion    string
	Tags         []string
	Description  string
	Port         int
	Transport    string
	CredentialID string
	Custom       map[string]string

	Auth               string // AuthBasic, AuthNegotiate, AuthNTLM or AuthKerberos
	CABundle           string // PEM file of trusted CAs; "" for the global one or the system's
	InsecureSkipVerify bool   // TLS verification is skipped for this device
	AllowUnencrypted   bool   // Basic or Kerberos may go over plain HTTP
	LoopOff            bool   // no resident PowerShell loop: one powershell.exe per request

	Status    string    // StatusOnline, StatusOffline or StatusUnknown
	LastSeen  time.Time // zero when never reached
	LastError string    // last poll error, empty when the last poll worked

	// Last metrics; HasMetrics is false until a poll succeeded once.
	HasMetrics  bool
	CPUPct      float64
	MemPct      float64
	DiskFreePct float64 // the lowest free % over the fixed volumes
	MetricsAt   time.Time
}

// Metric is one sample of one metric on one device.
type Metric struct {
	DeviceID int64
	Type     string // e.g. "cpu_pct", "mem_pct", "disk_free_pct", "disk_free_gb"
	Instance string // e.g. "C:" for a volume; empty for device-wide metrics
	Value    float64
	At       time.Time
}

// StatusUpdate records the outcome of one poll of a device.
type StatusUpdate struct {
	DeviceID  int64
	Status    string
	At        time.Time // when the poll finished
	LastError string
	// Set when the poll returned metrics: the device's latest values.
	HasMetrics  bool
	CPUPct      float64
	MemPct      float64
	DiskFreePct float64
}

// ImportResult counts what an import did.
type ImportResult struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
	Skipped int `json:"skipped"`
}
