package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine/winrmsim"
)

func TestInventoryCommandCollectsCachesAndPrints(t *testing.T) {
	fleet := startFleet(t, winrmsim.Config{Devices: 3, Seed: 11})
	c := newCLI(t)
	csvPath := fleetCSV(t, fleet)
	if code, _, errb := c.run("import", csvPath); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	host := fleet.Hosts()[0]

	// No credential: what is stored (nothing yet), and a note.
	code, out, errb := c.run("inventory", host.Hostname, "--category", "hardware")
	if code != 0 || !strings.Contains(errb, "no WinRM credential") || !strings.Contains(out, "not collected yet") {
		t.Fatalf("without credential: exit %d\n%s\n%s", code, out, errb)
	}

	c.env["RMM_WINRM_USER"], c.env["RMM_WINRM_PASSWORD"] = winrmsim.DefaultUser, winrmsim.DefaultPassword
	code, out, errb = c.run("inventory", strings.ToLower(host.Hostname), "--category", "hardware,software", "--json")
	if code != 0 {
		t.Fatalf("inventory --json: exit %d: %s", code, errb)
	}
	var got struct {
		Hostname   string `json:"hostname"`
		Categories []struct {
			Category    string          `json:"category"`
			CollectedAt *string         `json:"collected_at"`
			Cached      bool            `json:"cached"`
			Error       string          `json:"error"`
			Data        json.RawMessage `json:"data"`
		} `json:"categories"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("inventory --json output: %v\n%s", err, out)
	}
	if got.Hostname != host.Hostname || len(got.Categories) != 2 || got.Categories[0].Category != "hardware" ||
		got.Categories[0].CollectedAt == nil || got.Categories[0].Cached || got.Categories[1].Error != "" {
		t.Fatalf("inventory --json = %s", out)
	}
	var sw struct {
		OS struct {
			Name string `json:"name"`
		} `json:"os"`
		Applications []map[string]any `json:"applications"`
	}
	if err := json.Unmarshal(got.Categories[1].Data, &sw); err != nil || sw.OS.Name != host.OSName || len(sw.Applications) < 30 {
		t.Fatalf("software data: %v, os %q, %d apps", err, sw.OS.Name, len(sw.Applications))
	}
	if strings.Contains(out, `\/Date(`) {
		t.Error("the stored document keeps PowerShell's /Date()/ form")
	}

	// Within a day: from the database.
	_, out, _ = c.run("inventory", host.Hostname, "--category", "hardware", "--json")
	if !strings.Contains(out, `"cached": true`) {
		t.Fatalf("second run is not served from the database:\n%s", out)
	}
	code, out, _ = c.run("inventory", host.Hostname, "--category", "hardware")
	if code != 0 || !strings.Contains(out, "== HARDWARE (collected") || !strings.Contains(out, "Serial number") ||
		!strings.Contains(out, "Volumes") || !strings.Contains(out, host.MAC) {
		t.Fatalf("human output:\n%s", out)
	}
	for _, r := range out {
		if r > 0x7e || (r < 0x20 && r != '\n') {
			t.Fatalf("non-ASCII output %q", r)
		}
	}

	// Availability in rmm health --json after a poll.
	if code, _, errb := c.run("poll", "--once"); code != 0 {
		t.Fatalf("poll: %s", errb)
	}
	code, out, errb = c.run("health", "--json", "--worst", "0")
	if code != 0 {
		t.Fatalf("health: %s", errb)
	}
	var h struct {
		Worst []struct {
			Hostname     string `json:"hostname"`
			Availability struct {
				Uptime24h *float64 `json:"uptime_24h_pct"`
				Uptime7d  *float64 `json:"uptime_7d_pct"`
				LatencyMS *float64 `json:"latency_ms"`
			} `json:"availability"`
		} `json:"worst"`
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil || len(h.Worst) != 3 {
		t.Fatalf("health --json: %v\n%s", err, out)
	}
	for _, d := range h.Worst {
		if a := d.Availability; a.Uptime24h == nil || *a.Uptime24h != 100 || a.Uptime7d == nil || a.LatencyMS == nil {
			t.Errorf("%s availability %+v, want 100%% over one poll and a latency", d.Hostname, a)
		}
	}

	if code, _, _ := c.run("inventory", "NO-SUCH-HOST"); code != 2 {
		t.Errorf("unknown host: exit %d, want 2", code)
	}
	if code, _, _ := c.run("inventory", host.Hostname, "--category", "firmware"); code != 2 {
		t.Errorf("bad category: exit %d, want 2", code)
	}
}
