package ui

// :export and :export-results: the devices in view, or the open run's
// per-device results, written to a file by the engine (engine.ExportFile),
// so every export is authorized and audited. A console on this machine
// writes where its user asks; over SSH (Options.ExportFetch set) a file
// name goes to the user's own export directory on the server, fetched
// with scp.

import (
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// exportedMsg reports an export's outcome.
type exportedMsg struct {
	info engine.ExportInfo
	what string // "device", "result"
	err  error
}

// exportArgs parses "csv|json PATH" for the command cmd; bad is the toast
// when it does not parse.
func (m *Model) exportArgs(cmd, args string) (format, path, bad string) {
	format, path, _ = strings.Cut(strings.TrimLeft(args, " "), " ")
	format, path = strings.ToLower(format), strings.TrimSpace(path)
	target := "PATH"
	if m.opts.ExportFetch != "" {
		target = "NAME"
	}
	if format != "csv" && format != "json" {
		return "", "", cmd + ": format " + strconv.Quote(format) + " is not csv or json (usage: :" + cmd + " csv|json " + target + ")"
	}
	if path == "" {
		return "", "", "usage: :" + cmd + " " + format + " " + target
	}
	if m.opts.ExportFetch != "" {
		if err := engine.CheckExportName(path); err != nil {
			return "", "", cmd + ": " + err.Error()
		}
	}
	return format, path, ""
}

// runExport is :export csv|json PATH. It snapshots the rows the grid
// shows (filtered, sorted, grouped as on screen) and sends them to the
// engine in a tea.Cmd, so a slow disk never holds the screen.
func runExport(m Model, args string) (Model, tea.Cmd) {
	format, path, bad := m.exportArgs("export", args)
	if bad != "" {
		return m, m.notify(bad, true)
	}
	rq := m.feed.caps.req
	if rq == nil {
		return m, m.notify("export: this console cannot send requests to the engine", true)
	}
	rows := make([]engine.DeviceState, len(m.grid.rows))
	for i, r := range m.grid.rows {
		rows[i] = m.devices[r]
	}
	ctx := m.feed.ctx
	return m, func() tea.Msg {
		info, err := engine.Ask(ctx, rq, engine.ExportFile{Path: path, Format: format, Devices: rows})
		return exportedMsg{info: info, what: "device", err: err}
	}
}

// exported is the toast of a finished export.
func (m *Model) exported(msg exportedMsg) tea.Cmd {
	if msg.err != nil {
		return m.notify(msg.err.Error(), true)
	}
	n := msg.info.Rows
	s := "exported " + Thousands(n) + " " + plural(n, msg.what, msg.what+"s")
	if !msg.info.Confined {
		return m.notify(s+" to "+msg.info.Path, false)
	}
	s += " to " + msg.info.Name + " in your export directory"
	if m.opts.ExportFetch != "" {
		s += "; fetch: " + m.opts.ExportFetch + msg.info.Name + " ."
	}
	return m.notify(s, false)
}
