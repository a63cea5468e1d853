package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// PollRecord is one recorded poll, as Options.OnPoll receives it: what a
// site relay (engine/relay) forwards to central.
type PollRecord struct {
	Hostname    string
	Site        string
	Status      Status
	At          time.Time
	LastError   string
	HasMetrics  bool
	CPUPct      float64
	MemPct      float64
	DiskFreePct float64
	Metrics     []store.Metric // every metric row of the poll (its own, health and extended metrics)
}

// Relays is what central's relay hub (engine/relay) tells the engine:
// which sites a relay polls, and how a request reaches those sites.
type Relays interface {
	// Relayed reports whether site's devices are polled by a site relay.
	Relayed(site string) bool
	// PollNow asks every relay to sweep its site now, on behalf of id
	// (authorised and audited by the engine before it is called).
	PollNow(ctx context.Context, id Identity) error
}

type relaysRef struct{ r Relays }

// AttachRelays makes the engine leave the devices of relayed sites to
// their relays: sweeps skip them, no WinRM request is sent to them, and
// PollNow is forwarded. Nil detaches.
func (e *Engine) AttachRelays(r Relays) {
	if r == nil {
		e.relays.Store(nil)
		return
	}
	e.relays.Store(&relaysRef{r: r})
}

func (e *Engine) relayed(site string) bool {
	ref := e.relays.Load()
	return ref != nil && ref.r.Relayed(site)
}

// relayedError refuses a WinRM request to a device of a relayed site:
// central never reaches a relayed site's devices itself.
func (e *Engine) relayedError(d store.Device) error {
	if !e.relayed(d.Site) {
		return nil
	}
	return &winrm.Error{Class: winrm.ClassConfiguration, Step: "route",
		Err: fmt.Errorf("device %s is on site %s, which a site relay polls: central does not reach it", d.Hostname, d.Site)}
}

func (e *Engine) forwardPollNow(ctx context.Context, id Identity) error {
	ref := e.relays.Load()
	if ref == nil {
		return nil
	}
	return ref.r.PollNow(ctx, id)
}

// ApplyRelayed updates the in-memory state of devices whose polls a relay
// made and central's store has just committed (ids are central's), and
// tells the front ends.
func (e *Engine) ApplyRelayed(ids []int64, recs []PollRecord) {
	if len(ids) != len(recs) {
		return
	}
	states := make([]DeviceState, 0, len(ids))
	e.mu.Lock()
	for i, id := range ids {
		en, ok := e.devices[id]
		if !ok || !strings.EqualFold(en.dev.Site, recs[i].Site) {
			continue
		}
		r := recs[i]
		prev := en.state.Status
		en.state.Status, en.state.LastError = r.Status, r.LastError
		if r.Status == StatusOnline {
			en.state.LastSeen = r.At
		}
		if r.HasMetrics {
			en.state.HasMetrics = true
			en.state.CPUPct, en.state.MemPct, en.state.DiskFreePct = r.CPUPct, r.MemPct, r.DiskFreePct
		}
		en.state.Mode = "relay"
		e.counts[prev]--
		e.counts[r.Status]++
		states = append(states, en.state)
	}
	sum := e.summaryLocked()
	e.mu.Unlock()
	for _, st := range states {
		e.status.Put(st.ID, st)
	}
	if len(states) > 0 {
		e.hub.Publish(states, sum)
	}
}

// relaysPtr is the engine's attached Relays (atomic: the hub attaches it
// while sweeps run).
type relaysPtr = atomic.Pointer[relaysRef]
