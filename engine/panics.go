package engine

import (
	"fmt"
	"runtime/debug"

	"github.com/rmmhq/rmm/engine/winrm"
)

// errPanic is wrapped by the error of a device's poll, action or
// collection that panicked: a bug in rmm (often in reading what a host
// printed), not a fault of the host, but classed Device so the host is
// treated as unmanageable for now and nothing else stops.
var errPanic = fmt.Errorf("internal error")

// panicked turns a recovered panic in the work on one device into a
// Device-class error, and logs it at ERROR with the device, the step and
// the stack. A long-lived `rmm serve` polls 10,000 hosts and parses what
// they print: one bad answer must cost one device one poll, never the
// whole server.
func (e *Engine) panicked(host, step string, r any) error {
	e.log.Error("recovered from a panic", "device", host, "step", step, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return &winrm.Error{Class: winrm.ClassDevice, Device: host, Step: step,
		Err: fmt.Errorf("%w (a bug in rmm; the log has the details): %v", errPanic, r)}
}

// testHooks let a test reach into a real run: each is nil in production.
type testHooks struct {
	// afterRun is called after a script ran on host, before its answer
	// is read (a test makes it panic, as a parser bug would).
	afterRun func(host string)
}
