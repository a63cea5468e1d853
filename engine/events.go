package engine

import "sync"

// Update is what a subscriber receives: the devices that changed since
// its last Drain (latest state only, one entry per device) and the
// current fleet summary.
type Update struct {
	Devices []DeviceState
	Summary Summary
}

// Hub fans engine events out to subscribers. Publishing never blocks:
// each subscriber keeps only the latest state per device until it drains,
// so a slow subscriber is coalesced, not queued without bound.
type Hub struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[*Subscription]struct{})}
}

// Subscription is one subscriber's view of the hub. Wait on Ready, then
// call Drain.
type Subscription struct {
	hub     *Hub
	ready   chan struct{}
	mu      sync.Mutex
	pending map[int64]DeviceState
	order   []int64
	summary Summary
	hasSum  bool
	closed  bool
}

// Subscribe registers a new subscriber.
func (h *Hub) Subscribe() *Subscription {
	s := &Subscription{hub: h, ready: make(chan struct{}, 1), pending: make(map[int64]DeviceState)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Publish records changed devices and the new summary for every
// subscriber and wakes them. It never blocks on a subscriber.
func (h *Hub) Publish(devices []DeviceState, sum Summary) {
	h.mu.Lock()
	subs := make([]*Subscription, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.push(devices, sum)
	}
}

func (s *Subscription) push(devices []DeviceState, sum Summary) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	for _, d := range devices {
		if _, ok := s.pending[d.ID]; !ok {
			s.order = append(s.order, d.ID)
		}
		s.pending[d.ID] = d
	}
	s.summary, s.hasSum = sum, true
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default: // already signalled; the pending state is merged
	}
}

// Ready is signalled (at most one value buffered) when an update is pending.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Drain returns and clears what is pending. ok is false when nothing was.
func (s *Subscription) Drain() (u Update, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 && !s.hasSum {
		return Update{}, false
	}
	u.Devices = make([]DeviceState, 0, len(s.order))
	for _, id := range s.order {
		u.Devices = append(u.Devices, s.pending[id])
	}
	u.Summary = s.summary
	s.pending = make(map[int64]DeviceState)
	s.order = s.order[:0]
	s.hasSum = false
	return u, true
}

// Close unregisters the subscription; later publishes skip it.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}
