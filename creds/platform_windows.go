//go:build windows

package creds

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// tryLock takes an exclusive lock on the first byte of f without
// blocking; busy reports that another handle holds it.
func tryLock(f *os.File) (busy bool, err error) {
	ol := new(windows.Overlapped)
	err = windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return true, nil
	default:
		return false, err
	}
}

// unlockFile drops the lock taken by tryLock.
func unlockFile(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
}

// syncDir is a no-op: Windows cannot fsync a directory, and MoveFileEx
// (os.Rename) with the file already flushed is the best it offers.
func syncDir(string) error { return nil }

// checkPrivate is a no-op on Windows: the Unix mode bits do not describe
// NTFS ACLs. The data directory under %LOCALAPPDATA% is private to the
// user by default.
func checkPrivate(string, os.FileInfo, string) error { return nil }
