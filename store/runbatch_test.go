package store

import (
	"context"
	"testing"
	"time"
)

func TestARunBatchRecordsResultsKeysAndChainedAuditRowsTogether(t *testing.T) {
	db, devs := actionsDB(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	rows, err := db.CreateRun(ctx, Run{ID: "c1", Action: "command", Params: map[string]string{"script": "hostname"}, StartedAt: now, ParamsOnRun: true}, devs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppendAudit(ctx, AuditEntry{User: "olga", Action: "command.run", Result: AuditSuccess}); err != nil {
		t.Fatal(err)
	}
	exit := 0
	res := func(i int, out string) ResultRecord {
		return ResultRecord{Row: ActionRow{ID: rows[i], Status: ActionCompleted, Message: out, Stdout: out + "\r\n", ExitCode: &exit,
			StartedAt: now, FinishedAt: now.Add(time.Second)},
			Audit: AuditEntry{User: "olga", Action: "actions.result", Targets: []string{"h"}, Result: AuditSuccess, Details: map[string]any{"run": "c1"}},
			Keys:  &[2]string{"k-" + out, "masked"}}
	}
	// Two started, one finished (the other stays Running), then the rest.
	if err := db.RecordRunBatch(ctx, rows[:2], now, []ResultRecord{res(0, "a")}); err != nil {
		t.Fatal(err)
	}
	rc, err := db.GetRun(ctx, "c1")
	if err != nil || rc.ByStatus[ActionCompleted] != 1 || rc.ByStatus[ActionRunning] != 1 || rc.ByStatus[ActionPending] != 1 {
		t.Fatalf("after the first batch: %+v %v", rc.ByStatus, err)
	}
	if err := db.RecordRunBatch(ctx, rows[2:], now, []ResultRecord{res(1, "b"), res(2, "a")}); err != nil {
		t.Fatal(err)
	}
	keys, err := db.RunOutputKeys(ctx, "c1")
	if err != nil || len(keys) != 3 {
		t.Fatalf("keys %+v %v", keys, err)
	}
	for _, k := range keys {
		if k.Status != ActionCompleted || k.Plain == "" || k.Masked != "masked" {
			t.Errorf("key row %+v", k)
		}
	}
	got, err := db.GetActionRow(ctx, rows[1])
	if err != nil || got.Stdout != "b\r\n" || len(got.Params) != 0 || !got.StartedAt.Equal(now) {
		t.Errorf("row %+v %v: the run's params stay on the run", got, err)
	}
	v, err := db.VerifyAudit(ctx)
	if err != nil || !v.OK || v.Rows != 4 {
		t.Fatalf("audit chain after batches: %+v %v", v, err)
	}
	// A batch that cannot be written writes nothing.
	bad := res(0, "z")
	bad.Audit.Action = ""
	if err := db.RecordRunBatch(ctx, nil, now, []ResultRecord{res(1, "c"), bad}); err == nil {
		t.Fatal("a batch with an unwritable audit entry was accepted")
	}
	if got, _ := db.GetActionRow(ctx, rows[1]); got.Stdout != "b\r\n" {
		t.Errorf("a refused batch changed a row: %q", got.Stdout)
	}
	if v, _ := db.VerifyAudit(ctx); v.Rows != 4 {
		t.Errorf("a refused batch added audit rows: %d", v.Rows)
	}
}
