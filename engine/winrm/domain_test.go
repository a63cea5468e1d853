package winrm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/internal/mitkdc"
)

// Tests of NTLM, Kerberos and Negotiate against a real MIT KDC (Debian's
// krb5-kdc, started on 127.0.0.1 in a temporary realm) and the
// simulator's domain-joined hosts, which check the tickets against the
// keytab the KDC exported and seal every message over HTTP.

const testRealm = "RMMLAB.TEST"

// domainUser is the domain account the simulated hosts accept, as an
// admin writes it.
var domainUser = winrm.Credential{User: winrmsim.DefaultUser + "@" + testRealm, Password: winrmsim.DefaultPassword}

// domain is a KDC and a fleet of hosts joined to its realm.
type domain struct {
	kdc   *mitkdc.KDC
	fleet *winrmsim.Fleet
}

// startKDC starts an MIT KDC for the test with the domain's user; the
// test is skipped, saying why, only where the KDC's binaries are absent
// (CI installs them: .ci/run).
func startKDC(t *testing.T) *mitkdc.KDC {
	t.Helper()
	if err := mitkdc.Available(); err != nil {
		t.Skipf("Kerberos tests need an MIT KDC: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := mitkdc.Start(ctx, t.TempDir(), mitkdc.Options{Realm: testRealm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Stop() })
	if err := k.AddUser(ctx, winrmsim.DefaultUser, winrmsim.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	return k
}

// startDomain starts a KDC and a fleet of joined hosts (cfg.Profile
// "domain" unless set) whose SPNs the KDC knows.
func startDomain(t *testing.T, cfg winrmsim.Config) domain {
	t.Helper()
	return startDomainWith(t, startKDC(t), cfg)
}

// startDomainWith starts a fleet joined to the realm of a running KDC.
func startDomainWith(t *testing.T, k *mitkdc.KDC, cfg winrmsim.Config) domain {
	t.Helper()
	if cfg.Profile == "" {
		cfg.Profile = "domain"
	}
	cfg.Domain, cfg.KDC = testRealm, k.Addr
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if len(fqdns) > 0 {
		if cfg.Keytab, err = k.AddHosts(ctx, fqdns); err != nil {
			t.Fatal(err)
		}
	}
	f, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close fleet: %v", err)
		}
	})
	return domain{kdc: k, fleet: f}
}

// kerberosOptions point the client at the test's KDC, with no krb5.conf.
func (d domain) kerberosOptions() winrm.TransportOptions {
	return winrm.TransportOptions{Kerberos: winrm.KerberosOptions{
		KDCs:     map[string][]string{testRealm: {d.kdc.Addr}},
		Krb5Conf: "", // the system's, when present: never required
	}}
}

// domainClient is a client set up for the domain.
func (d domain) client(t *testing.T, o winrm.Options) *winrm.Client {
	t.Helper()
	c := newClient(t, o)
	if err := c.SetTransportOptions(d.kerberosOptions()); err != nil {
		t.Fatal(err)
	}
	return c
}

// domainTarget is a joined host's target as its device record says:
// reached at its address, known by its FQDN.
func domainTarget(h winrmsim.HostInfo, auth string) winrm.Target {
	return winrm.Target{Host: h.Hostname, Address: h.IP, ServerName: h.FQDN, Port: h.Port, HTTPS: h.Transport == "https", Auth: auth}
}

func TestEveryDomainAuthRunsWarmThroughThePoolSealedOverHTTPAndBoundOverHTTPS(t *testing.T) {
	k := startKDC(t)
	tests := []struct {
		name        string
		auth        string
		https       bool
		krbContexts int64 // the host's Kerberos contexts (else NTLM)
		kdcRequests int64 // AS without and with pre-authentication, one TGS
	}{
		{"Kerberos over HTTP", winrm.AuthKerberos, false, 1, 3},
		{"Negotiate (Kerberos) over HTTP", winrm.AuthNegotiate, false, 1, 3},
		{"NTLM over HTTP", winrm.AuthNTLM, false, 0, 0},
		{"Kerberos over HTTPS", winrm.AuthKerberos, true, 1, 3},
		{"Negotiate (Kerberos) over HTTPS", winrm.AuthNegotiate, true, 1, 3},
		{"NTLM over HTTPS", winrm.AuthNTLM, true, 0, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := winrmsim.Config{Devices: 1, Seed: 151 + int64(i), Logf: t.Logf}
			if tt.https {
				cfg.TLS = &winrmsim.TLSOptions{}
			}
			d := startDomainWith(t, k, cfg)
			h := d.fleet.Hosts()[0]
			o := winrm.Options{}
			c := d.client(t, o)
			if tt.https {
				if err := c.SetTransportOptions(winrm.TransportOptions{CABundle: writePEM(t, d.fleet.CA().CertPEM()), Kerberos: d.kerberosOptions().Kerberos}); err != nil {
					t.Fatal(err)
				}
			}
			tg := domainTarget(h, tt.auth)
			for i := range 5 {
				res := mustRunAs(t, c, tg, domainUser)
				if i > 0 && res.Mode != winrm.ModeWarm {
					t.Fatalf("run %d: mode %s, want warm", i+1, res.Mode)
				}
			}
			st := c.Stats()
			hs := hostStats(t, d.fleet, h.Hostname)
			if hs.KerberosContexts+hs.NTLMContexts != 1 || hs.KerberosContexts != tt.krbContexts || st.AuthHandshakes != 1 {
				t.Errorf("contexts: host Kerberos %d NTLM %d, client %d; want 1 (Kerberos %d): one handshake for the kept connection",
					hs.KerberosContexts, hs.NTLMContexts, st.AuthHandshakes, tt.krbContexts)
			}
			all := hs.Creates + hs.CommandRequests + hs.Sends + hs.Receives + hs.Signals + hs.Deletes
			switch {
			case hs.PlainRefused != 0 || hs.AuthFailures != 0:
				t.Errorf("host %+v: refused requests", hs)
			case !tt.https && hs.Sealed != all:
				t.Errorf("host: %d of %d WS-Man requests sealed; want all over HTTP", hs.Sealed, all)
			case tt.https && hs.Sealed != 0:
				t.Errorf("host: %d requests sealed over HTTPS; want none (TLS protects them)", hs.Sealed)
			}
			if st.KDCRequests != tt.kdcRequests || st.NTLMFallbacks != 0 {
				t.Errorf("KDC requests %d, NTLM fallbacks %d; want %d and 0", st.KDCRequests, st.NTLMFallbacks, tt.kdcRequests)
			}
		})
	}
}

// mustRunAs runs the hostname script as cred and checks its answer.
func mustRunAs(t *testing.T, c *winrm.Client, tg winrm.Target, cred winrm.Credential) winrm.Result {
	t.Helper()
	res, err := c.Run(testContext(t), tg, cred, hostnameScript)
	if err != nil {
		t.Fatalf("run on %s: %v", tg.Host, err)
	}
	if got := strings.TrimSpace(string(res.Stdout)); got != tg.Host || res.Exit != 0 {
		t.Fatalf("run on %s: stdout %q exit %d", tg.Host, got, res.Exit)
	}
	return res
}
