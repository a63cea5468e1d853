package cmd

import (
	"strings"
	"testing"
)

func TestDemoPlanFitsTheFileDescriptorLimit(t *testing.T) {
	tests := []struct {
		name          string
		devices       int
		soft, hard    uint64
		wantDevices   int
		wantKeep      int
		wantNotice    []string // substrings of the status line notice
		wantDetail    []string // substrings of the explanation
		wantErrSubstr string
	}{
		{name: "a limit that fits every host and connection says nothing", devices: 200, soft: 20000, hard: 20000, wantDevices: 200},
		{name: "an unknown limit plans for every host", devices: 10000, wantDevices: 10000},
		{name: "ten thousand hosts under a 20,000 limit keep fewer connections and say the ulimit for all",
			devices: 10000, soft: 20000, hard: 20000, wantDevices: 10000, wantKeep: 20000 - 10000 - 356,
			wantNotice: []string{"fd limit 20000", "keeping 9,644 of 10,000", "ulimit -n 20356"},
			wantDetail: []string{"2 per host", "ulimit -n 20356 (above the hard limit 20000"}},
		{name: "a limit below the listeners simulates fewer hosts and says how many",
			devices: 10000, soft: 4000, hard: 4000, wantDevices: 4000 - 356 - 256, wantKeep: 256,
			wantNotice: []string{"simulating 3,388 of the 10,000 hosts", "ulimit -n 20356"}},
		{name: "a hard limit above what is needed says only the ulimit",
			devices: 10000, soft: 20000, hard: 65536, wantDevices: 10000, wantKeep: 9644,
			wantDetail: []string{"To keep them all: ulimit -n 20356"}},
		{name: "a limit too low for any demo is refused with the ulimit", devices: 100, soft: 500, hard: 500,
			wantErrSubstr: "too low for the demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planDemoFiles(tt.devices, 50, tt.soft, tt.hard)
			if tt.wantErrSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) || !strings.Contains(err.Error(), "ulimit -n") {
					t.Fatalf("err = %v, want %q and the ulimit", err, tt.wantErrSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.devices != tt.wantDevices || p.keep != tt.wantKeep {
				t.Errorf("plan = %d devices, keep %d; want %d, %d", p.devices, p.keep, tt.wantDevices, tt.wantKeep)
			}
			if len(tt.wantNotice) == 0 && len(tt.wantDetail) == 0 && (p.notice != "" || p.detail != "") {
				t.Errorf("notice %q / %q for a fleet that fits", p.notice, p.detail)
			}
			for _, w := range tt.wantNotice {
				if !strings.Contains(p.notice, w) {
					t.Errorf("notice %q lacks %q", p.notice, w)
				}
			}
			for _, w := range tt.wantDetail {
				if !strings.Contains(p.detail, w) {
					t.Errorf("detail %q lacks %q", p.detail, w)
				}
			}
			if strings.Contains(tt.name, "above what is needed") && strings.Contains(p.detail, "hard limit") {
				t.Errorf("detail %q talks of the hard limit though it is high enough", p.detail)
			}
		})
	}
}
