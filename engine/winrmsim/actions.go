package winrmsim

import "time"

// runAction answers the engine's action scripts (action_*).
func (p *psProcess) runAction(out psOutput, at time.Time, script, name string, version, pos int) {
	p.notFound(out, at, script, name, version, pos)
}
