package ui

// :export-results: a run's per-device results written to a CSV or JSON
// file.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// resultsExportedMsg is a finished :export-results.
type resultsExportedMsg struct {
	n    int
	path string
	err  error
}

// runExportResults is :export-results csv|json PATH: the open run's
// per-device results, read again in full (the view's reads are brief).
func runExportResults(m Model, args string) (Model, tea.Cmd) {
	format, path, _ := strings.Cut(strings.TrimLeft(args, " "), " ")
	format, path = strings.ToLower(format), strings.TrimSpace(path)
	if format != "csv" && format != "json" {
		return m, m.notify("export-results: format "+strconv.Quote(format)+" is not csv or json (usage: :export-results csv|json PATH)", true)
	}
	if path == "" {
		return m, m.notify("usage: :export-results "+format+" PATH", true)
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
			return resultsExportedMsg{err: fmt.Errorf("export results: read run %s: %w", runID, err)}
		}
		results := prog.Results
		p, err := expandHome(path)
		if err == nil {
			err = writeFileAtomic(p, func(w io.Writer) error { return writeResults(w, format, results) })
		}
		if err != nil {
			return resultsExportedMsg{err: fmt.Errorf("export results to %s: %w", path, err)}
		}
		return resultsExportedMsg{n: len(results), path: p}
	}
}

// resultColumns are the columns of a results export (CSV header, JSON
// keys).
func resultColumns() []string {
	return []string{"host", "action", "status", "message", "exit_code", "attempts", "duration_ms", "started_at", "finished_at", "stdout", "stderr"}
}

// writeResults writes per-device results as CSV (a header, one line per
// device) or JSON (an array of objects with the same keys; exit_code null
// when none). Times are RFC 3339 in UTC, empty when unknown.
func writeResults(w io.Writer, format string, rs []engine.ActionResult) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(resultColumns()); err != nil {
			return err
		}
		for _, r := range rs {
			exit := ""
			if r.ExitCode != nil {
				exit = strconv.Itoa(*r.ExitCode)
			}
			if err := cw.Write([]string{r.Host, r.Action, r.Status, r.Message, exit, strconv.Itoa(r.Attempts),
				strconv.FormatInt(r.Duration.Milliseconds(), 10), ts(r.StartedAt), ts(r.FinishedAt), r.Stdout, r.Stderr}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "json":
		type row struct {
			Host       string `json:"host"`
			Action     string `json:"action"`
			Status     string `json:"status"`
			Message    string `json:"message"`
			ExitCode   *int   `json:"exit_code"`
			Attempts   int    `json:"attempts"`
			DurationMS int64  `json:"duration_ms"`
			StartedAt  string `json:"started_at"`
			FinishedAt string `json:"finished_at"`
			Stdout     string `json:"stdout"`
			Stderr     string `json:"stderr"`
		}
		out := make([]row, len(rs))
		for i, r := range rs {
			out[i] = row{r.Host, r.Action, r.Status, r.Message, r.ExitCode, r.Attempts, r.Duration.Milliseconds(), ts(r.StartedAt), ts(r.FinishedAt), r.Stdout, r.Stderr}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return fmt.Errorf("unknown export format %q", format)
}
