package winrmsim

import (
	"strings"
	"testing"
	"time"
)

func TestMetricsJSONIsWhatPowerShell51Prints(t *testing.T) {
	f, err := New(Config{Devices: 12, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	boot := time.Date(2025, 11, 26, 9, 0, 0, 0, time.UTC)
	var lines []string
	for _, h := range f.hosts {
		m := h.metricsAt(90*time.Minute, boot)
		m.PendingReboot = false // the host's action state (hoststate.go), not the curves this golden pins
		lines = append(lines, string(h.metricsJSON(m, metricsVersion, nil)))
	}
	got := strings.Join(lines, "\n") + "\n"
	golden(t, "metrics_seed1.golden", got)
	if !strings.Contains(got, `"last_boot":"\/Date(1764147600000)\/"`) {
		t.Error(`last_boot is not written as "\/Date(ms)\/"`)
	}
	if !strings.Contains(got, `"disks":{"drive":"C:"`) || !strings.Contains(got, `"disks":[{"drive":"C:"`) {
		t.Error("seed 1 should show both a bare one-disk object and a disk array")
	}
}

func TestMetricsCurvesAreAFunctionOfSeedAndOffset(t *testing.T) {
	a, _ := New(Config{Devices: 50, Seed: 77})
	time.Sleep(20 * time.Millisecond)
	b, _ := New(Config{Devices: 50, Seed: 77})
	for _, off := range []time.Duration{0, time.Second, 17 * time.Minute, 30 * time.Hour} {
		for i, h := range a.Hosts() {
			ma, _ := a.Metrics(h.Hostname, a.epoch.Add(off))
			mb, _ := b.Metrics(h.Hostname, b.epoch.Add(off))
			if ma.CPUPct != mb.CPUPct || ma.MemPct != mb.MemPct || ma.Disks[0] != mb.Disks[0] {
				t.Fatalf("host %d at +%v: %+v vs %+v", i, off, ma, mb)
			}
		}
	}
	if _, ok := a.Metrics("NOPE", time.Now()); ok {
		t.Error("Metrics found an unknown host")
	}
}

func TestMetricsMoveSmoothlyAndStayInRange(t *testing.T) {
	f, _ := New(Config{Devices: 200, Seed: 5})
	var moved int
	for _, h := range f.hosts {
		prev := h.metricsAt(0, f.epoch)
		changed := false
		for s := 1; s <= 600; s += 5 {
			m := h.metricsAt(time.Duration(s)*time.Second, f.epoch)
			if m.CPUPct < 0 || m.CPUPct > 100 || m.MemPct < 0 || m.MemPct > 100 {
				t.Fatalf("%s at %ds: cpu %v mem %v", h.name, s, m.CPUPct, m.MemPct)
			}
			if d := m.CPUPct - prev.CPUPct; d > 25 || d < -25 {
				t.Errorf("%s: CPU jumped %v in 5s", h.name, d)
			}
			for i, d := range m.Disks {
				if d.FreeBytes <= 0 || d.FreeBytes > d.SizeBytes {
					t.Fatalf("%s %s: free %d of %d", h.name, d.Drive, d.FreeBytes, d.SizeBytes)
				}
				_ = i
			}
			changed = changed || m.CPUPct != prev.CPUPct
			prev = m
		}
		if changed {
			moved++
		}
	}
	if moved < 190 {
		t.Errorf("only %d of 200 hosts' CPU moved over ten minutes", moved)
	}
}

func TestBusyHostsAreNoticeablyBusier(t *testing.T) {
	f, _ := New(Config{Devices: 1000, Seed: 2})
	var busy, idle, nBusy, nIdle float64
	for _, h := range f.hosts {
		m := h.metricsAt(time.Hour, f.epoch)
		if h.prof.busy {
			busy += m.CPUPct
			nBusy++
		} else {
			idle += m.CPUPct
			nIdle++
		}
	}
	if nBusy < 50 || nBusy > 200 {
		t.Fatalf("%v busy hosts of 1000, want about a tenth", nBusy)
	}
	if busy/nBusy < 2*idle/nIdle {
		t.Errorf("busy hosts average %.1f%% CPU, the rest %.1f%%", busy/nBusy, idle/nIdle)
	}
}

func TestPSNumbersLookLikeConvertToJson(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{12, "12"},
		{12.5, "12.5"},
		{psRound1(33.75), "33.8"},
		{psRound1(0.25), "0.2"}, // half to even, as [math]::Round does
		{psRound1(237.94), "237.9"},
	}
	for _, tt := range tests {
		if got := string(psNumber(nil, tt.in)); got != tt.want {
			t.Errorf("psNumber(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAboutOneHostInTwentyDriftsIntoBreachesAndBack(t *testing.T) {
	f, _ := New(Config{Devices: 2000, Seed: 8})
	var drifted, back, kinds [3]int
	for _, h := range f.hosts {
		kind, _ := h.drift(0)
		if kind < 0 {
			continue
		}
		kinds[kind]++
		breached, recovered := false, false
		for s := 0; s <= 4*3600; s += 300 {
			m := h.metricsAt(time.Duration(s)*time.Second, f.epoch)
			used := 100 - float64(m.Disks[0].FreeBytes)/float64(m.Disks[0].SizeBytes)*100
			var level float64
			switch kind {
			case driftCPU:
				level = m.CPUPct
			case driftMemory:
				level = m.MemPct
			default:
				level = used
			}
			switch {
			case level >= 95 || kind == driftDisk && level >= 90:
				breached = true
			case breached && level < 80:
				recovered = true
			}
		}
		if breached {
			drifted[kind]++
		}
		if recovered {
			back[kind]++
		}
	}
	total := kinds[0] + kinds[1] + kinds[2]
	if total < 60 || total > 140 {
		t.Fatalf("%d drifting hosts of 2000, want about 5%%", total)
	}
	for k := range 3 {
		if kinds[k] == 0 || drifted[k] < kinds[k]*9/10 {
			t.Errorf("kind %d: %d of %d drifting hosts went past the critical threshold in 4 hours", k, drifted[k], kinds[k])
		}
		// Busy hosts may stay above warning between episodes; most come back.
		if back[k] < drifted[k]/2 {
			t.Errorf("kind %d: only %d of %d came back below warning", k, back[k], drifted[k])
		}
	}
}

func TestMetricsV2AddsQueueErrorsRebootAndWatchedServices(t *testing.T) {
	f, _ := New(Config{Devices: 30, Seed: 1})
	h := f.hosts[0]
	m := h.metricsAt(time.Hour, f.epoch)
	later := h.metricsAt(2*time.Hour, f.epoch)
	if later.NetErrors < m.NetErrors {
		t.Errorf("the error counter went down: %d then %d", m.NetErrors, later.NetErrors)
	}
	svc := h.services()[0].Name
	out := string(h.metricsJSON(m, 2, []string{svc, "NoSuchSvc"}))
	for _, want := range []string{`"disk_queue":`, `"net_errors":`, `"pending_reboot":false`,
		`{"name":"` + svc + `","state":"`, `{"name":"NoSuchSvc","state":"Missing"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("v2 output lacks %s: %s", want, out)
		}
	}
	if v1 := string(h.metricsJSON(m, 1, nil)); strings.Contains(v1, "disk_queue") {
		t.Errorf("v1 output has v2 members: %s", v1)
	}
	if got, err := watchedList("$x = 1\n$watched = @('Spooler','O''Brien Svc')\n"); err != nil || len(got) != 2 || got[1] != "O'Brien Svc" {
		t.Errorf("watchedList = %q, %v", got, err)
	}
	if got, err := watchedList("$x = 1\n$watched = @()\n"); got != nil || err != nil {
		t.Errorf("an empty list gave %q, %v", got, err)
	}
}

// PowerShell takes U+2018..U+201B as single quotes: a name quoted for the
// ASCII quote only ends early, and what follows would run. The simulator
// reads the list as PowerShell does and refuses to run the rest.
func TestTheWatchedListIsReadAsPowerShellReadsQuotes(t *testing.T) {
	tests := []struct {
		name, line string
		want       []string
		errHas     string
	}{
		{"doubled typographic quotes stay in the name", "$watched = @('a\u2019\u2019b','c\u2018\u2018''d')", []string{"a\u2019b", "c\u2018'd"}, ""},
		{"a typographic quote ends the string", "$watched = @('Spooler\u2019) + $(Remove-Item C:\\x -Recurse) + (\u2019')", nil, "runs no code after"},
		{"an unterminated string", "$watched = @('Spooler)", nil, "missing the terminator"},
		{"a comma with nothing after it", "$watched = @('a', )", nil, "Missing expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := watchedList("# rmm:script=metrics v2\n" + tt.line + "\n$cpu = 1\n")
			switch {
			case tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)):
				t.Errorf("watchedList = %q, %v; want an error with %q", got, err, tt.errHas)
			case tt.errHas == "" && (err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|")):
				t.Errorf("watchedList = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
