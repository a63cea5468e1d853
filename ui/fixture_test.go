package ui

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rmmhq/rmm/engine"
)

// t0 is "now" in every test, so relative times and goldens are stable.
var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// fleet makes n deterministic devices: mostly online with metrics, every
// tenth offline with stale metrics, some unknown and never seen, one with
// a very long FQDN and one with a long site name.
func fleet(n int) []engine.DeviceState {
	sites := []string{"London", "Paris", "Frankfurt-DC2", "New York", "Sydney-Branch-Office-North"}
	ds := make([]engine.DeviceState, 0, n)
	for i := 1; i <= n; i++ {
		d := engine.DeviceState{
			ID:          int64(i),
			Hostname:    fmt.Sprintf("WS-%04d", i),
			Site:        sites[i%len(sites)],
			Status:      engine.StatusOnline,
			HasMetrics:  true,
			CPUPct:      float64((i*37)%1000) / 10,
			MemPct:      float64((i*53)%1000) / 10,
			DiskFreePct: float64((i*71)%1000) / 10,
			LastSeen:    t0.Add(-time.Duration((i*7)%400) * time.Second),
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
// console receives events through the engine's own fan-out code.
type hubClient struct {
	hub     *engine.Hub
	mu      sync.Mutex
	devices []engine.DeviceState
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
