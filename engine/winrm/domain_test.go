package winrm_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
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

func TestNegotiateFallsBackToNTLMWhereKerberosCannotBeUsedAsWindowsDoes(t *testing.T) {
	d := startDomain(t, winrmsim.Config{Devices: 1, Seed: 160})
	h := d.fleet.Hosts()[0]
	c := d.client(t, winrm.Options{})
	// Known only by its address: no name for an SPN.
	tg := domainTarget(h, winrm.AuthNegotiate)
	tg.ServerName = h.IP
	mustRunAs(t, c, tg, winrm.Credential{User: `RMMLAB\` + winrmsim.DefaultUser, Password: winrmsim.DefaultPassword})
	st := c.Stats()
	hs := hostStats(t, d.fleet, h.Hostname)
	if st.NTLMFallbacks != 1 || hs.NTLMContexts != 1 || hs.KerberosContexts != 0 || st.KDCRequests != 0 {
		t.Errorf("client %+v, host %+v: want Negotiate to use NTLM without asking the KDC", st, hs)
	}
}

func TestKerberosBadInputIsAClearConfigurationErrorWithoutARetryStormOrASecretShown(t *testing.T) {
	k := startKDC(t)
	ctx := testContext(t)
	if err := k.AddUser(ctx, "expired", "Expired-pw-1"); err != nil {
		t.Fatal(err)
	}
	if err := k.Kadmin(ctx, "modprinc +needchange expired"); err != nil {
		t.Fatal(err)
	}
	// "expired": its password must be changed (MIT answers as AD does for
	// an expired password: KDC_ERR_KEY_EXPIRED). A KDC that accepts
	// connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	accepted := make(chan net.Conn, 64)
	held.Add(1)
	go func() {
		defer held.Done()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		held.Wait()
		close(accepted)
		for c := range accepted {
			c.Close()
		}
	})

	tests := []struct {
		name     string
		cred     winrm.Credential
		target   func(winrm.Target) winrm.Target
		kdcs     map[string][]string
		reason   string // KerberosError.Reason
		fixHas   string
		kdcCalls int64 // KDC messages for the first attempt (none after)
	}{
		{"an address without a name", domainUser, func(tg winrm.Target) winrm.Target { tg.ServerName = tg.Address; return tg }, nil,
			"no host name", "FQDN", 0},
		{"a wrong password", winrm.Credential{User: domainUser.User, Password: "not-the-password"}, nil, nil,
			"wrong password", "rmm creds set", 2},
		{"an expired password", winrm.Credential{User: "expired@" + testRealm, Password: "Expired-pw-1"}, nil, nil,
			"password expired", "change it", 1},
		{"an unknown user", winrm.Credential{User: "nobody@" + testRealm, Password: "whatever-1"}, nil, nil,
			"unknown principal", "realm", 1},
		{"a realm without a KDC", winrm.Credential{User: winrmsim.DefaultUser + "@NOWHERE.INVALID", Password: "Nowhere-pw-9"}, nil, nil,
			"no KDC", "winrm.kerberos_kdc", 0},
		{"a realm the KDC does not serve", winrm.Credential{User: winrmsim.DefaultUser + "@OTHER.TEST", Password: "Other-pw-7"}, nil,
			map[string][]string{"": {k.Addr}}, "wrong realm", "realm", 1},
		{"a KDC that does not answer", domainUser, nil, map[string][]string{testRealm: {silent.Addr().String()}},
			"KDC unreachable", "port 88", 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDomainWith(t, k, winrmsim.Config{Devices: 3, Seed: 170 + int64(i)})
			var logs bytes.Buffer
			c := newClient(t, winrm.Options{Timeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			o := d.kerberosOptions()
			if tt.kdcs != nil {
				o.Kerberos.KDCs = tt.kdcs
			}
			if err := c.SetTransportOptions(o); err != nil {
				t.Fatal(err)
			}
			before := d.fleet.Stats().Requests
			// Every host of the fleet, twice, at once: one KDC exchange
			// at most, then the failure is remembered.
			var errs []error
			var mu sync.Mutex
			var wg sync.WaitGroup
			for round := range 2 {
				for _, h := range d.fleet.Hosts() {
					tg := domainTarget(h, winrm.AuthKerberos)
					if tt.target != nil {
						tg = tt.target(tg)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						rctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
						defer cancel()
						_, err := c.Run(rctx, tg, tt.cred, hostnameScript)
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}()
				}
				if round == 0 {
					wg.Wait()
				}
			}
			wg.Wait()
			for _, err := range errs {
				var ke *winrm.KerberosError
				if !errors.As(err, &ke) || ke.Reason != tt.reason || !strings.Contains(ke.Fix, tt.fixHas) || winrm.ClassOf(err) != winrm.ClassConfiguration {
					t.Fatalf("error %v; want a configuration error %q whose fix says %q", err, tt.reason, tt.fixHas)
				}
				if tt.cred.Password != "" && strings.Contains(err.Error(), tt.cred.Password) {
					t.Fatalf("the error shows the password: %v", err)
				}
			}
			if st := c.Stats(); st.KDCRequests != tt.kdcCalls {
				t.Errorf("%d KDC messages for 6 runs; want %d (the failure remembered)", st.KDCRequests, tt.kdcCalls)
			}
			if n := d.fleet.Stats().Requests - before; n != 0 {
				t.Errorf("%d requests reached the hosts; Kerberos failed before any was needed", n)
			}
			if strings.Contains(logs.String(), tt.cred.Password) {
				t.Errorf("the log shows the password:\n%s", logs.String())
			}
		})
	}
}

func TestATicketTheHostRejectsIsAConfigurationErrorAskedOnceNotPerPoll(t *testing.T) {
	d := startDomain(t, winrmsim.Config{Devices: 1, Seed: 180})
	h := d.fleet.Hosts()[0]
	// The computer account's key changes in the KDC (a reset), the host
	// keeps the old one: its tickets no longer decrypt there.
	if err := d.kdc.Kadmin(testContext(t), "cpw -randkey HTTP/"+h.FQDN); err != nil {
		t.Fatal(err)
	}
	c := d.client(t, winrm.Options{})
	tg := domainTarget(h, winrm.AuthKerberos)
	for range 3 {
		_, err := c.Run(testContext(t), tg, domainUser, hostnameScript)
		var ke *winrm.KerberosError
		if !errors.As(err, &ke) || ke.Reason != "ticket rejected" || winrm.ClassOf(err) != winrm.ClassConfiguration || !strings.Contains(ke.Fix, "setspn") {
			t.Fatalf("run: %v; want a configuration error: ticket rejected, with the fix", err)
		}
	}
	if hs := hostStats(t, d.fleet, h.Hostname); hs.AuthFailures != 1 || hs.ShellsCreated != 0 {
		t.Errorf("host %+v: want the ticket refused once, no shell", hs)
	}
}

func TestANewConnectionAuthenticatesAgainFromTheCachedTicketWithoutTheKDC(t *testing.T) {
	d := startDomain(t, winrmsim.Config{Devices: 2, Seed: 190})
	c := d.client(t, winrm.Options{})
	hosts := d.fleet.Hosts()
	for _, h := range hosts {
		mustRunAs(t, c, domainTarget(h, winrm.AuthKerberos), domainUser)
	}
	st := c.Stats()
	if st.KDCRequests != 2+2 || st.AuthHandshakes != 2 {
		t.Fatalf("first runs: %+v; want 4 KDC requests (a TGT, 2 tickets) and 2 handshakes", st)
	}
	// The kept connections go (the host's idle timeout, a network blip):
	// the next requests open new ones, each authenticated once more from
	// the ticket already held.
	c.CloseIdleConnections()
	for range 3 {
		for _, h := range hosts {
			mustRunAs(t, c, domainTarget(h, winrm.AuthKerberos), domainUser)
		}
	}
	st = c.Stats()
	if st.KDCRequests != 4 || st.AuthHandshakes != 4 {
		t.Errorf("after new connections: %+v; want still 4 KDC requests and 4 handshakes (one per new connection)", st)
	}
	if s := d.fleet.Stats(); s.KerberosContexts != 4 || s.AuthFailures != 0 {
		t.Errorf("fleet %+v: want 4 Kerberos contexts and no failure", s)
	}
}
