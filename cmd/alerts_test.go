package cmd

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// seedAlerts stores three devices and an alert of each severity level on
// them in a database at path.
func seedAlerts(t *testing.T, path string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.UpsertDevices(ctx, []store.DeviceInput{{Hostname: "ws-1"}, {Hostname: "srv-1"}, {Hostname: "srv-2"}}); err != nil {
		t.Fatal(err)
	}
	devs, err := db.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dev := map[string]int64{}
	for _, d := range devs {
		dev[d.Hostname] = d.ID
	}
	at := time.Now().Add(-time.Hour)
	ids := map[string]int64{}
	for _, a := range []struct {
		host, typ, inst, sev string
	}{
		{"ws-1", "disk_used", "C:", "Medium"},
		{"srv-1", "disk_used", "D:", "Critical"},
		{"srv-2", "offline", "", "High"},
	} {
		got, _, err := db.RecordAlert(ctx, store.AlertDetection{Key: store.AlertKey{DeviceID: dev[a.host], Type: a.typ, Instance: a.inst},
			Severity: a.sev, Message: a.typ + " on " + a.host, At: at}, at)
		if err != nil {
			t.Fatal(err)
		}
		ids[a.host] = got.ID
	}
	return ids
}

func TestAlertsCanBeListedAcknowledgedAndResolvedFromTheCommandLine(t *testing.T) {
	c := newCLI(t)
	db := filepath.Join(t.TempDir(), "rmm.db")
	ids := seedAlerts(t, db)
	run := func(args ...string) (int, string, string) { return c.run(append([]string{"--db", db}, args...)...) }

	code, out, errb := run("alerts", "--json")
	if code != 0 {
		t.Fatalf("alerts --json: exit %d %s", code, errb)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 3 {
		t.Fatalf("alerts --json: %v %s", err, out)
	}
	keys := make([]string, 0, len(list[0]))
	for k := range list[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"ack_note", "acked_at", "acked_by", "auto_resolved", "count", "device_id", "first_seen", "hostname", "id",
		"instance", "last_seen", "message", "resolve_note", "resolved_at", "resolved_by", "severity", "snooze_note", "snoozed_by", "snoozed_until", "state", "type"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("alert JSON keys %v, want %v", keys, want)
	}
	var order []string
	for _, a := range list {
		order = append(order, a["severity"].(string))
	}
	if strings.Join(order, ",") != "Critical,High,Medium" || list[0]["acked_at"] != nil || list[0]["instance"] != "D:" {
		t.Fatalf("alerts --json: %v", list)
	}

	code, out, _ = run("alerts")
	if code != 0 || !strings.Contains(out, "SEVERITY") || !strings.Contains(out, "disk_used D:") || !strings.Contains(out, "3 alerts") {
		t.Fatalf("alerts table: exit %d\n%s", code, out)
	}

	id := strconv.FormatInt(ids["srv-1"], 10)
	code, _, errb = run("--read-only", "alerts", "ack", id)
	if code != 3 || !strings.Contains(errb, "permission denied: Viewer may not alerts.ack") {
		t.Fatalf("read-only ack: exit %d %q", code, errb)
	}
	code, out, errb = run("alerts", "ack", id, "--note", "on it", "--json")
	if code != 0 {
		t.Fatalf("ack: exit %d %s", code, errb)
	}
	var acked map[string]any
	if err := json.Unmarshal([]byte(out), &acked); err != nil || acked["state"] != "Acknowledged" ||
		acked["ack_note"] != "on it" || acked["acked_by"] == nil || acked["acked_at"] == nil {
		t.Fatalf("ack --json: %v %s", err, out)
	}
	code, _, errb = run("alerts", "ack", id)
	if code != 1 || !strings.Contains(errb, "already acknowledged by") {
		t.Fatalf("second ack: exit %d %q", code, errb)
	}
	code, out, errb = run("alerts", "resolve", id, "--note", "replaced the disk")
	if code != 0 || !strings.Contains(out, "alert "+id+" (Critical disk_used on srv-1) resolved by") {
		t.Fatalf("resolve: exit %d %q %q", code, out, errb)
	}
	code, _, errb = run("alerts", "ack", id)
	if code != 1 || !strings.Contains(errb, "already resolved by") {
		t.Fatalf("ack of a resolved alert: exit %d %q", code, errb)
	}
	code, _, errb = run("alerts", "resolve", "99999")
	if code != 1 || !strings.Contains(errb, "alert 99999: not found") {
		t.Fatalf("resolve of an unknown alert: exit %d %q", code, errb)
	}

	code, out, _ = run("alerts", "--state", "resolved", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || len(list) != 1 ||
		list[0]["resolve_note"] != "replaced the disk" || list[0]["auto_resolved"] != false {
		t.Fatalf("resolved alerts: %v %s", err, out)
	}
	code, out, _ = run("alerts", "--severity", "high", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || len(list) != 1 || list[0]["type"] != "offline" {
		t.Fatalf("high alerts: %v %s", err, out)
	}
	if code, out, _ = run("alerts", "--state", "all", "--json", "--limit", "1"); code != 0 || strings.Count(out, `"id"`) != 1 {
		t.Fatalf("--limit 1: %s", out)
	}

	for _, bad := range [][]string{{"alerts", "ack", "abc"}, {"alerts", "--state", "gone"}, {"alerts", "--severity", "Warning"}} {
		if code, _, errb := run(bad...); code != 2 {
			t.Errorf("rmm %v: exit %d %q, want 2", bad, code, errb)
		}
	}

	code, out, _ = run("audit", "--json", "--action", "alerts.ack")
	var audit []map[string]any
	if err := json.Unmarshal([]byte(out), &audit); err != nil || code != 0 {
		t.Fatalf("audit: %v %s", err, out)
	}
	var results []string
	for _, r := range audit {
		if r["result"] != store.AuditPending { // each ack is written pending first
			results = append(results, r["result"].(string))
		}
	}
	slices.Sort(results)
	if strings.Join(results, ",") != "denied,failure,failure,success" {
		t.Fatalf("alerts.ack audit results %v", results)
	}
}

func TestHealthSummarisesTheFleetAsJSONAndText(t *testing.T) {
	c := newCLI(t)
	db := filepath.Join(t.TempDir(), "rmm.db")
	seedAlerts(t, db)
	code, out, errb := c.run("--db", db, "health", "--json")
	if code != 0 {
		t.Fatalf("health --json: exit %d %s", code, errb)
	}
	var h map[string]any
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !reflect.DeepEqual(keys, []string{"average_score", "by_status", "devices", "scored", "worst"}) {
		t.Fatalf("health JSON keys %v", keys)
	}
	if h["devices"] != 3.0 || h["average_score"] != nil || h["by_status"].(map[string]any)["Unknown"] != 3.0 || len(h["worst"].([]any)) != 0 {
		t.Fatalf("health of a fleet never polled: %s", out)
	}
	code, out, _ = c.run("--db", db, "health")
	if code != 0 || !strings.Contains(out, "3 devices: 0 Offline, 0 Critical, 0 Warning, 0 Healthy, 3 Unknown") ||
		!strings.Contains(out, "no device scored yet") {
		t.Fatalf("health text:\n%s", out)
	}
	if code, _, _ := c.run("--db", db, "health", "--worst", "-1"); code != 2 {
		t.Errorf("--worst -1: exit %d, want 2", code)
	}
}

// TestPollsRaiseOfflineAlertsAndScoreHealthAcrossRuns polls a simulated
// fleet twice with one-shot runs: the offline hosts raise their alert on
// the second failed poll, and health scores the rest.
func TestPollsRaiseOfflineAlertsAndScoreHealthAcrossRuns(t *testing.T) {
	fleet := startFleet(t, winrmsim.Config{Devices: 8, Seed: 5, OfflineFraction: 0.25})
	var offline []string
	for _, h := range fleet.Hosts() {
		if !h.Online {
			offline = append(offline, h.Hostname)
		}
	}
	if len(offline) == 0 || len(offline) == 8 {
		t.Fatalf("the seed gave %d offline hosts; the test needs some of each", len(offline))
	}
	c := newCLI(t)
	c.env["RMM_WINRM_USER"], c.env["RMM_WINRM_PASSWORD"] = winrmsim.DefaultUser, winrmsim.DefaultPassword
	db := filepath.Join(t.TempDir(), "rmm.db")
	csvPath := fleetCSV(t, fleet)
	if code, _, errb := c.run("--db", db, "import", csvPath); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	offlineAlerts := func() []string {
		t.Helper()
		code, out, errb := c.run("--db", db, "alerts", "--json")
		if code != 0 {
			t.Fatalf("alerts: %s", errb)
		}
		var list []alertJSON
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		var hosts []string
		for _, a := range list {
			if a.Type == "offline" {
				hosts = append(hosts, a.Hostname)
			}
		}
		slices.Sort(hosts)
		return hosts
	}
	if code, _, errb := c.run("--db", db, "poll", "--once"); code != 0 {
		t.Fatalf("poll: %s", errb)
	}
	if got := offlineAlerts(); len(got) != 0 {
		t.Fatalf("offline alerts after one poll: %v", got)
	}
	if code, _, errb := c.run("--db", db, "poll", "--once"); code != 0 {
		t.Fatalf("poll: %s", errb)
	}
	slices.Sort(offline)
	if got := offlineAlerts(); !slices.Equal(got, offline) {
		t.Fatalf("offline alerts after two polls %v, want %v", got, offline)
	}

	code, out, errb := c.run("--db", db, "health", "--json", "--worst", "0")
	if code != 0 {
		t.Fatalf("health: %s", errb)
	}
	var h healthJSON
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatal(err)
	}
	scored := h.ByStatus["Healthy"] + h.ByStatus["Warning"] + h.ByStatus["Critical"]
	if h.Devices != 8 || h.ByStatus["Offline"] != len(offline) || scored != 8-len(offline) || h.Scored != scored ||
		h.AverageScore == nil || len(h.Worst) != 8 {
		t.Fatalf("health %+v", h)
	}
	for _, d := range h.Worst {
		if len(d.Parts) != 4 || d.Parts[0].Name != "availability" {
			t.Fatalf("%s parts %+v", d.Hostname, d.Parts)
		}
	}
}

func TestAlertAndHealthHelpIsCompleteAndASCII(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{"alerts", "--help"}, {"alerts", "ack", "--help"}, {"alerts", "resolve", "--help"}, {"health", "--help"}} {
		code, out, errb := c.run(args...)
		if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "--json") || !strings.Contains(out, "--db") {
			t.Errorf("rmm %v: exit %d %s\n%s", args, code, errb, out)
		}
		for i, r := range out {
			if r > 0x7f {
				t.Errorf("rmm %v: non-ASCII %q at %d", args, r, i)
				break
			}
		}
	}
	_, out, _ := c.run("--help")
	for _, sub := range []string{"alerts", "health"} {
		if !strings.Contains(out, "  "+sub+" ") {
			t.Errorf("root help does not list %s", sub)
		}
	}
}

// Newcomer: 482 critical alerts and no way to act on one host's or one
// kind's at once. ack, resolve and snooze take --filter (the console's
// grammar), one note, one audit row; rmm alerts --filter lists them.
func TestAlertsAreAcknowledgedResolvedAndSnoozedByFilter(t *testing.T) {
	c := newCLI(t)
	db := filepath.Join(t.TempDir(), "rmm.db")
	ids := seedAlerts(t, db)
	run := func(args ...string) (int, string, string) {
		return c.run(append([]string{"--db", db}, args...)...)
	}
	code, out, _ := run("alerts", "--filter", "type:disk sort:-severity")
	if code != 0 || !strings.Contains(out, "2 alerts") || strings.Contains(out, "offline on srv-2") {
		t.Fatalf("list by filter: %d %q", code, out)
	}
	code, out, errb := run("alerts", "ack", "--filter", "type:disk", "--note", "ticket 1234")
	if code != 0 || !strings.Contains(out, "2 alerts acknowledged by") {
		t.Fatalf("ack by filter: %d %q %q", code, out, errb)
	}
	// Again: the Active ones only, so nothing to do and nothing failed.
	if code, out, _ := run("alerts", "ack", "--filter", "type:disk"); code != 0 || !strings.Contains(out, "0 alerts acknowledged") {
		t.Errorf("ack by filter again: %d %q", code, out)
	}
	code, out, _ = run("alerts", "snooze", strconv.FormatInt(ids["srv-2"], 10), "--for", "2h", "--note", "maintenance")
	if code != 0 || !strings.Contains(out, "snoozed until") {
		t.Fatalf("snooze: %d %q", code, out)
	}
	if code, out, _ := run("alerts", "--filter", "state:snoozed", "--json"); code != 0 || !strings.Contains(out, `"snooze_note": "maintenance"`) {
		t.Errorf("the snoozed alert by filter: %d %q", code, out)
	}
	if code, _, errb := run("alerts", "snooze", "--filter", "host:srv"); code != 2 || !strings.Contains(errb, "--for is required") {
		t.Errorf("snooze without --for: %d %q", code, errb)
	}
	if code, _, errb := run("alerts", "ack", "--filter", "cpu>abc"); code != 2 || !strings.Contains(errb, "unknown field") {
		t.Errorf("a bad filter: %d %q", code, errb)
	}
	if code, _, errb := run("alerts", "resolve", "1", "--filter", "host:x"); code != 2 {
		t.Errorf("an id and a filter: %d %q", code, errb)
	}
	code, out, _ = run("alerts", "resolve", "--filter", "host:srv", "--note", "fixed", "--json")
	var res struct {
		Changed []alertJSON `json:"changed"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Changed) != 2 || res.Changed[0].ResolveNote != "fixed" {
		t.Errorf("resolve by filter: %d %q", code, out)
	}
	code, out, _ = run("audit", "--json")
	if code != 0 || !strings.Contains(out, "alerts matching type:disk") || !strings.Contains(out, "ticket 1234") {
		t.Errorf("the bulk ack is not audited with its filter and note: %d", code)
	}
}
