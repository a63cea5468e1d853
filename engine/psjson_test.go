package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ps", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMetricsAcceptsWindowsPowerShell51Output(t *testing.T) {
	boot := time.UnixMilli(1764147600000).UTC()
	tests := []struct {
		name      string
		fixture   string
		host      string
		cpu, mem  float64
		disks     int
		minFree   float64
		wantBoot  time.Time
		firstDisk string
	}{
		{"an array of two disks and a /Date()/ boot time", "metrics_array.json", "SRV-0001", 12.5, 43.1, 2, 5.4, boot, "C:"},
		{"a single disk unwrapped from its array and a dated offset", "metrics_unwrapped.json", "WS-0002", 3, 71.9, 1, 10, boot, "C:"},
		{"a date wrapped in a value object and disks null", "metrics_date_object.json", "WS-0003", 97.2, 88, 0, 100, boot, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMetrics(readFixture(t, tt.fixture))
			if err != nil {
				t.Fatalf("ParseMetrics: %v", err)
			}
			if m.Hostname != tt.host || m.CPUPct != tt.cpu || m.MemPct != tt.mem {
				t.Errorf("got host=%q cpu=%v mem=%v, want %q %v %v", m.Hostname, m.CPUPct, m.MemPct, tt.host, tt.cpu, tt.mem)
			}
			if len(m.Disks) != tt.disks {
				t.Fatalf("got %d disks, want %d", len(m.Disks), tt.disks)
			}
			if tt.disks > 0 && m.Disks[0].Drive != tt.firstDisk {
				t.Errorf("first disk %q, want %q", m.Disks[0].Drive, tt.firstDisk)
			}
			if got := m.MinDiskFreePct(); got != tt.minFree {
				t.Errorf("MinDiskFreePct = %v, want %v", got, tt.minFree)
			}
			if !m.LastBoot.Equal(tt.wantBoot) {
				t.Errorf("LastBoot = %v, want %v", m.LastBoot, tt.wantBoot)
			}
		})
	}
}

func TestParseMetricsRejectsBadDocuments(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty output", "  \r\n"},
		{"not JSON", "Get-CimInstance : Access denied"},
		{"cpu above 100", `{"cpu_pct":130,"mem_pct":1}`},
		{"a date that is not a date", `{"last_boot":"yesterday"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseMetrics([]byte(tt.in)); err == nil {
				t.Fatalf("ParseMetrics(%q) succeeded", tt.in)
			}
		})
	}
}

func TestDecodeStderrSeparatesProgressFromErrors(t *testing.T) {
	s, err := DecodeStderr(string(readFixture(t, "stderr_progress.clixml")))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Errors) != 0 || s.Progress != 1 {
		t.Fatalf("progress-only stderr: errors=%q progress=%d, want none and 1", s.Errors, s.Progress)
	}

	s, err = DecodeStderr(string(readFixture(t, "stderr_error.clixml")))
	if err != nil {
		t.Fatal(err)
	}
	want := "Get-CimInstance : Access denied\nAt line:1 char:1"
	if got := s.ErrorText(); got != want {
		t.Fatalf("ErrorText = %q, want %q", got, want)
	}
	if len(s.Warnings) != 1 || s.Warnings[0] != "disk_check skipped" {
		t.Fatalf("warnings = %q, want the _x005F_ escape decoded", s.Warnings)
	}
}

func TestDecodeStderrTakesPlainTextAsErrors(t *testing.T) {
	s, err := DecodeStderr("'foo' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Errors) != 2 {
		t.Fatalf("errors = %q, want 2 lines", s.Errors)
	}
}

func TestDecodeStderrReportsBrokenCLIXML(t *testing.T) {
	if _, err := DecodeStderr("#< CLIXML\r\n<Objs><S S=\"Error\">unterminated"); err == nil {
		t.Fatal("broken CLIXML decoded without error")
	}
}

func FuzzDecodeStderr(f *testing.F) {
	f.Add("#< CLIXML\r\n<Objs><S S=\"Error\">x_x000D__x000A_</S></Objs>")
	f.Add("plain error\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = DecodeStderr(s)
	})
}

// parseMetricsReference is what ParseMetrics did before it had a scanner
// of its own: encoding/json alone.
func parseMetricsReference(stdout []byte) (HostMetrics, error) {
	doc := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(stdout), []byte("\xef\xbb\xbf")))
	if len(doc) == 0 {
		return HostMetrics{}, fmt.Errorf("metrics: empty output")
	}
	var m HostMetrics
	if err := json.Unmarshal(doc, &m); err != nil {
		return HostMetrics{}, fmt.Errorf("metrics: %w", err)
	}
	if m.CPUPct < 0 || m.CPUPct > 100 {
		return HostMetrics{}, fmt.Errorf("metrics: cpu_pct %v out of range 0..100", m.CPUPct)
	}
	if m.MemPct < 0 || m.MemPct > 100 {
		return HostMetrics{}, fmt.Errorf("metrics: mem_pct %v out of range 0..100", m.MemPct)
	}
	return m, nil
}

// metricsQuirks are documents that exercise each path of the scanner and
// each way out of it to encoding/json.
var metricsQuirks = []string{
	`{}`,
	`null`,
	`[]`,
	`"text"`,
	` {"hostname":"A"} `,
	"\xef\xbb\xbf\r\n{\"hostname\":\"BOM\"}\r\n\r\n",
	`{"hostname":null,"cpu_pct":null,"disks":null,"services":null,"net_errors":null,"pending_reboot":null,"last_boot":null}`,
	`{"hostname":"A","hostname":"B","cpu_pct":5,"cpu_pct":null}`,
	`{"net_errors":5,"net_errors":null,"pending_reboot":true,"pending_reboot":null}`,
	`{"HOSTNAME":"upper","Cpu_Pct":3}`,
	`{"hostnam\u0065":"escaped key"}`,
	"{\"di\u017fks\":{\"drive\":\"C:\"}}",
	"{\"dis\xc5\xbfks\":{\"drive\":\"C:\"}}",
	`{"unknown":{"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00"},"hostname":"X"}`,
	`{"disks":[]}`,
	`{"disks":[null,{"drive":"C:"},{}]}`,
	`{"disks":{"drive":"C:","size_gb":1e2,"free_gb":-0,"free_pct":0.5e-1,"DRIVE":"D:"}}`,
	`{"disks":"C:"}`,
	`{"disks":[1]}`,
	`{"disks":true}`,
	`{"services":{"name":"Spooler","state":"Running"}}`,
	`{"services":[{"name":"a","state":4}]}`,
	`{"last_boot":"\/Date(1764147600000)\/"}`,
	`{"last_boot":"/Date(-1764147600000-0500)/"}`,
	`{"last_boot":"\/Date(1764147600000+01)\/"}`,
	`{"last_boot":"\/Date(99999999999999999999)\/"}`,
	`{"last_boot":"2025-11-26T09:00:00Z"}`,
	`{"last_boot":"2025-11-26T09:00:00.5+01:00"}`,
	`{"last_boot":"2025-11-26T09:00:00"}`,
	`{"last_boot":"yesterday"}`,
	`{"last_boot":{"value":"\/Date(1764147600000)\/","DateTime":"Wednesday"}}`,
	`{"last_boot":5}`,
	`{"hostname":"tab\tquote\"slash\/back\\nl\nuni\u00e9pair\ud83d\ude00lone\ud800x\udc00"}`,
	"{\"hostname\":\"bad utf8 \xff\xfe \xed\xa0\x80 ok \xc3\xa9\"}",
	"{\"hostname\":\"ctl \x01\"}",
	`{"hostname":"bad escape \x"}`,
	`{"hostname":"short \u12"}`,
	`{"hostname":5}`,
	`{"cpu_pct":"5"}`,
	`{"cpu_pct":1e400}`,
	`{"cpu_pct":-1}`,
	`{"mem_pct":100.0000001}`,
	`{"cpu_pct":01}`,
	`{"cpu_pct":1.}`,
	`{"cpu_pct":.5}`,
	`{"cpu_pct":+1}`,
	`{"cpu_pct":1e}`,
	`{"cpu_pct":-}`,
	`{"net_errors":1.5}`,
	`{"net_errors":1e3}`,
	`{"net_errors":99999999999999999999}`,
	`{"net_errors":-9223372036854775808}`,
	`{"pending_reboot":"true"}`,
	`{"pending_reboot":tru}`,
	`{"pending_reboot":nul}`,
	`{"hostname":"A",}`,
	`{"hostname":"A" "cpu_pct":1}`,
	`{"hostname" "A"}`,
	`{,}`,
	`{"disks":[{"drive":"C:"},]}`,
	`{"disks":[{"drive":"C:"} {"drive":"D:"}]}`,
	`{"hostname":"A"}x`,
	`{"hostname":"A"}{}`,
	`{"hostname":"A"`,
	`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	`{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
	`{"x":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat("}", 70) + `}`,
}

func TestParseMetricsDecodesAsEncodingJSONDoes(t *testing.T) {
	docs := metricsQuirks
	for _, name := range []string{"metrics_array.json", "metrics_unwrapped.json", "metrics_date_object.json", "metrics_sim_v2.json"} {
		docs = append(docs, string(readFixture(t, name)))
	}
	// Every prefix of a real document: cut short anywhere.
	sim := string(readFixture(t, "metrics_sim_v2.json"))
	for i := range len(sim) {
		docs = append(docs, sim[:i])
	}
	for _, doc := range docs {
		got, gotErr := ParseMetrics([]byte(doc))
		want, wantErr := parseMetricsReference([]byte(doc))
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseMetrics(%.80q)\n got %+v, %v\nwant %+v, %v", doc, got, gotErr, want, wantErr)
		}
	}
}

func TestParseMetricsRefusesAnOversizedDocument(t *testing.T) {
	doc := `{"hostname":"` + strings.Repeat("A", maxMetricsBytes) + `"}`
	_, err := ParseMetrics([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "more than the 1048576 a metrics document may have") {
		t.Fatalf("a document of %d bytes: err = %v", len(doc), err)
	}
}

func TestPSDateReadsEachFormAndNamesWhatItCannot(t *testing.T) {
	boot := time.UnixMilli(1764147600000).UTC()
	for _, tt := range []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{`"\/Date(1764147600000)\/"`, boot, ""},
		{`"\/Date(1764147600000-0800)\/"`, boot, ""},
		{`{"value":"\/Date(1764147600000)\/","DisplayHint":2}`, boot, ""},
		{`"2025-11-26T09:00:00Z"`, boot, ""},
		{`null`, time.Time{}, ""},
		{`"\/Date(1764147600000+1)\/"`, time.Time{}, `date "/Date(1764147600000+1)/": not a PowerShell date`},
		{`"\/Date(99999999999999999999)\/"`, time.Time{}, `date "/Date(99999999999999999999)/": strconv.ParseInt: parsing "99999999999999999999": value out of range`},
		{`"soon"`, time.Time{}, `date "soon": not a PowerShell date`},
		{`{"DateTime":"x"}`, time.Time{}, `date object without a value member`},
	} {
		var d PSDate
		err := d.UnmarshalJSON([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !d.Equal(tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.in, d.Time, err, tt.want)
		}
	}
}

// psDateRE is the pattern psDateMillis replaced.
var psDateRE = regexp.MustCompile(`^/Date\((-?\d+)([+-]\d{4})?\)/$`)

func FuzzPSDateMillisMatchesItsPattern(f *testing.F) {
	for _, s := range []string{"/Date(1764147600000)/", "/Date(-1)/", "/Date(-0500)/", "/Date(1+0100)/", "/Date(1-01000)/",
		"/Date(1-)/", "/Date()/", "/Date(-)/", "/Date(12)/\n", "/Date(\u0661)/", "Date(1)", "/Date(1)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, ok := psDateMillis(s)
		m := psDateRE.FindStringSubmatch(s)
		if ok != (m != nil) || ok && ms != m[1] {
			t.Fatalf("psDateMillis(%q) = %q, %v; the pattern finds %q", s, ms, ok, m)
		}
	})
}

func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte(`{"cpu_pct":1,"mem_pct":2,"last_boot":"\/Date(1)\/","disks":{"drive":"C:"}}`))
	for _, doc := range metricsQuirks[:len(metricsQuirks)-2] {
		f.Add([]byte(doc))
	}
	f.Add(readFixture(f, "metrics_sim_v2.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMetrics(b)
		if err == nil && (m.CPUPct < 0 || m.CPUPct > 100) {
			t.Fatalf("accepted cpu %v", m.CPUPct)
		}
		// What the scanner accepts, encoding/json decodes the same way.
		got, ok := scanMetrics(b)
		if !ok {
			return
		}
		var want HostMetrics
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("the scanner accepted %q, which encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: scanner %+v, encoding/json %+v", b, got, want)
		}
	})
}
