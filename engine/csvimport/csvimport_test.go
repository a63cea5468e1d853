package csvimport

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/store"
)

const fixtures = "../../testdata/csv"

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func parseFixture(t *testing.T, name string) ([]Row, []Problem, error) {
	t.Helper()
	return Parse(name, open(t, name))
}

func messages(ps []Problem) []string {
	out := make([]string, len(ps))
	for i := range ps {
		out[i] = ps[i].Error()
	}
	return out
}

func TestParseAGoodFileWithAliasesQuotedListsAndCustomColumns(t *testing.T) {
	rows, problems, err := parseFixture(t, "good.csv")
	if err != nil || len(problems) > 0 {
		t.Fatalf("err %v, problems %v", err, messages(problems))
	}
	want := []Row{
		{Line: 2, Device: store.DeviceInput{
			Hostname: "WS-001", FQDN: "ws-001.corp.example", IP: "10.0.0.11", MAC: "00-15-5D-01-02-03",
			Site: "Berlin", Groups: []string{"Finance", "Laptops"}, OSName: "Windows 11 Pro", OSVersion: "10.0.22631",
			Tags: []string{"vip", "floor-2"}, Description: "CFO laptop", Transport: "https", CredentialID: "corp-admin",
			Custom: map[string]string{"Owner": "alice", "Asset Tag": "A-17"}}},
		{Line: 4, Device: store.DeviceInput{
			Hostname: "ws-002", FQDN: "ws-002.corp.example", IP: "10.0.0.12", MAC: "00:15:5d:01:02:04",
			Site: "Berlin", Groups: []string{"Finance"}, OSName: "Windows 10 Pro", OSVersion: "10.0.19045",
			Tags: []string{"kiosk"}, Description: "Lobby, front desk", Port: 5985, Transport: "http",
			Custom: map[string]string{"Owner": "bob"}}},
		{Line: 6, Device: store.DeviceInput{
			Hostname: "SRV-DB01", IP: "fd00::12", Site: "Paris", Groups: []string{"Servers", "SQL"},
			OSName: "Windows Server 2022", OSVersion: "10.0.20348", Description: "multi-line\nnote", Port: 15986,
			Transport: "https", CredentialID: "sql-admin", Custom: map[string]string{"Asset Tag": "B-2"}}},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n got %+v\nwant %+v", rows, want)
	}
}

func TestParseTheSimulatorExport(t *testing.T) {
	rows, problems, err := parseFixture(t, "sim.csv")
	if err != nil || len(problems) > 0 {
		t.Fatalf("err %v, problems %v", err, messages(problems))
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	want := store.DeviceInput{Hostname: "SIM-0001", IP: "127.0.0.1", Port: 15985, Transport: "http", Site: "lab",
		OSName: "Windows Server 2019", OSVersion: "10.0.17763", MAC: "02-00-00-00-00-01", Tags: []string{"sim", "lab"}}
	if !reflect.DeepEqual(rows[0].Device, want) {
		t.Errorf("first row\n got %+v\nwant %+v", rows[0].Device, want)
	}
}

func TestParseAcceptsAUTF8ByteOrderMarkAndCRLF(t *testing.T) {
	rows, problems, err := parseFixture(t, "bom.csv")
	if err != nil || len(problems) > 0 {
		t.Fatalf("err %v, problems %v", err, messages(problems))
	}
	if len(rows) != 2 || rows[0].Device.Hostname != "BOM-01" || rows[1].Device.IP != "10.1.0.2" || rows[1].Line != 3 {
		t.Errorf("rows %+v", rows)
	}
}

func TestParseReportsEveryBadRow(t *testing.T) {
	rows, problems, err := parseFixture(t, "bad.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`bad.csv:3: Hostname: missing hostname`,
		`bad.csv:4: Hostname: invalid hostname "WS 03": only letters, digits, '-', '.' and '_' are allowed`,
		`bad.csv:5: IPAddress: invalid IP address "10.0.0.256"`,
		`bad.csv:6: MACAddress: invalid MAC address "00-15-5D-ZZ"`,
		`bad.csv:7: Port: invalid port "0": want a number from 1 to 65535`,
		`bad.csv:8: Port: invalid port "70000": want a number from 1 to 65535`,
		`bad.csv:9: Port: invalid port "abc": want a number from 1 to 65535`,
		`bad.csv:10: Transport: invalid transport "ftp": want http or https`,
		`bad.csv:11: Hostname: duplicate of line 2`,
		`bad.csv:12: columns: wrong number of fields: 8, the header has 6`,
		`bad.csv:13: columns: wrong number of fields: 2, the header has 6`,
		`bad.csv:14: Notes: bare " in an unquoted field (quote the whole field and double the quotes inside it)`,
		`bad.csv:16: MACAddress: invalid MAC address "zz"`,
		`bad.csv:16: Port: invalid port "99999": want a number from 1 to 65535`,
		`bad.csv:16: Transport: invalid transport "telnet": want http or https`,
		`bad.csv:17: Hostname: invalid hostname "a..b": empty label between dots`,
		`bad.csv:19: Notes: unterminated quoted field: the quote opened on this line is never closed`,
	}
	if got := messages(problems); !reflect.DeepEqual(got, want) {
		t.Errorf("problems\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	var hosts []string
	for _, r := range rows {
		hosts = append(hosts, r.Device.Hostname)
	}
	if strings.Join(hosts, ",") != "OK-01,WS-14,OK-17" {
		t.Errorf("valid rows %v, want OK-01,WS-14,OK-17", hosts)
	}
}

func TestParseRowProblems(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name string
		csv  string
		want []string
	}{
		{"a label longer than 63 characters is refused", "Hostname\n" + long + ".corp\n",
			[]string{`t.csv:2: Hostname: invalid hostname "` + strings.Repeat("a", 40) + `...": label of 64 characters; at most 63`}},
		{"a hostname longer than 253 characters is refused", "Hostname\n" + strings.Repeat("abc.", 64) + "\n",
			[]string{`t.csv:2: Hostname: invalid hostname "` + strings.Repeat("abc.", 10) + `...": 256 characters; at most 253`}},
		{"a non-ASCII hostname is quoted in ASCII", "Name\nb\u00fcro-01\n",
			[]string{`t.csv:2: Name: invalid hostname "b\u00fcro-01": only letters, digits, '-', '.' and '_' are allowed`}},
		{"a duplicate in another case names the first line", "Hostname\nWS-1\n\nws-1\n",
			[]string{`t.csv:4: Hostname: duplicate of line 2`}},
		{"a bad FQDN is refused", "Hostname,FQDN\nWS-1,ws 1.corp\n",
			[]string{`t.csv:2: FQDN: invalid FQDN "ws 1.corp": only letters, digits, '-', '.' and '_' are allowed`}},
		{"a stray quote inside a quoted field is reported where the record starts", "Hostname,Tags\nWS-1,\"a\"b\"\nWS-2,x\n",
			[]string{`t.csv:2: Tags: extraneous " in a quoted field (double the quotes inside a quoted field)`}},
		{"an unknown auth method is refused", "Hostname,Auth\nWS-1,digest\n",
			[]string{`t.csv:2: Auth: invalid auth "digest": want basic, negotiate, kerberos or ntlm`}},
		{"a yes/no column refuses other words", "Hostname,Allow Unencrypted,skip_verify\nWS-1,maybe,sure\n",
			[]string{`t.csv:2: Allow Unencrypted: invalid value "maybe": want true or false (or empty to keep)`,
				`t.csv:2: skip_verify: invalid value "sure": want true or false (or empty to keep)`}},
		{"a loop column takes on or off", "Hostname,Loop\nWS-1,sometimes\n",
			[]string{`t.csv:2: Loop: invalid loop "sometimes": want on or off (or empty to keep)`}},
		{"IPv6 addresses and all MAC notations are accepted", "Hostname,IP,MAC\nA,fe80::1%eth0,0000.5e00.5301\nB,::1,00:00:5E:00:53:01\n",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems, err := Parse("t.csv", strings.NewReader(tt.csv))
			if err != nil {
				t.Fatal(err)
			}
			if got := messages(problems); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseReportsInvalidUTF8OnItsLine(t *testing.T) {
	rows, problems, err := parseFixture(t, "latin1.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"latin1.csv:2: Description: not valid UTF-8; save the file as UTF-8"}
	if got := messages(problems); !reflect.DeepEqual(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
	if len(rows) != 1 || rows[0].Device.Hostname != "LAT-02" {
		t.Errorf("rows %+v", rows)
	}
}

func TestParseRefusesAnUnusableHeader(t *testing.T) {
	tests := []struct {
		file    string
		err     string   // from Parse
		problem []string // when the header parses but cannot be used
	}{
		{file: "empty.csv", err: "empty.csv:1: header: file is empty; the first line must be a header such as Hostname,IPAddress,Site"},
		{file: "no_hostname_column.csv", problem: []string{
			"no_hostname_column.csv:1: Hostname: no hostname column (name one Hostname, ComputerName, Name, or DNSHostName/FQDN)"}},
		{file: "duplicate_columns.csv", problem: []string{
			`duplicate_columns.csv:1: IPAddress: columns "IP" and "IPAddress" mean the same thing; keep one`,
			`duplicate_columns.csv:1: owner: column "owner" appears twice (also "Owner")`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rows, problems, err := parseFixture(t, tt.file)
			if len(rows) != 0 {
				t.Errorf("rows %+v, want none", rows)
			}
			if tt.err != "" {
				var p *Problem
				if err == nil || err.Error() != tt.err || !errors.As(err, &p) {
					t.Errorf("err %v, want %q as a *Problem", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := messages(problems); !reflect.DeepEqual(got, tt.problem) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.problem)
			}
		})
	}
}

func TestParseReportsUTF16WithoutAByteOrderMark(t *testing.T) {
	data := []byte{'H', 0, 'o', 0, 's', 0, 't', 0, '\n', 0}
	_, _, err := Parse("x.csv", bytes.NewReader(data))
	if err == nil || !strings.Contains(err.Error(), "NUL bytes") {
		t.Errorf("err %v", err)
	}
}

func TestParseHeaderOnlyGivesNothing(t *testing.T) {
	rows, problems, err := parseFixture(t, "header_only.csv")
	if err != nil || len(rows) != 0 || len(problems) != 0 {
		t.Errorf("rows %v problems %v err %v", rows, problems, err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }

func TestParseReturnsReadErrors(t *testing.T) {
	_, _, err := Parse("x.csv", failingReader{})
	if err == nil || err.Error() != "read x.csv: disk gone" {
		t.Errorf("err %v", err)
	}
}

// openDB opens a real SQLite file for the test.
func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func importFixture(t *testing.T, db *store.DB, name string, opts Options) (store.ImportResult, []Problem, error) {
	t.Helper()
	return Import(context.Background(), db, name, open(t, name), opts)
}

func hostnames(t *testing.T, db *store.DB) string {
	t.Helper()
	ds, err := db.ListDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.Hostname)
	}
	return strings.Join(out, ",")
}

func TestImportStoresAGoodFile(t *testing.T) {
	db := openDB(t)
	res, problems, err := importFixture(t, db, "good.csv", Options{})
	if err != nil || len(problems) > 0 {
		t.Fatalf("err %v problems %v", err, messages(problems))
	}
	if res != (store.ImportResult{Added: 3}) {
		t.Errorf("result %+v, want 3 added", res)
	}
	d, err := db.DeviceByHostname(context.Background(), "ws-001")
	if err != nil {
		t.Fatal(err)
	}
	if d.Port != 5986 || d.Site != "Berlin" || !reflect.DeepEqual(d.Groups, []string{"Finance", "Laptops"}) ||
		!reflect.DeepEqual(d.Tags, []string{"vip", "floor-2"}) || d.Custom["Asset Tag"] != "A-17" {
		t.Errorf("stored %+v", d)
	}
	if d, _ := db.DeviceByHostname(context.Background(), "WS-002"); d.Port != 5985 || d.Transport != "http" {
		t.Errorf("ws-002 stored with %s:%d, want http:5985", d.Transport, d.Port)
	}
}

func TestImportOfABadFileChangesNothing(t *testing.T) {
	db := openDB(t)
	if _, _, err := importFixture(t, db, "sim.csv", Options{}); err != nil {
		t.Fatal(err)
	}
	before, _ := db.ListDevices(context.Background())
	res, problems, err := importFixture(t, db, "bad.csv", Options{})
	want := "import bad.csv: 15 invalid rows; nothing imported (use --skip-invalid to import the valid rows)"
	if err == nil || err.Error() != want {
		t.Errorf("err %v, want %q", err, want)
	}
	if len(problems) != 17 || res != (store.ImportResult{}) {
		t.Errorf("%d problems, result %+v", len(problems), res)
	}
	after, _ := db.ListDevices(context.Background())
	if !reflect.DeepEqual(before, after) {
		t.Errorf("devices changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

func TestImportWithSkipInvalidStoresTheValidRows(t *testing.T) {
	db := openDB(t)
	res, problems, err := importFixture(t, db, "bad.csv", Options{SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.ImportResult{Added: 3, Skipped: 15}) {
		t.Errorf("result %+v, want 3 added, 15 skipped", res)
	}
	if len(problems) != 17 {
		t.Errorf("%d problems, want 17", len(problems))
	}
	if got := hostnames(t, db); got != "OK-01,OK-17,WS-14" {
		t.Errorf("devices %s", got)
	}
}

func TestImportRefusesAnUnusableHeaderEvenWithSkipInvalid(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"no_hostname_column.csv", "import no_hostname_column.csv: no hostname column (name one Hostname, ComputerName, Name, or DNSHostName/FQDN); nothing imported"},
		{"duplicate_columns.csv", "import duplicate_columns.csv: 2 problems in the header; nothing imported"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			db := openDB(t)
			_, problems, err := importFixture(t, db, tt.file, Options{SkipInvalid: true})
			if err == nil || err.Error() != tt.want {
				t.Errorf("err %v, want %q", err, tt.want)
			}
			if len(problems) == 0 {
				t.Error("no problems returned")
			}
			if n, _ := db.CountDevices(context.Background()); n != 0 {
				t.Errorf("%d devices stored", n)
			}
		})
	}
}

func TestReimportUpdatesMatchingHostnamesInAnyCase(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	if _, _, err := importFixture(t, db, "sim.csv", Options{}); err != nil {
		t.Fatal(err)
	}
	update := "hostname,ip,Owner\nsim-0001,10.9.9.1,carol\nSIM-0004,10.9.9.4,\n"
	res, problems, err := Import(ctx, db, "update.csv", strings.NewReader(update), Options{})
	if err != nil || len(problems) > 0 {
		t.Fatalf("err %v problems %v", err, messages(problems))
	}
	if res != (store.ImportResult{Added: 1, Updated: 1}) {
		t.Errorf("result %+v, want 1 added, 1 updated", res)
	}
	d, err := db.DeviceByHostname(ctx, "SIM-0001")
	if err != nil {
		t.Fatal(err)
	}
	if d.Hostname != "SIM-0001" || d.IP != "10.9.9.1" || d.Port != 15985 || d.OSName != "Windows Server 2019" ||
		d.Custom["Owner"] != "carol" {
		t.Errorf("updated device %+v", d)
	}
	res, _, err = importFixture(t, db, "sim.csv", Options{})
	if err != nil || res != (store.ImportResult{Updated: 3}) {
		t.Errorf("re-import of sim.csv: %+v, %v; want 3 updated", res, err)
	}
	if n, _ := db.CountDevices(ctx); n != 4 {
		t.Errorf("%d devices, want 4", n)
	}
}

func FuzzParse(f *testing.F) {
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(fixtures, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Hostname\n\"a\n"))
	f.Add([]byte("Name,Tags\nx,\"a,b\"\"c\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, problems, err := Parse("fuzz.csv", bytes.NewReader(data))
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("error that is not a *Problem: %v", err)
			}
			problems = append(problems, *p)
		}
		for _, p := range problems {
			if p.File != "fuzz.csv" || p.Line <= 0 || p.Field == "" || p.Reason == "" {
				t.Errorf("incomplete problem %+v", p)
			}
			for _, r := range p.Error() {
				if r > 127 {
					t.Errorf("non-ASCII message %q", p.Error())
					break
				}
			}
		}
		for _, r := range rows {
			if r.Line <= 1 || r.Device.Hostname == "" || checkHostname(r.Device.Hostname) != "" {
				t.Errorf("invalid row %+v", r)
			}
		}
	})
}

func TestParseTransportSecurityColumnsAndAliases(t *testing.T) {
	csv := "Hostname,Transport,Authentication,CA File,Insecure Skip Verify,AllowUnencrypted\n" +
		"WS-1,https,NTLM,/etc/rmm/corp-ca.pem,no,\n" +
		"WS-2,http,,,,yes\n" +
		"WS-3,,Kerberos,,1,0\n"
	rows, problems, err := Parse("t.csv", strings.NewReader(csv))
	if err != nil || len(problems) > 0 {
		t.Fatalf("err %v, problems %v", err, messages(problems))
	}
	yes, no := true, false
	want := []store.DeviceInput{
		{Hostname: "WS-1", Transport: "https", Auth: "ntlm", CABundle: "/etc/rmm/corp-ca.pem", InsecureSkipVerify: &no},
		{Hostname: "WS-2", Transport: "http", AllowUnencrypted: &yes},
		{Hostname: "WS-3", Auth: "kerberos", InsecureSkipVerify: &yes, AllowUnencrypted: &no},
	}
	for i, r := range rows {
		if !reflect.DeepEqual(r.Device, want[i]) {
			t.Errorf("row %d\n got %+v\nwant %+v", i+1, r.Device, want[i])
		}
	}
}

func TestTheLoopColumnSwitchesTheResidentLoopOffAndOn(t *testing.T) {
	rows, problems, err := Parse("t.csv", strings.NewReader("Hostname,Loop\nEDR-1,off\nWS-2,on\nWS-3,\n"))
	if err != nil || len(problems) != 0 || len(rows) != 3 {
		t.Fatalf("%d rows, problems %v, %v", len(rows), problems, err)
	}
	if d := rows[0].Device; d.LoopOff == nil || !*d.LoopOff {
		t.Errorf("off: %v", d.LoopOff)
	}
	if d := rows[1].Device; d.LoopOff == nil || *d.LoopOff {
		t.Errorf("on: %v", d.LoopOff)
	}
	if d := rows[2].Device; d.LoopOff != nil {
		t.Errorf("an empty cell must keep the stored value: %v", *d.LoopOff)
	}
}
