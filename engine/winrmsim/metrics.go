package winrmsim

import (
	"math"
	"strconv"
	"time"
)

// Metrics is a host's simulated performance state at one instant: what the
// metrics script would read from CIM on that host at that time.
type Metrics struct {
	Hostname   string
	CPUPct     float64 // Win32_Processor.LoadPercentage, averaged
	MemPct     float64 // used share of visible memory
	MemTotalMB int64
	LastBoot   time.Time
	Disks      []Disk
}

// Disk is one fixed volume (Win32_LogicalDisk, DriveType=3).
type Disk struct {
	Drive     string // "C:"
	SizeBytes int64
	FreeBytes int64
}

// Metrics returns the named host's state at time at. The curves are a pure
// function of the seed, the host and at's offset from the fleet's creation,
// so two fleets built from the same seed agree at the same offsets.
func (f *Fleet) Metrics(hostname string, at time.Time) (Metrics, bool) {
	h, ok := f.byName[hostname]
	if !ok {
		return Metrics{}, false
	}
	h.mu.Lock()
	boot := h.lastBoot
	h.mu.Unlock()
	return h.metricsAt(at.Sub(f.epoch), boot), true
}

// metricsAt evaluates the host's curves at offset t from the fleet epoch.
func (h *host) metricsAt(t time.Duration, lastBoot time.Time) Metrics {
	p := &h.prof
	s := t.Seconds()
	// Three octaves of smooth noise: a slow trend, minute-scale load and a
	// little jitter between polls.
	cpuNoise := 0.55*valueNoise(h.seed^1, s/600) + 0.3*valueNoise(h.seed^2, s/90) + 0.15*valueNoise(h.seed^3, s/12)
	memNoise := 0.7*valueNoise(h.seed^4, s/900) + 0.3*valueNoise(h.seed^5, s/120)
	m := Metrics{
		Hostname:   h.name,
		CPUPct:     clamp(p.cpuBase+p.cpuAmp*cpuNoise, 0.3, 100),
		MemPct:     clamp(p.memBase+p.memAmp*memNoise, 5, 99.5),
		MemTotalMB: p.memMB,
		LastBoot:   lastBoot,
		Disks:      make([]Disk, len(p.volumes)),
	}
	for i, v := range p.volumes {
		free := v.free + 0.015*valueNoise(h.seed^uint64(16+i), s/1800) - v.fill*t.Hours()
		free = clamp(free, 0.004, 0.99)
		m.Disks[i] = Disk{Drive: v.drive, SizeBytes: v.size, FreeBytes: int64(free * float64(v.size))}
	}
	return m
}

// valueNoise is smooth 1-D noise in [-1, 1]: seeded random values at integer
// points, eased between them.
func valueNoise(key uint64, x float64) float64 {
	i := math.Floor(x)
	frac := x - i
	a := unitHash(key, int64(i))
	b := unitHash(key, int64(i)+1)
	frac = frac * frac * (3 - 2*frac)
	return (a + (b-a)*frac) * 2
}

// unitHash maps (key, i) to [-0.5, 0.5).
func unitHash(key uint64, i int64) float64 {
	return float64(splitmix(key^splitmix(uint64(i)))>>11)/(1<<53) - 0.5
}

func clamp(v, lo, hi float64) float64 {
	return math.Max(lo, math.Min(hi, v))
}

// psRound1 is [math]::Round(x, 1): .NET rounds half to even.
func psRound1(x float64) float64 {
	return math.RoundToEven(x*10) / 10
}

// psNumber formats a double the way Windows PowerShell 5.1's ConvertTo-Json
// does: shortest round-trip form, no trailing ".0" on whole numbers.
func psNumber(b []byte, x float64) []byte {
	return strconv.AppendFloat(b, x, 'f', -1, 64)
}

// metricsJSON renders what metrics.ps1 v1 prints on Windows PowerShell 5.1:
// one line of ConvertTo-Json -Compress output, dates as "\/Date(ms)\/", and,
// on hosts marked for it, a one-disk array unrolled into a bare object.
func (h *host) metricsJSON(m Metrics) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"hostname":"`...)
	b = append(b, m.Hostname...)
	b = append(b, `","cpu_pct":`...)
	b = psNumber(b, psRound1(m.CPUPct))
	b = append(b, `,"mem_pct":`...)
	b = psNumber(b, psRound1(m.MemPct))
	b = append(b, `,"mem_total_mb":`...)
	b = strconv.AppendInt(b, m.MemTotalMB, 10)
	b = append(b, `,"last_boot":"\/Date(`...)
	b = strconv.AppendInt(b, m.LastBoot.UnixMilli(), 10)
	b = append(b, `)\/","disks":`...)
	unwrap := h.prof.unwrapDisks && len(m.Disks) == 1
	if !unwrap {
		b = append(b, '[')
	}
	for i, d := range m.Disks {
		if i > 0 {
			b = append(b, ',')
		}
		freePct := 0.0
		if d.SizeBytes > 0 {
			freePct = psRound1(float64(d.FreeBytes) / float64(d.SizeBytes) * 100)
		}
		b = append(b, `{"drive":"`...)
		b = append(b, d.Drive...)
		b = append(b, `","size_gb":`...)
		b = psNumber(b, psRound1(float64(d.SizeBytes)/gib))
		b = append(b, `,"free_gb":`...)
		b = psNumber(b, psRound1(float64(d.FreeBytes)/gib))
		b = append(b, `,"free_pct":`...)
		b = psNumber(b, freePct)
		b = append(b, '}')
	}
	if !unwrap {
		b = append(b, ']')
	}
	b = append(b, '}')
	return b
}
