package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/engine/notify"
	"github.com/rmmhq/rmm/store"
)

// receiver is an HTTP receiver on 127.0.0.1 that keeps every request and
// answers with status(n) (n counts from 1).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
	bodies [][]byte
	status func(n int) int
}

func newHTTPReceiver(t *testing.T, status func(int) int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.bodies = append(r.bodies, b)
		n := len(r.reqs)
		r.mu.Unlock()
		code := http.StatusOK
		if r.status != nil {
			code = r.status(n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// events decodes what the receiver got as JSON maps.
func (r *receiver) events(t *testing.T) []map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]map[string]any, len(r.bodies))
	for i, b := range r.bodies {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("request %d: %v: %s", i, err, b)
		}
	}
	return out
}

func (r *receiver) body(i int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[i]
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *receiver) headers(i int) http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[i].Header
}

// notifyFixture is an engine on the alert fixture's store with a
// notifier whose clock the test sets.
type notifyFixture struct {
	*alertFixture
	e     *Engine
	clock time.Time
	vault creds.Store
}

func newNotifyFixture(t *testing.T, f *alertFixture, o notify.Options) *notifyFixture {
	t.Helper()
	n := &notifyFixture{alertFixture: f, e: engineWith(t, f), clock: atMinute(0), vault: creds.NewMemoryStore()}
	n.e.notify.now = func() time.Time { return n.clock }
	n.setup(t, o)
	return n
}

func (n *notifyFixture) setup(t *testing.T, o notify.Options) {
	t.Helper()
	if err := n.e.SetNotify(NotifySetup{Options: o, Secrets: CredentialSecrets(n.vault), UserAgent: "rmm/test"}); err != nil {
		t.Fatal(err)
	}
}

func (n *notifyFixture) secret(t *testing.T, channel, user, secret string) {
	t.Helper()
	if err := n.vault.Set(context.Background(), creds.Credential{Name: notify.SecretPrefix + channel, User: user, Secret: creds.NewSecret(secret)}); err != nil {
		t.Fatal(err)
	}
}

func (n *notifyFixture) pass(t *testing.T) NotifyPassResult {
	t.Helper()
	res, err := n.e.NotifyPass(context.Background())
	if err != nil {
		t.Fatalf("notify pass: %v", err)
	}
	return res
}

func (n *notifyFixture) outbox(t *testing.T) []store.OutboxRow {
	t.Helper()
	rows, err := n.db.ListOutbox(context.Background(), store.OutboxFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// auditOf returns the audit rows of action with their outcome (Do writes
// a pending row before each change; those are left out).
func auditOf(t *testing.T, db *store.DB, action string) []store.AuditEntry {
	t.Helper()
	rows, err := db.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, r := range rows {
		if r.Action == action && r.Result != store.AuditPending {
			out = append(out, r)
		}
	}
	return out
}

func webhookChannel(name, url string) notify.Channel {
	return notify.Channel{Name: name, Type: notify.TypeWebhook, URL: url}
}

func TestARaisedThenResolvedAlertSendsOneMessagePerRouteAndChannel(t *testing.T) {
	pd := newHTTPReceiver(t, func(int) int { return http.StatusAccepted })
	hook := newHTTPReceiver(t, nil)
	quiet := newHTTPReceiver(t, nil)
	f := newAlertFixture(t, AlertOptions{})
	n := newNotifyFixture(t, f, notify.Options{
		Org: "Contoso IT",
		Channels: map[string]notify.Channel{
			"pd":    {Name: "pd", Type: notify.TypePagerDuty, URL: pd.srv.URL + "/v2/enqueue"},
			"hook":  webhookChannel("hook", hook.srv.URL+"/rmm"),
			"quiet": webhookChannel("quiet", quiet.srv.URL+"/rmm"),
		},
		Routes: []notify.Route{
			{Name: "pager", Match: notify.Match{Severity: []string{"Critical"}, Group: []string{"servers"}}, Channels: []string{"pd"}},
			{Name: "ops", Channels: []string{"hook"}, OnResolve: true},
			{Name: "workstations", Match: notify.Match{Group: []string{"workstations"}}, Channels: []string{"quiet"}},
		},
	})
	n.secret(t, "pd", "pagerduty", "R0UTINGKEY")
	n.secret(t, "hook", "webhook", "hmac-key")

	f.ok("srv-1", 0, 10, 10, volume("C:", 95))
	res := n.pass(t)
	if res.Routed != 1 || res.Sent != 2 || res.Failed+res.Retrying != 0 {
		t.Fatalf("first pass %+v", res)
	}
	n.clock = atMinute(1)
	f.ok("srv-1", 1, 10, 10, volume("C:", 20))
	if res := n.pass(t); res.Routed != 1 || res.Sent != 2 {
		t.Fatalf("second pass %+v", res)
	}
	if res := n.pass(t); res != (NotifyPassResult{}) {
		t.Fatalf("a third pass did something: %+v", res)
	}

	pdEvents := pd.events(t)
	if len(pdEvents) != 2 || pdEvents[0]["event_action"] != "trigger" || pdEvents[1]["event_action"] != "resolve" ||
		pdEvents[0]["dedup_key"] != pdEvents[1]["dedup_key"] || pdEvents[0]["routing_key"] != "R0UTINGKEY" {
		t.Fatalf("pagerduty got %v", pdEvents)
	}
	hooks := hook.events(t)
	if len(hooks) != 2 || hooks[0]["kind"] != "raised" || hooks[1]["kind"] != "resolved" {
		t.Fatalf("webhook got %v", hooks)
	}
	alert := hooks[0]["alerts"].([]any)[0].(map[string]any)
	if alert["hostname"] != "srv-1" || alert["severity"] != "Critical" || alert["site"] != "main" ||
		pdEvents[0]["dedup_key"] != "rmm-alert-"+idText(int64(alert["id"].(float64))) {
		t.Fatalf("webhook alert %v", alert)
	}
	h := hook.headers(0)
	if !notify.Verify([]byte("hmac-key"), h.Get(notify.HeaderTimestamp), hook.body(0), h.Get(notify.HeaderSignature)) {
		t.Fatal("the webhook's signature does not verify")
	}
	if got := quiet.events(t); len(got) != 0 {
		t.Fatalf("a route for workstations got %v", got)
	}
	for _, r := range n.outbox(t) {
		if r.State != store.OutboxSent || r.Attempts != 1 {
			t.Fatalf("outbox row %+v", r)
		}
	}
	sends := auditOf(t, f.db, "notify.send")
	if len(sends) != 4 {
		t.Fatalf("%d notify.send audit rows, want 4", len(sends))
	}
	for _, a := range sends {
		if a.Result != store.AuditSuccess || a.User != NotifierUser || a.Via != string(ViaSystem) || strings.Contains(fmt.Sprint(a.Details), "R0UTINGKEY") {
			t.Fatalf("audit %+v", a)
		}
	}
}

// openFixtureAt opens (or reopens) the alert fixture's store at path.
func openFixtureAt(t *testing.T, path string) *alertFixture {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.UpsertDevices(context.Background(), []store.DeviceInput{
		{Hostname: "ws-1", Groups: []string{"workstations"}},
		{Hostname: "srv-1", Groups: []string{"servers"}},
		{Hostname: "srv-2", Groups: []string{"servers"}},
	}); err != nil {
		t.Fatal(err)
	}
	return bookOn(t, db, AlertOptions{})
}

func TestTheOutboxSurvivesARestartAndRetriesUntilTheReceiverRecovers(t *testing.T) {
	// The receiver fails its first two requests, then recovers.
	hook := newHTTPReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	opts := notify.Options{
		Channels: map[string]notify.Channel{"hook": webhookChannel("hook", hook.srv.URL)},
		Routes:   []notify.Route{{Name: "ops", Channels: []string{"hook"}}},
		Backoff:  time.Minute, MaxBackoff: 10 * time.Minute,
	}
	path := filepath.Join(t.TempDir(), "rmm.db")
	f := openFixtureAt(t, path)
	n := newNotifyFixture(t, f, opts)
	f.ok("srv-1", 0, 10, 10, volume("D:", 95))
	if res := n.pass(t); res.Routed != 1 || res.Retrying != 1 || res.Sent != 0 {
		t.Fatalf("first pass %+v", res)
	}
	rows := n.outbox(t)
	if len(rows) != 1 || rows[0].State != store.OutboxPending || rows[0].Attempts != 1 ||
		!strings.Contains(rows[0].LastError, "503") || !rows[0].NotBefore.Equal(atMinute(1)) {
		t.Fatalf("after the failure %+v", rows)
	}
	// Not due yet: nothing is sent.
	n.clock = atMinute(0).Add(30 * time.Second)
	if res := n.pass(t); res.Sent+res.Retrying != 0 {
		t.Fatalf("sent before its backoff: %+v", res)
	}

	// rmm stops and starts again on the same database.
	if err := n.e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	f2 := openFixtureAt(t, path)
	n2 := newNotifyFixture(t, f2, opts)
	n2.clock = atMinute(1)
	if res := n2.pass(t); res.Retrying != 1 || res.Routed != 0 {
		t.Fatalf("pass after the restart %+v", res)
	}
	if r := n2.outbox(t)[0]; r.Attempts != 2 || !r.NotBefore.Equal(atMinute(3)) {
		t.Fatalf("second backoff doubles: %+v", r)
	}
	n2.clock = atMinute(3)
	if res := n2.pass(t); res.Sent != 1 {
		t.Fatalf("pass after recovery %+v", res)
	}
	if r := n2.outbox(t)[0]; r.State != store.OutboxSent || r.Attempts != 3 || r.LastError != "" {
		t.Fatalf("delivered %+v", r)
	}
	if hook.count() != 3 {
		t.Fatalf("%d requests, want 3", hook.count())
	}
	id := hook.headers(0).Get(notify.HeaderDelivery)
	for i := 1; i < 3; i++ {
		if got := hook.headers(i).Get(notify.HeaderDelivery); got != id {
			t.Fatalf("delivery id %q on retry %d, want %q (one message, retried)", got, i, id)
		}
	}
	var ok, failed int
	for _, a := range auditOf(t, f2.db, "notify.send") {
		switch a.Result {
		case store.AuditSuccess:
			ok++
		case store.AuditFailure:
			failed++
			if a.Details["retry_at"] == nil || !strings.Contains(fmt.Sprint(a.Details["error"]), "503") {
				t.Fatalf("failure audit %+v", a)
			}
		}
	}
	if ok != 1 || failed != 2 {
		t.Fatalf("audited %d sends and %d failures, want 1 and 2", ok, failed)
	}
}

func TestAReceiverThatRefusesForGoodFailsAtOnceAndCanBeRetried(t *testing.T) {
	status := http.StatusBadRequest
	var mu sync.Mutex
	hook := newHTTPReceiver(t, func(int) int { mu.Lock(); defer mu.Unlock(); return status })
	f := newAlertFixture(t, AlertOptions{})
	n := newNotifyFixture(t, f, notify.Options{
		Channels: map[string]notify.Channel{"hook": webhookChannel("hook", hook.srv.URL), "pd": {Name: "pd", Type: notify.TypePagerDuty, URL: hook.srv.URL}},
		Routes:   []notify.Route{{Name: "ops", Channels: []string{"hook", "pd"}}},
	})
	f.ok("srv-1", 0, 10, 10, volume("D:", 95))
	if res := n.pass(t); res.Failed != 2 {
		t.Fatalf("pass %+v", res)
	}
	var pdErr string
	for _, r := range n.outbox(t) {
		if r.State != store.OutboxFailed || r.Attempts != 1 {
			t.Fatalf("row %+v", r)
		}
		if r.Channel == "pd" {
			pdErr = r.LastError
		}
	}
	if !strings.Contains(pdErr, "rmm notify secret pd") || hook.count() != 1 {
		t.Fatalf("pagerduty without a key: %q; requests %d (the key-less one must not be sent)", pdErr, hook.count())
	}
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	n.secret(t, "pd", "pagerduty", "KEY")
	got, err := Call(context.Background(), n.e, Identity{User: "alice", Role: RoleOperator, Via: ViaCLI}, RetryOutbox{})
	if err != nil || got != 2 {
		t.Fatalf("retry: %d %v", got, err)
	}
	if res := n.pass(t); res.Sent != 2 {
		t.Fatalf("pass after the retry %+v", res)
	}
	if a := auditOf(t, f.db, "notify.retry"); len(a) != 1 || a[0].User != "alice" {
		t.Fatalf("retry audit %+v", a)
	}
}

func TestADigestRouteSendsOneMessagePerWindowAndQuietHoursHoldUntilTheyEnd(t *testing.T) {
	digest := newHTTPReceiver(t, nil)
	night := newHTTPReceiver(t, nil)
	f := newAlertFixture(t, AlertOptions{})
	n := newNotifyFixture(t, f, notify.Options{
		Channels: map[string]notify.Channel{"digest": webhookChannel("digest", digest.srv.URL), "night": webhookChannel("night", night.srv.URL)},
		Routes: []notify.Route{
			{Name: "digest", Channels: []string{"digest"}, Digest: 15 * time.Minute, OnResolve: true},
			// Quiet from 10:00 to 10:30 UTC, the fixture's first half hour.
			{Name: "night", Channels: []string{"night"}, Quiet: &notify.QuietHours{From: 10 * time.Hour, To: 10*time.Hour + 30*time.Minute}},
		},
	})
	n.clock = atMinute(2)
	f.ok("srv-1", 2, 10, 10, volume("C:", 95))
	f.ok("srv-2", 2, 10, 10, volume("C:", 95))
	n.clock = atMinute(3)
	f.ok("ws-1", 3, 10, 10, volume("C:", 85))
	f.ok("srv-2", 3, 10, 10, volume("C:", 20)) // resolved within the window
	if res := n.pass(t); res.Routed != 4 || res.Sent != 0 {
		t.Fatalf("inside the window %+v", res)
	}
	n.clock = atMinute(15)
	if res := n.pass(t); res.Released != 4 || res.Sent != 1 {
		t.Fatalf("at the window's end %+v", res)
	}
	got := digest.events(t)
	if len(got) != 1 || got[0]["kind"] != "digest" || len(got[0]["alerts"].([]any)) != 4 ||
		!strings.Contains(got[0]["subject"].(string), "4 alert changes (3 raised, 1 resolved) on route digest") {
		t.Fatalf("digest %v", got)
	}
	if night.count() != 0 {
		t.Fatal("quiet hours sent something")
	}
	n.clock = atMinute(30)
	if res := n.pass(t); res.Sent != 1 {
		t.Fatalf("when quiet hours end %+v", res)
	}
	if got := night.events(t); len(got) != 1 || got[0]["kind"] != "digest" || len(got[0]["alerts"].([]any)) != 3 {
		t.Fatalf("after quiet hours %v", got)
	}
	merged := 0
	for _, r := range n.outbox(t) {
		if r.State == store.OutboxMerged {
			merged++
		}
	}
	if merged != 7 {
		t.Fatalf("%d messages merged into digests, want 7", merged)
	}
}

func TestNothingIsSentForAMaintenanceWindowNorReplayedAfterIt(t *testing.T) {
	hook := newHTTPReceiver(t, nil)
	f := newAlertFixture(t, AlertOptions{Maintenance: []alerting.MaintenanceWindow{
		{Name: "patching", Device: "srv-1", Start: atMinute(5), End: atMinute(60)}}})
	n := newNotifyFixture(t, f, notify.Options{
		Channels: map[string]notify.Channel{"hook": webhookChannel("hook", hook.srv.URL)},
		Routes:   []notify.Route{{Name: "ops", Channels: []string{"hook"}, Digest: 15 * time.Minute, OnResolve: true}},
	})
	// Raised before the window, held for the digest until 10:15: by then
	// the window has begun.
	f.ok("srv-1", 1, 10, 10, volume("C:", 95))
	n.clock = atMinute(2)
	n.pass(t)
	// Inside the window the engine raises nothing for the device.
	f.ok("srv-1", 10, 10, 10, volume("C:", 95), volume("D:", 97))
	n.clock = atMinute(15)
	if res := n.pass(t); res.Suppressed != 1 || res.Sent != 0 || res.Routed != 0 {
		t.Fatalf("release inside the window %+v", res)
	}
	n.clock = atMinute(61)
	n.pass(t)
	n.clock = atMinute(76)
	n.pass(t)
	if hook.count() != 0 {
		t.Fatalf("%d messages sent for an alert held into a maintenance window", hook.count())
	}
	rows := n.outbox(t)
	if len(rows) != 1 || rows[0].State != store.OutboxSuppressed || rows[0].LastError != notify.SuppressedMaintenance {
		t.Fatalf("outbox %+v", rows)
	}
}

func TestARouteRepeatsAnActiveAlertUntilItIsAcknowledgedFromAnotherProcess(t *testing.T) {
	pd := newHTTPReceiver(t, nil)
	hook := newHTTPReceiver(t, nil)
	f := newAlertFixture(t, AlertOptions{})
	n := newNotifyFixture(t, f, notify.Options{
		Channels: map[string]notify.Channel{"hook": webhookChannel("hook", hook.srv.URL), "pd": {Name: "pd", Type: notify.TypePagerDuty, URL: pd.srv.URL}},
		Routes:   []notify.Route{{Name: "ops", Channels: []string{"hook", "pd"}, Repeat: time.Hour}},
	})
	n.secret(t, "pd", "pagerduty", "KEY")
	f.ok("srv-1", 0, 10, 10, volume("C:", 95))
	n.pass(t)
	n.clock = atMinute(59)
	if res := n.pass(t); res.Repeats != 0 {
		t.Fatalf("repeated early: %+v", res)
	}
	n.clock = atMinute(61)
	if res := n.pass(t); res.Repeats != 1 || res.Sent != 1 {
		t.Fatalf("repeat %+v", res)
	}
	// An operator acknowledges it with the CLI: another process, another
	// connection; the store records the change for this notifier.
	id := f.all("srv-1")[0].ID
	if _, err := f.db.AckAlert(context.Background(), id, "alice", "on it", atMinute(62)); err != nil {
		t.Fatal(err)
	}
	n.clock = atMinute(62)
	if res := n.pass(t); res.Routed != 1 || res.Sent != 1 {
		t.Fatalf("the acknowledgement %+v", res)
	}
	n.clock = atMinute(200)
	if res := n.pass(t); res.Repeats != 0 {
		t.Fatalf("repeated an acknowledged alert: %+v", res)
	}
	var kinds []string
	for _, ev := range hook.events(t) {
		kinds = append(kinds, ev["kind"].(string))
	}
	if strings.Join(kinds, ",") != "raised,repeat" {
		t.Fatalf("webhook got %v (acknowledgements go to PagerDuty only without on_ack)", kinds)
	}
	var actions []string
	for _, ev := range pd.events(t) {
		actions = append(actions, ev["event_action"].(string))
	}
	if strings.Join(actions, ",") != "trigger,acknowledge" {
		t.Fatalf("pagerduty got %v", actions)
	}
}

func TestChangesOlderThanMaxAgeAreNotSentAndRoutingWithoutRoutesKeepsNothing(t *testing.T) {
	hook := newHTTPReceiver(t, nil)
	f := newAlertFixture(t, AlertOptions{})
	n := newNotifyFixture(t, f, notify.Options{})
	f.ok("srv-1", 0, 10, 10, volume("C:", 95))
	if res := n.pass(t); res.Routed != 0 {
		t.Fatalf("routed without routes: %+v", res)
	}
	if evs, _ := f.db.AlertEvents(context.Background(), 10); len(evs) != 0 {
		t.Fatalf("events kept without routes: %+v", evs)
	}
	n.setup(t, notify.Options{Channels: map[string]notify.Channel{"hook": webhookChannel("hook", hook.srv.URL)},
		Routes: []notify.Route{{Name: "ops", Channels: []string{"hook"}}}, MaxAge: time.Hour})
	f.ok("srv-2", 1, 10, 10, volume("C:", 95))
	n.clock = atMinute(62)
	if res := n.pass(t); res.Stale != 1 || res.Sent != 0 || hook.count() != 0 {
		t.Fatalf("a change 61 minutes old with max_age 1h: %+v", res)
	}
}

func TestTestChannelSendsNowThroughTheOutboxAndIsAudited(t *testing.T) {
	hook := newHTTPReceiver(t, nil)
	f := newAlertFixture(t, AlertOptions{})
	n := newNotifyFixture(t, f, notify.Options{Channels: map[string]notify.Channel{"hook": webhookChannel("hook", hook.srv.URL)},
		Routes: []notify.Route{{Name: "ops", Channels: []string{"hook"}}}})
	ctx := context.Background()
	bob := Identity{User: "bob", Role: RoleOperator, Via: ViaCLI}
	res, err := Call(ctx, n.e, bob, TestChannel{Channel: "hook"})
	if err != nil || !res.Sent {
		t.Fatalf("test %+v %v", res, err)
	}
	if got := hook.events(t); len(got) != 1 || got[0]["kind"] != "test" || !strings.Contains(got[0]["text"].(string), "sent by bob") {
		t.Fatalf("receiver got %v", got)
	}
	if _, err := Call(ctx, n.e, bob, TestChannel{Channel: "nope"}); err == nil || !strings.Contains(err.Error(), `no channel "nope" (configured: hook)`) {
		t.Fatalf("unknown channel: %v", err)
	}
	if _, err := Call(ctx, n.e, Identity{User: "vera", Role: RoleViewer, Via: ViaCLI}, TestChannel{Channel: "hook"}); err == nil {
		t.Fatal("a viewer sent a test message")
	}
	view, err := Call(ctx, n.e, Identity{User: "vera", Role: RoleViewer, Via: ViaCLI}, ListOutbox{})
	if err != nil || len(view.Messages) != 1 || view.Messages[0].State != store.OutboxSent || view.Counts[store.OutboxSent] != 1 ||
		view.Messages[0].Subject != "[rmm] Test message to channel hook" {
		t.Fatalf("outbox view %+v %v", view, err)
	}
	if a := auditOf(t, f.db, "notify.test"); len(a) != 3 || a[0].User != "bob" || a[0].Result != store.AuditSuccess {
		t.Fatalf("notify.test audit %+v", a)
	}
}
