package cmd

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const csvFixtures = "../testdata/csv"

// Newcomer section 4: the CSVs Windows admins have import from the
// command line, each saying how it was read.
func TestImportReadsTheCSVsWindowsAdminsHave(t *testing.T) {
	for _, tt := range []struct {
		file  string
		out   string
		notes []string
	}{
		{"adcomputer_exportcsv.csv", "added 2, updated 0, skipped 0", []string{"skipped Export-Csv's #TYPE line", "left out 1 disabled computer account"}},
		{"excel_semicolon.csv", "added 2, updated 0, skipped 0", []string{"semicolon-delimited"}},
		{"utf16.csv", "added 1, updated 0, skipped 0", []string{"read as UTF-16"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			c := newCLI(t)
			code, out, errb := c.run("import", filepath.Join(csvFixtures, tt.file))
			if code != 0 || !strings.Contains(out, tt.out) {
				t.Fatalf("import: exit %d, %q %q; want %q", code, out, errb, tt.out)
			}
			for _, n := range tt.notes {
				if !strings.Contains(errb, n) {
					t.Errorf("stderr %q lacks %q", errb, n)
				}
			}
		})
	}
}

// --dry-run says what would change and writes nothing; after the real
// import the same file would change nothing; an export of the devices
// imports back unchanged.
func TestImportDryRunAndTheExportRoundTrip(t *testing.T) {
	c := newCLI(t)
	ad := filepath.Join(csvFixtures, "adcomputer_exportcsv.csv")
	code, out, errb := c.run("import", "--dry-run", ad)
	if code != 0 || !strings.Contains(out, "WS-0101: add") || !strings.Contains(out, "dry run: would add 2, update 0, leave 0 unchanged") {
		t.Fatalf("dry run: exit %d, %q %q", code, out, errb)
	}
	if _, out, _ := c.run("devices", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("the dry run stored devices: %s", out)
	}
	if code, _, errb := c.run("import", ad); code != 0 {
		t.Fatalf("import: %d %s", code, errb)
	}
	if code, out, _ := c.run("import", "--dry-run", ad); code != 0 || !strings.Contains(out, "would add 0, update 0, leave 2 unchanged") {
		t.Errorf("dry run of the same file: %d %q", code, out)
	}
	// A change shows its old and new value.
	changed := filepath.Join(t.TempDir(), "changed.csv")
	if err := os.WriteFile(changed, []byte("Hostname,IPAddress,Site\nSRV-01,10.20.0.6,London\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = c.run("import", "--dry-run", changed)
	if code != 0 || !strings.Contains(out, `SRV-01: IPAddress: "10.20.0.5" -> "10.20.0.6"; Site: "main" -> "London"`) {
		t.Errorf("dry run of a change: %d %q", code, out)
	}

	// rmm devices --csv writes what rmm import reads: back in, nothing changes.
	code, exported, errb := c.run("devices", "--csv")
	if code != 0 {
		t.Fatalf("devices --csv: %d %s", code, errb)
	}
	recs, err := csv.NewReader(strings.NewReader(exported)).ReadAll()
	if err != nil || len(recs) != 3 || recs[0][0] != "Hostname" || recs[0][2] != "IPAddress" {
		t.Fatalf("devices --csv: %v %q", err, exported)
	}
	file := filepath.Join(t.TempDir(), "export.csv")
	if err := os.WriteFile(file, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errb := c.run("import", "--dry-run", file); code != 0 || !strings.Contains(out, "would add 0, update 0, leave 2 unchanged") {
		t.Errorf("re-importing the export: %d %q %q", code, out, errb)
	}

	// --filter is the console's grammar; a bad one is exit 2.
	code, out, _ = c.run("devices", "--csv", "--filter", "group:London")
	if code != 0 || !strings.Contains(out, "WS-0101") || strings.Contains(out, "SRV-01") {
		t.Errorf("devices --csv --filter group:London: %d %q", code, out)
	}
	code, out, _ = c.run("devices", "--filter", "os:2022 sort:-host")
	if code != 0 || !strings.Contains(out, "SRV-01") || strings.Contains(out, "WS-0101") {
		t.Errorf("devices --filter os:2022: %d %q", code, out)
	}
	code, _, errb = c.run("devices", "--filter", "cpu>abc")
	if code != 2 || !strings.Contains(errb, `cpu>abc: "abc" is not a number`) {
		t.Errorf("a bad filter: %d %q", code, errb)
	}
}

func TestTheImportProgressIsABar(t *testing.T) {
	if got := progressBar("big.csv", 120000, 31, 100); got != "importing big.csv [#########.....................]  31%  120,000 rows" {
		t.Errorf("bar = %q", got)
	}
	if got := progressBar("pipe.csv", 5, 10, 0); got != "importing pipe.csv: 5 rows read" {
		t.Errorf("without a size: %q", got)
	}
}
