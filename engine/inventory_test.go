package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/schedule"
	"github.com/rmmhq/rmm/store"
)

// hostWith returns the first simulated host whose OS name contains os.
func hostWith(t *testing.T, fleet *winrmsim.Fleet, os string) winrmsim.HostInfo {
	t.Helper()
	for _, h := range fleet.Hosts() {
		if strings.Contains(h.OSName, os) {
			return h
		}
	}
	t.Fatalf("no %s host in the fleet; pick another seed", os)
	return winrmsim.HostInfo{}
}

func deviceID(t *testing.T, eng *engine.Engine, host string) int64 {
	t.Helper()
	return stateOf(t, eng, host).ID
}

func docOf(t *testing.T, docs []engine.InventoryDoc, cat string) engine.InventoryDoc {
	t.Helper()
	for _, d := range docs {
		if d.Category == cat {
			if d.Error != "" {
				t.Fatalf("%s: %s", cat, d.Error)
			}
			return d
		}
	}
	t.Fatalf("no %s document in %d", cat, len(docs))
	return engine.InventoryDoc{}
}

func TestEveryCollectorAnswersFromTheSimulatorConsistentWithTheOS(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 60, Seed: 11})
	eng := newEngine(t, db, engine.Options{Retries: -1})
	ctx := context.Background()
	old := hostWith(t, fleet, "Server 2016")
	w11 := hostWith(t, fleet, "Windows 11")

	for _, h := range []winrmsim.HostInfo{old, w11} {
		docs, err := eng.CollectInventory(ctx, deviceID(t, eng, h.Hostname), nil, false)
		if err != nil {
			t.Fatalf("%s: %v", h.Hostname, err)
		}
		if len(docs) != 4 {
			t.Fatalf("%s: %d documents, want the 4 categories", h.Hostname, len(docs))
		}
		hw, err := scripts.ParseHardware(docOf(t, docs, "hardware").Data)
		if err != nil {
			t.Fatal(err)
		}
		if len(hw.Processors.Value) == 0 || len(hw.Volumes.Value) == 0 || hw.BIOS.Value == nil || hw.BIOS.Value.SerialNumber == "" {
			t.Errorf("%s hardware: %d processors, %d volumes, bios %+v", h.Hostname, len(hw.Processors.Value), len(hw.Volumes.Value), hw.BIOS.Value)
		}
		if len(hw.NetworkAdapters.Value) == 0 || hw.NetworkAdapters.Value[0].MAC != h.MAC {
			t.Errorf("%s hardware: adapters %+v, want the host's MAC %s", h.Hostname, hw.NetworkAdapters.Value, h.MAC)
		}
		sw, err := scripts.ParseSoftware(docOf(t, docs, "software").Data)
		if err != nil {
			t.Fatal(err)
		}
		if sw.OS.Name != h.OSName || sw.OS.Version != h.OSVersion {
			t.Errorf("%s software: os %q %q, want %q %q", h.Hostname, sw.OS.Name, sw.OS.Version, h.OSName, h.OSVersion)
		}
		if n := len(sw.Applications.Value); n < 60 {
			t.Errorf("%s: %d installed applications, want a realistic list (dozens to hundreds)", h.Hostname, n)
		}
		if n := len(sw.Services.Value); n < 100 {
			t.Errorf("%s: %d services, want a realistic list (hundreds)", h.Hostname, n)
		}
		sec, err := scripts.ParseSecurity(docOf(t, docs, "security").Data)
		if err != nil {
			t.Fatal(err)
		}
		if len(sec.Firewall.Value) != 3 {
			t.Errorf("%s: firewall profiles %+v", h.Hostname, sec.Firewall.Value)
		}
		net, err := scripts.ParseNetwork(docOf(t, docs, "network").Data)
		if err != nil {
			t.Fatal(err)
		}
		winrm := false
		for _, p := range net.Listening.Value {
			winrm = winrm || p.Port == 5985
		}
		if !winrm || len(net.Adapters.Value) == 0 || len(net.Routes.Value) == 0 {
			t.Errorf("%s network: listening %v adapters %d routes %d", h.Hostname, winrm, len(net.Adapters.Value), len(net.Routes.Value))
		}
		switch h.Hostname {
		case old.Hostname:
			if sw.OS.DisplayVersion != "" {
				t.Errorf("Server 2016 %s has DisplayVersion %q; 2016 has none", h.Hostname, sw.OS.DisplayVersion)
			}
			if sec.TPM.Value != nil && sec.TPM.Value.Present {
				t.Errorf("Server 2016 VM %s reports a TPM", h.Hostname)
			}
		case w11.Hostname:
			if sw.OS.DisplayVersion != "23H2" && sw.OS.DisplayVersion != "24H2" {
				t.Errorf("Windows 11 %s: DisplayVersion %q", h.Hostname, sw.OS.DisplayVersion)
			}
			if sec.TPM.Value == nil || !sec.TPM.Value.Present || !sec.TPM.Value.Ready {
				t.Errorf("Windows 11 %s without a ready TPM: %+v", h.Hostname, sec.TPM)
			}
			if sec.Defender.Value == nil || sec.Defender.Value.SignatureLastUpdated.IsZero() {
				t.Errorf("Windows 11 %s: defender %+v", h.Hostname, sec.Defender)
			}
			if sec.BitLocker.Unavailable != "" {
				t.Errorf("Windows 11 %s: BitLocker unavailable: %s", h.Hostname, sec.BitLocker.Unavailable)
			}
		}
	}
}

func TestInventoryIsCachedForADayAndForceCollectsAgain(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 4})
	eng := newEngine(t, db, engine.Options{Retries: -1})
	ctx := context.Background()
	h := fleet.Hosts()[0].Hostname
	id := deviceID(t, eng, h)

	first, err := eng.CollectInventory(ctx, id, []string{"hardware", "network"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Cached || first[1].Cached || !first[0].Collected() {
		t.Fatalf("first collection: %+v", first)
	}
	before := hostStats(t, fleet, h)
	second, err := eng.CollectInventory(ctx, id, []string{"hardware", "network"}, false)
	if err != nil {
		t.Fatal(err)
	}
	after := hostStats(t, fleet, h)
	if after.Requests != before.Requests {
		t.Errorf("a second call within a day sent %d requests to the host, want 0", after.Requests-before.Requests)
	}
	if !second[0].Cached || !second[0].CollectedAt.Equal(first[0].CollectedAt) || string(second[0].Data) != string(first[0].Data) {
		t.Errorf("second call: cached %v at %s, want the stored document of %s", second[0].Cached, second[0].CollectedAt, first[0].CollectedAt)
	}

	forced, err := eng.CollectInventory(ctx, id, []string{"hardware"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if hostStats(t, fleet, h).Requests == after.Requests || forced[0].Cached || !forced[0].CollectedAt.After(first[0].CollectedAt) {
		t.Errorf("force: cached %v at %s; the host saw no new request or the time did not move", forced[0].Cached, forced[0].CollectedAt)
	}

	// Read-only: what is stored, nothing collected.
	stored, err := eng.StoredInventory(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 4 || !stored[0].Collected() || stored[1].Collected() {
		t.Errorf("stored: %d docs, hardware %v, software %v: want hardware only", len(stored), stored[0].Collected(), stored[1].Collected())
	}
	if _, err := eng.CollectInventory(ctx, id, []string{"firmware"}, false); err == nil {
		t.Error("an unknown category was accepted")
	}
}

func TestInventoryRequestsCheckRolesAndAudit(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 4})
	eng := newEngine(t, db, engine.Options{Retries: -1})
	ctx := context.Background()
	h := fleet.Hosts()[0].Hostname
	viewer := engine.Identity{User: "v", Role: engine.RoleViewer, Via: engine.ViaCLI}
	op := engine.Identity{User: "o", Role: engine.RoleOperator, Via: engine.ViaCLI}
	if _, err := engine.Call(ctx, eng, viewer, engine.CollectInventory{Host: h}); err == nil {
		t.Fatal("a Viewer collected inventory")
	}
	docs, err := engine.Call(ctx, eng, viewer, engine.GetInventory{Host: h})
	if err != nil {
		t.Fatalf("a Viewer could not read inventory: %v", err)
	}
	if len(docs) != 4 || docs[0].Collected() {
		t.Fatalf("nothing collected yet, got %+v", docs)
	}
	docs, err = engine.Call(ctx, eng, op, engine.CollectInventory{Host: strings.ToLower(h), Categories: []string{"security"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || !docs[0].Collected() {
		t.Fatalf("operator collect: %+v", docs)
	}
	if _, err := engine.Call(ctx, eng, op, engine.CollectInventory{Host: "NO-SUCH-HOST"}); err == nil || !strings.Contains(err.Error(), "no such device") {
		t.Fatalf("unknown host: %v", err)
	}
}

func TestSecurityFactsRaiseAlertsAndFleetRunsSkipFreshDevices(t *testing.T) {
	const n = 120
	fleet, db := testFleet(t, winrmsim.Config{Devices: n, Seed: 9})
	eng := newEngine(t, db, engine.Options{Retries: -1, Throttle: 40})
	ctx := context.Background()
	// Which hosts have signatures older than the 3-day default?
	stale := map[string]bool{}
	for _, h := range fleet.Hosts() {
		doc, _ := fleet.Inventory(h.Hostname, "security", time.Now())
		sec, err := scripts.ParseSecurity(doc)
		if err != nil {
			t.Fatal(err)
		}
		if d := sec.Defender.Value; d != nil && time.Since(d.SignatureLastUpdated.Time) > 3*24*time.Hour {
			stale[h.Hostname] = true
		}
	}
	if len(stale) == 0 {
		t.Fatal("no host with stale signatures; pick another seed")
	}
	res, err := eng.CollectFleetInventory(ctx, []string{"security"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Devices != n || res.Collected != n || res.Failed != 0 {
		t.Fatalf("fleet run: %+v", res)
	}
	raised := map[string]bool{}
	for _, a := range eng.ActiveAlerts() {
		if a.Type == engine.AlertTypeSignatures {
			raised[a.Hostname] = true
		}
	}
	for h := range stale {
		if !raised[h] {
			t.Errorf("%s has stale signatures and no %s alert", h, engine.AlertTypeSignatures)
		}
	}
	if len(raised) != len(stale) {
		t.Errorf("%d signature alerts for %d stale hosts", len(raised), len(stale))
	}
	again, err := eng.CollectFleetInventory(ctx, []string{"security"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fresh != n || again.Collected != 0 {
		t.Errorf("second run within max age: %+v, want every device fresh", again)
	}
	// The health score now has a security part for every device.
	hs, err := eng.Health(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		for _, p := range h.Parts {
			if p.Name == "security" && !p.HasData {
				t.Fatalf("%s: security part without data after the scan", h.Hostname)
			}
		}
	}
}

func TestPollsStoreExtendedMetricsAndWatchedServicesAlert(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 100, Seed: 3})
	watched := []string{"Spooler", "W32Time", "BITS", "wuauserv"}
	// Find a host where one of them is stopped, from its software inventory.
	stopped := map[string]string{}
	for _, h := range fleet.Hosts() {
		doc, _ := fleet.Inventory(h.Hostname, "software", time.Now())
		sw, err := scripts.ParseSoftware(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sw.Services.Value {
			for _, w := range watched {
				if s.Name == w && s.State != "Running" {
					stopped[h.Hostname] = w
				}
			}
		}
	}
	if len(stopped) == 0 {
		t.Fatal("no host with a stopped watched service; pick another seed")
	}
	th := alerting.DefaultThresholds()
	th.WatchedServices = watched
	eng := newEngine(t, db, engine.Options{Retries: -1, Alerts: engine.AlertOptions{Thresholds: alerting.ThresholdSet{Defaults: th}}})
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute)
	sweep(t, eng)
	sweep(t, eng)

	got := map[string]string{}
	for _, a := range eng.ActiveAlerts() {
		if a.Type == engine.AlertTypeService {
			got[a.Hostname] = a.Instance
		}
	}
	for h, svc := range stopped {
		if got[h] != svc {
			t.Errorf("%s: %s is stopped, alerts say %q", h, svc, got[h])
		}
	}
	if len(got) != len(stopped) {
		t.Errorf("service alerts %v, want %v", got, stopped)
	}

	h := fleet.Hosts()[0].Hostname
	id := deviceID(t, eng, h)
	// The spiky ones are stored only when not 0: some host of 100 has them.
	for _, typ := range []string{engine.MetricDiskQueue, engine.MetricNetErrorsPerS} {
		n := 0
		for _, hi := range fleet.Hosts() {
			rows, err := db.MetricsSince(ctx, deviceID(t, eng, hi.Hostname), typ, t0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Value <= 0 {
					t.Errorf("%s: a %s sample of %v; only non-zero values (and the first 0 after one) are stored", hi.Hostname, typ, r.Value)
				}
			}
			n += len(rows)
		}
		if n == 0 {
			t.Errorf("no %s samples on any of 100 hosts", typ)
		}
	}
	for _, typ := range []string{engine.MetricUptime, engine.MetricPendingReboot, engine.MetricLatency, engine.MetricServiceRunning} {
		rows, err := db.MetricsSince(ctx, id, typ, t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			t.Errorf("%s: no %s samples after two polls", h, typ)
		}
		if typ == engine.MetricServiceRunning && len(rows) != 2*len(watched) {
			t.Errorf("%s: %d service_running samples, want one per watched service per poll", h, len(rows))
		}
		if typ == engine.MetricUptime && rows[0].Value < 3600 {
			t.Errorf("%s: uptime %v s; simulated hosts have been up an hour at least", h, rows[0].Value)
		}
	}
}

func TestAnOnlineDeviceGoesOfflineOnlyAfterTheFailureThreshold(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 5})
	eng := newEngine(t, db, engine.Options{Retries: -1})
	ctx := context.Background()
	name := fleet.Hosts()[0].Hostname
	sweep(t, eng)
	if err := fleet.SetOnline(name, false); err != nil {
		t.Fatal(err)
	}
	sweep(t, eng)
	st := stateOf(t, eng, name)
	if st.Status != engine.StatusOnline || st.LastError == "" {
		t.Fatalf("after one failed poll: %s %q, want still Online with the error shown (offline_after 2)", st.Status, st.LastError)
	}
	sweep(t, eng)
	if st := stateOf(t, eng, name); st.Status != engine.StatusOffline {
		t.Fatalf("after two failed polls: %s, want Offline", st.Status)
	}
	id := deviceID(t, eng, name)
	probes, err := db.MetricsSince(ctx, id, engine.MetricIdentifyOK, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) == 0 || probes[0].Value != 0 {
		t.Errorf("identify probes after the failure: %+v, want 0 (the host is down)", probes)
	}
	av, err := eng.DeviceAvailability(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if av.Uptime24h == nil || *av.Uptime24h != 33.3 || av.Uptime7d == nil || av.LatencyMS == nil {
		t.Fatalf("availability %+v, want 1 of 3 polls (33.3%%) and the first poll's latency", av)
	}
	other := deviceID(t, eng, fleet.Hosts()[1].Hostname)
	if av, _ := eng.DeviceAvailability(ctx, other); av.Uptime24h == nil || *av.Uptime24h != 100 {
		t.Fatalf("the healthy host: %+v, want 100%%", av)
	}
	hs, err := eng.Health(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.DeviceID == id && (h.Availability.Uptime24h == nil || *h.Availability.Uptime24h != 33.3) {
			t.Errorf("health availability of %s: %+v", name, h.Availability)
		}
	}
}

func TestInventoryFactsSurviveARestart(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 4})
	ctx := context.Background()
	h := fleet.Hosts()[0].Hostname
	first := newEngine(t, db, engine.Options{Retries: -1})
	if _, err := first.CollectInventory(ctx, deviceID(t, first, h), []string{"security"}, false); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := newEngine(t, db, engine.Options{Retries: -1})
	hs, err := second.Health(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, dh := range hs {
		for _, p := range dh.Parts {
			if p.Name == "security" && p.HasData != (dh.Hostname == h) {
				t.Errorf("%s after a restart: security part has data %v, want %v", dh.Hostname, p.HasData, dh.Hostname == h)
			}
		}
	}
}

func TestTheScheduledInventoryJobsCollectTheirCategoriesAndAreAudited(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 4, Seed: 4})
	eng := newEngine(t, db, engine.Options{Retries: -1})
	ctx := context.Background()
	daily, err := schedule.Parse("daily 02:00")
	if err != nil {
		t.Fatal(err)
	}
	jobs := eng.InventoryJobs(daily, daily)
	if len(jobs) != 2 || jobs[0].Name != "inventory" || jobs[1].Name != "security" {
		t.Fatalf("jobs %+v", jobs)
	}
	if err := jobs[1].Run(ctx); err != nil {
		t.Fatal(err)
	}
	id := deviceID(t, eng, fleet.Hosts()[0].Hostname)
	docs, err := eng.StoredInventory(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if d.Collected() != (d.Category == "security") {
			t.Errorf("after the security job: %s collected %v", d.Category, d.Collected())
		}
	}
	rows, err := db.ListAudit(ctx, store.AuditFilter{Action: "inventory.collect_fleet"})
	if err != nil {
		t.Fatal(err)
	}
	rows = outcomes(rows)
	if len(rows) != 1 || rows[0].User != "rmm-scheduler" || rows[0].Result != store.AuditSuccess {
		t.Fatalf("audit rows %+v, want one success by rmm-scheduler", rows)
	}
}

// Reliability report F3: watched_services went into metrics.ps1 with only
// the ASCII quote doubled, so a name holding U+2019 closed the string and
// the rest ran on every polled host. Each name is now a literal made by
// scripts.Quote; the simulator reads the list as PowerShell does (and
// refuses code after it), so the payloads come back as service names.
func TestWatchedServiceNamesStayLiteralWhateverQuotesTheyHold(t *testing.T) {
	_, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 111})
	payloads := []string{
		"Spooler\u2019) + $(Remove-Item C:\\x -Recurse) + (\u2019",
		"Spooler'; Remove-Item C:\\ -Recurse; '",
		"Spool\u2018er\u201a\u201b",
		"Spooler",
	}
	th := alerting.DefaultThresholds()
	th.WatchedServices = payloads
	eng := newEngine(t, db, engine.Options{Retries: -1, Alerts: engine.AlertOptions{Thresholds: alerting.ThresholdSet{Defaults: th}}})
	res := sweep(t, eng)
	if res.Online != 2 {
		t.Fatalf("sweep %+v: the metrics script did not run as written", res)
	}
	missing := map[string]bool{}
	for _, a := range eng.ActiveAlerts() {
		if a.Type == engine.AlertTypeService {
			missing[a.Instance] = true
		}
	}
	for _, p := range payloads[:3] {
		if !missing[p] {
			t.Errorf("no alert for the watched service %q: the host did not get it as one name (alerts %v)", p, missing)
		}
	}
}
