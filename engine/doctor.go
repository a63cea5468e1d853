package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/masterzen/winrm"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

// DoctorStep is one check of rmm doctor: what was checked, whether it
// passed, what was seen, and the fix when it failed.
type DoctorStep struct {
	Name    string `json:"name"`
	Status  string `json:"status"` // "ok", "warn", "fail" or "skipped"
	Detail  string `json:"detail"`
	Fix     string `json:"fix,omitempty"`
	TookMS  int64  `json:"took_ms"`
	started time.Time
}

// DoctorReport is the whole diagnosis of one host.
type DoctorReport struct {
	Host     string       `json:"host"`
	Endpoint string       `json:"endpoint"`
	OK       bool         `json:"ok"` // no step failed
	Steps    []DoctorStep `json:"steps"`
}

// Diagnose checks, step by step, why a host can or cannot be managed:
// name resolution, TCP, TLS, WS-Man Identify, authentication, the
// unencrypted policy, shell creation (and quota), the PowerShell version
// and the resident loop. It stops at the first failing step that makes
// the rest meaningless and says how to fix it.
type Diagnose struct {
	Host string // a device's hostname, or an address not in the database
	// Credential names a stored credential to test instead of the one the
	// device would use (rmm creds test NAME --target HOST).
	Credential string
}

// Action implements Request.
func (Diagnose) Action() string { return "devices.doctor" }

// Permission implements Request: it connects with the stored credential.
func (r Diagnose) Permission() Permission {
	if r.Credential != "" {
		return PermCredsEdit // testing a named credential is credential management
	}
	return PermDevicesPoll
}

// Mutating implements Request: it changes nothing.
func (Diagnose) Mutating() bool { return false }

// Targets implements Request.
func (r Diagnose) Targets() []string { return []string{r.Host} }

// Details implements Request.
func (r Diagnose) Details() map[string]any {
	if r.Credential == "" {
		return nil
	}
	return map[string]any{"credential": r.Credential}
}

func (r Diagnose) exec(ctx context.Context, e *Engine, _ Identity) (any, error) {
	return e.diagnose(ctx, r.Host, r.Credential), nil
}

type doctor struct {
	rep DoctorReport
}

func (d *doctor) start(name string) *DoctorStep {
	d.rep.Steps = append(d.rep.Steps, DoctorStep{Name: name, started: time.Now()})
	return &d.rep.Steps[len(d.rep.Steps)-1]
}

func (s *DoctorStep) done(status, detail, fix string) bool {
	s.Status, s.Detail, s.Fix = status, detail, fix
	s.TookMS = time.Since(s.started).Milliseconds()
	return status != "fail"
}

func (e *Engine) diagnose(ctx context.Context, host, credName string) DoctorReport {
	rep := e.diagnoseSteps(ctx, host, credName)
	rep.OK = true
	for _, s := range rep.Steps {
		if s.Status == "fail" {
			rep.OK = false
		}
	}
	return rep
}

func (e *Engine) diagnoseSteps(ctx context.Context, host, credName string) DoctorReport {
	var d doctor
	o := e.options()
	dev, known := e.deviceByName(host)
	if !known {
		dev = store.Device{Hostname: host, Transport: "https", Port: 5986}
	}
	addr := address(dev)
	port := dev.Port
	if port == 0 {
		port = store.DefaultPort(dev.Transport)
	}
	d.rep.Host, d.rep.Endpoint = host, endpointURL(dev)

	s := d.start("device")
	if known {
		s.done("ok", fmt.Sprintf("in the database: %s, transport %s, port %d", d.rep.Endpoint, dev.Transport, port), "")
	} else {
		s.done("warn", "not in the database; checking "+d.rep.Endpoint+" (HTTPS, the default)", "import it (rmm import) to set its address, port and transport")
	}

	s = d.start("name resolution")
	if ip := net.ParseIP(addr); ip != nil {
		s.done("skipped", addr+" is an IP address", "")
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, err := net.DefaultResolver.LookupHost(rctx, addr)
		cancel()
		if err != nil {
			s.done("fail", err.Error(), "check the name in DNS (nslookup "+addr+"), or put the IP in the CSV's IPAddress column")
			return d.rep
		}
		s.done("ok", addr+" -> "+strings.Join(ips, ", "), "")
	}

	s = d.start("tcp " + strconv.Itoa(port))
	hostport := net.JoinHostPort(addr, strconv.Itoa(port))
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", hostport)
	if err != nil {
		fix := "WinRM is not listening on " + hostport + ": on the host run winrm quickconfig (HTTP) or create an HTTPS listener (see the README), and allow the port in Windows Firewall"
		other := 5985
		if port == 5985 {
			other = 5986
		}
		if c2, err2 := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(other))); err2 == nil {
			c2.Close()
			fix = fmt.Sprintf("port %d answers instead: set Port/Transport in the CSV to match the listener", other)
		}
		s.done("fail", err.Error(), fix)
		return d.rep
	}
	conn.Close()
	s.done("ok", hostport+" accepts connections", "")

	s = d.start("tls")
	if dev.Transport == "http" {
		s.done("skipped", "transport http", "")
	} else if !tlsStep(ctx, s, addr, hostport) {
		return d.rep
	}

	s = d.start("ws-man identify")
	vendor, version, err := e.identify(ctx, d.rep.Endpoint, "", "")
	if err != nil {
		s.done("fail", err.Error(), "the port answers but not as WinRM: check that it is the WinRM listener (winrm enumerate winrm/config/listener)")
		return d.rep
	}
	s.done("ok", strings.TrimSpace(vendor+" "+version), "")

	cred, err := e.credentialFor(ctx, o, dev)
	if credName != "" {
		cred, err = e.namedCredential(ctx, credName)
	}
	s = d.start("credential")
	if err != nil || cred.User == "" {
		msg := "no credential for this device"
		if err != nil {
			msg = err.Error()
		}
		s.done("fail", msg, "store one: rmm creds set default --user DOMAIN\\user (or the device's CredentialId)")
		return d.rep
	}
	s.done("ok", "user "+cred.User, "")

	s = d.start("auth basic")
	_, authVersion, err := e.identify(ctx, d.rep.Endpoint, cred.User, cred.Password)
	if err != nil {
		var he *HTTPError
		fix := "check the user and password (rmm creds set), that the account is in the host's Administrators or Remote Management Users group, and that Basic auth is on: winrm set winrm/config/service/auth @{Basic=\"true\"}"
		if errors.As(err, &he) && he.Status != 401 {
			fix = "the host refused the request: " + he.Error()
		}
		s.done("fail", err.Error(), fix)
		return d.rep
	}
	s.done("ok", "accepted; "+authVersion, "")

	s = d.start("unencrypted policy")
	if dev.Transport == "http" {
		s.done("warn", "Basic over HTTP: the password crosses the network readable", "use an HTTPS listener (port 5986) and set Transport https")
	} else {
		s.done("ok", "HTTPS: credentials are encrypted in transit", "")
	}

	s = d.start("shell")
	if !e.shellStep(ctx, s, o, dev, cred) {
		return d.rep
	}

	s = d.start("powershell")
	e.psVersionStep(ctx, s, o, dev, cred)

	s = d.start("warm loop")
	if e.pool == nil {
		s.done("skipped", "the session pool is off", "")
	} else {
		t := target{host: dev.Hostname, url: d.rep.Endpoint, user: cred.User, password: cred.Password}
		rctx, cancel := context.WithTimeout(ctx, o.Timeout)
		res, err := e.pool.run(rctx, t, e.metrics)
		cancel()
		switch {
		case err != nil:
			s.done("fail", err.Error(), "see the log for this device (rmm logs --device "+dev.Hostname+")")
		case res.mode == ModeWarm:
			s.done("ok", "the resident PowerShell loop answers", "")
		default:
			s.done("warn", "the loop could not start; rmm falls back to one powershell.exe per poll (slower)",
				"check that powershell.exe starts for this account and that AppLocker or constrained language mode allows it")
		}
	}
	return d.rep
}

func tlsStep(ctx context.Context, s *DoctorStep, addr, target string) bool {
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{ServerName: addr}}
	c, err := dialer.DialContext(ctx, "tcp", target)
	if err != nil {
		var (
			unknown x509.UnknownAuthorityError
			host    x509.HostnameError
			invalid x509.CertificateInvalidError
		)
		fix := "check the listener's certificate"
		switch {
		case errors.As(err, &unknown):
			fix = "the certificate is not signed by a CA this host trusts: install your CA into the system trust store, or use a certificate from it on the host"
		case errors.As(err, &host):
			fix = "the certificate is for " + strings.Join(host.Certificate.DNSNames, ", ") + ": connect by that name (FQDN column) or reissue the certificate for " + addr
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
			fix = "the certificate has expired: renew it and rebind the HTTPS listener (winrm set winrm/config/listener?Address=*+Transport=HTTPS @{CertificateThumbprint=\"...\"})"
		}
		return s.done("fail", err.Error(), fix)
	}
	defer c.Close()
	cs := c.(*tls.Conn).ConnectionState()
	leaf := cs.PeerCertificates[0]
	days := int(time.Until(leaf.NotAfter).Hours() / 24)
	detail := fmt.Sprintf("verified: %s, issued by %s, expires in %d days", leaf.Subject.CommonName, leaf.Issuer.CommonName, days)
	if days < 30 {
		return s.done("warn", detail, "renew the certificate before it expires")
	}
	return s.done("ok", detail, "")
}

var (
	identVendorRE  = regexp.MustCompile(`<(?:\w+:)?ProductVendor>([^<]*)<`)
	identVersionRE = regexp.MustCompile(`<(?:\w+:)?ProductVersion>([^<]*)<`)
)

// identify sends a WS-Man Identify, anonymous when user is empty.
func (e *Engine) identify(ctx context.Context, url, user, password string) (vendor, version string, err error) {
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>`
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if user == "" {
		req.Header.Set("WSMANIDENTIFY", "unauthenticated")
	} else {
		req.SetBasicAuth(user, password)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", "", &HTTPError{Status: resp.StatusCode, Fault: parseFault(string(b))}
	}
	if m := identVendorRE.FindSubmatch(b); m != nil {
		vendor = string(m[1])
	}
	if m := identVersionRE.FindSubmatch(b); m != nil {
		version = string(m[1])
	}
	if vendor == "" && version == "" {
		return "", "", errors.New("the answer is not an IdentifyResponse")
	}
	return vendor, version, nil
}

func (e *Engine) winrmClient(ctx context.Context, o Options, dev store.Device, cred Credential) (*winrm.Client, error) {
	u := endpointURL(dev)
	params := winrm.NewParameters(opTimeoutText, "en-US", envelopeSize)
	params.TransportDecorator = func() winrm.Transporter {
		return &soapTransport{ctx: ctx, client: e.http, url: u, user: cred.User, password: cred.Password}
	}
	ep := &winrm.Endpoint{Host: address(dev), Port: dev.Port, HTTPS: dev.Transport != "http", Timeout: o.Timeout}
	return winrm.NewClientWithParameters(ep, cred.User, cred.Password, params)
}

func (e *Engine) shellStep(ctx context.Context, s *DoctorStep, o Options, dev store.Device, cred Credential) bool {
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	client, err := e.winrmClient(rctx, o, dev, cred)
	if err != nil {
		return s.done("fail", err.Error(), "")
	}
	sh, err := client.CreateShell()
	if err != nil {
		var he *HTTPError
		fix := "see the error; winrm get winrm/config/winrs on the host shows the shell limits"
		if errors.As(err, &he) && he.Fault != nil && he.Fault.Code == FaultShellQuota {
			fix = "the account has MaxShellsPerUser shells open: close other sessions, or raise it: winrm set winrm/config/winrs @{MaxShellsPerUser=\"50\"}"
		}
		return s.done("fail", err.Error(), fix)
	}
	_ = sh.Close()
	return s.done("ok", "a shell opens and closes", "")
}

var psVersionRE = regexp.MustCompile(`(\d+)\.(\d+)(\.\d+)*`)

func (e *Engine) psVersionStep(ctx context.Context, s *DoctorStep, o Options, dev store.Device, cred Credential) bool {
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	client, err := e.winrmClient(rctx, o, dev, cred)
	if err != nil {
		return s.done("fail", err.Error(), "")
	}
	var out, errb bytes.Buffer
	code, err := client.RunWithContext(rctx, scripts.EncodedCommand("$PSVersionTable.PSVersion.ToString()"), &out, &errb)
	if err != nil || code != 0 {
		msg := fmt.Sprintf("exit %d", code)
		if err != nil {
			msg = err.Error()
		}
		return s.done("fail", msg, "powershell.exe does not run for this account: check execution policy and AppLocker")
	}
	v := psVersionRE.FindString(out.String())
	if v == "" {
		return s.done("warn", "no version in the answer", "")
	}
	if strings.HasPrefix(v, "2.") || strings.HasPrefix(v, "3.") || strings.HasPrefix(v, "4.") {
		return s.done("fail", "Windows PowerShell "+v, "rmm's scripts need Windows PowerShell 5.1: install WMF 5.1")
	}
	return s.done("ok", "Windows PowerShell "+v, "")
}

// deviceByName finds a device by hostname, case-insensitively.
func (e *Engine) deviceByName(name string) (store.Device, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, en := range e.devices {
		if strings.EqualFold(en.dev.Hostname, name) {
			return en.dev, true
		}
	}
	return store.Device{}, false
}

// namedCredential reads one stored credential by name.
func (e *Engine) namedCredential(ctx context.Context, name string) (Credential, error) {
	st, err := e.credStore()
	if err != nil {
		return Credential{}, err
	}
	c, err := st.Get(ctx, name)
	if err != nil {
		return Credential{}, err
	}
	return Credential{User: c.User, Password: c.Secret.Reveal()}, nil
}
