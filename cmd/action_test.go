package cmd

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine/winrmsim"
)

// simCLI starts a simulated fleet, imports it through rmm import and
// returns the CLI (with the simulator's credential in its environment),
// the database path and the fleet.
func simCLI(t *testing.T, cfg winrmsim.Config) (*cli, string, *winrmsim.Fleet) {
	t.Helper()
	fleet := startFleet(t, cfg)
	c := newCLI(t)
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "fleet.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.WriteCSV(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db := filepath.Join(dir, "rmm.db")
	if code, _, errb := c.run("--db", db, "import", csvPath); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	c.env["RMM_WINRM_USER"], c.env["RMM_WINRM_PASSWORD"] = winrmsim.DefaultUser, winrmsim.DefaultPassword
	return c, db, fleet
}

func TestActionRunQueueHistoryAndExportFromTheCommandLine(t *testing.T) {
	c, db, fleet := simCLI(t, winrmsim.Config{Devices: 6, Seed: 21})
	hosts := fleet.Hosts()
	off := hosts[5].Hostname
	if err := fleet.SetOnline(off, false); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) { return c.run(append([]string{"--db", db}, args...)...) }

	code, out, errb := run("action", "list", "--json")
	var cat []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &cat) != nil || len(cat) != 16 {
		t.Fatalf("action list --json: exit %d, %d entries, %s", code, len(cat), errb)
	}

	// A destructive action without --yes, stdin not a terminal: refused,
	// nothing recorded.
	code, _, errb = run("action", "run", "reboot", "--target", hosts[0].Hostname)
	if code != 2 || !strings.Contains(errb, "--yes") {
		t.Fatalf("reboot without --yes: exit %d, %q", code, errb)
	}
	code, _, errb = run("action", "run", "service", "--target", hosts[0].Hostname, "--param", "name=Spooler", "--param", "op=stop")
	if code != 2 || !strings.Contains(errb, "--yes") {
		t.Fatalf("service stop without --yes: exit %d, %q", code, errb)
	}
	if code, out, _ = run("action", "history", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("a refused run was recorded: %s", out)
	}
	if code, _, errb = run("action", "run", "service", "--site", "x", "--group", "y"); code != 2 {
		t.Fatalf("two target flags: exit %d %s", code, errb)
	}

	// A bulk run: five restarted, one queued for the offline host.
	args := []string{"action", "run", "service", "--param", "name=Spooler", "--param", "op=restart", "--json"}
	for _, h := range hosts {
		args = append(args, "--target", h.Hostname)
	}
	code, out, errb = run(args...)
	if code != 0 {
		t.Fatalf("action run: exit %d: %s", code, errb)
	}
	var p struct {
		ID        string `json:"id"`
		Total     int    `json:"total"`
		Completed int    `json:"completed"`
		Queued    int    `json:"queued"`
		Finished  bool   `json:"finished"`
		Results   []struct {
			Host          string `json:"host"`
			Status        string `json:"status"`
			Message       string `json:"message"`
			ScriptVersion int    `json:"script_version"`
		} `json:"results"`
		Groups []struct {
			Status  string   `json:"status"`
			Message string   `json:"message"`
			Count   int      `json:"count"`
			Hosts   []string `json:"hosts"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("run --json: %v\n%s", err, out)
	}
	if p.Total != 6 || p.Completed != 5 || p.Queued != 1 || !p.Finished || len(p.Results) != 6 || len(p.Groups) != 2 ||
		p.Groups[0].Count != 5 || p.Groups[0].Message != "Spooler restarted" || p.Groups[1].Hosts[0] != off {
		t.Fatalf("run --json: %+v", p)
	}

	// The same without --json: progress lines, then the groups.
	code, out, _ = run("action", "run", "flush-dns", "--target", hosts[0].Hostname, "--target", hosts[1].Hostname)
	if code != 0 || !strings.Contains(out, "2/2 done: 2 completed, 0 failed, 0 queued, 0 remaining") ||
		!strings.Contains(out, "2 Completed: Successfully flushed the DNS Resolver Cache.") {
		t.Fatalf("run output (exit %d):\n%s", code, out)
	}

	// A failed device makes exit 1.
	code, out, _ = run("action", "run", "process-kill", "--target", hosts[0].Hostname, "--param", "name=no-such", "--yes")
	if code != 1 || !strings.Contains(out, `1 Failed: Cannot find a process with the name "no-such".`) {
		t.Fatalf("failing run (exit %d):\n%s", code, out)
	}

	code, out, _ = run("action", "export", p.ID, "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 7 || rows[0][0] != "run_id" || rows[0][3] != "status" {
		t.Fatalf("export csv: exit %d, %v, %d rows\n%s", code, err, len(rows), out)
	}
	code, out, _ = run("action", "history", "--device", off)
	if code != 0 || !strings.Contains(out, "Queued") {
		t.Fatalf("history --device:\n%s", out)
	}

	// The queue: list, cancel, see it cancelled.
	code, out, _ = run("queue", "--json")
	var q []struct {
		ID    int64  `json:"id"`
		Host  string `json:"host"`
		State string `json:"state"`
		RunID string `json:"run_id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &q) != nil || len(q) != 1 || q[0].Host != off || q[0].RunID != p.ID {
		t.Fatalf("queue --json: %s", out)
	}
	if code, out, errb = run("queue", "cancel", strconv.FormatInt(q[0].ID, 10)); code != 0 || out != fmt.Sprintf("queue entry %d cancelled\n", q[0].ID) {
		t.Fatalf("queue cancel: %d %q %s", code, out, errb)
	}
	if code, _, _ = run("queue", "cancel", strconv.FormatInt(q[0].ID, 10)); code != 1 {
		t.Errorf("cancelling twice: exit %d", code)
	}
	code, out, _ = run("queue", "list", "--state", "all")
	if code != 0 || !strings.Contains(out, "Cancelled") || !strings.Contains(out, "1 entries") {
		t.Fatalf("queue list --state all:\n%s", out)
	}

	// Read-only: refused (exit 3) and audited.
	if code, _, errb = run("--read-only", "action", "run", "flush-dns", "--target", hosts[0].Hostname); code != 3 {
		t.Fatalf("read-only run: exit %d %s", code, errb)
	}
}

func TestScriptVersionsFromTheCommandLine(t *testing.T) {
	c, db, fleet := simCLI(t, winrmsim.Config{Devices: 1, Seed: 22})
	run := func(args ...string) (int, string, string) { return c.run(append([]string{"--db", db}, args...)...) }
	file := filepath.Join(t.TempDir(), "hello.ps1")
	for i, body := range []string{"Write-Output 'hello v1'\n", "Write-Output 'hello v2'\n"} {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errb := run("scripts", "add", file, "--name", "hello", "--description", "greets", "--param", "Who:string:world",
			"--param", "Mode:choice=a|b:a:required", "--timeout", "1m")
		if code != 0 || !strings.Contains(out, "version "+strconv.Itoa(i+1)) {
			t.Fatalf("scripts add #%d: exit %d %s %s", i+1, code, out, errb)
		}
	}
	if code, _, errb := run("scripts", "add", file, "--name", "bad", "--param", "1x:string"); code != 2 {
		t.Fatalf("a bad param name: exit %d %s", code, errb)
	}
	code, out, _ := run("scripts", "list", "--json")
	var list []struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
		Params  []struct {
			Name     string   `json:"name"`
			Required bool     `json:"required"`
			Choices  []string `json:"choices"`
		} `json:"params"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Version != 2 || len(list[0].Params) != 2 ||
		!list[0].Params[1].Required || len(list[0].Params[1].Choices) != 2 {
		t.Fatalf("scripts list --json: %s", out)
	}
	if code, out, _ = run("scripts", "show", "hello", "--version", "1"); code != 0 || !strings.Contains(out, "hello v1") || !strings.Contains(out, "version 1 of 2") {
		t.Fatalf("scripts show --version 1:\n%s", out)
	}
	host := fleet.Hosts()[0].Hostname
	code, out, errb := run("action", "run", "run-script", "--target", host, "--param", "script=hello", "--json")
	if code != 0 || !strings.Contains(out, `"script_version": 2`) || !strings.Contains(out, `"message": "hello v2"`) {
		t.Fatalf("run-script (exit %d): %s %s", code, out, errb)
	}
	// The progress polls leave outputs out; the result printed has them.
	if !strings.Contains(out, `"stdout": "hello v2`) {
		t.Fatalf("run-script --json has no stdout: %s", out)
	}
	code, out, _ = run("action", "run", "run-script", "--target", host, "--param", "script=hello", "--param", "version=1", "--json")
	if code != 0 || !strings.Contains(out, `"script_version": 1`) || !strings.Contains(out, `"message": "hello v1"`) {
		t.Fatalf("run-script v1 (exit %d): %s", code, out)
	}
}
