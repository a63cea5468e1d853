package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBackupWhileTheWriterWrites(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 10)
	w := NewWriter(db, WriterOptions{BatchRows: 20, FlushInterval: time.Millisecond, QueueSize: 64})
	w.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			if err := w.AddMetrics(ctx, metricsFor(ids[i%len(ids)], 5)); err != nil && ctx.Err() == nil {
				t.Error(err)
			}
		}
	})
	eventually(t, "rows are committed", func() bool { return w.Stats().Rows > 100 })

	dest := filepath.Join(t.TempDir(), "rmm-backup.db")
	err := db.Backup(context.Background(), dest)
	during := w.Stats().Batches
	eventually(t, "the writer goes on after the backup", func() bool { return w.Stats().Batches > during })
	cancel()
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}

	written := countMetrics(t, db)
	got := countRows(t, dest, "metrics")
	if got == 0 || got > written || got%5 != 0 {
		t.Errorf("backup holds %d metric rows; the database %d (want 0 < n <= %d, whole batches of 5)", got, written, written)
	}
	if got := countRows(t, dest, "devices"); got != 10 {
		t.Errorf("backup holds %d devices, want 10", got)
	}
	fi, err := os.Stat(dest)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, %v; want 0600", fi.Mode(), err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".*.tmp"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestBackupRefusesAnExistingFile(t *testing.T) {
	db := openTestDB(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "old-backup.db")
	os.WriteFile(dest, []byte("yesterday's backup"), 0o600)
	for _, target := range []string{dest, db.Path()} {
		err := db.Backup(context.Background(), target)
		if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), target) {
			t.Errorf("backup onto %s: %v, want a refusal wrapping fs.ErrExist that names it", target, err)
		}
	}
	if b, _ := os.ReadFile(dest); string(b) != "yesterday's backup" {
		t.Errorf("the existing file was changed: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left in %s: %v", dir, entries)
	}
}

// Newcomer: rmm db backup /nonexistent/dir/b.db created /nonexistent/dir
// and said "backup written". A missing directory is refused, and nothing
// is created.
func TestBackupRefusesADirectoryThatDoesNotExist(t *testing.T) {
	db := openTestDB(t)
	root := t.TempDir()
	dest := filepath.Join(root, "nonexistent", "dir", "b.db")
	err := db.Backup(context.Background(), dest)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "create it first") {
		t.Errorf("backup into a missing directory: %v, want a refusal wrapping fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(root, "nonexistent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing directory was created (%v)", err)
	}
}
