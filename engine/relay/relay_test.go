package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/csv"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// world is central (its SQLite, engine and hub) and a simulated fleet
// whose hosts are split over sites, all on 127.0.0.1.
type world struct {
	t        testing.TB
	fleet    *winrmsim.Fleet
	db       *store.DB
	dbPath   string
	eng      *engine.Engine
	hub      *Hub
	hubAddr  string
	dir      string
	sites    map[string][]string // site -> hostnames
	enrolled map[string]Creds    // the credentials Enroll issued per relayed site
	key      ed25519.PrivateKey
}

// newWorld starts a fleet of len(siteOf) hosts, host i on site siteOf[i],
// imports it into central's store, enrols the relayed sites and starts
// central's engine and hub (its leaf listener on a free loopback port).
func newWorld(t testing.TB, siteOf []string, relayed ...string) *world {
	t.Helper()
	ctx := context.Background()
	fleet, err := winrmsim.New(winrmsim.Config{Devices: len(siteOf), AllowUnencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fleet.Close() })
	w := &world{t: t, fleet: fleet, dir: t.TempDir(), sites: map[string][]string{}}
	var buf bytes.Buffer
	if err := fleet.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs[1:] {
		rec[4] = siteOf[i] // the site column
		w.sites[siteOf[i]] = append(w.sites[siteOf[i]], rec[0])
	}
	buf.Reset()
	cw := csv.NewWriter(&buf)
	_ = cw.WriteAll(recs)
	w.dbPath = filepath.Join(w.dir, "central.db")
	if w.db, err = store.Open(ctx, w.dbPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.db.Close() })
	if _, problems, err := csvimport.Import(ctx, w.db, "fleet.csv", &buf, csvimport.Options{}); err != nil {
		t.Fatalf("import: %v %v", err, problems)
	}
	w.eng = newTestEngine(t, w.db, engine.Options{})
	w.hubAddr = freeAddr(t)
	key, err := LoadSigningKey(filepath.Join(w.dir, "relay-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	w.key = key
	w.enrolled = map[string]Creds{}
	for _, s := range relayed {
		c, err := Enroll(ctx, w.eng, admin, key, s, "nats-leaf://"+w.hubAddr)
		if err != nil {
			t.Fatal(err)
		}
		w.enrolled[s] = c
	}
	w.startHub()
	return w
}

func (w *world) startHub() {
	w.t.Helper()
	h, err := StartHub(context.Background(), HubOptions{DB: w.db, Engine: w.eng, Listen: w.hubAddr,
		StoreDir: filepath.Join(w.dir, "hub"), SigningKey: w.key, SyncEvery: 200 * time.Millisecond, LinkGrace: 300 * time.Millisecond,
		Logger: testLogger()})
	if err != nil {
		w.t.Fatalf("StartHub: %v", err)
	}
	w.hub = h
	w.t.Cleanup(func() { _ = h.Close() })
}

// creds are the credentials newWorld's enrolment issued for site.
func (w *world) creds(site string) Creds { return w.enrolled[site] }

var admin = engine.Identity{User: "admin", Role: engine.RoleAdmin, Via: engine.ViaCLI}

func newTestEngine(t testing.TB, db *store.DB, opts engine.Options) *engine.Engine {
	t.Helper()
	opts.Credential = engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}
	opts.Timeout = 5 * time.Second
	opts.Writer.FlushInterval = 20 * time.Millisecond
	e, err := engine.New(context.Background(), db, opts)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// testLogger writes to stderr with RMM_RELAY_DEBUG set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("RMM_RELAY_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newTestCred() engine.Credential {
	return engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}
}

func openRelayDB(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dir, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// startRelay starts site's relay over a fresh SQLite file, dialling hub.
func startRelay(t testing.TB, c Creds, hub, dir string) (*Relay, *store.DB, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "relay.db")
	db := openRelayDB(t, dir)
	eopts := engine.Options{Credential: newTestCred(), Timeout: 5 * time.Second}
	eopts.Writer.FlushInterval = 20 * time.Millisecond
	r, err := Start(ctx, Options{Creds: c, HubURL: hub, DB: db, Engine: eopts, StoreDir: filepath.Join(dir, "nats"), Logger: testLogger()})
	if err != nil {
		t.Fatalf("relay.Start: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, db, path
}

// eventually polls cond until it holds; the deadline only stops a hung test.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count runs a counting query on a SQLite file through its own read-only
// connection.
func count(t testing.TB, path, query string, args ...any) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

const (
	siteMetrics = `SELECT count(*) FROM metrics m JOIN devices d ON d.id = m.device_id JOIN sites s ON s.id = d.site_id WHERE s.name = ?`
	duplicates  = `SELECT count(*) FROM (SELECT 1 FROM metrics GROUP BY device_id, type, instance, ts HAVING count(*) > 1)`
	siteOnline  = `SELECT count(*) FROM devices d JOIN sites s ON s.id = d.site_id WHERE s.name = ? AND d.status = 'Online'`
	siteAlert   = `SELECT count(*) FROM alerts WHERE type = 'relay_unreachable' AND instance = ? AND state <> 'Resolved'`
)

// modes is the set of Mode values central's engine shows for site's devices.
func modes(e *engine.Engine, site string) map[string]bool {
	out := map[string]bool{}
	for _, d := range e.Devices() {
		if d.Site == site {
			out[d.Mode] = true
		}
	}
	return out
}

func requests(t testing.TB, f *winrmsim.Fleet, hosts []string) int64 {
	t.Helper()
	var n int64
	for _, h := range hosts {
		st, ok := f.HostStats(h)
		if !ok {
			t.Fatalf("no host %s", h)
		}
		n += st.Requests
	}
	return n
}

func TestARelayPollsItsSiteAndCentralGetsEveryPollOnceAcrossACutLink(t *testing.T) {
	if raceEnabled {
		// Instrumented, a loaded machine delays the leaf's reconnect past
		// the catch-up wait; CI runs the link-cut tests without -race.
		t.Skip("cuts and restores the leaf link: run without -race")
	}
	if testing.Short() {
		t.Skip("embedded NATS servers and a link cut: not in -short")
	}
	ctx := context.Background()
	w := newWorld(t, []string{"s1", "s1", "s1", "s1", "main", "main"}, "s1")
	cab := newCable(t, w.hubAddr)
	r, _, rpath := startRelay(t, w.creds("s1"), "nats-leaf://"+cab.addr(), t.TempDir())

	eventually(t, "the relay's leaf link", r.Connected)
	eventually(t, "central's device list at the relay", func() bool { return len(r.Engine().Devices()) == 4 })
	for _, d := range r.Engine().Devices() {
		if d.Site != "s1" {
			t.Fatalf("the relay holds %s of site %q: it must hold its own site only", d.Hostname, d.Site)
		}
	}

	// The relay's own first sweep (the new device list starts one) is
	// done and out, so the hosts' counters below move for central only.
	eventually(t, "the relay's first sweep", func() bool { return r.Stats().Published == 4 && r.Stats().Outbox == 0 })
	// Central sweeps: only its own two hosts; not one request reaches s1's.
	before := requests(t, w.fleet, w.sites["s1"])
	res, err := w.eng.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Devices != 2 {
		t.Fatalf("central swept %d devices, want its 2 (s1's 4 are the relay's)", res.Devices)
	}
	if got := requests(t, w.fleet, w.sites["s1"]); got != before {
		t.Fatalf("central sent %d WinRM requests to relayed hosts", got-before)
	}

	// Link up: the relay polls, central gets the results.
	if _, err := r.Engine().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	want := count(t, rpath, `SELECT count(*) FROM metrics`)
	if want == 0 {
		t.Fatal("the relay stored no metrics")
	}
	eventually(t, "central to ingest the first sweep", func() bool {
		return count(t, w.dbPath, siteMetrics, "s1") == want
	})
	if n := count(t, w.dbPath, siteOnline, "s1"); n != 4 {
		t.Fatalf("central shows %d of s1's devices online, want 4", n)
	}
	for _, d := range w.eng.Devices() {
		if d.Site == "s1" && (d.Status != engine.StatusOnline || !d.HasMetrics) {
			t.Fatalf("central's engine shows %s as %s (metrics %v): the relay's poll did not reach it", d.Hostname, d.Status, d.HasMetrics)
		}
	}

	// Cut: the relay keeps polling into its outbox; central gets nothing.
	cab.setCut(true)
	eventually(t, "the leaf link to drop", func() bool { return !r.Connected() })
	atCut := count(t, w.dbPath, siteMetrics, "s1")
	for range 3 {
		if _, err := r.Engine().Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want = count(t, rpath, `SELECT count(*) FROM metrics`)
	if st := r.Stats(); st.Outbox == 0 {
		t.Fatalf("outbox empty while the link is cut: %+v", st)
	}
	if got := count(t, w.dbPath, siteMetrics, "s1"); got != atCut {
		t.Fatalf("central got %d rows through a cut link", got-atCut)
	}
	// Central marks the site, not every device: one alert, devices Stale.
	eventually(t, "one site-unreachable alert", func() bool { return count(t, w.dbPath, siteAlert, "s1") == 1 })
	if m := modes(w.eng, "s1"); len(m) != 1 || !m[engine.ModeRelayStale] {
		t.Fatalf("s1's devices at central have modes %v, want all %q", m, engine.ModeRelayStale)
	}
	if n := count(t, w.dbPath, `SELECT count(*) FROM alerts WHERE state <> 'Resolved' AND device_id IN
		(SELECT d.id FROM devices d JOIN sites s ON s.id = d.site_id WHERE s.name = 's1')`); n != 0 {
		t.Fatalf("%d per-device alerts at central for the cut-off site", n)
	}

	// Restore: everything arrives, once.
	restored := time.Now()
	cab.setCut(false)
	eventually(t, "central to catch up after the link came back", func() bool { return count(t, w.dbPath, siteMetrics, "s1") >= want })
	t.Logf("caught up %d metric rows %s after the link came back", want, time.Since(restored).Round(time.Millisecond))
	eventually(t, "the outbox to drain", func() bool { return r.Stats().Outbox == 0 })
	if got := count(t, w.dbPath, siteMetrics, "s1"); got != want {
		t.Fatalf("central holds %d metric rows of s1, the relay %d", got, want)
	}
	eventually(t, "the site alert to resolve", func() bool { return count(t, w.dbPath, siteAlert, "s1") == 0 })
	if m := modes(w.eng, "s1"); len(m) != 1 || !m[engine.ModeRelay] {
		t.Fatalf("s1's devices at central have modes %v after the link came back", m)
	}
	if n := count(t, w.dbPath, duplicates); n != 0 {
		t.Fatalf("%d duplicated metric rows at central", n)
	}
	// Five sweeps of four devices: the one the new device list started,
	// and the test's four.
	if st := r.Stats(); st.PublishErrs != 0 || st.Published != 5*4 {
		t.Fatalf("relay stats %+v: want 20 polls published, none refused", st)
	}
}

func TestAHubRestartLosesNothingAndAResentPollIsAppliedOnce(t *testing.T) {
	if raceEnabled {
		// Instrumented, a loaded machine delays the leaf's reconnect past
		// the catch-up wait; CI runs the link-cut tests without -race.
		t.Skip("cuts and restores the leaf link: run without -race")
	}
	if testing.Short() {
		t.Skip("embedded NATS servers: not in -short")
	}
	ctx := context.Background()
	w := newWorld(t, []string{"s1", "s1", "s1"}, "s1")
	r, _, rpath := startRelay(t, w.creds("s1"), "nats-leaf://"+w.hubAddr, t.TempDir())
	eventually(t, "central's device list at the relay", func() bool { return len(r.Engine().Devices()) == 3 })

	// Central goes away; the relay keeps polling.
	_ = w.hub.Close()
	eventually(t, "the leaf link to drop", func() bool { return !r.Connected() })
	for range 2 {
		if _, err := r.Engine().Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := count(t, rpath, `SELECT count(*) FROM metrics`)
	w.startHub()
	eventually(t, "central to ingest what the relay kept", func() bool { return count(t, w.dbPath, siteMetrics, "s1") >= want })

	// The same polls published again, as a relay that crashed before it
	// knew they were out would: JetStream's duplicate window drops them
	// at the relay...
	dupsAt := func() int64 {
		var n int64
		for _, s := range w.hub.Sites() {
			n += s.Duplicates
		}
		return n
	}
	var bodies [][]byte
	for _, d := range r.Engine().Devices() {
		rec := engine.PollRecord{Hostname: d.Hostname, Site: "s1", Status: d.Status, At: d.LastSeen,
			HasMetrics: true, CPUPct: d.CPUPct, MemPct: d.MemPct, DiskFreePct: d.DiskFreePct,
			Metrics: []store.Metric{{Type: "cpu_pct", Value: d.CPUPct, At: d.LastSeen}}}
		r.publish(rec)
		_, b, err := encodePoll(rec)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	if st := r.Stats(); st.Outbox != 0 {
		t.Fatalf("resent polls entered the outbox: %+v", st)
	}
	// ...and past that window (another message id, same poll), central's
	// own keys skip them.
	for i, b := range bodies {
		msg := nats.NewMsg(pollSubject("s1"))
		msg.Data = b
		if _, err := r.js.PublishMsg(ctx, msg, jetstream.WithMsgID("late-resend-"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "central to skip the late resends", func() bool { return dupsAt() == int64(len(bodies)) })
	if got := count(t, w.dbPath, siteMetrics, "s1"); got != want {
		t.Fatalf("central holds %d rows after the resend, want %d", got, want)
	}
	if n := count(t, w.dbPath, duplicates); n != 0 {
		t.Fatalf("%d duplicated metric rows at central", n)
	}
}

func TestARelaySeesNothingOfAnotherSiteAndCannotWriteCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS servers: not in -short")
	}
	ctx := context.Background()
	w := newWorld(t, []string{"s1", "s1", "s2", "s2"}, "s1", "s2")
	c1, c2 := w.creds("s1"), w.creds("s2")
	r1, _, _ := startRelay(t, c1, "nats-leaf://"+w.hubAddr, t.TempDir())
	r2, _, _ := startRelay(t, c2, "nats-leaf://"+w.hubAddr, t.TempDir())
	eventually(t, "both relays' device lists", func() bool {
		return len(r1.Engine().Devices()) == 2 && len(r2.Engine().Devices()) == 2
	})

	// Relay 2 listens to everything its leaf can get.
	seen := make(chan string, 1000)
	sub, err := r2.nc.Subscribe(">", func(m *nats.Msg) {
		if strings.Contains(m.Subject, ".s1") {
			seen <- m.Subject
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := r2.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// Site 1 traffic both ways: a poll up, a command down.
	if _, err := r1.Engine().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "central to ingest s1", func() bool { return count(t, w.dbPath, siteMetrics, "s1") > 0 })
	if err := w.hub.PollNow(ctx, engine.Identity{User: "alice", Role: engine.RoleOperator, Via: engine.ViaCLI}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both relays to run the poll-now", func() bool {
		return r1.Stats().Executed >= 2 && r2.Stats().Executed >= 2 // devices.sync, then poll.now
	})
	if err := r2.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-seen:
		t.Fatalf("relay 2 received %s of site 1", s)
	default:
	}

	// Relay 2 asks site 1's JetStream domain for its outbox: nobody answers.
	js1, err := jetstream.NewWithDomain(r2.nc, siteDomain("s1"))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = js1.Stream(sctx, outboxStream)
	cancel()
	if err == nil {
		t.Fatal("relay 2 reached site 1's outbox")
	}
	// At the hub it sees its own account's command stream only.
	hjs, _ := jetstream.NewWithDomain(r2.nc, hubDomain)
	st, err := hjs.Stream(ctx, cmdStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != cmdSubject("s2") {
		t.Fatalf("relay 2 sees command subjects %v", info.Config.Subjects)
	}

	// A relay publishing a command for its own site: the hub's
	// permissions drop it, it never reaches the command stream.
	hs := w.hub.sites["s1"]
	cs, err := hs.js.Stream(ctx, cmdStream)
	if err != nil {
		t.Fatal(err)
	}
	ci, _ := cs.Info(ctx)
	before := ci.State.Msgs
	if err := r1.nc.Publish(cmdSubject("s1"), []byte(`{"id":"forged","site":"s1","kind":"poll.now","role":"admin"}`)); err != nil {
		t.Fatal(err)
	}
	_ = r1.nc.Flush()
	// A command central sends after it is the witness that the forged
	// one had its chance to arrive first (same link, same order).
	if err := w.hub.PollNow(ctx, engine.Identity{User: "alice", Role: engine.RoleOperator, Via: engine.ViaCLI}); err != nil {
		t.Fatal(err)
	}
	ci, _ = cs.Info(ctx)
	if got := ci.State.Msgs - before; got != 1 {
		t.Fatalf("site 1's command stream grew by %d messages, want 1 (central's; the relay's forged one refused)", got)
	}
}
