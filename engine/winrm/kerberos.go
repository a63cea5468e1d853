package winrm

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/sync/singleflight"
)

// kerberos.go: the Kerberos client behind auth kerberos and negotiate.
// gokrb5 builds and reads the messages (AS-REQ, TGS-REQ and their
// replies, tickets, keys); the exchanges with the KDC are made here, so
// that every request is counted, bounded by the caller's context, and
// its KRB-ERROR kept as a code (gokrb5's client flattens it into text),
// and so that no goroutine of gokrb5's runs: gokrb5's Client renews TGTs
// from a goroutine per login.
//
// What is cached: one TGT per credential, renewed (or obtained again)
// when less than a sixth of its life is left; one service ticket per
// host SPN (HTTP/<fqdn>) for its lifetime. A kept connection's security
// context is reused for every request on it (secure.go), so a warm sweep
// asks the KDC for nothing. Failures are remembered for a while per
// credential and per SPN: a wrong password costs one AS exchange per
// failDelay, not one per device (an account lockout policy counts them).

// KDC timing.
const (
	kdcDialTimeout  = 3 * time.Second
	kdcReplyTimeout = 10 * time.Second
	kdcDefaultPort  = "88"
	// ticketMargin: a ticket with less life than this left is not used
	// for a new context (the host checks it against its own clock).
	ticketMargin = 2 * time.Minute
	// credFailDelay and kdcFailDelay: how long a credential's failure
	// (wrong password, unknown user, expired password, clock skew) and
	// a KDC that did not answer are remembered before the KDC is asked
	// again.
	credFailDelay = 5 * time.Minute
	kdcFailDelay  = 30 * time.Second
	// maxKrbCreds bounds the credentials whose tickets are kept.
	maxKrbCreds = 256
	// maxClockSkew is Kerberos' (and Windows') default tolerance.
	maxClockSkew = 5 * time.Minute
	// kdcInFlight bounds the exchanges with KDCs at once: a cold sweep
	// of thousands of hosts asks a ticket for each, and a KDC drops TCP
	// connections beyond its own limit (MIT's resets them).
	kdcInFlight = 16
)

// KerberosError is a Kerberos failure in the admin's words: which
// problem (Reason), what was seen and what to do. It is a Configuration
// error: asking again does not help until someone fixes it.
type KerberosError struct {
	Reason string // e.g. "clock skew", "unknown principal", "password expired"
	Detail string // what was seen: the principal, the realm, the KDC
	Fix    string // what to do
	Code   int32  // the KRB-ERROR code when the KDC or the host sent one, else 0
	// fallback: Kerberos cannot be used for this target (no host name,
	// no KDC, no SPN); Negotiate falls back to NTLM as Windows does.
	fallback bool
	Err      error
}

func (e *KerberosError) Error() string {
	s := "kerberos: " + e.Reason
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

func (e *KerberosError) Unwrap() error { return e.Err }

// KDCError is a KRB-ERROR a KDC answered.
type KDCError struct {
	Code  int32
	Text  string
	KDC   string // the KDC that answered
	eData []byte // the error's e-data (pre-authentication hints)
	// anyRealm: the KDC was found through winrm.kerberos_kdc's entry
	// for every realm, not one for this realm: it may not serve it.
	anyRealm bool
}

func (e *KDCError) Error() string {
	s := "KDC error " + strconv.Itoa(int(e.Code)) + " (" + errorcode.Lookup(e.Code) + ")"
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// kerberosClient obtains and caches tickets for every credential the
// client uses with Kerberos. It is safe for concurrent use.
type kerberosClient struct {
	log *slog.Logger

	mu    sync.Mutex
	opts  KerberosOptions
	conf  *config.Config // libdefaults; krb5.conf's realms when one was read
	creds map[string]*krbCred
	srv   map[string]srvEntry // DNS SRV answers per realm

	flight singleflight.Group

	requests atomic.Int64 // messages sent to KDCs
	failures atomic.Int64 // exchanges that failed (KRB-ERROR or no answer)
	skewNS   atomic.Int64 // the KDC's clock minus ours, at the last AS exchange

	slots    chan struct{} // kdcInFlight exchanges at once
	lastAuth atomic.Int64  // the last authenticator time handed out (uniqueTime)
}

type srvEntry struct {
	addrs []string
	until time.Time
}

func newKerberosClient(log *slog.Logger) *kerberosClient {
	k := &kerberosClient{log: log, creds: make(map[string]*krbCred), srv: make(map[string]srvEntry), slots: make(chan struct{}, kdcInFlight)}
	_ = k.configure(KerberosOptions{}) // no configured file: no error
	return k
}

// configure applies new options: the krb5.conf is read again, and the
// tickets obtained so far are kept (they stay valid). A configured
// krb5.conf that cannot be read is an error, and nothing changes.
func (k *kerberosClient) configure(o KerberosOptions) error {
	path := o.Krb5Conf
	if o.NoKrb5Conf {
		path = os.DevNull // an empty configuration: gokrb5's defaults
	}
	conf, err := loadKrb5Conf(path)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.opts, k.conf = o, conf
	k.srv = make(map[string]srvEntry)
	return nil
}

// loadKrb5Conf reads the krb5.conf: path when set (an error when it
// cannot be read), else DefaultKrb5Conf when it exists. Without one,
// gokrb5's defaults are used: a krb5.conf is never required.
func loadKrb5Conf(path string) (*config.Config, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultKrb5Conf
	}
	var conf *config.Config
	var err error
	if _, serr := os.Stat(path); serr == nil || explicit {
		conf, err = config.Load(path)
		if err != nil && !explicit {
			conf, err = nil, nil // a system file rmm cannot parse: ignore it
		}
	}
	if conf == nil {
		conf = config.New()
	}
	// rmm seals with AES only: ask for nothing else.
	conf.LibDefaults.DefaultTktEnctypeIDs = []int32{18, 17, 20, 19}
	conf.LibDefaults.DefaultTGSEnctypeIDs = []int32{18, 17, 20, 19}
	conf.LibDefaults.NoAddresses = true
	conf.LibDefaults.Forwardable = false
	conf.LibDefaults.Proxiable = false
	conf.LibDefaults.RenewLifetime = 7 * 24 * time.Hour
	// gokrb5 checks the skew itself with this value; rmm checks it first
	// (checkSkew) to report it as clock skew.
	conf.LibDefaults.Clockskew = 1000 * time.Hour
	if err != nil {
		return conf, fmt.Errorf("winrm.krb5_conf %s: %w", path, err)
	}
	return conf, nil
}

// Stats: KDC messages sent and failed exchanges.
func (k *kerberosClient) stats() (requests, failures int64) {
	return k.requests.Load(), k.failures.Load()
}

// krbPrincipal is the Kerberos name of a credential's user.
type krbPrincipal struct {
	user  string // e.g. svc-rmm
	realm string // e.g. CONTOSO.COM
}

func (p krbPrincipal) String() string { return p.user + "@" + p.realm }

// principalOf derives the Kerberos principal of a user name as Windows
// admins write it: user@REALM (a UPN: its suffix upper-cased, or mapped
// by winrm.kerberos_realm_map), DOMAIN\user (the NetBIOS domain through
// the realm map, or the default realm when its first label is DOMAIN),
// or user alone (the default realm).
func (k *kerberosClient) principalOf(user string) (krbPrincipal, error) {
	k.mu.Lock()
	o, conf := k.opts, k.conf
	k.mu.Unlock()
	def := strings.ToUpper(o.Realm)
	if def == "" {
		def = strings.ToUpper(conf.LibDefaults.DefaultRealm)
	}
	mapped := func(name string) (string, bool) {
		for key, r := range o.RealmMap {
			if strings.EqualFold(key, name) {
				return strings.ToUpper(r), true
			}
		}
		return "", false
	}
	if d, n, ok := strings.Cut(user, `\`); ok && n != "" {
		switch r, ok := mapped(d); {
		case ok:
			return krbPrincipal{n, r}, nil
		case strings.Contains(d, "."):
			return krbPrincipal{n, strings.ToUpper(d)}, nil
		case def != "" && strings.EqualFold(strings.Split(def, ".")[0], d):
			return krbPrincipal{n, def}, nil
		case d == ".":
			return krbPrincipal{}, &KerberosError{Reason: "local account", Detail: user + " is a local account of the host",
				Fix: "Kerberos needs a domain account (DOMAIN\\user or user@REALM); use auth ntlm or basic for a local account", fallback: true}
		}
		return krbPrincipal{n, strings.ToUpper(d)}, nil
	}
	if n, r, ok := strings.Cut(user, "@"); ok && n != "" && r != "" {
		if m, ok := mapped(r); ok {
			return krbPrincipal{n, m}, nil
		}
		return krbPrincipal{n, strings.ToUpper(r)}, nil
	}
	if def == "" {
		return krbPrincipal{}, &KerberosError{Reason: "no realm", Detail: "user " + user + " names no domain",
			Fix: "write the user as user@REALM or DOMAIN\\user (rmm creds set), or set winrm.kerberos_realm", fallback: true}
	}
	return krbPrincipal{user, def}, nil
}

// spnHost is the host part of a target's SPN (HTTP/<host>): its FQDN
// (Target.ServerName), lower-cased. An address is no name: the KDC
// knows computers by name, so Kerberos cannot reach a device known only
// by its IP.
func spnHost(t Target) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(t.ServerName)), ".")
	if name == "" {
		name = strings.ToLower(t.Address)
	}
	if net.ParseIP(strings.Trim(name, "[]")) != nil {
		return "", &KerberosError{Reason: "no host name", Detail: "device " + t.Host + " is known only by the address " + name + ", and the KDC issues tickets for names (HTTP/<fqdn>)",
			Fix: "set the device's FQDN (CSV column FQDN) to the computer's DNS name, or use auth ntlm", fallback: true}
	}
	return name, nil
}

// spnRealm is the realm of a host: winrm.kerberos_realm_map by DNS
// suffix, krb5.conf's domain_realm, else the user's realm (a KDC refers
// a request for another realm's host).
func (k *kerberosClient) spnRealm(host string, user krbPrincipal) string {
	k.mu.Lock()
	o, conf := k.opts, k.conf
	k.mu.Unlock()
	best, realm := 0, ""
	for key, r := range o.RealmMap {
		key = strings.ToLower(strings.TrimPrefix(key, "."))
		if strings.Contains(key, ".") && (host == key || strings.HasSuffix(host, "."+key)) && len(key) > best {
			best, realm = len(key), strings.ToUpper(r)
		}
	}
	if realm != "" {
		return realm
	}
	if r := conf.ResolveRealm(host); r != "" {
		return r
	}
	return user.realm
}

// krbSecret is what a credential proves itself with: a password or a
// keytab (the keytab file's content).
type krbSecret struct {
	password string
	keytab   string
}

// krbCred is one credential's tickets.
type krbCred struct {
	p      krbPrincipal
	creds  *credentials.Credentials
	kt     *keytab.Keytab // nil with a password
	ccache bool           // the TGT came from a ticket cache: it cannot be obtained again

	mu      sync.Mutex
	tgt     *krbTicket
	tickets map[string]*krbTicket // service tickets by SPN@REALM
	fails   map[string]krbFailure // recent failures by operation ("tgt", an SPN)
	used    time.Time
}

// krbTicket is a ticket and its session key.
type krbTicket struct {
	ticket    messages.Ticket
	key       types.EncryptionKey
	start     time.Time
	end       time.Time
	renewTill time.Time
	renewable bool
	realm     string // the realm whose KDC issued it
}

type krbFailure struct {
	err   error
	until time.Time
}

// credFor returns the cached state of a credential, made on first use.
func (k *kerberosClient) credFor(user string, sec krbSecret) (*krbCred, error) {
	p, err := k.principalOf(user)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(p.String()))
	h.Write([]byte{0})
	h.Write([]byte(sec.password))
	h.Write([]byte{0})
	h.Write([]byte(sec.keytab))
	key := string(h.Sum(nil))
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.creds[key]; ok {
		c.used = time.Now()
		return c, nil
	}
	c := &krbCred{p: p, tickets: make(map[string]*krbTicket), fails: make(map[string]krbFailure), used: time.Now()}
	c.creds = credentials.New(p.user, p.realm)
	switch {
	case len(sec.keytab) > 0:
		kt := new(keytab.Keytab)
		if err := kt.Unmarshal([]byte(sec.keytab)); err != nil {
			return nil, &KerberosError{Reason: "bad keytab", Detail: "the credential's keytab cannot be read: " + err.Error(),
				Fix: "store the keytab again (rmm creds set NAME --user " + user + " --keytab FILE)"}
		}
		c.kt = kt
		c.creds = c.creds.WithKeytab(kt)
	case sec.password != "":
		c.creds = c.creds.WithPassword(sec.password)
	case k.opts.CCache != "":
		cc, err := credentials.LoadCCache(k.opts.CCache)
		if err != nil {
			return nil, &KerberosError{Reason: "ticket cache", Detail: "winrm.kerberos_ccache " + k.opts.CCache + ": " + err.Error(), Fix: "run kinit again, or store a password or keytab"}
		}
		tgt, ok := cc.GetEntry(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/"+p.realm))
		if !ok {
			return nil, &KerberosError{Reason: "ticket cache", Detail: "no TGT for " + p.realm + " in " + k.opts.CCache, Fix: "run kinit " + p.String()}
		}
		var t messages.Ticket
		if err := t.Unmarshal(tgt.Ticket); err != nil {
			return nil, &KerberosError{Reason: "ticket cache", Detail: err.Error(), Fix: "run kinit again"}
		}
		c.ccache = true
		c.tgt = &krbTicket{ticket: t, key: tgt.Key, start: tgt.StartTime, end: tgt.EndTime, renewTill: tgt.RenewTill,
			renewable: !tgt.RenewTill.IsZero(), realm: p.realm}
	default:
		return nil, &KerberosError{Reason: "no secret", Detail: "the credential for " + user + " has no password and no keytab",
			Fix: "store one: rmm creds set NAME --user " + user}
	}
	if len(k.creds) >= maxKrbCreds {
		// Forget the credential used longest ago (a rotated password
		// leaves its old entry behind).
		var oldest string
		for key, c := range k.creds {
			if oldest == "" || c.used.Before(k.creds[oldest].used) {
				oldest = key
			}
		}
		delete(k.creds, oldest)
	}
	k.creds[key] = c
	return c, nil
}

// serviceTicket returns a ticket for HTTP/host: the cached one while it
// has life left, else one from the KDC (with the TGT, obtained or
// renewed first when needed). Concurrent callers for one SPN share one
// KDC exchange.
func (k *kerberosClient) serviceTicket(ctx context.Context, c *krbCred, host string) (*krbTicket, error) {
	realm := k.spnRealm(host, c.p)
	spn := "HTTP/" + host + "@" + realm
	now := time.Now()
	c.mu.Lock()
	if t := c.tickets[spn]; t != nil && t.valid(now) {
		c.mu.Unlock()
		return t, nil
	}
	if f, ok := c.fails[spn]; ok && now.Before(f.until) {
		c.mu.Unlock()
		return nil, f.err
	}
	c.mu.Unlock()
	v, err, _ := k.flight.Do(fmt.Sprintf("%p|%s", c, spn), func() (any, error) {
		c.mu.Lock()
		if t := c.tickets[spn]; t != nil && t.valid(time.Now()) {
			c.mu.Unlock()
			return t, nil
		}
		c.mu.Unlock()
		tgt, err := k.tgt(ctx, c)
		if err != nil {
			return nil, err
		}
		t, err := k.tgs(ctx, c, tgt, host, realm)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			if !errors.Is(ctx.Err(), context.Canceled) {
				c.fails[spn] = krbFailure{err: err, until: time.Now().Add(failDelay(err))}
			}
			return nil, err
		}
		delete(c.fails, spn)
		c.tickets[spn] = t
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*krbTicket), nil
}

// valid reports whether a ticket has life enough left for a new context.
func (t *krbTicket) valid(now time.Time) bool {
	return now.Add(ticketMargin).Before(t.end) && !now.Before(t.start.Add(-maxClockSkew))
}

// freshTGT reports whether a TGT can be used as it is: more than a sixth
// of its life left.
func (t *krbTicket) fresh(now time.Time) bool {
	life := t.end.Sub(t.start)
	return now.Add(max(life/6, ticketMargin)).Before(t.end)
}

// failDelay is how long a failure is remembered.
func failDelay(err error) time.Duration {
	var ke *KerberosError
	if errors.As(err, &ke) && ke.Reason == "KDC unreachable" {
		return kdcFailDelay
	}
	return credFailDelay
}

// tgt returns the credential's TGT: the cached one while fresh, else a
// renewed one (while renewable), else a new one (AS exchange).
func (k *kerberosClient) tgt(ctx context.Context, c *krbCred) (*krbTicket, error) {
	now := time.Now()
	c.mu.Lock()
	cur := c.tgt
	if cur != nil && cur.fresh(now) {
		c.mu.Unlock()
		return cur, nil
	}
	if f, ok := c.fails["tgt"]; ok && now.Before(f.until) {
		c.mu.Unlock()
		return nil, f.err
	}
	c.mu.Unlock()
	v, err, _ := k.flight.Do(fmt.Sprintf("%p|tgt", c), func() (any, error) {
		c.mu.Lock()
		cur := c.tgt
		c.mu.Unlock()
		if cur != nil && cur.fresh(time.Now()) {
			return cur, nil
		}
		var t *krbTicket
		var err error
		if cur != nil && cur.renewable && time.Now().Add(ticketMargin).Before(cur.renewTill) && time.Now().Before(cur.end) {
			t, err = k.renewTGT(ctx, c, cur)
			if err != nil && !c.ccache {
				k.log.Debug("kerberos: TGT renewal failed, logging in again", "principal", c.p.String(), "err", err)
				t, err = k.login(ctx, c)
			}
		} else if c.ccache {
			err = &KerberosError{Reason: "ticket expired", Detail: "the TGT of " + c.p.String() + " in winrm.kerberos_ccache has expired", Fix: "run kinit again, or store a password or keytab"}
		} else {
			t, err = k.login(ctx, c)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			if !errors.Is(ctx.Err(), context.Canceled) {
				c.fails["tgt"] = krbFailure{err: err, until: time.Now().Add(failDelay(err))}
			}
			return nil, err
		}
		delete(c.fails, "tgt")
		c.tgt = t
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*krbTicket), nil
}

// login obtains a TGT with an AS exchange: first without
// pre-authentication, then, when the KDC asks for it (Active Directory
// always does), with an encrypted timestamp in the key the KDC named.
func (k *kerberosClient) login(ctx context.Context, c *krbCred) (*krbTicket, error) {
	k.mu.Lock()
	conf := k.conf
	k.mu.Unlock()
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, c.p.user)
	asReq, err := messages.NewASReqForTGT(c.p.realm, conf, cname)
	if err != nil {
		return nil, fmt.Errorf("kerberos: AS-REQ: %w", err)
	}
	b, err := asReq.Marshal()
	if err != nil {
		return nil, fmt.Errorf("kerberos: AS-REQ: %w", err)
	}
	reply, err := k.send(ctx, c.p.realm, b)
	var ke *KDCError
	if errors.As(err, &ke) && ke.Code == errorcode.KDC_ERR_PREAUTH_REQUIRED {
		var pas types.PADataSequence
		if e := pas.Unmarshal(ke.eData); e != nil {
			return nil, fmt.Errorf("kerberos: the KDC's pre-authentication hints: %w", e)
		}
		if err := addEncTimestamp(&asReq, c, pas); err != nil {
			return nil, err
		}
		if b, err = asReq.Marshal(); err != nil {
			return nil, fmt.Errorf("kerberos: AS-REQ: %w", err)
		}
		reply, err = k.send(ctx, c.p.realm, b)
	}
	if err != nil {
		return nil, k.kdcFailure(err, c.p, "")
	}
	var asRep messages.ASRep
	if err := asRep.Unmarshal(reply); err != nil {
		return nil, fmt.Errorf("kerberos: AS-REP: %w", err)
	}
	if ok, err := asRep.Verify(conf, c.creds, asReq); !ok {
		k.failures.Add(1)
		return nil, &KerberosError{Reason: "wrong password", Detail: "the KDC's answer for " + c.p.String() + " does not decrypt with the stored secret",
			Fix: "store the right password or keytab (rmm creds set)", Err: err}
	}
	ep := asRep.DecryptedEncPart
	if err := k.checkSkew(ep.AuthTime, c.p.realm); err != nil {
		return nil, err
	}
	return ticketOf(asRep.Ticket, ep, c.p.realm), nil
}

// addEncTimestamp adds PA-ENC-TIMESTAMP in the first encryption type
// (and salt) the KDC's PA-ETYPE-INFO2 offers.
func addEncTimestamp(asReq *messages.ASReq, c *krbCred, pas types.PADataSequence) error {
	etypeID := int32(18)
	for _, pa := range pas {
		if pa.PADataType == patype.PA_ETYPE_INFO2 {
			var info types.ETypeInfo2
			if err := info.Unmarshal(pa.PADataValue); err == nil && len(info) > 0 {
				etypeID = info[0].EType
			}
		}
	}
	var key types.EncryptionKey
	kvno := 0
	var err error
	if c.kt != nil {
		key, kvno, err = c.kt.GetEncryptionKey(asReq.ReqBody.CName, c.p.realm, 0, etypeID)
		if err != nil {
			return &KerberosError{Reason: "keytab", Detail: "the keytab holds no key of encryption type " + strconv.Itoa(int(etypeID)) + " for " + c.p.String(),
				Fix: "export the keytab again with AES keys (ktpass /crypto AES256-SHA1, or kadmin ktadd)", Err: err}
		}
	} else {
		key, _, err = crypto.GetKeyFromPassword(c.creds.Password(), asReq.ReqBody.CName, c.p.realm, etypeID, pas)
		if err != nil {
			return fmt.Errorf("kerberos: key from password: %w", err)
		}
	}
	ts, err := types.GetPAEncTSEncAsnMarshalled()
	if err != nil {
		return fmt.Errorf("kerberos: pre-authentication: %w", err)
	}
	enc, err := crypto.GetEncryptedData(ts, key, keyusage.AS_REQ_PA_ENC_TIMESTAMP, kvno)
	if err != nil {
		return fmt.Errorf("kerberos: pre-authentication: %w", err)
	}
	pb, err := enc.Marshal()
	if err != nil {
		return fmt.Errorf("kerberos: pre-authentication: %w", err)
	}
	asReq.PAData = append(asReq.PAData, types.PAData{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: pb})
	return nil
}

// renewTGT renews a renewable TGT (a TGS exchange with the TGT itself).
func (k *kerberosClient) renewTGT(ctx context.Context, c *krbCred, cur *krbTicket) (*krbTicket, error) {
	k.mu.Lock()
	conf := k.conf
	k.mu.Unlock()
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, c.p.user)
	sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", cur.realm}}
	req, err := messages.NewTGSReq(cname, cur.realm, conf, cur.ticket, cur.key, sname, true)
	if err != nil {
		return nil, fmt.Errorf("kerberos: TGS-REQ: %w", err)
	}
	rep, err := k.tgsExchange(ctx, conf, req, cur.realm, cur.key)
	if err != nil {
		return nil, k.kdcFailure(err, c.p, "")
	}
	return ticketOf(rep.Ticket, rep.DecryptedEncPart, cur.realm), nil
}

// tgs asks for a service ticket for HTTP/host in realm, following
// referrals to other realms (at most 5).
func (k *kerberosClient) tgs(ctx context.Context, c *krbCred, tgt *krbTicket, host, realm string) (*krbTicket, error) {
	k.mu.Lock()
	conf := k.conf
	k.mu.Unlock()
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, c.p.user)
	sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_HST, NameString: []string{"HTTP", host}}
	kdcRealm, ticket, key := tgt.realm, tgt.ticket, tgt.key
	for hop := 0; hop < 5; hop++ {
		req, err := messages.NewTGSReq(cname, kdcRealm, conf, ticket, key, sname, false)
		if err != nil {
			return nil, fmt.Errorf("kerberos: TGS-REQ: %w", err)
		}
		req.ReqBody.Realm = realm
		rep, err := k.tgsExchange(ctx, conf, req, kdcRealm, key)
		if err != nil {
			return nil, k.kdcFailure(err, c.p, "HTTP/"+host+"@"+realm)
		}
		got := rep.Ticket.SName
		if len(got.NameString) == 2 && strings.EqualFold(got.NameString[0], "krbtgt") && !got.Equal(sname) {
			// A referral: a TGT for the realm that holds the host.
			kdcRealm, ticket, key = got.NameString[1], rep.Ticket, rep.DecryptedEncPart.Key
			continue
		}
		return ticketOf(rep.Ticket, rep.DecryptedEncPart, kdcRealm), nil
	}
	return nil, &KerberosError{Reason: "referral loop", Detail: "more than 5 realm referrals for HTTP/" + host, Fix: "check the realms' trust paths (winrm.kerberos_realm_map)"}
}

// tgsExchange sends a TGS-REQ and checks the reply.
func (k *kerberosClient) tgsExchange(ctx context.Context, conf *config.Config, req messages.TGSReq, kdcRealm string, key types.EncryptionKey) (messages.TGSRep, error) {
	var rep messages.TGSRep
	b, err := req.Marshal()
	if err != nil {
		return rep, fmt.Errorf("kerberos: TGS-REQ: %w", err)
	}
	reply, err := k.send(ctx, kdcRealm, b)
	if err != nil {
		return rep, err
	}
	if err := rep.Unmarshal(reply); err != nil {
		return rep, fmt.Errorf("kerberos: TGS-REP: %w", err)
	}
	if err := rep.DecryptEncPart(key); err != nil {
		return rep, fmt.Errorf("kerberos: TGS-REP: %w", err)
	}
	if ok, err := rep.Verify(conf, req); !ok {
		return rep, fmt.Errorf("kerberos: TGS-REP does not match the request: %w", err)
	}
	return rep, nil
}

func ticketOf(t messages.Ticket, ep messages.EncKDCRepPart, realm string) *krbTicket {
	start := ep.StartTime
	if start.IsZero() {
		start = ep.AuthTime
	}
	return &krbTicket{ticket: t, key: ep.Key, start: start, end: ep.EndTime, renewTill: ep.RenewTill,
		renewable: types.IsFlagSet(&ep.Flags, flags.Renewable), realm: realm}
}

// checkSkew compares the KDC's time with ours.
func (k *kerberosClient) checkSkew(kdcTime time.Time, realm string) error {
	skew := kdcTime.Sub(time.Now())
	k.skewNS.Store(int64(skew))
	if skew > maxClockSkew || skew < -maxClockSkew {
		k.failures.Add(1)
		return &KerberosError{Reason: "clock skew", Code: errorcode.KRB_AP_ERR_SKEW,
			Detail: fmt.Sprintf("this machine's clock differs from the KDC of %s by %s (Kerberos allows 5m)", realm, skew.Round(time.Second)),
			Fix:    "synchronise the clock with the domain (NTP, or the domain controllers' time source)"}
	}
	return nil
}

// clockSkew is the KDC's clock minus ours at the last AS exchange.
func (k *kerberosClient) clockSkew() time.Duration { return time.Duration(k.skewNS.Load()) }

// kdcFailure turns a KDC exchange's failure into a KerberosError that
// says which problem it is and what to do; spn is the service asked
// for, "" for an AS exchange.
func (k *kerberosClient) kdcFailure(err error, p krbPrincipal, spn string) error {
	var ke *KDCError
	if !errors.As(err, &ke) {
		return err // a KerberosError already (no KDC, unreachable) or a malformed answer
	}
	e := &KerberosError{Code: ke.Code, Err: err}
	if ke.Code == errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN && ke.anyRealm {
		// MIT answers so for a realm it does not serve; the KDC was not
		// configured for this realm, so the realm is the likelier fault.
		e.Reason, e.Detail = "wrong realm", "the KDC at "+ke.KDC+" does not know "+p.String()+": "+p.realm+" is likely not its realm (or the user name is wrong)"
		e.Fix = "check the realm: a domain's realm is its DNS name in capitals (user@CONTOSO.COM; DOMAIN\\user through winrm.kerberos_realm_map), and the KDC (winrm.kerberos_kdc REALM=host)"
		return e
	}
	switch ke.Code {
	case errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
		e.Reason, e.Detail = "unknown principal", "the KDC of "+p.realm+" does not know the user "+p.String()
		e.Fix = "check the user name and its realm (user@REALM or DOMAIN\\user, winrm.kerberos_realm_map)"
	case errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
		e.Reason, e.Detail, e.fallback = "no SPN", "the KDC knows no service principal "+spn, true
		e.Fix = "use the computer's DNS name as the device's FQDN (the KDC knows HTTP/<fqdn> of domain members), or register the SPN (setspn -S " + strings.SplitN(spn, "@", 2)[0] + " COMPUTER)"
	case errorcode.KDC_ERR_KEY_EXPIRED:
		e.Reason, e.Detail = "password expired", "the password of "+p.String()+" has expired"
		e.Fix = "change it in the domain, then store the new one (rmm creds set)"
	case errorcode.KDC_ERR_PREAUTH_FAILED:
		e.Reason, e.Detail = "wrong password", "the KDC refused the stored password of "+p.String()
		e.Fix = "store the right password or keytab (rmm creds set); repeated failures may lock the account"
	case errorcode.KDC_ERR_CLIENT_REVOKED:
		e.Reason, e.Detail = "account disabled", "the account "+p.String()+" is disabled, locked out or expired"
		e.Fix = "unlock or enable it in the domain"
	case errorcode.KRB_AP_ERR_SKEW:
		e.Reason, e.Detail = "clock skew", "this machine's clock and the KDC's of "+p.realm+" differ by more than 5 minutes"
		e.Fix = "synchronise the clock with the domain (NTP, or the domain controllers' time source)"
	case errorcode.KDC_ERR_WRONG_REALM:
		e.Reason, e.Detail = "wrong realm", "the KDC at "+ke.KDC+" is not a KDC of "+p.realm
		e.Fix = "check the realm (user@REALM, winrm.kerberos_realm, winrm.kerberos_realm_map) and the KDC (winrm.kerberos_kdc)"
	case errorcode.KDC_ERR_ETYPE_NOSUPP:
		e.Reason, e.Detail = "no AES key", "the KDC has no AES key for "+p.String()+" or "+spn
		e.Fix = "enable AES for the account and the computer (msDS-SupportedEncryptionTypes), and set the password again"
	case errorcode.KDC_ERR_POLICY:
		e.Reason, e.Detail = "KDC policy", "the KDC's policy refused the request"
		e.Fix = "check the account's logon restrictions (logon hours, workstations)"
	default:
		e.Reason, e.Detail = "KDC refused", ke.Error()
		e.Fix = "see the KDC's log for " + p.String()
	}
	return e
}

// kdcsFor lists the KDCs of a realm: winrm.kerberos_kdc, krb5.conf's
// [realms], else DNS SRV records (_kerberos._tcp.<realm>).
func (k *kerberosClient) kdcsFor(ctx context.Context, realm string) ([]string, error) {
	addrs, _, err := k.kdcsOf(ctx, realm)
	return addrs, err
}

// kdcsOf is kdcsFor, and whether the KDCs came from winrm.kerberos_kdc's
// entry for every realm.
func (k *kerberosClient) kdcsOf(ctx context.Context, realm string) ([]string, bool, error) {
	k.mu.Lock()
	o, conf := k.opts, k.conf
	cached, ok := k.srv[realm]
	k.mu.Unlock()
	withPort := func(list []string) []string {
		out := make([]string, 0, len(list))
		for _, a := range list {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(a); err != nil {
				a = net.JoinHostPort(strings.Trim(a, "[]"), kdcDefaultPort)
			}
			out = append(out, a)
		}
		return out
	}
	for r, list := range o.KDCs {
		if strings.EqualFold(r, realm) {
			return withPort(list), false, nil
		}
	}
	for _, r := range conf.Realms {
		if strings.EqualFold(r.Realm, realm) && len(r.KDC) > 0 {
			return withPort(r.KDC), false, nil
		}
	}
	if list := o.KDCs[""]; len(list) > 0 {
		return withPort(list), true, nil
	}
	if ok && time.Now().Before(cached.until) {
		return cached.addrs, false, nil
	}
	if o.NoKrb5Conf {
		return nil, false, &KerberosError{Reason: "no KDC", Detail: "no KDC is configured for the realm " + realm, Fix: "set winrm.kerberos_kdc", fallback: true}
	}
	_, srvs, err := net.DefaultResolver.LookupSRV(ctx, "kerberos", "tcp", strings.ToLower(realm))
	if err != nil || len(srvs) == 0 {
		return nil, false, &KerberosError{Reason: "no KDC", Detail: "no KDC is known for the realm " + realm + " (not in winrm.kerberos_kdc or a krb5.conf, and no DNS SRV record _kerberos._tcp." + strings.ToLower(realm) + ")",
			Fix: "set winrm.kerberos_kdc to the domain controllers (dc1.example.com:88), or check the realm's spelling", fallback: true, Err: err}
	}
	addrs := make([]string, 0, len(srvs))
	for _, s := range srvs {
		addrs = append(addrs, net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port))))
	}
	k.mu.Lock()
	k.srv[realm] = srvEntry{addrs: addrs, until: time.Now().Add(10 * time.Minute)}
	k.mu.Unlock()
	return addrs, false, nil
}

// send sends one message to a KDC of the realm (over TCP, or UDP where
// TCP is refused) and returns its answer; a KRB-ERROR is a *KDCError.
// Each KDC is tried in turn; every message sent is counted.
func (k *kerberosClient) send(ctx context.Context, realm string, msg []byte) ([]byte, error) {
	kdcs, anyRealm, err := k.kdcsOf(ctx, realm)
	if err != nil {
		k.failures.Add(1)
		return nil, err
	}
	select {
	case k.slots <- struct{}{}:
		defer func() { <-k.slots }()
	case <-ctx.Done():
		return nil, k.unanswered(ctx, realm, kdcs, []string{"waiting for a turn: " + ctx.Err().Error()})
	}
	var errs []string
	for _, addr := range kdcs {
		if ctx.Err() != nil {
			errs = append(errs, addr+": not tried: "+ctx.Err().Error())
			continue
		}
		k.requests.Add(1)
		reply, err := exchangeTCP(ctx, addr, msg)
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			// The KDC closed the connection (busy): once more.
			k.requests.Add(1)
			reply, err = exchangeTCP(ctx, addr, msg)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			k.requests.Add(1)
			reply, err = exchangeUDP(ctx, addr, msg)
		}
		if err != nil {
			errs = append(errs, addr+": "+err.Error())
			continue
		}
		if len(reply) > 0 && reply[0] == 0x7e { // [APPLICATION 30] KRB-ERROR
			var ke messages.KRBError
			if err := ke.Unmarshal(reply); err != nil {
				return nil, fmt.Errorf("kerberos: the KDC's error: %w", err)
			}
			if ke.ErrorCode != errorcode.KDC_ERR_PREAUTH_REQUIRED { // a step of the AS exchange, not a failure
				k.failures.Add(1)
			}
			return nil, &KDCError{Code: ke.ErrorCode, Text: ke.EText, KDC: addr, eData: ke.EData, anyRealm: anyRealm}
		}
		return reply, nil
	}
	return nil, k.unanswered(ctx, realm, kdcs, errs)
}

// unanswered is the error of a message no KDC answered.
func (k *kerberosClient) unanswered(ctx context.Context, realm string, kdcs, errs []string) error {
	k.failures.Add(1)
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	// A KDC that did not answer within the request's deadline did not
	// answer: remembered like a refused connection, so the next devices
	// do not each wait for it.
	return &KerberosError{Reason: "KDC unreachable", Detail: "no KDC of " + realm + " answered: " + strings.Join(errs, "; "),
		Fix: "check that port 88 of " + strings.Join(kdcs, ", ") + " is reachable from this machine (firewall, VPN) and winrm.kerberos_kdc", fallback: true}
}

// exchangeTCP sends msg with the 4-byte length prefix of Kerberos over
// TCP and reads the answer.
func exchangeTCP(ctx context.Context, addr string, msg []byte) ([]byte, error) {
	dctx, cancel := context.WithTimeout(ctx, kdcDialTimeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(kdcReplyTimeout))
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(msg)), uint32(len(msg)))
	if _, err := c.Write(append(b, msg...)); err != nil {
		return nil, err
	}
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > 1<<20 {
		return nil, fmt.Errorf("a reply of %d bytes is too large", size)
	}
	reply := make([]byte, size)
	if _, err := io.ReadFull(c, reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// exchangeUDP sends msg in one datagram and reads one back.
func exchangeUDP(ctx context.Context, addr string, msg []byte) ([]byte, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(kdcReplyTimeout))
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return slices.Clone(buf[:n]), nil
}

// ticketCount is how many service tickets are cached.
func (k *kerberosClient) ticketCount() int {
	k.mu.Lock()
	creds := make([]*krbCred, 0, len(k.creds))
	for _, c := range k.creds {
		creds = append(creds, c)
	}
	k.mu.Unlock()
	n := 0
	for _, c := range creds {
		c.mu.Lock()
		n += len(c.tickets)
		c.mu.Unlock()
	}
	return n
}

// KerberosFallsBack reports whether err says Kerberos cannot be used for
// a target at all (no host name, no realm, no KDC, no SPN), the cases in
// which Negotiate uses NTLM instead, as Windows does.
func KerberosFallsBack(err error) bool {
	var ke *KerberosError
	return errors.As(err, &ke) && ke.fallback
}
