package csvimport

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/store"
)

// The CSVs Windows admins have (newcomer section 4): Export-Csv's #TYPE
// line, Get-ADComputer's columns, Excel's semicolons, PowerShell 5.1's
// UTF-16. Each imports, and says how it was read.
func TestTheCSVsWindowsAdminsHaveImport(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	for _, tt := range []struct {
		file  string
		hosts string
		notes []string
	}{
		{"adcomputer_exportcsv.csv", "SRV-01,WS-0101", []string{"skipped Export-Csv's #TYPE line", "left out 1 disabled computer account"}},
		{"adcomputer_dnsonly.csv", "WS-0201", []string{"#TYPE"}},
		{"excel_semicolon.csv", "WS-0301,WS-0302", []string{"semicolon-delimited"}},
		{"utf16.csv", "U16-01", []string{"read as UTF-16"}},
		{"utf16be.csv", "BE-01", []string{"read as UTF-16"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			s, res, problems, err := streamFixture(t, db, tt.file, Options{})
			if err != nil || len(problems) > 0 {
				t.Fatalf("import: %v %v", err, problems)
			}
			var got []string
			for _, h := range s.Hosts() {
				got = append(got, h)
			}
			if strings.Join(sorted(got), ",") != tt.hosts || res.Added != len(got) {
				t.Errorf("imported %v (%+v), want %s", got, res, tt.hosts)
			}
			notes := strings.Join(s.Notes(), "; ")
			for _, n := range tt.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes %q lack %q", notes, n)
				}
			}
		})
	}
	// The AD columns land in the device's fields, not custom ones.
	d, err := db.DeviceByHostname(ctx, "WS-0101")
	if err != nil {
		t.Fatal(err)
	}
	if d.FQDN != "WS-0101.corp.example.com" || d.IP != "10.20.1.101" || d.OSName != "Windows 11 Enterprise" ||
		d.OSVersion != "10.0.22631" || !reflect.DeepEqual(d.Groups, []string{"Laptops", "London"}) && !reflect.DeepEqual(d.Groups, []string{"London", "Laptops"}) {
		t.Errorf("WS-0101 = %+v", d)
	}
	if _, ok := d.Custom["DNSHostName"]; ok || d.Custom["SamAccountName"] != "WS-0101$" {
		t.Errorf("custom fields %v: DNSHostName must be the FQDN, SamAccountName kept", d.Custom)
	}
	if _, err := db.DeviceByHostname(ctx, "OLD-PC"); err == nil {
		t.Error("a disabled computer account was imported")
	}
	d, _ = db.DeviceByHostname(ctx, "WS-0201")
	if d.FQDN != "WS-0201.corp.example.com" || len(d.Custom) != 1 || d.Custom["ObjectClass"] != "computer" {
		t.Errorf("WS-0201 (hostname from DNSHostName) = %+v", d)
	}
	d, _ = db.DeviceByHostname(ctx, "WS-0302")
	if d.Site != "München" || d.Custom["Notes"] != "Stock 2; Raum 4" {
		t.Errorf("WS-0302 from the semicolon file = %+v", d)
	}
	d, _ = db.DeviceByHostname(ctx, "WS-0301")
	if d.Custom["Notes"] != "Kosten 1,5 EUR" {
		t.Errorf("a comma inside a semicolon file's cell: %q", d.Custom["Notes"])
	}
	// --include-disabled takes the disabled account too.
	s, _, _, err := streamFixture(t, db, "adcomputer_exportcsv.csv", Options{IncludeDisabled: true})
	if err != nil || s.Rows() != 3 || s.Disabled() != 0 {
		t.Errorf("include disabled: %v, %d rows, %d left out", err, s.Rows(), s.Disabled())
	}
}

// A UTF-16 file's problems keep their line numbers.
func TestAUTF16FilesProblemsNameTheirLines(t *testing.T) {
	raw := []byte{0xFF, 0xFE}
	for _, r := range "Hostname,IPAddress\r\nOK-1,10.0.0.1\r\nBAD,10.0.0.999\r\n" {
		raw = append(raw, byte(r), 0)
	}
	_, problems, err := Parse("u16.csv", strings.NewReader(string(raw)))
	if err != nil || len(problems) != 1 || problems[0].Error() != `u16.csv:3: IPAddress: invalid IP address "10.0.0.999"` {
		t.Errorf("err %v, problems %v", err, problems)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// streamFixture imports a fixture through a Stream and returns it.
func streamFixture(t *testing.T, db *store.DB, name string, opts Options) (*Stream, store.ImportResult, []Problem, error) {
	t.Helper()
	s := NewStream(name, open(t, name), opts)
	res, err := db.UpsertDeviceStream(context.Background(), s.Each)
	return s, res, s.Problems(), err
}

// What rmm writes (rmm devices --csv, the console's :export csv) carries
// every column Import reads, so the file imports back and changes
// nothing: formula-looking values, lists, flags and custom fields
// included.
func TestAnExportImportsBackUnchanged(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	for _, f := range []string{"good.csv", "adcomputer_exportcsv.csv", "excel_semicolon.csv"} {
		if _, _, problems, err := streamFixture(t, db, f, Options{}); err != nil || len(problems) > 0 {
			t.Fatalf("%s: %v %v", f, err, problems)
		}
	}
	yes := true
	if _, err := db.UpsertDevices(ctx, []store.DeviceInput{{Hostname: "INJ-1", Description: "=HYPERLINK(\"x\")", Site: "-lab",
		Tags: []string{"@risky", "plain"}, Custom: map[string]string{"Owner": "+ann"}, InsecureSkipVerify: &yes, LoopOff: &yes}}); err != nil {
		t.Fatal(err)
	}
	before, err := db.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteDevices(&b, before); err != nil {
		t.Fatal(err)
	}
	s := NewStream("export.csv", bytes.NewReader(b.Bytes()), Options{IncludeDisabled: true})
	byHost := map[string]store.Device{}
	for _, d := range before {
		byHost[d.Hostname] = d
	}
	n := 0
	if err := s.Each(func(in store.DeviceInput) error {
		n++
		if ch := store.PreviewInput(byHost[in.Hostname], true, in); len(ch) > 0 {
			t.Errorf("%s would change on re-import: %v", in.Hostname, ch)
		}
		return nil
	}); err != nil || len(s.Problems()) > 0 {
		t.Fatalf("re-reading the export: %v %v", err, s.Problems())
	}
	if n != len(before) {
		t.Errorf("the export re-reads %d devices of %d", n, len(before))
	}
	if !strings.Contains(b.String(), "'=HYPERLINK") {
		t.Error("the export did not neutralise a formula")
	}
}
