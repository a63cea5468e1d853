package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/filter"
)

// The grammar's own table is engine/filter's; these tests are of what the
// console adds: columns, views, and the grid reading a device's facts.

func TestParseColumn(t *testing.T) {
	for name, want := range map[string]Column{"cpu": ColCPU, "CPU": ColCPU, "host": ColHostname, "memory": ColMem,
		"seen": ColLastSeen, "last_seen": ColLastSeen, "os": ColOS, "disk": ColDisk, "site": ColSite, "status": ColStatus} {
		if got, err := ParseColumn(name); err != nil || got != want {
			t.Errorf("ParseColumn(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := ParseColumn("ram"); err == nil || !strings.Contains(err.Error(), "columns: hostname, site, status, cpu, mem, disk, last_seen, os") {
		t.Errorf("ParseColumn(ram) error = %v", err)
	}
	for c := Column(0); c < numColumns; c++ {
		if got, err := ParseColumn(c.Name()); err != nil || got != c {
			t.Errorf("column %v does not round-trip through its name %q", c, c.Name())
		}
	}
}

func TestValidateViews(t *testing.T) {
	if err := ValidateViews(map[string]string{"hot": "cpu>90 sort:-cpu", "sql": "tag:sql", "zoom": "software:zoom software.version<5.17"}); err != nil {
		t.Errorf("valid views: %v", err)
	}
	err := ValidateViews(map[string]string{"bad": "cpu>x", "two words": "web"})
	if err == nil || !strings.Contains(err.Error(), `views.bad: cpu>x: "x" is not a number`) || !strings.Contains(err.Error(), "use one word") {
		t.Errorf("ValidateViews error = %v", err)
	}
}

func TestTheGridFilterReadsADevicesInventoryFacts(t *testing.T) {
	cat := filter.NewCatalog()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	ds := []engine.DeviceState{
		{ID: 1, Hostname: "WS-1", Facts: cat.Build(filter.FactsDoc{SoftwareAt: at, Apps: [][2]string{{"Zoom (64-bit)", "5.16.2"}}})},
		{ID: 2, Hostname: "WS-2", Facts: cat.Build(filter.FactsDoc{SoftwareAt: at, Apps: [][2]string{{"Zoom Workplace (64-bit)", "6.2.11"}}})},
		{ID: 3, Hostname: "WS-3"},
	}
	f, err := ParseFilter(`software:zoom software.version<5.17`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range ds {
		if matches(&f, &ds[i]) {
			got = append(got, ds[i].Hostname)
		}
	}
	if !slices.Equal(got, []string{"WS-1"}) {
		t.Errorf("the grid keeps %v, want [WS-1]", got)
	}
}
