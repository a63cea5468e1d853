package engine_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// canaryPassword is the stored password the attacks below try to read.
const canaryPassword = "Canary-Pw-7731xq"

// captureListener is a listener "an Operator controls" on loopback: it
// records every Authorization header it is sent and answers 401.
type captureListener struct {
	srv  *httptest.Server
	mu   sync.Mutex
	auth []string
}

func newCaptureListener(t *testing.T) *captureListener {
	t.Helper()
	c := &captureListener{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			c.mu.Lock()
			c.auth = append(c.auth, h)
			c.mu.Unlock()
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// port is the listener's port, as a CSV cell.
func (c *captureListener) port(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(c.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// captured reports whether the listener was sent the canary password.
func (c *captureListener) captured() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.auth {
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic ")); err == nil && strings.Contains(string(raw), canaryPassword) {
			return true
		}
	}
	return false
}

// trustEngine is a fleet whose stored "default" credential holds the
// canary password, with the given scope.
func trustEngine(t *testing.T, scope creds.Scope) (*winrmsim.Fleet, *store.DB, *engine.Engine) {
	t.Helper()
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 81})
	vault := creds.NewMemoryStore()
	if err := vault.Set(context.Background(), creds.Credential{Name: "default", User: "rmm", Secret: creds.NewSecret(canaryPassword), Scope: scope}); err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t, db, engine.Options{Credentials: vault, Retries: -1})
	return fleet, db, eng
}

// csvImport is the request rmm import sends for a CSV: the file streamed
// row by row, with its name and lines.
func csvImport(name, text string) engine.ImportDevices {
	return engine.ImportDevices{Source: name, Stream: csvimport.NewStream(name, strings.NewReader(text), csvimport.Options{})}
}

// csvRows parses a CSV into the devices of an import held in memory
// (ImportDevices.Devices), with their lines.
func csvRows(t *testing.T, name, text string) []store.DeviceInput {
	t.Helper()
	rows, problems, err := csvimport.Parse(name, strings.NewReader(text))
	if err != nil || len(problems) > 0 {
		t.Fatalf("parse %s: %v %v", name, err, problems)
	}
	out := make([]store.DeviceInput, len(rows))
	for i, r := range rows {
		out[i] = r.Device
		out[i].Line = r.Line
	}
	return out
}

// Reliability report F2, as reproduced there: an Operator imports a
// device pointing at a listener they control, with the fleet's
// credential, plain HTTP and unencrypted Basic allowed, polls, and reads
// the password off the wire. The import is refused whole, naming each
// line and field; nothing reaches the listener.
func TestAnOperatorCannotPointACredentialAtAListenerTheyControl(t *testing.T) {
	l := newCaptureListener(t)
	_, db, eng := trustEngine(t, creds.Scope{})
	ctx := context.Background()
	evil := "Hostname,IPAddress,Port,Transport,AllowUnencrypted,CredentialId\n" +
		"EVIL-1,127.0.0.1," + l.port(t) + ",http,true,default\n"
	_, err := engine.Call(ctx, eng, operator, csvImport("evil.csv", evil))
	if !errors.Is(err, engine.ErrDenied) {
		t.Errorf("the Operator's import: %v, want permission denied", err)
	}
	for _, want := range []string{"evil.csv:2: CredentialId", "evil.csv:2: Transport", "evil.csv:2: AllowUnencrypted", "Admin"} {
		if err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if _, ok := deviceNamed(t, db, "EVIL-1"); ok {
		t.Error("the refused import stored the device")
	}
	if _, err := engine.Call(ctx, eng, operator, engine.PollNow{}); err != nil {
		t.Fatal(err)
	}
	if l.captured() {
		t.Fatal("the password reached the Operator's listener")
	}
	rows, err := db.ListAudit(ctx, store.AuditFilter{Action: "devices.import"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rows); n == 0 || rows[n-1].Result != store.AuditDenied || rows[n-1].User != operator.User {
		t.Errorf("the refused import is not audited as denied: %+v", rows)
	}

	// Each way of downgrading, one at a time, on a new device and on one
	// already stored.
	host := "WS-TRUST"
	if _, err := engine.Call(ctx, eng, admin, engine.ImportDevices{Source: "base.csv",
		Devices: csvRows(t, "base.csv", "Hostname,IPAddress,Port,Transport,Auth,AllowUnencrypted\n"+
			host+",127.0.0.1,"+l.port(t)+",https,,\nKRB-1,127.0.0.1,"+l.port(t)+",http,kerberos,true\n")}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, csv, field string }{
		{"a credential", "Hostname,CredentialId\n" + host + ",default\n", "CredentialId"},
		{"plain HTTP", "Hostname,Transport\n" + host + ",http\n", "Transport"},
		{"unencrypted Basic", "Hostname,AllowUnencrypted\n" + host + ",true\n", "AllowUnencrypted"},
		{"no TLS verification", "Hostname,InsecureSkipVerify\n" + host + ",yes\n", "InsecureSkipVerify"},
		{"a CA bundle of their own", "Hostname,CABundle\n" + host + ",/tmp/mine.pem\n", "CABundle"},
		{"a new device with a credential", "Hostname,CredentialId\nNEW-1,default\n", "CredentialId"},
		{"Basic instead of Kerberos on an HTTP device", "Hostname,Auth\nKRB-1,basic\n", "Auth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := engine.Call(ctx, eng, operator, csvImport("x.csv", tt.csv))
			if !errors.Is(err, engine.ErrDenied) || !strings.Contains(err.Error(), "x.csv:2: "+tt.field) {
				t.Errorf("import setting %s: %v", tt.field, err)
			}
		})
	}
	// What stays the Operator's: other fields, and a row that repeats the
	// stored trust settings.
	ok := "Hostname,Description,Site,CredentialId,Transport\n" + host + ",moved desk,branch,,https\n"
	if _, err := engine.Call(ctx, eng, operator, csvImport("ok.csv", ok)); err != nil {
		t.Errorf("an Operator's harmless edit was refused: %v", err)
	}
}

// deviceNamed finds a stored device by hostname.
func deviceNamed(t *testing.T, db *store.DB, host string) (store.Device, bool) {
	t.Helper()
	devs, err := db.ListDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if strings.EqualFold(d.Hostname, host) {
			return d, true
		}
	}
	return store.Device{}, false
}

// An Admin's device reached over plain HTTP has only its address to say
// which host gets the credential: an Operator may not move it.
func TestAnOperatorCannotMoveADeviceReachedWithoutTLSVerification(t *testing.T) {
	l := newCaptureListener(t)
	fleet, _, eng := trustEngine(t, creds.Scope{})
	ctx := context.Background()
	h := fleet.Hosts()[0] // the simulator serves plain HTTP: imported with Transport=http
	moved := "Hostname,IPAddress,Port\n" + h.Hostname + ",127.0.0.1," + l.port(t) + "\n"
	_, err := engine.Call(ctx, eng, operator, engine.ImportDevices{Source: "move.csv", Devices: csvRows(t, "move.csv", moved)})
	if !errors.Is(err, engine.ErrDenied) || !strings.Contains(err.Error(), "move.csv:2: Port") {
		t.Fatalf("moving an HTTP device: %v", err)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.PollNow{}); err != nil {
		t.Fatal(err)
	}
	if l.captured() {
		t.Fatal("the password reached the listener")
	}
}

// An Admin may point a device anywhere, but a scoped credential is never
// sent outside its scope: the device gets none, is Unknown and raises
// one alert. The same device with an unscoped credential shows the
// listener does capture what it is sent (the positive control).
func TestAScopedCredentialIsNeverSentOutsideItsScope(t *testing.T) {
	l := newCaptureListener(t)
	_, db, eng := trustEngine(t, creds.Scope{Domain: "contoso.com"})
	ctx := context.Background()
	evil := "Hostname,FQDN,IPAddress,Port,Transport,AllowUnencrypted\n" +
		"EVIL-1,evil-1.attacker.example,127.0.0.1," + l.port(t) + ",http,true\n"
	if _, err := engine.Call(ctx, eng, admin, csvImport("evil.csv", evil)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := engine.Call(ctx, eng, admin, engine.PollNow{}); err != nil {
			t.Fatal(err)
		}
	}
	if l.captured() {
		t.Fatal("a credential scoped to contoso.com was sent to evil-1.attacker.example")
	}
	st := stateOf(t, eng, "EVIL-1")
	if st.Status != engine.StatusUnknown || !strings.Contains(st.LastError, "not sent") || !strings.Contains(st.LastError, "contoso.com") {
		t.Errorf("EVIL-1: %s %q, want Unknown saying the credential was not sent", st.Status, st.LastError)
	}
	alerts, err := engine.Call(ctx, eng, admin, engine.ListAlerts{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range alerts {
		if a.Hostname == "EVIL-1" && a.Type == engine.AlertTypeUnmanageable {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d unmanageable alerts for EVIL-1 after two polls, want 1: %+v", n, alerts)
	}
	d, _ := deviceNamed(t, db, "EVIL-1")
	rep, err := engine.Call(ctx, eng, admin, engine.Diagnose{Host: d.Hostname, Credential: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if l.captured() || rep.OK {
		t.Errorf("rmm creds test sent the scoped credential out of scope (ok=%v)", rep.OK)
	}

	// The positive control: the same credential without a scope goes.
	if _, err := engine.Call(ctx, eng, admin, engine.SetCredential{Name: "default", User: "rmm", Secret: creds.NewSecret(canaryPassword)}); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Call(ctx, eng, admin, engine.PollNow{}); err != nil {
		t.Fatal(err)
	}
	if !l.captured() {
		t.Fatal("the listener did not capture an unscoped credential: the test proves nothing")
	}
}
