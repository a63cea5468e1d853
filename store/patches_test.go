package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestAPatchScanReplacesTheLastAndAFailedOneKeepsIt(t *testing.T) {
	db, devs := actionsDB(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond)
	lcu := PatchUpdate{UpdateID: "u-lcu", KB: "KB5050001", Title: "2025-01 Cumulative Update", Classification: "Security Updates",
		Severity: "Critical", SizeBytes: 700 << 20, RebootBehavior: 1, ReleasedAt: at.Add(-72 * time.Hour)}
	msrt := PatchUpdate{UpdateID: "u-msrt", KB: "KB890830", Title: "MSRT", Classification: "Update Rollups"}
	old := PatchUpdate{UpdateID: "u-old", KB: "KB5040001", Title: "2024-12 Cumulative Update", Classification: "Security Updates"}
	if err := db.PutPatchScan(ctx, PatchScan{DeviceID: devs[0], ScannedAt: at, OK: true, Service: "WSUS", Server: "http://wsus:8530"},
		[]PatchUpdate{lcu, msrt}, []PatchUpdate{old}); err != nil {
		t.Fatal(err)
	}
	missing, installed, err := db.DeviceKBs(ctx, devs[0])
	if err != nil || !slices.Equal(missing, []string{"KB5050001", "KB890830"}) || !slices.Equal(installed, []string{"KB5040001"}) {
		t.Fatalf("DeviceKBs: %v %v %v", missing, installed, err)
	}
	// The next scan: the cumulative update installed.
	if err := db.PutPatchScan(ctx, PatchScan{DeviceID: devs[0], ScannedAt: at.Add(time.Hour), OK: true, Service: "WSUS"},
		[]PatchUpdate{msrt}, []PatchUpdate{old, lcu}); err != nil {
		t.Fatal(err)
	}
	m, i, _ := db.DevicesWithKB(ctx, "kb5050001")
	if len(m) != 0 || !slices.Equal(i, []int64{devs[0]}) {
		t.Errorf("DevicesWithKB after install: missing %v installed %v", m, i)
	}
	// A failed scan records the failure and keeps what was found.
	if err := db.PutPatchScan(ctx, PatchScan{DeviceID: devs[0], ScannedAt: at.Add(2 * time.Hour), Error: "0x8024401C", HResult: -2145107940}, nil, nil); err != nil {
		t.Fatal(err)
	}
	scans, err := db.PatchScans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := scans[devs[0]]
	if s.OK || s.Error != "0x8024401C" || s.Service != "WSUS" || s.Missing != 1 || s.Installed != 2 {
		t.Errorf("scan after a failure: %+v", s)
	}
	if rows, _ := db.DevicePatchRows(ctx, PatchMissing); len(rows) != 1 || rows[0].UpdateID != "u-msrt" {
		t.Errorf("missing rows after a failed scan: %+v", rows)
	}
	cat, _ := db.PatchUpdatesByKB(ctx, "KB5050001")
	if len(cat) != 1 || cat[0].RebootBehavior != 1 || !cat[0].ReleasedAt.Equal(lcu.ReleasedAt) || cat[0].FirstSeen.IsZero() {
		t.Errorf("catalog entry: %+v", cat)
	}
}

func TestPatchJobsAreClaimedByOneProcessAtATime(t *testing.T) {
	db, devs := actionsDB(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	ids, err := db.CreatePatchJobs(ctx, []PatchJob{
		{RunID: "p1", DeviceID: devs[0], State: JobStarting, Reboot: "window", MaxRounds: 3, RequestedBy: "olga", RequestedAt: now,
			StateSince: now, NextAt: now, ExpiresAt: now.Add(time.Hour)},
		{RunID: "p1", DeviceID: devs[1], State: JobQueued, Reboot: "window", MaxRounds: 3, RequestedBy: "olga", RequestedAt: now,
			StateSince: now, NextAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour), KBs: []string{"KB5050001"}},
	})
	if err != nil || len(ids) != 2 {
		t.Fatal(ids, err)
	}
	due, err := db.DuePatchJobs(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].ID != ids[0] || due[0].Host == "" {
		t.Fatalf("due: %+v %v", due, err)
	}
	j, ok, err := db.ClaimPatchJob(ctx, ids[0], now, now.Add(time.Minute))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, again, _ := db.ClaimPatchJob(ctx, ids[0], now, now.Add(time.Minute)); again {
		t.Fatal("a held job was claimed twice")
	}
	if due, _ := db.DuePatchJobs(ctx, now, 10); len(due) != 0 {
		t.Errorf("a held job is due: %+v", due)
	}
	j.State, j.Round, j.UpdateIDs, j.Message, j.FinishedAt = JobCompleted, 2, []string{"u-lcu"}, "done", now
	if err := db.SavePatchJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, again, _ := db.ClaimPatchJob(ctx, ids[0], now, now.Add(time.Minute)); again {
		t.Error("a finished job was claimed")
	}
	if n, _ := db.WakeQueuedPatchJobs(ctx, []int64{devs[1]}, now); n != 1 {
		t.Errorf("woke %d queued jobs, want 1", n)
	}
	if err := db.AddPatchResults(ctx, []PatchResult{{JobID: ids[0], DeviceID: devs[0], Round: 1, UpdateID: "u-lcu", KB: "KB5050001",
		ResultCode: 4, HResult: -2147023293, FinishedAt: now}}); err != nil {
		t.Fatal(err)
	}
	rs, err := db.PatchResults(ctx, PatchResultFilter{KB: "kb5050001"})
	if err != nil || len(rs) != 1 || rs[0].RunID != "p1" || rs[0].HResult != -2147023293 {
		t.Errorf("results: %+v %v", rs, err)
	}
	if _, err := db.PatchJob(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("PatchJob(999): %v", err)
	}
	active, _ := db.PatchJobs(ctx, PatchJobFilter{Active: true})
	if len(active) != 1 || active[0].ID != ids[1] || !slices.Equal(active[0].KBs, []string{"KB5050001"}) {
		t.Errorf("active jobs: %+v", active)
	}
}
