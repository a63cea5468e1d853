package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
)

// scriptFixture reads a collector's recorded output from engine/scripts'
// fixtures.
func scriptFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("scripts", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFactsOfTheSoftwareInventory(t *testing.T) {
	sw, err := scripts.ParseSoftware(scriptFixture(t, "inventory_software.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, ok := factsOf(sw, time.Now())
	if !ok || f.services["W32Time"] != "Stopped" || !f.servicesComplete || !f.lastUpdate.Equal(time.UnixMilli(1731456000000)) {
		t.Errorf("facts = %+v, want the services and the newest hotfix date", f)
	}
}

func TestFactsOfTheSecurityInventory(t *testing.T) {
	old, err := scripts.ParseSecurity(scriptFixture(t, "inventory_security.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := factsOf(old, time.Now())
	if f.defender || f.firewall == nil || *f.firewall || f.pendingReboot == nil || !*f.pendingReboot || f.pendingSince.IsZero() {
		t.Errorf("facts of the 2016 host = %+v: want no Defender facts, firewall not all on, a pending reboot with its start", f)
	}
}
