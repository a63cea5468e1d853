package engine

// Patch management without an agent (../shared/research/anchors.md
// section 4). A scan is the `patches` inventory category: patch_scan asks
// the host's Windows Update Agent over the resident loop what it misses
// and has installed (the searcher is allowed from a remote session), and
// the engine stores the rows (store/patches.go) and the compliance facts.
// An install is a job per device (patch_jobs.go): patch_task places
// patch_install on the host and runs it as SYSTEM in a one-shot scheduled
// task, because the agent refuses its downloader and installer to remote
// callers (E_ACCESSDENIED); later steps read the task's progress file
// through the pool, restart the host inside its maintenance window, wait
// for servicing to settle, scan again and go round again. Approvals and
// rings are patch_policy.go; what the console and the CLI show is
// patch_view.go; the requests are patch_requests.go.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// InventoryPatches is the patch scan's inventory category; collect it
// with CollectInventory naming it, or ScanPatches.
const InventoryPatches = scripts.InventoryPatches

// patchBook is the engine's patch state: its options and the job driver.
type patchBook struct {
	mu   sync.RWMutex
	opts PatchOptions

	kick chan struct{} // wakes the driver
	// The driver, once started (StartPatchDriver): cancel ends it, done
	// is closed when it has.
	dmu     sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	driving bool
	// cameOnline are devices seen coming online, whose queued jobs the
	// driver makes due.
	cameOnline map[int64]bool
}

func newPatchBook(o PatchOptions, queueExpiry time.Duration) (*patchBook, error) {
	o, err := o.withDefaults(queueExpiry)
	if err != nil {
		return nil, err
	}
	return &patchBook{opts: o, kick: make(chan struct{}, 1), cameOnline: map[int64]bool{}}, nil
}

// patchOptions returns the patch options in effect.
func (e *Engine) patchOptions() PatchOptions {
	e.patch.mu.RLock()
	defer e.patch.mu.RUnlock()
	return e.patch.opts
}

// SetPatchOptions replaces the patch policy (a config reload): rings,
// rules, the deny list and the timings. Nothing is applied when it is
// invalid.
func (e *Engine) SetPatchOptions(o PatchOptions) error {
	o, err := o.withDefaults(e.actionOptions().QueueExpiry)
	if err != nil {
		return err
	}
	e.patch.mu.Lock()
	e.patch.opts = o
	e.patch.mu.Unlock()
	return nil
}

// PatchRings lists the configured rings, in order.
func (e *Engine) PatchRings() []string { return e.patchOptions().RingNames() }

// kickPatches wakes the job driver.
func (e *Engine) kickPatches() {
	select {
	case e.patch.kick <- struct{}{}:
	default:
	}
}

// patchDeviceOnline notes a device the engine sees coming online: its
// queued patch jobs are due (the offline queue's catch-up).
func (e *Engine) patchDeviceOnline(id int64) {
	e.patch.dmu.Lock()
	driving := e.patch.driving
	if driving {
		e.patch.cameOnline[id] = true
	}
	e.patch.dmu.Unlock()
	if driving {
		e.kickPatches()
	}
}

// --- scans ----------------------------------------------------------------

// storePatchScan stores what a scan found: the rows, the failure, and
// the compliance facts (missing security and critical updates, denied
// ones left out).
func (e *Engine) storePatchScan(ctx context.Context, d store.Device, s *scripts.PatchScan, at time.Time) error {
	row := store.PatchScan{DeviceID: d.ID, ScannedAt: at, OK: s.OK, HResult: s.HResult, Service: s.Service, Server: s.Server,
		LastSearchSuccess: s.LastSearchSuccess.Time, LastInstallSuccess: s.LastInstallSuccess.Time, RebootRequired: s.RebootRequired}
	if !s.OK {
		row.Error = s.Message
		if s.HResult != 0 {
			row.Error = DescribeHResult(s.HResult).String()
		}
		return e.db.PutPatchScan(ctx, row, nil, nil)
	}
	conv := func(list []scripts.Update) []store.PatchUpdate {
		out := make([]store.PatchUpdate, 0, len(list))
		for _, u := range list {
			out = append(out, store.PatchUpdate{UpdateID: u.UpdateID, KB: u.KB, Title: u.Title, Classification: u.Classification,
				Severity: u.Severity, SizeBytes: u.SizeBytes, RebootBehavior: u.RebootBehavior, ReleasedAt: u.ReleaseDate.Time})
		}
		return out
	}
	if err := e.db.PutPatchScan(ctx, row, conv(s.Missing), conv(s.Installed)); err != nil {
		return err
	}
	// Compliance facts for the health score.
	o := e.patchOptions()
	ring := ""
	if st, ok := e.deviceState(d.ID); ok {
		ring = o.ringOf(&st)
	}
	approvals, err := e.db.PatchApprovals(ctx)
	if err != nil {
		return err
	}
	book := newApprovalBook(approvals)
	var kbs []string
	for _, u := range s.Missing {
		if !u.IsSecurity() || o.denied(u.KB) {
			continue
		}
		if a, ok := book.decision(u.UpdateID, ring); ok && a.Decision == store.PatchDenied {
			continue
		}
		name := u.KB
		if name == "" {
			name = u.Title
		}
		kbs = append(kbs, name)
	}
	slices.Sort(kbs)
	kbs = slices.Compact(kbs)
	n := len(kbs)
	f := factUpdate{missingSecurity: &n, missingSecurityKBs: kbs}
	if s.RebootRequired {
		yes := true
		f.pendingReboot = &yes
	}
	if _, err := e.mergedFacts(ctx, d, f, at); err != nil {
		e.log.Warn("patch facts not applied", "device", d.Hostname, "err", err)
	} else if e.alerts != nil {
		if cur, ok := e.alerts.currentFacts(d.ID); ok {
			if err := e.saveFacts(ctx, d.ID, cur, at); err != nil {
				e.log.Warn("patch facts not saved", "device", d.Hostname, "err", err)
			}
		}
	}
	return nil
}

// scanError is a scan the host answered with a failure (the agent's
// HRESULT, or no FullLanguage): a device-class error naming it.
func scanError(d store.Device, s *scripts.PatchScan) error {
	msg := s.Message
	if s.HResult != 0 {
		msg = DescribeHResult(s.HResult).WithFix()
	}
	return &winrm.Error{Class: winrm.ClassDevice, Device: d.Hostname, Step: "windows update search", Err: errors.New(msg)}
}

// PatchScanResult is one device's scan in a ScanPatches answer.
type PatchScanResult struct {
	Host      string    `json:"host"`
	ScannedAt time.Time `json:"scanned_at"`
	Service   string    `json:"service"`
	Missing   int       `json:"missing"`
	Security  int       `json:"missing_security"`
	Installed int       `json:"installed"`
	Reboot    bool      `json:"reboot_required"`
	Error     string    `json:"error,omitempty"`
}

// scanDevices scans devices now, the throttle at a time, then applies
// the approval rules once. It returns each device's outcome in order.
func (e *Engine) scanDevices(ctx context.Context, devs []DeviceState) []PatchScanResult {
	out := make([]PatchScanResult, len(devs))
	p := pool.New().WithMaxGoroutines(e.options().Throttle).WithContext(ctx)
	for i, st := range devs {
		if stopScheduling(ctx, e.fatalC) {
			break
		}
		out[i].Host = st.Hostname
		p.Go(func(ctx context.Context) error {
			out[i] = e.scanOne(ctx, st.ID)
			return nil
		})
	}
	_ = p.Wait()
	if err := e.autoApprove(context.WithoutCancel(ctx), nil); err != nil {
		e.log.Warn("patch approval rules not applied", "err", err)
	}
	return out
}

// scanOne scans one device and summarises what it found.
func (e *Engine) scanOne(ctx context.Context, id int64) PatchScanResult {
	d, ok := e.device(id)
	if !ok {
		return PatchScanResult{Error: "device removed"}
	}
	res := PatchScanResult{Host: d.Hostname}
	doc, err := e.collectOne(ctx, d, InventoryPatches, true)
	if err != nil {
		res.Error = shortReason(err)
		return res
	}
	s, err := scripts.ParsePatchScan(doc.Data)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.ScannedAt, res.Service, res.Missing, res.Installed, res.Reboot = doc.CollectedAt, s.Service, len(s.Missing), len(s.Installed), s.RebootRequired
	for _, u := range s.Missing {
		if u.IsSecurity() {
			res.Security++
		}
	}
	return res
}

// FleetPatchScan summarises a scheduled scan of the fleet.
type FleetPatchScan struct {
	Devices    int            `json:"devices"`
	Scanned    int            `json:"scanned"`
	Fresh      int            `json:"fresh"`   // skipped: scanned within MaxAge
	Offline    int            `json:"offline"` // skipped: offline at the last poll
	Failed     int            `json:"failed"`
	Errors     map[string]int `json:"errors"` // by first line
	DurationMS int64          `json:"duration_ms"`
}

// scanFleet scans every device that is not offline and was not scanned
// within maxAge (0: all), the throttle at a time.
func (e *Engine) scanFleet(ctx context.Context, maxAge time.Duration) (FleetPatchScan, error) {
	start := time.Now()
	res := FleetPatchScan{Errors: map[string]int{}}
	ages, err := e.db.InventoryCollected(ctx, InventoryPatches)
	if err != nil {
		return res, err
	}
	states := e.Devices()
	res.Devices = len(states)
	var due []DeviceState
	for _, st := range states {
		switch at, ok := ages[st.ID]; {
		case st.Status == StatusOffline:
			res.Offline++
		case maxAge > 0 && ok && time.Since(at) < maxAge:
			res.Fresh++
		default:
			due = append(due, st)
		}
	}
	slices.SortFunc(due, func(a, b DeviceState) int { return strings.Compare(a.Site+"/"+a.Hostname, b.Site+"/"+b.Hostname) })
	for _, r := range e.scanDevices(ctx, due) {
		if r.Error != "" {
			res.Failed++
			res.Errors[firstLine(r.Error)]++
		} else if r.Host != "" {
			res.Scanned++
		}
	}
	res.DurationMS = time.Since(start).Milliseconds()
	if err := context.Cause(ctx); err != nil {
		return res, fmt.Errorf("patch scan: %w", err)
	}
	e.log.Info("fleet patch scan done", "scanned", res.Scanned, "fresh", res.Fresh, "offline", res.Offline, "failed", res.Failed,
		"took", time.Since(start).Round(time.Millisecond))
	return res, nil
}

// --- approval rules -----------------------------------------------------------

// autoApprove applies the approval rules: an update some device of a
// ring misses (of the device scanned, when one is named), with no
// decision for that ring yet, that a rule approves now, is approved for
// the ring, through AutoApprovePatches (audited as the scheduler).
// Nothing is written when there is nothing new.
func (e *Engine) autoApprove(ctx context.Context, only *DeviceState) error {
	o := e.patchOptions()
	if len(o.Rules) == 0 {
		return nil
	}
	cands, err := e.ruleCandidates(ctx, o, time.Now().UTC(), only)
	if err != nil || len(cands) == 0 {
		return err
	}
	_, err = e.Do(ctx, SystemIdentity(), AutoApprovePatches{Approvals: cands})
	return err
}

// ruleCandidates lists what the rules would approve now that is not
// decided yet.
func (e *Engine) ruleCandidates(ctx context.Context, o PatchOptions, at time.Time, only *DeviceState) ([]store.PatchApproval, error) {
	var missing []store.DevicePatch
	var cat []store.PatchUpdate
	rings := map[int64]string{}
	if only != nil {
		ids, err := e.db.DeviceMissing(ctx, only.ID)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			missing = append(missing, store.DevicePatch{DeviceID: only.ID, UpdateID: id, State: store.PatchMissing})
		}
		if cat, err = e.db.PatchCatalogOf(ctx, ids); err != nil {
			return nil, err
		}
		rings[only.ID] = o.ringOf(only)
	} else {
		var err error
		if cat, err = e.db.PatchCatalog(ctx); err != nil {
			return nil, err
		}
		if missing, err = e.db.DevicePatchRows(ctx, store.PatchMissing); err != nil {
			return nil, err
		}
		for _, st := range e.Devices() {
			rings[st.ID] = o.ringOf(&st)
		}
	}
	byID := make(map[string]store.PatchUpdate, len(cat))
	for _, u := range cat {
		byID[u.UpdateID] = u
	}
	approvals, err := e.db.PatchApprovals(ctx)
	if err != nil {
		return nil, err
	}
	book := newApprovalBook(approvals)
	type key struct{ update, ring string }
	seen := map[key]bool{}
	var out []store.PatchApproval
	for _, m := range missing {
		ring := rings[m.DeviceID]
		k := key{m.UpdateID, ring}
		if ring == "" || seen[k] {
			continue
		}
		seen[k] = true
		u, ok := byID[m.UpdateID]
		if !ok || o.denied(u.KB) {
			continue
		}
		if _, decided := book.decision(u.UpdateID, ring); decided {
			continue
		}
		for _, r := range o.Rules {
			if ok, _ := o.ruleApproves(r, u, ring, at); ok {
				out = append(out, store.PatchApproval{UpdateID: u.UpdateID, Ring: ring, Decision: store.PatchApproved,
					Source: "rule:" + r.Name, DecidedBy: SystemIdentity().User, DecidedAt: at})
				break
			}
		}
	}
	return out, nil
}

// --- for other parts of rmm --------------------------------------------------

// DeviceKBs returns the KBs a device's last patch scan found missing and
// installed (sorted, each once): the accessor for filters such as
// missing:KB5034441. Both are empty for a device never scanned.
func (e *Engine) DeviceKBs(ctx context.Context, deviceID int64) (missing, installed []string, err error) {
	return e.db.DeviceKBs(ctx, deviceID)
}

// DevicesWithKB returns the devices whose last patch scan found a KB
// missing, and those that found it installed (one query, for filtering a
// whole fleet by a KB).
func (e *Engine) DevicesWithKB(ctx context.Context, kb string) (missing, installed []int64, err error) {
	return e.db.DevicesWithKB(ctx, normalKB(kb))
}
