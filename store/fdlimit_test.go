//go:build linux

package store

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// outOfFilesEnv makes this test binary run outOfFilesChild instead of the
// tests: it lowers its own descriptor limit, which must not touch the
// other tests.
const outOfFilesEnv = "RMM_STORE_TEST_OUT_OF_FILES"

func TestMain(m *testing.M) {
	if dir := os.Getenv(outOfFilesEnv); dir != "" {
		if err := outOfFilesChild(dir); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestTheStoreKeepsWorkingWhenTheProcessRunsOutOfDescriptors is newcomer
// B1: a console that used up its descriptors on sockets failed its next
// commit with "unable to open database file (14)" and stopped. The
// store takes every descriptor it needs when it opens (its connections
// are kept, temporary data is in memory), so batches, reads and a
// transaction that needs a statement journal still work with none left.
func TestTheStoreKeepsWorkingWhenTheProcessRunsOutOfDescriptors(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run", "^$")
	cmd.Env = append(os.Environ(), outOfFilesEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the store failed once out of descriptors: %v\n%s", err, out)
	}
}

func outOfFilesChild(dir string) error {
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 256, Max: 256}); err != nil {
		return err
	}
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(dir, "rmm.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	in := make([]DeviceInput, 50)
	for i := range in {
		in[i] = DeviceInput{Hostname: "dev-" + string(rune('a'+i%26)) + string(rune('a'+i/26))}
	}
	if _, err := db.UpsertDevices(ctx, in); err != nil {
		return err
	}
	ds, err := db.ListDevices(ctx)
	if err != nil {
		return err
	}
	w := NewWriter(db, WriterOptions{BatchRows: 100, FlushInterval: time.Hour})
	w.Start()
	defer w.Close()

	// Use up every descriptor, as thousands of sockets would.
	var hog []*os.File
	defer func() {
		for _, f := range hog {
			f.Close()
		}
	}()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				return err
			}
			break
		}
		hog = append(hog, f)
	}
	for round := range 5 {
		var ms []Metric
		for _, d := range ds {
			for k := range 32 {
				ms = append(ms, Metric{DeviceID: d.ID, Type: "cpu_pct", Instance: string(rune('A' + k%26)), Value: float64(k), At: time.UnixMilli(int64(1e12 + round*1000 + k))})
			}
			if err := w.AddStatus(ctx, StatusUpdate{DeviceID: d.ID, Status: "Online", At: time.UnixMilli(int64(1e12 + round))}); err != nil {
				return err
			}
		}
		if err := w.AddMetrics(ctx, ms); err != nil {
			return err
		}
		if err := w.Flush(ctx); err != nil {
			return err
		}
	}
	if _, err := db.ListDevices(ctx); err != nil {
		return err
	}
	// Re-importing every device updates them in one transaction.
	if _, err := db.UpsertDevices(ctx, in); err != nil {
		return err
	}
	return w.Err()
}
