package scripts

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/rmmhq/rmm/engine/psjson"
)

// DiskMetrics is one fixed volume in the metrics script's output.
type DiskMetrics struct {
	Drive   string  `json:"drive"`
	SizeGB  float64 `json:"size_gb"`
	FreeGB  float64 `json:"free_gb"`
	FreePct float64 `json:"free_pct"`
}

// ServiceState is one watched service in the metrics script's output:
// its state as Win32_Service says (Running, Stopped...), or Missing.
type ServiceState struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// HostMetrics is the metrics script's JSON document. The fields after
// Disks came with metrics v2; a v1 host leaves them zero (nil).
type HostMetrics struct {
	Hostname      string                    `json:"hostname"`
	CPUPct        float64                   `json:"cpu_pct"`
	MemPct        float64                   `json:"mem_pct"`
	MemTotalMB    float64                   `json:"mem_total_mb"`
	LastBoot      psjson.PSDate             `json:"last_boot"`
	Disks         psjson.List[DiskMetrics]  `json:"disks"`
	DiskQueue     float64                   `json:"disk_queue"`     // current disk queue length, all physical disks
	NetErrors     *int64                    `json:"net_errors"`     // packets in and out with errors since boot, all interfaces
	PendingReboot *bool                     `json:"pending_reboot"` // the servicing or Windows Update reboot key exists
	Services      psjson.List[ServiceState] `json:"services"`       // the watched services the engine asked about
}

// MinDiskFreePct is the lowest free % over the fixed volumes, or 100 when
// the host reported none.
func (m HostMetrics) MinDiskFreePct() float64 {
	if len(m.Disks) == 0 {
		return 100
	}
	low := m.Disks[0].FreePct
	for _, d := range m.Disks[1:] {
		low = min(low, d.FreePct)
	}
	return low
}

// maxMetricsBytes bounds the metrics document: a few hundred bytes, a few
// kilobytes pretty-printed with many watched services.
const maxMetricsBytes = 1 << 20

// ParseMetrics decodes the metrics script's stdout. PowerShell may print
// blank lines or a BOM around the document; they are ignored.
func ParseMetrics(stdout []byte) (HostMetrics, error) {
	doc := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(stdout), []byte("\xef\xbb\xbf")))
	if len(doc) == 0 {
		return HostMetrics{}, fmt.Errorf("metrics: empty output")
	}
	if len(doc) > maxMetricsBytes {
		return HostMetrics{}, fmt.Errorf("metrics: %d bytes of output, more than the %d a metrics document may have", len(doc), maxMetricsBytes)
	}
	m, ok := scanMetrics(doc)
	if !ok {
		var slow HostMetrics // its own variable: only this path allocates it
		if err := json.Unmarshal(doc, &slow); err != nil {
			return HostMetrics{}, fmt.Errorf("metrics: %w", err)
		}
		m = slow
	}
	for _, v := range []struct {
		name string
		val  float64
	}{{"cpu_pct", m.CPUPct}, {"mem_pct", m.MemPct}} {
		if v.val < 0 || v.val > 100 {
			return HostMetrics{}, fmt.Errorf("metrics: %s %v out of range 0..100", v.name, v.val)
		}
	}
	return m, nil
}

// scanMetrics reads the metrics document with jsonScan; false means
// encoding/json must read it.
func scanMetrics(doc []byte) (m HostMetrics, ok bool) {
	s := psjson.NewScanner(doc)
	ok = s.Object(func(key []byte) bool {
		switch string(key) {
		case "hostname":
			return s.String(&m.Hostname)
		case "cpu_pct":
			return s.Float(&m.CPUPct)
		case "mem_pct":
			return s.Float(&m.MemPct)
		case "mem_total_mb":
			return s.Float(&m.MemTotalMB)
		case "last_boot":
			return s.Date(&m.LastBoot)
		case "disks":
			return psjson.ScanList(s, &m.Disks, func() (DiskMetrics, bool) { return scanDisk(s) })
		case "disk_queue":
			return s.Float(&m.DiskQueue)
		case "net_errors":
			return s.Int64Ptr(&m.NetErrors)
		case "pending_reboot":
			return s.BoolPtr(&m.PendingReboot)
		case "services":
			return psjson.ScanList(s, &m.Services, func() (ServiceState, bool) { return scanService(s) })
		}
		return s.Other(key, "hostname", "cpu_pct", "mem_pct", "mem_total_mb", "last_boot", "disks",
			"disk_queue", "net_errors", "pending_reboot", "services")
	})
	return m, ok && s.End()
}

func scanDisk(s *psjson.Scanner) (d DiskMetrics, ok bool) {
	if s.Null() {
		return d, true
	}
	ok = s.Object(func(key []byte) bool {
		switch string(key) {
		case "drive":
			return s.String(&d.Drive)
		case "size_gb":
			return s.Float(&d.SizeGB)
		case "free_gb":
			return s.Float(&d.FreeGB)
		case "free_pct":
			return s.Float(&d.FreePct)
		}
		return s.Other(key, "drive", "size_gb", "free_gb", "free_pct")
	})
	return d, ok
}

func scanService(s *psjson.Scanner) (v ServiceState, ok bool) {
	if s.Null() {
		return v, true
	}
	ok = s.Object(func(key []byte) bool {
		switch string(key) {
		case "name":
			return s.String(&v.Name)
		case "state":
			return s.String(&v.State)
		}
		return s.Other(key, "name", "state")
	})
	return v, ok
}
