package ui

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// exportHeader is the columns of an export, in order; the JSON keys are
// the same names. An array, so it cannot be changed.
const exportColumns = 9

func exportHeader() [exportColumns]string {
	return [...]string{"hostname", "site", "status", "cpu_pct", "mem_pct", "disk_free_pct", "last_seen", "os", "tags"}
}

// exportedMsg reports an export's outcome.
type exportedMsg struct {
	n    int
	path string
	err  error
}

// runExport is :export csv|json PATH. It snapshots the rows the grid
// shows (filtered, sorted, grouped as on screen) and writes them in a
// tea.Cmd, so a slow disk never holds the screen.
func runExport(m Model, args string) (Model, tea.Cmd) {
	format, path, _ := strings.Cut(strings.TrimLeft(args, " "), " ")
	format = strings.ToLower(format)
	path = strings.TrimSpace(path)
	if format != "csv" && format != "json" {
		return m, m.notify("export: format "+strconv.Quote(format)+" is not csv or json (usage: :export csv|json PATH)", true)
	}
	if path == "" {
		return m, m.notify("usage: :export "+format+" PATH", true)
	}
	rows := make([]engine.DeviceState, len(m.grid.rows))
	for i, r := range m.grid.rows {
		rows[i] = m.devices[r]
	}
	return m, func() tea.Msg {
		p, err := expandHome(path)
		if err == nil {
			err = writeFileAtomic(p, func(w io.Writer) error { return writeExport(w, format, rows) })
		}
		if err != nil {
			return exportedMsg{err: fmt.Errorf("export to %s: %w", path, err)}
		}
		return exportedMsg{n: len(rows), path: p}
	}
}

// expandHome turns a leading ~/ into the home directory, as a shell would.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

// writeExport writes devices as CSV (a header line, then one line per
// device; tags joined by ";"; metrics and last_seen empty when unknown)
// or JSON (an array of objects; null when unknown). Times are RFC 3339
// in UTC.
func writeExport(w io.Writer, format string, ds []engine.DeviceState) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		header := exportHeader()
		if err := cw.Write(header[:]); err != nil {
			return err
		}
		rec := make([]string, exportColumns)
		for i := range ds {
			d := &ds[i]
			rec[0], rec[1], rec[2] = d.Hostname, d.Site, string(d.Status)
			rec[3], rec[4], rec[5] = "", "", ""
			if d.HasMetrics {
				rec[3], rec[4], rec[5] = exportNum(d.CPUPct), exportNum(d.MemPct), exportNum(d.DiskFreePct)
			}
			rec[6] = ""
			if !d.LastSeen.IsZero() {
				rec[6] = d.LastSeen.UTC().Format(time.RFC3339)
			}
			rec[7], rec[8] = d.OSName, strings.Join(d.Tags, ";")
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "json":
		type row struct {
			Hostname    string   `json:"hostname"`
			Site        string   `json:"site"`
			Status      string   `json:"status"`
			CPUPct      *float64 `json:"cpu_pct"`
			MemPct      *float64 `json:"mem_pct"`
			DiskFreePct *float64 `json:"disk_free_pct"`
			LastSeen    *string  `json:"last_seen"`
			OS          string   `json:"os"`
			Tags        []string `json:"tags"`
		}
		out := make([]row, len(ds))
		for i := range ds {
			d := &ds[i]
			r := row{Hostname: d.Hostname, Site: d.Site, Status: string(d.Status), OS: d.OSName, Tags: d.Tags}
			if r.Tags == nil {
				r.Tags = []string{}
			}
			if d.HasMetrics {
				cpu, mem, disk := d.CPUPct, d.MemPct, d.DiskFreePct
				r.CPUPct, r.MemPct, r.DiskFreePct = &cpu, &mem, &disk
			}
			if !d.LastSeen.IsZero() {
				s := d.LastSeen.UTC().Format(time.RFC3339)
				r.LastSeen = &s
			}
			out[i] = r
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return fmt.Errorf("unknown export format %q", format)
}

func exportNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// writeFileAtomic writes a file through a temporary file in the same
// directory and a rename, so a reader (or a crash) never sees half of it.
// The file gets mode 0644, like a file a shell redirect creates.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriter(tmp)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
