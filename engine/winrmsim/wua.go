package winrmsim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Windows Update Agent of each host: what a search (patch_scan)
// finds missing and installed, and what happens to the updates a
// scheduled task (patch_task, running patch_install) downloads and
// installs. A host's updates follow its release and its patch level:
//
//   - Each month's updates come out on Patch Tuesday (the second Tuesday,
//     10:00 Pacific): the cumulative update (Security Updates, reboot
//     required), the .NET Framework cumulative update (Security Updates,
//     may ask for a reboot), the Malicious Software Removal Tool (Update
//     Rollups), a non-security fix (Critical Updates), a servicing stack
//     update on Server 2016, a monthly rollup on 2012 R2. Defender's
//     security intelligence (Definition Updates) is new every day; the
//     Windows Security platform update (Updates) and vendor drivers
//     (Drivers, on workstations that use Windows Update) come now and
//     then. Windows 10 22H2 hosts also have KB5034441 (the WinRE update
//     of January 2024), which fails with 0x80070643 where the recovery
//     partition is too small, as it did on most machines.
//   - A host's patch level follows its last update (lastUpdate): it has
//     this month's cumulative update, or last month's, or the one before.
//     A host behind gets the .NET update only once the month's cumulative
//     update is installed and the host restarted (a second round), as
//     updates that need another first do.
//   - A few updates fail on some hosts with the HRESULT Windows gives:
//     0x800F0922 (cumulative update), 0x80073712 (.NET, a damaged
//     component store), 0x80070103 (drivers), 0x80070643 (KB5034441);
//     a host with the disk-full fault fails every download over 1 MB
//     with 0x80070070; a few WSUS-managed hosts cannot reach their WSUS
//     server and every search fails with 0x8024401C.
//   - WSUS-managed hosts (by seed, more servers than workstations) report
//     WSUS and its URL, and get no drivers.
//   - A German host reports classification names and titles in German;
//     the classifications' category GUIDs are the same everywhere.
//
// The downloader and the installer answer only a local caller: a script
// that calls them over WinRM gets E_ACCESSDENIED, as Windows refuses
// them to remote sessions. A task runs as patch_install says: it
// searches, then each update takes Config.PatchInstallTime (two fifths
// downloading, the rest installing) and its effect (installed, a restart
// pending) happens when it finishes. A restart or a shutdown kills the
// task where it is; after a restart with installs pending, Component
// Based Servicing reports ServicingInProgress 2 for Config.ServicingTime.

// DefaultPatchInstallTime is how long one update takes to download and
// install in a patch task.
const DefaultPatchInstallTime = 6 * time.Second

// DefaultServicingTime is how long Component Based Servicing stays busy
// (ServicingInProgress 2) after a restart that completes installs.
const DefaultServicingTime = 30 * time.Second

// patchScanCost is how many ScriptTimes a Windows Update search takes.
const patchScanCost = 8

// Update classifications: English name, category GUID, German name.
var wuClasses = map[string][2]string{
	"Critical Updates":   {"e6cf1350-c01b-414d-a61f-263d14d133b4", "Kritische Updates"},
	"Security Updates":   {"0fa1201d-4330-4fa8-8ae9-b877473b6441", "Sicherheitsupdates"},
	"Definition Updates": {"e0789628-ce08-4437-be74-2495b842f43b", "Definitionsupdates"},
	"Drivers":            {"ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0", "Treiber"},
	"Update Rollups":     {"28bc880e-0592-4cbf-8f95-c79b17911d5f", "Updaterollups"},
	"Updates":            {"cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83", "Updates"},
}

// HRESULTs the simulated Windows Update Agent and Task Scheduler answer.
const (
	hrAccessDenied      = 0x80070005 // E_ACCESSDENIED
	hrDiskFull          = 0x80070070 // ERROR_DISK_FULL
	hrNoMoreItems       = 0x80070103 // ERROR_NO_MORE_ITEMS: the driver is already there (or a better one)
	hrInstallFailure    = 0x80070643 // ERROR_INSTALL_FAILURE
	hrComponentStore    = 0x80073712 // ERROR_SXS_COMPONENT_STORE_CORRUPT
	hrInstallersFailed  = 0x800F0922 // CBS_E_INSTALLERS_FAILED
	hrOperationProgress = 0x80240009 // WU_E_OPERATIONINPROGRESS
	hrRequestTimeout    = 0x8024401C // WU_E_PT_HTTP_STATUS_REQUEST_TIMEOUT
	hrCancelled         = 0x800704C7 // ERROR_CANCELLED: what the simulator records for a task its host's restart killed
	schedTaskRunning    = 0x00041301 // SCHED_S_TASK_RUNNING
	schedTaskNotRun     = 0x00041303 // SCHED_S_TASK_HAS_NOT_RUN
	schedTaskTerminated = 0x00041306 // SCHED_S_TASK_TERMINATED
)

// wuKind is what an update is.
type wuKind int

const (
	wuCumulative wuKind = iota
	wuDotNet
	wuStack
	wuRollup
	wuMSRT
	wuCritical
	wuDefs
	wuPlatform
	wuDriver
	wuWinRE
)

// wuUpdate is one update as the Windows Update Agent describes it. Every
// host of a release shares them (the fleet's catalog).
type wuUpdate struct {
	id       string // UpdateID, a lower-case GUID
	kb       string // "KB5034441"
	title    string
	titleDE  string
	class    string // English classification
	severity string
	size     int64
	reboot   int // RebootBehavior: 0 never, 1 always, 2 can request
	released time.Time
	kind     wuKind
	cbs      bool // a Component Based Servicing package: Win32_QuickFixEngineering lists it
}

// wuCatalog is the fleet's updates by UpdateID, built as hosts ask.
type wuCatalog struct {
	mu sync.Mutex // a leaf lock
	m  map[string]*wuUpdate
}

func (c *wuCatalog) get(u wuUpdate) *wuUpdate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.m[u.id]; ok {
		return have
	}
	if c.m == nil {
		c.m = map[string]*wuUpdate{}
	}
	p := &u
	c.m[u.id] = p
	return p
}

// wuInstall is an update installed on a host.
type wuInstall struct {
	u       *wuUpdate
	at      time.Time
	pending bool // installed; the host has not restarted since
}

// wuOffer is an update a host lacks: offered by a search once what it
// requires is installed and the host restarted since.
type wuOffer struct {
	u        *wuUpdate
	requires string // UpdateID; "" for none
	fail     uint32 // the HRESULT its install fails with here; 0: it installs
	restart  bool   // RebootRequired after it installed
}

// wuHost is one host's Windows Update state, guarded by its hostState's
// mutex.
type wuHost struct {
	level      int // months behind: 0 has this month's cumulative update
	wsus       bool
	server     string
	scanFail   uint32 // every search fails with this HRESULT; 0: none
	offers     []wuOffer
	installed  []wuInstall // oldest first
	tasks      map[string]*wuTask
	servicing  time.Time // ServicingInProgress is 2 until then
	lastSearch time.Time
	lastInst   time.Time
}

// patchTuesday is the second Tuesday of a month, 10:00 Pacific (18:00
// UTC), when Microsoft releases its monthly updates.
func patchTuesday(y int, m time.Month) time.Time {
	first := time.Date(y, m, 1, 18, 0, 0, 0, time.UTC)
	return first.AddDate(0, 0, (int(time.Tuesday)-int(first.Weekday())+7)%7+7)
}

// releaseCycle is the Patch Tuesday `back` months before the latest one
// at or before t.
func releaseCycle(t time.Time, back int) time.Time {
	pt := patchTuesday(t.Year(), t.Month())
	if pt.After(t) {
		back++
	}
	y, m := t.Year(), t.Month()
	m -= time.Month(back)
	for m < 1 {
		m += 12
		y--
	}
	return patchTuesday(y, m)
}

// wuGUID makes a stable UpdateID from a key.
func wuGUID(key string) string {
	var h uint64 = 0xcbf29ce484222325
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 0x100000001b3
	}
	a, b := splitmix(h), splitmix(h^0x5bd1e995)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a>>32), uint16(a>>16), 0x4000|uint16(a)&0x0fff, 0x8000|uint16(b>>48)&0x3fff, b&0xffffffffffff)
}

// wuKB makes a stable KB number (5010000..5099999) from a key.
func wuKB(key string) string {
	var h uint64 = 0x811c9dc5
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 0x100000001b3
	}
	return "KB" + strconv.Itoa(5010000+int(splitmix(h)%90000))
}

// wuProduct is the release as update titles name it.
func (h *host) wuProduct() string {
	switch h.release.version {
	case "10.0.19045":
		return "Windows 10 Version 22H2 for x64-based Systems"
	case "10.0.22631":
		return "Windows 11 Version 23H2 for x64-based Systems"
	case "10.0.26100":
		if h.server {
			return "Microsoft server operating system version 24H2 for x64-based Systems"
		}
		return "Windows 11 Version 24H2 for x64-based Systems"
	case "10.0.14393":
		return "Windows Server 2016 for x64-based Systems"
	case "10.0.17763":
		return "Windows Server 2019 for x64-based Systems"
	case "10.0.20348":
		return "Microsoft server operating system version 21H2 for x64-based Systems"
	case "6.3.9600":
		return "Windows Server 2012 R2 for x64-based Systems"
	}
	return "Windows for x64-based Systems"
}

// germanTitle is a title in German, as a de-DE host's agent reports it.
func germanTitle(s string) string {
	return strings.NewReplacer(
		"Cumulative Update for", "Kumulatives Update für",
		"Security Update for", "Sicherheitsupdate für",
		"Servicing Stack Update for", "Wartungsstapelupdate für",
		"Update for", "Update für",
		"for x64-based Systems", "für x64-basierte Systeme",
		" and ", " und ",
	).Replace(s)
}

// monthly builds one of a release's monthly updates.
func (h *host) monthly(f *Fleet, kind wuKind, cycle time.Time) *wuUpdate {
	label := cycle.Format("2006-01")
	prod := h.wuProduct()
	key := h.release.version + "/" + strconv.FormatBool(h.server) + "/" + label + "/" + strconv.Itoa(int(kind))
	u := wuUpdate{id: wuGUID(key), kb: wuKB(key), released: cycle, kind: kind}
	switch kind {
	case wuCumulative:
		u.title = label + " Cumulative Update for " + prod + " (" + u.kb + ")"
		u.class, u.severity, u.reboot, u.cbs = "Security Updates", "Critical", 1, true
		u.size = 640<<20 + int64(splitmix(uint64(len(key)))%200)<<20
		if h.server2016() {
			u.size = 1600 << 20
		}
	case wuRollup:
		u.title = label + " Security Monthly Quality Rollup for " + prod + " (" + u.kb + ")"
		u.class, u.severity, u.reboot, u.cbs, u.size = "Security Updates", "Important", 1, true, 480<<20
	case wuDotNet:
		u.title = label + " Cumulative Update for .NET Framework 3.5, 4.8 and 4.8.1 for " + prod + " (" + u.kb + ")"
		u.class, u.severity, u.reboot, u.cbs, u.size = "Security Updates", "Important", 2, true, 72<<20
	case wuStack:
		u.title = label + " Servicing Stack Update for " + prod + " (" + u.kb + ")"
		u.class, u.severity, u.reboot, u.cbs, u.size = "Security Updates", "Critical", 0, true, 14<<20
	case wuMSRT:
		u.kb = "KB890830"
		n := (cycle.Year()-2020)*12 + int(cycle.Month()) + 70
		u.title = "Windows Malicious Software Removal Tool x64 - v5." + strconv.Itoa(n) + " (KB890830)"
		u.class, u.reboot, u.size = "Update Rollups", 0, 78<<20
		u.id = wuGUID("msrt/" + label)
	case wuCritical:
		u.title = label + " Update for " + prod + " (" + u.kb + ")"
		u.class, u.reboot, u.cbs, u.size = "Critical Updates", 2, true, 24<<20
	}
	u.titleDE = germanTitle(u.title)
	return f.wu.get(u)
}

// defs is Defender's security intelligence update of a day (days before
// the fleet's epoch).
func (f *Fleet) defs(daysBack int) *wuUpdate {
	day := f.epoch.AddDate(0, 0, -daysBack).Truncate(24 * time.Hour)
	v := 400 + int(day.Sub(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)).Hours()/24)
	title := "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1." + strconv.Itoa(v/100+410) +
		"." + strconv.Itoa(v%100*3+10) + ".0) - Current Channel (Broad)"
	u := wuUpdate{id: wuGUID("defs/" + day.Format("2006-01-02")), kb: "KB2267602", title: title, class: "Definition Updates",
		size: 900 << 10, released: day, kind: wuDefs}
	u.titleDE = title
	return f.wu.get(u)
}

// platform is the Windows Security platform update.
func (f *Fleet) platform(current bool) *wuUpdate {
	ver, when := "1.0.2411.1001", releaseCycle(f.epoch, 0).AddDate(0, 0, -6)
	if !current {
		ver, when = "1.0.2408.1005", releaseCycle(f.epoch, 3)
	}
	title := "Update for Windows Security platform - KB5007651 (Version " + ver + ")"
	u := wuUpdate{id: wuGUID("platform/" + ver), kb: "KB5007651", title: title, class: "Updates", size: 3 << 20,
		released: when, kind: wuPlatform}
	u.titleDE = germanTitle(title)
	return f.wu.get(u)
}

// drivers a workstation may be offered, by vendor.
var wuDrivers = map[string][]string{
	"dell":   {"Dell, Inc. - Firmware - 1.29.0", "Intel - System - 10.1.19444.8378", "Realtek Semiconductor Corp. - Extension - 11.0.6000.1144"},
	"hp":     {"HP Inc. - Firmware - 2.12.0.0", "Intel - System - 10.1.19444.8378", "Realtek Semiconductor Corp. - MEDIA - 6.0.9549.1"},
	"lenovo": {"Lenovo - Firmware - 1.57.0.0", "Intel - net - 23.20.0.4", "Realtek Semiconductor Corp. - Extension - 11.0.6000.1144"},
}

func (f *Fleet) driver(name string) *wuUpdate {
	u := wuUpdate{id: wuGUID("driver/" + name), title: name, titleDE: name, class: "Drivers", reboot: 2, size: 2 << 20,
		released: releaseCycle(f.epoch, 1).AddDate(0, 0, 9), kind: wuDriver}
	return f.wu.get(u)
}

// winRE is KB5034441, the Windows Recovery Environment update of January
// 2024 for Windows 10 22H2.
func (f *Fleet) winRE() *wuUpdate {
	title := "2024-01 Security Update for Windows 10 Version 22H2 for x64-based Systems (KB5034441)"
	u := wuUpdate{id: wuGUID("KB5034441"), kb: "KB5034441", title: title, titleDE: germanTitle(title), class: "Security Updates",
		severity: "Important", reboot: 1, size: 274 << 20, released: patchTuesday(2024, time.January), kind: wuWinRE, cbs: true}
	return f.wu.get(u)
}

// wuLocked returns the host's Windows Update state, built from its seed
// and release the first time. h.hs().mu must be held.
func (h *host) wuLocked(f *Fleet) *wuHost {
	st := h.stateLocked()
	if st.wu != nil {
		return st.wu
	}
	w := &wuHost{tasks: map[string]*wuTask{}}
	st.wu = w
	r := h.rngFor(0x5715)
	last := h.lastUpdate(f.epoch)
	switch {
	case !last.Before(releaseCycle(f.epoch, 0)):
		w.level = 0
	case !last.Before(releaseCycle(f.epoch, 1)):
		w.level = 1
	default:
		w.level = 2
	}
	switch {
	case h.forcedLevel >= 0:
		w.level = h.forcedLevel
	case f.cfg.PatchBehind > 0:
		w.level = f.cfg.PatchBehind
	}
	wsusPct := 25
	if h.server {
		wsusPct = 45
	}
	if r.IntN(100) < wsusPct {
		w.wsus = true
		w.server = "http://wsus." + h.site + ".corp.example:8530"
		if r.IntN(100) < 5 {
			w.scanFail = hrRequestTimeout
		}
	}
	h.buildUpdatesLocked(f, w, r, last)
	w.lastSearch = last.Add(time.Duration(r.IntN(20)) * time.Hour)
	w.lastInst = last
	return w
}

// buildUpdatesLocked fills the host's offers and installed history.
func (h *host) buildUpdatesLocked(f *Fleet, w *wuHost, r *rand.Rand, last time.Time) {
	legacy := h.hp.legacy
	have := releaseCycle(f.epoch, w.level)
	installAt := func(c time.Time) time.Time {
		at := c.Add(time.Duration(24+r.IntN(96)) * time.Hour)
		if at.After(f.epoch) {
			at = f.epoch.Add(-time.Hour)
		}
		return at
	}
	inst := func(u *wuUpdate, at time.Time) { w.installed = append(w.installed, wuInstall{u: u, at: at}) }
	offer := func(u *wuUpdate, requires string, fail uint32, restart bool) {
		w.offers = append(w.offers, wuOffer{u: u, requires: requires, fail: fail, restart: restart})
	}
	lcuKind := wuCumulative
	if legacy {
		lcuKind = wuRollup
	}
	at := installAt(have)
	if !last.IsZero() && last.After(have) && !last.After(f.epoch) {
		at = last
	}
	// What the host has: its level's cumulative update and what came with it.
	if h.server2016() {
		inst(h.monthly(f, wuStack, have), at.Add(-time.Hour))
	}
	inst(h.monthly(f, lcuKind, have), at)
	netMissing := w.level == 0 && r.IntN(100) < 30
	if w.level > 0 || !netMissing {
		inst(h.monthly(f, wuDotNet, have), at)
	}
	inst(h.monthly(f, wuMSRT, have), at)
	if h.hasDefender() {
		inst(f.defs(1+r.IntN(3)), f.epoch.Add(-time.Duration(20+r.IntN(60))*time.Hour))
	}
	winRE := h.release.version == "10.0.19045" && !h.server
	winREMissing := winRE && r.IntN(100) < 65
	if winRE && !winREMissing {
		inst(f.winRE(), patchTuesday(2024, time.January).AddDate(0, 0, 3+r.IntN(20)))
	}
	platformMissing := !legacy && !h.server2016() && r.IntN(100) < 50
	if !legacy && !h.server2016() {
		inst(f.platform(false), releaseCycle(f.epoch, 3).AddDate(0, 0, 2))
	}
	if !platformMissing && !legacy && !h.server2016() {
		inst(f.platform(true), releaseCycle(f.epoch, 0).AddDate(0, 0, -5))
	}
	slices.SortStableFunc(w.installed, func(a, b wuInstall) int { return a.at.Compare(b.at) })

	// What it lacks, in the order a search lists them.
	cur := releaseCycle(f.epoch, 0)
	if w.level > 0 {
		if h.server2016() {
			offer(h.monthly(f, wuStack, cur), "", 0, false)
		}
		lcu := h.monthly(f, lcuKind, cur)
		var fail uint32
		if r.IntN(100) < 2 {
			fail = hrInstallersFailed
		}
		offer(lcu, "", fail, true)
		netFail := uint32(0)
		if r.IntN(100) < 3 {
			netFail = hrComponentStore
		}
		// The month's .NET update needs its cumulative update and a
		// restart first: a second round.
		offer(h.monthly(f, wuDotNet, cur), lcu.id, netFail, r.IntN(100) < 50)
		offer(h.monthly(f, wuMSRT, cur), "", 0, false)
	} else if netMissing {
		var fail uint32
		if r.IntN(100) < 3 {
			fail = hrComponentStore
		}
		offer(h.monthly(f, wuDotNet, cur), "", fail, r.IntN(100) < 50)
	}
	if !legacy && (w.level > 0 || r.IntN(100) < 30) {
		offer(h.monthly(f, wuCritical, cur), "", 0, r.IntN(100) < 30)
	}
	if h.hasDefender() && r.IntN(100) < 80 {
		offer(f.defs(0), "", 0, false)
	}
	if platformMissing {
		offer(f.platform(true), "", 0, false)
	}
	if winREMissing {
		offer(f.winRE(), "", hrInstallFailure, true)
	}
	if !h.server && !w.wsus && r.IntN(100) < 40 {
		if list := wuDrivers[h.vendor().short]; len(list) > 0 {
			var fail uint32
			if r.IntN(100) < 30 {
				fail = hrNoMoreItems
			}
			offer(f.driver(list[r.IntN(len(list))]), "", fail, r.IntN(100) < 30)
		}
	}
}

// installedLocked finds an installed update by id.
func (w *wuHost) installedLocked(id string) (wuInstall, bool) {
	for _, in := range w.installed {
		if in.u.id == id {
			return in, true
		}
	}
	return wuInstall{}, false
}

// missingLocked is what a search finds missing now: the offers not
// installed whose prerequisite is installed and followed by a restart.
func (w *wuHost) missingLocked() []wuOffer {
	var out []wuOffer
	for _, o := range w.offers {
		if _, ok := w.installedLocked(o.u.id); ok {
			continue
		}
		if o.requires != "" {
			if in, ok := w.installedLocked(o.requires); !ok || in.pending {
				continue
			}
		}
		out = append(out, o)
	}
	return out
}

// offerLocked finds a missing update by id.
func (w *wuHost) offerLocked(id string) (wuOffer, bool) {
	for _, o := range w.missingLocked() {
		if o.u.id == id {
			return o, true
		}
	}
	return wuOffer{}, false
}

// restartPendingLocked reports an install waiting for a restart.
func (w *wuHost) restartPendingLocked() bool {
	for _, in := range w.installed {
		if in.pending {
			return true
		}
	}
	return false
}

// updateRow is an update as patch_scan prints it.
func (h *host) updateRow(u *wuUpdate) obj {
	cls := wuClasses[u.class]
	name, title := u.class, u.title
	if h.hp.german {
		name, title = cls[1], u.titleDE
	}
	var kb string
	if u.kb != "" {
		kb = u.kb
	}
	return obj{{"update_id", u.id}, {"revision", 200 + int(splitmix(uint64(len(u.id)+len(u.title)))%300)}, {"kb", kb},
		{"title", title}, {"classification_id", cls[0]}, {"classification", name}, {"severity", u.severity},
		{"size_bytes", u.size}, {"reboot_behavior", u.reboot}, {"release_date", u.released.Format("2006-01-02")},
		{"downloaded", false}}
}

// wuTime is how the patch scripts print a UTC time.
func wuTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// scanDoc is patch_scan's document at instant at.
func (h *host) scanDoc(f *Fleet, at time.Time) obj {
	st := h.hs()
	st.mu.Lock()
	defer st.mu.Unlock()
	w := h.wuLocked(f)
	h.advanceLocked(w, at)
	if w.scanFail != 0 {
		return obj{{"ok", false}, {"message", fmt.Sprintf("Exception from HRESULT: 0x%08X", w.scanFail)},
			{"hresult", hresult64(w.scanFail)}, {"service", "WSUS"}, {"server", w.server},
			{"last_search_success", wuTime(w.lastSearch)}, {"last_install_success", wuTime(w.lastInst)},
			{"reboot_required", w.restartPendingLocked()}, {"missing", []obj{}}, {"installed", []obj{}}}
	}
	w.lastSearch = at
	missing := []obj{}
	for _, o := range w.missingLocked() {
		missing = append(missing, h.updateRow(o.u))
	}
	installed := []obj{}
	for _, in := range w.installed {
		if in.u.kind != wuDriver {
			installed = append(installed, h.updateRow(in.u))
		}
	}
	service := "Windows Update"
	if w.wsus {
		service = "WSUS"
	} else if h.server || h.seed%2 == 0 {
		service = "Microsoft Update"
	}
	return obj{{"ok", true}, {"message", ""}, {"hresult", 0}, {"service", service}, {"server", w.server},
		{"last_search_success", wuTime(w.lastSearch)}, {"last_install_success", wuTime(w.lastInst)},
		{"reboot_required", w.restartPendingLocked()}, {"missing", missing}, {"installed", installed}}
}

// --- tasks -------------------------------------------------------------------

// wuTask is a scheduled task registered by patch_task.
type wuTask struct {
	name       string
	script     string // the placed script's path
	progress   string // its progress file's path
	job        string
	ids        []string
	registered time.Time
	ran        time.Time // Run started it (the Task Scheduler's last run time); zero: never ran
	started    time.Time // the script started (powershell.exe up), a moment after ran
	stopped    time.Time // stopped (cancel) or killed (restart, shutdown); zero: not
	killed     bool      // by a restart or shutdown, not by Stop
	plan       []wuStep  // what each update does, fixed when it starts
	search     time.Duration
	applied    int  // steps whose effect is on the host
	reboot     bool // an update it installed waits for a restart
	silent     bool // it ran a script the simulator does not know: nothing written
}

// wuStep is one update's course in a task.
type wuStep struct {
	id, kb, title  string
	start, dl, end time.Time // download starts, download ends (install starts), done
	download       int       // download ResultCode
	result         int       // install ResultCode (0 when not applicable)
	hresult        uint32
	restart        bool
	message        string
	offer          wuOffer
}

// finish is when the task ends on its own.
func (t *wuTask) finish() time.Time {
	if len(t.plan) == 0 {
		return t.started.Add(t.search)
	}
	return t.plan[len(t.plan)-1].end
}

// cutoff is the last instant the task ran, up to at.
func (t *wuTask) cutoff(at time.Time) time.Time {
	if !t.stopped.IsZero() && t.stopped.Before(at) {
		return t.stopped
	}
	return at
}

// runningAt reports a task that runs at at.
func (t *wuTask) runningAt(at time.Time) bool {
	return !t.ran.IsZero() && !at.Before(t.ran) && at.Before(t.finish()) && (t.stopped.IsZero() || at.Before(t.stopped))
}

// planLocked fixes what each update of a task does, from the host's
// state when the task searches.
func (h *host) planLocked(f *Fleet, w *wuHost, t *wuTask, busy bool) {
	per := f.cfg.PatchInstallTime
	dlTime := per * 2 / 5
	now := t.started.Add(t.search)
	diskFull := h.fault() == FaultDiskFull
	for _, id := range t.ids {
		s := wuStep{id: id, start: now, dl: now, end: now}
		o, ok := w.offerLocked(id)
		if !ok {
			s.message = "not applicable: the search no longer returns it (installed since, superseded or hidden)"
			t.plan = append(t.plan, s)
			continue
		}
		s.offer = o
		s.kb, s.title = o.u.kb, o.u.title
		if h.hp.german {
			s.title = o.u.titleDE
		}
		switch {
		case busy:
			s.download, s.result, s.hresult = 2, 4, hrOperationProgress
			s.dl, s.end = now, now
		case diskFull && o.u.size > 1<<20:
			s.download, s.result, s.hresult, s.message = 4, 4, hrDiskFull, "download failed"
			s.dl = now.Add(dlTime)
			s.end = s.dl
		default:
			s.download = 2
			s.dl = now.Add(dlTime)
			s.end = now.Add(per)
			if o.fail != 0 {
				s.result, s.hresult = 4, o.fail
			} else {
				s.result = 2
				s.restart = o.restart || o.u.reboot == 1
			}
		}
		now = s.end
		t.plan = append(t.plan, s)
	}
}

// advanceLocked applies what the host's tasks finished up to at.
func (h *host) advanceLocked(w *wuHost, at time.Time) {
	st := h.hs()
	for _, t := range w.tasks {
		if t.started.IsZero() || at.Before(t.started) {
			continue
		}
		cut := t.cutoff(at)
		for t.applied < len(t.plan) && !t.plan[t.applied].end.After(cut) {
			s := t.plan[t.applied]
			t.applied++
			if s.result != 2 {
				continue
			}
			w.installed = append(w.installed, wuInstall{u: s.offer.u, at: s.end, pending: s.restart})
			w.lastInst = s.end
			if s.restart {
				t.reboot = true
				if st.pending.IsZero() {
					st.pending = s.end.Truncate(time.Second)
				}
			}
		}
	}
}

// downLocked kills the tasks running at at: the host is going down.
func (w *wuHost) downLocked(at time.Time) {
	for _, t := range w.tasks {
		if t.runningAt(at) {
			t.stopped, t.killed = at, true
		}
	}
}

// wuBootLocked applies a restart at at: tasks that ran are dead, installs
// that waited for it are complete, and servicing is busy for a while
// when there were any.
func (h *host) wuBootLocked(at time.Time, servicing time.Duration) {
	st := h.hs()
	w := st.wu
	if w == nil {
		return
	}
	h.advanceLocked(w, at)
	w.downLocked(at)
	pending := false
	for i := range w.installed {
		if w.installed[i].pending {
			w.installed[i].pending = false
			pending = true
		}
	}
	if pending {
		w.servicing = at.Add(servicing)
	}
}

// wuDown is called when the host goes down (a restart or shutdown that
// takes a moment): its running tasks die there.
func (h *host) wuDown(at time.Time) {
	st := h.hs()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.wu == nil {
		return
	}
	h.advanceLocked(st.wu, at)
	st.wu.downLocked(at)
}

// progressDoc is what the task's progress file holds at at ("" when the
// script has not written it yet), as patch_install writes it.
func (h *host) progressDoc(t *wuTask, at time.Time) string {
	if t.started.IsZero() || at.Before(t.started) || t.silent || !t.stopped.IsZero() && t.stopped.Before(t.started) {
		return ""
	}
	cut := t.cutoff(at)
	state, phase := "running", "searching"
	current, kb, updated := 0, "", t.started
	var rows []obj
	reboot := false
	for i, s := range t.plan {
		if s.start.After(cut) {
			break
		}
		if s.end.After(cut) {
			// In progress: downloading, then installing once the
			// download ended (each phase starts with a write).
			current, kb, phase, updated = i+1, s.kb, "downloading", s.start
			if !cut.Before(s.dl) {
				phase, updated = "installing", s.dl
			}
			break
		}
		if s.offer.u != nil {
			current, kb = i+1, s.kb
		}
		updated = s.end
		if s.restart {
			reboot = true
		}
		hr := hresult64(s.hresult)
		rows = append(rows, obj{{"update_id", s.id}, {"kb", s.kb}, {"title", s.title}, {"download_result", s.download},
			{"result_code", s.result}, {"hresult", hr}, {"reboot_required", s.restart}, {"message", s.message}})
	}
	finished := ""
	if !t.finish().After(cut) && (t.stopped.IsZero() || t.finish().Before(t.stopped) || t.finish().Equal(t.stopped)) {
		state, phase, updated = "done", "done", t.finish()
		finished = wuTime(t.finish())
		if h.hs().wu.restartPendingLocked() {
			reboot = true
		}
	}
	percent := 0
	if len(t.plan) > 0 {
		percent = 100 * len(rows) / len(t.plan)
	}
	if rows == nil {
		rows = []obj{}
	}
	doc := obj{{"job", t.job}, {"state", state}, {"phase", phase}, {"current", current}, {"total", len(t.ids)}, {"kb", kb},
		{"percent", percent}, {"started", wuTime(t.started)}, {"updated", wuTime(updated)}, {"finished", finished},
		{"reboot_required", reboot}, {"hresult", 0}, {"message", ""}, {"updates", rows}}
	b, err := doc.MarshalJSON()
	if err != nil {
		panic(fmt.Sprintf("winrmsim: progress document: %v", err)) // every value marshals; a bug
	}
	return "\ufeff" + string(b) + "\r\n" // Set-Content -Encoding UTF8 writes a BOM
}

// taskStateLocked is patch_task's view of one task and the host at at.
func (h *host) taskStateLocked(f *Fleet, m *machine, name, progress string, at time.Time) obj {
	st := h.hs()
	w := h.wuLocked(f)
	h.advanceLocked(w, at)
	exists, state, lastRun, lastResult := false, 0, "", int64(0)
	text := ""
	if t, ok := w.tasks[strings.ToLower(name)]; ok {
		exists = true
		state = 3
		switch {
		case t.ran.IsZero() || at.Before(t.ran):
			lastResult = schedTaskNotRun
		case t.runningAt(at):
			state, lastRun, lastResult = 4, wuTime(t.ran), schedTaskRunning
		case t.killed:
			lastRun, lastResult = wuTime(t.ran), hresult64(hrCancelled)
		case !t.stopped.IsZero() && t.stopped.Before(t.finish()):
			lastRun, lastResult = wuTime(t.ran), schedTaskTerminated
		default:
			lastRun = wuTime(t.ran)
		}
		if strings.EqualFold(t.progress, progress) {
			text = h.progressDoc(t, at)
		}
	}
	if text == "" && progress != "" {
		if vf := st.files[strings.ToLower(progress)]; vf != nil {
			text = string(vf.data)
		}
	}
	servicing := 0
	switch {
	case at.Before(w.servicing):
		servicing = 2
	case w.restartPendingLocked():
		servicing = 1
	}
	return obj{{"exists", exists}, {"state", state}, {"last_run", lastRun}, {"last_result", lastResult},
		{"progress", text}, {"progress_error", ""}, {"last_boot", wuTime(m.lastBoot)}, {"servicing", servicing},
		{"reboot_pending", !st.pending.IsZero()}}
}

// patchTaskReply answers patch_task v1 (see engine/scripts/patch_task.ps1).
func (p *psProcess) patchTaskReply(at time.Time, params map[string]string) actionReply {
	h, f := p.m.h, p.m.fleet
	op, name, dir := params["op"], params["task"], params["dir"]
	var scriptPath, progress string
	if dir != "" {
		scriptPath = strings.TrimRight(dir, `\`) + `\` + params["file"]
		progress = strings.TrimRight(dir, `\`) + `\` + params["progress"]
	}
	st := h.hs()
	st.mu.Lock()
	defer st.mu.Unlock()
	w := h.wuLocked(f)
	switch op {
	case "start":
		if !validFilePath(scriptPath) || !validFilePath(progress) {
			return failReply(fmt.Sprintf("The given path's format is not supported: '%s'", scriptPath))
		}
		body := params["script"]
		if h.fault() == FaultDiskFull && int64(len(body)) > 64<<10 {
			return failReply("There is not enough space on the disk.")
		}
		mk := scriptMarker.FindStringSubmatch(body)
		installParams, perr := actionParams(body)
		st.setFileLocked(scriptPath, []byte("\ufeff"+body+"\r\n"), at)
		delete(st.files, strings.ToLower(progress))
		key := strings.ToLower(name)
		if old, ok := w.tasks[key]; ok && old.runningAt(at) {
			// RegisterTaskDefinition with TASK_CREATE_OR_UPDATE over a
			// running task: the running instance goes on; Run then
			// starts nothing (MultipleInstances IgnoreNew).
			return okReply("Task "+name+" registered and started", h.taskStateLocked(f, p.m, name, progress, at))
		}
		t := &wuTask{name: name, script: scriptPath, progress: progress, job: params["job"], registered: at,
			search: patchScanCost * f.cfg.ScriptTime}
		w.tasks[key] = t
		if mk == nil || mk[1] != "patch_install" || mk[2] != "1" || perr != nil {
			// powershell.exe -File runs something the simulator does not
			// know: it ends at once, with nothing written.
			t.ran, t.started, t.stopped, t.silent = at, at, at, true
			return okReply("Task "+name+" registered and started", h.taskStateLocked(f, p.m, name, progress, at))
		}
		t.job = installParams["job"]
		for _, id := range strings.Split(installParams["update_ids"], ",") {
			if id = strings.ToLower(strings.TrimSpace(id)); id != "" {
				t.ids = append(t.ids, id)
			}
		}
		if !strings.EqualFold(installParams["progress"], progress) {
			t.progress = installParams["progress"]
		}
		if h.fault() != FaultTaskStuck {
			t.ran = at
			t.started = at.Add(500 * time.Millisecond) // the Task Scheduler starts powershell.exe
			busy := false
			for _, o := range w.tasks {
				if o != t && o.runningAt(t.started) {
					busy = true
				}
			}
			h.planLocked(f, w, t, busy)
		}
		return okReply("Task "+name+" registered and started", h.taskStateLocked(f, p.m, name, progress, at))
	case "poll":
		return okReply("Task "+name+" read", h.taskStateLocked(f, p.m, name, progress, at))
	case "cancel":
		h.advanceLocked(w, at)
		if t, ok := w.tasks[strings.ToLower(name)]; ok && t.runningAt(at) {
			t.stopped = at
		}
		return okReply("Task "+name+" stopped", h.taskStateLocked(f, p.m, name, progress, at))
	case "cleanup":
		h.advanceLocked(w, at)
		if t, ok := w.tasks[strings.ToLower(name)]; ok {
			if t.runningAt(at) {
				t.stopped = at // DeleteTask of a running task stops it
			}
			delete(w.tasks, strings.ToLower(name))
		}
		for _, path := range []string{scriptPath, progress, progress + ".tmp"} {
			delete(st.files, strings.ToLower(path))
		}
		return okReply("Task "+name+" removed", nil)
	}
	return failReply(fmt.Sprintf("op '%s' is not one of start, poll, cancel, cleanup", op))
}

// setFileLocked writes a file on the host's virtual disk.
func (st *hostState) setFileLocked(path string, data []byte, at time.Time) {
	if st.files == nil {
		st.files = make(map[string]*vfile)
	}
	st.files[strings.ToLower(path)] = &vfile{path: path, data: data, at: at}
}

// accessDenied is the message of a WUA call Windows refuses to a remote
// caller.
func accessDenied(method string) string {
	return fmt.Sprintf(`Exception calling "%s" with "0" argument(s): "Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"`, method)
}

// installRemotely is patch_install run over WinRM instead of in a task:
// the search works, and every update fails at CreateUpdateDownloader (or
// CreateUpdateInstaller when it is downloaded already) with
// E_ACCESSDENIED, written to the progress file as the script writes it.
func (p *psProcess) installRemotely(at time.Time, params map[string]string) {
	h, f := p.m.h, p.m.fleet
	st := h.hs()
	st.mu.Lock()
	defer st.mu.Unlock()
	w := h.wuLocked(f)
	h.advanceLocked(w, at)
	var rows []obj
	for _, id := range strings.Split(params["update_ids"], ",") {
		id = strings.ToLower(strings.TrimSpace(id))
		if id == "" {
			continue
		}
		row := obj{{"update_id", id}}
		if o, ok := w.offerLocked(id); ok {
			title := o.u.title
			if h.hp.german {
				title = o.u.titleDE
			}
			row = append(row, kv{"kb", o.u.kb}, kv{"title", title}, kv{"download_result", 2}, kv{"result_code", 4},
				kv{"hresult", hresult64(hrAccessDenied)}, kv{"reboot_required", false}, kv{"message", accessDenied("CreateUpdateDownloader")})
		} else {
			row = append(row, kv{"kb", ""}, kv{"title", ""}, kv{"download_result", 0}, kv{"result_code", 0}, kv{"hresult", 0},
				kv{"reboot_required", false}, kv{"message", "not applicable: the search no longer returns it (installed since, superseded or hidden)"})
		}
		rows = append(rows, row)
	}
	if rows == nil {
		rows = []obj{}
	}
	doc := obj{{"job", params["job"]}, {"state", "done"}, {"phase", "done"}, {"current", len(rows)}, {"total", len(rows)}, {"kb", ""},
		{"percent", 100}, {"started", wuTime(at)}, {"updated", wuTime(at)}, {"finished", wuTime(at)}, {"reboot_required", false},
		{"hresult", 0}, {"message", ""}, {"updates", rows}}
	b, err := doc.MarshalJSON()
	if err != nil {
		panic(fmt.Sprintf("winrmsim: progress document: %v", err))
	}
	if path := params["progress"]; validFilePath(path) {
		st.setFileLocked(path, []byte("\ufeff"+string(b)+"\r\n"), at)
	}
}

// wuRemoteCall reports a statement that calls the WUA downloader or
// installer, which Windows refuses to a remote session, and the method.
func wuRemoteCall(stmt string) (string, bool) {
	ls := strings.ToLower(stmt)
	for _, m := range []string{"CreateUpdateDownloader", "CreateUpdateInstaller"} {
		if strings.Contains(ls, strings.ToLower(m)+"(") {
			return m, true
		}
	}
	return "", false
}

// wuHotfixes are the host's installed Component Based Servicing updates
// as Win32_QuickFixEngineering lists them, oldest first.
func (h *host) wuHotfixes(f *Fleet, at time.Time) []obj {
	st := h.hs()
	st.mu.Lock()
	defer st.mu.Unlock()
	w := h.wuLocked(f)
	h.advanceLocked(w, at)
	var out []obj
	for _, in := range w.installed {
		if !in.u.cbs {
			continue
		}
		desc := "Update"
		if in.u.class == "Security Updates" {
			desc = "Security Update"
		}
		if in.u.kind == wuStack {
			desc = "Servicing Stack Update"
		}
		out = append(out, obj{{"id", in.u.kb}, {"description", desc}, {"installed_on", psDate(in.at.Truncate(24 * time.Hour))},
			{"installed_by", `NT AUTHORITY\SYSTEM`}})
	}
	return out
}

// --- the fleet's view, for tests, the control endpoint and the demo ---------

// UpdateInfo is one update of a host as the simulator holds it.
type UpdateInfo struct {
	UpdateID       string    `json:"update_id"`
	KB             string    `json:"kb"`
	Title          string    `json:"title"`
	Classification string    `json:"classification"` // English
	Severity       string    `json:"severity"`
	RebootBehavior int       `json:"reboot_behavior"`
	Released       time.Time `json:"released"`
	State          string    `json:"state"` // missing, waiting (offered after another update and a restart), installed, pending-restart
	FailsWith      string    `json:"fails_with,omitempty"`
	InstalledAt    time.Time `json:"installed_at,omitzero"`
}

// HostUpdates is a host's Windows Update state.
type HostUpdates struct {
	Hostname       string       `json:"hostname"`
	Service        string       `json:"service"`
	Server         string       `json:"server,omitempty"`
	MonthsBehind   int          `json:"months_behind"`
	ScanFails      string       `json:"scan_fails,omitempty"`
	RestartPending bool         `json:"restart_pending"`
	Servicing      bool         `json:"servicing"` // ServicingInProgress is 2 now
	Updates        []UpdateInfo `json:"updates"`
	Tasks          []string     `json:"tasks"` // registered tasks
}

// Updates returns a host's Windows Update state now.
func (f *Fleet) Updates(hostname string) (HostUpdates, error) {
	h, ok := f.byName[hostname]
	if !ok {
		return HostUpdates{}, fmt.Errorf("winrmsim: updates: unknown host %q", hostname)
	}
	now := time.Now()
	st := h.hs()
	st.mu.Lock()
	defer st.mu.Unlock()
	w := h.wuLocked(f)
	h.advanceLocked(w, now)
	out := HostUpdates{Hostname: h.name, Service: "Windows Update", Server: w.server, MonthsBehind: w.level,
		RestartPending: w.restartPendingLocked(), Servicing: now.Before(w.servicing), Updates: []UpdateInfo{}, Tasks: []string{}}
	if w.wsus {
		out.Service = "WSUS"
	}
	if w.scanFail != 0 {
		out.ScanFails = fmt.Sprintf("0x%08X", w.scanFail)
	}
	info := func(u *wuUpdate, state string) UpdateInfo {
		return UpdateInfo{UpdateID: u.id, KB: u.kb, Title: u.title, Classification: u.class, Severity: u.severity,
			RebootBehavior: u.reboot, Released: u.released, State: state}
	}
	missing := w.missingLocked()
	for _, o := range w.offers {
		if _, done := w.installedLocked(o.u.id); done {
			continue
		}
		ui := info(o.u, "waiting")
		if slices.ContainsFunc(missing, func(m wuOffer) bool { return m.u.id == o.u.id }) {
			ui.State = "missing"
		}
		if o.fail != 0 {
			ui.FailsWith = fmt.Sprintf("0x%08X", o.fail)
		}
		out.Updates = append(out.Updates, ui)
	}
	for _, in := range w.installed {
		ui := info(in.u, "installed")
		if in.pending {
			ui.State = "pending-restart"
		}
		ui.InstalledAt = in.at
		out.Updates = append(out.Updates, ui)
	}
	for _, t := range w.tasks {
		out.Tasks = append(out.Tasks, t.name)
	}
	slices.Sort(out.Tasks)
	return out, nil
}

// SetPatchLevel puts a host a number of months behind on its updates
// (0: it has this month's cumulative update), as if its updates were
// built that way: what it installed since the fleet started is
// forgotten. For tests and demos that need a host with a given state.
func (f *Fleet) SetPatchLevel(hostname string, monthsBehind int) error {
	h, ok := f.byName[hostname]
	if !ok {
		return fmt.Errorf("winrmsim: set patch level: unknown host %q", hostname)
	}
	if monthsBehind < 0 || monthsBehind > 2 {
		return fmt.Errorf("winrmsim: set patch level %s: %d months behind is out of range 0..2", hostname, monthsBehind)
	}
	st := h.hs()
	st.mu.Lock()
	defer st.mu.Unlock()
	h.forcedLevel = monthsBehind
	h.stateLocked()
	st.wu = nil
	return nil
}

// isWURemoteCall reports a statement that calls the WUA downloader or
// installer.
func isWURemoteCall(stmt string) bool {
	_, ok := wuRemoteCall(stmt)
	return ok
}

// runPatch answers the engine's patch scripts (patch_*): the scan, the
// task that runs the installer, and the installer itself when it is sent
// over WinRM instead of placed in a task.
func (p *psProcess) runPatch(out psOutput, at time.Time, script, name string, version, pos int) {
	h, f := p.m.h, p.m.fleet
	if version != 1 {
		p.notFound(out, at, script, name, version, pos)
		return
	}
	switch name {
	case "patch_scan":
		done := at.Add(patchScanCost * f.cfg.ScriptTime)
		doc, err := h.scanDoc(f, at).MarshalJSON()
		if err != nil {
			panic(fmt.Sprintf("winrmsim: patch scan: %v", err)) // every value marshals; a bug
		}
		out.Stdout(done, append(doc, '\r', '\n'))
		out.ErrorRecords(done, nil)
		out.Done(done)
	case "patch_task":
		done := at.Add(f.cfg.ScriptTime)
		params, err := actionParams(script)
		if err != nil {
			out.ErrorRecords(done, [][]string{{err.Error()}})
			out.Done(done)
			return
		}
		rep := p.patchTaskReply(at, params)
		doc, err := json.Marshal(rep)
		if err != nil {
			panic(fmt.Sprintf("winrmsim: patch task: %v", err))
		}
		out.Stdout(done, append(doc, '\r', '\n'))
		out.ErrorRecords(done, nil)
		out.Done(done)
	case "patch_install":
		done := at.Add(patchScanCost * f.cfg.ScriptTime)
		params, err := actionParams(script)
		if err != nil {
			out.ErrorRecords(done, [][]string{{err.Error()}})
			out.Done(done)
			return
		}
		p.installRemotely(at, params)
		out.ErrorRecords(done, nil)
		out.Done(done)
	default:
		p.notFound(out, at, script, name, version, pos)
	}
}

// hresult64 is an HRESULT as PowerShell prints an exception's HResult (an
// Int32, so 0x80070005 is -2147024891), widened by [long].
func hresult64(hr uint32) int64 { return int64(int32(hr)) }
