package ui

import (
	"cmp"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/filter"
)

// The filter grammar is engine/filter's: the console, saved views,
// collections, rmm run --filter, rmm devices --filter and action targets
// all read it the same way. This file holds what is the console's own:
// columns.

// FilterError is a term the filter grammar could not read.
type FilterError = filter.Error

// ParseFilter reads a device filter expression (see filter.Parse).
func ParseFilter(expr string) (filter.DeviceFilter, error) { return filter.Parse(expr) }

// matches reports whether the grid's filter keeps device d.
func matches(f *filter.DeviceFilter, d *engine.DeviceState) bool {
	r := d.FilterRow()
	return f.Match(&r)
}

// columnNames are the names ParseColumn accepts, canonical name first, in
// Column order.
func columnNames() [][]string { return filter.SortColumns() }

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
	canon, err := filter.ParseColumn(name)
	if err != nil {
		return 0, err
	}
	for c, names := range columnNames() {
		if names[0] == canon {
			return Column(c), nil
		}
	}
	return 0, &FilterError{Term: name, Msg: "unknown column"}
}

// compareOS orders by OS name then version, naturally.
func compareOS(a, b *engine.DeviceState) int {
	return cmp.Or(NaturalCompare(a.OSName, b.OSName), NaturalCompare(a.OSVersion, b.OSVersion))
}
