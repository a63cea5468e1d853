package winrmsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/internal/mitkdc"
)

// An independent client proves the simulator's domain hosts: Debian's
// python3-winrm (known to work with real Windows) runs a command against
// them with NTLM and with Kerberos (a real MIT KDC's tickets), messages
// sealed over HTTP. If the simulator accepts pywinrm, its side of the
// protocol is right, and rmm's client agreeing with it means something.

const interopRealm = "INTEROP.TEST"

// pythonWithWinRM finds a python3 that imports pywinrm and its auth
// packages; the test is skipped, saying what to install, without one
// (CI installs them: .ci/run).
func pythonWithWinRM(t *testing.T) string {
	t.Helper()
	const packages = "python3-winrm python3-requests-ntlm python3-requests-kerberos python3-gssapi"
	var candidates []string
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		candidates = append(candidates, "/usr/bin/python3") // Debian's, whatever the PATH's python is
	}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import winrm, requests_ntlm, requests_kerberos, gssapi").Run() == nil {
			return py
		}
	}
	t.Skipf("the pywinrm interop test needs python3 with %s (apt-get install %s)", packages, packages)
	return ""
}

// interopDomain starts an MIT KDC and one joined host of the simulator.
func interopDomain(t *testing.T, tlsOn bool) (*mitkdc.KDC, *winrmsim.Fleet) {
	t.Helper()
	if err := mitkdc.Available(); err != nil {
		t.Skipf("the Kerberos interop test needs an MIT KDC: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := mitkdc.Start(ctx, t.TempDir(), mitkdc.Options{Realm: interopRealm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Stop() })
	if err := k.AddUser(ctx, winrmsim.DefaultUser, winrmsim.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	cfg := winrmsim.Config{Devices: 1, Seed: 40, Profile: "domain", Domain: interopRealm, KDC: k.Addr}
	if tlsOn {
		cfg.TLS = &winrmsim.TLSOptions{}
	}
	probe, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keytab, err = k.AddHosts(ctx, []string{probe.Hosts()[0].FQDN}); err != nil {
		t.Fatal(err)
	}
	f, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return k, f
}

// interopResult is what the script prints.
type interopResult struct {
	Stdout  string `json:"stdout"`
	Stderr  string `json:"stderr"`
	Code    *int   `json:"code"`
	Error   string `json:"error"`
	Replies []struct {
		Status             int    `json:"status"`
		ContentType        string `json:"content_type"`
		RequestContentType string `json:"request_content_type"`
		Length             int    `json:"length"`
	} `json:"replies"`
}

// runPywinrm runs testdata/pywinrm_interop.py with env added to a clean
// environment (no proxy, no CA bundle override: pywinrm honours them).
func runPywinrm(t *testing.T, py string, env []string, args ...string) interopResult {
	t.Helper()
	dir := t.TempDir()
	// NTLM needs MD4, which OpenSSL 3 keeps in its legacy provider.
	conf := filepath.Join(dir, "openssl.cnf")
	if err := os.WriteFile(conf, []byte("openssl_conf = init\n[init]\nproviders = prov\n[prov]\ndefault = def\nlegacy = leg\n[def]\nactivate = 1\n[leg]\nactivate = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"testdata/pywinrm_interop.py"}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + dir, "OPENSSL_CONF=" + conf, "NO_PROXY=*", "no_proxy=*"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pywinrm: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var res interopResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("pywinrm printed %q (%v); stderr: %s", stdout.String(), err, stderr.String())
	}
	return res
}

// checkAnswered checks the command's answer and that every reply of the
// host after the handshake was sealed (over HTTP).
func checkAnswered(t *testing.T, res interopResult, host string, sealed bool) {
	t.Helper()
	if res.Error != "" || res.Code == nil || *res.Code != 0 || strings.TrimSpace(res.Stdout) != host {
		t.Fatalf("pywinrm: %+v; want %s and exit 0", res, host)
	}
	n := 0
	for _, r := range res.Replies {
		if r.Length == 0 || r.Status == 401 {
			continue // a handshake leg
		}
		n++
		enc := strings.HasPrefix(r.ContentType, "multipart/encrypted") && strings.HasPrefix(r.RequestContentType, "multipart/encrypted")
		if enc != sealed {
			t.Errorf("a reply %+v: sealed %v, want %v", r, enc, sealed)
		}
	}
	if n < 5 {
		t.Errorf("only %d WS-Man replies: %+v", n, res.Replies)
	}
}

func TestPywinrmRunsACommandOnADomainHostWithNTLMSealedOverHTTP(t *testing.T) {
	py := pythonWithWinRM(t)
	_, f := interopDomain(t, false)
	h := f.Hosts()[0]
	res := runPywinrm(t, py, nil, "--endpoint", "http://"+h.IP+":"+strconv.Itoa(h.Port)+"/wsman", "--auth", "ntlm",
		"--user", `INTEROP\`+winrmsim.DefaultUser, "--password", winrmsim.DefaultPassword)
	checkAnswered(t, res, h.Hostname, true)
	hs, _ := f.HostStats(h.Hostname)
	if hs.NTLMContexts != 1 || hs.Sealed < 5 || hs.PlainRefused != 0 {
		t.Errorf("host %+v: want one NTLM context and sealed requests", hs)
	}
}

func TestPywinrmRunsACommandOnADomainHostWithKerberosSealedOverHTTP(t *testing.T) {
	py := pythonWithWinRM(t)
	k, f := interopDomain(t, false)
	h := f.Hosts()[0]
	res := runPywinrm(t, py, []string{"KRB5_CONFIG=" + k.Krb5Conf(), "KRB5CCNAME=MEMORY:interop"},
		"--endpoint", "http://"+h.IP+":"+strconv.Itoa(h.Port)+"/wsman", "--auth", "kerberos",
		"--user", winrmsim.DefaultUser+"@"+interopRealm, "--password", winrmsim.DefaultPassword, "--spn-host", h.FQDN)
	checkAnswered(t, res, h.Hostname, true)
	hs, _ := f.HostStats(h.Hostname)
	if hs.KerberosContexts != 1 || hs.Sealed < 5 || hs.PlainRefused != 0 {
		t.Errorf("host %+v: want one Kerberos context and sealed requests", hs)
	}
	if _, tgs := k.Requests(); tgs == 0 {
		t.Errorf("the KDC issued no service ticket:\n%s", k.Log())
	}
}

func TestPywinrmWithNTLMOverHTTPSBindsTheChannelAndSendsMessagesAsTheyAre(t *testing.T) {
	py := pythonWithWinRM(t)
	_, f := interopDomain(t, true)
	h := f.Hosts()[0]
	res := runPywinrm(t, py, nil, "--endpoint", "https://"+h.IP+":"+strconv.Itoa(h.Port)+"/wsman", "--auth", "ntlm",
		"--user", `INTEROP\`+winrmsim.DefaultUser, "--password", winrmsim.DefaultPassword, "--encryption", "auto")
	checkAnswered(t, res, h.Hostname, false)
	hs, _ := f.HostStats(h.Hostname)
	if hs.NTLMContexts != 1 || hs.Sealed != 0 {
		t.Errorf("host %+v: want one NTLM context (its channel bindings checked strictly) and no sealing over TLS", hs)
	}
}

func TestAKerberosClientThatDoesNotEncryptIsRefusedOverHTTP(t *testing.T) {
	py := pythonWithWinRM(t)
	k, f := interopDomain(t, false)
	h := f.Hosts()[0]
	// Debian's requests-kerberos cannot seal (see the script): pywinrm
	// then sends readable messages after authenticating, which Windows
	// refuses unless AllowUnencrypted is set.
	cc := "FILE:" + filepath.Join(t.TempDir(), "cc")
	kinit := exec.Command("kinit", "-c", cc, winrmsim.DefaultUser+"@"+interopRealm)
	kinit.Env = []string{"KRB5_CONFIG=" + k.Krb5Conf(), "PATH=/usr/bin:/bin"}
	kinit.Stdin = strings.NewReader(winrmsim.DefaultPassword + "\n")
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Skipf("kinit (krb5-user) is needed to make requests-kerberos' ticket cache: %v: %s", err, out)
	}
	res := runPywinrm(t, py, []string{"KRB5_CONFIG=" + k.Krb5Conf(), "KRB5CCNAME=" + cc},
		"--endpoint", "http://"+h.IP+":"+strconv.Itoa(h.Port)+"/wsman", "--auth", "kerberos-plaintext",
		"--user", winrmsim.DefaultUser+"@"+interopRealm, "--spn-host", h.FQDN)
	if res.Error == "" || res.Code == nil || *res.Code != 500 {
		t.Fatalf("pywinrm sending readable messages: %+v; want HTTP 500", res)
	}
	hs, _ := f.HostStats(h.Hostname)
	if hs.KerberosContexts != 1 || hs.PlainRefused != 1 || hs.ShellsCreated != 0 {
		t.Errorf("host %+v: want the Kerberos context made, the readable Create refused, no shell", hs)
	}
}
