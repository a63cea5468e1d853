package winrm_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// Tests of the single checks rmm doctor makes (Identify, InspectTLS,
// TryShell, DialTime, CheckPolicy).

func TestIdentifyAnswersAnonymouslyAndAsACredential(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 71})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	tg := targetOf(h)
	ctx := testContext(t)

	// Anonymous: no password is sent, so plain HTTP needs no allowance,
	// and the host does not say which OS it runs.
	anon := tg
	anon.AllowUnencrypted = false
	id, err := c.Identify(ctx, anon, nil)
	if err != nil || id.Vendor != "Microsoft Corporation" || !strings.Contains(id.Version, "OS: 0.0.0") {
		t.Errorf("anonymous Identify: %+v, %v; want Microsoft and no OS version", id, err)
	}
	cred := simCred
	id, err = c.Identify(ctx, tg, &cred)
	if want := "OS: " + h.OSVersion + " "; err != nil || id.Vendor != "Microsoft Corporation" || !strings.HasPrefix(id.Version, want) {
		t.Errorf("authenticated Identify: %+v, %v; want the version %q", id, err, want)
	}
	if hs := hostStats(t, f, h.Hostname); hs.Requests != 2 || hs.AuthFailures != 0 {
		t.Errorf("the host %+v; want 2 requests, no auth failure", hs)
	}

	bad := winrm.Credential{User: winrmsim.DefaultUser, Password: "wrong"}
	_, err = c.Identify(ctx, tg, &bad)
	he := httpError(err)
	if he == nil || he.Status != 401 || !slices.Equal(he.Offers, []string{"Negotiate", "Basic"}) || winrm.ClassOf(err) != winrm.ClassConfiguration {
		t.Errorf("Identify with a bad password: %v (%#v); want 401 offering Negotiate and Basic, a configuration error", err, he)
	}
	if hs := hostStats(t, f, h.Hostname); hs.AuthFailures != 1 {
		t.Errorf("the host counted %d auth failures, want 1", hs.AuthFailures)
	}
}

func TestInspectTLSReportsAVerifiedChainOrWhyItFails(t *testing.T) {
	probe, err := winrmsim.New(winrmsim.Config{Devices: 3, Seed: 73})
	if err != nil {
		t.Fatal(err)
	}
	names := probe.Hosts()
	good, wrong, expired := names[0].Hostname, names[1].Hostname, names[2].Hostname
	f := startFleet(t, winrmsim.Config{Devices: 3, Seed: 73,
		TLS: &winrmsim.TLSOptions{WrongName: []string{wrong}, Expired: []string{expired}}})
	caBundle := writePEM(t, f.CA().CertPEM())
	otherCA, err := winrmsim.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherBundle := writePEM(t, otherCA.CertPEM())
	hostByName := func(name string) winrmsim.HostInfo {
		h, ok := f.Host(name)
		if !ok {
			t.Fatalf("no host %s", name)
		}
		return h
	}

	var insecureMu sync.Mutex
	var insecure []string
	c := newClient(t, winrm.Options{OnInsecure: func(_ context.Context, host string) {
		insecureMu.Lock()
		defer insecureMu.Unlock()
		insecure = append(insecure, host)
	}})
	if err := c.SetTransportOptions(winrm.TransportOptions{CABundle: caBundle}); err != nil {
		t.Fatal(err)
	}
	noCA := newClient(t, winrm.Options{})

	tests := []struct {
		name       string
		client     *winrm.Client
		host       string
		change     func(*winrm.Target)
		serverName string
		reason     string // "" for a verified chain
		insecure   bool
	}{
		{"a certificate of the configured CA for the host's name verifies", c, good, nil, good, "", false},
		{"a certificate of another CA than the target's bundle is signed by an unknown authority", c, good,
			func(tg *winrm.Target) { tg.CABundle = otherBundle }, good, "is signed by an unknown authority (rmm simulator test CA), not by CA bundle " + otherBundle, false},
		{"without a CA bundle the system store does not know the simulator's CA", noCA, good, nil, good, "not by the system trust store", false},
		{"a certificate for another name is a wrong host name", c, wrong, nil, wrong, "wrong host name", false},
		{"a target that expects another name gets a wrong host name", c, good,
			func(tg *winrm.Target) { tg.ServerName = "ws-other.example.test" }, "ws-other.example.test", "wrong host name", false},
		{"an expired certificate says when it expired", c, expired, nil, expired, "expired on ", false},
		{"a target that skips verification still gets the report, and says it skips", c, wrong,
			func(tg *winrm.Target) { tg.InsecureSkipVerify = true }, wrong, "wrong host name", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hostByName(tt.host)
			tg := targetOf(h)
			if tt.change != nil {
				tt.change(&tg)
			}
			before := hostStats(t, f, h.Hostname)
			rep, err := tt.client.InspectTLS(testContext(t), tg)
			if err != nil {
				t.Fatalf("InspectTLS: %v", err)
			}
			if rep.Leaf == nil || rep.ServerName != tt.serverName || rep.Insecure != tt.insecure {
				t.Errorf("report %+v; want the leaf, server name %q, insecure %v", rep, tt.serverName, tt.insecure)
			}
			if tt.reason == "" {
				if rep.Verify != nil || !slices.Contains(rep.Leaf.DNSNames, tt.host) {
					t.Errorf("verify %v, names %v; want a verified certificate for %s", rep.Verify, rep.Leaf.DNSNames, tt.host)
				}
			} else {
				var te *winrm.TLSError
				if !errors.As(rep.Verify, &te) || !strings.Contains(te.Reason, tt.reason) || te.Name != tt.serverName || te.Fix == "" ||
					winrm.ClassOf(rep.Verify) != winrm.ClassConfiguration {
					t.Errorf("verify %v (%#v); want a configuration *TLSError for %s whose reason has %q and a fix", rep.Verify, rep.Verify, tt.serverName, tt.reason)
				}
			}
			// One TLS handshake, no WS-Man request.
			after := hostStats(t, f, h.Hostname)
			if after.Requests != before.Requests {
				t.Errorf("InspectTLS sent %d requests", after.Requests-before.Requests)
			}
		})
	}
	insecureMu.Lock()
	if !slices.Equal(insecure, []string{wrong}) {
		t.Errorf("OnInsecure was called for %v, want once for %s", insecure, wrong)
	}
	insecureMu.Unlock()

	tg := targetOf(hostByName(good))
	tg.HTTPS, tg.Port = false, 1
	if _, err := c.InspectTLS(testContext(t), tg); err == nil {
		t.Error("InspectTLS of an HTTP target did not fail")
	}
}

func TestTLSFailuresOfARunAreConfigurationErrorsBeforeAnyRequest(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 75, TLS: &winrmsim.TLSOptions{}})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{}) // no CA bundle: the system store
	_, err := c.Run(testContext(t), targetOf(h), simCred, hostnameScript)
	var te *winrm.TLSError
	if !errors.As(err, &te) || winrm.ClassOf(err) != winrm.ClassConfiguration || !strings.Contains(te.Reason, "unknown authority") {
		t.Fatalf("Run against an unknown CA: %v; want a configuration *TLSError", err)
	}
	if hs := hostStats(t, f, h.Hostname); hs.Requests != 0 {
		t.Errorf("the host saw %d requests before the certificate verified", hs.Requests)
	}
}

func TestTryShellCreatesAShellAndDeletesIt(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 2, Seed: 77, TLS: &winrmsim.TLSOptions{}})
	c := newClient(t, winrm.Options{})
	if err := c.SetTransportOptions(winrm.TransportOptions{CABundle: writePEM(t, f.CA().CertPEM())}); err != nil {
		t.Fatal(err)
	}
	h, other := f.Hosts()[0], f.Hosts()[1]
	if err := c.TryShell(testContext(t), targetOf(h), simCred); err != nil {
		t.Fatal(err)
	}
	if hs := hostStats(t, f, h.Hostname); hs.Requests != 2 || hs.ShellsCreated != 1 || hs.ShellsDeleted != 1 || hs.ShellsOpen != 0 || hs.Commands != 0 {
		t.Errorf("the host %+v; want a Create and a Delete, nothing run", hs)
	}
	if st := c.Stats(); st.Created != 0 {
		t.Errorf("client stats %+v: TryShell is outside the pool", st)
	}

	bad := winrm.Credential{User: winrmsim.DefaultUser, Password: "wrong"}
	err := c.TryShell(testContext(t), targetOf(other), bad)
	if he := httpError(err); he == nil || he.Status != 401 || winrm.ClassOf(err) != winrm.ClassConfiguration {
		t.Errorf("TryShell with a bad password: %v; want a 401, a configuration error", err)
	}
	if hs := hostStats(t, f, other.Hostname); hs.AuthFailures != 1 || hs.ShellsCreated != 0 {
		t.Errorf("the host %+v; want one auth failure and no shell", hs)
	}
}

func TestDialTimeConnectsOrFailsWithConnectionRefused(t *testing.T) {
	f := startFleet(t, winrmsim.Config{Devices: 1, Seed: 79})
	h := f.Hosts()[0]
	c := newClient(t, winrm.Options{})
	tg := targetOf(h)
	if d, err := c.DialTime(testContext(t), tg, time.Second); err != nil || d <= 0 {
		t.Errorf("DialTime of an online host: %v, %v", d, err)
	}
	// The host may count the connection a moment after the dial returned.
	waitFor(t, "the host to count the connection", func() bool { return hostStats(t, f, h.Hostname).Connections == 1 })
	if hs := hostStats(t, f, h.Hostname); hs.Requests != 0 {
		t.Errorf("DialTime sent %d requests", hs.Requests)
	}

	if err := f.SetOnline(h.Hostname, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DialTime(testContext(t), tg, time.Second); !errors.Is(err, syscall.ECONNREFUSED) || winrm.ClassOf(err) != winrm.ClassDevice {
		t.Errorf("DialTime of an offline host: %v; want ECONNREFUSED, a device error", err)
	}
}

func TestCheckPolicyRefusesWhatWouldCrossTheNetworkReadableOrCannotBeVerified(t *testing.T) {
	c := newClient(t, winrm.Options{})
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := writePEM(t, []byte("not a certificate\n"))
	base := winrm.Target{Host: "WS-001", Address: "127.0.0.1", Port: 1}
	with := func(change func(*winrm.Target)) winrm.Target {
		tg := base
		change(&tg)
		return tg
	}
	tests := []struct {
		name   string
		target winrm.Target
		krb5   string // winrm.krb5_conf
		errHas string // "" when allowed
	}{
		{"Basic over HTTPS is allowed", with(func(tg *winrm.Target) { tg.HTTPS = true }), "", ""},
		{"Basic over HTTP is refused", base, "", "Basic authentication over plain HTTP is refused"},
		{"Basic over HTTP is allowed where the target allows unencrypted", with(func(tg *winrm.Target) { tg.AllowUnencrypted = true }), "", ""},
		{"NTLM over HTTP is allowed (its messages are encrypted)", with(func(tg *winrm.Target) { tg.Auth = winrm.AuthNTLM }), "", ""},
		{"Kerberos over HTTP is allowed (its messages are sealed)", with(func(tg *winrm.Target) { tg.Auth = winrm.AuthKerberos }), "", ""},
		{"Negotiate over HTTP is allowed (its messages are sealed)", with(func(tg *winrm.Target) { tg.Auth = winrm.AuthNegotiate }), "", ""},
		{"an unknown auth method is refused", with(func(tg *winrm.Target) { tg.Auth = "digest" }), "", "unknown auth"},
		{"a CA bundle that cannot be read is refused", with(func(tg *winrm.Target) { tg.HTTPS, tg.CABundle = true, missing }), "", "CA bundle"},
		{"a CA bundle without a certificate is refused", with(func(tg *winrm.Target) { tg.HTTPS, tg.CABundle = true, notPEM }), "", "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.SetTransportOptions(winrm.TransportOptions{Kerberos: winrm.KerberosOptions{Krb5Conf: tt.krb5}}); err != nil {
				t.Fatal(err)
			}
			err := c.CheckPolicy(tt.target)
			if tt.errHas == "" {
				if err != nil {
					t.Fatalf("CheckPolicy: %v", err)
				}
				return
			}
			var ce *winrm.Error
			if !errors.As(err, &ce) || ce.Class != winrm.ClassConfiguration || ce.Device != "WS-001" || ce.Step != "transport" ||
				!strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("CheckPolicy: %v; want a configuration error of WS-001 at step transport with %q", err, tt.errHas)
			}
		})
	}
	if err := c.SetTransportOptions(winrm.TransportOptions{CABundle: missing}); err == nil {
		t.Error("SetTransportOptions took a CA bundle that cannot be read")
	}
	if err := c.SetTransportOptions(winrm.TransportOptions{Kerberos: winrm.KerberosOptions{Krb5Conf: missing}}); err == nil || !strings.Contains(err.Error(), "winrm.krb5_conf") {
		t.Errorf("SetTransportOptions with a krb5.conf that cannot be read: %v; want an error naming winrm.krb5_conf", err)
	}
}
