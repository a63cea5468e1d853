package bench

import (
	"context"
	"testing"
	"time"
)

func TestASmallPatchTuesdayScansInstallsAndReportsEveryField(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a fleet")
	}
	res, err := Patch(context.Background(), PatchConfig{
		Devices: 12, Throttle: 6, RTT: time.Millisecond, PSStart: 10 * time.Millisecond, ScriptTime: 5 * time.Millisecond,
		InstallTime: 40 * time.Millisecond, RebootDowntime: 200 * time.Millisecond, ServicingTime: 100 * time.Millisecond,
		PollInterval: 30 * time.Millisecond, MaxRounds: 3, Seed: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ScanFloorMS != 2*(40+2*1) || res.ScanWallMS <= 0 || res.ScanRatio <= 0 {
		t.Errorf("scan: %+v", res)
	}
	if res.Completed+res.Failed+res.Other != 12 || res.Other != 0 || res.Installed == 0 || res.Reboots == 0 {
		t.Errorf("install: %+v", res)
	}
	for reason := range res.Failures {
		if !containsHResult(reason) {
			t.Errorf("a job failed for another reason than an update's HRESULT: %q", reason)
		}
	}
	if res.InstallCPUMS <= 0 || res.RequestsHost <= 0 || res.PeakRSSMB <= 0 {
		t.Errorf("measurements: %+v", res)
	}
}

// containsHResult reports a message naming an HRESULT (0x8...).
func containsHResult(s string) bool {
	for i := 0; i+3 < len(s); i++ {
		if s[i] == '0' && s[i+1] == 'x' && s[i+2] == '8' {
			return true
		}
	}
	return false
}
