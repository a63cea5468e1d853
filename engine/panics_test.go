package engine_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// Code review B3: there was no recover boundary around a poll or an
// action, and conc's pool re-panics in Wait: one bad answer from one
// host took down `rmm serve` and every session on it. A panic now costs
// that device that poll or attempt, classed Device and logged with the
// device and the stack.
func TestAPanicInOnePollOrActionFailsThatDeviceAndNothingElse(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 71})
	hosts := fleet.Hosts()
	bad := hosts[0].Hostname
	var logs syncBuffer
	eng := newEngine(t, db, engine.Options{Retries: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	eng.PanicAfterRunOn(bad)

	res, err := engine.Call(context.Background(), eng, operator, engine.PollNow{})
	if err != nil {
		t.Fatalf("a sweep with a panicking poll: %v", err)
	}
	if res.Online != 2 || res.Errors["device"] != 1 {
		t.Errorf("sweep %+v, want 2 online and 1 device error", res)
	}
	st := stateOf(t, eng, bad)
	if st.Status != engine.StatusOffline || !strings.Contains(st.LastError, "internal error") || !strings.HasPrefix(st.LastError, "poll "+bad+": ") {
		t.Errorf("%s: %s %q, want Offline with the internal error named", bad, st.Status, st.LastError)
	}
	log := logs.String()
	if !strings.Contains(log, "recovered from a panic") || !strings.Contains(log, "device="+bad) || !strings.Contains(log, "panics_test.go") && !strings.Contains(log, "goroutine") {
		t.Errorf("the panic was not logged with its device and stack:\n%s", log)
	}

	p := runAction(t, eng, operator, engine.StartRun{Name: "flush-dns", Target: allHosts(fleet)})
	for _, r := range p.Results {
		switch {
		case r.Host == bad && (r.Status != engine.ActionFailed || !strings.Contains(r.Message, "internal error")):
			t.Errorf("%s: %s %q, want Failed with the internal error", r.Host, r.Status, r.Message)
		case r.Host != bad && r.Status != engine.ActionCompleted:
			t.Errorf("%s: %s %q, want Completed", r.Host, r.Status, r.Message)
		}
	}

	docs, err := eng.CollectInventory(context.Background(), st.ID, []string{"hardware"}, true)
	if err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Errorf("inventory of %s: %v %+v, want the internal error", bad, err, docs)
	}
	if _, err := eng.CollectInventory(context.Background(), stateOf(t, eng, hosts[1].Hostname).ID, []string{"hardware"}, true); err != nil {
		t.Errorf("inventory of a healthy host after the panic: %v", err)
	}
}
