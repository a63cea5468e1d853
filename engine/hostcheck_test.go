package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// Newcomer trial B12: another process took over the ports of the demo's
// offline hosts, WS-0057 showed Online, and its PowerShell pane answered
// hostname with SRV-0191: rmm showed and acted on the wrong machine. Here
// two devices' ports are swapped, as a reused DHCP lease would do over
// HTTP: each is Unknown with one alert, its metrics are not taken, and
// actions, shells and collections refuse it until the address is fixed,
// also in a new process.
func TestADeviceWhoseAddressAnswersAsAnotherComputerIsUnknownAndNotActedOn(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 101})
	hosts := fleet.Hosts()
	a, b, ok := hosts[0], hosts[1], hosts[2]
	ctx := context.Background()
	swap := []store.DeviceInput{{Hostname: a.Hostname, Port: b.Port}, {Hostname: b.Hostname, Port: a.Port}}
	if _, err := db.UpsertDevices(ctx, swap); err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t, db, engine.Options{Retries: -1})
	for range 2 {
		sweep(t, eng)
	}
	for _, h := range []winrmsim.HostInfo{a, b} {
		st := stateOf(t, eng, h.Hostname)
		if st.Status != engine.StatusUnknown || !strings.Contains(st.LastError, "answered as") || st.HasMetrics {
			t.Errorf("%s: %s %q (metrics %v), want Unknown, answered as another, no metrics", h.Hostname, st.Status, st.LastError, st.HasMetrics)
		}
	}
	if st := stateOf(t, eng, ok.Hostname); st.Status != engine.StatusOnline {
		t.Errorf("%s, at its own address: %s %q", ok.Hostname, st.Status, st.LastError)
	}
	alerts, err := engine.Call(ctx, eng, admin, engine.ListAlerts{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, al := range alerts {
		if al.Hostname == a.Hostname && al.Type == engine.AlertTypeUnmanageable && strings.Contains(al.Message, b.Hostname) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d unmanageable alerts for %s naming %s after two polls, want 1: %+v", n, a.Hostname, b.Hostname, alerts)
	}

	refusedEverywhere := func(eng *engine.Engine) {
		t.Helper()
		before := hostStats(t, fleet, b.Hostname).Commands
		p := runAction(t, eng, operator, engine.StartRun{Name: "flush-dns", Target: hostTarget(a.Hostname, ok.Hostname)})
		for _, r := range p.Results {
			switch {
			case r.Host == a.Hostname && (r.Status != engine.ActionFailed || !strings.Contains(r.Message, "refused")):
				t.Errorf("the action on %s: %s %q, want Failed, refused", r.Host, r.Status, r.Message)
			case r.Host == ok.Hostname && r.Status != engine.ActionCompleted:
				t.Errorf("the action on %s: %s %q", r.Host, r.Status, r.Message)
			}
		}
		if got := hostStats(t, fleet, b.Hostname).Commands; got != before {
			t.Errorf("%s (at %s's address) ran %d commands meant for %s", b.Hostname, a.Hostname, got-before, a.Hostname)
		}
		id := stateOf(t, eng, a.Hostname).ID
		if _, err := engine.Call(ctx, eng, admin, engine.OpenShell{DeviceID: id}); !errors.Is(err, engine.ErrWrongHost) {
			t.Errorf("a shell on %s: %v, want refused", a.Hostname, err)
		}
		if _, err := eng.CollectInventory(ctx, id, []string{"hardware"}, true); !errors.Is(err, engine.ErrWrongHost) {
			t.Errorf("inventory of %s: %v, want refused", a.Hostname, err)
		}
	}
	refusedEverywhere(eng)
	rep, err := engine.Call(ctx, eng, admin, engine.Diagnose{Host: a.Hostname})
	if err != nil {
		t.Fatal(err)
	}
	if last := rep.Steps[len(rep.Steps)-1]; last.Name != "identity" || last.Status != "fail" || !strings.Contains(last.Detail, b.Hostname) {
		t.Errorf("doctor's last step %+v, want identity failing and naming %s", last, b.Hostname)
	}
	// A new process (rmm action run) refuses it before any poll.
	refusedEverywhere(newEngine(t, db, engine.Options{Retries: -1}))

	// The address is fixed: the next poll finds the right host.
	if _, err := db.UpsertDevices(ctx, []store.DeviceInput{{Hostname: a.Hostname, Port: a.Port}}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if st := pollOne(t, eng, a.Hostname); st.Status != engine.StatusOnline {
		t.Fatalf("%s at its own address again: %s %q", a.Hostname, st.Status, st.LastError)
	}
	if r := one(t, runAction(t, eng, operator, engine.StartRun{Name: "flush-dns", Target: hostTarget(a.Hostname)})); r.Status != engine.ActionCompleted {
		t.Errorf("the action once the address is fixed: %s %q", r.Status, r.Message)
	}
}
