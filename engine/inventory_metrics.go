package engine

// Extended metrics and availability: what each poll adds beyond CPU,
// memory and disk space. The metrics script (v2) also reports the disk
// queue length, the network error counters, a pending reboot and the state
// of the device's watched services (thresholds.watched_services, with
// group and device overrides); the engine adds the TCP connect time to the
// WinRM port. Stored metric types:
//
//	disk_queue        current disk queue length (when not 0, and the first 0 after)
//	net_errors_per_s  interface errors per second between two polls (likewise)
//	service_running   1 or 0 per watched service, instance: the service name (every poll)
//	uptime_s          seconds since the last boot (every 30 min, and after a reboot)
//	pending_reboot    1 when a reboot is pending, else 0 (every 30 min, and when it changes)
//	latency_ms        TCP connect time to the WinRM port (every 30 min, and after a failure)
//	identify_ok       after a failed poll of a device that was online: 1 when
//	                  WinRM still answered Identify, 0 when not
//
// The slow-moving ones are sampled every slowSample rather than every poll,
// and the spiky ones, 0 on most hosts most of the time, are written only
// when they are not 0 (and once when they drop back to 0), to keep a
// poll's cost (a TCP connect, more rows) down at 10,000 devices; a change
// is written at once.
//
// Offline: a device that was Online stays Online (with its error shown)
// until alerts.offline_after polls in a row failed (default 2), so one lost
// poll does not flap the fleet view; a device never seen online goes
// Offline at once.

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Metric types the poll writes besides cpu_pct, mem_pct, disk_free_*.
const (
	MetricDiskQueue      = "disk_queue"
	MetricNetErrorsPerS  = "net_errors_per_s"
	MetricUptime         = "uptime_s"
	MetricPendingReboot  = "pending_reboot"
	MetricServiceRunning = "service_running"
	MetricLatency        = "latency_ms"
	MetricIdentifyOK     = "identify_ok"
)

// slowSample is how often the slow-moving metrics are sampled per device.
const slowSample = 30 * time.Minute

// pollMemo is what one device's polls leave for the next.
type pollMemo struct {
	netAt     time.Time // the network error counter at netAt
	netErrors int64
	slowAt    time.Time // the slow-moving metrics were last written
	pending   bool
	boot      time.Time
	queue     float64 // the last disk_queue and net_errors_per_s seen
	netRate   float64
}

// memo returns the device's pollMemo and whether the slow-moving metrics
// are due (then it marks them written at at). Called once per poll.
func (s *inventoryState) memo(id int64, at time.Time, update func(p *pollMemo) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.polls == nil {
		s.polls = map[int64]*pollMemo{}
	}
	p, ok := s.polls[id]
	if !ok {
		p = &pollMemo{}
		s.polls[id] = p
	}
	return update(p)
}

// watchedMarker is the line of metrics.ps1 the engine fills in.
const watchedMarker = "$watched = @()"

// watchedServices returns the services watched on d.
func (e *Engine) watchedServices(d store.Device) []string {
	if e.alerts == nil {
		return nil
	}
	return e.alerts.options().Thresholds.For(d.Hostname, d.Groups).WatchedServices
}

// metricsScript is the metrics script for d: the embedded one, or, when d
// has watched services, a copy asking for them (built once per list).
func (e *Engine) metricsScript(_ Options, d store.Device) *winrm.Script {
	watched := e.watchedServices(d)
	if len(watched) == 0 {
		return e.metrics
	}
	key := "metrics\x00" + strings.Join(watched, "\x00")
	s := &e.inv
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.scripts[key]; ok {
		return sc
	}
	base, err := scripts.Get("metrics")
	if err != nil || !strings.Contains(base.Body, watchedMarker) {
		return e.metrics // cannot happen with the embedded script (scripts_test)
	}
	quoted := make([]string, len(watched))
	for i, w := range watched {
		quoted[i] = scripts.Quote(w) // config text into PowerShell source: the one quoting function
	}
	base.Body = strings.Replace(base.Body, watchedMarker, "$watched = @("+strings.Join(quoted, ",")+")", 1)
	sc := winrm.NewScript(base.Name, base.Body)
	if s.scripts == nil {
		s.scripts = map[string]*winrm.Script{}
	}
	s.scripts[key] = sc
	return sc
}

// latencyDue reports whether d's TCP connect time is due (every
// slowSample; the first poll of a device measures it).
func (e *Engine) latencyDue(id int64, at time.Time) bool {
	return e.inv.memo(id, at, func(p *pollMemo) bool { return p.slowAt.IsZero() || at.Sub(p.slowAt) >= slowSample })
}

// observeMetrics returns the extended metric rows of a poll that worked
// (record writes them with the poll's other rows, in one writer entry)
// and hands a pending reboot and the watched services to the alert rules
// when they changed or are in breach. latency is 0 when not measured.
func (e *Engine) observeMetrics(ctx context.Context, d store.Device, m *scripts.HostMetrics, latency time.Duration, at time.Time) []store.Metric {
	ctx = context.WithoutCancel(ctx) // a finished poll's findings are kept even on quit
	v2 := m.PendingReboot != nil
	pending := v2 && *m.PendingReboot
	var (
		netRate            float64
		writeNet, writeQue bool
	)
	slow := e.inv.memo(d.ID, at, func(p *pollMemo) bool {
		if m.NetErrors != nil {
			if dt := at.Sub(p.netAt).Seconds(); !p.netAt.IsZero() && dt > 0 && *m.NetErrors >= p.netErrors {
				netRate = math.Round(float64(*m.NetErrors-p.netErrors)/dt*100) / 100
				writeNet = netRate != 0 || p.netRate != 0
				p.netRate = netRate
			}
			p.netAt, p.netErrors = at, *m.NetErrors
		}
		if v2 {
			writeQue = m.DiskQueue != 0 || p.queue != 0
			p.queue = m.DiskQueue
		}
		due := p.slowAt.IsZero() || at.Sub(p.slowAt) >= slowSample || latency > 0 ||
			(v2 && pending != p.pending) || !m.LastBoot.Equal(p.boot)
		if due {
			p.slowAt, p.pending, p.boot = at, pending, m.LastBoot.Time
		}
		return due
	})
	var rows []store.Metric
	add := func(typ, inst string, v float64) {
		rows = append(rows, store.Metric{DeviceID: d.ID, Type: typ, Instance: inst, Value: v, At: at})
	}
	if latency > 0 {
		add(MetricLatency, "", float64(latency.Microseconds())/1000)
	}
	if slow && !m.LastBoot.IsZero() && at.After(m.LastBoot.Time) {
		add(MetricUptime, "", at.Sub(m.LastBoot.Time).Truncate(time.Second).Seconds())
	}
	if writeQue {
		add(MetricDiskQueue, "", m.DiskQueue)
	}
	if writeNet {
		add(MetricNetErrorsPerS, "", netRate)
	}
	if v2 && slow {
		add(MetricPendingReboot, "", boolValue(pending))
	}
	var services map[string]string
	stopped := false
	if len(m.Services) > 0 {
		services = make(map[string]string, len(m.Services))
		for _, s := range m.Services {
			services[s.Name] = s.State
			add(MetricServiceRunning, s.Name, boolValue(s.State == "Running"))
			stopped = stopped || s.State != "Running"
		}
	}
	if !v2 || e.alerts == nil {
		return rows // a v1 answer says nothing of reboots and services
	}
	// Facts are kept for a device once something was pending or stopped,
	// or inventory was collected: a device that never had either holds
	// none (10,000 devices, most of them fine, need no facts in memory).
	cur, known := e.alerts.currentFacts(d.ID)
	changed := known && (cur.PendingReboot == nil || *cur.PendingReboot != pending)
	for name, state := range services {
		changed = changed || known && cur.Services[name] != state
	}
	if !changed && !pending && !stopped {
		return rows // the common case: nothing new, nothing in breach
	}
	u := factUpdate{pendingReboot: &pending, services: services}
	if err := e.mergeFacts(ctx, d, u, at); err != nil {
		e.log.Warn("poll facts not applied", "device", d.Hostname, "err", err)
	}
	return rows
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// failuresOf is how many polls of a device failed in a row before now.
func (b *alertBook) failuresOf(id int64) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if w, ok := b.watches[id]; ok {
		return w.failures
	}
	return 0
}

// offlineGrace says whether d was Online before this poll, and whether a
// failed poll leaves it Online: fewer than alerts.offline_after polls in a
// row (this one included) have failed.
func (e *Engine) offlineGrace(d store.Device) (wasOnline, grace bool) {
	e.mu.RLock()
	en, ok := e.devices[d.ID]
	wasOnline = ok && en.state.Status == StatusOnline
	e.mu.RUnlock()
	if !wasOnline || e.alerts == nil {
		return wasOnline, false
	}
	return true, e.alerts.failuresOf(d.ID)+1 < e.alerts.options().OfflineAfter
}

// probeAfterFailure checks a device that was online and whose poll just
// failed: is the port open, does WinRM answer Identify? The answer is
// logged and returned as rows (identify_ok, latency) that record stores
// with the poll's, so the detail view can tell a host that is down from a
// WinRM service that is up but failing.
func (e *Engine) probeAfterFailure(ctx context.Context, o Options, d store.Device, pollErr error) []store.Metric {
	ctx = context.WithoutCancel(ctx)
	at := time.Now().UTC()
	t := e.target(d)
	lat, tcpErr := e.winrm.DialTime(ctx, t, o.Timeout)
	identErr := tcpErr
	if tcpErr == nil {
		ictx, cancel := context.WithTimeout(ctx, min(o.Timeout, 10*time.Second))
		_, identErr = e.winrm.Identify(ictx, t, nil)
		cancel()
		var he *winrm.HTTPError
		if errors.As(identErr, &he) && he.Status == 401 {
			identErr = nil // it answered: it wants credentials for Identify
		}
	}
	rows := []store.Metric{{DeviceID: d.ID, Type: MetricIdentifyOK, Value: boolValue(identErr == nil), At: at}}
	if tcpErr == nil {
		rows = append(rows, store.Metric{DeviceID: d.ID, Type: MetricLatency, Value: float64(lat.Microseconds()) / 1000, At: at})
	}
	tcp := "open"
	if tcpErr != nil {
		tcp = tcpErr.Error()
	}
	ident := "answered"
	if identErr != nil {
		ident = identErr.Error()
	}
	e.log.Info("availability probe after a failed poll", "device", d.Hostname, "tcp", tcp,
		"tcp_ms", strconv.FormatFloat(float64(lat.Microseconds())/1000, 'f', 1, 64), "identify", ident, "poll_err", pollErr)
	return rows
}

// Availability is a device's reachability over time: the share of its
// polls that worked (the poll_ok samples) and its last TCP connect time.
// A nil field is not known (no polls in the window, never connected).
type Availability struct {
	Uptime24h *float64 `json:"uptime_24h_pct"`
	Uptime7d  *float64 `json:"uptime_7d_pct"`
	LatencyMS *float64 `json:"latency_ms"`
}

// availability computes every device's Availability at at.
func (e *Engine) availability(ctx context.Context, at time.Time) (map[int64]Availability, error) {
	day, err := e.db.PollCountsSince(ctx, at.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	week, err := e.db.PollCountsSince(ctx, at.Add(-7*24*time.Hour))
	if err != nil {
		return nil, err
	}
	lat, err := e.db.LatestMetrics(ctx, MetricLatency)
	if err != nil {
		return nil, err
	}
	out := map[int64]Availability{}
	for _, d := range e.Devices() {
		a := Availability{Uptime24h: uptimePct(day[d.ID]), Uptime7d: uptimePct(week[d.ID])}
		if l := lat[d.ID]; len(l) > 0 {
			v := l[0].Value
			a.LatencyMS = &v
		}
		out[d.ID] = a
	}
	return out, nil
}

// fillAvailability sets each score's Availability.
func (e *Engine) fillAvailability(ctx context.Context, hs []DeviceHealth, at time.Time) error {
	av, err := e.availability(ctx, at)
	if err != nil {
		return err
	}
	for i := range hs {
		hs[i].Availability = av[hs[i].DeviceID]
	}
	return nil
}

// DeviceAvailability returns one device's Availability now.
func (e *Engine) DeviceAvailability(ctx context.Context, id int64) (Availability, error) {
	at := time.Now().UTC()
	var a Availability
	for _, w := range []struct {
		dst   **float64
		since time.Duration
	}{{&a.Uptime24h, 24 * time.Hour}, {&a.Uptime7d, 7 * 24 * time.Hour}} {
		c, err := e.db.DevicePollCountSince(ctx, id, at.Add(-w.since))
		if err != nil {
			return a, err
		}
		*w.dst = uptimePct(c)
	}
	lat, err := e.db.MetricsSince(ctx, id, MetricLatency, at.Add(-7*24*time.Hour))
	if err != nil {
		return a, err
	}
	if len(lat) > 0 {
		v := lat[len(lat)-1].Value
		a.LatencyMS = &v
	}
	return a, nil
}

// uptimePct is the share of polls that worked, in percent to one
// decimal; nil without polls.
func uptimePct(c store.PollCount) *float64 {
	if c.Total == 0 {
		return nil
	}
	v := math.Round(1000*float64(c.OK)/float64(c.Total)) / 10
	return &v
}
