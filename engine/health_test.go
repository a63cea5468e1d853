package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/store"
)

func healthBreakdown(h HealthScore) string {
	parts := make([]string, len(h.Parts))
	for i, p := range h.Parts {
		parts[i] = p.String()
	}
	return strings.Join(parts, " | ")
}

func TestHealthScores(t *testing.T) {
	at := alertT0
	online := DeviceState{Status: StatusOnline, HasMetrics: true, CPUPct: 10, MemPct: 20, DiskFreePct: 60, LastSeen: at.Add(-5 * time.Minute)}
	withServices := alerting.DefaultThresholds()
	withServices.WatchedServices = []string{"Spooler"}
	const na = "security n/a: no data yet (inventory not collected) | compliance n/a: no data yet (inventory not collected)"
	tests := []struct {
		name   string
		in     HealthInput
		score  int
		status HealthStatus
		parts  string
	}{
		{
			name:  "a quiet device without inventory scores 100 over the parts it has",
			in:    HealthInput{State: online, Metrics: testMetrics(10, 20, volume("C:", 40))},
			score: 100, status: HealthHealthy,
			parts: "availability 25/25 | performance 25/25 | " + na,
		},
		{
			name: "a busy CPU and a fullish disk cost a fifth of performance each",
			in: HealthInput{State: online, Metrics: testMetrics(91, 20, volume("C:", 88), volume("D:", 10)),
				CPUSince: at.Add(-7 * time.Minute)},
			score: 80, status: HealthHealthy,
			parts: "availability 25/25 | performance 15/25: CPU 91% at or above warning 80% for 7m; " +
				"disk C: 88% used at or above warning 80% | " + na,
		},
		{
			name:  "critical CPU, memory and disk leave no performance points",
			in:    HealthInput{State: online, Metrics: testMetrics(97, 96, volume("C:", 95))},
			score: 50, status: HealthCritical,
			parts: "availability 25/25 | performance 0/25: CPU 97% at or above critical 95%; memory 96% at or above critical 95%; " +
				"disk C: 95% used at or above critical 90% | " + na,
		},
		{
			name:  "failed polls in the last day cost availability",
			in:    HealthInput{State: online, Metrics: testMetrics(10, 20), Polls: store.PollCount{OK: 18, Total: 24}},
			score: 88, status: HealthHealthy,
			parts: "availability 19/25: 18 of 24 polls in the last 24h worked (75%) | performance 25/25 | " + na,
		},
		{
			name:  "a flaky device lands in Warning",
			in:    HealthInput{State: online, Metrics: testMetrics(10, 20), Polls: store.PollCount{OK: 10, Total: 24}},
			score: 70, status: HealthWarning,
			parts: "availability 10/25: 10 of 24 polls in the last 24h worked (42%) | performance 25/25 | " + na,
		},
		{
			name: "an offline device scores no availability and has no current performance",
			in: HealthInput{State: DeviceState{Status: StatusOffline, HasMetrics: true, CPUPct: 99, LastSeen: at.Add(-2 * time.Hour)},
				Failures: 3},
			score: 0, status: HealthOffline,
			parts: "availability 0/25: offline: 3 polls in a row failed, last seen 2h ago | " +
				"performance n/a: no current data (device offline) | " + na,
		},
		{
			name:  "a device never polled is Unknown",
			in:    HealthInput{State: DeviceState{Status: StatusUnknown}},
			score: 0, status: HealthUnknown,
			parts: "availability n/a: not polled yet | performance n/a: no metrics yet | " + na,
		},
		{
			name:  "a device rmm cannot manage is Unknown with the reason",
			in:    HealthInput{State: DeviceState{Status: StatusUnknown, LastError: "poll ws-1: run metrics: 401 Unauthorized"}},
			score: 0, status: HealthUnknown,
			parts: "availability 0/25: cannot be managed: poll ws-1: run metrics: 401 Unauthorized | performance n/a: no metrics yet | " + na,
		},
		{
			name: "inventory facts score security and compliance",
			in: HealthInput{State: online, Metrics: testMetrics(10, 20), Thresholds: withServices, Facts: &HostFacts{
				DefenderEnabled: ptrTo(true), RealTimeProtection: ptrTo(false), SignaturesUpdated: at.Add(-5 * oneDay),
				FirewallEnabled: ptrTo(true), PendingReboot: ptrTo(true), PendingRebootSince: at.Add(-9 * oneDay),
				LastUpdateInstalled: at.Add(-10 * oneDay), Services: map[string]string{"Spooler": "Stopped"}}},
			score: 71, status: HealthWarning,
			parts: "availability 25/25 | performance 25/25 | " +
				"security 13/25: Defender real-time protection off; Defender signatures 5d old (limit 3d) | " +
				"compliance 8/25: reboot pending for 9d (limit 7d); watched services not running: Spooler",
		},
		{
			name: "facts without a security field leave security without data",
			in: HealthInput{State: online, Metrics: testMetrics(10, 20),
				Facts: &HostFacts{LastUpdateInstalled: at.Add(-40 * oneDay)}},
			score: 67, status: HealthWarning,
			parts: "availability 25/25 | performance 25/25 | security n/a: no data yet (inventory not collected) | " +
				"compliance 0/25: last update installed 40d ago (limit 30d)",
		},
		{
			name: "the weights decide the parts and their points",
			in: HealthInput{State: online, Metrics: testMetrics(91, 20),
				Weights: alerting.HealthWeights{Availability: 40, Performance: 60}},
			score: 88, status: HealthHealthy,
			parts: "availability 40/40 | performance 48/60: CPU 91% at or above warning 80%",
		},
		{
			name:  "without per-volume metrics the fullest disk of the device state is judged",
			in:    HealthInput{State: DeviceState{Status: StatusOnline, HasMetrics: true, CPUPct: 5, MemPct: 5, DiskFreePct: 8}},
			score: 80, status: HealthHealthy,
			parts: "availability 25/25 | performance 15/25: fullest disk 92% used at or above critical 90% | " + na,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.Thresholds.CPUWarning == 0 {
				in.Thresholds = alerting.DefaultThresholds()
			}
			in.At = at
			h := ScoreHealth(in)
			if h.Score != tt.score || h.Status != tt.status {
				t.Errorf("score %d %s, want %d %s", h.Score, h.Status, tt.score, tt.status)
			}
			if got := healthBreakdown(h); got != tt.parts {
				t.Errorf("breakdown\n got %s\nwant %s", got, tt.parts)
			}
		})
	}
}

func TestSummarizeHealthCountsAveragesTheScoredAndListsTheWorst(t *testing.T) {
	h := func(host string, score int, st HealthStatus) DeviceHealth {
		return DeviceHealth{Hostname: host, HealthScore: HealthScore{Score: score, Status: st}}
	}
	hs := []DeviceHealth{h("a", 100, HealthHealthy), h("b", 62, HealthWarning), h("c", 40, HealthCritical),
		h("d", 0, HealthOffline), h("e", 0, HealthUnknown), h("f", 90, HealthHealthy), h("g", 0, HealthCritical)}
	f := SummarizeHealth(hs, 3)
	if f.Devices != 7 || f.Scored != 5 || f.Average != 58.4 {
		t.Errorf("devices %d scored %d average %v, want 7 5 58.4", f.Devices, f.Scored, f.Average)
	}
	want := map[HealthStatus]int{HealthHealthy: 2, HealthWarning: 1, HealthCritical: 2, HealthOffline: 1, HealthUnknown: 1}
	for s, n := range want {
		if f.ByStatus[s] != n {
			t.Errorf("%s: %d, want %d", s, f.ByStatus[s], n)
		}
	}
	var worst []string
	for _, w := range f.Worst {
		worst = append(worst, w.Hostname)
	}
	if strings.Join(worst, ",") != "d,g,c" {
		t.Errorf("worst %v, want the offline d, then g and c", worst)
	}
	if all := SummarizeHealth(hs, 0); len(all.Worst) != 6 {
		t.Errorf("with no limit %d worst, want every device with a status (6)", len(all.Worst))
	}
	if empty := SummarizeHealth(nil, 10); empty.Average != 0 || empty.ByStatus[HealthHealthy] != 0 || len(empty.ByStatus) != 5 {
		t.Errorf("an empty fleet: %+v", empty)
	}
}

// TestEngineHealthReadsTheStoreAndWhatTheEngineSaw scores a device known
// only from the store (as in a CLI run) and one this engine polled.
func TestEngineHealthReadsTheStoreAndWhatTheEngineSaw(t *testing.T) {
	ctx := context.Background()
	db := openAlertStore(t)
	devs, err := db.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := map[string]int64{}
	for _, d := range devs {
		id[d.Hostname] = d.ID
	}
	// srv-2 polled by an earlier run: its status, volumes and polls are stored.
	w := store.NewWriter(db, store.WriterOptions{})
	w.Start()
	at := alertT0
	if err := w.AddStatus(ctx, store.StatusUpdate{DeviceID: id["srv-2"], Status: store.StatusOnline, At: at.Add(-time.Minute),
		HasMetrics: true, CPUPct: 20, MemPct: 30, DiskFreePct: 5}); err != nil {
		t.Fatal(err)
	}
	var rows []store.Metric
	for i := range 4 {
		ok := 1.0
		if i == 0 {
			ok = 0
		}
		rows = append(rows, store.Metric{DeviceID: id["srv-2"], Type: MetricPollOK, Value: ok, At: at.Add(-time.Duration(i+1) * time.Hour)})
	}
	rows = append(rows,
		store.Metric{DeviceID: id["srv-2"], Type: "disk_free_pct", Instance: "C:", Value: 5, At: at.Add(-time.Minute)},
		store.Metric{DeviceID: id["srv-2"], Type: "disk_free_pct", Instance: "D:", Value: 15, At: at.Add(-time.Minute)})
	if err := w.AddMetrics(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	e, err := New(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f := bookOn(t, db, AlertOptions{})
	e.alerts = f.book
	// srv-1 polled by this engine: busy for 7 minutes.
	f.ok("srv-1", 0, 90, 10, volume("C:", 10))
	f.ok("srv-1", 7, 90, 10, volume("C:", 10))
	e.mu.Lock()
	e.devices[id["srv-1"]].state.Status = StatusOnline
	e.devices[id["srv-1"]].state.HasMetrics = true
	e.mu.Unlock()

	hs, err := e.Health(ctx, atMinute(7))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]DeviceHealth{}
	for _, h := range hs {
		got[h.Hostname] = h
	}
	if len(hs) != 3 || hs[0].Hostname != "srv-2" || hs[2].Hostname != "ws-1" {
		t.Fatalf("order %v, want the worst (srv-2) first and the unknown ws-1 last", hs)
	}
	if s := healthBreakdown(got["srv-2"].HealthScore); !strings.HasPrefix(s, "availability 19/25: 3 of 4 polls in the last 24h worked (75%) | "+
		"performance 10/25: disk C: 95% used at or above critical 90%; disk D: 85% used at or above warning 80% |") {
		t.Errorf("srv-2 from the store: %s", s)
	}
	if s := healthBreakdown(got["srv-1"].HealthScore); !strings.HasPrefix(s, "availability 25/25 | performance 20/25: CPU 90% at or above warning 80% for 7m |") {
		t.Errorf("srv-1 from the engine: %s", s)
	}
	if g := got["ws-1"]; g.Status != HealthUnknown {
		t.Errorf("ws-1 never polled: %+v", g)
	}

	fh, err := Call(ctx, e, Identity{User: "v", Role: RoleViewer, Via: ViaCLI}, HealthReport{Worst: 1})
	if err != nil {
		t.Fatal(err)
	}
	if fh.Devices != 3 || fh.Scored != 2 || len(fh.Worst) != 1 || fh.Worst[0].Hostname != "srv-2" {
		t.Errorf("report %+v", fh)
	}
}
