package engine

import (
	"slices"
	"testing"
	"time"
)

func ptrTo[T any](v T) *T { return &v }

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
