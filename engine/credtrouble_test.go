package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// credAlerts splits the active alerts into the device-less
// credential_unavailable ones and the per-device unmanageable ones.
func credAlerts(eng *engine.Engine) (cred, perDevice []engine.Alert) {
	for _, a := range eng.ActiveAlerts() {
		switch {
		case a.DeviceID == 0 && a.Type == engine.AlertTypeCredentialUnavailable:
			cred = append(cred, a)
		case a.DeviceID != 0 && a.Type == engine.AlertTypeUnmanageable:
			perDevice = append(perDevice, a)
		}
	}
	return cred, perDevice
}

// Newcomer B2: a credential the devices name but nobody stored is one
// alert for the admin with the command that fixes it, not an Unknown
// fleet with an alert per device; storing it resolves the alert at the
// next sweep.
func TestACredentialDevicesNameButNobodyStoredIsOneAlertWithTheFix(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 8, Seed: 31})
	ctx := context.Background()
	ds, err := db.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pinned []store.DeviceInput
	for _, d := range ds[:3] {
		pinned = append(pinned, store.DeviceInput{Hostname: d.Hostname, CredentialID: "branch-admin"})
	}
	if _, err := db.UpsertDevices(ctx, pinned); err != nil {
		t.Fatal(err)
	}
	vault := creds.NewMemoryStore()
	if err := vault.Set(ctx, creds.Credential{Name: creds.DefaultName, User: winrmsim.DefaultUser, Secret: creds.SecretFromBytes([]byte(winrmsim.DefaultPassword))}); err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t, db, engine.Options{Credentials: vault, Retries: -1})
	before := fleet.Stats().AuthFailures
	res := sweep(t, eng)
	cred, perDevice := credAlerts(eng)
	if len(perDevice) > 0 {
		t.Errorf("per-device alerts: %+v", perDevice)
	}
	if len(cred) != 1 || cred[0].Instance != "branch-admin" || !strings.Contains(cred[0].Message, "3 device(s) not polled") ||
		!strings.Contains(cred[0].Message, "rmm creds set branch-admin") {
		t.Fatalf("credential alerts %+v, want one for branch-admin naming 3 devices and the fix", cred)
	}
	if res.Errors["configuration"] != 3 || res.Online+res.Offline != 5 {
		t.Errorf("sweep %+v: want the 5 others polled and 3 configuration errors", res)
	}
	if n := fleet.Stats().AuthFailures - before; n != 0 {
		t.Errorf("%d requests were refused by the hosts: a credential was sent where there was none", n)
	}
	isPinned := map[string]bool{}
	for _, p := range pinned {
		isPinned[p.Hostname] = true
	}
	for _, d := range eng.Devices() {
		if isPinned[d.Hostname] && d.Status != engine.StatusUnknown {
			t.Errorf("%s: %s, want its status untouched (never polled: Unknown)", d.Hostname, d.Status)
		}
	}

	if _, err := engine.Call(ctx, eng, admin, engine.SetCredential{Name: "branch-admin", User: winrmsim.DefaultUser,
		Secret: creds.SecretFromBytes([]byte(winrmsim.DefaultPassword))}); err != nil {
		t.Fatal(err)
	}
	sweep(t, eng)
	if cred, _ := credAlerts(eng); len(cred) != 0 {
		t.Errorf("after storing the credential: %+v", cred)
	}
	for _, d := range eng.Devices() {
		if d.Status == engine.StatusUnknown {
			t.Errorf("%s still Unknown after the credential was stored", d.Hostname)
		}
	}
}

// Newcomer B2: with no credential at all (a locked vault), polling is
// off: sweeps and "poll now" are refused with the reason, nothing is
// sent, the summary carries the reason for the console's banner and one
// alert says it; polling on again resolves it.
func TestPollingOffRefusesSweepsSendsNothingAndSaysWhyOnce(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 6, Seed: 32})
	ctx := context.Background()
	eng, err := engine.New(ctx, db, engine.Options{Timeout: 5 * time.Second, Writer: store.WriterOptions{FlushInterval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	why := errors.New("vault locked: no passphrase given: set RMM_VAULT_PASSPHRASE or use --identity FILE")
	if err := eng.SetPollingOff(ctx, why); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Sweep(ctx); err == nil || !strings.Contains(err.Error(), "polling is off: vault locked") {
		t.Errorf("Sweep = %v, want the refusal with the reason", err)
	}
	if _, err := engine.Call(ctx, eng, admin, engine.PollNow{}); err == nil || !strings.Contains(err.Error(), "RMM_VAULT_PASSPHRASE") {
		t.Errorf("PollNow = %v, want the refusal with the fix", err)
	}
	if got := eng.Summary().PollingOff; got != why.Error() {
		t.Errorf("Summary().PollingOff = %q", got)
	}
	if n := fleet.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached the hosts while polling was off", n)
	}
	cred, perDevice := credAlerts(eng)
	if len(cred) != 1 || cred[0].Instance != "polling" || !strings.Contains(cred[0].Message, "polling is off: vault locked") || len(perDevice) != 0 {
		t.Fatalf("alerts %+v %+v, want one polling-off alert", cred, perDevice)
	}
	if err := eng.SetPollingOff(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if cred, _ := credAlerts(eng); len(cred) != 0 || eng.Summary().PollingOff != "" {
		t.Errorf("polling on again: alerts %+v, summary %q", cred, eng.Summary().PollingOff)
	}
}

// Newcomer B2: an engine with no credential anywhere never sends an
// empty one (each host would answer 401 and the fleet turn Unknown).
func TestAnEngineWithNoCredentialSendsNothing(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 5, Seed: 33})
	ctx := context.Background()
	eng, err := engine.New(ctx, db, engine.Options{Timeout: 5 * time.Second, Retries: -1, Writer: store.WriterOptions{FlushInterval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	res := sweep(t, eng)
	if n := fleet.Stats().AuthFailures; n != 0 {
		t.Errorf("%d requests refused by the hosts: an empty credential was sent", n)
	}
	cred, perDevice := credAlerts(eng)
	if len(perDevice) != 0 || len(cred) != 1 || !strings.Contains(cred[0].Message, "no WinRM credential") ||
		!strings.Contains(cred[0].Message, "5 device(s) not polled") {
		t.Errorf("alerts %+v / %+v, want one naming the missing credential and the 5 devices; sweep %+v", cred, perDevice, res)
	}
}

// Newcomer: after a reboot the grid still said Online and nothing on the
// Overview showed it; the device's state carries its last boot, and a
// reboot moves it.
func TestADevicesStateCarriesItsLastBootAndARebootMovesIt(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 34})
	eng := newEngine(t, db, engine.Options{Retries: -1})
	sweep(t, eng)
	var host string
	var before time.Time
	for _, d := range eng.Devices() {
		if d.Status == engine.StatusOnline {
			host, before = d.Hostname, d.LastBoot
			break
		}
	}
	if host == "" || before.IsZero() || before.After(time.Now()) {
		t.Fatalf("no online device with a last boot in the past: %+v", eng.Devices())
	}
	if err := fleet.Reboot(host); err != nil {
		t.Fatal(err)
	}
	sweep(t, eng)
	for _, d := range eng.Devices() {
		if d.Hostname == host && !d.LastBoot.After(before) {
			t.Errorf("%s: last boot %v after the reboot, was %v", host, d.LastBoot, before)
		}
	}
}

// Newcomer: rmm health said "WS-0005 80 Healthy" while a disk alert on it
// was Critical. An unresolved Critical alert makes the device Critical, a
// High one at most Warning, and the score says why.
func TestAnUnresolvedCriticalAlertMakesADeviceCriticalWhateverItsScore(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	in := engine.HealthInput{State: engine.DeviceState{ID: 5, Hostname: "WS-0005", Status: engine.StatusOnline, HasMetrics: true,
		CPUPct: 10, MemPct: 20, DiskFreePct: 50}, Thresholds: alerting.DefaultThresholds(), At: at}
	if h := engine.ScoreHealth(in); h.Status != engine.HealthHealthy || h.Because != "" {
		t.Fatalf("without alerts: %+v", h)
	}
	in.Alerts = []engine.Alert{{DeviceID: 5, Severity: engine.SeverityHigh, State: engine.AlertActive, Message: "offline 3 polls"}}
	if h := engine.ScoreHealth(in); h.Status != engine.HealthWarning || !strings.Contains(h.Because, "High alert: offline") {
		t.Errorf("with a High alert: %+v", h)
	}
	in.Alerts = append(in.Alerts, engine.Alert{DeviceID: 5, Severity: engine.SeverityCritical, State: engine.AlertAcknowledged, Message: "disk C: 95% used"})
	h := engine.ScoreHealth(in)
	if h.Status != engine.HealthCritical || h.Because != "Critical alert: disk C: 95% used" || h.Score < 80 {
		t.Errorf("with an acknowledged Critical alert: %+v (the score stays, the status follows the alert)", h)
	}
}
