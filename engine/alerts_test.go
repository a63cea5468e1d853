package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

var alertT0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func atMinute(n int) time.Time { return alertT0.Add(time.Duration(n) * time.Minute) }

// alertFixture is a real store with three devices and an alert book on it.
type alertFixture struct {
	t       *testing.T
	db      *store.DB
	book    *alertBook
	devs    map[string]store.Device
	changes atomic.Int64
}

func openAlertStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.UpsertDevices(context.Background(), []store.DeviceInput{
		{Hostname: "ws-1", Groups: []string{"workstations"}},
		{Hostname: "srv-1", Groups: []string{"servers"}},
		{Hostname: "srv-2", Groups: []string{"servers"}},
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

func newAlertFixture(t *testing.T, opts AlertOptions) *alertFixture {
	t.Helper()
	return bookOn(t, openAlertStore(t), opts)
}

// bookOn opens an alert book on db, as a (re)started engine does.
func bookOn(t *testing.T, db *store.DB, opts AlertOptions) *alertFixture {
	t.Helper()
	f := &alertFixture{t: t, db: db, devs: map[string]store.Device{}}
	devs, err := db.ListDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		f.devs[d.Hostname] = d
	}
	f.book, err = newAlertBook(context.Background(), db, opts, nil, func() { f.changes.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func testMetrics(cpu, mem float64, disks ...scripts.DiskMetrics) *scripts.HostMetrics {
	return &scripts.HostMetrics{CPUPct: cpu, MemPct: mem, Disks: disks}
}

func volume(drive string, usedPct float64) scripts.DiskMetrics {
	return scripts.DiskMetrics{Drive: drive, SizeGB: 100, FreeGB: 100 - usedPct, FreePct: 100 - usedPct}
}

func (f *alertFixture) poll(host string, at time.Time, m *scripts.HostMetrics, pollErr error) {
	f.t.Helper()
	d, ok := f.devs[host]
	if !ok {
		f.t.Fatalf("no device %s", host)
	}
	if err := f.book.observePoll(context.Background(), d, DeviceState{ID: d.ID, Hostname: host}, m, pollErr, at); err != nil {
		f.t.Fatal(err)
	}
}

func (f *alertFixture) ok(host string, minute int, cpu, mem float64, disks ...scripts.DiskMetrics) {
	f.t.Helper()
	f.poll(host, atMinute(minute), testMetrics(cpu, mem, disks...), nil)
}

func (f *alertFixture) fail(host string, minute int) {
	f.t.Helper()
	f.poll(host, atMinute(minute), nil, &winrm.Error{Class: winrm.ClassDevice, Device: host, Step: "run metrics", Err: errors.New("connection refused")})
}

// alerts returns host's unresolved alerts from memory, after checking that
// they match the store's.
func (f *alertFixture) alerts(host string) []Alert {
	f.t.Helper()
	var mem []Alert
	for _, a := range f.book.unresolved() {
		if a.Hostname == host {
			mem = append(mem, a)
		}
	}
	stored, err := f.db.ListAlerts(context.Background(), store.AlertFilter{
		States: []string{store.AlertActive, store.AlertAcknowledged}, DeviceID: f.devs[host].ID})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(stored) != len(mem) {
		f.t.Fatalf("%s: %d alerts in memory, %d in the store", host, len(mem), len(stored))
	}
	for i := range mem {
		if s := alertFromStore(stored[i]); s != mem[i] {
			f.t.Fatalf("%s: memory %+v, store %+v", host, mem[i], s)
		}
	}
	return mem
}

func (f *alertFixture) all(host string) []store.Alert {
	f.t.Helper()
	as, err := f.db.ListAlerts(context.Background(), store.AlertFilter{DeviceID: f.devs[host].ID})
	if err != nil {
		f.t.Fatal(err)
	}
	return as
}

func alertSummary(as []Alert) string {
	var s []string
	for _, a := range as {
		x := a.Type
		if a.Instance != "" {
			x += "(" + a.Instance + ")"
		}
		s = append(s, x+":"+string(a.Severity))
	}
	return strings.Join(s, ",")
}

func TestCPUAlertsOnlyAfterFiveMinutesSustainedEscalatesAndAutoResolves(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{})
	steps := []struct {
		min  int
		cpu  float64
		want string
	}{
		{0, 85, ""},                   // above warning, not sustained yet
		{3, 90, ""},                   // 3 min
		{5, 97, "cpu_high:Medium"},    // 5 min at warning; critical only starts
		{7, 98, "cpu_high:Medium"},    // 2 min at critical
		{10, 96, "cpu_high:Critical"}, // 5 min at critical: the same alert escalates
		{12, 85, "cpu_high:Medium"},   // back to warning: de-escalates
		{15, 40, ""},                  // cleared: auto-resolved
	}
	for _, st := range steps {
		f.ok("srv-1", st.min, st.cpu, 30, volume("C:", 10))
		if got := alertSummary(f.alerts("srv-1")); got != st.want {
			t.Fatalf("minute %d cpu %v: alerts %q, want %q", st.min, st.cpu, got, st.want)
		}
	}
	all := f.all("srv-1")
	if len(all) != 1 {
		t.Fatalf("%d alerts, want one that escalated, de-escalated and resolved: %+v", len(all), all)
	}
	a := all[0]
	if a.State != store.AlertResolved || !a.AutoResolved || a.ResolvedBy != "rmm" || !a.ResolvedAt.Equal(atMinute(15)) ||
		a.Count != 4 || !a.FirstSeen.Equal(atMinute(5)) || !a.LastSeen.Equal(atMinute(12)) {
		t.Fatalf("the resolved alert %+v", a)
	}
	if !strings.Contains(a.Message, "CPU 85% at or above warning 80% for 12m") {
		t.Errorf("message %q", a.Message)
	}
}

func TestAFailedPollBreaksTheSustainRun(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{})
	f.ok("srv-1", 0, 30, 90)
	f.ok("srv-1", 3, 30, 90)
	f.fail("srv-1", 4)
	f.ok("srv-1", 5, 30, 90) // 5 min since the run began, but the run was broken
	if got := alertSummary(f.alerts("srv-1")); got != "" {
		t.Fatalf("alerts %q after a broken run", got)
	}
	f.ok("srv-1", 10, 30, 90)
	if got := alertSummary(f.alerts("srv-1")); got != "mem_high:Medium" {
		t.Fatalf("alerts %q, want memory after a new 5 min run", got)
	}
}

func TestDiskAlertsArePerVolumeImmediateAndClearWithTheirVolume(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{})
	f.ok("ws-1", 0, 10, 10, volume("C:", 88), volume("D:", 95), volume("E:", 50))
	if got := alertSummary(f.alerts("ws-1")); got != "disk_used(D:):Critical,disk_used(C:):Medium" {
		t.Fatalf("alerts %q", got)
	}
	a := f.alerts("ws-1")[1]
	if a.Message != "disk C: 88% used (12.0 GB free of 100.0 GB), at or above warning 80%" {
		t.Errorf("message %q", a.Message)
	}
	f.ok("ws-1", 5, 10, 10, volume("C:", 70), volume("E:", 50)) // C: freed, D: gone
	if got := alertSummary(f.alerts("ws-1")); got != "" {
		t.Fatalf("alerts %q after C: was freed and D: went away", got)
	}
	for _, a := range f.all("ws-1") {
		if !a.AutoResolved {
			t.Errorf("%s %s not auto-resolved", a.Type, a.Instance)
		}
	}
}

func TestTheDedupWindowFoldsRepeatsAndReopensOnlyWithinFiveMinutes(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{})
	f.ok("ws-1", 0, 10, 10, volume("C:", 85))
	f.ok("ws-1", 2, 10, 10, volume("C:", 86))
	f.ok("ws-1", 4, 10, 10, volume("C:", 87))
	as := f.alerts("ws-1")
	if len(as) != 1 || as[0].Count != 3 || !as[0].FirstSeen.Equal(atMinute(0)) || !as[0].LastSeen.Equal(atMinute(4)) {
		t.Fatalf("repeats of an active alert: %+v", as)
	}
	id := as[0].ID

	f.ok("ws-1", 5, 10, 10, volume("C:", 50)) // resolved at minute 5
	f.ok("ws-1", 9, 10, 10, volume("C:", 85)) // back 4 minutes later: the same alert
	as = f.alerts("ws-1")
	if len(as) != 1 || as[0].ID != id || as[0].Count != 4 || as[0].State != AlertActive || as[0].AutoResolved {
		t.Fatalf("a repeat within the window: %+v", as)
	}

	f.ok("ws-1", 10, 10, 10, volume("C:", 50)) // resolved at minute 10
	f.ok("ws-1", 16, 10, 10, volume("C:", 85)) // back 6 minutes later: a new alert
	as = f.alerts("ws-1")
	if len(as) != 1 || as[0].ID == id || as[0].Count != 1 {
		t.Fatalf("a repeat after the window: %+v", as)
	}
	if n := len(f.all("ws-1")); n != 2 {
		t.Fatalf("%d alerts in all, want 2", n)
	}
}

func TestAnOfflineDeviceRaisesOneAlertAndItsMetricAlertsWait(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{})
	f.ok("srv-1", 0, 10, 10, volume("C:", 85))
	if got := alertSummary(f.alerts("srv-1")); got != "disk_used(C:):Medium" {
		t.Fatalf("alerts %q", got)
	}
	disk := f.alerts("srv-1")[0]

	f.fail("srv-1", 5)
	if got := alertSummary(f.alerts("srv-1")); got != "disk_used(C:):Medium" {
		t.Fatalf("after one failure: %q, want no offline alert yet", got)
	}
	for m := 10; m <= 30; m += 5 {
		f.fail("srv-1", m)
	}
	as := f.alerts("srv-1")
	if got := alertSummary(as); got != "offline:High,disk_used(C:):Medium" {
		t.Fatalf("after six failures: %q", got)
	}
	off := as[0]
	if off.Count != 1 || !off.FirstSeen.Equal(atMinute(10)) || !off.LastSeen.Equal(atMinute(10)) ||
		!strings.Contains(off.Message, "offline: 2 polls in a row failed since 2026-11-20 10:05 UTC") ||
		!strings.Contains(off.Message, "connection refused") {
		t.Fatalf("the offline alert was raised again, or says the wrong thing: %+v", off)
	}
	if as[1] != disk {
		t.Fatalf("the disk alert changed while the device was offline: %+v, was %+v", as[1], disk)
	}

	f.ok("srv-1", 35, 10, 10, volume("C:", 50))
	if got := alertSummary(f.alerts("srv-1")); got != "" {
		t.Fatalf("back online with space: %q", got)
	}
	for _, a := range f.all("srv-1") {
		if a.Type == AlertTypeOffline && (!a.AutoResolved || !a.ResolvedAt.Equal(atMinute(35))) {
			t.Fatalf("offline alert %+v", a)
		}
	}
}

func TestTheOfflineThresholdIsConfigurable(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{OfflineAfter: 3})
	f.fail("ws-1", 0)
	f.fail("ws-1", 5)
	if got := alertSummary(f.alerts("ws-1")); got != "" {
		t.Fatalf("after 2 of 3 failures: %q", got)
	}
	f.fail("ws-1", 10)
	if got := alertSummary(f.alerts("ws-1")); got != "offline:High" {
		t.Fatalf("after 3 failures: %q", got)
	}
}

func TestAConfigurationFailureRaisesOneUnmanageableAlert(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{})
	cfgErr := &winrm.Error{Class: winrm.ClassConfiguration, Device: "ws-1", Step: "run metrics", Err: errors.New("401 Unauthorized")}
	for m := 0; m < 20; m += 5 {
		f.poll("ws-1", atMinute(m), nil, cfgErr)
	}
	as := f.alerts("ws-1")
	if alertSummary(as) != "unmanageable:High" || as[0].Count != 1 || !strings.Contains(as[0].Message, "401 Unauthorized") {
		t.Fatalf("alerts %+v", as)
	}
	f.ok("ws-1", 20, 10, 10)
	if got := alertSummary(f.alerts("ws-1")); got != "" {
		t.Fatalf("after the credential was fixed: %q", got)
	}
}

func TestAMaintenanceWindowSuppressesRaisingButNotClearing(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{Maintenance: []alerting.MaintenanceWindow{
		{Name: "patching", Group: "servers", Start: atMinute(10), End: atMinute(40)},
	}})
	f.ok("srv-2", 5, 10, 10, volume("C:", 85)) // before the window
	for m := 10; m < 40; m += 5 {
		f.fail("srv-1", m) // rebooting for patches: no offline alert
		f.ok("ws-1", m, 10, 10, volume("C:", 95))
	}
	f.ok("srv-2", 15, 10, 10, volume("C:", 50)) // cleared inside the window: resolved
	if got := alertSummary(f.alerts("srv-1")) + "|" + alertSummary(f.alerts("srv-2")); got != "|" {
		t.Fatalf("alerts of the servers inside their window: %q", got)
	}
	if got := alertSummary(f.alerts("ws-1")); got != "disk_used(C:):Critical" {
		t.Fatalf("a device outside the window: %q", got)
	}
	f.fail("srv-1", 40) // the window is over, the server still down
	if got := alertSummary(f.alerts("srv-1")); got != "offline:High" {
		t.Fatalf("after the window: %q", got)
	}
}

func TestAlertsSurviveARestartAndAreNotResolvedByFreshTimers(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{})
	f.ok("srv-1", 0, 90, 10)
	f.ok("srv-1", 5, 90, 10)
	f.fail("ws-1", 0)
	f.fail("ws-1", 5)
	before := f.book.unresolved()
	if alertSummary(before) != "offline:High,cpu_high:Medium" {
		t.Fatalf("before the restart: %q", alertSummary(before))
	}

	g := bookOn(t, f.db, AlertOptions{}) // a new engine on the same database
	after := g.book.unresolved()
	if len(after) != len(before) {
		t.Fatalf("after the restart %+v, before %+v", after, before)
	}
	for i := range after {
		if after[i] != before[i] {
			t.Fatalf("after the restart %+v, before %+v", after[i], before[i])
		}
	}
	g.ok("srv-1", 10, 88, 10) // still busy: the alert goes on, though the new timers just started
	g.fail("ws-1", 10)        // still down: not raised again
	as := g.alerts("srv-1")
	if alertSummary(as) != "cpu_high:Medium" || as[0].Count != 2 || as[0].ID != before[1].ID {
		t.Fatalf("srv-1 after the restart: %+v", as)
	}
	if off := g.alerts("ws-1"); len(off) != 1 || off[0].Count != 1 {
		t.Fatalf("ws-1 after the restart: %+v", off)
	}
	g.ok("srv-1", 15, 20, 10)
	if got := alertSummary(g.alerts("srv-1")); got != "" {
		t.Fatalf("srv-1 once idle: %q", got)
	}
}

func TestFactsRaiseAndClearRebootDefenderAndServiceAlerts(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{Thresholds: alerting.ThresholdSet{Defaults: alerting.DefaultThresholds(),
		Groups: map[string]alerting.ThresholdOverride{"servers": {WatchedServices: []string{"Spooler", "W32Time"}}}}})
	ctx := context.Background()
	d := f.devs["srv-1"]
	observe := func(at time.Time, facts HostFacts) {
		t.Helper()
		if err := f.book.observeFacts(ctx, d, facts, at); err != nil {
			t.Fatal(err)
		}
	}
	bad := HostFacts{PendingReboot: ptrTo(true), SignaturesUpdated: alertT0.Add(-4 * oneDay),
		Services: map[string]string{"Spooler": "Stopped", "W32Time": "Running"}}
	observe(alertT0, bad)
	if got := alertSummary(f.alerts("srv-1")); got != "service_stopped(Spooler):High,defender_stale:High" {
		t.Fatalf("first facts: %q (a reboot just seen pending is not 7 days old)", got)
	}
	bad.SignaturesUpdated = alertT0.Add(8*oneDay - time.Hour)
	observe(alertT0.Add(8*oneDay), bad) // rmm has seen the reboot pending for 8 days
	if got := alertSummary(f.alerts("srv-1")); got != "service_stopped(Spooler):High,pending_reboot:Low" {
		t.Fatalf("8 days later: %q", got)
	}
	observe(alertT0.Add(9*oneDay), HostFacts{PendingReboot: ptrTo(false), Services: map[string]string{"spooler": "Running"}})
	if got := alertSummary(f.alerts("srv-1")); got != "" {
		t.Fatalf("after the reboot: %q", got)
	}
	w := f.book.snapshot()[d.ID]
	if w.facts == nil || w.facts.PendingReboot == nil || *w.facts.PendingReboot {
		t.Fatalf("facts kept for the health score: %+v", w.facts)
	}
}

func TestActiveAlertsAreSortedCountedAndAnnounced(t *testing.T) {
	f := newAlertFixture(t, AlertOptions{})
	f.ok("ws-1", 0, 10, 10, volume("C:", 85))
	f.ok("srv-1", 1, 10, 10, volume("C:", 95))
	f.ok("srv-2", 2, 10, 10, volume("C:", 85))
	f.fail("ws-1", 3)
	f.fail("ws-1", 4)
	got := alertSummary(f.book.unresolved())
	if got != "disk_used(C:):Critical,offline:High,disk_used(C:):Medium,disk_used(C:):Medium" {
		t.Fatalf("order %q", got)
	}
	if as := f.book.unresolved(); as[2].Hostname != "srv-2" || as[3].Hostname != "ws-1" {
		t.Fatalf("within a severity, the newest first: %s then %s", as[2].Hostname, as[3].Hostname)
	}
	if n := f.changes.Load(); n != 4 {
		t.Errorf("onChange called %d times, want once per evaluation that changed alerts (4)", n)
	}
	if _, err := f.book.ack(context.Background(), f.book.unresolved()[0].ID, "alice", "", atMinute(5)); err != nil {
		t.Fatal(err)
	}
	c := f.book.counts()
	if c[SeverityCritical] != 0 || c[SeverityHigh] != 1 || c[SeverityMedium] != 2 || c[SeverityLow] != 0 || len(c) != 5 {
		t.Errorf("counts %v: want the active ones, every severity present", c)
	}
}

func TestAlertOptionsAreValidated(t *testing.T) {
	tests := []struct {
		name string
		o    AlertOptions
		want string
	}{
		{"a negative window", AlertOptions{DedupWindow: -time.Minute}, "dedup_window: -1m0s is out of range"},
		{"an offline threshold of 200", AlertOptions{OfflineAfter: 200}, "offline_after: 200 is out of range 1..100"},
		{"weights that do not add up", AlertOptions{Weights: alerting.HealthWeights{Availability: 50, Performance: 25}}, "= 75, want 100"},
		{"a bad window", AlertOptions{Maintenance: []alerting.MaintenanceWindow{{Name: "w"}}}, "w: set exactly one of group and device"},
		{"bad thresholds", AlertOptions{Thresholds: alerting.ThresholdSet{Defaults: alerting.Thresholds{CPUWarning: 50}}}, "cpu.critical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.o.withDefaults()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	o, err := AlertOptions{}.withDefaults()
	if err != nil || o.DedupWindow != 5*time.Minute || o.OfflineAfter != 2 || o.Weights != alerting.DefaultHealthWeights() ||
		o.Thresholds.Defaults.CPUWarning != 80 {
		t.Fatalf("defaults %+v %v", o, err)
	}
}

// engineWith builds an engine on db whose alert book is f's.
func engineWith(t *testing.T, f *alertFixture) *Engine {
	t.Helper()
	e, err := New(context.Background(), f.db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.alerts = f.book
	return e
}

func lastAudit(t *testing.T, db *store.DB) store.AuditEntry {
	t.Helper()
	rows, err := db.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil || len(rows) == 0 {
		t.Fatalf("audit rows %v %v", rows, err)
	}
	return rows[len(rows)-1]
}

func TestAckAndResolveThroughDoRecordWhoAndWhenAreAuditedAndRefusedForAViewer(t *testing.T) {
	ctx := context.Background()
	f := newAlertFixture(t, AlertOptions{})
	e := engineWith(t, f)
	f.ok("ws-1", 0, 10, 10, volume("C:", 95))
	id := f.alerts("ws-1")[0].ID
	viewer := Identity{User: "vera", Role: RoleViewer, Via: ViaCLI, RemoteAddr: "10.0.0.9"}
	alice := Identity{User: "alice", Role: RoleOperator, Via: ViaSSH, RemoteAddr: "10.0.0.7"}

	if _, err := Call(ctx, e, viewer, AckAlert{ID: id}); !errors.Is(err, ErrDenied) {
		t.Fatalf("a viewer's ack: %v, want denied", err)
	}
	if a := lastAudit(t, f.db); a.Result != store.AuditDenied || a.User != "vera" || a.Action != "alerts.ack" {
		t.Fatalf("audit of the refusal %+v", a)
	}
	if as := f.alerts("ws-1"); as[0].State != AlertActive {
		t.Fatalf("a refused ack changed the alert: %+v", as[0])
	}

	before := time.Now().UTC()
	acked, err := Call(ctx, e, alice, AckAlert{ID: id, Note: "on it"})
	if err != nil {
		t.Fatal(err)
	}
	if acked.State != AlertAcknowledged || acked.AckedBy != "alice" || acked.AckNote != "on it" ||
		acked.AckedAt.Before(before.Truncate(time.Millisecond)) || acked.AckedAt.After(time.Now()) {
		t.Fatalf("acknowledged %+v", acked)
	}
	if as := f.alerts("ws-1"); as[0] != acked {
		t.Fatalf("memory %+v, want %+v", as[0], acked)
	}
	a := lastAudit(t, f.db)
	if a.Result != store.AuditSuccess || a.User != "alice" || a.Action != "alerts.ack" || a.RemoteAddr != "10.0.0.7" ||
		strings.Join(a.Targets, ",") != "alert "+idText(id) || a.Details["note"] != "on it" {
		t.Fatalf("audit of the ack %+v", a)
	}

	res, err := Call(ctx, e, Identity{User: "bob", Role: RoleAdmin, Via: ViaLocal}, ResolveAlert{ID: id, Note: "cleaned up"})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != AlertResolved || res.ResolvedBy != "bob" || res.ResolveNote != "cleaned up" || res.AutoResolved ||
		res.AckedBy != "alice" || res.ResolvedAt.IsZero() {
		t.Fatalf("resolved %+v", res)
	}
	if len(f.alerts("ws-1")) != 0 {
		t.Fatal("a resolved alert is still active in memory")
	}

	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"acknowledging a resolved alert", AckAlert{ID: id}, "acknowledge alert " + idText(id) + ": already resolved by bob at "},
		{"resolving it again", ResolveAlert{ID: id}, "resolve alert " + idText(id) + ": already resolved by bob at "},
		{"acknowledging an unknown alert", AckAlert{ID: 4242}, "acknowledge alert 4242: not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Do(ctx, alice, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if a := lastAudit(t, f.db); a.Result != store.AuditFailure || a.Details["error"] != err.Error() {
				t.Fatalf("audit of the failure %+v", a)
			}
		})
	}
	if v, err := f.db.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("audit chain %+v %v", v, err)
	}
}

func idText(v int64) string { return strconv.FormatInt(v, 10) }

func TestListAlertsFiltersForAnyRoleAndRefusesBadFilters(t *testing.T) {
	ctx := context.Background()
	f := newAlertFixture(t, AlertOptions{})
	e := engineWith(t, f)
	f.ok("ws-1", 0, 10, 10, volume("C:", 95))
	f.ok("srv-1", 0, 10, 10, volume("C:", 85))
	f.ok("srv-1", 1, 10, 10, volume("C:", 10)) // resolved
	f.ok("srv-1", 10, 10, 10, volume("C:", 85))
	viewer := Identity{User: "vera", Role: RoleViewer, Via: ViaCLI}
	list := func(r ListAlerts) (string, error) {
		as, err := Call(ctx, e, viewer, r)
		return alertSummary(as), err
	}
	tests := []struct {
		req  ListAlerts
		want string
	}{
		{ListAlerts{}, "disk_used(C:):Critical,disk_used(C:):Medium"},
		{ListAlerts{State: "all"}, "disk_used(C:):Critical,disk_used(C:):Medium,disk_used(C:):Medium"},
		{ListAlerts{State: "resolved"}, "disk_used(C:):Medium"},
		{ListAlerts{Severity: "critical"}, "disk_used(C:):Critical"},
		{ListAlerts{State: "all", Limit: 1}, "disk_used(C:):Critical"},
	}
	for _, tt := range tests {
		got, err := list(tt.req)
		if err != nil || got != tt.want {
			t.Errorf("%+v: %q %v, want %q", tt.req, got, err, tt.want)
		}
	}
	for _, bad := range []ListAlerts{{State: "open-ish"}, {Severity: "Warning"}, {Limit: -1}} {
		if _, err := list(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if rows, _ := f.db.ListAudit(ctx, store.AuditFilter{}); len(rows) != 0 {
		t.Errorf("listing wrote %d audit rows", len(rows))
	}
}

func TestRetentionArchivesAlertsTheEngineResolved(t *testing.T) {
	ctx := context.Background()
	f := newAlertFixture(t, AlertOptions{})
	e := engineWith(t, f)
	old := alertT0.Add(-100 * oneDay)
	f.poll("ws-1", old, testMetrics(10, 10, volume("C:", 95)), nil)
	f.poll("ws-1", old.Add(time.Minute), testMetrics(10, 10, volume("C:", 10)), nil) // auto-resolved 100 days ago
	f.poll("srv-1", old, testMetrics(10, 10, volume("C:", 95)), nil)                 // still active
	dir := t.TempDir()
	out, err := Call(ctx, e, Identity{User: "root", Role: RoleAdmin, Via: ViaCLI},
		MaintainDB{ArchiveDir: dir, RetentionOnly: true, Now: alertT0})
	if err != nil {
		t.Fatal(err)
	}
	if n := out.Retention.AlertsArchived; n != 1 {
		t.Fatalf("%d alerts archived, want the resolved one", n)
	}
	if len(f.all("ws-1")) != 0 || len(f.alerts("srv-1")) != 1 {
		t.Fatalf("left: ws-1 %+v, srv-1 %+v", f.all("ws-1"), f.alerts("srv-1"))
	}
}

func TestEvaluateGivesPollSamplesAndARestartCountsFailuresOn(t *testing.T) {
	ctx := context.Background()
	f := newAlertFixture(t, AlertOptions{})
	e := engineWith(t, f)
	d := f.devs["srv-1"]
	down := &winrm.Error{Class: winrm.ClassDevice, Device: "srv-1", Step: "run metrics", Err: errors.New("no route to host")}
	// evaluate gives the poll_ok samples; record stores them with the poll.
	samples := e.evaluate(ctx, d, DeviceState{}, testMetrics(10, 10), nil, atMinute(0))
	samples = append(samples, e.evaluate(ctx, d, DeviceState{}, nil, down, atMinute(5))...) // one failure, then the engine stops
	if err := e.writer.AddMetrics(ctx, samples); err != nil {
		t.Fatal(err)
	}
	if err := e.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := f.db.PollCountsSince(ctx, atMinute(-1))
	if err != nil || counts[d.ID] != (store.PollCount{OK: 1, Total: 2}) {
		t.Fatalf("poll samples %v %v", counts, err)
	}
	if len(f.alerts("srv-1")) != 0 {
		t.Fatal("an alert after one failure")
	}

	g := bookOn(t, f.db, AlertOptions{}) // the next run
	g.fail("srv-1", 10)
	as := g.alerts("srv-1")
	if alertSummary(as) != "offline:High" || !strings.Contains(as[0].Message, "2 polls in a row failed since 2026-11-20 10:05 UTC") {
		t.Fatalf("after a restart and a second failure: %+v", as)
	}
}
