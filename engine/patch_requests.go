package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

// The requests of patch management. Scans and installs go through the
// same RBAC and audit as every request; approvals and denials are
// audited one row per request, naming every update and ring.

// ScanPatches scans devices now (Windows Update search over WinRM) and
// then applies the approval rules. A zero Target scans every device.
type ScanPatches struct {
	Target RunTarget
}

// everyDevice reports a target that names nothing: every device.
func everyDevice(t RunTarget) bool {
	return len(t.DeviceIDs) == 0 && len(t.Hosts) == 0 && t.Site == "" && t.Group == "" && t.Filter == ""
}

// Action implements Request.
func (ScanPatches) Action() string { return "patches.scan" }

// Permission implements Request.
func (ScanPatches) Permission() Permission { return PermDevicesPoll }

// Mutating implements Request: a scan writes what it found.
func (ScanPatches) Mutating() bool { return true }

// Targets implements Request.
func (r ScanPatches) Targets() []string {
	if everyDevice(r.Target) {
		return []string{"all devices"}
	}
	return []string{r.Target.String()}
}

// Details implements Request.
func (r ScanPatches) Details() map[string]any { return map[string]any{"target": r.Target} }

func (r ScanPatches) run(ctx context.Context, e *Engine, _ Identity) ([]PatchScanResult, error) {
	if err := e.Fatal(); err != nil {
		return nil, err
	}
	devs := e.Devices()
	if !everyDevice(r.Target) {
		var err error
		if devs, err = e.resolveTarget(ctx, r.Target); err != nil {
			return nil, fmt.Errorf("patch scan: %w", err)
		}
	}
	if len(devs) == 0 {
		return nil, fmt.Errorf("patch scan: %w", ErrNoTargets)
	}
	res := e.scanDevices(ctx, devs)
	if err := context.Cause(ctx); err != nil {
		return res, fmt.Errorf("patch scan: %w", err)
	}
	failed := 0
	for _, r := range res {
		if r.Error != "" {
			failed++
		}
	}
	if failed == len(res) {
		return res, fmt.Errorf("patch scan: every device failed (%s: %s)", res[0].Host, res[0].Error)
	}
	return res, nil
}

// ScanFleetPatches is the scheduled scan (schedules.patch_scan): every
// device not offline and not scanned within MaxAge.
type ScanFleetPatches struct{ MaxAge time.Duration }

// Action implements Request.
func (ScanFleetPatches) Action() string { return "patches.scan_fleet" }

// Permission implements Request.
func (ScanFleetPatches) Permission() Permission { return PermDevicesPoll }

// Mutating implements Request.
func (ScanFleetPatches) Mutating() bool { return true }

// Targets implements Request.
func (ScanFleetPatches) Targets() []string { return []string{"all devices"} }

// Details implements Request.
func (r ScanFleetPatches) Details() map[string]any {
	return map[string]any{"max_age": r.MaxAge.String()}
}

func (r ScanFleetPatches) run(ctx context.Context, e *Engine, _ Identity) (FleetPatchScan, error) {
	return e.scanFleet(ctx, r.MaxAge)
}

// ListPatches is the fleet's patch picture: updates by devices, hosts,
// compliance.
type ListPatches struct{}

// Action implements Request.
func (ListPatches) Action() string { return "patches.list" }

// Permission implements Request.
func (ListPatches) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (ListPatches) Mutating() bool { return false }

// Targets implements Request.
func (ListPatches) Targets() []string { return nil }

// Details implements Request.
func (ListPatches) Details() map[string]any { return nil }

func (ListPatches) run(ctx context.Context, e *Engine, _ Identity) (PatchFleet, error) {
	p, err := e.readPicture(ctx, nil)
	if err != nil {
		return PatchFleet{}, fmt.Errorf("patches: %w", err)
	}
	return p.fleet(), nil
}

// GetDevicePatches is one device's updates, jobs and history.
type GetDevicePatches struct{ Host string }

// Action implements Request.
func (GetDevicePatches) Action() string { return "patches.device" }

// Permission implements Request.
func (GetDevicePatches) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (GetDevicePatches) Mutating() bool { return false }

// Targets implements Request.
func (r GetDevicePatches) Targets() []string { return []string{r.Host} }

// Details implements Request.
func (GetDevicePatches) Details() map[string]any { return nil }

func (r GetDevicePatches) run(ctx context.Context, e *Engine, _ Identity) (PatchDeviceView, error) {
	devs, err := e.resolveTarget(ctx, RunTarget{Hosts: []string{r.Host}})
	if err != nil {
		return PatchDeviceView{}, fmt.Errorf("patches of %s: %w", r.Host, ErrUnknownDevice)
	}
	return e.deviceView(ctx, devs[0])
}

// GetPatchCompliance is compliance by site, group, ring or the fleet.
type GetPatchCompliance struct{ By string }

// Action implements Request.
func (GetPatchCompliance) Action() string { return "patches.compliance" }

// Permission implements Request.
func (GetPatchCompliance) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (GetPatchCompliance) Mutating() bool { return false }

// Targets implements Request.
func (GetPatchCompliance) Targets() []string { return nil }

// Details implements Request.
func (r GetPatchCompliance) Details() map[string]any { return map[string]any{"by": r.By} }

func (r GetPatchCompliance) run(ctx context.Context, e *Engine, _ Identity) ([]ComplianceRow, error) {
	switch r.By {
	case "", "fleet", "site", "group", "ring":
	default:
		return nil, fmt.Errorf("compliance by %q: want site, group, ring or fleet", r.By)
	}
	return e.PatchCompliance(ctx, r.By)
}

// ApprovePatches approves (or with Deny, denies) updates for a ring: the
// updates named by KB or UpdateID, or those matching Classification and
// Severity that some device of the ring misses. Every update named must
// be known to a scan, and none may be on the deny list to be approved;
// otherwise nothing is stored. A ring whose approve_role is Admin refuses
// an Operator; Override (approving past the ring's gate) needs Admin.
type ApprovePatches struct {
	Ring           string   // a ring name, or "*" for every ring ("" with one ring: that one)
	KBs            []string // KB numbers or UpdateIDs
	Classification string   // with no KBs: every missing update of this classification ...
	Severity       string   // ... and (optionally) this MSRC severity ("none" for none)
	Deny           bool
	Override       bool
	Note           string
}

// PatchDecision is one update's decision in an ApprovePatches answer.
type PatchDecision struct {
	UpdateID string `json:"update_id"`
	KB       string `json:"kb"`
	Title    string `json:"title"`
	Ring     string `json:"ring"`
	Decision string `json:"decision"`           // approved or denied
	Before   string `json:"before,omitempty"`   // the decision it replaced
	Effect   string `json:"effect,omitempty"`   // for approvals: "installable now" or why it waits (the ring's gate)
	Override bool   `json:"override,omitempty"` // approved past the ring's gate
}

// Action implements Request.
func (r ApprovePatches) Action() string {
	if r.Deny {
		return "patches.deny"
	}
	return "patches.approve"
}

// Permission implements Request.
func (r ApprovePatches) Permission() Permission { return PermPatchesApprove }

// Mutating implements Request.
func (ApprovePatches) Mutating() bool { return true }

// Targets implements Request.
func (r ApprovePatches) Targets() []string {
	if len(r.KBs) > 0 {
		return capTargets(slices.Clone(r.KBs))
	}
	return []string{strings.TrimSpace(r.Classification + " " + r.Severity)}
}

// Details implements Request.
func (r ApprovePatches) Details() map[string]any {
	return map[string]any{"ring": r.Ring, "kbs": r.KBs, "classification": r.Classification, "severity": r.Severity,
		"override": r.Override, "note": r.Note}
}

func (r ApprovePatches) run(ctx context.Context, e *Engine, id Identity) ([]PatchDecision, error) {
	o := e.patchOptions()
	ring := strings.TrimSpace(r.Ring)
	if ring == "" && len(o.Rings) == 1 {
		ring = o.Rings[0].Name
	}
	var rings []string
	switch {
	case ring == "":
		return nil, fmt.Errorf("%s: name a ring (%s) or * for every ring", r.Action(), strings.Join(o.RingNames(), ", "))
	case ring == AllRings:
		rings = []string{AllRings}
		for _, rg := range o.Rings {
			if !id.Role.Can(PermPatchesOverride) && rg.ApproveRole > id.Role {
				return nil, &DeniedError{Role: id.Role, Action: fmt.Sprintf("%s for ring %s (its approve_role is %s)", r.Action(), rg.Name, rg.ApproveRole)}
			}
		}
	default:
		rg := o.ring(ring)
		if rg == nil {
			return nil, fmt.Errorf("%s: ring %q is not one of %s", r.Action(), ring, strings.Join(o.RingNames(), ", "))
		}
		if rg.ApproveRole > id.Role {
			return nil, &DeniedError{Role: id.Role, Action: fmt.Sprintf("%s for ring %s (its approve_role is %s)", r.Action(), rg.Name, rg.ApproveRole)}
		}
		rings = []string{rg.Name}
	}
	if r.Override && !id.Role.Can(PermPatchesOverride) {
		return nil, &DeniedError{Role: id.Role, Action: r.Action() + " past a ring's gate (override)"}
	}
	if r.Override && r.Deny {
		return nil, fmt.Errorf("%s: override is for approvals", r.Action())
	}
	p, err := e.readPicture(ctx, nil)
	if err != nil {
		return nil, err
	}
	ups, err := r.selectUpdates(p, rings)
	if err != nil {
		return nil, err
	}
	decision := store.PatchApproved
	if r.Deny {
		decision = store.PatchDenied
	}
	now := time.Now().UTC()
	var rows []store.PatchApproval
	var out []PatchDecision
	for _, u := range ups {
		if !r.Deny && o.denied(u.KB) {
			return nil, fmt.Errorf("%s: %s is on the deny list (patches.deny in the config file): take it off there first", r.Action(), u.KB)
		}
		for _, rg := range rings {
			d := PatchDecision{UpdateID: u.UpdateID, KB: u.KB, Title: u.Title, Ring: rg, Decision: decision, Override: r.Override}
			if a, ok := p.book.decision(u.UpdateID, rg); ok {
				d.Before = a.Decision
			}
			if !r.Deny {
				d.Effect = "installable now"
				if g := p.gate(u.UpdateID, rg); rg != AllRings && !g.open && !r.Override {
					d.Effect = g.reason
				}
			}
			rows = append(rows, store.PatchApproval{UpdateID: u.UpdateID, Ring: rg, Decision: decision, Source: "manual",
				Override: r.Override, DecidedBy: id.User, DecidedAt: now, Note: r.Note})
			out = append(out, d)
		}
	}
	if err := e.db.SetPatchApprovals(context.WithoutCancel(ctx), rows); err != nil {
		return nil, err
	}
	return out, nil
}

// selectUpdates finds the updates an approval names.
func (r ApprovePatches) selectUpdates(p *patchPicture, rings []string) ([]store.PatchUpdate, error) {
	var out []store.PatchUpdate
	if len(r.KBs) > 0 {
		byKB := map[string][]store.PatchUpdate{}
		for _, u := range p.cat {
			byKB[strings.ToUpper(u.KB)] = append(byKB[strings.ToUpper(u.KB)], u)
		}
		var unknown []string
		for _, k := range r.KBs {
			k = strings.TrimSpace(k)
			if u, ok := p.cat[strings.ToLower(k)]; ok {
				out = append(out, u)
				continue
			}
			list := byKB[normalKB(k)]
			if len(list) == 0 || normalKB(k) == "" {
				unknown = append(unknown, k)
				continue
			}
			out = append(out, list...)
		}
		if len(unknown) > 0 {
			return nil, fmt.Errorf("%s: unknown update(s) %s: no scan has seen them (rmm patch list shows the known ones; scan first)",
				r.Action(), strings.Join(unknown, ", "))
		}
	} else {
		if r.Classification == "" {
			return nil, fmt.Errorf("%s: name the updates (KBs) or a classification", r.Action())
		}
		if scripts.ClassificationID(r.Classification) == "" {
			return nil, fmt.Errorf("%s: classification %q is not one of %s", r.Action(), r.Classification, strings.Join(scripts.Classifications(), ", "))
		}
		if r.Severity != "" && !slices.ContainsFunc(severities, func(s string) bool { return strings.EqualFold(s, r.Severity) }) {
			return nil, fmt.Errorf("%s: severity %q is not one of %s", r.Action(), r.Severity, strings.Join(severities, ", "))
		}
		inRing := func(dev int64) bool {
			return slices.Contains(rings, AllRings) || slices.ContainsFunc(rings, func(rg string) bool { return strings.EqualFold(rg, p.ring[dev]) })
		}
		seen := map[string]bool{}
		for dev, ids := range p.missing {
			if !inRing(dev) {
				continue
			}
			for _, id := range ids {
				u, ok := p.cat[id]
				sev := u.Severity
				if sev == "" {
					sev = "none"
				}
				if !ok || seen[id] || !strings.EqualFold(u.Classification, r.Classification) ||
					r.Severity != "" && !strings.EqualFold(sev, r.Severity) || (!r.Deny && p.opts.denied(u.KB)) {
					continue
				}
				seen[id] = true
				out = append(out, u)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s: no device of ring %s misses a %s update%s", r.Action(), strings.Join(rings, ","), r.Classification,
				map[bool]string{true: " of severity " + r.Severity, false: ""}[r.Severity != ""])
		}
	}
	slices.SortFunc(out, func(a, b store.PatchUpdate) int { return strings.Compare(a.KB+a.UpdateID, b.KB+b.UpdateID) })
	return slices.CompactFunc(out, func(a, b store.PatchUpdate) bool { return a.UpdateID == b.UpdateID }), nil
}

// AutoApprovePatches records what the approval rules approved (the
// engine sends it as the scheduler after scans; a front end has no use
// for it).
type AutoApprovePatches struct{ Approvals []store.PatchApproval }

// Action implements Request.
func (AutoApprovePatches) Action() string { return "patches.auto_approve" }

// Permission implements Request.
func (AutoApprovePatches) Permission() Permission { return PermConfigEdit }

// Mutating implements Request.
func (AutoApprovePatches) Mutating() bool { return true }

// Targets implements Request.
func (r AutoApprovePatches) Targets() []string {
	names := make([]string, 0, len(r.Approvals))
	for _, a := range r.Approvals {
		names = append(names, a.UpdateID+"@"+a.Ring)
	}
	return capTargets(names)
}

// Details implements Request.
func (r AutoApprovePatches) Details() map[string]any {
	rules := map[string]int{}
	for _, a := range r.Approvals {
		rules[a.Source]++
	}
	return map[string]any{"approvals": len(r.Approvals), "by_rule": rules}
}

func (r AutoApprovePatches) run(ctx context.Context, e *Engine, _ Identity) (int, error) {
	for _, a := range r.Approvals {
		if !strings.HasPrefix(a.Source, "rule:") || a.Decision != store.PatchApproved {
			return 0, errors.New("auto-approve records rule approvals only")
		}
	}
	return len(r.Approvals), e.db.SetPatchApprovals(context.WithoutCancel(ctx), r.Approvals)
}

// InstallPatches installs the approved missing updates on the target's
// devices: one job per device (patch_jobs.go). KBs limits it to those
// updates (each must be known to a scan). An offline device's job waits
// in the offline queue. A device with an unfinished job is left alone.
type InstallPatches struct {
	Target    RunTarget
	KBs       []string // KB numbers or UpdateIDs; none: every approved update
	RebootNow bool     // restart as soon as an install needs it, not in the maintenance window
	NoReboot  bool     // never restart: the restart is left pending
	MaxRounds int      // 0: patches.max_rounds
}

// PatchRunInfo is what InstallPatches answers: the jobs it made.
type PatchRunInfo struct {
	RunID string         `json:"run_id"`
	Jobs  []PatchJobInfo `json:"jobs"`
}

// Action implements Request.
func (InstallPatches) Action() string { return "patches.install" }

// Permission implements Request.
func (InstallPatches) Permission() Permission { return PermPatchesInstall }

// Mutating implements Request.
func (InstallPatches) Mutating() bool { return true }

// Targets implements Request.
func (r InstallPatches) Targets() []string { return []string{r.Target.String()} }

// Details implements Request.
func (r InstallPatches) Details() map[string]any {
	return map[string]any{"target": r.Target, "kbs": r.KBs, "reboot_now": r.RebootNow, "no_reboot": r.NoReboot, "max_rounds": r.MaxRounds}
}

func (r InstallPatches) run(ctx context.Context, e *Engine, id Identity) (PatchRunInfo, error) {
	if err := e.Fatal(); err != nil {
		return PatchRunInfo{}, err
	}
	o := e.patchOptions()
	if r.RebootNow && r.NoReboot {
		return PatchRunInfo{}, errors.New("patches.install: reboot now and no reboot contradict each other")
	}
	if r.MaxRounds < 0 || r.MaxRounds > 10 {
		return PatchRunInfo{}, fmt.Errorf("patches.install: max rounds %d is out of range 1..10", r.MaxRounds)
	}
	devs, err := e.resolveTarget(ctx, r.Target)
	if err != nil {
		return PatchRunInfo{}, fmt.Errorf("patches.install: %w", err)
	}
	var sel []string
	if len(r.KBs) > 0 {
		cat, err := e.db.PatchCatalog(ctx)
		if err != nil {
			return PatchRunInfo{}, err
		}
		var unknown []string
		for _, k := range r.KBs {
			k = strings.TrimSpace(k)
			if !slices.ContainsFunc(cat, func(u store.PatchUpdate) bool {
				return strings.EqualFold(u.KB, normalKB(k)) || strings.EqualFold(u.UpdateID, k)
			}) {
				unknown = append(unknown, k)
				continue
			}
			if validKB(normalKB(k)) {
				k = normalKB(k)
			}
			sel = append(sel, k)
		}
		if len(unknown) > 0 {
			return PatchRunInfo{}, fmt.Errorf("patches.install: unknown update(s) %s: no scan has seen them (rmm patch list shows the known ones)", strings.Join(unknown, ", "))
		}
	}
	reboot := RebootInWindow
	switch {
	case r.RebootNow:
		reboot = RebootNow
	case r.NoReboot:
		reboot = RebootNever
	}
	rounds := r.MaxRounds
	if rounds == 0 {
		rounds = o.MaxRounds
	}
	active, err := e.db.PatchJobs(ctx, store.PatchJobFilter{Active: true})
	if err != nil {
		return PatchRunInfo{}, err
	}
	busy := map[int64]int64{}
	for _, j := range active {
		busy[j.DeviceID] = j.ID
	}
	pic, err := e.readPicture(ctx, nil)
	if err != nil {
		return PatchRunInfo{}, err
	}
	now := time.Now().UTC()
	runID := newRunID(now)
	var jobs []store.PatchJob
	for _, d := range devs {
		j := store.PatchJob{RunID: runID, DeviceID: d.ID, Host: d.Hostname, KBs: sel, Reboot: reboot, MaxRounds: rounds, Round: 1,
			RequestedBy: id.User, RequestedAt: now, StateSince: now, NextAt: now, ExpiresAt: now.Add(o.QueueExpiry)}
		if other, ok := busy[d.ID]; ok {
			j.State, j.FinishedAt = store.JobCancelled, now
			j.Message = fmt.Sprintf("left alone: patch job %d is still running on this device", other)
			jobs = append(jobs, j)
			continue
		}
		ups, left := pic.installable(d, sel, nil)
		if len(ups) == 0 && reboot == RebootNow && pic.hostRow(d).NeedsReboot {
			// Reboot now with nothing left to install: the restart that
			// finishes what was installed, then a scan.
			j.State, j.Message = store.JobRebootWait, "a restart is pending: restarting now"
			jobs = append(jobs, j)
			continue
		}
		if len(ups) == 0 {
			j.State, j.FinishedAt = store.JobCompleted, now
			j.Message = "nothing to install"
			if len(left) > 0 {
				j.Message += ": " + strings.Join(left, ", ")
			} else if _, scanned := pic.scans[d.ID]; !scanned {
				j.Message += ": the device was never scanned (rmm patch scan)"
			} else {
				j.Message += ": no approved update is missing"
			}
			jobs = append(jobs, j)
			continue
		}
		j = roundUpdates(j, ups)
		j.State = store.JobStarting
		j.Message = fmt.Sprintf("round 1: %d update(s) to install", len(ups))
		if d.Status == StatusOffline {
			j.State = store.JobQueued
			j.NextAt = now.Add(time.Minute)
			j.Message = "queued: the device is offline; it installs when the device is back"
		}
		jobs = append(jobs, j)
	}
	ids, err := e.db.CreatePatchJobs(context.WithoutCancel(ctx), jobs)
	if err != nil {
		return PatchRunInfo{}, err
	}
	info := PatchRunInfo{RunID: runID, Jobs: make([]PatchJobInfo, len(jobs))}
	for i, j := range jobs {
		j.ID = ids[i]
		info.Jobs[i] = jobInfo(j)
		if j.FinishedAt.IsZero() {
			continue
		}
		result, ferr := store.AuditSuccess, error(nil)
		if j.State != store.JobCompleted {
			result, ferr = store.AuditFailure, errors.New(j.Message)
		}
		e.audit(context.WithoutCancel(ctx), id, patchEvent{event: "install.result", host: j.Host, details: map[string]any{
			"run": runID, "job": j.ID, "state": j.State, "message": j.Message, "requested_by": id.User}}, result, ferr)
	}
	e.kickPatches()
	return info, nil
}

// CancelPatches cancels unfinished jobs: of a run, of some hosts, or by
// id. A running task is stopped and removed by the job's next step (at
// once here when no driver runs in this process).
type CancelPatches struct {
	RunID  string
	Hosts  []string
	JobIDs []int64
}

// Action implements Request.
func (CancelPatches) Action() string { return "patches.cancel" }

// Permission implements Request.
func (CancelPatches) Permission() Permission { return PermPatchesInstall }

// Mutating implements Request.
func (CancelPatches) Mutating() bool { return true }

// Targets implements Request.
func (r CancelPatches) Targets() []string {
	switch {
	case r.RunID != "":
		return []string{"run " + r.RunID}
	case len(r.Hosts) > 0:
		return capTargets(slices.Clone(r.Hosts))
	}
	names := make([]string, len(r.JobIDs))
	for i, id := range r.JobIDs {
		names[i] = fmt.Sprintf("job %d", id)
	}
	return capTargets(names)
}

// Details implements Request.
func (r CancelPatches) Details() map[string]any {
	return map[string]any{"run": r.RunID, "hosts": r.Hosts, "jobs": r.JobIDs}
}

func (r CancelPatches) run(ctx context.Context, e *Engine, id Identity) ([]PatchJobInfo, error) {
	active, err := e.db.PatchJobs(ctx, store.PatchJobFilter{Active: true, RunID: r.RunID})
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, j := range active {
		switch {
		case len(r.JobIDs) > 0 && slices.Contains(r.JobIDs, j.ID),
			len(r.Hosts) > 0 && slices.ContainsFunc(r.Hosts, func(h string) bool { return strings.EqualFold(h, j.Host) }),
			len(r.JobIDs) == 0 && len(r.Hosts) == 0 && r.RunID != "":
			ids = append(ids, j.ID)
		}
	}
	if len(r.JobIDs) == 0 && len(r.Hosts) == 0 && r.RunID == "" {
		return nil, errors.New("patches.cancel: name a run, hosts or jobs")
	}
	if len(ids) == 0 {
		return nil, errors.New("patches.cancel: no unfinished job matches")
	}
	marked, err := e.db.RequestPatchJobCancel(context.WithoutCancel(ctx), ids, id.User, time.Now().UTC())
	if err != nil {
		return nil, err
	}
	e.patch.dmu.Lock()
	driving := e.patch.driving
	e.patch.dmu.Unlock()
	if driving {
		e.kickPatches()
	} else {
		e.stepDueJobs(context.WithoutCancel(ctx), r.RunID)
	}
	out := make([]PatchJobInfo, 0, len(marked))
	for _, jid := range marked {
		if j, err := e.db.PatchJob(ctx, jid); err == nil {
			out = append(out, jobInfo(j))
		}
	}
	return out, nil
}

// ListPatchJobs reads jobs (not their hosts: the driver does that).
type ListPatchJobs struct {
	RunID  string
	Host   string
	Active bool
	Limit  int
}

// Action implements Request.
func (ListPatchJobs) Action() string { return "patches.jobs" }

// Permission implements Request.
func (ListPatchJobs) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (ListPatchJobs) Mutating() bool { return false }

// Targets implements Request.
func (ListPatchJobs) Targets() []string { return nil }

// Details implements Request.
func (r ListPatchJobs) Details() map[string]any {
	return map[string]any{"run": r.RunID, "host": r.Host}
}

func (r ListPatchJobs) run(ctx context.Context, e *Engine, _ Identity) ([]PatchJobInfo, error) {
	f := store.PatchJobFilter{RunID: r.RunID, Active: r.Active, Limit: r.Limit}
	if r.Host != "" {
		devs, err := e.resolveTarget(ctx, RunTarget{Hosts: []string{r.Host}})
		if err != nil {
			return nil, fmt.Errorf("patch jobs of %s: %w", r.Host, ErrUnknownDevice)
		}
		f.DeviceID = devs[0].ID
	}
	jobs, err := e.db.PatchJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]PatchJobInfo, len(jobs))
	for i, j := range jobs {
		out[i] = jobInfo(j)
	}
	return out, nil
}

// DrivePatches steps the unfinished jobs (of one run when RunID is set):
// once, or until they finish with Wait. It is how a one-shot command
// moves jobs on when no console runs the driver. It returns the run's
// jobs as they are then.
type DrivePatches struct {
	RunID string
	Wait  bool
}

// Action implements Request.
func (DrivePatches) Action() string { return "patches.drive" }

// Permission implements Request.
func (DrivePatches) Permission() Permission { return PermPatchesInstall }

// Mutating implements Request.
func (DrivePatches) Mutating() bool { return true }

// Targets implements Request.
func (r DrivePatches) Targets() []string {
	if r.RunID == "" {
		return []string{"all unfinished patch jobs"}
	}
	return []string{"run " + r.RunID}
}

// Details implements Request.
func (r DrivePatches) Details() map[string]any { return map[string]any{"run": r.RunID, "wait": r.Wait} }

func (r DrivePatches) run(ctx context.Context, e *Engine, _ Identity) ([]PatchJobInfo, error) {
	for {
		e.stepDueJobs(ctx, r.RunID)
		jobs, err := e.db.PatchJobs(ctx, store.PatchJobFilter{RunID: r.RunID, Active: r.RunID == ""})
		if err != nil {
			return nil, err
		}
		out := make([]PatchJobInfo, len(jobs))
		open := false
		var next time.Time
		for i, j := range jobs {
			out[i] = jobInfo(j)
			if j.FinishedAt.IsZero() {
				open = true
				if next.IsZero() || j.NextAt.Before(next) {
					next = j.NextAt
				}
			}
		}
		if !r.Wait || !open {
			return out, nil
		}
		t := time.NewTimer(min(max(time.Until(next), 20*time.Millisecond), e.patchOptions().PollInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			return out, context.Cause(ctx)
		case <-t.C:
		}
	}
}

// PatchHistory reads updates' outcomes, newest first.
type PatchHistory struct {
	Host  string
	KB    string
	Since time.Time
	Limit int // 0: 200
}

// Action implements Request.
func (PatchHistory) Action() string { return "patches.history" }

// Permission implements Request.
func (PatchHistory) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (PatchHistory) Mutating() bool { return false }

// Targets implements Request.
func (PatchHistory) Targets() []string { return nil }

// Details implements Request.
func (r PatchHistory) Details() map[string]any { return map[string]any{"host": r.Host, "kb": r.KB} }

func (r PatchHistory) run(ctx context.Context, e *Engine, _ Identity) ([]PatchResultInfo, error) {
	f := store.PatchResultFilter{KB: r.KB, Since: r.Since, Limit: r.Limit}
	if f.Limit <= 0 {
		f.Limit = 200
	}
	if r.Host != "" {
		devs, err := e.resolveTarget(ctx, RunTarget{Hosts: []string{r.Host}})
		if err != nil {
			return nil, fmt.Errorf("patch history of %s: %w", r.Host, ErrUnknownDevice)
		}
		f.DeviceID = devs[0].ID
	}
	rs, err := e.db.PatchResults(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]PatchResultInfo, len(rs))
	for i, res := range rs {
		out[i] = resultInfo(res)
	}
	return out, nil
}
