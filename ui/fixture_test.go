package ui

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/store"
)

// t0 is "now" in every test, so relative times and goldens are stable.
var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// fleet makes n deterministic devices: mostly online with metrics, every
// tenth offline with stale metrics, some unknown and never seen, one with
// a very long FQDN and one with a long site name; a mix of Windows
// releases, tags (every third "sql", every fourth "prod") and groups
// (odd IDs "finance", even "engineering").
func fleet(n int) []engine.DeviceState {
	sites := []string{"London", "Paris", "Frankfurt-DC2", "New York", "Sydney-Branch-Office-North"}
	oses := []struct{ name, version string }{
		{"Microsoft Windows 11 Enterprise", "10.0.22631"},
		{"Microsoft Windows Server 2019 Datacenter", "10.0.17763"},
		{"Microsoft Windows 10 Pro", "10.0.19045"},
		{"Microsoft Windows Server 2016 Standard", "10.0.14393"},
		{"Microsoft Windows Server 2022 Standard", "10.0.20348"},
		{"Microsoft Windows 11 Pro", "10.0.26100"},
		{"Microsoft Windows 11 Enterprise", "10.0.26100"},
	}
	ds := make([]engine.DeviceState, 0, n)
	for i := 1; i <= n; i++ {
		os := oses[i%len(oses)]
		d := engine.DeviceState{
			ID:          int64(i),
			Hostname:    fmt.Sprintf("WS-%04d", i),
			Site:        sites[i%len(sites)],
			OSName:      os.name,
			OSVersion:   os.version,
			Status:      engine.StatusOnline,
			HasMetrics:  true,
			CPUPct:      float64((i*37)%1000) / 10,
			MemPct:      float64((i*53)%1000) / 10,
			DiskFreePct: float64((i*71)%1000) / 10,
			LastSeen:    t0.Add(-time.Duration((i*7)%400) * time.Second),
		}
		if i%3 == 0 {
			d.Tags = append(d.Tags, "sql")
		}
		if i%4 == 0 {
			d.Tags = append(d.Tags, "prod")
		}
		if i%2 == 1 {
			d.Groups = []string{"finance"}
		} else {
			d.Groups = []string{"engineering"}
		}
		switch {
		case i%10 == 3:
			d.Status = engine.StatusOffline
			d.LastSeen = t0.Add(-time.Duration(i) * time.Hour)
			d.LastError = "connection refused"
		case i%25 == 7:
			d.Status = engine.StatusUnknown
			d.HasMetrics = false
			d.LastSeen = time.Time{}
		}
		if i == 2 {
			d.Hostname = "LONDON-FILESERVER-CLUSTER-NODE-02.corp.contoso.com"
		}
		ds = append(ds, d)
	}
	return ds
}

func summarize(ds []engine.DeviceState) engine.Summary {
	s := engine.Summary{Devices: len(ds), Done: len(ds), LastEnd: t0.Add(-12 * time.Second), LastTook: 2100 * time.Millisecond}
	for _, d := range ds {
		switch d.Status {
		case engine.StatusOnline:
			s.Online++
		case engine.StatusOffline:
			s.Offline++
		default:
			s.Unknown++
		}
	}
	return s
}

// hubClient is a Client over a device slice and a real engine.Hub: the
// console receives events through the engine's own fan-out code. Detail
// and History make up a device's identity and a day of samples from its
// ID, deterministically.
type hubClient struct {
	hub     *engine.Hub
	mu      sync.Mutex
	devices []engine.DeviceState

	detailCalls  atomic.Int32
	historyCalls atomic.Int32
	historyErr   error // History fails with it when set
}

func newHubClient(ds []engine.DeviceState) *hubClient {
	return &hubClient{hub: engine.NewHub(), devices: slices.Clone(ds)}
}

func (c *hubClient) Devices() []engine.DeviceState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.devices)
}

func (c *hubClient) Summary() engine.Summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	return summarize(c.devices)
}

func (c *hubClient) Subscribe() *engine.Subscription { return c.hub.Subscribe() }

// publish changes devices (by ID; new IDs are added) and publishes them.
func (c *hubClient) publish(changed ...engine.DeviceState) {
	c.mu.Lock()
	for _, d := range changed {
		i := slices.IndexFunc(c.devices, func(x engine.DeviceState) bool { return x.ID == d.ID })
		if i < 0 {
			c.devices = append(c.devices, d)
		} else {
			c.devices[i] = d
		}
	}
	sum := summarize(c.devices)
	c.mu.Unlock()
	c.hub.Publish(changed, sum)
}

// Detail describes a device of the fleet as the engine would.
func (c *hubClient) Detail(ctx context.Context, id int64) (engine.DeviceDetail, error) {
	c.detailCalls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.devices, func(d engine.DeviceState) bool { return d.ID == id })
	if i < 0 {
		return engine.DeviceDetail{}, fmt.Errorf("device %d: not found", id)
	}
	d := c.devices[i]
	ip := fmt.Sprintf("10.20.%d.%d", id/250, id%250+1)
	return engine.DeviceDetail{
		State: d, FQDN: strings.ToLower(strings.Split(d.Hostname, ".")[0]) + ".corp.contoso.com", IP: ip, MAC: fmt.Sprintf("00:15:5D:00:%02X:%02X", id/256, id%256),
		OSName: d.OSName, OSVersion: d.OSVersion, Transport: "https", Port: 5986, CredentialID: "",
		Groups: d.Groups, Tags: d.Tags, Custom: map[string]string{"owner": "it-ops", "rack": "B4"},
		Endpoint: "https://" + ip + ":5986/wsman",
	}, nil
}

// History returns a sample every 10 minutes over the day before t0: CPU
// a slow wave, memory a ramp, both shifted by the device ID.
func (c *hubClient) History(ctx context.Context, id int64, metric string, since time.Time) ([]engine.MetricPoint, error) {
	c.historyCalls.Add(1)
	if c.historyErr != nil {
		return nil, c.historyErr
	}
	var out []engine.MetricPoint
	for at := t0.Add(-24 * time.Hour).Add(5 * time.Minute); !at.After(t0); at = at.Add(10 * time.Minute) {
		if at.Before(since) {
			continue
		}
		h := at.Sub(t0.Add(-24*time.Hour)).Hours() + float64(id)
		v := 50 + 45*math.Sin(h/24*2*math.Pi)
		if metric == "mem_pct" {
			v = 20 + math.Mod(h*3, 70)
		}
		out = append(out, engine.MetricPoint{At: at, Value: math.Round(v*10) / 10})
	}
	return out, nil
}

// fullClient is a hubClient with everything else the engine offers the
// console: alerts, health scores (computed by engine.ScoreHealth),
// schedules, the session pool, and a Requester that records each request
// and refuses, with a real *engine.DeniedError, what its role may not do
// (as Engine.Do does). Alert changes are published through the hub, as
// the engine publishes them.
type fullClient struct {
	*hubClient
	role engine.Role // 0: allow everything
	// liveReads counts the feed's reads of the alerts: one with the
	// snapshot and one with every drained update (see settled).
	liveReads atomic.Int32

	fmu      sync.Mutex
	alerts   []engine.Alert
	jobs     []engine.JobStatus
	audit    []store.AuditEntry // oldest first, as the store lists them
	pool     engine.PoolStats
	sweep    engine.SweepResult
	requests []engine.Request
	// hold, when set, keeps PollNow and RunSchedule running until it is
	// closed: a request still in flight.
	hold chan struct{}
	// doErr, when set, is what Do answers for requests it allows.
	doErr error
}

func newFullClient(ds []engine.DeviceState, role engine.Role) *fullClient {
	return &fullClient{
		hubClient: newHubClient(ds),
		role:      role,
		alerts:    testAlerts(),
		jobs:      testJobs(),
		audit:     testAudit(),
		pool:      engine.PoolStats{Open: 48, Reused: 2140, Created: 61},
		sweep:     engine.SweepResult{Devices: 200, Online: 187, Offline: 13},
	}
}

// testAlerts are unresolved alerts of fleet(200)'s devices, in no order:
// two critical, two high (one of them on the same device as a critical),
// an acknowledged medium, a low.
func testAlerts() []engine.Alert {
	return []engine.Alert{
		{ID: 14, DeviceID: 10, Hostname: "WS-0010", Type: engine.AlertTypePendingReboot, Severity: engine.SeverityLow, State: engine.AlertActive,
			Message: "reboot pending for 9d (limit 7d)", Count: 1, FirstSeen: t0.Add(-49 * time.Hour), LastSeen: t0.Add(-time.Hour)},
		{ID: 11, DeviceID: 3, Hostname: "WS-0003", Type: engine.AlertTypeOffline, Severity: engine.SeverityHigh, State: engine.AlertActive,
			Message: "2 polls in a row failed: connection refused", Count: 1, FirstSeen: t0.Add(-3 * time.Hour), LastSeen: t0.Add(-3 * time.Hour)},
		{ID: 13, DeviceID: 8, Hostname: "WS-0008", Type: engine.AlertTypeCPU, Severity: engine.SeverityMedium, State: engine.AlertAcknowledged,
			Message: "CPU 88% at or above warning 80% for 12m", Count: 3, FirstSeen: t0.Add(-25 * time.Minute), LastSeen: t0.Add(-time.Minute),
			AckedBy: "bob", AckedAt: t0.Add(-10 * time.Minute), AckNote: "batch job, ends at 10:00"},
		{ID: 12, DeviceID: 5, Hostname: "WS-0005", Type: engine.AlertTypeDisk, Instance: "C:", Severity: engine.SeverityCritical, State: engine.AlertActive,
			Message: "disk C: 93% used (3.5 GB free of 50.0 GB), at or above critical 90%", Count: 4, FirstSeen: t0.Add(-40 * time.Minute), LastSeen: t0.Add(-2 * time.Minute)},
		{ID: 16, DeviceID: 12, Hostname: "WS-0012", Type: engine.AlertTypeDisk, Instance: "D:", Severity: engine.SeverityCritical, State: engine.AlertActive,
			Message: "disk D: 91% used (45.0 GB free of 500.0 GB), at or above critical 90%", Count: 9, FirstSeen: t0.Add(-2 * time.Hour), LastSeen: t0.Add(-2 * time.Minute)},
		{ID: 15, DeviceID: 5, Hostname: "WS-0005", Type: engine.AlertTypeService, Instance: "Spooler", Severity: engine.SeverityHigh, State: engine.AlertActive,
			Message: "watched service Spooler is not running", Count: 1, FirstSeen: t0.Add(-5 * time.Minute), LastSeen: t0.Add(-5 * time.Minute)},
	}
}

// testJobs are the schedules main configures, seen at t0 (a Saturday).
func testJobs() []engine.JobStatus {
	return []engine.JobStatus{
		{Name: "maintenance", Spec: "weekly sun 03:00", Next: time.Date(2026, 3, 15, 3, 0, 0, 0, time.UTC)},
		{Name: "cleanup", Spec: "daily 05:00", Next: time.Date(2026, 3, 15, 5, 0, 0, 0, time.UTC),
			LastRun: time.Date(2026, 3, 14, 5, 0, 0, 0, time.UTC), LastErr: "archive metrics 2026-03-06: write /var/lib/rmm/archive: no space left on device"},
	}
}

// testAudit is an audit trail, oldest first: a CSV import, a config
// reload by the system, a refused ack over SSH, an ack that worked.
func testAudit() []store.AuditEntry {
	return []store.AuditEntry{
		{ID: 1, At: t0.Add(-48 * time.Hour), User: "alice", Role: "Admin", Via: "cli", Action: "devices.import", Targets: []string{"WS-0001", "WS-0002"},
			Result: store.AuditSuccess, Details: map[string]any{"source": "devices.csv", "rows": 200}},
		{ID: 2, At: t0.Add(-5 * time.Hour), User: "rmm-scheduler", Role: "Admin", Via: "system", Action: "config.reload", Targets: []string{"/etc/rmm/config.yaml"},
			Result: store.AuditSuccess, Details: map[string]any{"changes": "engine.throttle: 50 -> 120"}},
		{ID: 3, At: t0.Add(-20 * time.Minute), User: "carol", Role: "Viewer", Via: "ssh", RemoteAddr: "10.1.2.3:52114", Action: "alerts.ack",
			Targets: []string{"alert 13"}, Result: store.AuditDenied, Details: map[string]any{"error": "permission denied: Viewer may not alerts.ack"}},
		{ID: 4, At: t0.Add(-10 * time.Minute), User: "bob", Role: "Operator", Via: "ssh", RemoteAddr: "10.1.2.4:40022", Action: "alerts.ack",
			Targets: []string{"alert 13"}, Result: store.AuditSuccess, Details: map[string]any{"id": 13, "note": "batch job, ends at 10:00"}},
	}
}

func (c *fullClient) ActiveAlerts() []engine.Alert {
	c.liveReads.Add(1)
	c.fmu.Lock()
	defer c.fmu.Unlock()
	return slices.Clone(c.alerts)
}

func (c *fullClient) AlertCounts() map[engine.Severity]int {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	out := map[engine.Severity]int{}
	for _, s := range engine.Severities() {
		out[s] = 0
	}
	for _, a := range c.alerts {
		if a.State == engine.AlertActive {
			out[a.Severity]++
		}
	}
	return out
}

func (c *fullClient) Schedules() []engine.JobStatus {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	return slices.Clone(c.jobs)
}

func (c *fullClient) PoolStats() engine.PoolStats {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	return c.pool
}

// Health scores every device with the engine's own scoring: default
// thresholds, and a poll record that loses a few polls per device.
// Nothing is known of security and compliance (no inventory yet).
func (c *fullClient) Health(ctx context.Context, at time.Time) ([]engine.DeviceHealth, error) {
	out := make([]engine.DeviceHealth, 0, 200)
	for _, d := range c.Devices() {
		in := engine.HealthInput{State: d, Thresholds: alerting.DefaultThresholds(), At: at,
			Polls: store.PollCount{Total: 288, OK: 288 - int(d.ID*7%40)}}
		out = append(out, engine.DeviceHealth{DeviceID: d.ID, Hostname: d.Hostname, Site: d.Site, HealthScore: engine.ScoreHealth(in)})
	}
	engine.SortHealth(out)
	return out, nil
}

// sent returns the requests Do received, in order.
func (c *fullClient) sent() []engine.Request {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	return slices.Clone(c.requests)
}

// Do answers requests as the engine would for an identity of c.role.
func (c *fullClient) Do(ctx context.Context, r engine.Request) (any, error) {
	c.fmu.Lock()
	c.requests = append(c.requests, r)
	hold, doErr := c.hold, c.doErr
	c.fmu.Unlock()
	if c.role != 0 && !c.role.Can(r.Permission()) {
		return nil, &engine.DeniedError{Role: c.role, Action: r.Action()}
	}
	if doErr != nil {
		return nil, doErr
	}
	switch r := r.(type) {
	case engine.PollNow:
		if hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				return engine.SweepResult{}, fmt.Errorf("sweep: %w", ctx.Err())
			}
		}
		return c.sweep, nil
	case engine.AckAlert, engine.ResolveAlert:
		return c.changeAlert(r)
	case engine.ChangeAlerts:
		out := engine.AlertChanges{}
		for _, id := range r.IDs {
			var one engine.Request = engine.AckAlert{ID: id, Note: r.Note}
			switch r.Op {
			case engine.AlertOpResolve:
				one = engine.ResolveAlert{ID: id, Note: r.Note}
			case engine.AlertOpSnooze:
				c.fmu.Lock()
				if i := slices.IndexFunc(c.alerts, func(a engine.Alert) bool { return a.ID == id }); i >= 0 {
					c.alerts[i].SnoozedUntil, c.alerts[i].SnoozedBy, c.alerts[i].SnoozeNote = time.Now().Add(r.For), "alice", r.Note
					out.Changed = append(out.Changed, c.alerts[i])
				}
				c.fmu.Unlock()
				continue
			}
			a, err := c.changeAlert(one)
			if err != nil {
				out.Failed = append(out.Failed, engine.AlertFailure{ID: id, Error: err.Error()})
				continue
			}
			out.Changed = append(out.Changed, a.(engine.Alert))
		}
		c.hub.Publish(nil, c.Summary())
		return out, nil
	case engine.RunSchedule:
		return nil, c.runJob(r.Name, hold)
	case engine.ListAudit:
		c.fmu.Lock()
		rows := slices.Clone(c.audit)
		c.fmu.Unlock()
		if n := r.Filter.Limit; n > 0 && len(rows) > n {
			rows = rows[len(rows)-n:]
		}
		return rows, nil
	}
	return nil, fmt.Errorf("%s: not supported by the test client", r.Action())
}

// changeAlert acknowledges or resolves an alert and publishes the change.
func (c *fullClient) changeAlert(r engine.Request) (any, error) {
	c.fmu.Lock()
	var id int64
	switch r := r.(type) {
	case engine.AckAlert:
		id = r.ID
	case engine.ResolveAlert:
		id = r.ID
	}
	i := slices.IndexFunc(c.alerts, func(a engine.Alert) bool { return a.ID == id })
	if i < 0 {
		c.fmu.Unlock()
		return engine.Alert{}, fmt.Errorf("alert %d: not found", id)
	}
	a := c.alerts[i]
	if _, ok := r.(engine.AckAlert); ok {
		a.State, a.AckedBy, a.AckedAt = engine.AlertAcknowledged, "alice", t0
		c.alerts[i] = a
	} else {
		a.State, a.ResolvedBy, a.ResolvedAt = engine.AlertResolved, "alice", t0
		c.alerts = slices.Delete(c.alerts, i, i+1)
	}
	c.fmu.Unlock()
	c.hub.Publish(nil, c.Summary())
	return a, nil
}

// runJob marks a job running, then (once hold is closed, at once without
// it) done, as a scheduler would after RunNow.
func (c *fullClient) runJob(name string, hold chan struct{}) error {
	c.fmu.Lock()
	i := slices.IndexFunc(c.jobs, func(j engine.JobStatus) bool { return j.Name == name })
	if i < 0 {
		c.fmu.Unlock()
		return fmt.Errorf("schedule: no job %q", name)
	}
	c.jobs[i].Running = true
	c.fmu.Unlock()
	go func() {
		start := time.Now()
		if hold != nil {
			<-hold
		}
		c.fmu.Lock()
		defer c.fmu.Unlock()
		c.jobs[i].Running, c.jobs[i].LastRun, c.jobs[i].LastErr = false, start, ""
	}()
	return nil
}

// settled waits until the console has applied every engine update
// published before it was called: a drained signal, not a sleep. The
// feed drains one batch at a time and arms its next wait only when the
// model has applied the batch before, reading the alerts (liveReads)
// with each drain. Two summary-only events, each waited for until the
// feed drained it, prove that: the first drain may hold the earlier
// updates, and the second can only happen once that first batch was
// applied.
func settled(t *testing.T, c *fullClient) {
	t.Helper()
	for range 2 {
		before := c.liveReads.Load()
		c.hub.Publish(nil, c.Summary())
		deadline := time.Now().Add(waitLong)
		for c.liveReads.Load() == before {
			if time.Now().After(deadline) {
				t.Fatal("the console's feed did not drain an update")
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}
