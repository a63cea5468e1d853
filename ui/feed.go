package ui

import (
	"context"
	"slices"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// minUpdateGap is the least time between two engine updates applied to the
// screen. Events arriving faster are merged by the subscription (latest
// state per device), so a sweep over 10,000 devices costs the console ten
// re-sorts a second, not one per device, and keys never queue behind it.
const minUpdateGap = 100 * time.Millisecond

// snapshotMsg carries the subscription and the full state taken right
// after subscribing, so no event falls between the two.
type snapshotMsg struct {
	sub     *engine.Subscription
	devices []engine.DeviceState
	summary engine.Summary
	live    live
}

// updateMsg is one drained batch of engine events.
type updateMsg struct {
	update engine.Update
	at     time.Time // when it was drained, to pace the next drain
	live   live
}

// live is what the console reads of the engine beside the devices, with
// every snapshot and update (the engine publishes one when an alert
// changes): the unresolved alerts, sorted, their counts and the session
// pool's counters. Read in the feed's command, never in Update.
type live struct {
	read      bool // false: nothing was read (no optional source), keep what is shown
	alerts    []engine.Alert
	counts    map[engine.Severity]int
	hasAlerts bool
	pool      engine.PoolStats
	hasPool   bool
}

// poolMsg is the pool's counters, read once a second.
type poolMsg struct{ stats engine.PoolStats }

// feed owns the console's engine subscription. It is shared by all copies
// of a Model (Bubble Tea copies models by value) and closed exactly once.
type feed struct {
	client Client
	caps   caps          // what else client offers; fixed at New
	done   chan struct{} // closed on Close: stops the waiting command
	once   sync.Once
	// ctx is cancelled on close: loads in flight (device detail) stop.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	sub    *engine.Subscription
	closed bool
}

func newFeed(c Client) *feed {
	ctx, cancel := context.WithCancel(context.Background())
	return &feed{client: c, caps: capsOf(c), done: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// readLive reads the alerts and the pool, when the client has them.
func (f *feed) readLive() live {
	var l live
	if a := f.caps.alerts; a != nil {
		l.alerts = slices.Clone(a.ActiveAlerts())
		engine.SortAlerts(l.alerts)
		l.counts = a.AlertCounts()
		l.hasAlerts, l.read = true, true
	}
	if p := f.caps.pool; p != nil {
		l.pool, l.hasPool, l.read = p.PoolStats(), true, true
	}
	return l
}

// readPool is a command reading the pool's counters.
func (f *feed) readPool() tea.Msg {
	return poolMsg{stats: f.caps.pool.PoolStats()}
}

// subscribe is the Init command: subscribe first, then take the snapshot,
// so an event published in between is both in the snapshot and pending
// (applying it twice is harmless: updates carry whole device states).
func (f *feed) subscribe() tea.Msg {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	sub := f.client.Subscribe()
	f.sub = sub
	f.mu.Unlock()
	return snapshotMsg{sub: sub, devices: f.client.Devices(), summary: f.client.Summary(), live: f.readLive()}
}

// wait returns a command that blocks until the subscription has something
// (and at least minUpdateGap has passed since last), drains it and returns
// it as an updateMsg. The model re-arms it after each update, so exactly
// one is in flight. It returns nil once the feed is closed.
func (f *feed) wait(sub *engine.Subscription, last time.Time) tea.Cmd {
	return func() tea.Msg {
		for {
			select {
			case <-f.done:
				return nil
			case <-sub.Ready():
			}
			if gap := minUpdateGap - time.Since(last); gap > 0 {
				t := time.NewTimer(gap)
				select {
				case <-f.done:
					t.Stop()
					return nil
				case <-t.C:
				}
			}
			if u, ok := sub.Drain(); ok {
				return updateMsg{update: u, at: time.Now(), live: f.readLive()}
			}
			// A stale wake-up: an earlier drain already took it.
		}
	}
}

// close unsubscribes and stops the waiting command. Safe to call more than
// once and from any goroutine.
func (f *feed) close() {
	f.once.Do(func() {
		f.mu.Lock()
		f.closed = true
		sub := f.sub
		f.mu.Unlock()
		close(f.done)
		f.cancel()
		if sub != nil {
			sub.Close()
		}
	})
}
