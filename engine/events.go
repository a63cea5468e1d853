package engine

import "sync"

// Update is what a subscriber receives: the devices that changed since
// its last Drain (latest state only, one entry per device) and the
// current fleet summary.
type Update struct {
	Devices []DeviceState
	Removed []int64 // IDs of devices that no longer exist
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
	done    chan struct{}
	mu      sync.Mutex
	pending map[int64]DeviceState
	order   []int64
	removed []int64
	summary Summary
	hasSum  bool
	closed  bool
}

// Subscribe registers a new subscriber.
func (h *Hub) Subscribe() *Subscription {
	s := &Subscription{hub: h, ready: make(chan struct{}, 1), done: make(chan struct{}), pending: make(map[int64]DeviceState)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Publish records changed devices and the new summary for every
// subscriber and wakes them. It never blocks on a subscriber.
func (h *Hub) Publish(devices []DeviceState, sum Summary) {
	h.publish(devices, nil, sum)
}

// PublishRemoved tells subscribers that devices are gone.
func (h *Hub) PublishRemoved(ids []int64, sum Summary) {
	h.publish(nil, ids, sum)
}

func (h *Hub) publish(devices []DeviceState, removed []int64, sum Summary) {
	h.mu.Lock()
	subs := make([]*Subscription, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.push(devices, removed, sum)
	}
}

func (s *Subscription) push(devices []DeviceState, removed []int64, sum Summary) {
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
	for _, id := range removed {
		if _, ok := s.pending[id]; ok {
			delete(s.pending, id)
			for i, o := range s.order {
				if o == id {
					s.order = append(s.order[:i], s.order[i+1:]...)
					break
				}
			}
		}
		s.removed = append(s.removed, id)
	}
	s.summary, s.hasSum = sum, true
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default: // already signalled; the pending state is merged
	}
}

// Done is closed by Close, so a goroutine waiting on Ready can stop.
func (s *Subscription) Done() <-chan struct{} { return s.done }

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
	if len(s.removed) > 0 {
		u.Removed = s.removed
		s.removed = nil
	}
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
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
}
