//go:build unix

package bench

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

// CPUTime is the process's user plus system CPU time so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSSMB is the process's peak resident set in MiB: VmHWM from
// /proc/self/status, else getrusage's maxrss.
func PeakRSSMB() float64 {
	if mb := rssMB("VmHWM:"); mb > 0 {
		return mb
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return maxrssToMB(int64(ru.Maxrss))
}

// maxrssToMB converts getrusage's ru_maxrss to MiB: it is in bytes on
// macOS and in KiB on Linux and the BSDs.
func maxrssToMB(v int64) float64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return float64(v) / (1 << 20)
	}
	return float64(v) / 1024
}

// RaiseFileLimit makes sure the process may open at least need file
// descriptors: Go already raises the soft limit to the hard one at start
// on Linux; above the hard limit only a privileged process can go.
func RaiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("file descriptor limit: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	want := lim
	want.Cur = min(need, lim.Max)
	if need > lim.Max {
		want.Cur, want.Max = need, need
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		if lim.Max > lim.Cur {
			want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
		}
		return fmt.Errorf("need %d file descriptors, the limit is %d (hard %d): raise it with ulimit -n: %w", need, lim.Cur, lim.Max, err)
	}
	return nil
}

// maxRSSMB is an exited child's peak resident set in MiB.
func maxRSSMB(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return maxrssToMB(int64(ru.Maxrss))
	}
	return 0
}
