package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// caFile writes the fleet's CA certificate where winrm.ca_bundle can
// point, and returns the path.
func caFile(t *testing.T, fleet *winrmsim.Fleet) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sim-ca.pem")
	if err := os.WriteFile(p, fleet.CA().CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// setDevice changes the transport fields of one imported device.
func setDevice(t *testing.T, db *store.DB, in store.DeviceInput) {
	t.Helper()
	if _, err := db.UpsertDevices(context.Background(), []store.DeviceInput{in}); err != nil {
		t.Fatal(err)
	}
}

// pollOne polls a device by hostname and returns its state.
func pollOne(t *testing.T, eng *engine.Engine, host string) engine.DeviceState {
	t.Helper()
	for _, d := range eng.Devices() {
		if d.Hostname == host {
			st, err := eng.PollDevice(context.Background(), d.ID, true)
			if err != nil {
				t.Fatalf("poll %s: %v", host, err)
			}
			return st
		}
	}
	t.Fatalf("no device %s", host)
	return engine.DeviceState{}
}

// syncBuffer is a log sink the engine's goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHTTPSHostsAreVerifiedWithTheCABundleAndPolledThroughThePool(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 6, Seed: 3, TLS: &winrmsim.TLSOptions{}})
	for _, h := range fleet.Hosts() {
		if h.Transport != "https" {
			t.Fatalf("%s serves %s", h.Hostname, h.Transport)
		}
	}
	eng := newEngine(t, db, engine.Options{Retries: -1})
	if err := eng.SetTransportOptions(winrm.TransportOptions{CABundle: caFile(t, fleet)}); err != nil {
		t.Fatal(err)
	}
	res, err := eng.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Online != 6 || len(res.Errors) != 0 {
		t.Fatalf("sweep over HTTPS: %+v", res)
	}
	if res.Pool.LoopStarts == 0 {
		t.Errorf("HTTPS Basic devices did not go through the session pool: %+v", res.Pool)
	}
}

func TestTLSFailuresAreConfigurationErrorsThatSayWhich(t *testing.T) {
	probe, err := winrmsim.New(winrmsim.Config{Devices: 3, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	names := probe.Hosts()
	good, wrong, expired := names[0].Hostname, names[1].Hostname, names[2].Hostname
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 8,
		TLS: &winrmsim.TLSOptions{WrongName: []string{wrong}, Expired: []string{expired}}})
	ctx := context.Background()

	noCA := newEngine(t, db, engine.Options{Retries: -1})
	st := pollOne(t, noCA, good)
	if st.Status != engine.StatusUnknown || !strings.Contains(st.LastError, "signed by an unknown authority") ||
		!strings.Contains(st.LastError, "ca_bundle") {
		t.Errorf("no CA bundle: %s %q", st.Status, st.LastError)
	}

	eng := newEngine(t, db, engine.Options{Retries: -1})
	if err := eng.SetTransportOptions(winrm.TransportOptions{CABundle: caFile(t, fleet)}); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{
		good:    "",
		wrong:   "wrong host name",
		expired: "expired on",
	} {
		st := pollOne(t, eng, host)
		switch {
		case want == "" && st.Status != engine.StatusOnline:
			t.Errorf("%s: %s %q", host, st.Status, st.LastError)
		case want != "" && (st.Status != engine.StatusUnknown || !strings.Contains(st.LastError, want)):
			t.Errorf("%s: %s %q, want Unknown and %q", host, st.Status, st.LastError, want)
		}
	}
	res, err := eng.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors["configuration"] != 2 {
		t.Errorf("errors by class %v, want 2 configuration", res.Errors)
	}
	if err := eng.SetTransportOptions(winrm.TransportOptions{CABundle: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("an unreadable winrm.ca_bundle was accepted")
	}
}

func TestInsecureSkipVerifyWorksAndIsLoggedAndAuditedOncePerDevice(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 5, TLS: &winrmsim.TLSOptions{}})
	host := fleet.Hosts()[0].Hostname
	yes := true
	setDevice(t, db, store.DeviceInput{Hostname: host, InsecureSkipVerify: &yes})
	var logs syncBuffer
	eng := newEngine(t, db, engine.Options{Retries: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 3 {
		if st := pollOne(t, eng, host); st.Status != engine.StatusOnline {
			t.Fatalf("insecure device: %s %q", st.Status, st.LastError)
		}
	}
	if st := pollOne(t, eng, fleet.Hosts()[1].Hostname); st.Status != engine.StatusUnknown {
		t.Errorf("a verified device without the CA went %s", st.Status)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"TLS certificate verification is skipped"); n != 1 {
		t.Errorf("%d WARN lines, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "device="+host) {
		t.Errorf("the WARN line does not name device=%s", host)
	}
	rows, err := db.ListAudit(context.Background(), store.AuditFilter{Action: "transport.insecure_skip_verify"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].User != engine.SystemIdentity().User || !strings.Contains(strings.Join(rows[0].Targets, ","), host) {
		t.Fatalf("audit rows %+v, want one by the system naming %s", rows, host)
	}
	if v, err := db.VerifyAudit(context.Background()); err != nil || !v.OK {
		t.Fatalf("audit chain: %+v %v", v, err)
	}
}

func TestBasicOverPlainHTTPIsRefusedUnlessTheDeviceAllowsIt(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 9})
	host := fleet.Hosts()[0].Hostname
	no := false
	setDevice(t, db, store.DeviceInput{Hostname: host, AllowUnencrypted: &no})
	eng := newEngine(t, db, engine.Options{Retries: -1})
	before := fleet.Stats().Requests
	st := pollOne(t, eng, host)
	if st.Status != engine.StatusUnknown || !strings.Contains(st.LastError, "Basic authentication over plain HTTP is refused") ||
		!strings.Contains(st.LastError, "AllowUnencrypted") {
		t.Fatalf("refused device: %s %q", st.Status, st.LastError)
	}
	if n := fleet.Stats().Requests - before; n != 0 {
		t.Errorf("%d requests reached the host; the password must not be sent", n)
	}
	yes := true
	setDevice(t, db, store.DeviceInput{Hostname: host, AllowUnencrypted: &yes})
	if err := eng.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := pollOne(t, eng, host); st.Status != engine.StatusOnline {
		t.Fatalf("allowed device: %s %q", st.Status, st.LastError)
	}
}

func TestNTLMDevicesArePolledWarmSealedOverHTTPAndAWrongPasswordIsAConfigurationError(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 10, TLS: &winrmsim.TLSOptions{Hosts: nil}})
	hosts := fleet.Hosts()
	for _, h := range hosts {
		setDevice(t, db, store.DeviceInput{Hostname: h.Hostname, Auth: store.AuthNTLM})
	}
	// A third host over HTTP, its AllowUnencrypted off as Windows' default:
	// NTLM's messages are sealed there.
	plain, err := winrmsim.New(winrmsim.Config{Devices: 1, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	ph := plain.Hosts()[0]
	setDevice(t, db, store.DeviceInput{Hostname: ph.Hostname + "-HTTP", IP: ph.IP, Port: ph.Port, Transport: "http", Auth: store.AuthNTLM})

	eng := newEngine(t, db, engine.Options{Retries: -1})
	if err := eng.SetTransportOptions(winrm.TransportOptions{CABundle: caFile(t, fleet)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res, err := eng.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Online != 2 || res.Errors["configuration"] != 1 {
			// The HTTP device answers as another computer (its hostname
			// is the simulator's): the identity check says so.
			t.Fatalf("sweep: %+v", res)
		}
	}
	for _, h := range hosts {
		st := stateOf(t, eng, h.Hostname)
		if st.Status != engine.StatusOnline || st.Mode != engine.ModeWarm {
			t.Errorf("%s over HTTPS: %s %s %q; want online, warm", h.Hostname, st.Status, st.Mode, st.LastError)
		}
	}
	if ps := plain.Stats(); ps.NTLMContexts != 1 || ps.Sealed == 0 || ps.PlainRefused != 0 {
		t.Errorf("the HTTP host %+v: want one NTLM context and sealed messages", ps)
	}

	wrong := newEngine(t, db, engine.Options{Retries: -1, Credential: engine.Credential{User: winrmsim.DefaultUser, Password: "not-it"}})
	if err := wrong.SetTransportOptions(winrm.TransportOptions{CABundle: caFile(t, fleet)}); err != nil {
		t.Fatal(err)
	}
	st := pollOne(t, wrong, hosts[0].Hostname)
	if st.Status != engine.StatusUnknown || !strings.Contains(st.LastError, "refused the user") || strings.Contains(st.LastError, "not-it") {
		t.Errorf("NTLM with a wrong password: %s %q; want Unknown, the user refused, no password shown", st.Status, st.LastError)
	}
}

func TestKerberosForAUserWithoutARealmIsAConfigurationErrorThatSaysHowToNameIt(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 12})
	host := fleet.Hosts()[0].Hostname
	setDevice(t, db, store.DeviceInput{Hostname: host, Auth: store.AuthKerberos, FQDN: strings.ToLower(host) + ".corp.example"})
	eng := newEngine(t, db, engine.Options{Retries: -1})
	missing := filepath.Join(t.TempDir(), "krb5.conf")
	if err := eng.SetTransportOptions(winrm.TransportOptions{Kerberos: winrm.KerberosOptions{Krb5Conf: missing}}); err == nil || !strings.Contains(err.Error(), "winrm.krb5_conf") {
		t.Fatalf("a krb5.conf that cannot be read: %v; want an error naming winrm.krb5_conf", err)
	}
	if err := eng.SetTransportOptions(winrm.TransportOptions{Kerberos: winrm.KerberosOptions{NoKrb5Conf: true}}); err != nil {
		t.Fatal(err)
	}
	st := pollOne(t, eng, host)
	if st.Status != engine.StatusUnknown || !strings.Contains(st.LastError, "user@REALM") || !strings.Contains(st.LastError, "winrm.kerberos_realm") {
		t.Errorf("kerberos for %q: %s %q; want Unknown saying how to name the realm", winrmsim.DefaultUser, st.Status, st.LastError)
	}
	if n := fleet.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached the host", n)
	}
}

// Reliability report F8: an https device on an HTTP listener was classed
// Device and marked Offline (net/http turns the TLS record header error
// into a plain error string). The host answered: rmm is set up wrong.
func TestAnHTTPSDeviceOnAnHTTPListenerIsAConfigurationErrorThatSaysSo(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 31})
	host := fleet.Hosts()[0]
	https := "https"
	setDevice(t, db, store.DeviceInput{Hostname: host.Hostname, Transport: https, Port: host.Port})
	eng := newEngine(t, db, engine.Options{Retries: 2})
	res := sweep(t, eng)
	st := stateOf(t, eng, host.Hostname)
	if st.Status != engine.StatusUnknown {
		t.Errorf("status %s, want Unknown: %q", st.Status, st.LastError)
	}
	for _, want := range []string{"plain HTTP", "Transport"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("error %q does not say %q", st.LastError, want)
		}
	}
	if res.Errors["configuration"] != 1 || res.Errors["device"] != 0 {
		t.Errorf("errors by class %v, want 1 configuration", res.Errors)
	}
	if n := hostStats(t, fleet, host.Hostname).Requests; n != 0 {
		t.Errorf("the host saw %d WS-Man requests; the TLS handshake fails before any", n)
	}
	rep, err := engine.Call(context.Background(), eng, engine.SystemIdentity(), engine.Diagnose{Host: host.Hostname})
	if err != nil {
		t.Fatal(err)
	}
	var tlsStep *engine.DoctorStep
	for i := range rep.Steps {
		if rep.Steps[i].Name == "tls" {
			tlsStep = &rep.Steps[i]
		}
	}
	if tlsStep == nil || tlsStep.Status != "fail" || !strings.Contains(tlsStep.Detail, "plain HTTP") || !strings.Contains(tlsStep.Fix, "Transport") {
		t.Errorf("doctor's tls step: %+v", tlsStep)
	}
}

func TestLoopOffDevicesArePolledWithoutTheResidentLoop(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 4, Seed: 41, ScriptTime: time.Millisecond})
	hosts := fleet.Hosts()
	off := true
	// One device by its record (CSV column Loop: off), one by the
	// config's sessions.loop_off, by tag.
	setDevice(t, db, store.DeviceInput{Hostname: hosts[0].Hostname, LoopOff: &off})
	setDevice(t, db, store.DeviceInput{Hostname: hosts[1].Hostname, Tags: []string{"edr-strict"}})
	eng := newEngine(t, db, engine.Options{Retries: -1, LoopOff: []string{"tag:edr-strict"}})
	for i, h := range hosts {
		st := pollOne(t, eng, h.Hostname)
		pollOne(t, eng, h.Hostname)
		want := engine.ModeWarm
		if i < 2 {
			want = engine.ModeCold
		}
		if st.Status != engine.StatusOnline || st.Mode != want {
			t.Errorf("%s: status %s mode %s, want online %s", h.Hostname, st.Status, st.Mode, want)
		}
		hs, _ := fleet.HostStats(h.Hostname)
		if (hs.LoopStarts == 0) != (i < 2) {
			t.Errorf("%s: %d loops started", h.Hostname, hs.LoopStarts)
		}
	}
	if st := eng.PoolStats(); st.Fallbacks != 0 {
		t.Errorf("a loop that is off is no fallback: %+v", st)
	}
}
