package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/relay"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

func TestRelayEnrollWritesASecretCredentialsFileAndStatusListsTheSite(t *testing.T) {
	c := newCLI(t)
	out := filepath.Join(c.home, "relay-branch1.creds")
	code, stdout, stderr := c.run("relay", "enroll", "branch1", "--hub", "tls://central.example.com:7422", "--out", out)
	if code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "enrolled site branch1") || strings.Contains(stdout+stderr, "password") {
		t.Fatalf("enroll said: %q %q", stdout, stderr)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v, want 0600", st.Mode().Perm())
	}
	cr, err := relay.ReadCreds(out)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Site != "branch1" || cr.Hub != "tls://central.example.com:7422" || len(cr.Password) < 40 {
		t.Fatalf("credentials %+v", cr)
	}
	// The file is never replaced.
	if code, _, stderr := c.run("relay", "enroll", "branch1", "--hub", "tls://central.example.com:7422", "--out", out); code != 2 || !strings.Contains(stderr, "exists") {
		t.Fatalf("second enroll to the same file: exit %d: %s", code, stderr)
	}
	code, stdout, stderr = c.run("relay", "status", "--json")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	var sites []relaySite
	if err := json.Unmarshal([]byte(stdout), &sites); err != nil {
		t.Fatalf("status --json: %v: %s", err, stdout)
	}
	if len(sites) != 1 || sites[0].Site != "branch1" {
		t.Fatalf("status: %+v", sites)
	}
	// Revoked: gone from the list.
	if code, _, stderr := c.run("relay", "revoke", "branch1"); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, stderr)
	}
	if code, stdout, _ := c.run("relay", "status", "--json"); code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("status after revoke: %s", stdout)
	}
	if code, _, _ := c.run("relay", "revoke", "branch1"); code == 0 {
		t.Fatal("a second revoke of the same site succeeded")
	}
	// The audit has the enrolment, without the password.
	code, stdout, _ = c.run("audit", "--json")
	if code != 0 || !strings.Contains(stdout, "relay.enroll") || strings.Contains(stdout, cr.Password) {
		t.Fatalf("audit after enroll (exit %d): %s", code, stdout)
	}
}

func TestRelayEnrollIsRefusedReadOnlyAndWithoutAHubAddress(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run("--read-only", "relay", "enroll", "s1", "--hub", "tls://h.example:7422", "--out", filepath.Join(c.home, "x.creds")); code != 3 {
		t.Fatalf("read-only enroll: exit %d: %s", code, stderr)
	}
	if code, _, stderr := c.run("relay", "enroll", "s1", "--out", filepath.Join(c.home, "y.creds")); code != 2 || !strings.Contains(stderr, "relay.public_url") {
		t.Fatalf("enroll without a hub: exit %d: %s", code, stderr)
	}
	if code, _, stderr := c.run("relay", "enroll", "s1", "--hub", "http://h.example", "--out", filepath.Join(c.home, "z.creds")); code != 2 {
		t.Fatalf("enroll with an http hub: exit %d: %s", code, stderr)
	}
}

func TestRelayRefusesCredentialsOfAnotherSiteAndAMissingFile(t *testing.T) {
	c := newCLI(t)
	out := filepath.Join(c.home, "s1.creds")
	if code, _, stderr := c.run("relay", "enroll", "s1", "--hub", "nats-leaf://127.0.0.1:7422", "--out", out); code != 0 {
		t.Fatalf("enroll: %s", stderr)
	}
	if code, _, stderr := c.run("relay", "--site", "s2", "--creds", out); code != 2 || !strings.Contains(stderr, "for site s1") {
		t.Fatalf("relay --site s2 with s1's file: exit %d: %s", code, stderr)
	}
	if code, _, stderr := c.run("relay", "--creds", filepath.Join(c.home, "none.creds")); code != 2 {
		t.Fatalf("relay with a missing file: exit %d: %s", code, stderr)
	}
	if code, _, stderr := c.run("relay"); code != 2 || !strings.Contains(stderr, "--creds") {
		t.Fatalf("relay without --creds: exit %d: %s", code, stderr)
	}
}

func TestRmmPollAtCentralNeverReachesAnEnrolledSitesDevices(t *testing.T) {
	fleet := startFleet(t, winrmsim.Config{Devices: 4, Seed: 3})
	recs := readCSV(t, fleetCSV(t, fleet))
	var relayed []string
	for i, r := range recs[1:] {
		if i < 3 {
			r[4] = "branch1"
			relayed = append(relayed, r[0])
		} else {
			r[4] = "main"
		}
	}
	csvPath := filepath.Join(t.TempDir(), "sites.csv")
	writeCSV(t, csvPath, recs)
	c := newCLI(t)
	if code, _, errb := c.run("import", csvPath); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	if code, _, errb := c.run("relay", "enroll", "branch1", "--hub", "nats-leaf://127.0.0.1:7422", "--out", filepath.Join(c.home, "b.creds")); code != 0 {
		t.Fatalf("enroll: %s", errb)
	}
	c.env["RMM_WINRM_USER"], c.env["RMM_WINRM_PASSWORD"] = winrmsim.DefaultUser, winrmsim.DefaultPassword
	code, out, errb := c.run("poll", "--once", "--json")
	if code != 0 {
		t.Fatalf("poll: exit %d: %s", code, errb)
	}
	var res engine.SweepResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Devices != 1 {
		t.Fatalf("poll swept %+v (%v), want central's 1 device", res, err)
	}
	for _, h := range relayed {
		if st, _ := fleet.HostStats(h); st.Requests != 0 {
			t.Fatalf("rmm poll sent %d requests to %s of the relayed site", st.Requests, h)
		}
	}
	code, out, errb = c.run("doctor", relayed[0])
	if code == 0 || !strings.Contains(out+errb, "site relay polls") {
		t.Fatalf("doctor of a relayed device: exit %d: %s %s", code, out, errb)
	}
	if st, _ := fleet.HostStats(relayed[0]); st.Requests != 0 {
		t.Fatalf("rmm doctor reached a relayed device (%d requests)", st.Requests)
	}
}

func TestTheRelayHubRefusesToListenOffLoopbackWithoutTLS(t *testing.T) {
	a, _, _ := setupApp(t)
	ctx := context.Background()
	db, err := a.openStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PutRelaySite(ctx, store.RelaySite{Site: "b1", LeafUser: "relay-b1", PassHash: "$2a$10$abcdefghijklmnopqrstuuJ3yQ0m1vQ3ZrQy9vQ0m1vQ3ZrQy9vQ0m"}); err != nil {
		t.Fatal(err)
	}
	a.cfg.Relay.Listen = "0.0.0.0:7422"
	_, err = a.startRelayHub(ctx, nil, db)
	if err == nil || !strings.Contains(err.Error(), "relay.tls_cert") || !strings.Contains(err.Error(), "off loopback") {
		t.Fatalf("off-loopback listener without TLS: %v", err)
	}
	a.cfg.Relay.TLSCert, a.cfg.Relay.TLSKey = "/nonexistent/hub.crt", "/nonexistent/hub.key"
	if _, err = a.startRelayHub(ctx, nil, db); err == nil || !strings.Contains(err.Error(), "relay.tls_key") {
		t.Fatalf("missing certificate files: %v", err)
	}
}
