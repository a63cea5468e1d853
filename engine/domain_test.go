package engine_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/internal/mitkdc"
	"github.com/rmmhq/rmm/store"
)

// Domain fleets through the engine: a real MIT KDC, the simulator's
// joined hosts imported from its CSV (FQDN, Auth negotiate), and the
// engine's sweeps and doctor.

const engineRealm = "ENGINE.TEST"

// domainUser is the domain account the joined hosts accept.
var domainUser = engine.Credential{User: winrmsim.DefaultUser + "@" + engineRealm, Password: winrmsim.DefaultPassword}

// domainFleet starts a KDC and a fleet joined to its realm, imports it
// and returns the fleet, the database and the KDC.
func domainFleet(t *testing.T, cfg winrmsim.Config) (*winrmsim.Fleet, *store.DB, *mitkdc.KDC) {
	t.Helper()
	return domainFleetCSV(t, cfg, nil)
}

// domainFleetCSV is domainFleet with the CSV edited before the import.
func domainFleetCSV(t *testing.T, cfg winrmsim.Config, edit func(string) string) (*winrmsim.Fleet, *store.DB, *mitkdc.KDC) {
	t.Helper()
	if err := mitkdc.Available(); err != nil {
		t.Skipf("Kerberos tests need an MIT KDC: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := mitkdc.Start(ctx, t.TempDir(), mitkdc.Options{Realm: engineRealm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Stop() })
	if err := k.AddUser(ctx, winrmsim.DefaultUser, winrmsim.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	cfg.Domain, cfg.KDC = engineRealm, k.Addr
	if cfg.Profile == "" {
		cfg.Profile = "domain"
	}
	probe, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var fqdns []string
	for _, h := range probe.Hosts() {
		if h.FQDN != "" {
			fqdns = append(fqdns, h.FQDN)
		}
	}
	if cfg.Keytab, err = k.AddHosts(ctx, fqdns); err != nil {
		t.Fatal(err)
	}
	fleet, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.Start(context.Background()); err != nil { // serves until Close
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fleet.Close() })
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var buf bytes.Buffer
	if err := fleet.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		text := edit(buf.String())
		buf.Reset()
		buf.WriteString(text)
	}
	if _, problems, err := csvimport.Import(ctx, db, "fleet.csv", &buf, csvimport.Options{}); err != nil {
		t.Fatalf("import: %v %v", err, problems)
	}
	return fleet, db, k
}

// domainEngine is an engine set up for the KDC, with no krb5.conf.
func domainEngine(t *testing.T, db *store.DB, k *mitkdc.KDC, o engine.Options) *engine.Engine {
	t.Helper()
	if o.Credential.User == "" {
		o.Credential = domainUser
	}
	eng := newEngine(t, db, o)
	if err := eng.SetTransportOptions(winrm.TransportOptions{Kerberos: winrm.KerberosOptions{
		KDCs: map[string][]string{engineRealm: {k.Addr}}, NoKrb5Conf: true}}); err != nil {
		t.Fatal(err)
	}
	return eng
}

func TestADomainFleetIsPolledWarmWithKerberosAndTheKDCIsAskedOnlyOnTheFirstSweep(t *testing.T) {
	fleet, db, k := domainFleet(t, winrmsim.Config{Devices: 6, Seed: 200})
	eng := domainEngine(t, db, k, engine.Options{})
	var kdcBefore int64
	for i := range 3 {
		res, err := eng.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Online != 6 || len(res.Errors) != 0 {
			t.Fatalf("sweep %d: %+v", i+1, res)
		}
		kdc := res.Pool.KDCRequests - kdcBefore
		kdcBefore = res.Pool.KDCRequests
		switch {
		case i == 0 && kdc != 2+6:
			t.Errorf("first sweep: %d KDC requests; want 8: a TGT (2) and a ticket per host (6)", kdc)
		case i > 0 && kdc != 0:
			t.Errorf("sweep %d: %d KDC requests; want none: tickets and contexts are kept", i+1, kdc)
		}
		if i > 0 && res.Pool.AuthHandshakes != 6 {
			t.Errorf("sweep %d: %d handshakes in all; want 6, one per kept connection", i+1, res.Pool.AuthHandshakes)
		}
	}
	for _, h := range fleet.Hosts() {
		if st := stateOf(t, eng, h.Hostname); st.Mode != engine.ModeWarm {
			t.Errorf("%s: mode %s; want warm", h.Hostname, st.Mode)
		}
	}
	if s := fleet.Stats(); s.KerberosContexts != 6 || s.PlainRefused != 0 || s.Sealed == 0 {
		t.Errorf("fleet %+v: want 6 Kerberos contexts and every message sealed", s)
	}
	if as, tgs := k.Requests(); as != 2 || tgs != 6 {
		t.Errorf("the KDC logged %d AS and %d TGS requests; want 2 and 6", as, tgs)
	}
}

func TestDoctorWalksEveryStepOfADomainHost(t *testing.T) {
	fleet, db, k := domainFleet(t, winrmsim.Config{Devices: 1, Seed: 201})
	eng := domainEngine(t, db, k, engine.Options{})
	host := fleet.Hosts()[0]
	rep, err := engine.Call(context.Background(), eng, engine.Identity{User: "op", Role: engine.RoleOperator, Via: engine.ViaCLI}, engine.Diagnose{Host: host.Hostname})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ step, detail string }{
		{"unencrypted policy", "message encryption"},
		{"auth offered", "Negotiate"},
		{"kerberos names", "HTTP/" + host.FQDN + "@" + engineRealm},
		{"kdc", k.Addr},
		{"clock skew", "within"},
		{"spn", "the KDC knows HTTP/" + host.FQDN},
		{"auth negotiate", "Negotiate chose kerberos"},
		{"encryption", "application/HTTP-SPNEGO-session-encrypted"},
		{"shell", ""},
		{"warm loop", "answers"},
		{"identity", host.Hostname},
	}
	for _, w := range want {
		if s := stepOf(rep, w.step); s.Status != "ok" || !strings.Contains(s.Detail, w.detail) {
			t.Errorf("step %s: %+v; want ok with %q", w.step, s, w.detail)
		}
	}
	if !rep.OK {
		t.Errorf("report: %+v", rep)
	}
}

func TestDoctorSaysWhyKerberosCannotReachADeviceKnownOnlyByItsAddress(t *testing.T) {
	// The device was imported by its address: no FQDN, its hostname an IP.
	fleet, db, k := domainFleetCSV(t, winrmsim.Config{Devices: 1, Seed: 202}, func(csv string) string {
		csv = strings.ReplaceAll(csv, "ws-0001."+strings.ToLower(engineRealm), "")
		return strings.ReplaceAll(csv, "WS-0001,", "127.0.0.1,")
	})
	host := fleet.Hosts()[0]
	host.Hostname = "127.0.0.1"
	ctx := context.Background()
	op := engine.Identity{User: "op", Role: engine.RoleOperator, Via: engine.ViaCLI}
	for _, tt := range []struct {
		auth, status, authDetail string
	}{
		{store.AuthKerberos, "fail", ""},
		{store.AuthNegotiate, "warn", "Negotiate chose ntlm"},
	} {
		setDevice(t, db, store.DeviceInput{Hostname: host.Hostname, Auth: tt.auth})
		eng := domainEngine(t, db, k, engine.Options{})
		rep, _ := engine.Call(ctx, eng, op, engine.Diagnose{Host: host.Hostname})
		s := stepOf(rep, "kerberos names")
		if s.Status != tt.status || !strings.Contains(s.Detail, "no host name") || !strings.Contains(s.Fix, "FQDN") {
			t.Errorf("auth %s: step %+v; want %s: no host name, fix the FQDN", tt.auth, s, tt.status)
		}
		if tt.authDetail != "" {
			if a := stepOf(rep, "auth "+tt.auth); a.Status != "ok" || !strings.Contains(a.Detail, tt.authDetail) {
				t.Errorf("auth %s: %+v; want %q", tt.auth, a, tt.authDetail)
			}
			if s := stepOf(rep, "warm loop"); s.Status != "ok" {
				t.Errorf("auth %s over NTLM: %+v; want the loop to answer", tt.auth, s)
			}
		}
	}
}
