package winrmsim

import "time"

// runInventory answers the engine's inventory collectors (inventory_*).
func (p *psProcess) runInventory(out psOutput, at time.Time, script, name string, version, pos int) {
	p.notFound(out, at, script, name, version, pos)
}
