package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/rmmhq/rmm/engine/report"
)

// patchScanPart is the patch report's part from Windows Update scans
// (patch_scan): compliance of the report's devices, per ring, site and
// group, each device's missing updates. ok is false when none of the
// report's devices was ever scanned (the report then shows the hotfixes
// only, as before scans existed).
func (rc *reportCtx) patchScanPart(ctx context.Context) (facts []report.Fact, tables []report.Table, ok bool, err error) {
	p, err := rc.e.readPicture(ctx, nil)
	if err != nil {
		return nil, nil, false, err
	}
	var hosts []PatchHostRow
	byHost := map[int64]DeviceState{}
	for _, d := range p.devs {
		if _, in := rc.byID[d.ID]; !in {
			continue
		}
		h := p.hostRow(d)
		if !h.ScannedAt.IsZero() {
			ok = true
		}
		hosts = append(hosts, h)
		byHost[d.ID] = d
	}
	if !ok {
		return nil, nil, false, nil
	}
	slices.SortFunc(hosts, func(a, b PatchHostRow) int { return cmp.Compare(a.Hostname, b.Hostname) })
	all, bySite, byGroup, byRing := compliance(hosts, p.opts.RingNames())
	missingSec, reboot, failedScan, never := 0, 0, 0, 0
	var devRows, missRows [][]report.Cell
	for _, h := range hosts {
		switch {
		case h.ScannedAt.IsZero():
			never++
		case h.ScanError != "":
			failedScan++
		}
		if h.Security > 0 {
			missingSec++
		}
		if h.NeedsReboot {
			reboot++
		}
		state := "no"
		switch {
		case h.ScannedAt.IsZero():
			state = "not scanned"
		case h.ScanError != "":
			state = "scan failed"
		case h.Compliant:
			state = "yes"
		}
		service := h.Service
		if h.Server != "" {
			service += " (" + h.Server + ")"
		}
		devRows = append(devRows, []report.Cell{report.HostText(h.Hostname), report.HostText(h.Site), report.HostText(h.Ring),
			report.Text(state), report.Int(int64(h.Counts.Missing())), report.Int(int64(h.Security)),
			report.Int(int64(h.Counts[PatchFailed])), report.Text(yesNo(h.NeedsReboot)), report.Int(int64(h.Counts[PatchInstalled])),
			report.HostText(service), report.Text(rc.stamp(h.ScannedAt)), report.HostText(firstLine(h.ScanError))})
		d := byHost[h.DeviceID]
		for _, id := range p.missing[h.DeviceID] {
			u, known := p.cat[id]
			if !known {
				continue
			}
			st, why := p.deviceState(d, id)
			if st == PatchInstalled {
				continue
			}
			text := string(st)
			if why != "" {
				text += ": " + why
			}
			missRows = append(missRows, []report.Cell{report.HostText(h.Hostname), report.HostText(u.KB), report.HostText(u.Title),
				report.HostText(u.Classification), report.HostText(cmp.Or(u.Severity, "-")), report.Text(day(u.ReleasedAt)), report.Text(text)})
		}
	}
	// Least compliant first.
	slices.SortStableFunc(devRows, func(x, y []report.Cell) int {
		return cmp.Or(cmp.Compare(y[5].Num, x[5].Num), cmp.Compare(y[4].Num, x[4].Num))
	})
	pct := func(c ComplianceRow) string {
		if c.Scanned == 0 {
			return "-"
		}
		return strconv.FormatFloat(c.Percent, 'f', 1, 64) + "%"
	}
	facts = []report.Fact{
		{Label: "Compliant (last Windows Update scan)", Value: fmt.Sprintf("%s (%d of %d scanned)", pct(all), all.Compliant, all.Scanned)},
		{Label: "Missing security or critical updates", Value: strconv.Itoa(missingSec)},
		{Label: "Needing a restart for updates", Value: strconv.Itoa(reboot)},
		{Label: "Last scan failed / never scanned", Value: fmt.Sprintf("%d / %d", failedScan, never)},
	}
	var compRows [][]report.Cell
	for _, part := range [][]ComplianceRow{byRing, bySite, byGroup} {
		for _, c := range part {
			if c.Devices == 0 {
				continue
			}
			compRows = append(compRows, []report.Cell{report.Text(c.By), report.HostText(c.Name), report.Int(int64(c.Devices)),
				report.Int(int64(c.Scanned)), report.Int(int64(c.Compliant)), report.Number(c.Percent, 1)})
		}
	}
	tables = []report.Table{
		{Name: "Compliance", Title: "Compliance per ring, site and group (compliant: scanned, no security or critical update missing, no restart pending)",
			Columns: []report.Column{{Title: "By"}, {Title: "Name"}, {Title: "Devices", Numeric: true}, {Title: "Scanned", Numeric: true},
				{Title: "Compliant", Numeric: true}, {Title: "Compliant %", Numeric: true}}, Rows: compRows},
		{Name: "Scans", Title: "Windows Update per device (least compliant first)", Columns: []report.Column{{Title: "Device"}, {Title: "Site"},
			{Title: "Ring"}, {Title: "Compliant"}, {Title: "Missing", Numeric: true}, {Title: "Security/critical", Numeric: true},
			{Title: "Failed", Numeric: true}, {Title: "Needs restart"}, {Title: "Installed", Numeric: true}, {Title: "Service"},
			{Title: "Scanned"}, {Title: "Scan error"}}, Rows: devRows},
		{Name: "Missing updates", Title: "Missing updates per device", Detail: true, Columns: []report.Column{{Title: "Device"}, {Title: "KB"},
			{Title: "Title"}, {Title: "Classification"}, {Title: "Severity"}, {Title: "Released"}, {Title: "State"}}, Rows: missRows},
	}
	return facts, tables, true, nil
}
