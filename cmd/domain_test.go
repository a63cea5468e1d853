package cmd

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/internal/mitkdc"
)

// TestADomainFleetIsPolledWithAKeytabAndAPasswordAndNoSecretIsLeft runs
// the CLI against a real MIT KDC and the simulator's joined hosts: import,
// creds set with a keytab (user@REALM), poll, doctor, creds set with a
// password (DOMAIN\user through the realm map), poll again; then searches
// every file rmm wrote and everything it printed for the password and the
// keytab.
func TestADomainFleetIsPolledWithAKeytabAndAPasswordAndNoSecretIsLeft(t *testing.T) {
	if err := mitkdc.Available(); err != nil {
		t.Skipf("Kerberos tests need an MIT KDC: %v", err)
	}
	const (
		realm     = "CLI.TEST"
		password  = "Krb-Canary-4d2e81"
		vaultPass = "Vault-Canary-77aa10"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k, err := mitkdc.Start(ctx, t.TempDir(), mitkdc.Options{Realm: realm})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	if err := k.AddUser(ctx, winrmsim.DefaultUser, password); err != nil {
		t.Fatal(err)
	}
	userKeytab := filepath.Join(t.TempDir(), "rmm.keytab")
	if err := k.Kadmin(ctx, "ktadd -k "+userKeytab+" -norandkey "+winrmsim.DefaultUser); err != nil {
		t.Fatal(err)
	}
	keytab, err := os.ReadFile(userKeytab)
	if err != nil {
		t.Fatal(err)
	}
	cfg := winrmsim.Config{Devices: 4, Seed: 300, Profile: "domain", Domain: realm, KDC: k.Addr, Password: password}
	probe, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var fqdns []string
	for _, h := range probe.Hosts() {
		fqdns = append(fqdns, h.FQDN)
	}
	if cfg.Keytab, err = k.AddHosts(ctx, fqdns); err != nil {
		t.Fatal(err)
	}
	fleet := startFleet(t, cfg)

	c := newCLI(t)
	c.env["RMM_VAULT_PASSPHRASE"] = vaultPass
	conf := filepath.Join(c.home, ".config", "rmm", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(conf), 0o700); err != nil {
		t.Fatal(err)
	}
	// An empty krb5.conf (not the system's): the KDC and the realm map
	// come from rmm's config.
	emptyKrb5 := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(emptyKrb5, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("winrm:\n  krb5_conf: "+emptyKrb5+
		"\n  kerberos_kdc: \""+realm+"="+k.Addr+"\"\n  kerberos_realm_map: \"CLI="+realm+"\"\nsecurity:\n  credentials: vault\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var printed bytes.Buffer
	run := func(stdin string, args ...string) int {
		var out, errb bytes.Buffer
		code := Execute(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return c.env[k] })
		printed.Write(out.Bytes())
		printed.Write(errb.Bytes())
		if code != 0 {
			t.Logf("rmm %v: exit %d: %s%s", args, code, out.String(), errb.String())
		}
		return code
	}
	if run("", "import", fleetCSV(t, fleet)) != 0 {
		t.Fatal("import failed")
	}
	if run("", "--log-level", "debug", "creds", "set", "default", "--user", winrmsim.DefaultUser+"@"+realm, "--keytab", userKeytab) != 0 {
		t.Fatal("creds set --keytab failed")
	}
	pollJSON := func() map[string]any {
		var out, errb bytes.Buffer
		code := Execute(context.Background(), []string{"--log-level", "debug", "poll", "--once", "--json"}, strings.NewReader(""), &out, &errb, func(k string) string { return c.env[k] })
		printed.Write(out.Bytes())
		printed.Write(errb.Bytes())
		if code != 0 {
			t.Fatalf("poll: exit %d: %s", code, errb.String())
		}
		var got map[string]any
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("poll --json %q: %v", out.String(), err)
		}
		return got
	}
	got := pollJSON()
	pool, _ := got["pool"].(map[string]any)
	if got["online"] != 4.0 || pool["kdc_requests"] != 2.0+4 || pool["auth_handshakes"] != 4.0 || pool["tickets"] != 4.0 {
		t.Fatalf("poll with the keytab: %v; want 4 online, 6 KDC requests (a TGT, 4 tickets), 4 handshakes", got)
	}
	var out, errb bytes.Buffer
	if code := Execute(context.Background(), []string{"doctor", fleet.Hosts()[0].Hostname, "--json"}, strings.NewReader(""), &out, &errb, func(k string) string { return c.env[k] }); code != 0 {
		t.Fatalf("doctor: exit %d: %s %s", code, out.String(), errb.String())
	}
	printed.Write(out.Bytes())
	if !strings.Contains(out.String(), "Negotiate chose kerberos") || !strings.Contains(out.String(), "(a keytab)") {
		t.Errorf("doctor of a joined host with a keytab: %s", out.String())
	}
	if run(password+"\n", "--log-level", "debug", "creds", "set", "default", "--user", `CLI\`+winrmsim.DefaultUser, "--password-stdin") != 0 {
		t.Fatal("creds set DOMAIN\\user failed")
	}
	if got := pollJSON(); got["online"] != 4.0 {
		t.Fatalf("poll as CLI\\rmm: %v", got)
	}

	canaries := map[string][]byte{
		"the password":          []byte(password),
		"the vault passphrase":  []byte(vaultPass),
		"the keytab":            keytab,
		"the keytab, in base64": []byte(base64.StdEncoding.EncodeToString(keytab)),
	}
	for what, b := range canaries {
		if bytes.Contains(printed.Bytes(), b) {
			t.Errorf("%s appears in rmm's output", what)
		}
	}
	files := 0
	err = filepath.WalkDir(c.home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for what, canary := range canaries {
			if bytes.Contains(b, canary) {
				t.Errorf("%s appears in %s", what, strings.TrimPrefix(path, c.home))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("searched %d files; expected the log, the database and the vault at least", files)
	}
}
