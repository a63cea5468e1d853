package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func readFixture(t *testing.T, name string) []byte {
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

func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte(`{"cpu_pct":1,"mem_pct":2,"last_boot":"\/Date(1)\/","disks":{"drive":"C:"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMetrics(b)
		if err == nil && (m.CPUPct < 0 || m.CPUPct > 100) {
			t.Fatalf("accepted cpu %v", m.CPUPct)
		}
	})
}
