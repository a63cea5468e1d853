package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rmmhq/rmm/engine"
)

// connected starts s1's relay against a world with s1 enrolled and waits
// for the device list central sends.
func connected(t *testing.T, siteOf []string) (*world, *Relay, string) {
	t.Helper()
	w := newWorld(t, siteOf, "s1")
	c := w.creds("s1")
	n := 0
	for _, s := range siteOf {
		if s == "s1" {
			n++
		}
	}
	r, _, rpath := startRelay(t, c, "nats-leaf://"+w.hubAddr, t.TempDir())
	eventually(t, "central's device list at the relay", func() bool { return len(r.Engine().Devices()) == n })
	drained(t, w, "s1")
	// The sweep the new list started is done and out.
	eventually(t, "the relay's first sweep", func() bool { return r.Stats().Published == int64(n) && r.Stats().Outbox == 0 })
	return w, r, rpath
}

func TestARelayRunsOnlyCommandsCentralSignedForItsSiteAndRole(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS servers: not in -short")
	}
	ctx := context.Background()
	w, r, _ := connected(t, []string{"s1", "s1"})
	hs := w.hub.sites["s1"]
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now().UTC()
	publish := func(c command, key ed25519.PrivateKey) {
		t.Helper()
		b, _ := json.Marshal(c)
		msg := nats.NewMsg(cmdSubject("s1"))
		msg.Data = b
		if key != nil {
			msg.Header.Set(sigHeader, sign(key, b))
		}
		if _, err := hs.js.PublishMsg(ctx, msg, jetstream.WithMsgID(c.ID)); err != nil {
			t.Fatal(err)
		}
	}
	base := command{Site: "s1", Kind: kindPollNow, IssuedAt: now, ExpiresAt: now.Add(time.Hour), User: "mallory", Role: "admin"}
	forged := []struct {
		c   command
		key ed25519.PrivateKey
	}{
		{with(base, func(c *command) { c.ID = "unsigned" }), nil},
		{with(base, func(c *command) { c.ID = "other-key" }), otherKey},
		{with(base, func(c *command) { c.ID = "other-site"; c.Site = "s2" }), w.key},
		{with(base, func(c *command) { c.ID = "expired"; c.ExpiresAt = now.Add(-time.Minute) }), w.key},
		{with(base, func(c *command) { c.ID = "viewer"; c.Role = "viewer" }), w.key},
	}
	before := requests(t, w.fleet, w.sites["s1"])
	executed := r.Stats().Executed
	for _, f := range forged {
		publish(f.c, f.key)
	}
	eventually(t, "the relay to refuse the five", func() bool { return r.Stats().Refused == int64(len(forged)) })
	if got := requests(t, w.fleet, w.sites["s1"]); got != before {
		t.Fatalf("refused commands reached the hosts: %d requests", got-before)
	}
	if r.Stats().Executed != executed {
		t.Fatalf("a refused command ran: %+v", r.Stats())
	}
	// Central's own, through the engine's request (RBAC, audit): runs once
	// even when delivered twice.
	op := engine.Identity{User: "alice", Role: engine.RoleOperator, Via: engine.ViaCLI}
	if _, err := engine.Call(ctx, w.eng, op, engine.PollNow{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the relay to run central's poll-now", func() bool { return r.Stats().Executed == executed+1 })
	if got := requests(t, w.fleet, w.sites["s1"]); got == before {
		t.Fatal("central's poll-now did not reach the site's hosts")
	}
	// A viewer's poll-now is refused at central and never published.
	st, _ := hs.js.Stream(ctx, cmdStream)
	info, _ := st.Info(ctx)
	queued := info.State.Msgs
	viewer := engine.Identity{User: "victor", Role: engine.RoleViewer, Via: engine.ViaCLI}
	if _, err := engine.Call(ctx, w.eng, viewer, engine.PollNow{}); err == nil {
		t.Fatal("a viewer's poll-now was accepted")
	}
	info, _ = st.Info(ctx)
	if info.State.Msgs != queued {
		t.Fatalf("a viewer's refused poll-now reached the command stream (%d -> %d)", queued, info.State.Msgs)
	}
}

// drained waits until the relay took and acknowledged every command
// queued for site.
func drained(t *testing.T, w *world, site string) {
	t.Helper()
	hs := w.hub.sites[site]
	eventually(t, "the relay to take every queued command", func() bool {
		ci, err := hs.js.Consumer(context.Background(), cmdStream, relayDurable)
		if err != nil {
			return false
		}
		info, err := ci.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

func with(c command, f func(*command)) command {
	f(&c)
	return c
}

func TestCentralNeverReachesARelayedDeviceNotEvenWithDoctor(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS servers: not in -short")
	}
	ctx := context.Background()
	w, _, _ := connected(t, []string{"s1", "main"})
	host := w.sites["s1"][0]
	before := requests(t, w.fleet, w.sites["s1"])
	rep, err := engine.Call(ctx, w.eng, admin, engine.Diagnose{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Steps) != 1 || rep.Steps[0].Status != "fail" {
		t.Fatalf("doctor of a relayed device: %+v", rep)
	}
	if _, err := w.eng.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := requests(t, w.fleet, w.sites["s1"]); got != before {
		t.Fatalf("central sent %d requests to a relayed host", got-before)
	}
}

func TestARelayRestartedDuringACutLosesNothing(t *testing.T) {
	if raceEnabled {
		// Instrumented, a loaded machine delays the leaf's reconnect past
		// the catch-up wait; CI runs the link-cut tests without -race.
		t.Skip("cuts and restores the leaf link: run without -race")
	}
	if testing.Short() {
		t.Skip("embedded NATS servers and a link cut: not in -short")
	}
	ctx := context.Background()
	w := newWorld(t, []string{"s1", "s1", "s1"}, "s1")
	c := w.creds("s1")
	cab := newCable(t, w.hubAddr)
	dir := t.TempDir()
	r, rdb, rpath := startRelay(t, c, "nats-leaf://"+cab.addr(), dir)
	eventually(t, "central's device list at the relay", func() bool { return len(r.Engine().Devices()) == 3 })
	eventually(t, "the first sweep's polls to reach central", func() bool { return r.Stats().Published == 3 && r.Stats().Outbox == 0 })
	cab.setCut(true)
	eventually(t, "the leaf link to drop", func() bool { return !r.Connected() })
	if _, err := r.Engine().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	// The relay stops and starts again while the link is still cut: its
	// outbox is on disk.
	_ = r.Close()
	eopts := engine.Options{Credential: newTestCred(), Timeout: 5 * time.Second}
	eopts.Writer.FlushInterval = 20 * time.Millisecond
	r2, err := Start(ctx, Options{Creds: c, HubURL: "nats-leaf://" + cab.addr(), DB: rdb, Engine: eopts,
		StoreDir: filepath.Join(dir, "nats"), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r2.Close() })
	if st := r2.Stats(); st.Outbox != 3 {
		t.Fatalf("outbox after the restart holds %d polls, want the 3 of the sweep before it", st.Outbox)
	}
	if _, err := r2.Engine().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	want := count(t, rpath, `SELECT count(*) FROM metrics`)
	restored := time.Now()
	cab.setCut(false)
	eventually(t, "central to catch up", func() bool { return count(t, w.dbPath, siteMetrics, "s1") >= want })
	t.Logf("caught up %d metric rows %s after the link came back", want, time.Since(restored).Round(time.Millisecond))
	if got := count(t, w.dbPath, siteMetrics, "s1"); got != want {
		t.Fatalf("central holds %d rows, the relay %d", got, want)
	}
	if n := count(t, w.dbPath, duplicates); n != 0 {
		t.Fatalf("%d duplicated rows", n)
	}
}

func TestTheLeafLinkRunsOverTLSWithTheHubsCertificateChecked(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS servers: not in -short")
	}
	ctx := context.Background()
	serverTLS, pool := testCA(t)
	w := newWorld(t, []string{"s1", "s1"}, "s1")
	c := w.creds("s1")
	_ = w.hub.Close()
	h, err := StartHub(ctx, HubOptions{DB: w.db, Engine: w.eng, Listen: w.hubAddr, TLS: serverTLS,
		StoreDir: filepath.Join(w.dir, "hub-tls"), SigningKey: w.key, SyncEvery: 200 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w.hub = h
	t.Cleanup(func() { _ = h.Close() })
	dir := t.TempDir()
	db := openRelayDB(t, dir)
	eopts := engine.Options{Credential: newTestCred(), Timeout: 5 * time.Second}
	eopts.Writer.FlushInterval = 20 * time.Millisecond
	r, err := Start(ctx, Options{Creds: c, HubURL: "tls://" + w.hubAddr, DB: db, Engine: eopts,
		TLS: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, StoreDir: filepath.Join(dir, "nats"), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	eventually(t, "the device list over TLS", func() bool { return len(r.Engine().Devices()) == 2 })
	if _, err := r.Engine().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "central to ingest over TLS", func() bool { return count(t, w.dbPath, siteOnline, "s1") == 2 })
	// A plain-TCP client is refused by the TLS listener.
	conn, err := net.DialTimeout("tcp", w.hubAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 512)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(buf)
	if got := string(buf[:n]); !containsAll(got, `"tls_required":true`) {
		t.Fatalf("the hub's leaf listener does not require TLS: %q", got)
	}
}

// testCA makes a CA and a certificate for 127.0.0.1 signed by it.
func testCA(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rmm test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "rmm hub"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// logBuffer collects a logger's lines for a test to wait on.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

func TestARevokedRelayIsRefusedAndCentralPollsItsSiteAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS servers: not in -short")
	}
	ctx := context.Background()
	w, r, _ := connected(t, []string{"s1", "s1"})
	if _, err := engine.Call(ctx, w.eng, admin, engine.RevokeRelay{Site: "s1"}); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	_ = w.hub.Close()
	h, err := StartHub(ctx, HubOptions{DB: w.db, Engine: w.eng, Listen: w.hubAddr, StoreDir: filepath.Join(w.dir, "hub"),
		SigningKey: w.key, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	// The relay starts again with its (now revoked) credentials: the hub
	// refuses its login, which the relay's leaf node reports.
	var logs logBuffer
	dir := t.TempDir()
	eopts := engine.Options{Credential: newTestCred(), Timeout: 5 * time.Second}
	r2, err := Start(ctx, Options{Creds: w.creds("s1"), HubURL: "nats-leaf://" + w.hubAddr, DB: openRelayDB(t, dir), Engine: eopts,
		StoreDir: filepath.Join(dir, "nats"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r2.Close() })
	eventually(t, "the hub to refuse the revoked relay's login", func() bool { return logs.has("Authorization Violation") })
	if r2.Connected() {
		t.Fatal("the revoked relay is connected")
	}
	if h.Relayed("s1") {
		t.Fatal("the hub still treats s1 as relayed")
	}
	before := requests(t, w.fleet, w.sites["s1"])
	if res, err := w.eng.Sweep(ctx); err != nil || res.Devices != 2 {
		t.Fatalf("central's sweep after the revocation: %+v %v", res, err)
	}
	if requests(t, w.fleet, w.sites["s1"]) == before {
		t.Fatal("central did not poll the site whose relay was revoked")
	}
}
