package engine

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// GetInventory reads a device's stored inventory (all categories when
// none are named) without asking the host: the result is []InventoryDoc,
// a category never collected without Data. Read-only.
type GetInventory struct {
	Host       string
	Categories []string
}

// Action implements Request.
func (GetInventory) Action() string { return "inventory.view" }

// Permission implements Request.
func (GetInventory) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (GetInventory) Mutating() bool { return false }

// Targets implements Request.
func (r GetInventory) Targets() []string { return []string{r.Host} }

// Details implements Request.
func (r GetInventory) Details() map[string]any {
	return map[string]any{"categories": strings.Join(r.Categories, ",")}
}

func (r GetInventory) run(ctx context.Context, e *Engine, _ Identity) ([]InventoryDoc, error) {
	d, ok := e.deviceByName(r.Host)
	if !ok {
		return nil, fmt.Errorf("inventory of %s: %w", r.Host, ErrUnknownDevice)
	}
	return e.StoredInventory(ctx, d.ID, r.Categories)
}

// CollectInventory returns a device's inventory, collecting from the host
// what is not stored or older than InventoryTTL (24 h), or everything
// with Force: the result is []InventoryDoc. It runs collectors on the
// host and writes the store, so it needs the poll permission (Operator).
type CollectInventory struct {
	Host       string
	Categories []string // none: all
	Force      bool
}

// Action implements Request.
func (CollectInventory) Action() string { return "inventory.collect" }

// Permission implements Request.
func (CollectInventory) Permission() Permission { return PermDevicesPoll }

// Mutating implements Request.
func (CollectInventory) Mutating() bool { return true }

// Targets implements Request.
func (r CollectInventory) Targets() []string { return []string{r.Host} }

// Details implements Request.
func (r CollectInventory) Details() map[string]any {
	return map[string]any{"categories": strings.Join(r.Categories, ","), "force": r.Force}
}

func (r CollectInventory) run(ctx context.Context, e *Engine, _ Identity) ([]InventoryDoc, error) {
	d, ok := e.deviceByName(r.Host)
	if !ok {
		return nil, fmt.Errorf("inventory of %s: %w", r.Host, ErrUnknownDevice)
	}
	return e.CollectInventory(ctx, d.ID, r.Categories, r.Force)
}

// CollectFleetInventory collects the categories (all when none) from
// every device not offline whose documents are older than MaxAge (0:
// all), throttled: the scheduled inventory and security scans. The result
// is a FleetInventoryResult.
type CollectFleetInventory struct {
	Categories []string
	MaxAge     time.Duration
}

// Action implements Request.
func (CollectFleetInventory) Action() string { return "inventory.collect_fleet" }

// Permission implements Request.
func (CollectFleetInventory) Permission() Permission { return PermDevicesPoll }

// Mutating implements Request.
func (CollectFleetInventory) Mutating() bool { return true }

// Targets implements Request.
func (CollectFleetInventory) Targets() []string { return []string{"all devices"} }

// Details implements Request.
func (r CollectFleetInventory) Details() map[string]any {
	return map[string]any{"categories": strings.Join(r.Categories, ","), "max_age": r.MaxAge.String()}
}

func (r CollectFleetInventory) run(ctx context.Context, e *Engine, _ Identity) (FleetInventoryResult, error) {
	return e.CollectFleetInventory(ctx, r.Categories, r.MaxAge)
}
