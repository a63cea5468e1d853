package winrm

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Auth methods a Target may use.
const (
	AuthBasic    = "basic"
	AuthNTLM     = "ntlm"
	AuthKerberos = "kerberos"
)

// WinRM's default listener ports.
const (
	PortHTTP  = 5985
	PortHTTPS = 5986
)

// Credential is the account a request authenticates as: a password, or
// for Kerberos a keytab (the content of a keytab file) instead. Secrets
// are kept in memory only and never logged or formatted.
type Credential struct {
	User     string // user, DOMAIN\user or user@REALM
	Password string
	Keytab   string // a keytab file's content (binary), instead of the password
}

// String hides the secrets from any accidental formatting.
func (c Credential) String() string {
	if len(c.Keytab) > 0 {
		return "Credential{User: " + c.User + ", Keytab: <redacted>}"
	}
	return "Credential{User: " + c.User + ", Password: <redacted>}"
}

// GoString hides the password from %#v.
func (c Credential) GoString() string { return c.String() }

// Target is one WinRM listener and how to reach it: what a device record
// says, derived once (Prepare) when the device changes, not on every
// request. The credential travels beside it (Client.Run), so one target
// serves whichever account is resolved for it.
type Target struct {
	Ref        int64  // the caller's own id of the target (rmm: the device id), handed back in ShellRef
	Host       string // the device's name, for errors and logs
	Address    string // what is dialled: an IP, an FQDN or a host name
	ServerName string // the name the certificate must hold (and Kerberos' SPN host); default Host
	Port       int    // default 5986 for HTTPS, 5985 for HTTP
	HTTPS      bool
	Auth       string // AuthBasic (default), AuthNegotiate, AuthKerberos or AuthNTLM

	// TLS: a PEM bundle of trusted CAs for this target ("" takes the
	// client's default, TransportOptions.CABundle, or the system store),
	// and whether verification is skipped (logged and reported once per
	// process through Options.OnInsecure).
	CABundle           string
	InsecureSkipVerify bool
	// AllowUnencrypted lets Basic go over plain HTTP, where messages and
	// the password cross the network readable. (NTLM, Kerberos and
	// Negotiate seal every message over HTTP whatever it says.)
	AllowUnencrypted bool
	// NoLoop never starts the resident PowerShell loop on the target:
	// every request is a powershell.exe of its own (for hosts whose EDR
	// forbids a long-lived powershell.exe; device field loop: off).
	NoLoop bool

	url      string // the WS-Man endpoint, set by Prepare
	hostPort string // Address:Port, set by Prepare
}

// Prepare fills in the defaults (port by scheme, Basic auth, the server
// name) and derives the endpoint URL. Clients prepare what they are given,
// so a prepared Target costs nothing more per request.
func (t Target) Prepare() Target {
	if t.url != "" {
		return t
	}
	if t.Auth == "" {
		t.Auth = AuthBasic
	}
	t.Auth = strings.ToLower(t.Auth)
	if t.Port == 0 {
		t.Port = PortHTTP
		if t.HTTPS {
			t.Port = PortHTTPS
		}
	}
	if t.Address == "" {
		t.Address = t.Host
	}
	if t.ServerName == "" {
		t.ServerName = t.Host
	}
	t.hostPort = net.JoinHostPort(t.Address, strconv.Itoa(t.Port))
	scheme := "http"
	if t.HTTPS {
		scheme = "https"
	}
	t.url = (&url.URL{Scheme: scheme, Host: t.hostPort, Path: "/wsman"}).String()
	return t
}

// URL is the target's WS-Management endpoint, e.g.
// https://10.0.0.5:5986/wsman.
func (t Target) URL() string { return t.Prepare().url }

// HostPort is the address and port dialled.
func (t Target) HostPort() string { return t.Prepare().hostPort }
