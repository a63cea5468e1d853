package ui

// :export-results: a run's per-device results written to a CSV or JSON
// file (see export.go).

import (
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// runExportResults is :export-results csv|json PATH: the open run's
// per-device results, read again in full (the view's reads are brief).
func runExportResults(m Model, args string) (Model, tea.Cmd) {
	format, path, bad := m.exportArgs("export-results", args)
	if bad != "" {
		return m, m.notify(bad, true)
	}
	if m.acts.prog == nil {
		return m, m.notify("export-results: open a run in the Actions view first", true)
	}
	rq, ctx, runID := m.feed.caps.req, m.feed.ctx, m.acts.prog.ID
	if rq == nil {
		return m, m.notify("export-results: this console cannot send requests to the engine", true)
	}
	return m, func() tea.Msg {
		prog, err := engine.Ask(ctx, rq, engine.GetRun{RunID: runID})
		if err != nil {
			return exportedMsg{what: "result", err: fmt.Errorf("export results: read run %s: %w", runID, err)}
		}
		results := prog.Results
		if results == nil {
			results = []engine.ActionResult{}
		}
		info, err := engine.Ask(ctx, rq, engine.ExportFile{Path: path, Format: format, Results: results, RunID: runID})
		return exportedMsg{info: info, what: "result", err: err}
	}
}
