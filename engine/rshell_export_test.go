package engine

import "time"

// SetShellIdle shortens the remote shell idle time for tests.
func SetShellIdle(e *Engine, d time.Duration) {
	e.shells.mu.Lock()
	e.shells.idle = d
	e.shells.mu.Unlock()
}
