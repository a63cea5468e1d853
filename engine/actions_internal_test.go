package engine

import (
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine/filter"
)

func TestTheTargetFilterSelectsLikeTheConsole(t *testing.T) {
	devs := []DeviceState{
		{ID: 1, Hostname: "ws-a", Site: "London", Status: StatusOnline, OSName: "Microsoft Windows 11 Pro", Tags: []string{"print"}, HasMetrics: true, CPUPct: 91},
		{ID: 2, Hostname: "ws-b", Site: "London", Status: StatusOffline, OSName: "Microsoft Windows 10 Pro", Groups: []string{"Finance"}},
		{ID: 3, Hostname: "srv-c", Site: "New York", Status: StatusOnline, OSName: "Microsoft Windows Server 2019 Datacenter", Tags: []string{"sql-prod"}, HasMetrics: true, CPUPct: 10},
	}
	for _, c := range []struct{ expr, want string }{
		{"site:lon", "ws-a ws-b"},
		{"site=london status:on", "ws-a"},
		{"-status:online", "ws-b"},
		{"!tag:print", "ws-b srv-c"},
		{"tag:sql*", "srv-c"},
		{"tag:sql", ""},
		{"group:finance", "ws-b"},
		{`"new york"`, "srv-c"},
		{"os:2019", "srv-c"},
		{"cpu>90", "ws-a"},
		{"cpu<=10", "srv-c"},
		{"ws", "ws-a ws-b"},
		{"host=SRV-C", "srv-c"},
	} {
		f, err := filter.Parse(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		var got []string
		for i := range devs {
			if r := devs[i].FilterRow(); f.Match(&r) {
				got = append(got, devs[i].Hostname)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%q selects %v, want %s", c.expr, got, c.want)
		}
	}
	for _, bad := range []string{"cpu:80", "colour:red", "site:", "cpu>abc"} {
		if _, err := filter.Parse(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func TestResultsGroupByOutcomeBiggestFirst(t *testing.T) {
	rs := []ActionResult{
		{Host: "b", Status: ActionCompleted, Message: "Spooler restarted"},
		{Host: "a", Status: ActionCompleted, Message: "Spooler restarted"},
		{Host: "c", Status: ActionFailed, Message: "Access is denied"},
		{Host: "d", Status: ActionQueued, Message: "Queued: device offline (connection refused)"},
		{Host: "e", Status: ActionQueued, Message: "Queued: device offline (host unreachable)"},
	}
	g := GroupResults(rs)
	if got := FormatGroups(g); got != "2 Completed: Spooler restarted / 2 Queued / 1 Failed: Access is denied" {
		t.Fatalf("groups %q", got)
	}
	if strings.Join(g[0].Hosts, ",") != "a,b" {
		t.Errorf("hosts %v", g[0].Hosts)
	}
}

func TestOutputIsTruncatedWithAMarker(t *testing.T) {
	if got := truncateOutput("short", 10); got != "short" {
		t.Errorf("%q", got)
	}
	got := truncateOutput(strings.Repeat("x", 100), 40)
	if got != strings.Repeat("x", 40)+"\n... [truncated 60 bytes]" {
		t.Errorf("%q", got)
	}
	// Never cut inside a UTF-8 sequence.
	got = truncateOutput("aa\u00e9\u00e9", 3)
	if got != "aa\n... [truncated 4 bytes]" {
		t.Errorf("%q", got)
	}
}

func TestLibraryParametersArePowerShellSingleQuoted(t *testing.T) {
	s := LibraryScript{Params: []ParamSpec{{Name: "Who"}, {Name: "Path"}, {Name: "Unset"}}, Body: "Write-Output $Who\n"}
	got := LibraryBody(s, map[string]string{"Who": "Bob's", "Path": "C:\\x \u2019y"})
	want := "$Who = 'Bob''s'\n$Path = 'C:\\x \u2019\u2019y'\n$Unset = ''\nWrite-Output $Who\n"
	if got != want {
		t.Errorf("body\n%q\nwant\n%q", got, want)
	}
	if err := CheckParamSpecs([]ParamSpec{{Name: "1x", Type: "string"}}); err == nil {
		t.Error("a name starting with a digit was accepted")
	}
	if err := CheckParamSpecs([]ParamSpec{{Name: "Days", Type: "int", Default: "ten"}}); err == nil {
		t.Error("a non-number default of an int was accepted")
	}
	if err := CheckParamSpecs([]ParamSpec{{Name: "a", Type: "string"}, {Name: "A", Type: "string"}}); err == nil {
		t.Error("a name twice (PowerShell ignores case) was accepted")
	}
}

func TestActionScriptsCarryTheirParamsAfterTheMarkerLine(t *testing.T) {
	sc, v, err := actionScript("action_service_control", map[string]string{"name": "Spooler", "op": "restart"})
	if err != nil || v != 2 { // v2: wildcards refused unless pattern=true
		t.Fatal(err, v)
	}
	if sc.Name() != "action_service_control" {
		t.Fatalf("%+v", sc)
	}
}

func TestActionParamsAreAPowerShellLiteralWithoutDotNetCalls(t *testing.T) {
	got := paramsLine(map[string]string{"path": "C:\\it's \u2019here\u2019", "delay_s": "5", "data": "a'; Remove-Item C:\\ -Recurse; '"})
	want := "$RmmParams = @{ 'data' = 'a''; Remove-Item C:\\ -Recurse; '''; 'delay_s' = '5'; 'path' = 'C:\\it''s \u2019\u2019here\u2019\u2019' }"
	if got != want {
		t.Fatalf("params line\n%s\nwant\n%s", got, want)
	}
	// Constrained Language mode refuses method calls on .NET types that
	// are not core types: the line must make none.
	if strings.Contains(got, "]::") || strings.Contains(got, "New-Object") {
		t.Errorf("the params line calls .NET: %s", got)
	}
	if paramsLine(nil) != "$RmmParams = @{ }" {
		t.Errorf("no params: %q", paramsLine(nil))
	}
}
