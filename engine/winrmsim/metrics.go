package winrmsim

import (
	"math"
	"strconv"
	"strings"
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
	// Since metrics v2:
	DiskQueue     float64 // Win32_PerfFormattedData_PerfDisk_PhysicalDisk(_Total).CurrentDiskQueueLength
	NetErrors     int64   // packets in and out with errors since boot, all interfaces
	PendingReboot bool    // a servicing or Windows Update reboot is pending
}

// Drift: about one host in twenty (by seed) has episodes, a quarter of an
// hour to half an hour every one to two hours, in which its CPU, its
// memory or its fullest volume goes past the default critical thresholds
// and then comes back, so a demo fleet raises and clears alerts all day.
const (
	driftShare  = 20 // one host in driftShare drifts
	driftCPU    = 0
	driftMemory = 1
	driftDisk   = 2
)

// drift returns the host's drift kind and how deep into an episode it is
// at s seconds (0 outside one, rising to 1 and back inside).
func (h *host) drift(s float64) (kind int, depth float64) {
	k := splitmix(h.seed ^ 0xd21f7)
	if k%driftShare != 0 {
		return -1, 0
	}
	kind = int(k>>8) % 3
	period := 3600 + float64(k>>16%3600) // 1..2 h
	length := 900 + float64(k>>32%900)   // 15..30 min
	phase := math.Mod(s+float64(k>>40%7200), period)
	if phase >= length {
		return kind, 0
	}
	// A trapezoid: two minutes up, the plateau, two minutes down.
	ramp := 120.0
	depth = math.Min(1, math.Min(phase/ramp, (length-phase)/ramp))
	return kind, depth
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
	kind, depth := h.drift(s)
	switch {
	case depth == 0:
	case kind == driftCPU:
		m.CPUPct = clamp(m.CPUPct+depth*(97-m.CPUPct), 0.3, 100)
	case kind == driftMemory:
		m.MemPct = clamp(m.MemPct+depth*(97.5-m.MemPct), 5, 99.5)
	}
	for i, v := range p.volumes {
		free := v.free + 0.015*valueNoise(h.seed^uint64(16+i), s/1800) - v.fill*t.Hours()
		if i == 0 && kind == driftDisk && depth > 0 {
			// A log or a dump fills the system volume, then is cleaned up.
			free -= depth * math.Max(free-0.06, 0)
		}
		free = clamp(free, 0.004, 0.99)
		m.Disks[i] = Disk{Drive: v.drive, SizeBytes: v.size, FreeBytes: int64(free * float64(v.size))}
	}
	// The disk queue follows the load; busy hosts queue more.
	m.DiskQueue = math.Max(0, m.CPUPct/100*(0.4+boolFloat(p.busy)*2)+0.3*valueNoise(h.seed^6, s/60))
	m.NetErrors = h.netErrors(t)
	m.PendingReboot = !h.pendingRebootSince().IsZero()
	return m
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// netErrors is the host's interface error counter: most hosts have none,
// some a trickle, a few a bad cable or duplex mismatch (errors every
// second). It counts from the last boot, so it only grows between boots.
func (h *host) netErrors(t time.Duration) int64 {
	k := splitmix(h.seed ^ 0x4e7e)
	var rate float64 // errors per second
	switch r := k % 100; {
	case r < 3:
		rate = 1 + float64(k>>8%2000)/100
	case r < 15:
		rate = float64(k>>8%20) / 100
	default:
		return 0
	}
	// Counted from the first boot (the profile's uptime before the epoch):
	// it only grows, which is all the engine's errors/s needs. (A real
	// counter restarts at boot; the engine skips a drop.)
	up := t.Seconds() + h.prof.uptime.Seconds()
	return int64(rate * up)
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

// metricsVersion is the newest metrics script version the simulator
// answers (v1 without the v2 members; v3 prints what v2 prints, and
// rounds with [decimal] rather than [math], which Constrained Language
// mode refuses).
const metricsVersion = 3

// watchedHead starts the watched-services line the engine fills in.
const watchedHead = "$watched = @("

// watchedList parses the script's watched services: $watched = @('A','B'),
// each a single-quoted literal read as PowerShell reads it (quotes.go:
// the typographic quotes count). A list that does not parse, or code
// after it on its line, is an error: PowerShell would report the first
// and run the second, which the simulator does not.
func watchedList(script string) ([]string, error) {
	i := strings.Index(script, "\n"+watchedHead)
	if i < 0 {
		return nil, nil
	}
	lineStart := i + 1
	j := lineStart + len(watchedHead)
	lineEnd := strings.IndexByte(script[lineStart:], '\n')
	if lineEnd < 0 {
		lineEnd = len(script)
	} else {
		lineEnd += lineStart
	}
	line := strings.TrimRight(script[lineStart:lineEnd], "\r")
	fail := func(at int, msg, id string) ([]string, error) {
		return nil, &parseError{line: strings.Count(script[:lineStart], "\n") + 1, col: at - lineStart + 1, src: line, msg: msg, id: id}
	}
	var out []string
	skip := func() {
		for j < lineEnd && (script[j] == ' ' || script[j] == '\t') {
			j++
		}
	}
	skip()
	if j < lineEnd && script[j] == ')' {
		j++
	} else {
		for {
			skip()
			v, end, ok := scanSingleQuoted(script[:lineEnd], j)
			if !ok {
				if singleQuoteLen(script, j) > 0 {
					return fail(j, "The string is missing the terminator: '.", "TerminatorExpectedAtEndOfString")
				}
				return fail(j, "Missing expression after ','.", "MissingExpressionAfterToken")
			}
			out = append(out, v)
			j = end
			skip()
			if j < lineEnd && script[j] == ',' {
				j++
				continue
			}
			if j < lineEnd && script[j] == ')' {
				j++
				break
			}
			return fail(j, "Missing closing ')' in subexpression.", "MissingEndParenthesisInSubexpression")
		}
	}
	skip()
	if rest := strings.TrimRight(script[j:lineEnd], "\r"); rest != "" {
		return fail(j, "the simulator runs no code after the watched services list: "+rest, "UnexpectedToken")
	}
	return out, nil
}

// parseError is a PowerShell ParseException as the host prints it.
type parseError struct {
	line, col int
	src       string
	msg, id   string
}

func (e *parseError) Error() string { return e.msg }

// record is the error record powershell.exe prints for it.
func (e *parseError) record() []string {
	return []string{
		"At line:" + strconv.Itoa(e.line) + " char:" + strconv.Itoa(e.col),
		"+ " + e.src,
		"+ " + strings.Repeat(" ", max(0, e.col-1)) + "~",
		e.msg,
		"    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException",
		"    + FullyQualifiedErrorId : " + e.id,
		" ",
	}
}

// metricsJSON renders what metrics.ps1 v2 (or v1) prints on Windows PowerShell 5.1:
// one line of ConvertTo-Json -Compress output, dates as "\/Date(ms)\/", and,
// on hosts marked for it, a one-disk array unrolled into a bare object. The
// watched services are looked up in the host's service list (Missing when
// it has no such service); one watched service is still an array, as
// @(...) in a property keeps it.
func (h *host) metricsJSON(m Metrics, version int, watched []string) []byte {
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
	if version < 2 {
		return append(b, '}')
	}
	b = append(b, `,"disk_queue":`...)
	b = psNumber(b, math.Round(m.DiskQueue))
	b = append(b, `,"net_errors":`...)
	b = strconv.AppendInt(b, m.NetErrors, 10)
	b = append(b, `,"pending_reboot":`...)
	b = strconv.AppendBool(b, m.PendingReboot)
	b = append(b, `,"services":[`...)
	if len(watched) > 0 {
		svcs := h.services()
		for i, w := range watched {
			state := "Missing"
			for _, s := range svcs {
				if strings.EqualFold(s.Name, w) {
					state = s.State
					break
				}
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = strconv.AppendQuote(b, w)
			b = append(b, `,"state":"`...)
			b = append(b, state...)
			b = append(b, `"}`...)
		}
	}
	b = append(b, ']', '}')
	return b
}
