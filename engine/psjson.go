package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Windows PowerShell 5.1's ConvertTo-Json has habits a plain decoder trips
// on. The types here accept each of them:
//   - DateTime as "\/Date(1764147600000)\/" (JSON-escaped slashes, unix
//     ms, sometimes with a +hhmm offset), or as an object {"value": ...,
//     "DateTime": "..."} when the value carried PowerShell note properties.
//   - An array with one element unwrapped into the bare element, and an
//     empty array as null.
//   - Enums as their numbers.

// PSDate is a DateTime as Windows PowerShell 5.1 serialises it.
type PSDate struct{ time.Time }

var psDateRE = regexp.MustCompile(`^/Date\((-?\d+)([+-]\d{4})?\)/$`)

// UnmarshalJSON accepts "\/Date(ms)\/", an ISO 8601 string, an object with
// a "value" member (5.1 wrapping), or null.
func (d *PSDate) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		d.Time = time.Time{}
		return nil
	}
	if len(b) > 0 && b[0] == '{' {
		var w struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(b, &w); err != nil {
			return fmt.Errorf("date object: %w", err)
		}
		if len(w.Value) == 0 {
			return fmt.Errorf("date object without a value member")
		}
		return d.UnmarshalJSON(w.Value)
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date: %w", err)
	}
	if m := psDateRE.FindStringSubmatch(s); m != nil {
		ms, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return fmt.Errorf("date %q: %w", s, err)
		}
		// The milliseconds are UTC; the optional offset only says which
		// zone the value was displayed in.
		d.Time = time.UnixMilli(ms).UTC()
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			d.Time = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("date %q: not a PowerShell date", s)
}

// MarshalJSON writes the time as RFC 3339 in UTC, or null when it is zero
// (an absent date), so stored documents read back as they were.
func (d PSDate) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + d.UTC().Format(time.RFC3339Nano) + `"`), nil
}

// List is a JSON array that Windows PowerShell 5.1 may have unwrapped into
// a single element (or written as null when empty).
type List[T any] []T

// UnmarshalJSON accepts an array, a single element, or null.
func (l *List[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*l = nil
		return nil
	case len(b) > 0 && b[0] == '[':
		var items []T
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		*l = items
		return nil
	default:
		var one T
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*l = List[T]{one}
		return nil
	}
}

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
	Hostname      string             `json:"hostname"`
	CPUPct        float64            `json:"cpu_pct"`
	MemPct        float64            `json:"mem_pct"`
	MemTotalMB    float64            `json:"mem_total_mb"`
	LastBoot      PSDate             `json:"last_boot"`
	Disks         List[DiskMetrics]  `json:"disks"`
	DiskQueue     float64            `json:"disk_queue"`     // current disk queue length, all physical disks
	NetErrors     *int64             `json:"net_errors"`     // packets in and out with errors since boot, all interfaces
	PendingReboot *bool              `json:"pending_reboot"` // the servicing or Windows Update reboot key exists
	Services      List[ServiceState] `json:"services"`       // the watched services the engine asked about
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

// ParseMetrics decodes the metrics script's stdout. PowerShell may print
// blank lines or a BOM around the document; they are ignored.
func ParseMetrics(stdout []byte) (HostMetrics, error) {
	doc := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(stdout), []byte("\xef\xbb\xbf")))
	if len(doc) == 0 {
		return HostMetrics{}, fmt.Errorf("metrics: empty output")
	}
	var m HostMetrics
	if err := json.Unmarshal(doc, &m); err != nil {
		return HostMetrics{}, fmt.Errorf("metrics: %w", err)
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
