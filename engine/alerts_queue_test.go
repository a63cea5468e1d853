package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// queuedFixture is an alert fixture whose book queues its changes to a
// batch writer, as the engine's does; nothing is committed before a Flush.
func queuedFixture(t *testing.T) (*alertFixture, *store.Writer) {
	t.Helper()
	f := newAlertFixture(t, AlertOptions{})
	w := store.NewWriter(f.db, store.WriterOptions{BatchRows: 10000, FlushInterval: time.Hour})
	w.Start()
	t.Cleanup(func() { w.Close() })
	f.book.sink = w
	return f, w
}

// alertEvent is one poll outcome of a scenario.
type alertEvent struct {
	host   string
	minute int
	m      *scripts.HostMetrics
	err    error
}

// lifecycleScenario covers every rule of the lifecycle: sustain,
// escalation, auto-resolve, the dedup window, offline once, unmanageable
// once, vanished volumes, in the order a fleet's polls would come.
func lifecycleScenario() []alertEvent {
	down := &winrm.Error{Class: winrm.ClassDevice, Step: "run metrics", Err: errors.New("connection refused")}
	denied := &winrm.Error{Class: winrm.ClassConfiguration, Step: "run metrics", Err: errors.New("401 Unauthorized")}
	var evs []alertEvent
	add := func(host string, minute int, m *scripts.HostMetrics, err error) {
		evs = append(evs, alertEvent{host, minute, m, err})
	}
	for _, s := range []struct {
		min int
		cpu float64
	}{{0, 85}, {3, 90}, {5, 97}, {7, 98}, {10, 96}, {12, 85}, {15, 40}} {
		add("srv-1", s.min, testMetrics(s.cpu, 30, volume("C:", 10)), nil)
	}
	for _, s := range []struct {
		min  int
		used float64
	}{{0, 85}, {2, 86}, {4, 87}, {5, 50}, {9, 85}, {10, 50}, {16, 85}} {
		add("ws-1", s.min, testMetrics(10, 10, volume("C:", s.used), volume("D:", 95)), nil)
	}
	add("ws-1", 20, testMetrics(10, 10, volume("C:", 85)), nil) // D: gone
	add("srv-2", 0, testMetrics(10, 10, volume("C:", 85)), nil)
	for m := 5; m <= 30; m += 5 {
		add("srv-2", m, nil, down)
	}
	add("srv-2", 35, testMetrics(10, 10, volume("C:", 50)), nil)
	for m := 40; m <= 55; m += 5 {
		add("srv-2", m, nil, denied)
	}
	add("srv-2", 60, testMetrics(10, 10), nil)
	// Stable order by minute, as sweeps would poll them.
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].minute < evs[j-1].minute; j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
	return evs
}

// play polls the scenario; after (when not nil) runs after each poll.
func (f *alertFixture) play(evs []alertEvent, after func()) {
	f.t.Helper()
	for _, ev := range evs {
		f.poll(ev.host, atMinute(ev.minute), ev.m, ev.err)
		if after != nil {
			after()
		}
	}
}

// storedAlerts lists every alert row, as text.
func storedAlerts(t *testing.T, db *store.DB) string {
	t.Helper()
	as, err := db.ListAlerts(context.Background(), store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for _, a := range as {
		out += fmt.Sprintf("%+v\n", a)
	}
	return out
}

func TestQueuedAlertChangesFollowTheSameLifecycleAsDirectWrites(t *testing.T) {
	evs := lifecycleScenario()
	direct := newAlertFixture(t, AlertOptions{})
	direct.play(evs, nil)
	want := storedAlerts(t, direct.db)
	if want == "" {
		t.Fatal("the scenario raised nothing")
	}
	for _, flushEach := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit after each poll %v", flushEach), func(t *testing.T) {
			f, w := queuedFixture(t)
			var after func()
			if flushEach {
				after = func() {
					if err := w.Flush(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			f.play(evs, after) // without flushEach, nothing is committed before the end
			if err := w.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := storedAlerts(t, f.db); got != want {
				t.Fatalf("stored alerts differ from direct writes\n got:\n%s\nwant:\n%s", got, want)
			}
			for _, host := range []string{"ws-1", "srv-1", "srv-2"} {
				if got, want := alertSummary(f.alerts(host)), alertSummary(direct.alerts(host)); got != want {
					t.Errorf("%s: unresolved in memory %q, want %q", host, got, want)
				}
			}
			f.book.mu.RLock()
			pending, indexed := len(f.book.pending), 0
			for _, ks := range f.book.byDev {
				indexed += len(ks)
			}
			unresolved := len(f.book.byKey)
			f.book.mu.RUnlock()
			if pending != 0 {
				t.Errorf("%d devices still have pending changes after the flush", pending)
			}
			if indexed != unresolved {
				t.Errorf("%d conditions indexed by device, %d unresolved", indexed, unresolved)
			}
		})
	}
}

func TestTheEngineQueuesPollAlertsAndCommitsThemOnClose(t *testing.T) {
	ctx := context.Background()
	f := newAlertFixture(t, AlertOptions{})
	e, err := New(ctx, f.db, Options{Writer: store.WriterOptions{BatchRows: 10000, FlushInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if e.alerts.sink == nil {
		t.Fatal("the engine's alert book writes directly, not through the batch writer")
	}
	d := f.devs["srv-1"]
	e.evaluate(ctx, d, DeviceState{ID: d.ID, Hostname: d.Hostname}, testMetrics(10, 10, volume("C:", 95)), nil, atMinute(0))
	if err := e.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := alertSummary(e.ActiveAlerts()); got != "disk_used(C:):Critical" {
		t.Fatalf("after the flush: %q", got)
	}
	// Queued, not flushed: Close commits it.
	e.evaluate(ctx, d, DeviceState{ID: d.ID, Hostname: d.Hostname}, testMetrics(10, 10, volume("C:", 50), volume("D:", 99)), nil, atMinute(5))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	g := bookOn(t, f.db, AlertOptions{})
	as := g.alerts("srv-1")
	if alertSummary(as) != "disk_used(D:):Critical" {
		t.Fatalf("after Close and a restart: %+v", as)
	}
	if all := g.all("srv-1"); len(all) != 2 || all[1].State != store.AlertResolved && all[0].State != store.AlertResolved {
		t.Fatalf("the C: alert was not resolved on Close: %+v", all)
	}
}
