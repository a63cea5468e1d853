package engine

import (
	"context"
	"fmt"

	"github.com/rmmhq/rmm/store"
)

// RollUp brings the hourly and daily metric rollups up to date with every
// sample written so far (the batch writer is flushed first). It is the
// engine's own periodic work (schedules.rollups), like a sweep: not a
// request, and not audited; reports and retention call it too.
func (e *Engine) RollUp(ctx context.Context) (store.RollupReport, error) {
	if err := e.writer.Flush(ctx); err != nil {
		return store.RollupReport{}, fmt.Errorf("roll up metrics: flush: %w", err)
	}
	rep, err := e.db.RollUp(ctx, 0)
	if err != nil {
		return rep, err
	}
	if rep.Samples > 0 {
		e.log.Debug("metrics rolled up", "samples", rep.Samples, "batches", rep.Batches)
	}
	return rep, nil
}
