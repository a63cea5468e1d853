package ui

import (
	"cmp"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/filter"
)

// The console's filter is the engine's device filter grammar
// (engine.ParseDeviceFilter, package engine/filter), so the CLI's
// --filter reads the same expressions; this file adds what the grid needs
// on top: the sort: term as a Column.

// Filter is a parsed filter expression (see ParseFilter). The zero value
// matches every device. A Filter is immutable and safe to share.
type Filter struct {
	f engine.DeviceFilter

	hasSort  bool
	sortBy   Column
	sortDesc bool
}

// FilterError is a term ParseFilter could not read: Term as typed, Msg
// what is wrong with it.
type FilterError = filter.Error

// filterFields are the field names a term may start with, for the help.
var filterFields = engine.DeviceFilterFields()

// ParseFilter reads a filter expression (engine.ParseDeviceFilter has the
// grammar): terms separated by spaces, all of which a device must match,
// and sort:COLUMN or sort:-COLUMN for the order. A term it cannot read is
// a *FilterError naming the term; the returned Filter then matches
// nothing.
func ParseFilter(expr string) (Filter, error) {
	f, err := engine.ParseDeviceFilter(expr)
	if err != nil {
		return nothing(), err
	}
	out := Filter{f: f}
	if key, desc, ok := f.Sort(); ok {
		col, err := ParseColumn(key)
		if err != nil {
			return nothing(), err
		}
		out.hasSort, out.sortBy, out.sortDesc = true, col, desc
	}
	return out, nil
}

// nothing is the filter of a bad expression: it matches no device.
func nothing() Filter { return Filter{f: filter.Nothing[engine.DeviceState]()} }

// Match reports whether the device matches every term of the filter.
func (f Filter) Match(d engine.DeviceState) bool { return f.match(&d) }

// match is Match without copying the device, for the grid's hot loop.
func (f *Filter) match(d *engine.DeviceState) bool { return f.f.Match(d) }

// Sort returns the order a sort: term asked for; ok is false when the
// expression has none.
func (f Filter) Sort() (by Column, desc, ok bool) { return f.sortBy, f.sortDesc, f.hasSort }

// Expr is the expression without its sort terms: what selects devices.
func (f Filter) Expr() string { return f.f.Expr() }

// Empty reports whether the filter selects every device.
func (f Filter) Empty() bool { return f.f.Empty() }

// columnNames are the names ParseColumn accepts, canonical name first:
// the engine's device sort keys, in the grid's column order.
func columnNames() [][]string { return engine.DeviceSortKeys() }

// Name is the column's name in commands and filters: "cpu", "last_seen".
func (c Column) Name() string {
	if names := columnNames(); int(c) >= 0 && int(c) < len(names) {
		return names[c][0]
	}
	return "?"
}

// ParseColumn reads a column name as :sort and sort: take it ("cpu",
// "last_seen", "host"...), ignoring case.
func ParseColumn(name string) (Column, error) {
	key, err := engine.DeviceSortKey(name)
	if err != nil {
		return 0, err
	}
	for c, names := range columnNames() {
		if names[0] == key {
			return Column(c), nil
		}
	}
	return 0, &FilterError{Term: name, Msg: "unknown column"}
}

// compareOS orders by OS name then version, naturally.
func compareOS(a, b *engine.DeviceState) int {
	return cmp.Or(NaturalCompare(a.OSName, b.OSName), NaturalCompare(a.OSVersion, b.OSVersion))
}
