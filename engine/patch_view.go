package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

// What the console and the CLI show of patches: the fleet as hosts by
// updates (each update with how many devices are in each state, each
// host with how many of its updates are), one device's updates, jobs and
// history, and compliance per site, group and ring.

// PatchState is where an update stands on a device.
type PatchState string

// Patch states, in the order the console counts them.
const (
	PatchNeedsApproval PatchState = "needs-approval" // missing, nobody decided for the device's ring
	PatchApproved      PatchState = "approved"       // missing and approved: the next install takes it
	PatchGated         PatchState = "gated"          // approved, but the ring waits for the ring before it
	PatchDenied        PatchState = "denied"         // missing and denied (or on the deny list)
	PatchInstalling    PatchState = "installing"     // in a running job's round
	PatchFailed        PatchState = "failed"         // its last install failed
	PatchNeedsReboot   PatchState = "needs-reboot"   // installed; the host must restart
	PatchInstalled     PatchState = "installed"
)

// PatchStates lists the states, in the console's order.
func PatchStates() []PatchState {
	return []PatchState{PatchNeedsApproval, PatchApproved, PatchGated, PatchDenied, PatchInstalling, PatchFailed, PatchNeedsReboot, PatchInstalled}
}

// Counts is how many devices (or updates) are in each state.
type Counts map[PatchState]int

// Missing is every state but installed and needs-reboot.
func (c Counts) Missing() int {
	return c[PatchNeedsApproval] + c[PatchApproved] + c[PatchGated] + c[PatchDenied] + c[PatchInstalling] + c[PatchFailed]
}

// PatchUpdateRow is one update across the fleet.
type PatchUpdateRow struct {
	UpdateID       string    `json:"update_id"`
	KB             string    `json:"kb"`
	Title          string    `json:"title"`
	Classification string    `json:"classification"`
	Severity       string    `json:"severity"`
	SizeBytes      int64     `json:"size_bytes"`
	RebootBehavior string    `json:"reboot"` // never, always, may
	Released       time.Time `json:"released,omitzero"`
	DenyListed     bool      `json:"deny_listed"`
	Counts         Counts    `json:"counts"` // devices per state
	// Rings says per ring what is decided: approved, approved (override),
	// denied, gated: WHY, or needs-approval; only rings with a device that
	// misses it.
	Rings map[string]string `json:"rings"`
}

// PatchHostRow is one device's patch picture.
type PatchHostRow struct {
	DeviceID    int64         `json:"device_id"`
	Hostname    string        `json:"hostname"`
	Site        string        `json:"site"`
	Groups      []string      `json:"groups"`
	Ring        string        `json:"ring"`
	Status      Status        `json:"status"`
	ScannedAt   time.Time     `json:"scanned_at,omitzero"` // zero: never scanned
	ScanError   string        `json:"scan_error,omitempty"`
	Service     string        `json:"service,omitempty"`
	Server      string        `json:"server,omitempty"`
	LastSearch  time.Time     `json:"last_search_success,omitzero"`
	LastInstall time.Time     `json:"last_install_success,omitzero"`
	Counts      Counts        `json:"counts"` // updates per state
	Security    int           `json:"missing_security"`
	NeedsReboot bool          `json:"needs_reboot"`
	Compliant   bool          `json:"compliant"`     // scanned, no security or critical update missing (denied ones aside)
	Job         *PatchJobInfo `json:"job,omitempty"` // the unfinished job, if any
}

// ComplianceRow is the compliance of a set of devices: those scanned with
// no security or critical update missing, of those scanned.
type ComplianceRow struct {
	By        string  `json:"by"`   // site, group, ring or fleet
	Name      string  `json:"name"` // the site, group or ring
	Devices   int     `json:"devices"`
	Scanned   int     `json:"scanned"`
	Compliant int     `json:"compliant"`
	Percent   float64 `json:"percent"` // compliant / scanned, 0 when none was scanned
}

// PatchFleet is the fleet's patch picture.
type PatchFleet struct {
	At         time.Time        `json:"at"`
	Rings      []string         `json:"rings"`
	Updates    []PatchUpdateRow `json:"updates"` // every update some device misses or needs a restart for, by classification then KB
	Hosts      []PatchHostRow   `json:"hosts"`   // every device, by hostname
	Compliance ComplianceRow    `json:"compliance"`
	BySite     []ComplianceRow  `json:"by_site"`
	ByGroup    []ComplianceRow  `json:"by_group"`
	ByRing     []ComplianceRow  `json:"by_ring"`
}

// PatchProgressInfo is a running job's progress as its task last wrote it.
type PatchProgressInfo struct {
	Phase   string    `json:"phase"` // searching, downloading, installing, done
	Current int       `json:"current"`
	Total   int       `json:"total"`
	KB      string    `json:"kb"`
	Percent int       `json:"percent"`
	Updated time.Time `json:"updated,omitzero"`
}

// PatchJobInfo is one device's install job.
type PatchJobInfo struct {
	ID             int64              `json:"id"`
	RunID          string             `json:"run_id"`
	DeviceID       int64              `json:"device_id"`
	Host           string             `json:"host"`
	State          string             `json:"state"`
	Round          int                `json:"round"`
	MaxRounds      int                `json:"max_rounds"`
	Reboot         string             `json:"reboot"`
	KBs            []string           `json:"kbs"`     // the selection; empty: every approved update
	Updates        []string           `json:"updates"` // this round's, as KBs
	Progress       *PatchProgressInfo `json:"progress,omitempty"`
	Message        string             `json:"message"`
	HResult        string             `json:"hresult,omitempty"` // named, when the job failed with one
	Installed      int                `json:"installed"`
	Failed         int                `json:"failed"`
	RebootRequired bool               `json:"reboot_required"`
	RequestedBy    string             `json:"requested_by"`
	RequestedAt    time.Time          `json:"requested_at"`
	StateSince     time.Time          `json:"state_since"`
	FinishedAt     time.Time          `json:"finished_at,omitzero"`
	CancelBy       string             `json:"cancel_by,omitempty"`
}

// Finished reports a job that ended.
func (j PatchJobInfo) Finished() bool { return store.JobFinished(j.State) }

// PatchResultInfo is one update's outcome in a job.
type PatchResultInfo struct {
	JobID          int64     `json:"job_id"`
	RunID          string    `json:"run_id"`
	Host           string    `json:"host"`
	Round          int       `json:"round"`
	UpdateID       string    `json:"update_id"`
	KB             string    `json:"kb"`
	Title          string    `json:"title"`
	Result         string    `json:"result"` // installed, failed, aborted, not-applicable
	ResultCode     int       `json:"result_code"`
	HResult        string    `json:"hresult,omitempty"` // named
	Fix            string    `json:"fix,omitempty"`
	RebootRequired bool      `json:"reboot_required"`
	Message        string    `json:"message,omitempty"`
	FinishedAt     time.Time `json:"finished_at"`
}

// PatchDeviceUpdate is one update on one device.
type PatchDeviceUpdate struct {
	PatchUpdateRow
	State  PatchState `json:"state"`
	Reason string     `json:"reason,omitempty"` // why gated, how it failed
}

// PatchDeviceView is one device in detail.
type PatchDeviceView struct {
	Host    PatchHostRow        `json:"host"`
	Updates []PatchDeviceUpdate `json:"updates"` // missing first, then installed
	Jobs    []PatchJobInfo      `json:"jobs"`    // the newest ten
	History []PatchResultInfo   `json:"history"` // the newest fifty outcomes
}

// patchPicture is everything the views are computed from, read once.
type patchPicture struct {
	at      time.Time
	opts    PatchOptions
	devs    []DeviceState
	ring    map[int64]string
	cat     map[string]store.PatchUpdate
	missing map[int64][]string // device -> update ids
	scans   map[int64]store.PatchScan
	book    approvalBook
	latest  map[[2]string]store.PatchResult // "device id", update id -> latest outcome
	active  map[int64]store.PatchJob        // device -> unfinished job
	results map[string]map[string]ringResults
}

func devKey(id int64, update string) [2]string { return [2]string{strconv.FormatInt(id, 10), update} }

// readPicture reads the patch picture of the devices (nil: all). For one
// device it reads only that device's rows (and, for the ring gates, the
// outcomes of its missing updates), so a job's step costs the same in a
// fleet of 10 or 10,000.
func (e *Engine) readPicture(ctx context.Context, only []DeviceState) (*patchPicture, error) {
	p := &patchPicture{at: time.Now().UTC(), opts: e.patchOptions(), ring: map[int64]string{}, cat: map[string]store.PatchUpdate{},
		missing: map[int64][]string{}, latest: map[[2]string]store.PatchResult{}, active: map[int64]store.PatchJob{},
		results: map[string]map[string]ringResults{}, scans: map[int64]store.PatchScan{}}
	p.devs = only
	if p.devs == nil {
		p.devs = e.Devices()
	}
	for i := range p.devs {
		p.ring[p.devs[i].ID] = p.opts.ringOf(&p.devs[i])
	}
	var latest []store.PatchResult
	var err error
	if len(only) == 1 {
		d := only[0]
		ids, err := e.db.DeviceMissing(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		p.missing[d.ID] = ids
		cat, err := e.db.PatchCatalogOf(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, u := range cat {
			p.cat[u.UpdateID] = u
		}
		if s, ok, err := e.db.PatchScanOf(ctx, d.ID); err != nil {
			return nil, err
		} else if ok {
			p.scans[d.ID] = s
		}
		if latest, err = e.db.LatestPatchResultsOf(ctx, ids); err != nil {
			return nil, err
		}
		jobs, err := e.db.PatchJobs(ctx, store.PatchJobFilter{DeviceID: d.ID, Active: true})
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			p.active[j.DeviceID] = j
		}
	} else {
		cat, err := e.db.PatchCatalog(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range cat {
			p.cat[u.UpdateID] = u
		}
		rows, err := e.db.DevicePatchRows(ctx, store.PatchMissing)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			p.missing[r.DeviceID] = append(p.missing[r.DeviceID], r.UpdateID)
		}
		if p.scans, err = e.db.PatchScans(ctx); err != nil {
			return nil, err
		}
		if latest, err = e.db.LatestPatchResults(ctx); err != nil {
			return nil, err
		}
		jobs, err := e.db.PatchJobs(ctx, store.PatchJobFilter{Active: true})
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			p.active[j.DeviceID] = j
		}
	}
	approvals, err := e.db.PatchApprovals(ctx)
	if err != nil {
		return nil, err
	}
	p.book = newApprovalBook(approvals)
	// The gates count outcomes by the ring of the device they are on.
	allRing := p.ring
	if only != nil {
		allRing = map[int64]string{}
		for _, d := range e.Devices() {
			allRing[d.ID] = p.opts.ringOf(&d)
		}
	}
	for _, r := range latest {
		p.latest[devKey(r.DeviceID, r.UpdateID)] = r
		if r.ResultCode == scripts.ResultNotStarted {
			continue // not applicable: it did not try
		}
		ring := strings.ToLower(allRing[r.DeviceID])
		m := p.results[r.UpdateID]
		if m == nil {
			m = map[string]ringResults{}
			p.results[r.UpdateID] = m
		}
		rr := m[ring]
		rr.tried++
		if r.ResultCode == scripts.ResultSucceeded || r.ResultCode == scripts.ResultSucceededWithErrors {
			rr.ok++
			if rr.firstSuccess.IsZero() || r.FinishedAt.Before(rr.firstSuccess) {
				rr.firstSuccess = r.FinishedAt
			}
		}
		m[ring] = rr
	}
	return p, nil
}

// gate is a ring's gate for an update now.
func (p *patchPicture) gate(updateID, ring string) gate {
	r := p.opts.ring(ring)
	if r == nil || r.After == "" {
		return gate{open: true}
	}
	return r.gateFor(p.results[updateID][strings.ToLower(r.After)], p.at)
}

// approval is whether an update is approved for a ring, installable now
// (the gate is open, or an Admin overrode it), and why not.
func (p *patchPicture) approval(u store.PatchUpdate, ring string) (state PatchState, reason string) {
	if p.opts.denied(u.KB) {
		return PatchDenied, u.KB + " is on the deny list (patches.deny)"
	}
	a, ok := p.book.decision(u.UpdateID, ring)
	switch {
	case !ok:
		return PatchNeedsApproval, ""
	case a.Decision == store.PatchDenied:
		return PatchDenied, "denied by " + a.DecidedBy
	case a.Override:
		return PatchApproved, ""
	}
	if g := p.gate(u.UpdateID, ring); !g.open {
		return PatchGated, g.reason
	}
	return PatchApproved, ""
}

// deviceState is where a missing update stands on a device.
func (p *patchPicture) deviceState(d DeviceState, updateID string) (PatchState, string) {
	u := p.cat[updateID]
	scan := p.scans[d.ID]
	if j, ok := p.active[d.ID]; ok && slices.Contains(j.UpdateIDs, updateID) && (j.State == store.JobStarting || j.State == store.JobInstalling) {
		return PatchInstalling, ""
	}
	if r, ok := p.latest[devKey(d.ID, updateID)]; ok && r.ResultCode != scripts.ResultNotStarted {
		fresh := r.FinishedAt.After(scan.ScannedAt)
		switch {
		case fresh && (r.ResultCode == scripts.ResultSucceeded || r.ResultCode == scripts.ResultSucceededWithErrors):
			if r.RebootRequired {
				return PatchNeedsReboot, "installed; the host must restart"
			}
			return PatchInstalled, ""
		case r.ResultCode == scripts.ResultFailed || r.ResultCode == scripts.ResultAborted:
			if st, _ := p.approval(u, p.ring[d.ID]); st == PatchDenied {
				return st, ""
			}
			return PatchFailed, DescribeHResult(r.HResult).WithFix()
		}
	}
	return p.approval(u, p.ring[d.ID])
}

// row is an update as a fleet row, without counts.
func updateRow(u store.PatchUpdate, o PatchOptions) PatchUpdateRow {
	return PatchUpdateRow{UpdateID: u.UpdateID, KB: u.KB, Title: u.Title, Classification: u.Classification, Severity: u.Severity,
		SizeBytes: u.SizeBytes, RebootBehavior: scripts.RebootBehaviorName(u.RebootBehavior), Released: u.ReleasedAt,
		DenyListed: o.denied(u.KB), Counts: Counts{}, Rings: map[string]string{}}
}

// hostRow computes one device's row.
func (p *patchPicture) hostRow(d DeviceState) PatchHostRow {
	h := PatchHostRow{DeviceID: d.ID, Hostname: d.Hostname, Site: d.Site, Groups: d.Groups, Ring: p.ring[d.ID], Status: d.Status,
		Counts: Counts{}}
	if h.Groups == nil {
		h.Groups = []string{}
	}
	scan, scanned := p.scans[d.ID]
	if scanned {
		h.ScannedAt, h.Service, h.Server = scan.ScannedAt, scan.Service, scan.Server
		h.LastSearch, h.LastInstall = scan.LastSearchSuccess, scan.LastInstallSuccess
		h.Counts[PatchInstalled] = scan.Installed
		h.NeedsReboot = scan.RebootRequired
		if !scan.OK {
			h.ScanError = scan.Error
		}
	}
	for _, id := range p.missing[d.ID] {
		st, _ := p.deviceState(d, id)
		h.Counts[st]++
		if st == PatchInstalled {
			continue
		}
		if st == PatchNeedsReboot {
			h.NeedsReboot = true
			continue
		}
		if u := p.cat[id]; st != PatchDenied && (u.Classification == scripts.ClassSecurity || u.Classification == scripts.ClassCritical) {
			h.Security++
		}
	}
	if j, ok := p.active[d.ID]; ok {
		info := jobInfo(j)
		h.Job = &info
		if j.State == store.JobRebootWait {
			h.NeedsReboot = true
		}
	}
	h.Compliant = scanned && scan.OK && h.Security == 0 && !h.NeedsReboot
	return h
}

// fleet builds the fleet's picture.
func (p *patchPicture) fleet() PatchFleet {
	f := PatchFleet{At: p.at, Rings: p.opts.RingNames(), Updates: []PatchUpdateRow{}, Hosts: make([]PatchHostRow, 0, len(p.devs))}
	rows := map[string]*PatchUpdateRow{}
	for _, d := range p.devs {
		for _, id := range p.missing[d.ID] {
			u, ok := p.cat[id]
			if !ok {
				continue
			}
			r := rows[id]
			if r == nil {
				ur := updateRow(u, p.opts)
				r = &ur
				rows[id] = r
			}
			st, _ := p.deviceState(d, id)
			r.Counts[st]++
			ring := p.ring[d.ID]
			if _, seen := r.Rings[ring]; !seen && ring != "" {
				ast, why := p.approval(u, ring)
				text := string(ast)
				switch {
				case ast == PatchGated:
					text += ": " + why
				case ast == PatchApproved:
					if a, _ := p.book.decision(id, ring); a.Override {
						text += " (override)"
					}
				}
				r.Rings[ring] = text
			}
		}
		f.Hosts = append(f.Hosts, p.hostRow(d))
	}
	for _, r := range rows {
		f.Updates = append(f.Updates, *r)
	}
	order := func(c string) int {
		i := slices.Index(scripts.Classifications(), c)
		if i < 0 {
			return 99
		}
		return i
	}
	slices.SortFunc(f.Updates, func(a, b PatchUpdateRow) int {
		return cmp.Or(cmp.Compare(order(a.Classification), order(b.Classification)), cmp.Compare(a.KB, b.KB), cmp.Compare(a.Title, b.Title))
	})
	slices.SortFunc(f.Hosts, func(a, b PatchHostRow) int { return cmp.Compare(a.Hostname, b.Hostname) })
	f.Compliance, f.BySite, f.ByGroup, f.ByRing = compliance(f.Hosts, p.opts.RingNames())
	return f
}

// compliance sums the hosts' compliance over the fleet, per site, per
// group and per ring.
func compliance(hosts []PatchHostRow, rings []string) (all ComplianceRow, bySite, byGroup, byRing []ComplianceRow) {
	sites, groups, ringRows := map[string]*ComplianceRow{}, map[string]*ComplianceRow{}, map[string]*ComplianceRow{}
	for _, r := range rings {
		ringRows[r] = &ComplianceRow{By: "ring", Name: r}
	}
	all = ComplianceRow{By: "fleet", Name: "fleet"}
	add := func(c *ComplianceRow, h PatchHostRow) {
		c.Devices++
		if !h.ScannedAt.IsZero() && h.ScanError == "" {
			c.Scanned++
			if h.Compliant {
				c.Compliant++
			}
		}
	}
	get := func(m map[string]*ComplianceRow, by, name string) *ComplianceRow {
		if m[name] == nil {
			m[name] = &ComplianceRow{By: by, Name: name}
		}
		return m[name]
	}
	for _, h := range hosts {
		add(&all, h)
		add(get(sites, "site", h.Site), h)
		for _, g := range h.Groups {
			add(get(groups, "group", g), h)
		}
		if h.Ring != "" {
			add(get(ringRows, "ring", h.Ring), h)
		}
	}
	finish := func(m map[string]*ComplianceRow, keepOrder []string) []ComplianceRow {
		out := make([]ComplianceRow, 0, len(m))
		for _, c := range m {
			if c.Scanned > 0 {
				c.Percent = roundPct(100 * float64(c.Compliant) / float64(c.Scanned))
			}
			out = append(out, *c)
		}
		slices.SortFunc(out, func(a, b ComplianceRow) int {
			if keepOrder != nil {
				return cmp.Compare(slices.Index(keepOrder, a.Name), slices.Index(keepOrder, b.Name))
			}
			return cmp.Compare(a.Name, b.Name)
		})
		return out
	}
	if all.Scanned > 0 {
		all.Percent = roundPct(100 * float64(all.Compliant) / float64(all.Scanned))
	}
	return all, finish(sites, nil), finish(groups, nil), finish(ringRows, rings)
}

func roundPct(x float64) float64 { return float64(int(x*10+0.5)) / 10 }

// jobInfo is a stored job as front ends see it.
func jobInfo(j store.PatchJob) PatchJobInfo {
	info := PatchJobInfo{ID: j.ID, RunID: j.RunID, DeviceID: j.DeviceID, Host: j.Host, State: j.State, Round: j.Round,
		MaxRounds: j.MaxRounds, Reboot: j.Reboot, KBs: j.KBs, Message: j.Message, Installed: j.Installed, Failed: j.Failed,
		RebootRequired: j.RebootRequired, RequestedBy: j.RequestedBy, RequestedAt: j.RequestedAt, StateSince: j.StateSince,
		FinishedAt: j.FinishedAt, CancelBy: j.CancelBy, Updates: []string{}}
	if info.KBs == nil {
		info.KBs = []string{}
	}
	if j.HResult != 0 {
		info.HResult = DescribeHResult(j.HResult).String()
	}
	var pr jobProgress
	if len(j.Progress) > 2 && json.Unmarshal(j.Progress, &pr) == nil && pr.Total > 0 {
		info.Progress = &PatchProgressInfo{Phase: pr.Phase, Current: pr.Current, Total: pr.Total, KB: pr.KB, Percent: pr.Percent, Updated: pr.Updated}
		info.Updates = pr.KBs
	}
	if info.Updates == nil {
		info.Updates = []string{}
	}
	return info
}

// jobProgress is what a job keeps of its task's progress (and the KBs of
// its round), in patch_jobs.progress.
type jobProgress struct {
	Phase   string    `json:"phase"`
	Current int       `json:"current"`
	Total   int       `json:"total"`
	KB      string    `json:"kb"`
	Percent int       `json:"percent"`
	Updated time.Time `json:"updated,omitzero"`
	KBs     []string  `json:"kbs"`
}

// resultInfo is a stored outcome as front ends see it.
func resultInfo(r store.PatchResult) PatchResultInfo {
	out := PatchResultInfo{JobID: r.JobID, RunID: r.RunID, Host: r.Host, Round: r.Round, UpdateID: r.UpdateID, KB: r.KB, Title: r.Title,
		ResultCode: r.ResultCode, RebootRequired: r.RebootRequired, Message: r.Message, FinishedAt: r.FinishedAt}
	switch r.ResultCode {
	case scripts.ResultSucceeded, scripts.ResultSucceededWithErrors:
		out.Result = "installed"
	case scripts.ResultAborted:
		out.Result = "aborted"
	case scripts.ResultNotStarted:
		out.Result = "not-applicable"
	default:
		out.Result = "failed"
	}
	if r.HResult != 0 {
		h := DescribeHResult(r.HResult)
		out.HResult, out.Fix = h.String(), h.Fix
	}
	return out
}

// deviceView builds one device's view.
func (e *Engine) deviceView(ctx context.Context, d DeviceState) (PatchDeviceView, error) {
	p, err := e.readPicture(ctx, []DeviceState{d})
	if err != nil {
		return PatchDeviceView{}, err
	}
	v := PatchDeviceView{Host: p.hostRow(d), Updates: []PatchDeviceUpdate{}, Jobs: []PatchJobInfo{}, History: []PatchResultInfo{}}
	ups, states, err := e.db.DeviceUpdates(ctx, d.ID)
	if err != nil {
		return v, err
	}
	for i, u := range ups {
		du := PatchDeviceUpdate{PatchUpdateRow: updateRow(u, p.opts), State: PatchInstalled}
		if states[i] == store.PatchMissing {
			du.State, du.Reason = p.deviceState(d, u.UpdateID)
		}
		v.Updates = append(v.Updates, du)
	}
	slices.SortStableFunc(v.Updates, func(a, b PatchDeviceUpdate) int {
		return cmp.Compare(slices.Index(PatchStates(), a.State), slices.Index(PatchStates(), b.State))
	})
	jobs, err := e.db.PatchJobs(ctx, store.PatchJobFilter{DeviceID: d.ID, Limit: 10})
	if err != nil {
		return v, err
	}
	for _, j := range jobs {
		v.Jobs = append(v.Jobs, jobInfo(j))
	}
	hist, err := e.db.PatchResults(ctx, store.PatchResultFilter{DeviceID: d.ID, Limit: 50})
	if err != nil {
		return v, err
	}
	for _, r := range hist {
		v.History = append(v.History, resultInfo(r))
	}
	return v, nil
}

// PatchCompliance returns compliance by "site", "group", "ring" or
// "fleet" (one row), from the last scans: a device is compliant when its
// last scan worked and it misses no Security or Critical update (denied
// ones aside) and needs no restart. For reports.
func (e *Engine) PatchCompliance(ctx context.Context, by string) ([]ComplianceRow, error) {
	p, err := e.readPicture(ctx, nil)
	if err != nil {
		return nil, err
	}
	f := p.fleet()
	switch by {
	case "site":
		return f.BySite, nil
	case "group":
		return f.ByGroup, nil
	case "ring":
		return f.ByRing, nil
	}
	return []ComplianceRow{f.Compliance}, nil
}
