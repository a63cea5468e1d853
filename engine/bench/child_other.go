//go:build !linux

package bench

import "os/exec"

// dieWithParent does nothing here: only Linux has a parent-death signal.
// Close still stops the child whenever rmm ends normally.
func dieWithParent(*exec.Cmd) {}
