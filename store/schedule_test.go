package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestScheduleRunsPersistAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rmm.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := db.LastRun(ctx, "cleanup"); err != nil || !at.IsZero() {
		t.Fatalf("never run: %v %v", at, err)
	}
	t1 := time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)
	if err := db.SetLastRun(ctx, "cleanup", t1, errors.New("disk full")); err != nil {
		t.Fatal(err)
	}
	t2 := t1.Add(24 * time.Hour)
	if err := db.SetLastRun(ctx, "cleanup", t2, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if at, err := db.LastRun(ctx, "cleanup"); err != nil || !at.Equal(t2) {
		t.Fatalf("last run %v %v, want %v", at, err, t2)
	}
}
