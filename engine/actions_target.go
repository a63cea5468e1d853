package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rmmhq/rmm/engine/filter"
)

// Target selection for runs. A filter target is the console's filter
// grammar (engine/filter), inventory terms included; a collection target
// is a saved collection's current members.

// selectDevices returns the devices f matches, loading the inventory
// index first when f reads it.
func (e *Engine) selectDevices(ctx context.Context, f filter.DeviceFilter) ([]DeviceState, error) {
	if f.NeedsFacts() {
		if err := e.LoadFacts(ctx); err != nil {
			return nil, err
		}
	}
	var out []DeviceState
	for _, d := range e.Devices() {
		r := d.FilterRow()
		if f.Match(&r) {
			out = append(out, d)
		}
	}
	return out, nil
}

// ErrNoTargets is returned when a run target selects no device.
var ErrNoTargets = errors.New("no device matches")

// resolveTarget returns the devices a target picks, by hostname.
func (e *Engine) resolveTarget(ctx context.Context, t RunTarget) ([]DeviceState, error) {
	set := 0
	for _, b := range []bool{len(t.DeviceIDs) > 0, len(t.Hosts) > 0, t.Site != "", t.Group != "", t.Filter != "", t.Collection != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("target: set exactly one of devices, hosts, site, group, filter, collection (%d set)", set)
	}
	all := e.Devices()
	var out []DeviceState
	switch {
	case len(t.DeviceIDs) > 0:
		byID := make(map[int64]DeviceState, len(all))
		for _, d := range all {
			byID[d.ID] = d
		}
		for _, id := range t.DeviceIDs {
			d, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("target: device %d: %w", id, ErrNoTargets)
			}
			out = append(out, d)
		}
	case len(t.Hosts) > 0:
		byName := make(map[string]DeviceState, len(all))
		for _, d := range all {
			byName[strings.ToLower(d.Hostname)] = d
		}
		for _, h := range t.Hosts {
			d, ok := byName[strings.ToLower(strings.TrimSpace(h))]
			if !ok {
				return nil, fmt.Errorf("target: host %s: %w (rmm devices lists them)", h, ErrNoTargets)
			}
			out = append(out, d)
		}
	case t.Site != "":
		for _, d := range all {
			if strings.EqualFold(d.Site, t.Site) {
				out = append(out, d)
			}
		}
	case t.Group != "":
		for _, d := range all {
			if slices.ContainsFunc(d.Groups, func(g string) bool { return strings.EqualFold(g, t.Group) }) ||
				slices.ContainsFunc(d.Tags, func(g string) bool { return strings.EqualFold(g, t.Group) }) {
				out = append(out, d)
			}
		}
	case t.Collection != "":
		_, devs, err := e.collectionMembers(ctx, t.Collection)
		if err != nil {
			return nil, badInput(fmt.Errorf("target: %w", err))
		}
		out = devs
	default:
		f, err := filter.Parse(t.Filter)
		if err != nil {
			return nil, fmt.Errorf("target: filter %w", err)
		}
		if out, err = e.selectDevices(ctx, f); err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b DeviceState) int { return cmp.Compare(a.Hostname, b.Hostname) })
	out = slices.CompactFunc(out, func(a, b DeviceState) bool { return a.ID == b.ID })
	if len(out) == 0 {
		return nil, fmt.Errorf("target %s: %w", t, ErrNoTargets)
	}
	return out, nil
}
