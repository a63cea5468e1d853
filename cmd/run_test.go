package cmd

import (
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine/winrmsim"
)

// TestRunCollectionsAndInventoryQueryFromTheCommandLine is the CLI's
// path through ad-hoc commands and collections: rmm run grouped by
// output, its confirmation and masking, rmm inventory collect and query,
// rmm collections add/list/show/rm, and an action and a command on a
// collection.
func TestRunCollectionsAndInventoryQueryFromTheCommandLine(t *testing.T) {
	c, db, fleet := simCLI(t, winrmsim.Config{Devices: 14, Seed: 29})
	run := func(args ...string) (int, string, string) { return c.run(append([]string{"--db", db}, args...)...) }
	hosts := fleet.Hosts()
	var all []string
	for _, h := range hosts {
		all = append(all, "--target", h.Hostname)
	}

	// More than 10 devices without --yes, stdin not a terminal: refused.
	code, _, errb := run(append(append([]string{"run"}, all...), "--", "hostname")...)
	if code != 2 || !strings.Contains(errb, "would run on 14 devices") || !strings.Contains(errb, "--yes") {
		t.Fatalf("run on 14 without --yes: exit %d %q", code, errb)
	}
	if code, _, errb = run("run", "--target", hosts[0].Hostname); code != 2 || !strings.Contains(errb, "no command") {
		t.Fatalf("run without a command: exit %d %q", code, errb)
	}
	if code, _, errb = run("run", "--site", "x", "--filter", "y", "--", "hostname"); code != 2 || !strings.Contains(errb, "exactly one of") {
		t.Fatalf("two targets: exit %d %q", code, errb)
	}
	code, _, errb = run("run", "--target", hosts[0].Hostname, "--", strings.Repeat("x", 32<<10+1))
	if code != 2 || !strings.Contains(errb, "at most 32768") {
		t.Fatalf("a command over 32 KiB: exit %d %q", code, errb)
	}

	// Stop two Spoolers, then ask everyone.
	if code, out, errb := run("run", "--target", hosts[1].Hostname, "--target", hosts[4].Hostname, "--", "Start-Service Spooler; Stop-Service Spooler"); code != 0 {
		t.Fatalf("stop: exit %d %s %s", code, out, errb)
	}
	if code, out, errb := run(append(append([]string{"run", "--yes"}, all...), "--", "Start-Service Spooler")...); code != 0 {
		t.Fatalf("start the rest: %d %s %s", code, out, errb)
	}
	run("run", "--target", hosts[1].Hostname, "--target", hosts[4].Hostname, "--", "Stop-Service Spooler")
	code, out, errb := run(append(append([]string{"run", "--yes", "--output"}, all...), "--", "Get-Service Spooler | Select Status")...)
	if code != 0 || !strings.Contains(out, "\n12 Running\n") || !strings.Contains(out, "\n2 Stopped\n") ||
		!strings.Contains(out, "    "+hosts[1].Hostname+", "+hosts[4].Hostname+"\n") || !strings.Contains(out, "    | Stopped") {
		t.Fatalf("Spooler states: exit %d\n%s\n%s", code, out, errb)
	}
	code, out, errb = run(append(append([]string{"run", "--yes", "--mask-host", "--json"}, all...), "--", "hostname")...)
	var doc struct {
		ID       string `json:"id"`
		Script   string `json:"script"`
		MaskHost bool   `json:"mask_host"`
		Groups   []struct {
			Label string   `json:"label"`
			Count int      `json:"count"`
			Hosts []string `json:"hosts"`
		} `json:"groups"`
		Results []struct {
			Host   string `json:"host"`
			Group  int    `json:"group"`
			Stdout string `json:"stdout"`
		} `json:"results"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || !doc.MaskHost || len(doc.Groups) != 1 || doc.Groups[0].Label != "<host>" ||
		doc.Groups[0].Count != 14 || len(doc.Results) != 14 || doc.Results[0].Stdout != doc.Results[0].Host+"\r\n" || doc.Script != "hostname" {
		t.Fatalf("run --mask-host --json: exit %d %s\n%s", code, errb, out)
	}
	// --show reads it again, unmasked: one group per host.
	if code, out, _ = run("run", "--show", doc.ID, "--csv"); code != 0 {
		t.Fatalf("run --show --csv: exit %d", code)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 15 || recs[0][0] != "host" || recs[1][4] != "1" {
		t.Fatalf("run --show --csv: %v\n%s", err, out)
	}

	// Inventory, then collections.
	if code, out, errb = run("inventory", "collect"); code != 0 || !strings.Contains(out, "14 collected") {
		t.Fatalf("inventory collect: exit %d %s %s", code, out, errb)
	}
	code, out, errb = run("inventory", "query", "software:zoom", "--columns", "host,software,software.version", "--json")
	var q struct {
		Columns []string   `json:"columns"`
		Rows    [][]string `json:"rows"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &q) != nil || len(q.Rows) == 0 || strings.Join(q.Columns, ",") != "host,software,software.version" {
		t.Fatalf("inventory query: exit %d %s\n%s", code, errb, out)
	}
	old := 0
	for _, r := range q.Rows {
		if !strings.Contains(strings.ToLower(r[1]), "zoom") {
			t.Errorf("row %v is not a Zoom", r)
		}
		if strings.HasPrefix(r[2], "5.1") && !strings.HasPrefix(r[2], "5.17") {
			old++
		}
	}
	if old == 0 || old == len(q.Rows) {
		t.Fatalf("%d of %d Zoom installs older than 5.17: the test needs some, not all", old, len(q.Rows))
	}
	if code, _, errb = run("inventory", "query", "cpu>", "--csv"); code != 2 || !strings.Contains(errb, "cpu>: needs a number") {
		t.Errorf("a bad query: exit %d %q", code, errb)
	}
	if code, out, errb = run("collections", "add", "Zoom older than 5.17", `software:"Zoom" software.version<5.17`); code != 0 ||
		!strings.Contains(out, "("+strconv.Itoa(old)+" member(s) now)") {
		t.Fatalf("collections add: exit %d %s %s (want %d members)", code, out, errb, old)
	}
	if code, _, errb = run("collections", "add", "zoom OLDER than 5.17", "tag:x"); code != 2 || !strings.Contains(errb, "exists") {
		t.Errorf("a second collection of the name: exit %d %q", code, errb)
	}
	if code, out, _ = run("collections", "list"); code != 0 || !strings.Contains(out, "Zoom older than 5.17  "+strconv.Itoa(old)) {
		t.Errorf("collections list:\n%s", out)
	}
	code, out, _ = run("collections", "show", "Zoom older than 5.17", "--json")
	var show struct {
		Members int `json:"members"`
		Devices []struct {
			Hostname string `json:"hostname"`
		} `json:"devices"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &show) != nil || show.Members != old || len(show.Devices) != old {
		t.Fatalf("collections show --json: exit %d\n%s", code, out)
	}
	code, out, errb = run("action", "run", "flush-dns", "--collection", "Zoom older than 5.17")
	if code != 0 || !strings.Contains(out, strconv.Itoa(old)+" Completed: Successfully flushed the DNS Resolver Cache.") {
		t.Errorf("action on the collection: exit %d %s %s", code, out, errb)
	}
	code, out, errb = run("run", "--yes", "--collection", "Zoom older than 5.17", "--", "$PSVersionTable.PSVersion.Major")
	if code != 0 || !strings.Contains(out, strconv.Itoa(old)+" 5\n") {
		t.Errorf("a command on the collection: exit %d %s %s", code, out, errb)
	}
	if code, _, errb = run("run", "--collection", "nope", "--", "hostname"); code != 2 || !strings.Contains(errb, "no such collection") {
		t.Errorf("an unknown collection: exit %d %q", code, errb)
	}
	if code, _, _ = run("collections", "rm", "Zoom older than 5.17"); code != 0 {
		t.Errorf("collections rm: exit %d", code)
	}
	if code, _, errb = run("collections", "rm", "Zoom older than 5.17"); code != 2 {
		t.Errorf("collections rm twice: exit %d %q", code, errb)
	}
}
