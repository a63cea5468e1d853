package cmd

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine/winrmsim"
)

// TestActionExportNeutralisesWhatTheHostPrinted is reliability F7's
// second reproduction: a host (here a library script) prints a formula,
// and rmm action export --format csv wrote it live into the CSV.
func TestActionExportNeutralisesWhatTheHostPrinted(t *testing.T) {
	c, db, fleet := simCLI(t, winrmsim.Config{Devices: 1, Seed: 31})
	run := func(args ...string) (int, string, string) { return c.run(append([]string{"--db", db}, args...)...) }
	const payload = `=cmd|' /C calc'!A0`
	file := filepath.Join(t.TempDir(), "formula.ps1")
	if err := os.WriteFile(file, []byte("Write-Output '=cmd|'' /C calc''!A0'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errb := run("scripts", "add", file, "--name", "formula"); code != 0 {
		t.Fatalf("scripts add: %s", errb)
	}
	code, out, errb := run("action", "run", "run-script", "--target", fleet.Hosts()[0].Hostname, "--param", "script=formula", "--json")
	var p struct {
		ID string `json:"id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p.ID == "" {
		t.Fatalf("run-script: exit %d %s %s", code, out, errb)
	}
	code, out, errb = run("action", "export", p.ID, "--format", "csv")
	if code != 0 {
		t.Fatalf("export: exit %d %s", code, errb)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("export csv: %v\n%s", err, out)
	}
	h, r := rows[0], rows[1]
	for i, col := range h {
		switch col {
		case "message", "stdout":
			if !strings.HasPrefix(r[i], "'"+payload) {
				t.Errorf("%s = %q: the host's formula is live", col, r[i])
			}
		case "status", "exit_code", "attempts":
			if strings.HasPrefix(r[i], "'") {
				t.Errorf("%s = %q: a value rmm computed was changed", col, r[i])
			}
		}
	}
	// JSON keeps the value exactly.
	if code, out, _ = run("action", "export", p.ID, "--format", "json"); code != 0 || !strings.Contains(out, `"message": "`+payload) {
		t.Errorf("json export: %s", out)
	}
}

// TestImportRefusesAbsurdFieldsNamingFileLineAndColumn is reliability
// F13 through rmm import: a 16 MB description, a NUL byte and a
// hostname like "-rf" were accepted.
func TestImportRefusesAbsurdFieldsNamingFileLineAndColumn(t *testing.T) {
	dir := t.TempDir()
	big := "Hostname,Description\nWS-1,ok\nWS-2," + strings.Repeat("x", 16<<20) + "\n"
	tests := []struct{ name, body, want string }{
		{"big.csv", big, "big.csv:3: Description: cell of more than 65536 bytes (at most 64 KiB per cell)"},
		{"nul.csv", "Hostname,Description\nWS-1,a\x00b\n", "nul.csv:2: Description: contains a NUL byte"},
		{"rf.csv", "Hostname\nWS-1\n-rf\n", `rf.csv:3: Hostname: invalid hostname "-rf": a label starts or ends with '-'`},
	}
	c := newCLI(t)
	db := filepath.Join(dir, "rmm.db")
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errb := c.run("--db", db, "import", "--skip-invalid", path)
		if !strings.Contains(errb, strings.Replace(tt.want, tt.name, path, 1)) {
			t.Errorf("%s: exit %d, stderr %q; want %q", tt.name, code, errb, tt.want)
		}
		// A cell over the limit refuses the whole file; a bad row is
		// skipped (--skip-invalid).
		if want := map[bool]int{true: 2, false: 0}[tt.name == "big.csv"]; code != want {
			t.Errorf("%s: exit %d, want %d", tt.name, code, want)
		}
	}
	code, out, _ := c.run("--db", db, "devices", "--json")
	var ds []struct {
		Hostname string `json:"hostname"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 || ds[0].Hostname != "WS-1" {
		t.Errorf("devices after the imports: %s (only rf.csv's valid WS-1, with --skip-invalid)", out)
	}
}
