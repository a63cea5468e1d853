package engine

import (
	"testing"
)

func TestASlowSubscriberGetsTheLatestStateOncePerDevice(t *testing.T) {
	h := NewHub()
	s := h.Subscribe()
	defer s.Close()
	for i := 0; i < 1000; i++ {
		h.Publish([]DeviceState{{ID: 1, CPUPct: float64(i % 100)}, {ID: 2, CPUPct: 1}}, Summary{Devices: 2, Done: i})
	}
	select {
	case <-s.Ready():
	default:
		t.Fatal("not signalled")
	}
	u, ok := s.Drain()
	if !ok || len(u.Devices) != 2 || u.Devices[0].ID != 1 || u.Devices[0].CPUPct != 99 || u.Summary.Done != 999 {
		t.Fatalf("drained %+v", u)
	}
	if _, ok := s.Drain(); ok {
		t.Fatal("a second drain found something")
	}
}

func TestRemovedDevicesReachSubscribersAndDropPendingState(t *testing.T) {
	h := NewHub()
	s := h.Subscribe()
	defer s.Close()
	h.Publish([]DeviceState{{ID: 1}, {ID: 2}}, Summary{Devices: 2})
	h.PublishRemoved([]int64{1}, Summary{Devices: 1})
	u, _ := s.Drain()
	if len(u.Devices) != 1 || u.Devices[0].ID != 2 || len(u.Removed) != 1 || u.Removed[0] != 1 {
		t.Fatalf("drained %+v", u)
	}
}

func TestCloseEndsTheSubscription(t *testing.T) {
	h := NewHub()
	s := h.Subscribe()
	s.Close()
	s.Close() // safe to repeat
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed")
	}
	h.Publish([]DeviceState{{ID: 1}}, Summary{})
	if _, ok := s.Drain(); ok {
		t.Fatal("a closed subscription received a publish")
	}
}
