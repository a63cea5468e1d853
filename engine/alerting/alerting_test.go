package alerting

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

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

func TestParseRecurrenceReadsDaysTimeAndLength(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		in      string
		days    []time.Weekday
		h, m    int
		length  time.Duration
		wantErr string
	}{
		{in: "Sat 22:00 + 4h", days: []time.Weekday{time.Saturday}, h: 22, length: 4 * time.Hour},
		{in: "mon,Wednesday 01:30 +90m", days: []time.Weekday{time.Monday, time.Wednesday}, h: 1, m: 30, length: 90 * time.Minute},
		{in: "daily 02:00 + 1h", h: 2, length: time.Hour},
		{in: "sun 00:00 + 2d", days: []time.Weekday{time.Sunday}, length: 48 * time.Hour},
		{in: "Sat 22:00", wantErr: "want DAYS HH:MM + LENGTH"},
		{in: "Sa 22:00 + 1h", wantErr: `"sa" is not a weekday`},
		{in: "Sat 24:00 + 1h", wantErr: `"24:00" is not a time of day`},
		{in: "Sat 22:00 + 8d", wantErr: "out of range"},
		{in: "Sat 22:00 + 0s", wantErr: "out of range"},
		{in: "Sat 22:00 + soon", wantErr: "is not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRecurrence(tt.in, cet)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Days) != len(tt.days) || r.Hour != tt.h || r.Minute != tt.m || r.Length != tt.length || r.Location != cet {
				t.Fatalf("got %+v", r)
			}
			for i := range r.Days {
				if r.Days[i] != tt.days[i] {
					t.Fatalf("days %v, want %v", r.Days, tt.days)
				}
			}
		})
	}
}

func TestMaintenanceWindowsCoverTheirDevicesAndTimes(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	satNight, err := ParseRecurrence("Sat 22:00 + 4h", cet)
	if err != nil {
		t.Fatal(err)
	}
	daily, err := ParseRecurrence("daily 02:00 + 1h", nil)
	if err != nil {
		t.Fatal(err)
	}
	// 2026-11-21 is a Saturday.
	local := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, cet) }
	tests := []struct {
		name   string
		w      MaintenanceWindow
		host   string
		groups []string
		at     time.Time
		want   bool
	}{
		{"a weekly window covers its start", MaintenanceWindow{Group: "Servers", Every: &satNight}, "srv-1", []string{"servers"}, local(21, 22, 0), true},
		{"a weekly window runs past midnight", MaintenanceWindow{Group: "servers", Every: &satNight}, "srv-1", []string{"servers"}, local(22, 1, 59), true},
		{"a weekly window ends at its length", MaintenanceWindow{Group: "servers", Every: &satNight}, "srv-1", []string{"servers"}, local(22, 2, 0), false},
		{"a weekly window is not on other days", MaintenanceWindow{Group: "servers", Every: &satNight}, "srv-1", []string{"servers"}, local(20, 23, 0), false},
		{"a weekly window reads its own time zone", MaintenanceWindow{Group: "servers", Every: &satNight}, "srv-1", []string{"servers"},
			time.Date(2026, 11, 21, 21, 30, 0, 0, time.UTC), true},
		{"a group window skips devices outside the group", MaintenanceWindow{Group: "servers", Every: &satNight}, "ws-1", []string{"workstations"}, local(21, 23, 0), false},
		{"a daily window covers every day", MaintenanceWindow{Device: "WS-1", Every: &daily}, "ws-1", nil, time.Date(2026, 11, 18, 2, 30, 0, 0, time.UTC), true},
		{"a device window skips other devices", MaintenanceWindow{Device: "ws-1", Every: &daily}, "ws-2", nil, time.Date(2026, 11, 18, 2, 30, 0, 0, time.UTC), false},
		{"a one-off window covers its start", MaintenanceWindow{Device: "ws-1", Start: atMinute(0), End: atMinute(60)}, "ws-1", nil, atMinute(0), true},
		{"a one-off window excludes its end", MaintenanceWindow{Device: "ws-1", Start: atMinute(0), End: atMinute(60)}, "ws-1", nil, atMinute(60), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.w.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := tt.w.Covers(tt.host, tt.groups, tt.at); got != tt.want {
				t.Fatalf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []MaintenanceWindow{
		{Name: "both", Group: "g", Device: "d", Every: &daily},
		{Name: "neither", Every: &daily},
		{Name: "no time", Group: "g"},
		{Name: "backwards", Group: "g", Start: atMinute(10), End: atMinute(5)},
		{Name: "two kinds", Group: "g", Start: atMinute(0), End: atMinute(5), Every: &daily},
	} {
		if err := bad.Validate(); err == nil || !strings.HasPrefix(err.Error(), bad.Name+": ") {
			t.Errorf("window %q: error %v, want one naming it", bad.Name, err)
		}
	}
}

func TestHealthWeightsMustSumTo100(t *testing.T) {
	tests := []struct {
		w    HealthWeights
		want string
	}{
		{DefaultHealthWeights(), ""},
		{HealthWeights{Availability: 100}, ""},
		{HealthWeights{Availability: 40, Performance: 40, Security: 10, Compliance: 5}, "health.weights: availability 40 + performance 40 + security 10 + compliance 5 = 95, want 100"},
		{HealthWeights{Availability: -5, Performance: 105}, "health.weights.availability: -5 is out of range 0..100"},
	}
	for _, tt := range tests {
		err := tt.w.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: error %v, want %q", tt.w, err, tt.want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// atMinute is n minutes after a fixed instant.
func atMinute(n int) time.Time {
	return time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
}
