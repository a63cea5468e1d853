package engine

// Fleet-wide inventory answers: the devices a filter expression matches
// (inventory terms included), as a table of chosen columns, read from the
// engine's device list and inventory index, never from the inventory
// documents. "Every host with its Zoom version" is
//
//	rmm inventory query 'software:zoom' --columns host,software,software.version
//
// A software column makes one row per application the filter's software:
// terms accept on that device (every application when it has none).

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/filter"
)

// queryColumn is one column of an inventory query.
type queryColumn struct {
	name string
	doc  string
	app  bool // reads the row's application
	cell func(d *DeviceState, app filter.App, now time.Time) string
}

func queryColumns() []queryColumn {
	tri := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	num := func(ok bool, v float64) string {
		if !ok {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	boot := func(d *DeviceState) time.Time {
		if !d.LastBoot.IsZero() {
			return d.LastBoot
		}
		return d.Facts.LastBoot()
	}
	doc := func(d *DeviceState) filter.FactsDoc { return d.Facts.Scalars() }
	return []queryColumn{
		{name: "host", doc: "hostname", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return d.Hostname }},
		{name: "site", doc: "site", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return d.Site }},
		{name: "status", doc: "Online, Offline, Unknown", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return string(d.Status) }},
		{name: "os", doc: "OS caption", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return d.OSName }},
		{name: "os_version", doc: "OS version", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return d.OSVersion }},
		{name: "tags", doc: "tags, ; separated", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return strings.Join(d.Tags, ";") }},
		{name: "groups", doc: "groups, ; separated", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return strings.Join(d.Groups, ";") }},
		{name: "cpu", doc: "latest CPU %", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return num(d.HasMetrics, d.CPUPct) }},
		{name: "mem", doc: "latest memory %", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return num(d.HasMetrics, d.MemPct) }},
		{name: "disk", doc: "lowest free disk %", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return num(d.HasMetrics, d.DiskFreePct) }},
		{name: "last_seen", doc: "last contact, RFC 3339", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return exportTime(d.LastSeen) }},
		{name: "software", doc: "an application's name (one row per application)", app: true,
			cell: func(_ *DeviceState, a filter.App, _ time.Time) string { return a.Name }},
		{name: "software.version", doc: "that application's version", app: true,
			cell: func(_ *DeviceState, a filter.App, _ time.Time) string { return a.Version }},
		{name: "last_boot", doc: "last boot, RFC 3339", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return exportTime(boot(d)) }},
		{name: "uptime_days", doc: "days since the last boot", cell: func(d *DeviceState, _ filter.App, now time.Time) string {
			b := boot(d)
			return num(!b.IsZero() && now.After(b), float64(int(now.Sub(b).Hours()/24*10))/10)
		}},
		{name: "reboot", doc: "a reboot pending: yes, no, unknown", cell: func(d *DeviceState, _ filter.App, _ time.Time) string {
			if d.Reboot != filter.Unknown {
				return d.Reboot.String()
			}
			return tri(d.Facts.Reboot().String())
		}},
		{name: "bitlocker", doc: "on, off, unknown", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return tri(doc(d).BitLocker) }},
		{name: "firewall", doc: "on, off, unknown", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return tri(doc(d).Firewall) }},
		{name: "defender", doc: "on, off, unknown", cell: func(d *DeviceState, _ filter.App, _ time.Time) string { return tri(doc(d).Defender) }},
		{name: "apps", doc: "how many applications", cell: func(d *DeviceState, _ filter.App, _ time.Time) string {
			a, _, _ := d.Facts.Sizes()
			return num(d.Facts.HasSoftware(), float64(a))
		}},
		{name: "hotfixes", doc: "how many hotfixes", cell: func(d *DeviceState, _ filter.App, _ time.Time) string {
			_, _, h := d.Facts.Sizes()
			return num(d.Facts.HasSoftware(), float64(h))
		}},
		{name: "software_at", doc: "when the software inventory was collected", cell: func(d *DeviceState, _ filter.App, _ time.Time) string {
			return exportTime(doc(d).SoftwareAt)
		}},
	}
}

// QueryColumns lists the columns an inventory query takes, with what
// each holds.
func QueryColumns() [][2]string {
	cs := queryColumns()
	out := make([][2]string, len(cs))
	for i, c := range cs {
		out[i] = [2]string{c.name, c.doc}
	}
	return out
}

// InventoryTable is an inventory query's answer. Its JSON form is the
// stable output of rmm inventory query --json.
type InventoryTable struct {
	Expr    string     `json:"expr"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
	Devices int        `json:"devices"` // devices matched (a device may have several rows)
	TookUS  int64      `json:"took_us"` // the query, without loading the index
}

// QueryInventory answers a filter expression over the fleet as a table;
// exec returns InventoryTable. No columns: host, site, status, os, plus
// software and software.version when the expression has a software:
// term.
type QueryInventory struct {
	Expr    string
	Columns []string
}

// Action implements Request.
func (QueryInventory) Action() string { return "inventory.query" }

// Permission implements Request.
func (QueryInventory) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (QueryInventory) Mutating() bool { return false }

// Targets implements Request.
func (QueryInventory) Targets() []string { return nil }

// Details implements Request.
func (r QueryInventory) Details() map[string]any {
	return map[string]any{"expr": r.Expr, "columns": r.Columns}
}

func (r QueryInventory) run(ctx context.Context, e *Engine, _ Identity) (InventoryTable, error) {
	return e.queryInventory(ctx, r.Expr, r.Columns)
}

func (e *Engine) queryInventory(ctx context.Context, expr string, columns []string) (InventoryTable, error) {
	f, err := filter.Parse(expr)
	if err != nil {
		return InventoryTable{}, fmt.Errorf("inventory query: %w", err)
	}
	all := queryColumns()
	if len(columns) == 0 {
		columns = []string{"host", "site", "status", "os"}
		if f.NamesSoftware() {
			columns = append(columns, "software", "software.version")
		}
	}
	var cols []queryColumn
	perApp := false
	for _, name := range columns {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "hostname" {
			name = "host"
		}
		i := slices.IndexFunc(all, func(c queryColumn) bool { return c.name == name })
		if i < 0 {
			names := make([]string, len(all))
			for j, c := range all {
				names[j] = c.name
			}
			return InventoryTable{}, fmt.Errorf("inventory query: unknown column %q (columns: %s)", name, strings.Join(names, ", "))
		}
		cols = append(cols, all[i])
		perApp = perApp || all[i].app
	}
	if f.NeedsFacts() || perApp || slices.ContainsFunc(cols, func(c queryColumn) bool { return c.name != "host" && c.name != "site" }) {
		if err := e.LoadFacts(ctx); err != nil {
			return InventoryTable{}, err
		}
	}
	start := time.Now()
	t := InventoryTable{Expr: f.Expr(), Columns: make([]string, len(cols)), Rows: [][]string{}}
	for i, c := range cols {
		t.Columns[i] = c.name
	}
	now := time.Now()
	devs := e.Devices()
	for i := range devs {
		d := &devs[i]
		r := d.FilterRow()
		if !f.Match(&r) {
			continue
		}
		t.Devices++
		apps := []filter.App{{}}
		if perApp {
			if apps = f.MatchingApps(r.Facts); len(apps) == 0 {
				continue
			}
		}
		for _, a := range apps {
			row := make([]string, len(cols))
			for j, c := range cols {
				row[j] = c.cell(d, a, now)
			}
			t.Rows = append(t.Rows, row)
		}
	}
	t.TookUS = time.Since(start).Microseconds()
	return t, nil
}
