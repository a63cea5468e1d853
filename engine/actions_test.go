package engine_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

var operator = engine.Identity{User: "olga", Role: engine.RoleOperator, Via: engine.ViaCLI, RemoteAddr: "127.0.0.1"}
var admin = engine.Identity{User: "adam", Role: engine.RoleAdmin, Via: engine.ViaCLI, RemoteAddr: "127.0.0.1"}

// runAction starts a run through Do and waits for its fan-out to end.
func runAction(t *testing.T, eng *engine.Engine, id engine.Identity, req engine.StartRun) engine.RunProgress {
	t.Helper()
	info, err := engine.Call(context.Background(), eng, id, req)
	if err != nil {
		t.Fatalf("StartRun %s: %v", req.Name, err)
	}
	return waitRun(t, eng, info.ID)
}

func waitRun(t *testing.T, eng *engine.Engine, runID string) engine.RunProgress {
	t.Helper()
	var p engine.RunProgress
	waitFor(t, "run "+runID, func() bool {
		var err error
		p, err = engine.Call(context.Background(), eng, operator, engine.GetRun{RunID: runID})
		if err != nil {
			t.Fatalf("GetRun: %v", err)
		}
		return p.Finished
	})
	return p
}

func one(t *testing.T, p engine.RunProgress) engine.ActionResult {
	t.Helper()
	if len(p.Results) != 1 {
		t.Fatalf("run has %d results, want 1: %+v", len(p.Results), p.Results)
	}
	return p.Results[0]
}

// control serves the simulator's control endpoint on loopback, to read
// a host's state the way a test harness would.
func control(t *testing.T, fleet *winrmsim.Fleet) func(host string) winrmsim.ControlHost {
	t.Helper()
	srv := httptest.NewServer(fleet.ControlHandler())
	t.Cleanup(srv.Close)
	return func(host string) winrmsim.ControlHost {
		t.Helper()
		resp, err := http.Get(srv.URL + "/hosts/" + host)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h winrmsim.ControlHost
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
}

func postControl(t *testing.T, fleet *winrmsim.Fleet, path string) {
	t.Helper()
	srv := httptest.NewServer(fleet.ControlHandler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+path, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

func firstOnline(t *testing.T, fleet *winrmsim.Fleet) string {
	t.Helper()
	for _, h := range fleet.Hosts() {
		if h.Online {
			return h.Hostname
		}
	}
	t.Fatal("no online host")
	return ""
}

func hostTarget(h ...string) engine.RunTarget { return engine.RunTarget{Hosts: h} }

func TestCatalogValidatesParamsAndKnowsWhatIsDestructive(t *testing.T) {
	svc, ok := engine.LookupAction("service")
	if !ok {
		t.Fatal("service is not in the catalog")
	}
	if err := svc.Validate(map[string]string{"op": "restart"}); err == nil || !strings.Contains(err.Error(), "param name: required") {
		t.Errorf("missing name: %v", err)
	}
	if err := svc.Validate(map[string]string{"name": "Spooler", "op": "pause"}); err == nil || !strings.HasPrefix(err.Error(), "param op:") {
		t.Errorf("bad op: %v", err)
	}
	if err := svc.Validate(map[string]string{"name": "Spooler", "colour": "red"}); err == nil || !strings.HasPrefix(err.Error(), "param colour: unknown") {
		t.Errorf("unknown param: %v", err)
	}
	if svc.NeedsConfirm(map[string]string{"name": "Spooler", "op": "restart"}) || svc.NeedsConfirm(map[string]string{"name": "Spooler"}) {
		t.Error("restarting a service needs no confirmation")
	}
	if !svc.NeedsConfirm(map[string]string{"name": "Spooler", "op": "stop"}) {
		t.Error("stopping a service needs confirmation")
	}
	want := map[string]bool{"reboot": true, "shutdown": true, "logoff": true, "disable-rdp": true, "process-kill": true,
		"registry-set": true, "wake": false, "lock": false, "enable-rdp": false, "clear-temp": false, "flush-dns": false,
		"gpupdate": false, "file-push": false, "file-pull": false, "run-script": false, "service": false}
	for _, a := range engine.Catalog() {
		d, ok := want[a.Name]
		if !ok {
			t.Errorf("unexpected catalog entry %s", a.Name)
			continue
		}
		if a.Destructive != d {
			t.Errorf("%s: destructive %v, want %v", a.Name, a.Destructive, d)
		}
		delete(want, a.Name)
	}
	if len(want) > 0 {
		t.Errorf("catalog lacks %v", want)
	}
	reg, _ := engine.LookupAction("registry-set")
	if err := reg.Validate(map[string]string{"path": `HKLM:\SOFTWARE\X`, "name": "N", "type": "DWord", "value": "x"}); err == nil {
		t.Error("a DWord of x was accepted")
	}
	if err := reg.Validate(map[string]string{"path": `C:\X`, "name": "N"}); err == nil {
		t.Error("a file path was accepted as a registry key")
	}
	pk, _ := engine.LookupAction("process-kill")
	if err := pk.Validate(map[string]string{}); err == nil {
		t.Error("process-kill without name or pid was accepted")
	}
}

func TestEveryActionChangesTheSimulatedHost(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 7, RebootDowntime: 300 * time.Millisecond})
	eng := newEngine(t, db, engine.Options{Throttle: 4})
	state := control(t, fleet)
	host := firstOnline(t, fleet)
	run := func(name string, params map[string]string) engine.ActionResult {
		t.Helper()
		r := one(t, runAction(t, eng, operator, engine.StartRun{Name: name, Params: params, Target: hostTarget(host), Confirmed: true}))
		if r.Status != engine.ActionCompleted {
			t.Fatalf("%s: %s %q (stderr %q)", name, r.Status, r.Message, r.Stderr)
		}
		if r.ScriptVersion != 2 || r.Attempts != 1 || r.ExitCode == nil || *r.ExitCode != 0 {
			t.Errorf("%s: version %d, attempts %d, exit %v", name, r.ScriptVersion, r.Attempts, r.ExitCode)
		}
		return r
	}

	if r := run("service", map[string]string{"name": "Spooler", "op": "stop"}); r.Message != "Spooler stopped" {
		t.Errorf("service stop: %q", r.Message)
	}
	if st := state(host); !strings.Contains(strings.Join(st.StoppedAutomatic, ","), "Spooler") {
		t.Errorf("Spooler is not stopped on the host: %v", st.StoppedAutomatic)
	}
	if r := run("service", map[string]string{"name": "Spooler", "op": "start"}); r.Message != "Spooler started" {
		t.Errorf("service start: %q", r.Message)
	}
	if st := state(host); strings.Contains(strings.Join(st.StoppedAutomatic, ","), "Spooler") {
		t.Errorf("Spooler still stopped: %v", st.StoppedAutomatic)
	}

	run("disable-rdp", nil)
	if st := state(host); st.RDPEnabled == nil || *st.RDPEnabled {
		t.Errorf("RDP not disabled: %v", st.RDPEnabled)
	}
	run("enable-rdp", nil)
	if st := state(host); st.RDPEnabled == nil || !*st.RDPEnabled {
		t.Errorf("RDP not enabled: %v", st.RDPEnabled)
	}

	before := *state(host).RegistryCount
	if r := run("registry-set", map[string]string{"path": `HKLM:\SOFTWARE\Contoso`, "name": "Ring", "type": "DWord", "value": "2"}); r.Message == "" {
		t.Error("registry-set: no message")
	}
	if after := *state(host).RegistryCount; after != before+1 {
		t.Errorf("registry values %d -> %d, want one more", before, after)
	}

	postControl(t, fleet, "/hosts/"+host+"/logon")
	if r := run("lock", nil); r.Message != "Workstation locked" {
		t.Errorf("lock: %q", r.Message)
	}
	if r := run("process-kill", map[string]string{"name": "explorer"}); r.Message != "Stopped 1 process(es)" {
		t.Errorf("process-kill explorer: %q", r.Message)
	}
	if r := run("logoff", nil); !strings.HasPrefix(r.Message, "Logged off ") {
		t.Errorf("logoff: %q", r.Message)
	}
	if st := state(host); st.Sessions == nil || *st.Sessions != 0 {
		t.Errorf("sessions after logoff: %v", st.Sessions)
	}

	if r := run("clear-temp", nil); !strings.HasPrefix(r.Message, "Removed ") {
		t.Errorf("clear-temp: %q", r.Message)
	}
	if r := run("clear-temp", nil); r.Message != "Removed 0 files (0.0 MB)" {
		t.Errorf("clear-temp twice: %q", r.Message)
	}
	if r := run("flush-dns", nil); r.Message != "Successfully flushed the DNS Resolver Cache." {
		t.Errorf("flush-dns: %q", r.Message)
	}
	if r := run("gpupdate", nil); !strings.HasPrefix(r.Message, "Computer Policy update has completed successfully. User Policy update has completed successfully.") {
		t.Errorf("gpupdate: %q", r.Message)
	}

	// process-kill: a name that is not running fails with PowerShell's words.
	pk := one(t, runAction(t, eng, operator, engine.StartRun{Name: "process-kill", Params: map[string]string{"name": "no-such-proc"},
		Target: hostTarget(host), Confirmed: true}))
	if pk.Status != engine.ActionFailed || pk.Message != `Cannot find a process with the name "no-such-proc".` {
		t.Errorf("process-kill of nothing: %s %q", pk.Status, pk.Message)
	}

	// reboot: the host goes away and returns with a new boot time.
	boot := state(host).LastBoot
	if r := run("reboot", nil); r.Message != "Restart scheduled" {
		t.Errorf("reboot: %q", r.Message)
	}
	waitFor(t, host+" to reboot", func() bool {
		st := state(host)
		return st.Online && st.Power == "on" && st.LastBoot != boot
	})
	// shells were dropped by the reboot; the next action still works.
	run("flush-dns", nil)

	// shutdown, then Wake-on-LAN to the simulator's loopback listener.
	run("shutdown", nil)
	waitFor(t, host+" to power off", func() bool { st := state(host); return st.Power == "off" && !st.Online })
	_ = eng.Close()
	wakeEng := newEngine(t, db, engine.Options{Actions: engine.ActionOptions{WakeAddress: fleet.WakeAddr()}})
	w := one(t, runAction(t, wakeEng, operator, engine.StartRun{Name: "wake", Target: hostTarget(host)}))
	if w.Status != engine.ActionCompleted || w.Message != "Magic packet sent to "+fleet.WakeAddr() {
		t.Fatalf("wake: %s %q", w.Status, w.Message)
	}
	waitFor(t, host+" to wake", func() bool { st := state(host); return st.Online && st.Power == "on" })
	if fleet.Wake().Woken < 1 {
		t.Errorf("wake listener: %+v", fleet.Wake())
	}
}

func TestMagicPacketIsSixFFsAndSixteenMACs(t *testing.T) {
	ln, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mac, _ := net.ParseMAC("00:15:5d:01:02:03")
	p := engine.MagicPacket(mac)
	if len(p) != 102 || !bytes.Equal(p[:6], bytes.Repeat([]byte{0xFF}, 6)) || !bytes.Equal(p[6:], bytes.Repeat(mac, 16)) {
		t.Fatalf("packet % x", p)
	}
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 3})
	_ = fleet
	eng := newEngine(t, db, engine.Options{Actions: engine.ActionOptions{WakeAddress: ln.LocalAddr().String()}})
	host := fleet.Hosts()[0]
	r := one(t, runAction(t, eng, operator, engine.StartRun{Name: "wake", Target: hostTarget(host.Hostname)}))
	if r.Status != engine.ActionCompleted {
		t.Fatalf("wake: %s %q", r.Status, r.Message)
	}
	buf := make([]byte, 200)
	_ = ln.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := ln.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := net.ParseMAC(host.MAC)
	if !bytes.Equal(buf[:n], engine.MagicPacket(want)) {
		t.Fatalf("received % x", buf[:n])
	}
}

func TestADestructiveActionIsRefusedUnconfirmedAndAViewerIsDenied(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 7})
	eng := newEngine(t, db, engine.Options{})
	ctx := context.Background()
	hosts := []string{fleet.Hosts()[0].Hostname, fleet.Hosts()[1].Hostname}
	_, err := engine.Call(ctx, eng, operator, engine.StartRun{Name: "reboot", Target: hostTarget(hosts...)})
	var ce *engine.ConfirmError
	if !errors.Is(err, engine.ErrConfirmRequired) || !errors.As(err, &ce) || ce.Devices != 2 {
		t.Fatalf("unconfirmed reboot: %v", err)
	}
	_, err = engine.Call(ctx, eng, operator, engine.StartRun{Name: "service", Params: map[string]string{"name": "Spooler", "op": "stop"}, Target: hostTarget(hosts[0])})
	if !errors.Is(err, engine.ErrConfirmRequired) {
		t.Fatalf("unconfirmed service stop: %v", err)
	}
	viewer := engine.Identity{User: "vera", Role: engine.RoleViewer, Via: engine.ViaCLI}
	_, err = engine.Call(ctx, eng, viewer, engine.StartRun{Name: "flush-dns", Target: hostTarget(hosts[0]), Confirmed: true})
	if !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("viewer: %v", err)
	}
	rows, err := db.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var refused, denied int
	for _, r := range rows {
		switch {
		case r.Action == "actions.run" && r.Result == store.AuditFailure && r.User == "olga":
			refused++
		case r.Action == "actions.run" && r.Result == store.AuditDenied && r.User == "vera":
			denied++
		case r.Action == "actions.result":
			t.Errorf("a refused run wrote a result row: %+v", r)
		}
	}
	if refused != 2 || denied != 1 {
		t.Errorf("audit: %d refused, %d denied rows; want 2 and 1", refused, denied)
	}
	runs, err := engine.Call(ctx, eng, operator, engine.ListRuns{})
	if err != nil || len(runs) != 0 {
		t.Errorf("refused runs were recorded: %v %v", runs, err)
	}
}

func TestABulkRunOverFiftyHostsGroupsCompletedFailedAndQueued(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 50, Seed: 42, OfflineFraction: 0.1})
	var offline, faulted []string
	for _, h := range fleet.Hosts() {
		if !h.Online {
			offline = append(offline, h.Hostname)
		} else if len(faulted) < 3 {
			faulted = append(faulted, h.Hostname)
		}
	}
	if len(offline) == 0 {
		t.Fatal("seed gave no offline host")
	}
	for _, h := range faulted {
		if err := fleet.SetFault(h, winrmsim.FaultHTTP500); err != nil {
			t.Fatal(err)
		}
	}
	eng := newEngine(t, db, engine.Options{Throttle: 10, Actions: engine.ActionOptions{Retries: 1}})
	p := runAction(t, eng, operator, engine.StartRun{Name: "service", Params: map[string]string{"name": "Spooler", "op": "restart"},
		Target: allHosts(fleet)})
	wantDone := 50 - len(offline) - len(faulted)
	if p.Total != 50 || p.Completed != wantDone || p.Queued != len(offline) || p.Failed != len(faulted) || p.Pending+p.Running != 0 {
		t.Fatalf("run %+v; want %d completed, %d queued, %d failed", p.RunSummary, wantDone, len(offline), len(faulted))
	}
	line := engine.FormatGroups(p.Groups)
	want := fmt.Sprintf("%d Completed: Spooler restarted", wantDone)
	if !strings.HasPrefix(line, want) || !strings.Contains(line, fmt.Sprintf("%d Queued", len(offline))) ||
		!strings.Contains(line, fmt.Sprintf("%d Failed: HTTP 500", len(faulted))) {
		t.Errorf("groups %q", line)
	}
	for _, r := range p.Results {
		if r.Status == engine.ActionFailed && r.Attempts != 2 {
			t.Errorf("%s: %d attempts, want 2 (one retry)", r.Host, r.Attempts)
		}
	}
	q, err := engine.Call(context.Background(), eng, operator, engine.ListQueue{State: engine.QueuePending})
	if err != nil || len(q) != len(offline) {
		t.Fatalf("queue %v, %v; want %d entries", q, err, len(offline))
	}
	rows, err := db.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	results := 0
	for _, r := range rows {
		if r.Action == "actions.result" {
			results++
		}
	}
	if results != 50 {
		t.Errorf("%d per-device audit rows, want 50", results)
	}
}

// allHosts targets every simulated host by name.
func allHosts(fleet *winrmsim.Fleet) engine.RunTarget {
	var t engine.RunTarget
	for _, h := range fleet.Hosts() {
		t.Hosts = append(t.Hosts, h.Hostname)
	}
	return t
}

func TestATransientFailureIsRetried(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 9})
	host := fleet.Hosts()[0].Hostname
	eng := newEngine(t, db, engine.Options{})
	runAction(t, eng, operator, engine.StartRun{Name: "flush-dns", Target: hostTarget(host)}) // the loop is up
	if err := fleet.SetFault(host, winrmsim.FaultLoopCrash); err != nil {
		t.Fatal(err)
	}
	r := one(t, runAction(t, eng, operator, engine.StartRun{Name: "flush-dns", Target: hostTarget(host)}))
	if r.Status != engine.ActionCompleted || r.Attempts != 2 {
		t.Fatalf("after a loop crash: %s %q, %d attempts; want Completed after 2", r.Status, r.Message, r.Attempts)
	}
}

func TestCancellingARunStopsWhatRunsAndWhatWaits(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 6, Seed: 5})
	eng := newEngine(t, db, engine.Options{Throttle: 2})
	ctx := context.Background()
	if _, err := engine.Call(ctx, eng, admin, engine.AddScript{Name: "slow", Body: "Start-Sleep -Seconds 600\nWrite-Output done"}); err != nil {
		t.Fatal(err)
	}
	info, err := engine.Call(ctx, eng, operator, engine.StartRun{Name: "run-script", Params: map[string]string{"script": "slow"},
		Target: allHosts(fleet)})
	if err != nil {
		t.Fatal(err)
	}
	id := info.ID
	waitFor(t, "two scripts sent to the hosts", func() bool {
		p, _ := engine.Call(ctx, eng, operator, engine.GetRun{RunID: id})
		return p.Running == 2 && fleet.Stats().Sends >= 2
	})
	if _, err := engine.Call(ctx, eng, operator, engine.CancelRun{RunID: id}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	p := waitRun(t, eng, id)
	if p.Cancelled != 6 || p.Completed != 0 {
		t.Fatalf("after cancel: %+v", p.RunSummary)
	}
	var running, waiting int
	for _, r := range p.Results {
		switch {
		case strings.HasPrefix(r.Message, "Cancelled while running"):
			running++
		case r.Message == "Cancelled by olga before it started":
			waiting++
		default:
			t.Errorf("%s: %q", r.Host, r.Message)
		}
	}
	if running != 2 || waiting != 4 {
		t.Errorf("%d cancelled while running, %d before starting; want 2 and 4", running, waiting)
	}
	waitFor(t, "the hosts to see the signals", func() bool { return fleet.Stats().Signals >= 2 })
}

func TestTheOfflineQueueSurvivesARestartAndReplaysWhenTheHostReturns(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 11})
	host := fleet.Hosts()[0].Hostname
	if err := fleet.SetOnline(host, false); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	eng := newEngine(t, db, engine.Options{Retries: -1})
	if _, err := eng.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	first := one(t, runAction(t, eng, operator, engine.StartRun{Name: "service", Params: map[string]string{"name": "Spooler", "op": "stop"},
		Target: hostTarget(host), Confirmed: true}))
	second := one(t, runAction(t, eng, operator, engine.StartRun{Name: "service", Params: map[string]string{"name": "Spooler", "op": "start"},
		Target: hostTarget(host)}))
	for _, r := range []engine.ActionResult{first, second} {
		if r.Status != engine.ActionQueued || r.Message != "Queued: device offline (connection refused)" {
			t.Fatalf("offline host: %s %q", r.Status, r.Message)
		}
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}

	// A new engine on the same database file: the queue is still there.
	eng2 := newEngine(t, db, engine.Options{Retries: -1})
	entries, err := engine.Call(ctx, eng2, operator, engine.ListQueue{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].State != engine.QueuePending || entries[0].Params["op"] != "stop" || entries[1].Params["op"] != "start" {
		t.Fatalf("queue after restart: %+v", entries)
	}
	if err := fleet.SetOnline(host, true); err != nil {
		t.Fatal(err)
	}
	if _, err := eng2.Sweep(ctx); err != nil { // Offline -> Online: the replay starts
		t.Fatal(err)
	}
	waitFor(t, "the replay", func() bool {
		q, _ := engine.Call(ctx, eng2, operator, engine.ListQueue{State: engine.QueueDone})
		return len(q) == 2
	})
	// In order: stopped, then started; each once.
	for i, want := range []string{"Spooler stopped", "Spooler started"} {
		runID := []string{first.RunID, second.RunID}[i]
		r := one(t, waitRun(t, eng2, runID))
		if r.Status != engine.ActionCompleted || r.Message != want {
			t.Errorf("replayed %s: %s %q, want Completed %q", runID, r.Status, r.Message, want)
		}
		if !r.FinishedAt.After(r.StartedAt) && !r.FinishedAt.Equal(r.StartedAt) {
			t.Errorf("times %v %v", r.StartedAt, r.FinishedAt)
		}
	}
	if st := control(t, fleet)(host); strings.Contains(strings.Join(st.StoppedAutomatic, ","), "Spooler") {
		t.Errorf("Spooler stopped after the replay: the order was wrong")
	}
	eng2.CheckQueue(ctx) // a second check replays nothing again
	done, _ := engine.Call(ctx, eng2, operator, engine.ListQueue{State: engine.QueueDone})
	for _, e := range done {
		if e.Attempts != 1 {
			t.Errorf("entry %d replayed %d times", e.ID, e.Attempts)
		}
	}
}

func TestQueuedActionsExpireAndCanBeCancelled(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 12})
	host := fleet.Hosts()[0].Hostname
	if err := fleet.SetOnline(host, false); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	eng := newEngine(t, db, engine.Options{Retries: -1})
	short := one(t, runAction(t, eng, operator, engine.StartRun{Name: "flush-dns", Target: hostTarget(host), Expiry: time.Millisecond}))
	long := one(t, runAction(t, eng, operator, engine.StartRun{Name: "gpupdate", Target: hostTarget(host)}))
	if short.Status != engine.ActionQueued || long.Status != engine.ActionQueued {
		t.Fatalf("%s / %s", short.Status, long.Status)
	}
	time.Sleep(5 * time.Millisecond) // past the first one's expiry
	eng.CheckQueue(ctx)
	if r := one(t, waitRun(t, eng, short.RunID)); r.Status != engine.ActionExpired {
		t.Errorf("short expiry: %s %q", r.Status, r.Message)
	}
	pending, _ := engine.Call(ctx, eng, operator, engine.ListQueue{State: engine.QueuePending})
	if len(pending) != 1 || pending[0].Action != "gpupdate" || pending[0].ExpiresAt.Sub(pending[0].EnqueuedAt) != engine.DefaultQueueExpiry {
		t.Fatalf("pending: %+v", pending)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.CancelQueued{ID: pending[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Call(ctx, eng, operator, engine.CancelQueued{ID: pending[0].ID}); !errors.Is(err, engine.ErrNotPending) {
		t.Errorf("second cancel: %v", err)
	}
	if r := one(t, waitRun(t, eng, long.RunID)); r.Status != engine.ActionCancelled || r.Message != "Cancelled in the offline queue by olga" {
		t.Errorf("cancelled entry's row: %s %q", r.Status, r.Message)
	}
	viewer := engine.Identity{User: "vera", Role: engine.RoleViewer, Via: engine.ViaCLI}
	if _, err := engine.Call(ctx, eng, viewer, engine.CancelQueued{ID: pending[0].ID}); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("viewer cancel: %v", err)
	}
}

func TestAFileCopiesUpAndBackWithItsChecksum(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 13})
	host := fleet.Hosts()[0].Hostname
	eng := newEngine(t, db, engine.Options{})
	dir := t.TempDir()
	src := filepath.Join(dir, "tool.bin")
	data := make([]byte, 200_000) // four chunks
	_, _ = rand.Read(data)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	push := one(t, runAction(t, eng, operator, engine.StartRun{Name: "file-push", Params: map[string]string{"source": src, "path": `C:\Temp\tool.bin`},
		Target: hostTarget(host)}))
	if push.Status != engine.ActionCompleted || !strings.Contains(push.Message, "sha256 verified") {
		t.Fatalf("push: %s %q", push.Status, push.Message)
	}
	if push.Params["sha256"] == "" || push.Params["size"] != "200000" {
		t.Errorf("recorded params %v", push.Params)
	}
	dest := filepath.Join(dir, "back.bin")
	pull := one(t, runAction(t, eng, operator, engine.StartRun{Name: "file-pull", Params: map[string]string{"path": `C:\Temp\tool.bin`, "dest": dest},
		Target: hostTarget(host)}))
	if pull.Status != engine.ActionCompleted {
		t.Fatalf("pull: %s %q", pull.Status, pull.Message)
	}
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("pulled %d bytes (err %v), want the %d pushed", len(got), err, len(data))
	}
	missing := one(t, runAction(t, eng, operator, engine.StartRun{Name: "file-pull", Params: map[string]string{"path": `C:\nope.txt`, "dest": filepath.Join(dir, "x")},
		Target: hostTarget(host)}))
	if missing.Status != engine.ActionFailed || missing.Message != `Cannot find path 'C:\nope.txt' because it does not exist.` {
		t.Errorf("missing file: %s %q", missing.Status, missing.Message)
	}
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, make([]byte, engine.MaxFileCopy+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = engine.Call(context.Background(), eng, operator, engine.StartRun{Name: "file-push", Params: map[string]string{"source": big, "path": `C:\Temp\big.bin`},
		Target: hostTarget(host)})
	if err == nil || !strings.Contains(err.Error(), "at most 10485760 bytes (10 MB)") {
		t.Errorf("an 10 MB + 1 file: %v", err)
	}
	_, err = engine.Call(context.Background(), eng, operator, engine.StartRun{Name: "file-pull", Params: map[string]string{"path": `C:\Temp\tool.bin`, "dest": dest},
		Target: hostTarget(host)})
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("pull over an existing file: %v", err)
	}
}

func TestLibraryScriptsKeepTheirVersionsAndRunsRecordTheOneUsed(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 14})
	eng := newEngine(t, db, engine.Options{Actions: engine.ActionOptions{OutputMaxBytes: 100}})
	ctx := context.Background()
	params := []engine.ParamSpec{{Name: "Who", Type: "string", Default: "world"}}
	if _, err := engine.Call(ctx, eng, operator, engine.AddScript{Name: "hello", Body: "Write-Output $Who"}); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("an operator added a script: %v", err)
	}
	v1, err := engine.Call(ctx, eng, admin, engine.AddScript{Name: "hello", Description: "greets", Body: "Write-Output $Who", Params: params})
	if err != nil || v1.Version != 1 {
		t.Fatalf("v1: %+v %v", v1, err)
	}
	v2, err := engine.Call(ctx, eng, admin, engine.AddScript{Name: "hello", Body: "Write-Output 'v2'\nWrite-Output $Who", Params: params, Timeout: time.Minute})
	if err != nil || v2.Version != 2 {
		t.Fatalf("v2: %+v %v", v2, err)
	}
	all, err := engine.Call(ctx, eng, operator, engine.ListScripts{Name: "hello"})
	if err != nil || len(all) != 2 {
		t.Fatalf("versions: %v %v", all, err)
	}
	host := fleet.Hosts()[0].Hostname
	r := one(t, runAction(t, eng, operator, engine.StartRun{Name: "run-script", Params: map[string]string{"script": "hello", "Who": "Bob's"},
		Target: hostTarget(host)}))
	if r.Status != engine.ActionCompleted || r.ScriptVersion != 2 || r.Message != "Bob's" || !strings.HasPrefix(r.Stdout, "v2") {
		t.Errorf("latest: %+v", r)
	}
	r = one(t, runAction(t, eng, operator, engine.StartRun{Name: "run-script", Params: map[string]string{"script": "hello", "version": "1"},
		Target: hostTarget(host)}))
	if r.Status != engine.ActionCompleted || r.ScriptVersion != 1 || r.Message != "world" {
		t.Errorf("v1: %+v", r)
	}
	_, err = engine.Call(ctx, eng, operator, engine.StartRun{Name: "run-script", Params: map[string]string{"script": "hello", "Whom": "x"}, Target: hostTarget(host)})
	if err == nil || !strings.Contains(err.Error(), "param Whom: unknown") {
		t.Errorf("an unknown script param: %v", err)
	}

	// Output past actions.output_max_bytes is cut with a marker; a failing
	// script's error is the message.
	long := "Write-Output '" + strings.Repeat("x", 300) + "'\nWrite-Error 'it broke'"
	if _, err := engine.Call(ctx, eng, admin, engine.AddScript{Name: "noisy", Body: long}); err != nil {
		t.Fatal(err)
	}
	r = one(t, runAction(t, eng, operator, engine.StartRun{Name: "run-script", Params: map[string]string{"script": "noisy"}, Target: hostTarget(host)}))
	if r.Status != engine.ActionFailed || !strings.Contains(r.Message, "it broke") {
		t.Errorf("noisy: %s %q", r.Status, r.Message)
	}
	if !strings.HasSuffix(r.Stdout, " bytes]") || !strings.Contains(r.Stdout, "... [truncated ") || len(r.Stdout) > 140 {
		t.Errorf("stdout not truncated with a marker: %q", r.Stdout)
	}
}

// A short-lived process (rmm action run) queues an action for a host that
// the store still shows Online; the next engine to see the host runs it
// at its first sweep, though the status never changed.
func TestAnotherProcessReplaysWhatACommandQueued(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 15})
	host := fleet.Hosts()[1].Hostname
	ctx := context.Background()
	first := newEngine(t, db, engine.Options{Retries: -1})
	if _, err := first.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fleet.SetOnline(host, false); err != nil {
		t.Fatal(err)
	}
	q := one(t, runAction(t, first, operator, engine.StartRun{Name: "disable-rdp", Target: hostTarget(host), Confirmed: true}))
	if q.Status != engine.ActionQueued {
		t.Fatalf("%s %q", q.Status, q.Message)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fleet.SetOnline(host, true); err != nil {
		t.Fatal(err)
	}
	second := newEngine(t, db, engine.Options{Retries: -1})
	if _, err := second.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replay", func() bool {
		r := one(t, waitRun(t, second, q.RunID))
		return r.Status == engine.ActionCompleted
	})
	if st := control(t, fleet)(host); st.RDPEnabled == nil || *st.RDPEnabled {
		t.Errorf("RDP still enabled after the replay")
	}
	rows, _ := db.ListAudit(ctx, store.AuditFilter{})
	replays := 0
	for _, r := range rows {
		if r.Action == "actions.result" && r.Details["replay"] == true && r.Details["status"] == engine.ActionCompleted {
			replays++
		}
	}
	if replays != 1 {
		t.Errorf("%d replay audit rows, want 1", replays)
	}
}

func TestAHostThatDoesNotAnswerGetsTheActionQueued(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 16})
	host := fleet.Hosts()[0].Hostname
	if err := fleet.SetFault(host, winrmsim.FaultHang); err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t, db, engine.Options{Timeout: 300 * time.Millisecond, Retries: -1})
	r := one(t, runAction(t, eng, operator, engine.StartRun{Name: "flush-dns", Target: hostTarget(host)}))
	if r.Status != engine.ActionQueued || r.Message != "Queued: device offline (timed out)" {
		t.Fatalf("a hung host: %s %q", r.Status, r.Message)
	}
}

// Actions go through the session pool: after a sweep, a run on every host
// reuses the sweep's shells and resident PowerShells.
func TestARunReusesThePollsWarmShells(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 8, Seed: 17})
	eng := newEngine(t, db, engine.Options{Throttle: 4})
	if _, err := eng.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := fleet.Stats()
	p := runAction(t, eng, operator, engine.StartRun{Name: "flush-dns", Target: allHosts(fleet)})
	after := fleet.Stats()
	if p.Completed != 8 {
		t.Fatalf("run %+v", p.RunSummary)
	}
	if after.ShellsCreated != before.ShellsCreated || after.LoopStarts != before.LoopStarts || after.LoopRequests != before.LoopRequests+8 {
		t.Errorf("shells created %d -> %d, loops started %d -> %d, loop requests %d -> %d; want the same shells and loops, 8 more requests",
			before.ShellsCreated, after.ShellsCreated, before.LoopStarts, after.LoopStarts, before.LoopRequests, after.LoopRequests)
	}
}

// TestABriefRunLeavesOutOutputsAndOneResultHasThemInFull: GetRun with
// Brief gives every device's result but no stdout or stderr; GetActionResult
// gives one device's result in full, the same as the full GetRun's; a
// Viewer may read both, and neither is audited.
func TestABriefRunLeavesOutOutputsAndOneResultHasThemInFull(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 16})
	eng := newEngine(t, db, engine.Options{})
	ctx := context.Background()
	body := "Write-Output \"out from $env:COMPUTERNAME\"\nWrite-Error \"broke on $env:COMPUTERNAME\""
	if _, err := engine.Call(ctx, eng, admin, engine.AddScript{Name: "both", Body: body}); err != nil {
		t.Fatal(err)
	}
	full := runAction(t, eng, operator, engine.StartRun{Name: "run-script", Params: map[string]string{"script": "both"}, Target: allHosts(fleet)})
	if len(full.Results) != 3 {
		t.Fatalf("full run: %d results", len(full.Results))
	}
	for _, r := range full.Results {
		if !strings.Contains(r.Stdout, "out from "+r.Host) || !strings.Contains(r.Stderr, "broke on "+r.Host) {
			t.Fatalf("%s: the full run lacks its output: stdout %q, stderr %q", r.Host, r.Stdout, r.Stderr)
		}
	}
	auditBefore, err := db.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	viewer := engine.Identity{User: "vera", Role: engine.RoleViewer, Via: engine.ViaCLI, RemoteAddr: "127.0.0.1"}
	brief, err := engine.Call(ctx, eng, viewer, engine.GetRun{RunID: full.ID, Brief: true})
	if err != nil {
		t.Fatalf("a Viewer's brief GetRun: %v", err)
	}
	if brief.RunSummary != full.RunSummary || len(brief.Results) != len(full.Results) || engine.FormatGroups(brief.Groups) != engine.FormatGroups(full.Groups) {
		t.Fatalf("brief run %+v (%d results, groups %q), full %+v", brief.RunSummary, len(brief.Results), engine.FormatGroups(brief.Groups), full.RunSummary)
	}
	for i, b := range brief.Results {
		f := full.Results[i]
		if b.Stdout != "" || b.Stderr != "" {
			t.Errorf("%s: the brief run has stdout %q, stderr %q", b.Host, b.Stdout, b.Stderr)
		}
		f.Stdout, f.Stderr = "", ""
		fj, _ := json.Marshal(f)
		bj, _ := json.Marshal(b)
		if string(fj) != string(bj) {
			t.Errorf("brief result differs beyond its output:\nbrief %s\nfull  %s", bj, fj)
		}
	}
	for _, f := range full.Results {
		r, err := engine.Call(ctx, eng, viewer, engine.GetActionResult{ID: f.ID})
		if err != nil {
			t.Fatalf("a Viewer's GetActionResult: %v", err)
		}
		if r.ID != f.ID || r.Host != f.Host || r.Stdout != f.Stdout || r.Stderr != f.Stderr || r.Status != f.Status ||
			r.Message != f.Message || r.Attempts != f.Attempts || r.RunID != full.ID {
			t.Errorf("GetActionResult %d: %+v, want %+v", f.ID, r, f)
		}
	}
	if _, err := engine.Call(ctx, eng, viewer, engine.GetActionResult{ID: 1 << 40}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown result: %v", err)
	}
	auditAfter, err := db.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(auditAfter) != len(auditBefore) {
		t.Errorf("reads wrote %d audit rows", len(auditAfter)-len(auditBefore))
	}
}
