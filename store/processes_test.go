package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// crashedWork sets up what a process that died mid-way leaves: a run
// with one row Pending, one Running and one Completed; a queue entry it
// was replaying; and a live process's run that must not be touched.
func crashedWork(t *testing.T, db *DB, devs []int64, dead, live int64, attempts int) (runDead, runLive string, queueID int64) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	rows, err := db.CreateRun(ctx, Run{ID: "run-dead", Action: "flush-dns", RequestedBy: "alice", StartedAt: now, Owner: dead}, devs)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.StartAction(ctx, rows[1], now); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishAction(ctx, ActionRow{ID: rows[2], Status: ActionCompleted, FinishedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateRun(ctx, Run{ID: "run-live", Action: "flush-dns", StartedAt: now, Owner: live}, devs[:1]); err != nil {
		t.Fatal(err)
	}
	qrows, err := db.CreateRun(ctx, Run{ID: "run-queued", Action: "service", StartedAt: now, Owner: live}, devs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FinishRun(ctx, "run-queued", now); err != nil {
		t.Fatal(err)
	}
	queueID, err = db.EnqueueAction(ctx, QueueEntry{DeviceID: devs[0], Action: "service", EnqueuedAt: now, RunID: "run-queued",
		ActionID: qrows[0]}, "Queued")
	if err != nil {
		t.Fatal(err)
	}
	for range attempts {
		rawExec(t, db, `UPDATE offline_queue SET state = 'Pending' WHERE id = ?`, queueID)
		if ok, err := db.ClaimQueued(ctx, queueID, dead); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
	}
	if err := db.StartAction(ctx, qrows[0], now); err != nil {
		t.Fatal(err)
	}
	return "run-dead", "run-live", queueID
}

func TestTheWorkOfAProcessThatIsGoneIsClosedOrRequeuedAndAudited(t *testing.T) {
	db, devs := actionsDB(t)
	ctx := context.Background()
	dead, err := db.RegisterProcess(ctx, Process{Host: "jump01", PID: 4242, Command: "rmm action", StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	live, _ := db.RegisterProcess(ctx, Process{Host: "jump01", PID: 4343, Command: "rmm", StartedAt: time.Now()})
	runDead, runLive, qid := crashedWork(t, db, devs, dead, live, 1)
	alive := func(p Process) bool { return p.ID == live }

	rec, err := db.RecoverOrphans(ctx, alive, 3, time.Now().UTC(), func(r Recovered) []AuditEntry {
		var out []AuditEntry
		for _, run := range r.Runs {
			out = append(out, AuditEntry{User: "rmm", Action: "action.recovered", Result: AuditSuccess,
				Details: map[string]any{"run": run.Run.ID}})
		}
		for _, q := range r.Requeued {
			out = append(out, AuditEntry{User: "rmm", Action: "queue.recovered", Result: AuditSuccess,
				Details: map[string]any{"queue_id": q.ID}})
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Dead) != 1 || rec.Dead[0].ID != dead || len(rec.Runs) != 1 || len(rec.Requeued) != 1 || len(rec.Failed) != 0 {
		t.Fatalf("recovered %+v", rec)
	}
	r := rec.Runs[0]
	if r.Run.ID != runDead || len(r.Cancelled) != 1 || len(r.Failed) != 1 {
		t.Errorf("run %+v: want one row cancelled, one failed", r)
	}
	rows, err := db.ListActionRows(ctx, ActionFilter{RunID: runDead})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, row := range rows {
		got[row.Status]++
		if row.Status != ActionCompleted && (row.FinishedAt.IsZero() || !strings.Contains(row.Message, "rmm process")) {
			t.Errorf("row %+v: want a finish time and a message naming the process", row)
		}
	}
	if got[ActionCancelled] != 1 || got[ActionFailed] != 1 || got[ActionCompleted] != 1 {
		t.Errorf("row statuses %v", got)
	}
	if run, _ := db.GetRun(ctx, runDead); run.FinishedAt.IsZero() {
		t.Error("the interrupted run is still unfinished")
	}
	if run, _ := db.GetRun(ctx, runLive); !run.FinishedAt.IsZero() || run.ByStatus[ActionPending] != 1 {
		t.Errorf("a live process's run was touched: %+v", run)
	}
	q, _ := db.GetQueueEntry(ctx, qid)
	if q.State != QueuePending || !strings.Contains(q.LastError, "interrupted") {
		t.Errorf("queue entry %+v: want Pending again, saying why", q)
	}
	qrow, _ := db.ListActionRows(ctx, ActionFilter{RunID: "run-queued"})
	if qrow[0].Status != ActionQueued {
		t.Errorf("the replayed row is %s, want Queued again", qrow[0].Status)
	}
	procs, _ := db.Processes(ctx)
	if len(procs) != 1 || procs[0].ID != live {
		t.Errorf("processes %+v, want only the live one", procs)
	}
	audit, _ := db.ListAudit(ctx, AuditFilter{})
	if len(audit) != 2 || audit[0].Action != "action.recovered" || audit[1].Action != "queue.recovered" {
		t.Errorf("audit rows %+v", audit)
	}
	if res := verify(t, db); !res.OK {
		t.Errorf("chain %+v", res)
	}

	// A second look finds nothing: recovery happens once.
	again, err := db.RecoverOrphans(ctx, alive, 3, time.Now().UTC(), nil)
	if err != nil || len(again.Runs)+len(again.Requeued)+len(again.Dead) != 0 {
		t.Errorf("second recovery %+v %v", again, err)
	}
}

func TestAReplayInterruptedTooOftenFails(t *testing.T) {
	db, devs := actionsDB(t)
	ctx := context.Background()
	dead, _ := db.RegisterProcess(ctx, Process{Host: "jump01", PID: 4242, StartedAt: time.Now()})
	_, _, qid := crashedWork(t, db, devs, dead, 0, 3)
	rec, err := db.RecoverOrphans(ctx, func(Process) bool { return false }, 3, time.Now().UTC(), nil)
	if err != nil || len(rec.Failed) != 1 {
		t.Fatalf("%+v %v", rec, err)
	}
	q, _ := db.GetQueueEntry(ctx, qid)
	if q.State != QueueFailed || !strings.Contains(q.LastError, "interrupted 3 times") {
		t.Errorf("entry %+v", q)
	}
}

func TestWorkFromBeforeOwnersIsRecovered(t *testing.T) {
	db, devs := actionsDB(t)
	ctx := context.Background()
	crashedWork(t, db, devs, 0, 0, 1) // no owners: written by an older rmm
	rec, err := db.RecoverOrphans(ctx, func(Process) bool { return true }, 3, time.Now().UTC(), nil)
	if err != nil || len(rec.Runs) != 2 || len(rec.Requeued) != 1 { // run-queued had finished its fan-out
		t.Fatalf("%+v %v", rec, err)
	}
	if !strings.Contains(rec.Requeued[0].LastError, "before owners were recorded") {
		t.Errorf("reason %q", rec.Requeued[0].LastError)
	}
}

func TestShellRecordsComeAndGo(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	recs := []ShellRecord{{ProcessID: 1, DeviceID: 7, Endpoint: "https://a:5986/wsman", ShellID: "S1", OpenedAt: time.Now()},
		{ProcessID: 1, DeviceID: 8, Endpoint: "https://b:5986/wsman", ShellID: "S2", OpenedAt: time.Now()}}
	if err := db.RecordShells(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordShells(ctx, recs[:1]); err != nil {
		t.Fatalf("recording a shell twice: %v", err)
	}
	if err := db.ForgetShells(ctx, recs[:1]); err != nil {
		t.Fatal(err)
	}
	left, err := db.Shells(ctx)
	if err != nil || len(left) != 1 || left[0].ShellID != "S2" || left[0].DeviceID != 8 {
		t.Errorf("shells %+v %v", left, err)
	}
}

// The shell records of a process that is gone outlive its row; a new
// process given the same id would take them for its own and keep them.
func TestAProcessIDIsNeverGivenTwice(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	p := Process{Host: "h", PID: 10, StartedAt: time.Now().UTC()}
	first, err := db.RegisterProcess(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.UnregisterProcess(ctx, first); err != nil {
		t.Fatal(err)
	}
	p.PID = 11
	second, err := db.RegisterProcess(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Errorf("the process after %d got its id again", first)
	}
}
