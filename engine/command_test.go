package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

var viewer = engine.Identity{User: "vera", Role: engine.RoleViewer, Via: engine.ViaCLI, RemoteAddr: "127.0.0.1"}

// runCommand starts a command through Do and waits for its fan-out.
func runCommand(t *testing.T, eng *engine.Engine, id engine.Identity, req engine.RunCommand, mask bool) engine.CommandRun {
	t.Helper()
	info, err := engine.Call(context.Background(), eng, id, req)
	if err != nil {
		t.Fatalf("RunCommand %q: %v", req.Script, err)
	}
	waitRun(t, eng, info.ID)
	cr, err := engine.Call(context.Background(), eng, id, engine.GetCommandRun{RunID: info.ID, MaskHost: mask})
	if err != nil {
		t.Fatalf("GetCommandRun: %v", err)
	}
	return cr
}

// serviceStates reads each online host's state of a service from the
// simulator's control endpoint: the truth a command's groups must match.
func serviceStates(t *testing.T, fleet *winrmsim.Fleet, name string) map[string]int {
	t.Helper()
	srv := httptest.NewServer(fleet.ControlHandler())
	defer srv.Close()
	out := map[string]int{}
	for _, h := range fleet.Hosts() {
		if !h.Online {
			continue
		}
		resp, err := http.Get(srv.URL + "/hosts/" + h.Hostname + "/services")
		if err != nil {
			t.Fatal(err)
		}
		var svcs []struct{ Name, State string }
		err = json.NewDecoder(resp.Body).Decode(&svcs)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range svcs {
			if s.Name == name {
				out[s.State]++
			}
		}
	}
	return out
}

func TestACommandRunsOnEveryHostAndItsResultsGroupByOutput(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 24, Seed: 41, OfflineFraction: 0.1})
	eng := newEngine(t, db, engine.Options{Throttle: 8})
	ctx := context.Background()
	var online []string
	for _, h := range fleet.Hosts() {
		if h.Online {
			online = append(online, h.Hostname)
		}
	}
	offline := len(fleet.Hosts()) - len(online)
	if offline == 0 || len(online) < 6 {
		t.Fatalf("fleet has %d online, %d offline: the test needs both", len(online), offline)
	}
	// Stop the Spooler on three hosts, with a command on just those.
	stop := runCommand(t, eng, operator, engine.RunCommand{Script: "Start-Service Spooler; Stop-Service Spooler", Target: hostTarget(online[:3]...)}, false)
	if stop.Completed != 3 {
		t.Fatalf("Stop-Service on 3 hosts: %s", engine.FormatOutputGroups(stop.Groups))
	}
	for _, h := range online[3:] {
		runCommand(t, eng, operator, engine.RunCommand{Script: "Start-Service Spooler", Target: hostTarget(h)}, false)
	}

	// More than ConfirmOver devices: not run until confirmed.
	all := hostTarget(hostnames(fleet)...)
	_, err := engine.Call(ctx, eng, operator, engine.RunCommand{Script: "Get-Service Spooler | Select Status", Target: all})
	var ce *engine.ConfirmError
	if !errors.As(err, &ce) || ce.Devices != 24 || !errors.Is(err, engine.ErrConfirmRequired) {
		t.Fatalf("an unconfirmed command on 24 hosts: %v, want a ConfirmError for 24", err)
	}

	cr := runCommand(t, eng, operator, engine.RunCommand{Script: "Get-Service Spooler | Select Status", Target: all, Confirmed: true}, false)
	truth := serviceStates(t, fleet, "Spooler")
	if truth["Stopped"] != 3 || truth["Running"] != len(online)-3 {
		t.Fatalf("the simulator's Spooler states %v", truth)
	}
	got := engine.FormatOutputGroups(cr.Groups)
	want := strconv.Itoa(len(online)-3) + " Running / " + strconv.Itoa(offline) + " Failed: Device offline (connection refused) / 3 Stopped"
	if offline <= 3 {
		want = strconv.Itoa(len(online)-3) + " Running / 3 Stopped / " + strconv.Itoa(offline) + " Failed: Device offline (connection refused)"
	}
	if got != want {
		t.Fatalf("groups %q, want %q", got, want)
	}
	// Drill down: a group's hosts, and one of them in full.
	stopped := cr.Groups[slices.IndexFunc(cr.Groups, func(g engine.OutputGroup) bool { return g.Label == "Stopped" })]
	if !slices.Equal(stopped.Hosts, slices.Sorted(slices.Values(online[:3]))) {
		t.Errorf("Stopped group hosts %v, want %v", stopped.Hosts, online[:3])
	}
	if stopped.Output != " Status\n ------\nStopped" {
		t.Errorf("Stopped group output %q", stopped.Output)
	}
	full, err := engine.Call(ctx, eng, operator, engine.GetActionResult{ID: stopped.SampleID})
	if err != nil || full.Stdout != "\r\n Status\r\n ------\r\nStopped\r\n\r\n\r\n" || !slices.Contains(stopped.Hosts, full.Host) {
		t.Errorf("the group's sample result %+v, %v", full, err)
	}
	members := 0
	for _, r := range cr.Results {
		if cr.Groups[r.Group].Label == "Stopped" {
			members++
			if !slices.Contains(online[:3], r.Host) {
				t.Errorf("%s is in the Stopped group", r.Host)
			}
		}
	}
	if members != 3 || len(cr.Results) != 24 {
		t.Errorf("%d results, %d in the Stopped group", len(cr.Results), members)
	}
	// Offline hosts failed; nothing waits in the offline queue.
	if q, err := engine.Call(ctx, eng, operator, engine.ListQueue{}); err != nil || len(q) != 0 {
		t.Errorf("offline queue after a command: %v %v", q, err)
	}
	if cr.Script != "Get-Service Spooler | Select Status" || cr.Target != "24 host(s)" {
		t.Errorf("run script %q target %q", cr.Script, cr.Target)
	}
}

func hostnames(fleet *winrmsim.Fleet) []string {
	var out []string
	for _, h := range fleet.Hosts() {
		out = append(out, h.Hostname)
	}
	return out
}

func TestMaskingTheHostNameGroupsWhatDiffersOnlyByIt(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 5, Seed: 7})
	eng := newEngine(t, db, engine.Options{})
	target := hostTarget(hostnames(fleet)...)
	plain := runCommand(t, eng, operator, engine.RunCommand{Script: "hostname\r\n\r\n", Target: target}, false)
	if len(plain.Groups) != 5 {
		t.Fatalf("hostname unmasked: %d groups, want one per host: %s", len(plain.Groups), engine.FormatOutputGroups(plain.Groups))
	}
	for _, g := range plain.Groups {
		if g.Count != 1 || g.Output != g.Hosts[0] || g.Label != g.Hosts[0] {
			t.Errorf("group %+v: want its host's name, trimmed", g)
		}
	}
	masked, err := engine.Call(context.Background(), eng, operator, engine.GetCommandRun{RunID: plain.ID, MaskHost: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := engine.FormatOutputGroups(masked.Groups); got != "5 <host>" || !masked.MaskHost {
		t.Errorf("hostname masked: %q, want one group of 5", got)
	}
}

func TestNormalizeOutput(t *testing.T) {
	tests := []struct {
		name, in, host string
		mask           bool
		want           string
	}{
		{"line endings and trailing blanks", "\r\n a  \r\nb\t\r\n\r\n\r\n", "", false, " a\nb"},
		{"a bare carriage return", "a\rb", "", false, "a\nb"},
		{"the host in any case, as a word", "WS-01 says ws-01.corp.local, not xWS-01 or WS-010", "ws-01", true, "<host> says <host>.corp.local, not xWS-01 or WS-010"},
		{"a fully qualified device name masks its first label too", "WS-01 and ws-01.corp.local", "ws-01.corp.local", true, "<host> and <host>"},
		{"not masked unless asked", "WS-01", "WS-01", false, "WS-01"},
		{"nothing", "\r\n\r\n", "h", true, ""},
	}
	for _, tt := range tests {
		if got := engine.NormalizeOutput(tt.in, tt.host, tt.mask); got != tt.want {
			t.Errorf("%s: NormalizeOutput(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestACommandIsAnOperatorsAuditedWithItsTextAndSizeLimited(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 2, Seed: 5})
	eng := newEngine(t, db, engine.Options{})
	ctx := context.Background()
	host := fleet.Hosts()[0].Hostname
	script := "# check the spooler\nGet-Service Spooler | Select Status\n$PSVersionTable.PSVersion"

	_, err := engine.Call(ctx, eng, viewer, engine.RunCommand{Script: script, Target: hostTarget(host)})
	if !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("a Viewer's command: %v, want denied", err)
	}
	cr := runCommand(t, eng, operator, engine.RunCommand{Script: script, Target: hostTarget(host)}, false)
	if cr.Completed != 1 {
		t.Fatalf("operator's command: %s", engine.FormatOutputGroups(cr.Groups))
	}
	rows, err := db.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var denied, ran, result int
	for _, r := range rows {
		switch {
		case r.Action == "command.run" && r.Result == store.AuditDenied && r.User == viewer.User:
			denied++
			if r.Details["script"] != script {
				t.Errorf("the denied row's script %q", r.Details["script"])
			}
		case r.Action == "command.run" && r.Result == store.AuditSuccess && r.User == operator.User:
			ran++
			if r.Details["script"] != script || !slices.Equal(r.Targets, []string{host}) {
				t.Errorf("the run's audit row: targets %v details %v", r.Targets, r.Details)
			}
		case r.Action == "actions.result" && r.Details["action"] == engine.ActCommand && slices.Equal(r.Targets, []string{host}):
			result++
		}
	}
	if denied != 1 || ran != 1 || result != 1 {
		t.Errorf("audit rows: %d denied, %d ran, %d per-device results; want 1 each", denied, ran, result)
	}
	// A Viewer reads the results but not the text (the audit log, which
	// a Viewer may not read, holds it).
	vr, err := engine.Call(ctx, eng, viewer, engine.GetCommandRun{RunID: cr.ID})
	if err != nil || vr.Script != "" || !vr.ScriptHidden || len(vr.Groups) != 1 {
		t.Errorf("a Viewer's read: script %q hidden %v groups %d err %v", vr.Script, vr.ScriptHidden, len(vr.Groups), err)
	}
	// The text is kept once, on the run; its rows carry no copy.
	res, err := engine.Call(ctx, eng, operator, engine.GetActionResult{ID: cr.Results[0].ID})
	if err != nil || len(res.Params) != 0 {
		t.Errorf("the device's row params %v, %v: want none", res.Params, err)
	}

	for _, bad := range []struct{ text, msg string }{
		{"   \n", "the text is empty"},
		{strings.Repeat("#", engine.MaxCommandBytes+1), "at most 32768 (32 KiB)"},
		{"\xff", "not valid UTF-8"},
	} {
		_, err := engine.Call(ctx, eng, operator, engine.RunCommand{Script: bad.text, Target: hostTarget(host)})
		if err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("text %.20q: %v, want %q", bad.text, err, bad.msg)
		}
	}
	if _, err := engine.Call(ctx, eng, operator, engine.RunCommand{Script: strings.Repeat("#", engine.MaxCommandBytes), Target: hostTarget(host)}); err != nil {
		t.Errorf("a command of exactly the limit: %v", err)
	}
}

func TestACommandTravelsThroughTheResidentLoop(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 9})
	eng := newEngine(t, db, engine.Options{})
	host := fleet.Hosts()[0].Hostname
	runCommand(t, eng, operator, engine.RunCommand{Script: "hostname", Target: hostTarget(host)}, false) // warms the loop
	before := hostStats(t, fleet, host)
	cr := runCommand(t, eng, operator, engine.RunCommand{Script: "Get-Service Spooler | Select -ExpandProperty Status", Target: hostTarget(host)}, false)
	after := hostStats(t, fleet, host)
	if cr.Completed != 1 || after.LoopRequests != before.LoopRequests+1 || after.CommandRequests != before.CommandRequests || after.LoopStarts != before.LoopStarts {
		t.Errorf("a warm command: %s; loop requests %d -> %d, commands %d -> %d, loop starts %d -> %d: want one loop request, no new command",
			engine.FormatOutputGroups(cr.Groups), before.LoopRequests, after.LoopRequests, before.CommandRequests, after.CommandRequests, before.LoopStarts, after.LoopStarts)
	}
}

func TestACommandsExportNeutralisesFormulasAndKeepsItsGroups(t *testing.T) {
	cr := engine.CommandRun{Groups: []engine.OutputGroup{{Status: engine.ActionCompleted, Label: "=HYPERLINK(1)", Count: 1}},
		Results: []engine.CommandEntry{{ID: 7, Host: "WS-01", Status: engine.ActionCompleted, Message: "@SUM(1)", Group: 0}}}
	exit := -1
	full := []engine.ActionResult{{ID: 7, Host: "WS-01", Stdout: "=HYPERLINK(1)\r\n", Stderr: "+x", ExitCode: &exit}}
	var b strings.Builder
	if err := engine.WriteCommandResults(&b, "csv", cr, full); err != nil {
		t.Fatal(err)
	}
	want := "host,status,group,group_label,group_size,exit_code,message,stdout,stderr\n" +
		"WS-01,Completed,1,'=HYPERLINK(1),1,-1,'@SUM(1),\"'=HYPERLINK(1)\r\n\",'+x\n"
	if b.String() != want {
		t.Errorf("CSV\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	if err := engine.WriteCommandResults(&b, "json", cr, full); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"stdout": "=HYPERLINK(1)\r\n"`) || !strings.Contains(b.String(), `"group_label": "=HYPERLINK(1)"`) {
		t.Errorf("JSON keeps values as they are:\n%s", b.String())
	}
}
