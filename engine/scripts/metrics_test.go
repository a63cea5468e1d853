package scripts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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

func TestTheScannerReadsARealMetricsDocumentItself(t *testing.T) {
	if _, ok := scanMetrics(bytes.TrimSpace(readFixture(t, "metrics_sim_v2.json"))); !ok {
		t.Error("the scanner left a real metrics document to encoding/json")
	}
}
