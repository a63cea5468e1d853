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
	var grouped *engine.CommandRun // a command run: exported with its groups, as the view shows them
	if m.acts.openCmd && m.acts.cmdRun != nil && m.acts.cmdRun.ID == runID {
		c := *m.acts.cmdRun
		grouped = &c
	}
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
		if grouped != nil {
			// Read again: the groups as of now, with the run's last results.
			if c, err := engine.Ask(ctx, rq, engine.GetCommandRun{RunID: runID, MaskHost: grouped.MaskHost}); err == nil {
				grouped = &c
			}
		}
		info, err := engine.Ask(ctx, rq, engine.ExportFile{Path: path, Format: format, Results: results, RunID: runID, Command: grouped})
		return exportedMsg{info: info, what: "result", err: err}
	}
}
