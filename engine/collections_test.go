package engine_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/filter"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// zoomTruth reads every device's stored software inventory (the
// documents, not the index) and returns the hosts whose Zoom is older
// than 5.17.
func zoomTruth(t *testing.T, eng *engine.Engine) []string {
	t.Helper()
	var out []string
	for _, d := range eng.Devices() {
		docs, err := eng.StoredInventory(context.Background(), d.ID, []string{engine.InventorySoftware})
		if err != nil {
			t.Fatal(err)
		}
		if !docs[0].Collected() {
			continue
		}
		var sw scripts.SoftwareInventory
		if err := json.Unmarshal(docs[0].Data, &sw); err != nil {
			t.Fatal(err)
		}
		for _, a := range sw.Applications.Value {
			if strings.Contains(strings.ToLower(string(a.Name)), "zoom") && filter.CompareVersions(string(a.Version), "5.17") < 0 {
				out = append(out, d.Hostname)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func memberNames(t *testing.T, eng *engine.Engine, name string) []string {
	t.Helper()
	m, err := engine.Call(context.Background(), eng, operator, engine.GetCollection{Name: name})
	if err != nil {
		t.Fatalf("GetCollection %s: %v", name, err)
	}
	var out []string
	for _, d := range m.Devices {
		out = append(out, d.Hostname)
	}
	if len(out) != m.Members {
		t.Errorf("collection %s: %d devices, Members %d", name, len(out), m.Members)
	}
	return out
}

func TestACollectionFollowsTheInventoryAndIsATarget(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 40, Seed: 23})
	eng := newEngine(t, db, engine.Options{Throttle: 16})
	ctx := context.Background()
	const zoom = "Zoom older than 5.17"

	c, err := engine.Call(ctx, eng, operator, engine.SaveCollection{Name: zoom, Expr: `software:"Zoom" software.version<5.17`})
	if err != nil {
		t.Fatal(err)
	}
	if c.Members != 0 || !c.Inventory || c.Source != engine.SourceDB {
		t.Fatalf("before any inventory: %+v", c)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.CollectFleetInventory{Categories: []string{engine.InventorySoftware, engine.InventorySecurity}}); err != nil {
		t.Fatal(err)
	}
	want := zoomTruth(t, eng)
	if len(want) == 0 || len(want) == len(fleet.Hosts()) {
		t.Fatalf("%d of %d hosts run a Zoom older than 5.17: the test needs some, not all", len(want), len(fleet.Hosts()))
	}
	if got := memberNames(t, eng, zoom); !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	cs, err := engine.Call(ctx, eng, viewer, engine.ListCollections{})
	if err != nil || len(cs) != 1 || cs[0].Members != len(want) || cs[0].Pending {
		t.Fatalf("ListCollections as a Viewer: %+v %v", cs, err)
	}

	// Membership follows a host's inventory: stop a Spooler, collect
	// that host's software again.
	const stopped = "Spooler stopped"
	if _, err := engine.Call(ctx, eng, operator, engine.SaveCollection{Name: stopped, Expr: "service:Spooler=stopped"}); err != nil {
		t.Fatal(err)
	}
	before := memberNames(t, eng, stopped)
	var host string
	for _, h := range fleet.Hosts() {
		if !slices.Contains(before, h.Hostname) {
			host = h.Hostname
			break
		}
	}
	runCommand(t, eng, operator, engine.RunCommand{Script: "Stop-Service Spooler", Target: hostTarget(host)}, false)
	if got := memberNames(t, eng, stopped); slices.Contains(got, host) {
		t.Fatalf("%s joined before its inventory said so", host)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.CollectInventory{Host: host, Categories: []string{engine.InventorySoftware}, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := memberNames(t, eng, stopped); !slices.Contains(got, host) || len(got) != len(before)+1 {
		t.Fatalf("after %s's Spooler stopped and its inventory was collected: members %v (before %v)", host, got, before)
	}

	// A collection is a target: an ad-hoc command and an action on it.
	cr := runCommand(t, eng, operator, engine.RunCommand{Script: "hostname", Target: engine.RunTarget{Collection: zoom}, Confirmed: true}, true)
	if cr.Total != len(want) || engine.FormatOutputGroups(cr.Groups) != strconv.Itoa(len(want))+" <host>" || cr.Target != "collection "+zoom {
		t.Errorf("a command on the collection: %d devices, %s, target %q", cr.Total, engine.FormatOutputGroups(cr.Groups), cr.Target)
	}
	p := runAction(t, eng, operator, engine.StartRun{Name: "flush-dns", Target: engine.RunTarget{Collection: "zoom OLDER than 5.17"}})
	if p.Total != len(want) || p.Completed != len(want) {
		t.Errorf("flush-dns on the collection: %d of %d completed", p.Completed, p.Total)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.StartRun{Name: "flush-dns", Target: engine.RunTarget{Collection: "nope"}}); !errors.Is(err, engine.ErrNoCollection) {
		t.Errorf("an unknown collection as a target: %v", err)
	}

	// A restarted engine reads the index, not the inventory documents.
	_ = eng.Close()
	eng2 := newEngine(t, db, engine.Options{})
	if got := memberNames(t, eng2, zoom); !slices.Equal(got, want) {
		t.Fatalf("after a restart: members %v, want %v", got, want)
	}
	// An index lost (or older than the inventory) is rebuilt from it.
	_ = eng2.Close()
	raw, err := sql.Open("sqlite", db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := raw.ExecContext(ctx, `DELETE FROM inventory WHERE category = 'index'`); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != int64(len(fleet.Hosts())) {
		t.Fatalf("deleted %d index rows, want one per host", n)
	}
	raw.Close()
	eng3 := newEngine(t, db, engine.Options{})
	if got := memberNames(t, eng3, zoom); !slices.Equal(got, want) {
		t.Fatalf("after the index was rebuilt: members %v, want %v", got, want)
	}
}

func TestCollectionsAreOperatorsAndTheConfigsWin(t *testing.T) {
	_, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 2})
	eng := newEngine(t, db, engine.Options{})
	ctx := context.Background()
	if _, err := engine.Call(ctx, eng, viewer, engine.SaveCollection{Name: "x", Expr: "tag:x"}); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("a Viewer saving a collection: %v", err)
	}
	for _, bad := range []struct{ name, expr, msg string }{
		{"", "tag:x", "needs a name"},
		{" x", "tag:x", "starts or ends with a space"},
		{"x", "", "the expression is empty"},
		{"x", "cpu>abc", `cpu>abc: "abc" is not a number`},
		{"x", "tag:x sort:cpu", "a sort: term selects nothing"},
		{strings.Repeat("n", 65), "tag:x", "at most 64"},
	} {
		if _, err := engine.Call(ctx, eng, operator, engine.SaveCollection{Name: bad.name, Expr: bad.expr}); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("SaveCollection(%q, %q): %v, want %q", bad.name, bad.expr, err, bad.msg)
		}
	}
	if _, err := engine.Call(ctx, eng, operator, engine.SaveCollection{Name: "Servers", Expr: "os:server"}); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.SaveCollection{Name: "servers", Expr: "os:2019"}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second collection of the same name: %v", err)
	}
	if c, err := engine.Call(ctx, eng, operator, engine.SaveCollection{Name: "servers", Expr: "os:2019", Replace: true}); err != nil || c.Expr != "os:2019" || c.Name != "Servers" {
		t.Errorf("replace: %+v %v", c, err)
	}
	if err := engine.CheckCollections(map[string]string{"bad": "cpu>", "ok": "tag:x"}); err == nil || !strings.Contains(err.Error(), "collections.bad: cpu>: needs a number") {
		t.Errorf("CheckCollections: %v", err)
	}
	eng.SetConfigCollections(map[string]string{"SERVERS": "tag:none", "Printers": "service:Spooler"})
	cs, err := engine.Call(ctx, eng, operator, engine.ListCollections{})
	if err != nil || len(cs) != 2 || cs[1].Name != "SERVERS" || cs[1].Source != engine.SourceConfig || cs[1].Expr != "tag:none" {
		t.Fatalf("with the config's collections: %+v %v", cs, err)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.SaveCollection{Name: "printers", Expr: "tag:x"}); err == nil || !strings.Contains(err.Error(), "defined in the config file") {
		t.Errorf("saving over a config collection: %v", err)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.RemoveCollection{Name: "printers"}); err == nil || !strings.Contains(err.Error(), "defined in the config file") {
		t.Errorf("removing a config collection: %v", err)
	}
	eng.SetConfigCollections(nil) // the database's shows again
	cs, _ = engine.Call(ctx, eng, operator, engine.ListCollections{})
	if len(cs) != 1 || cs[0].Expr != "os:2019" || cs[0].Source != engine.SourceDB {
		t.Errorf("after the config dropped it: %+v", cs)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.RemoveCollection{Name: "SERVERS"}); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.RemoveCollection{Name: "servers"}); !errors.Is(err, engine.ErrNoCollection) {
		t.Errorf("removing it twice: %v", err)
	}
	rows, _ := db.ListAudit(ctx, store.AuditFilter{})
	saves := 0
	for _, r := range rows {
		if r.Action == "collections.save" && r.Result == store.AuditSuccess {
			saves++
		}
	}
	if saves != 2 {
		t.Errorf("%d successful collections.save audit rows, want 2", saves)
	}
}

func TestAnInventoryQueryListsEveryHostWithItsZoomVersion(t *testing.T) {
	_, db := testFleet(t, winrmsim.Config{Devices: 30, Seed: 23})
	eng := newEngine(t, db, engine.Options{Throttle: 16})
	ctx := context.Background()
	if _, err := engine.Call(ctx, eng, operator, engine.CollectFleetInventory{Categories: []string{engine.InventorySoftware}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // host -> Zoom version, from the documents
	for _, d := range eng.Devices() {
		docs, _ := eng.StoredInventory(ctx, d.ID, []string{engine.InventorySoftware})
		var sw scripts.SoftwareInventory
		if err := json.Unmarshal(docs[0].Data, &sw); err != nil {
			t.Fatal(err)
		}
		for _, a := range sw.Applications.Value {
			if strings.HasPrefix(string(a.Name), "Zoom") {
				want[d.Hostname] = string(a.Version)
			}
		}
	}
	tab, err := engine.Call(ctx, eng, viewer, engine.QueryInventory{Expr: "software:zoom", Columns: []string{"host", "software.version", "apps"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range tab.Rows {
		got[r[0]] = r[1]
		if n, err := strconv.Atoi(r[2]); err != nil || n < 50 {
			t.Errorf("%s has %q applications", r[0], r[2])
		}
	}
	if len(want) == 0 || !maps.Equal(got, want) || tab.Devices != len(want) {
		t.Errorf("query answered %v (%d devices), the documents say %v", got, tab.Devices, want)
	}
	if _, err := engine.Call(ctx, eng, viewer, engine.QueryInventory{Expr: "host:x", Columns: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `unknown column "nope"`) {
		t.Errorf("an unknown column: %v", err)
	}
	def, err := engine.Call(ctx, eng, viewer, engine.QueryInventory{Expr: "software:zoom software.version<5.17"})
	if err != nil || strings.Join(def.Columns, ",") != "host,site,status,os,software,software.version" {
		t.Errorf("default columns %v, %v", def.Columns, err)
	}
}
