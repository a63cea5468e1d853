package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func ptrTo[T any](v T) *T { return &v }

func TestDefaultThresholdsAreTheSeedValuesAndValid(t *testing.T) {
	th := DefaultThresholds()
	if th.CPUWarning != 80 || th.CPUCritical != 95 || th.CPUSustain != 5*time.Minute ||
		th.MemWarning != 80 || th.MemCritical != 95 || th.MemSustain != 5*time.Minute ||
		th.DiskWarning != 80 || th.DiskCritical != 90 ||
		th.PendingReboot != 7*24*time.Hour || th.SignatureAge != 3*24*time.Hour {
		t.Fatalf("defaults %+v", th)
	}
	if err := DefaultThresholdSet().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestThresholdsForADeviceLayerDefaultsTheFirstMatchingGroupAndTheDevice(t *testing.T) {
	set := ThresholdSet{
		Defaults: DefaultThresholds(),
		Groups: map[string]ThresholdOverride{
			"SQL":       {CPUWarning: ptrTo(90.0), CPUCritical: ptrTo(98.0), WatchedServices: []string{"MSSQLSERVER"}},
			"Servers":   {CPUWarning: ptrTo(85.0), DiskWarning: ptrTo(70.0)},
			"kiosks":    {WatchedServices: []string{}},
			"no-change": {},
		},
		Devices: map[string]ThresholdOverride{
			"SQL-01": {CPUWarning: ptrTo(60.0), MemSustain: ptrTo(time.Minute)},
		},
	}
	set.Defaults.WatchedServices = []string{"Spooler"}
	tests := []struct {
		name     string
		host     string
		groups   []string
		cpuWarn  float64
		cpuCrit  float64
		diskWarn float64
		memSus   time.Duration
		services []string
	}{
		{"a device in no group takes the defaults", "ws-1", nil, 80, 95, 80, 5 * time.Minute, []string{"Spooler"}},
		{"a device takes its group's override", "app-1", []string{"servers"}, 85, 95, 70, 5 * time.Minute, []string{"Spooler"}},
		{"the first matching group wins over a later one", "sql-02", []string{"sql", "servers"}, 90, 98, 80, 5 * time.Minute, []string{"MSSQLSERVER"}},
		{"groups without an override are skipped", "sql-03", []string{"unlisted", "servers", "sql"}, 85, 95, 70, 5 * time.Minute, []string{"Spooler"}},
		{"the device's override wins over its group", "sql-01", []string{"SQL"}, 60, 98, 80, time.Minute, []string{"MSSQLSERVER"}},
		{"an empty override changes nothing", "x", []string{"no-change", "sql"}, 80, 95, 80, 5 * time.Minute, []string{"Spooler"}},
		{"an empty service list clears the inherited one", "k-1", []string{"kiosks"}, 80, 95, 80, 5 * time.Minute, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := set.For(tt.host, tt.groups)
			if th.CPUWarning != tt.cpuWarn || th.CPUCritical != tt.cpuCrit || th.DiskWarning != tt.diskWarn ||
				th.MemSustain != tt.memSus || !slices.Equal(th.WatchedServices, tt.services) {
				t.Fatalf("got cpu %v/%v disk %v mem sustain %v services %v", th.CPUWarning, th.CPUCritical,
					th.DiskWarning, th.MemSustain, th.WatchedServices)
			}
		})
	}
	if set.Defaults.CPUWarning != 80 {
		t.Error("For changed the defaults")
	}
}

func TestThresholdValidationNamesEveryBadField(t *testing.T) {
	tests := []struct {
		name string
		set  ThresholdSet
		want []string
	}{
		{"a warning above its critical", ThresholdSet{Defaults: func() Thresholds {
			th := DefaultThresholds()
			th.CPUWarning = 96
			return th
		}()}, []string{"defaults: cpu.warning: 96 is above cpu.critical 95"}},
		{"a percentage out of range", ThresholdSet{Defaults: func() Thresholds {
			th := DefaultThresholds()
			th.DiskCritical = 120
			th.MemWarning = 0
			return th
		}()}, []string{"defaults: disk.critical: 120 is out of range", "defaults: memory.warning: 0 is out of range"}},
		{"a negative sustain", ThresholdSet{Defaults: func() Thresholds {
			th := DefaultThresholds()
			th.CPUSustain = -time.Second
			return th
		}()}, []string{"defaults: cpu.sustain: -1s is out of range"}},
		{"a group override that crosses the default critical", ThresholdSet{Defaults: DefaultThresholds(),
			Groups: map[string]ThresholdOverride{"servers": {MemWarning: ptrTo(99.0)}}},
			[]string{"groups.servers: memory.warning: 99 is above memory.critical 95"}},
		{"a device override with an empty service name", ThresholdSet{Defaults: DefaultThresholds(),
			Devices: map[string]ThresholdOverride{"ws-1": {WatchedServices: []string{"Spooler", " "}}}},
			[]string{"devices.ws-1: services.watched[1]: empty service name"}},
		{"a pending reboot limit of zero", ThresholdSet{Defaults: func() Thresholds {
			th := DefaultThresholds()
			th.PendingReboot = 0
			return th
		}()}, []string{"defaults: pending_reboot: 0s is out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.set.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var se *SettingError
			if !errors.As(err, &se) || se.Field == "" {
				t.Errorf("error %v holds no SettingError with a field", err)
			}
		})
	}
}

// TestSustainHoldsALevelOnlyAfterItLastedTheWholeDuration follows CPU
// values across polls two minutes apart, with the default 80/95 and 5 min.
func TestSustainHoldsALevelOnlyAfterItLastedTheWholeDuration(t *testing.T) {
	alertT0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		min  int
		v    float64
		now  Level
		held Level
	}{
		{0, 85, LevelWarning, LevelOK},        // the run starts
		{2, 90, LevelWarning, LevelOK},        // 2 min
		{4, 97, LevelCritical, LevelOK},       // 4 min at warning, critical starts
		{5, 96, LevelCritical, LevelWarning},  // 5 min at warning: held
		{8, 99, LevelCritical, LevelWarning},  // 4 min at critical
		{9, 95, LevelCritical, LevelCritical}, // 5 min at critical (95 counts)
		{10, 81, LevelWarning, LevelWarning},  // critical run broken, warning run goes on
		{12, 79, LevelOK, LevelOK},            // below warning: both runs end
		{14, 85, LevelWarning, LevelOK},       // a new run starts from zero
		{18, 85, LevelWarning, LevelOK},       // 4 min
		{19, 80, LevelWarning, LevelWarning},  // 5 min
	}
	var s sustain
	for _, st := range steps {
		now, held := s.observe(st.v, 80, 95, 5*time.Minute, alertT0.Add(time.Duration(st.min)*time.Minute))
		if now != st.now || held != st.held {
			t.Fatalf("minute %d value %v: now %v held %v, want %v %v", st.min, st.v, now, held, st.now, st.held)
		}
	}
	var zero sustain
	if now, held := zero.observe(99, 80, 95, 0, alertT0); now != LevelCritical || held != LevelCritical {
		t.Errorf("with no sustain a value is held at once: %v %v", now, held)
	}
}

func TestInventoryChecksJudgePlainInputs(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		breach bool
		msg    string
		got    func() (bool, string)
	}{
		{"a reboot pending 8 days breaches 7 days", true, "reboot pending for 8d (limit 7d)",
			func() (bool, string) { return pendingRebootBreach(true, at.Add(-8*oneDay), at, 7*oneDay) }},
		{"a reboot pending 6 days does not", false, "",
			func() (bool, string) { return pendingRebootBreach(true, at.Add(-6*oneDay), at, 7*oneDay) }},
		{"no reboot pending does not", false, "",
			func() (bool, string) { return pendingRebootBreach(false, at.Add(-30*oneDay), at, 7*oneDay) }},
		{"a pending reboot of unknown age does not", false, "",
			func() (bool, string) { return pendingRebootBreach(true, time.Time{}, at, 7*oneDay) }},
		{"signatures 4 days old breach 3 days", true, "Defender signatures 4d old (limit 3d)",
			func() (bool, string) { return signaturesBreach(at.Add(-4*oneDay-time.Hour), at, 3*oneDay) }},
		{"signatures 2 days old do not", false, "",
			func() (bool, string) { return signaturesBreach(at.Add(-2*oneDay), at, 3*oneDay) }},
		{"signatures not collected do not", false, "",
			func() (bool, string) { return signaturesBreach(time.Time{}, at, 3*oneDay) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			breach, msg := tt.got()
			if breach != tt.breach || msg != tt.msg {
				t.Fatalf("got %v %q, want %v %q", breach, msg, tt.breach, tt.msg)
			}
		})
	}
	states := map[string]string{"spooler": "Stopped", "W32Time": "Running", "WinRM": "StartPending"}
	if got := stoppedServices([]string{"Spooler", "W32Time", "WinRM", "NotInstalled"}, states); !slices.Equal(got, []string{"Spooler", "WinRM"}) {
		t.Errorf("stopped services %v, want Spooler and WinRM (names case-insensitive, a missing one not judged)", got)
	}
}
