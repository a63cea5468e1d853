package engine

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
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
// name resolution, TCP, TLS, WS-Man Identify, the authentication the host
// offers, for Kerberos the KDC, the clock skew and the host's SPN,
// authentication, message encryption, the unencrypted policy, shell
// creation (and quota), the PowerShell version and the resident loop. It stops at the first failing step that makes
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

func (r Diagnose) run(ctx context.Context, e *Engine, id Identity) (DoctorReport, error) {
	return e.diagnose(ctx, r.Host, r.Credential, id.Role), nil
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

func (e *Engine) diagnose(ctx context.Context, host, credName string, role Role) DoctorReport {
	rep := e.diagnoseSteps(ctx, host, credName, role)
	rep.OK = true
	for _, s := range rep.Steps {
		if s.Status == "fail" {
			rep.OK = false
		}
	}
	return rep
}

func (e *Engine) diagnoseSteps(ctx context.Context, host, credName string, role Role) DoctorReport {
	var d doctor
	o := e.options()
	dev, known := e.deviceByName(host)
	if !known {
		dev = store.Device{Hostname: host, Transport: "https", Port: 5986, Auth: store.AuthBasic}
	}
	if dev.Auth == "" {
		dev.Auth = store.AuthBasic
	}
	t := e.target(dev)
	addr, port := t.Address, t.Port
	d.rep.Host, d.rep.Endpoint = host, t.URL()

	s := d.start("device")
	if known && e.relayed(dev.Site) {
		// Central never reaches a relayed site's devices (relayed.go).
		s.done("fail", "on site "+dev.Site+", which a site relay polls: central does not reach it", "run rmm doctor on the relay machine")
		return d.rep
	}
	if known {
		s.done("ok", fmt.Sprintf("in the database: %s, transport %s, port %d, auth %s", d.rep.Endpoint, dev.Transport, port, dev.Auth), "")
	} else {
		s.done("warn", "not in the database; checking "+d.rep.Endpoint+" (HTTPS, the default)", "import it (rmm import) to set its address, port and transport")
	}

	s = d.start("unencrypted policy")
	policyErr := e.winrm.CheckPolicy(t)
	policyStep(s, dev, policyErr)

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
	hostport := t.HostPort()
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", hostport)
	if err != nil {
		fix := "WinRM is not listening on " + hostport + ": on the host run winrm quickconfig (HTTP) or create an HTTPS listener (see the README), and allow the port in Windows Firewall"
		if other, ok := otherWinRMPort(port); ok {
			if c2, err2 := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(other))); err2 == nil {
				c2.Close()
				fix = fmt.Sprintf("port %d answers instead: set Port/Transport in the CSV to match the listener", other)
			}
		}
		s.done("fail", err.Error(), fix)
		return d.rep
	}
	conn.Close()
	s.done("ok", hostport+" accepts connections", "")

	s = d.start("tls")
	switch {
	case !t.HTTPS:
		s.done("skipped", "transport http", "")
	case !e.tlsStep(ctx, s, t):
		return d.rep
	}
	if policyErr != nil {
		// Nothing more can be checked without sending the credential
		// the policy refuses to send.
		return d.rep
	}

	s = d.start("ws-man identify")
	ident, err := e.winrm.Identify(ctx, t, nil)
	if err != nil {
		s.done("fail", err.Error(), "the port answers but not as WinRM: check that it is the WinRM listener (winrm enumerate winrm/config/listener)")
		return d.rep
	}
	s.done("ok", strings.TrimSpace(ident.Vendor+" "+ident.Version), "")

	s = d.start("auth offered")
	e.offeredStep(ctx, s, t)

	s = d.start("credential")
	if !known && role < RoleAdmin {
		// The default credential would go to a host rmm does not manage,
		// at an address the caller chose: only an Admin may do that.
		s.done("skipped", "not sent: "+host+" is not in the database, and only an Admin may send a credential to an address rmm does not manage",
			"import the device (an Operator may), or ask an Admin to run rmm doctor or rmm creds test")
		return d.rep
	}
	var cred Credential
	if credName != "" {
		cred, err = e.namedCredential(ctx, credName, dev)
	} else {
		cred, err = e.credentialFor(ctx, o, dev)
	}
	if err != nil || cred.User == "" {
		msg := "no credential for this device"
		fix := "store one: rmm creds set default --user DOMAIN\\user (or the device's CredentialId)"
		if err != nil {
			msg = err.Error()
		}
		if errors.Is(err, creds.ErrOutOfScope) {
			fix = "the credential's scope (rmm creds list) does not include this device: check the device's site, groups and FQDN, or ask an Admin to set the credential again with a --scope that does"
		}
		s.done("fail", msg, fix)
		return d.rep
	}
	what := "user " + cred.User
	if cred.Keytab != "" {
		what += " (a keytab)"
	}
	s.done("ok", what, "")

	if t.Auth == winrm.AuthKerberos || t.Auth == winrm.AuthNegotiate {
		if !e.kerberosSteps(ctx, &d, t, cred) {
			return d.rep
		}
	}

	s = d.start("auth " + t.Auth)
	rep, ok := e.authStep(ctx, s, t, cred)
	if !ok {
		return d.rep
	}
	s = d.start("encryption")
	encryptionStep(s, t, rep)

	s = d.start("shell")
	if !e.shellStep(ctx, s, o, t, cred) {
		return d.rep
	}

	s = d.start("powershell")
	e.psVersionStep(ctx, s, o, t, cred)

	s = d.start("warm loop")
	switch {
	case !e.winrm.Pooled(t):
		s.done("skipped", "the session pool is off", "")
	case t.NoLoop:
		s.done("skipped", "the resident loop is off for this device (CSV column Loop or sessions.loop_off): one powershell.exe per poll", "")
	default:
		rctx, cancel := context.WithTimeout(ctx, o.Timeout)
		res, err := e.winrm.Run(rctx, t, cred, e.metrics)
		cancel()
		switch {
		case err != nil:
			s.done("fail", err.Error(), "see the log for this device (rmm logs --device "+dev.Hostname+")")
		case res.Mode == ModeWarm:
			s.done("ok", "the resident PowerShell loop answers", "")
		default:
			s.done("warn", "the loop could not start; rmm falls back to one powershell.exe per poll (slower)",
				"check that powershell.exe starts for this account and that AppLocker or constrained language mode allows it")
		}
	}

	s = d.start("identity")
	e.identityStep(ctx, s, o, dev, t, cred)
	return d.rep
}

// identityStep runs the metrics script and checks that the computer
// answering is the device (hostcheck.go). Only a device in the database
// has a name to check against.
func (e *Engine) identityStep(ctx context.Context, s *DoctorStep, o Options, dev store.Device, t winrm.Target, cred Credential) {
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	res, err := e.winrm.Run(rctx, t, cred, e.metrics)
	cancel()
	if err != nil {
		s.done("fail", err.Error(), "see the log for this device (rmm logs --device "+dev.Hostname+")")
		return
	}
	m, err := scripts.ParseMetrics(res.Stdout)
	if err != nil {
		s.done("fail", "the metrics script's answer: "+err.Error(), "")
		return
	}
	if dev.ID == 0 {
		s.done("skipped", "the host says it is "+m.Hostname+"; "+dev.Hostname+" is not in the database, so there is nothing to compare", "")
		return
	}
	if err := checkHostIdentity(dev, m.Hostname); err != nil {
		s.done("fail", err.Error(), "point the device's IPAddress/FQDN/Port at "+dev.Hostname+" (an Admin change when it is reached without TLS verification), "+
			"or set its Hostname to the computer's name if it was renamed")
		return
	}
	s.done("ok", "the host is "+m.Hostname, "")
}

// policyStep reports the unencrypted policy against the transport.
func policyStep(s *DoctorStep, dev store.Device, err error) bool {
	switch {
	case err != nil:
		fix := "use an HTTPS listener (port 5986) and set Transport https in the CSV; or Auth negotiate (domain accounts; encrypted messages over HTTP); or, on a trusted network only, AllowUnencrypted=true"
		var ce *winrm.Error
		if errors.As(err, &ce) {
			err = ce.Err
		}
		if dev.Transport != "http" {
			fix = "fix the device's CABundle or winrm.ca_bundle"
		}
		if strings.Contains(err.Error(), "unknown auth") {
			fix = "set the device's Auth to basic, negotiate, kerberos or ntlm (rmm import)"
		}
		return s.done("fail", err.Error(), fix)
	case dev.Transport != "http":
		return s.done("ok", "HTTPS: credentials and messages are encrypted in transit", "")
	case dev.Auth != store.AuthBasic:
		return s.done("ok", "HTTP with WinRM message encryption: auth "+dev.Auth+" seals every message", "")
	}
	return s.done("warn", "auth "+dev.Auth+" over plain HTTP allowed by AllowUnencrypted: messages cross the network readable",
		"use an HTTPS listener (port 5986) and set Transport https")
}

// tlsStep connects with the device's TLS settings and reports the
// chain, the host name and the days to expiry. For a device that skips
// verification it verifies anyway and warns with what it found.
func (e *Engine) tlsStep(ctx context.Context, s *DoctorStep, t winrm.Target) bool {
	rep, err := e.winrm.InspectTLS(ctx, t)
	if err != nil {
		var ce *winrm.Error
		if errors.As(err, &ce) {
			return s.done("skipped", "the transport settings are refused (see unencrypted policy)", "")
		}
		if errors.Is(err, winrm.ErrNotTLS) {
			return s.done("fail", err.Error(), "the device says https but the port is not an HTTPS listener: point Port at the HTTPS listener "+
				"(winrm enumerate winrm/config/listener), or set Transport http in the CSV (an Admin change; Basic also needs AllowUnencrypted)")
		}
		return s.done("fail", "TLS handshake: "+err.Error(), "the port answers but not with TLS: check that it is the HTTPS listener (winrm enumerate winrm/config/listener), or set Transport http")
	}
	leaf := rep.Leaf
	days := int(time.Until(leaf.NotAfter).Hours() / 24)
	names := strings.Join(leaf.DNSNames, ", ")
	if names == "" {
		names = leaf.Subject.CommonName
	}
	detail := fmt.Sprintf("certificate for %s, issued by %s, expires %s (%d days)", names, leaf.Issuer.CommonName,
		leaf.NotAfter.UTC().Format("2006-01-02"), days)
	if verr := rep.Verify; verr != nil {
		reason, fix := verr.Error(), "check the listener's certificate"
		var te *winrm.TLSError
		if errors.As(verr, &te) {
			reason, fix = te.Reason, te.Fix
		}
		var invalid x509.CertificateInvalidError
		if errors.As(verr, &invalid) && invalid.Reason == x509.Expired {
			fix = "the certificate has expired: renew it and rebind the HTTPS listener (winrm set winrm/config/listener?Address=*+Transport=HTTPS @{CertificateThumbprint=\"...\"})"
		}
		if rep.Insecure {
			return s.done("warn", detail+"; NOT verified (InsecureSkipVerify): it "+reason, fix)
		}
		return s.done("fail", detail+"; it "+reason, fix)
	}
	if rep.Insecure {
		return s.done("warn", detail+"; verifies, but the device skips verification (InsecureSkipVerify)",
			"set InsecureSkipVerify=false for the device: its certificate verifies")
	}
	if days < 30 {
		return s.done("warn", "verified: "+detail, "renew the certificate before it expires and rebind the HTTPS listener")
	}
	return s.done("ok", "verified: "+detail, "")
}

// offeredStep asks the host, without credentials, which authentication
// it offers (its 401's WWW-Authenticate) and checks the device's method
// is among them.
func (e *Engine) offeredStep(ctx context.Context, s *DoctorStep, t winrm.Target) bool {
	offers, err := e.winrm.Offers(ctx, t)
	if err != nil {
		return s.done("warn", err.Error(), "")
	}
	want := map[string]string{winrm.AuthBasic: "Basic", winrm.AuthNTLM: "Negotiate", winrm.AuthNegotiate: "Negotiate", winrm.AuthKerberos: "Kerberos"}[t.Auth]
	list := strings.Join(offers, ", ")
	for _, o := range offers {
		if strings.EqualFold(o, want) {
			return s.done("ok", "the host offers "+list, "")
		}
	}
	fix := "enable it on the host: winrm set winrm/config/service/auth @{" + want + "=\"true\"}"
	if t.Auth == winrm.AuthBasic && slices.ContainsFunc(offers, func(o string) bool { return strings.EqualFold(o, "Negotiate") }) {
		fix = "Basic is off there (Windows' default): use Auth negotiate with a domain account, or enable Basic on the host (winrm set winrm/config/service/auth @{Basic=\"true\"})"
	}
	return s.done("fail", "the host offers "+list+", not "+want, fix)
}

// kerberosSteps checks what Kerberos needs before the host is asked:
// the principal and the SPN, a KDC, a TGT (and the clock skew it shows),
// and a service ticket for HTTP/<fqdn>. For Negotiate, a reason
// Kerberos cannot be used is a warning: it falls back to NTLM.
func (e *Engine) kerberosSteps(ctx context.Context, d *doctor, t winrm.Target, cred Credential) bool {
	rctx, cancel := context.WithTimeout(ctx, e.options().Timeout)
	defer cancel()
	rep, err := e.winrm.ProbeKerberos(rctx, t, cred)
	fail := func(s *DoctorStep) bool {
		var ke *winrm.KerberosError
		detail, fix := err.Error(), ""
		if errors.As(err, &ke) {
			detail, fix = ke.Reason+": "+ke.Detail, ke.Fix
		}
		if t.Auth == winrm.AuthNegotiate && winrm.KerberosFallsBack(err) {
			return s.done("warn", detail+"; Negotiate will use NTLM", fix)
		}
		return s.done("fail", detail, fix)
	}
	s := d.start("kerberos names")
	if rep.Failed == "name" {
		return fail(s)
	}
	s.done("ok", "user "+rep.Principal+", host SPN "+rep.SPN, "")
	s = d.start("kdc")
	switch rep.Failed {
	case "kdc", "tgt":
		return fail(s)
	}
	s.done("ok", "a TGT for "+rep.Principal+" from "+strings.Join(rep.KDCs, ", "), "")
	s = d.start("clock skew")
	switch skew := rep.Skew.Round(time.Millisecond); {
	case skew > 5*time.Minute || skew < -5*time.Minute:
		s.done("fail", "this machine's clock differs from the KDC's by "+skew.String(), "synchronise it with the domain (NTP)")
	case skew > time.Minute || skew < -time.Minute:
		s.done("warn", "this machine's clock differs from the KDC's by "+skew.String()+" (Kerberos allows 5m)", "synchronise it with the domain (NTP)")
	default:
		s.done("ok", "within "+skew.Abs().String()+" of the KDC's", "")
	}
	s = d.start("spn")
	if rep.Failed == "spn" {
		return fail(s)
	}
	return s.done("ok", "the KDC knows "+rep.SPN+"; a ticket valid until "+rep.TicketEnd.UTC().Format("2006-01-02 15:04 UTC"), "")
}

// authStep sends an authenticated Identify with the device's method and
// reports how the host authenticated it.
func (e *Engine) authStep(ctx context.Context, s *DoctorStep, t winrm.Target, cred Credential) (winrm.AuthReport, bool) {
	rep, err := e.winrm.ProbeAuth(ctx, t, cred)
	if err == nil {
		detail := "accepted"
		switch {
		case t.Auth == winrm.AuthNegotiate:
			detail = "accepted; Negotiate chose " + rep.Method
		case rep.Method != winrm.AuthBasic:
			detail = "accepted (" + rep.Method + ")"
		}
		return rep, s.done("ok", detail+"; "+rep.Identity.Version, "")
	}
	var (
		he *winrm.HTTPError
		ke *winrm.KerberosError
	)
	fix := "the host refused the request"
	switch {
	case errors.As(err, &ke):
		fix = ke.Fix
	case errors.As(err, &he) && he.Status == http.StatusUnauthorized && t.Auth != winrm.AuthBasic:
		fix = "check the user and password (rmm creds set), that the account is in the host's Administrators or Remote Management Users group, and that Negotiate auth is on: winrm set winrm/config/service/auth @{Negotiate=\"true\"}"
	case errors.As(err, &he) && he.Status == http.StatusUnauthorized:
		fix = "check the user and password (rmm creds set), that the account is in the host's Administrators or Remote Management Users group, and that Basic auth is on: winrm set winrm/config/service/auth @{Basic=\"true\"}"
	case errors.As(err, &he):
		fix = "the host refused the request: " + he.Error()
	}
	return rep, s.done("fail", err.Error(), fix)
}

// encryptionStep says how the messages travel.
func encryptionStep(s *DoctorStep, t winrm.Target, rep winrm.AuthReport) bool {
	switch {
	case t.HTTPS && rep.Bound:
		return s.done("ok", "TLS; the "+rep.Method+" handshake is bound to the TLS channel (Extended Protection)", "")
	case t.HTTPS:
		return s.done("ok", "TLS", "")
	case rep.Sealed:
		return s.done("ok", "every message sealed ("+rep.Protocol+")", "")
	}
	return s.done("warn", "messages cross the network readable (Basic over HTTP, AllowUnencrypted)", "use HTTPS, or Auth negotiate with a domain account")
}

func (e *Engine) shellStep(ctx context.Context, s *DoctorStep, o Options, t winrm.Target, cred Credential) bool {
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := e.winrm.TryShell(rctx, t, cred); err != nil {
		var he *winrm.HTTPError
		fix := "see the error; winrm get winrm/config/winrs on the host shows the shell limits"
		if errors.As(err, &he) && he.Fault != nil && he.Fault.Code == winrm.FaultShellQuota {
			fix = "the account has MaxShellsPerUser shells open: close other sessions, or raise it: winrm set winrm/config/winrs @{MaxShellsPerUser=\"50\"}"
		}
		return s.done("fail", err.Error(), fix)
	}
	return s.done("ok", "a shell opens and closes", "")
}

var psVersionRE = regexp.MustCompile(`(\d+)\.(\d+)(\.\d+)*`)

// psVersionScript asks powershell.exe for its version.
var psVersionScript = winrm.NewScript("psversion", "$PSVersionTable.PSVersion.ToString()")

func (e *Engine) psVersionStep(ctx context.Context, s *DoctorStep, o Options, t winrm.Target, cred Credential) bool {
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	res, err := e.winrm.RunUnpooled(rctx, t, cred, psVersionScript)
	if err != nil || res.Exit != 0 {
		msg := fmt.Sprintf("exit %d", res.Exit)
		if err != nil {
			msg = err.Error()
		}
		return s.done("fail", msg, "powershell.exe does not run for this account: check execution policy and AppLocker")
	}
	v := psVersionRE.FindString(string(res.Stdout))
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

// namedCredential reads one stored credential by name, for a test
// against d: a credential is never sent outside its scope, not even by
// rmm creds test.
func (e *Engine) namedCredential(ctx context.Context, name string, d store.Device) (Credential, error) {
	st, err := e.credStore()
	if err != nil {
		return Credential{}, err
	}
	c, err := st.Get(ctx, name)
	if err != nil {
		return Credential{}, err
	}
	defer c.Secret.Wipe()
	if err := c.Scope.Allows(scopeTarget(d)); err != nil {
		return Credential{}, fmt.Errorf("credential %q was not sent: the device is %w (scope: %s)", name, err, c.Scope)
	}
	return credentialOf(c), nil
}

// otherWinRMPort is the standard WinRM port to try when the device's own
// refuses: 5986 (HTTPS) for 5985 (HTTP) and the other way round. A
// device on any other port has a listener configured on purpose, and
// suggesting a standard one would mislead; so is no probe.
func otherWinRMPort(port int) (int, bool) {
	switch port {
	case 5985:
		return 5986, true
	case 5986:
		return 5985, true
	}
	return 0, false
}
