package engine

import "time"

// ExpireIdleShellsAt runs the session pool's expiry as if the clock read
// now, so tests decide on shell lifetimes without waiting for them.
func (e *Engine) ExpireIdleShellsAt(now time.Time) { e.winrm.ExpireIdle(now) }

// KeepShellsWarm is what Run does before each sweep.
func (e *Engine) KeepShellsWarm(interval time.Duration) { e.keepShellsWarm(interval) }
