package engine

import "runtime/debug"

// memoryLimitGCPercent is the GOGC the console runs with under a memory
// limit: the heap may grow to 5x the live heap between collections, so a
// sweep's short-lived request buffers cost far fewer collections, and the
// limit, not the percentage, bounds the heap of a large fleet.
const memoryLimitGCPercent = 400

// SetMemoryLimit gives the process a soft memory limit of mb MiB
// (runtime/debug.SetMemoryLimit) and a GC percentage of 400 under it:
// the collector runs rarely while the heap is small and as often as
// needed near the limit. mb <= 0 leaves the runtime's defaults. The
// settings are the process's (the Go runtime has one heap); restore puts
// back the previous ones. A console process calls it once, before it
// starts the engine; GOGC or GOMEMLIMIT in the environment win (the
// caller skips the call when either is set).
func SetMemoryLimit(mb int) (restore func()) {
	if mb <= 0 {
		return func() {}
	}
	prevLimit := debug.SetMemoryLimit(int64(mb) << 20)
	prevPercent := debug.SetGCPercent(memoryLimitGCPercent)
	return func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	}
}
