package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

func TestNamesWithWildcardsAreRefusedUnlessAPatternIsAskedFor(t *testing.T) {
	svc, _ := engine.LookupAction("service")
	pk, _ := engine.LookupAction("process-kill")
	tests := []struct {
		name    string
		spec    engine.ActionSpec
		params  map[string]string
		errHas  string // "" when valid
		confirm bool
	}{
		{"the report's name=* is refused", svc, map[string]string{"name": "*"}, "param name: \"*\" holds a wildcard", false},
		{"? and brackets are wildcards too", svc, map[string]string{"name": "Spool?r"}, "holds a wildcard", false},
		{"process names as well", pk, map[string]string{"name": "note*"}, "holds a wildcard", false},
		{"a plain name still works", svc, map[string]string{"name": "Spooler"}, "", false},
		{"a pattern that only lists needs no confirmation", svc, map[string]string{"name": "*", "pattern": "true", "op": "stop"}, "", false},
		{"a process pattern that only lists needs none either", pk, map[string]string{"name": "note*", "pattern": "1"}, "", false},
		{"confirmed matches need a confirmation, even for a restart", svc, map[string]string{"name": "W*", "pattern": "true", "matches": "W32Time, WSearch"}, "", true},
		{"a confirmed name must match the pattern", svc, map[string]string{"name": "W*", "pattern": "true", "matches": "Spooler"}, "does not match the pattern", false},
		{"a confirmed name is a name, not a pattern", svc, map[string]string{"name": "W*", "pattern": "true", "matches": "W*"}, "is a pattern", false},
		{"matches without a pattern is refused", svc, map[string]string{"name": "Spooler", "matches": "Spooler"}, "only with pattern=true", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate(tt.params)
			switch {
			case tt.errHas == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)):
				t.Fatalf("err %v, want %q", err, tt.errHas)
			}
			if tt.errHas == "" && tt.spec.NeedsConfirm(tt.params) != tt.confirm {
				t.Errorf("NeedsConfirm = %v, want %v", !tt.confirm, tt.confirm)
			}
		})
	}
}

// Reliability report F3: `rmm action run service --param name=* --param
// op=restart` started without a confirmation and, on Windows, would have
// restarted every service. Now it is refused; a pattern run lists what it
// matches and changes nothing; the confirmed names, and only they, are
// changed by a confirmed run.
func TestAServicePatternListsItsMatchesAndChangesOnlyTheConfirmedOnes(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 5})
	host := fleet.Hosts()[0].Hostname
	eng := newEngine(t, db, engine.Options{})
	ctx := context.Background()
	_, err := engine.Call(ctx, eng, operator, engine.StartRun{Name: "service", Params: map[string]string{"name": "*", "op": "restart"}, Target: hostTarget(host)})
	if err == nil || !strings.Contains(err.Error(), "wildcard") {
		t.Fatalf("name=*: %v, want refused", err)
	}
	before := servicesOf(t, fleet, host)

	r := one(t, runAction(t, eng, operator, engine.StartRun{Name: "service", Params: map[string]string{"name": "W*", "op": "stop", "pattern": "true"}, Target: hostTarget(host)}))
	if r.Status != engine.ActionCompleted || !strings.Contains(r.Message, "nothing was changed") {
		t.Fatalf("listing run: %s %q", r.Status, r.Message)
	}
	var doc struct {
		Data struct {
			Matches []string `json:"matches"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &doc); err != nil || len(doc.Data.Matches) < 2 {
		t.Fatalf("listing run's answer %q: %v", r.Stdout, err)
	}
	if after := servicesOf(t, fleet, host); !maps.Equal(before, after) {
		t.Fatal("the listing run changed services")
	}

	confirmed := doc.Data.Matches[0]
	params := map[string]string{"name": "W*", "op": "stop", "pattern": "true", "matches": confirmed}
	if _, err := engine.Call(ctx, eng, operator, engine.StartRun{Name: "service", Params: params, Target: hostTarget(host)}); !errors.Is(err, engine.ErrConfirmRequired) {
		t.Fatalf("an unconfirmed pattern run: %v, want a confirmation asked", err)
	}
	r = one(t, runAction(t, eng, operator, engine.StartRun{Name: "service", Params: params, Target: hostTarget(host), Confirmed: true}))
	if r.Status != engine.ActionCompleted || !strings.Contains(r.Message, "1 service(s) stopped: "+confirmed) {
		t.Fatalf("confirmed run: %s %q", r.Status, r.Message)
	}
	for name, st := range servicesOf(t, fleet, host) {
		switch {
		case name == confirmed && st != "Stopped":
			t.Errorf("%s, confirmed, is %s", name, st)
		case name != confirmed && st != before[name]:
			t.Errorf("%s, not confirmed, went from %s to %s", name, before[name], st)
		}
	}
}

// servicesOf reads a simulated host's services and their states from
// its software inventory, as the real collector would.
func servicesOf(t *testing.T, fleet *winrmsim.Fleet, host string) map[string]string {
	t.Helper()
	doc, ok := fleet.Inventory(host, "software", time.Now())
	if !ok {
		t.Fatalf("no inventory for %s", host)
	}
	sw, err := scripts.ParseSoftware(doc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range sw.Services.Value {
		out[s.Name] = s.State
	}
	return out
}
