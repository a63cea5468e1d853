package creds

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// defaultLockWait bounds how long a writer waits for another rmm process
// that holds the lock, when the caller's context has no deadline.
const defaultLockWait = 30 * time.Second

// lockPoll is how often a blocked writer retries the lock.
const lockPoll = 15 * time.Millisecond

// fileLock is an exclusive advisory lock on a lock file (flock on Unix,
// LockFileEx on Windows). The kernel drops it when the holder exits, so a
// crashed writer never leaves a stale lock behind. The lock file itself is
// never removed: removing it would let two writers lock two different
// files of the same name.
type fileLock struct {
	f *os.File
}

// acquireLock takes the exclusive lock on path, creating the file (mode
// 0600) when missing, and waits until ctx is done (or defaultLockWait when
// ctx has no deadline) for a holder to release it.
func acquireLock(ctx context.Context, path string) (*fileLock, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultLockWait)
		defer cancel()
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for {
		busy, err := tryLock(f)
		if err == nil && !busy {
			return &fileLock{f: f}, nil
		}
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%s is held by another rmm process: gave up waiting: %w", path, ctx.Err())
			}
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// release drops the lock. Closing the file alone would release it too;
// unlocking first makes the order explicit.
func (l *fileLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = unlockFile(l.f)
	_ = l.f.Close()
	l.f = nil
}
