package ui

import (
	"slices"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
)

func hostnames(ds []engine.DeviceState) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Hostname
	}
	return out
}

func TestNaturalCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"WS-2", "WS-10", -1},
		{"WS-10", "WS-2", 1},
		{"ws-3", "WS-4", -1},
		{"WS-002", "WS-2", -1}, // same number: ordered by the raw strings, so the order stays total
		{"alpha", "Beta", -1},
		{"WS", "WS-1", -1},
		{"same", "same", 0},
		{"srv99999999999999999999", "srv100000000000000000000", -1}, // longer than int64
		{"ÄRZTE-1", "ärzte-2", -1},
	}
	for _, tt := range tests {
		got := NaturalCompare(tt.a, tt.b)
		if sign(got) != tt.want {
			t.Errorf("NaturalCompare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestSortDevices(t *testing.T) {
	now := t0
	ds := []engine.DeviceState{
		{ID: 1, Hostname: "WS-10", Site: "paris", Status: engine.StatusOnline, HasMetrics: true, CPUPct: 50, MemPct: 10, DiskFreePct: 40, LastSeen: now.Add(-time.Minute)},
		{ID: 2, Hostname: "ws-2", Site: "London", Status: engine.StatusOffline, HasMetrics: true, CPUPct: 90, MemPct: 20, DiskFreePct: 5, LastSeen: now.Add(-time.Hour)},
		{ID: 3, Hostname: "WS-3", Site: "London", Status: engine.StatusUnknown, LastSeen: time.Time{}},
		{ID: 4, Hostname: "WS-1", Site: "Berlin", Status: engine.StatusOnline, HasMetrics: true, CPUPct: 50, MemPct: 30, DiskFreePct: 80, LastSeen: now.Add(-time.Second)},
	}
	tests := []struct {
		name string
		by   Column
		desc bool
		want []string
	}{
		{"hostnames sort naturally and ignore case", ColHostname, false, []string{"WS-1", "ws-2", "WS-3", "WS-10"}},
		{"hostnames reversed", ColHostname, true, []string{"WS-10", "WS-3", "ws-2", "WS-1"}},
		{"sites tie-break by hostname", ColSite, false, []string{"WS-1", "ws-2", "WS-3", "WS-10"}},
		{"status puts problems first", ColStatus, false, []string{"ws-2", "WS-3", "WS-1", "WS-10"}},
		{"busiest CPU first, equal CPU by hostname, no metrics last", ColCPU, true, []string{"ws-2", "WS-1", "WS-10", "WS-3"}},
		{"idlest CPU first still keeps no metrics last", ColCPU, false, []string{"WS-1", "WS-10", "ws-2", "WS-3"}},
		{"memory", ColMem, true, []string{"WS-1", "ws-2", "WS-10", "WS-3"}},
		{"fullest disk first", ColDisk, false, []string{"ws-2", "WS-10", "WS-1", "WS-3"}},
		{"stalest first: never seen is the oldest", ColLastSeen, true, []string{"WS-3", "ws-2", "WS-10", "WS-1"}},
		{"most recently seen first", ColLastSeen, false, []string{"WS-1", "WS-10", "ws-2", "WS-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Clone(ds)
			SortDevices(got, tt.by, tt.desc)
			if !slices.Equal(hostnames(got), tt.want) {
				t.Errorf("SortDevices(%v, desc=%v) = %v, want %v", tt.by, tt.desc, hostnames(got), tt.want)
			}
		})
	}
}

func TestSortIsIndependentOfInputOrder(t *testing.T) {
	ds := fleet(300)
	a := slices.Clone(ds)
	b := slices.Clone(ds)
	slices.Reverse(b)
	for by := ColHostname; by < numColumns; by++ {
		SortDevices(a, by, by.DefaultDesc())
		SortDevices(b, by, by.DefaultDesc())
		if !slices.Equal(hostnames(a), hostnames(b)) {
			t.Fatalf("sorting by %v depends on the input order", by)
		}
	}
}
