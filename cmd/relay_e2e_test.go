package cmd

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// TestACentralConsoleRuntimeAndAnRmmRelayProcessShareASite runs what
// an admin runs: central's fleet runtime (the console's and rmm serve's)
// with relay.listen set, and `rmm relay --creds` as its own command with
// its own database; central gets the site's devices Online with metrics
// from the relay, and its own sweeps poll its own site only.
func TestACentralConsoleRuntimeAndAnRmmRelayProcessShareASite(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS servers: not in -short")
	}
	fleet := startFleet(t, winrmsim.Config{Devices: 4, Seed: 7})
	// Two hosts on site branch1 (the relay's), two on main (central's).
	recs := readCSV(t, fleetCSV(t, fleet))
	for i, r := range recs[1:] {
		r[4] = map[bool]string{true: "branch1", false: "main"}[i < 2]
	}
	csvPath := filepath.Join(t.TempDir(), "sites.csv")
	writeCSV(t, csvPath, recs)

	a, home, cfgPath := setupApp(t)
	const pass = "relay-e2e-passphrase"
	getenv := a.getenv
	a.getenv = func(k string) string {
		if k == "RMM_VAULT_PASSPHRASE" {
			return pass
		}
		return getenv(k)
	}
	central := &cli{t: t, home: home, env: map[string]string{"HOME": home, "RMM_VAULT_PASSPHRASE": pass}, keyringAnswer: errTestNoKeyring}
	if code, _, errb := central.run("--config", cfgPath, "--db", a.cfg.Store.DB, "import", csvPath); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hubAddr := ln.Addr().String()
	ln.Close()
	credsFile := filepath.Join(t.TempDir(), "branch1.creds")
	if code, _, errb := central.run("--config", cfgPath, "--db", a.cfg.Store.DB, "relay", "enroll", "branch1",
		"--hub", "nats-leaf://"+hubAddr, "--out", credsFile); code != 0 {
		t.Fatalf("enroll: %s", errb)
	}

	a.cfg.Relay.Listen = hubAddr
	ctx := context.Background()
	db, eng, err := a.openEngine(ctx, engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rt := a.newFleetRuntime(eng, true)
	if err := rt.start(ctx, db); err != nil {
		t.Fatal(err)
	}
	defer rt.stop()
	if rt.hub == nil {
		t.Fatal("relay.listen is set and a site is enrolled, but no hub started")
	}

	// The relay: its own home, database and credentials (the WinRM ones
	// from its environment).
	site := newCLI(t)
	site.env["RMM_WINRM_USER"], site.env["RMM_WINRM_PASSWORD"] = winrmsim.DefaultUser, winrmsim.DefaultPassword
	site.env["RMM_VAULT_PASSPHRASE"] = "relay-side-passphrase"
	rctx, stop := context.WithCancel(ctx)
	exited := make(chan int, 1)
	var relayErr strings.Builder
	go func() {
		var out strings.Builder
		exited <- site.app(strings.NewReader(""), &out, &relayErr).execute(rctx,
			[]string{"--db", filepath.Join(site.home, "relay.db"), "relay", "--site", "branch1", "--creds", credsFile})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for centralOnline(t, a.cfg.Store.DB, "branch1") < 2 {
		select {
		case code := <-exited:
			t.Fatalf("rmm relay exited %d: %s", code, relayErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("central never saw branch1's devices Online")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, d := range eng.Devices() {
		if d.Site == "branch1" && (d.Mode != engine.ModeRelay || !d.HasMetrics) {
			t.Errorf("%s at central: mode %q, metrics %v; want the relay's poll", d.Hostname, d.Mode, d.HasMetrics)
		}
		if d.Site == "main" && d.Mode == engine.ModeRelay {
			t.Errorf("%s of central's own site shows as relayed", d.Hostname)
		}
	}
	stop()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("rmm relay exited %d on interrupt: %s", code, relayErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("rmm relay did not stop")
	}
	if !strings.Contains(relayErr.String(), "site branch1, dialling nats-leaf://") {
		t.Errorf("rmm relay's banner: %q", relayErr.String())
	}
	code, out, errb := central.run("--config", cfgPath, "--db", a.cfg.Store.DB, "relay", "status", "--json")
	var st []relaySite
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st) != 1 || st[0].Devices != 2 || st[0].Online != 2 || st[0].LastResult.IsZero() {
		t.Fatalf("relay status (exit %d): %s %s", code, out, errb)
	}
}

func centralOnline(t *testing.T, path, site string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM devices d JOIN sites s ON s.id = d.site_id
		WHERE s.name = ? AND d.status = 'Online' AND d.metrics_at IS NOT NULL`, site).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func writeCSV(t *testing.T, path string, recs [][]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
