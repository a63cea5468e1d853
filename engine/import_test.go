package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/store"
)

// TestAStreamedImportIsAuditedAndAllOrNothing: a CSV streamed through
// ImportDevices is stored in one transaction; its audit row counts the
// rows and names the first hundred hosts; a file with a bad row stores
// nothing; a one-shot engine (NoDeviceList) never loads the devices.
func TestAStreamedImportIsAuditedAndAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(ctx, db, engine.Options{NoDeviceList: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	admin := engine.Identity{User: "tester", Role: engine.RoleAdmin, Via: engine.ViaCLI, RemoteAddr: "127.0.0.1"}

	var b strings.Builder
	b.WriteString("Hostname,Site\n")
	for i := range 250 {
		fmt.Fprintf(&b, "WS-%04d,hq\n", i)
	}
	s := csvimport.NewStream("fleet.csv", strings.NewReader(b.String()), csvimport.Options{})
	res, err := engine.Call(ctx, eng, admin, engine.ImportDevices{Source: "fleet.csv", Stream: s})
	if err != nil || res.Added != 250 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	if n := len(eng.Devices()); n != 0 {
		t.Errorf("a NoDeviceList engine loaded %d devices", n)
	}
	rows, _ := db.ListAudit(ctx, store.AuditFilter{Action: "devices.import"})
	rows = outcomes(rows) // pending, then the outcome
	if len(rows) != 1 || fmt.Sprint(rows[0].Details["rows"]) != "250" || len(rows[0].Targets) != 101 ||
		rows[0].Targets[0] != "WS-0000" || rows[0].Targets[100] != "... and 150 more" {
		t.Errorf("audit %+v", rows)
	}

	bad := "Hostname,Site\nNEW-1,hq\n-rf,hq\n"
	s = csvimport.NewStream("bad.csv", strings.NewReader(bad), csvimport.Options{})
	_, err = engine.Call(ctx, eng, admin, engine.ImportDevices{Source: "bad.csv", Stream: s})
	if !errors.Is(err, csvimport.ErrRejected) {
		t.Errorf("bad file: %v", err)
	}
	if _, err := db.DeviceByHostname(ctx, "NEW-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a row of a rejected file was stored: %v", err)
	}
	if n, _ := db.CountDevices(ctx); n != 250 {
		t.Errorf("%d devices, want 250", n)
	}
}
