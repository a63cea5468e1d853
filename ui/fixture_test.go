package ui

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmmhq/rmm/engine"
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
