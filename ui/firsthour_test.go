package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
)

// Newcomer B7: q quit at once while "collecting software from the host"
// showed. It asks, like during an action run; n stays.
func TestQuitAsksWhileAnInventoryCollectionRuns(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(20), engine.RoleOperator), Options{Role: "Operator"}, 120, 40)
	m = update(m, keyPress("enter")) // the detail of the selected device
	for m.detail.tab == 0 || detailTabs()[m.detail.tab].category == "" {
		m = update(m, keyPress("right"))
		if m.detail.tab == 0 {
			t.Fatal("no inventory tab")
		}
	}
	m = update(m, keyPress("c"))
	if !m.detail.collecting {
		t.Fatal("c did not start a collection")
	}
	nm, cmd := m.Update(keyPress("q"))
	m = nm.(Model)
	if !m.confirmQuit || cmd != nil {
		t.Fatalf("q during a collection: confirm %v, cmd %v; want the question and no quit", m.confirmQuit, cmd)
	}
	if scr := screenText(m); !strings.Contains(scr, "collecting inventory from "+m.detail.hostname+" is running: quit anyway? y/n") {
		t.Errorf("the question does not say what runs:\n%s", scr)
	}
	m = update(m, keyPress("n"))
	if m.confirmQuit || m.quitting {
		t.Error("n did not keep the console")
	}
}

// Newcomer B6: a config reload changed org: in Settings but not in the
// header.
func TestAnOrgChangeReachesTheHeader(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(5), engine.RoleAdmin), Options{Title: "Contoso IT"}, 120, 40)
	m = update(m, TitleMsg{Title: "Fabrikam MSP"})
	scr := screenText(m)
	if !strings.Contains(scr, "Fabrikam MSP") || strings.Contains(scr, "Contoso IT") {
		t.Errorf("header after the org changed:\n%s", strings.SplitN(scr, "\n", 2)[0])
	}
}

// Newcomer: after a reboot nothing on the Overview showed it; it shows
// the uptime and the last boot.
func TestTheOverviewShowsUptimeAndLastBoot(t *testing.T) {
	ds := fleet(3)
	for i := range ds { // whichever row is selected
		ds[i].LastBoot = t0.Add(-(3*time.Hour + 12*time.Minute))
		ds[i].LastSeen = t0
	}
	m := loadedWith(t, newFullClient(ds, engine.RoleAdmin), Options{}, 140, 40)
	m = update(m, keyPress("enter"))
	scr := screenText(m)
	for _, want := range []string{"Uptime 3h 12m at the last poll", "Last boot " + ds[0].LastBoot.UTC().Format("2006-01-02 15:04:05") + " UTC (3h ago)"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the overview lacks %q:\n%s", want, scr)
		}
	}
}

// The help lists the Detail keys, the pane's and the dialog's, and every
// palette command, also those not available now (newcomer: :view and
// :export-results were missing).
func TestHelpListsEveryViewsKeysAndEveryCommand(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(5), engine.RoleAdmin), Options{Role: "Admin"}, 160, 48)
	m.showHelp = true
	all := strings.Join(m.helpLines(), "\n")
	for _, want := range []string{"Detail", "collect the tab's inventory now", "PowerShell pane", "Action dialog",
		":view NAME", ":export-results", ":queue", ":theme"} {
		if !strings.Contains(all, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
