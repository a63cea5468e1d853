//go:build !unix

package bench

import (
	"os"
	"time"
)

// CPUTime is not measured on this system: the benchmark's CPU figures
// are 0 (they come from getrusage, on Linux and macOS).
func CPUTime() time.Duration { return 0 }

// PeakRSSMB is not measured on this system (0).
func PeakRSSMB() float64 { return rssMB("VmHWM:") }

// RaiseFileLimit does nothing: this system has no descriptor limit to
// raise.
func RaiseFileLimit(uint64) error { return nil }

// maxRSSMB is not measured on this system (0).
func maxRSSMB(*os.ProcessState) float64 { return 0 }
