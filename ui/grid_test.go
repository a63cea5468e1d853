package ui

import (
	"slices"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// shownHostnames is the grid's rows, in order.
func shownHostnames(m Model) []string {
	out := make([]string, len(m.grid.rows))
	for i, r := range m.grid.rows {
		out[i] = m.devices[r].Hostname
	}
	return out
}

func TestMultiSelectFlow(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{Theme: "ascii"}, 120, 40)
	waitFor(t, tm, "WS-0001")
	// Mark the first three rows (space moves down), unmark the second.
	send(tm, "space", "space", "space", "k", "k", "space")
	// No wait on the screen: the terminal gets only changed cells, so
	// "3 selected" then "2 selected" may show as a lone "2". The final
	// model has every key applied.
	m := finish(t, tm)
	got := m.Selected()
	want := []int64{m.devices[m.grid.rows[0]].ID, m.devices[m.grid.rows[2]].ID}
	if !slices.Equal(got, want) {
		t.Errorf("Selected() = %v, want %v", got, want)
	}
	scr := screenText(m)
	for host, prefix := range map[string]string{"LONDON-FILESERVER": " *", "WS-0001": "  ", "WS-0003": ">*"} {
		if l := lineWith(scr, host); !strings.HasPrefix(l, prefix) {
			t.Errorf("row %q should start with %q (pointer, mark)", l, prefix)
		}
	}
	if !strings.Contains(lineWith(scr, "selected"), "2 selected") {
		t.Errorf("status line lacks the count: %q", lineWith(scr, "selected"))
	}
}

func TestMarkAllMarksWhatTheFilterShowsAndClearAllClears(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "/")
	tm.Type("site:paris")
	send(tm, "enter", "a")
	waitFor(t, tm, "40 selected")
	send(tm, "esc") // clear the filter: the marks stay, now with the rest shown
	waitFor(t, tm, "Frankfurt-DC2")
	m := finish(t, tm)
	sel := m.Selected()
	if len(sel) != 40 {
		t.Fatalf("Selected() has %d devices, want the 40 in Paris", len(sel))
	}
	for _, id := range sel {
		if d := m.devices[m.index[id]]; d.Site != "Paris" {
			t.Errorf("%s in %s is selected", d.Hostname, d.Site)
		}
	}
	if m2 := update(m, keyPress("A")); len(m2.Selected()) != 0 || strings.Contains(screenText(m2), "selected") {
		t.Errorf("A left %d selected", len(m2.Selected()))
	}
}

func TestSelectedIncludesMarksTheFilterHides(t *testing.T) {
	m := loaded(t, fleet(50), Options{}, 120, 40)
	m = update(m, keys("space", "space")...) // WS-0001? no: LONDON-... first, then WS-0001
	first, second := m.devices[m.grid.rows[0]].ID, m.devices[m.grid.rows[1]].ID
	m = update(m, typeText("/WS-0001")...)
	m = update(m, keyPress("enter"))
	if got := m.Selected(); !slices.Equal(got, []int64{second, first}) {
		t.Errorf("Selected() = %v, want the shown one (%d) then the hidden one (%d)", got, second, first)
	}
	if s := lineWith(screenText(m), "selected"); !strings.Contains(s, "2 selected (1 hidden)") {
		t.Errorf("status line %q should say one mark is hidden", s)
	}
	if id, ok := m.Current(); !ok || id != second {
		t.Errorf("Current() = %d, %v", id, ok)
	}
}

func TestMarksAreValuesOfTheirModel(t *testing.T) {
	m := loaded(t, fleet(20), Options{}, 120, 40)
	a := update(m, keyPress("space"))
	if len(m.Selected()) != 0 || len(a.Selected()) != 1 {
		t.Error("marking in a copy of the model marked in the original")
	}
}

func TestRemovedDevicesLeaveGridAndMarks(t *testing.T) {
	m := loaded(t, fleet(20), Options{}, 120, 40)
	m = update(m, keyPress("a"))
	m = update(m, updateMsg{update: engine.Update{Removed: []int64{1, 2}, Summary: summarize(fleet(18))}})
	if len(m.grid.rows) != 18 || len(m.Selected()) != 18 {
		t.Errorf("after removing 2 of 20: %d rows, %d selected", len(m.grid.rows), len(m.Selected()))
	}
	for _, h := range shownHostnames(m) {
		if h == "WS-0001" {
			t.Error("a removed device is still shown")
		}
	}
}

func TestGroupBySite(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "s", "s", "s") // CPU, busiest first, within each site
	send(tm, "b")
	waitFor(t, tm, "grouped by site", "Frankfurt-DC2  40 devices, 8 unknown")
	m := finish(t, tm)
	scr := screenText(m)
	lines := strings.Split(scr, "\n")
	if !strings.HasPrefix(lines[rowsTop], " Frankfurt-DC2  40 devices") {
		t.Errorf("the first grid line should be the first site's header, got %q", lines[rowsTop])
	}
	// Sites in order, each device under its site, busiest first within it.
	var sites []string
	for i, r := range m.grid.rows {
		d := m.devices[r]
		if len(sites) == 0 || sites[len(sites)-1] != d.Site {
			sites = append(sites, d.Site)
		} else if prev := m.devices[m.grid.rows[i-1]]; CompareDevices(&prev, &d, ColCPU, true) > 0 {
			t.Fatalf("%s before %s in %s is not busiest first", prev.Hostname, d.Hostname, d.Site)
		}
	}
	want := []string{"Frankfurt-DC2", "London", "New York", "Paris", "Sydney-Branch-Office-North"}
	if !slices.Equal(sites, want) {
		t.Errorf("site order %v, want %v", sites, want)
	}
	if m.grid.groups[2].offline != 20 || m.grid.groups[2].n != 40 {
		t.Errorf("New York group = %+v, want 40 devices, 20 offline", m.grid.groups[2])
	}
	ny := m
	ny.moveTo(m.grid.groups[2].start)
	if !strings.Contains(screenText(ny), " New York  40 devices, 20 offline") {
		t.Errorf("selecting New York's first device should show its header:\n%s", screenText(ny))
	}
	// The cursor skips headers: moving down from the last Frankfurt device
	// lands on the first London one.
	m = update(m, keyPress("g"))
	for range 39 {
		m = update(m, keyPress("j"))
	}
	m = update(m, keyPress("j"))
	if d, _ := m.selectedDevice(); d.Site != "London" {
		t.Errorf("after 40 downs the cursor is on %s in %s", d.Hostname, d.Site)
	}
	if ungrouped := update(m, keyPress("b")); len(ungrouped.grid.groups) != 0 || strings.Contains(screenText(ungrouped), "40 devices") {
		t.Error("b again should stop grouping")
	}
}

func TestGroupedGridKeepsHeaderOfFirstRowOnScreen(t *testing.T) {
	m := loaded(t, fleet(200), Options{}, 80, 24)
	m = update(m, keyPress("b"), keyPress("G"), keyPress("g"))
	if m.grid.offset != 0 || !strings.HasPrefix(strings.Split(screenText(m), "\n")[rowsTop], " Frankfurt-DC2") {
		t.Errorf("back at the top the first header should show, offset %d", m.grid.offset)
	}
	// Wheel and clicks on a header.
	m = update(m, tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if m.grid.offset != wheelStep {
		t.Errorf("wheel offset = %d", m.grid.offset)
	}
	m = update(m, keyPress("g"))
	m = update(m, tea.MouseClickMsg{Button: tea.MouseLeft, X: 5, Y: rowsTop})
	if m.grid.cursor != 0 {
		t.Errorf("clicking the first header selects its first device, cursor %d", m.grid.cursor)
	}
}

func TestSavedViewApplies(t *testing.T) {
	views := map[string]string{"hot-sql": "tag:sql cpu>50 sort:-cpu", "broken": "cpu>x"}
	tm := startConsole(t, newHubClient(fleet(200)), Options{SavedViews: views}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, ":")
	tm.Type("view hot-sql")
	send(tm, "enter")
	waitFor(t, tm, "view hot-sql")
	m := finish(t, tm)
	if m.grid.sortBy != ColCPU || !m.grid.sortDesc || m.grid.filter != "tag:sql cpu>50" {
		t.Errorf("after :view: sort %v desc=%v filter %q", m.grid.sortBy, m.grid.sortDesc, m.grid.filter)
	}
	want := 0
	for _, d := range fleet(200) {
		if slices.Contains(d.Tags, "sql") && d.HasMetrics && d.CPUPct > 50 {
			want++
		}
	}
	if len(m.grid.rows) != want || want == 0 {
		t.Errorf("%d rows, want %d", len(m.grid.rows), want)
	}
	for i := 1; i < len(m.grid.rows); i++ {
		if m.devices[m.grid.rows[i-1]].CPUPct < m.devices[m.grid.rows[i]].CPUPct {
			t.Fatal("not busiest first")
		}
	}
	if l := lineWith(screenText(m), "match"); !strings.Contains(l, "/tag:sql cpu>50") {
		t.Errorf("status line should show the view's filter: %q", l)
	}

	bad := update(m, keyPress(":"))
	bad = update(bad, typeText("view broken")...)
	bad = update(bad, keyPress("enter"))
	if !bad.toast.err || !strings.Contains(bad.toast.text, `view broken: cpu>x: "x" is not a number`) {
		t.Errorf("a broken view's toast = %+v", bad.toast)
	}
	unknown := update(m, keyPress(":"))
	unknown = update(unknown, typeText("view hot-sq")...)
	unknown = update(unknown, keyPress("enter"))
	if !strings.Contains(unknown.toast.text, `unknown view "hot-sq": did you mean "hot-sql"?`) {
		t.Errorf("unknown view toast = %q", unknown.toast.text)
	}
}

func TestFilterFieldExpressionLiveWithInlineError(t *testing.T) {
	want := 0
	for _, d := range fleet(200) {
		if d.Site == "Paris" && d.HasMetrics && d.CPUPct > 50 {
			want++
		}
	}
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "/")
	tm.Type("site:paris cpu>50")
	waitFor(t, tm, Thousands(want)+" of 200 match")
	tm.Type("x")
	waitFor(t, tm, `cpu>50x: "50x" is not a number`, "Filter error")
	send(tm, "backspace", "enter")
	m := finish(t, tm)
	if m.grid.fltErr != nil || len(m.grid.rows) != want {
		t.Errorf("after fixing the term: err %v, %d rows, want %d", m.grid.fltErr, len(m.grid.rows), want)
	}
	for _, r := range m.grid.rows {
		if d := m.devices[r]; d.Site != "Paris" || d.CPUPct <= 50 {
			t.Errorf("%s (%s, cpu %v) should not match", d.Hostname, d.Site, d.CPUPct)
		}
	}
}

func TestFilterSortTermAppliesOnEnter(t *testing.T) {
	m := loaded(t, fleet(100), Options{}, 120, 40)
	m = update(m, keyPress("/"))
	m = update(m, typeText("site:london sort:-mem")...)
	if m.grid.sortBy != ColHostname {
		t.Error("a sort term applied before enter")
	}
	m = update(m, keyPress("enter"))
	if m.grid.sortBy != ColMem || !m.grid.sortDesc || m.grid.filter != "site:london" {
		t.Errorf("after enter: sort %v desc %v filter %q", m.grid.sortBy, m.grid.sortDesc, m.grid.filter)
	}
}

func TestSortCyclesThroughVisibleColumns(t *testing.T) {
	for _, tt := range []struct {
		width int
		n     int
	}{{80, 7}, {120, 8}} {
		m := loaded(t, fleet(10), Options{}, tt.width, 40)
		seen := []Column{m.grid.sortBy}
		for {
			m = update(m, keyPress("s"))
			if m.grid.sortBy == ColHostname {
				break
			}
			seen = append(seen, m.grid.sortBy)
			if len(seen) > 20 {
				t.Fatal("s never comes back to HOSTNAME")
			}
		}
		if len(seen) != tt.n {
			t.Errorf("at %d columns s cycles through %v, want %d columns", tt.width, seen, tt.n)
		}
	}
}

func TestOSColumnOnlyWhenWide(t *testing.T) {
	for _, tt := range []struct {
		width int
		os    bool
	}{{80, false}, {100, false}, {120, true}, {200, true}} {
		has := false
		for _, c := range layoutColumns(tt.width) {
			has = has || c.col == ColOS
		}
		if has != tt.os {
			t.Errorf("width %d: OS column %v, want %v", tt.width, has, tt.os)
		}
	}
	// Sorting by a column that is not shown says so in the tab bar.
	m := loaded(t, fleet(10), Options{}, 80, 24)
	m = update(m, keyPress(":"))
	m = update(m, typeText("sort os desc")...)
	m = update(m, keyPress("enter"))
	if l := strings.Split(screenText(m), "\n")[tabsY]; !strings.Contains(l, "sorted by os desc") {
		t.Errorf("tab bar %q should say the grid is sorted by os", l)
	}
}

func TestShortOS(t *testing.T) {
	for in, want := range map[string]string{
		"Microsoft Windows Server 2019 Datacenter": "Server 2019 Datacenter",
		"Microsoft Windows 11 Enterprise":          "Win 11 Enterprise",
		"Windows 10 Pro":                           "Win 10 Pro",
		"Ubuntu 24.04":                             "Ubuntu 24.04",
		"":                                         "",
	} {
		if got := ShortOS(in); got != want {
			t.Errorf("ShortOS(%q) = %q, want %q", in, got, want)
		}
	}
}
