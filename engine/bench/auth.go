package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/internal/mitkdc"
	"github.com/rmmhq/rmm/store"
)

// auth.go: sweeps of a domain fleet (SweepConfig.Auth ntlm, kerberos or
// negotiate). The hosts are the simulator's joined ones ("domain"
// profile); for Kerberos a real MIT KDC runs on 127.0.0.1 with their
// SPNs, and the simulator checks its tickets against the keytab it
// exported. The hosts also take Basic (JoinedBasic), so the same run
// measures Basic on the same hosts, the baseline the domain methods are
// compared with.

// Auth methods a sweep can use.
const (
	AuthBasic     = "basic"
	AuthNTLM      = "ntlm"
	AuthKerberos  = "kerberos"
	AuthNegotiate = "negotiate"
)

// benchRealm is the simulated domain's realm.
const benchRealm = "RMMBENCH.TEST"

// authSetup is what a sweep's auth needs: the KDC (Kerberos and
// Negotiate), the simulator's flags, the engine's credential and
// transport options.
type authSetup struct {
	method   string
	password string // the run's password (runPassword): Basic, NTLM and the KDC's user
	kdc      *mitkdc.KDC
	keytab   []byte
	sim      []string // the simulator child's flags
}

// setupAuth prepares the fleet's auth: nothing for Basic; for the domain
// methods the joined hosts (WS-0001.. in the "domain" profile) and, for
// Kerberos and Negotiate, a KDC that knows their SPNs.
func setupAuth(ctx context.Context, cfg SweepConfig, dir string, logf func(string, ...any)) (*authSetup, error) {
	a := &authSetup{method: cfg.auth(), password: cfg.password}
	if a.method == AuthBasic {
		return a, nil
	}
	a.sim = []string{"--profile", "domain", "--domain", benchRealm, "--domain-basic"}
	if a.method == AuthNTLM {
		return a, nil
	}
	if err := mitkdc.Available(); err != nil {
		return nil, fmt.Errorf("--auth %s needs an MIT KDC: %w", a.method, err)
	}
	kdcDir := filepath.Join(dir, "kdc")
	if err := os.Mkdir(kdcDir, 0o700); err != nil {
		return nil, err
	}
	k, err := mitkdc.Start(ctx, kdcDir, mitkdc.Options{Realm: benchRealm})
	if err != nil {
		return nil, err
	}
	a.kdc = k
	if err := k.AddUser(ctx, winrmsim.DefaultUser, a.password); err != nil {
		a.close()
		return nil, err
	}
	// Every host of the "domain" profile is a workstation: WS-0001...
	fqdns := make([]string, cfg.Devices)
	for i := range fqdns {
		fqdns[i] = fmt.Sprintf("ws-%04d.%s", i+1, strings.ToLower(benchRealm))
	}
	logf("KDC %s (realm %s): creating %d host principals", k.Addr, benchRealm, len(fqdns))
	if a.keytab, err = k.AddHosts(ctx, fqdns); err != nil {
		a.close()
		return nil, err
	}
	kt := filepath.Join(dir, "hosts.keytab")
	if err := os.WriteFile(kt, a.keytab, 0o600); err != nil {
		a.close()
		return nil, err
	}
	a.sim = append(a.sim, "--kdc", k.Addr, "--keytab", kt)
	return a, nil
}

// simConfig adds the auth to an in-process fleet's configuration.
func (a *authSetup) simConfig(c *winrmsim.Config) {
	if a.method == AuthBasic {
		return
	}
	c.Profile, c.Domain, c.JoinedBasic, c.Keytab = "domain", benchRealm, true, a.keytab
	if a.kdc != nil {
		c.KDC = a.kdc.Addr
	}
}

// credential is the account the engine polls as with method.
func (a *authSetup) credential(method string) engine.Credential {
	if method == AuthBasic {
		return engine.Credential{User: winrmsim.DefaultUser, Password: a.password}
	}
	return engine.Credential{User: winrmsim.DefaultUser + "@" + benchRealm, Password: a.password}
}

// transport is the engine's transport options: the KDC, no krb5.conf.
func (a *authSetup) transport() winrm.TransportOptions {
	o := winrm.TransportOptions{Kerberos: winrm.KerberosOptions{NoKrb5Conf: true}}
	if a.kdc != nil {
		o.Kerberos.KDCs = map[string][]string{benchRealm: {a.kdc.Addr}}
	}
	return o
}

// setDevices sets every device's auth for the next sweeps: Basic needs
// AllowUnencrypted over HTTP, the others seal.
func (a *authSetup) setDevices(ctx context.Context, db *store.DB, devices []store.Device, method string) error {
	if a.method == AuthBasic {
		return nil
	}
	unencrypted := method == AuthBasic
	in := make([]store.DeviceInput, len(devices))
	for i, d := range devices {
		in[i] = store.DeviceInput{Hostname: d.Hostname, Auth: method, AllowUnencrypted: &unencrypted}
	}
	if _, err := db.UpsertDevices(ctx, in); err != nil {
		return fmt.Errorf("set auth %s: %w", method, err)
	}
	return nil
}

func (a *authSetup) close() {
	if a.kdc != nil {
		_ = a.kdc.Stop()
	}
}
