package winrmsim

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// patchScript builds a patch script the way the engine does: its marker
// (version 1), then the $RmmParams hashtable of single-quoted strings.
func patchScript(name string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("# rmm:script=" + name + " v1\n$RmmParams = @{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(" '" + strings.ReplaceAll(k, "'", "''") + "' = '" + strings.ReplaceAll(params[k], "'", "''") + "'")
	}
	b.WriteString(" }\n$ErrorActionPreference = 'Stop'\n")
	return b.String()
}

// scanDocT is patch_scan's document.
type scanDocT struct {
	OK        bool   `json:"ok"`
	Message   string `json:"message"`
	HResult   int64  `json:"hresult"`
	Service   string `json:"service"`
	Server    string `json:"server"`
	Reboot    bool   `json:"reboot_required"`
	Missing   []scanRow
	Installed []scanRow
}

type scanRow struct {
	UpdateID         string `json:"update_id"`
	KB               string `json:"kb"`
	Title            string `json:"title"`
	ClassificationID string `json:"classification_id"`
	Classification   string `json:"classification"`
	Severity         string `json:"severity"`
	RebootBehavior   int    `json:"reboot_behavior"`
}

func (s *loopSession) scan() scanDocT {
	s.t.Helper()
	id := "s" + strconv.FormatInt(time.Now().UnixNano(), 36)
	s.request(id, patchScript("patch_scan", nil)+"ConvertTo-Json -InputObject $result -Compress -Depth 4\n")
	ans := s.answer(id)
	var d scanDocT
	if err := json.Unmarshal([]byte(strings.TrimSpace(ans.Output)), &d); err != nil {
		s.t.Fatalf("patch_scan: %v: %q (errors %q)", err, ans.Output, ans.Errors)
	}
	return d
}

// taskData is patch_task's data.
type taskData struct {
	Exists     bool   `json:"exists"`
	State      int    `json:"state"`
	LastRun    string `json:"last_run"`
	LastResult int64  `json:"last_result"`
	Progress   string `json:"progress"`
	LastBoot   string `json:"last_boot"`
	Servicing  int    `json:"servicing"`
	Pending    bool   `json:"reboot_pending"`
}

type progressT struct {
	State   string `json:"state"`
	Phase   string `json:"phase"`
	Current int    `json:"current"`
	Total   int    `json:"total"`
	Reboot  bool   `json:"reboot_required"`
	Updates []struct {
		UpdateID   string `json:"update_id"`
		KB         string `json:"kb"`
		ResultCode int    `json:"result_code"`
		HResult    int64  `json:"hresult"`
		Reboot     bool   `json:"reboot_required"`
		Message    string `json:"message"`
	} `json:"updates"`
}

func (d taskData) progress(t *testing.T) (progressT, bool) {
	t.Helper()
	text := strings.TrimSpace(strings.TrimPrefix(d.Progress, "\ufeff"))
	if text == "" {
		return progressT{}, false
	}
	var p progressT
	if err := json.Unmarshal([]byte(text), &p); err != nil {
		t.Fatalf("progress file: %v: %q", err, d.Progress)
	}
	return p, true
}

const patchDir = `C:\ProgramData\rmm\patch`

// task runs patch_task with op for job.
func (s *loopSession) task(op, job string, extra map[string]string) (bool, string, taskData) {
	s.t.Helper()
	params := map[string]string{"op": op, "task": "rmm-patch-" + job, "dir": patchDir, "file": job + ".ps1", "progress": job + ".json", "job": job}
	for k, v := range extra {
		params[k] = v
	}
	doc := s.actScript("patch_task", patchScript("patch_task", params), 0)
	var d taskData
	if len(doc.Data) > 0 && string(doc.Data) != "null" {
		if err := json.Unmarshal(doc.Data, &d); err != nil {
			s.t.Fatalf("patch_task data: %v: %s", err, doc.Data)
		}
	}
	return doc.OK, doc.Message, d
}

// installer is the text patch_task places: patch_install with its params.
func installer(job string, ids []string) string {
	return patchScript("patch_install", map[string]string{"job": job, "update_ids": strings.Join(ids, ","), "progress": patchDir + `\` + job + ".json"})
}

// hostWith finds the first host matching ok, or fails.
func hostWith(t *testing.T, f *Fleet, ok func(HostInfo, HostUpdates) bool) (int, HostInfo, HostUpdates) {
	t.Helper()
	for i, h := range f.Hosts() {
		u, err := f.Updates(h.Hostname)
		if err != nil {
			t.Fatal(err)
		}
		if ok(h, u) {
			return i, h, u
		}
	}
	t.Fatal("no host matches")
	return 0, HostInfo{}, HostUpdates{}
}

func missingOf(u HostUpdates, class string) []UpdateInfo {
	var out []UpdateInfo
	for _, x := range u.Updates {
		if x.State == "missing" && (class == "" || x.Classification == class) {
			out = append(out, x)
		}
	}
	return out
}

func TestHostsUpdatesFollowTheirReleaseServiceAndLanguage(t *testing.T) {
	f, err := New(Config{Devices: 300, Seed: 11, Profile: ProfileMixed})
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]int{}
	var wsus, german, win10, legacy, failing int
	for _, h := range f.Hosts() {
		u, err := f.Updates(h.Hostname)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range u.Updates {
			if x.State == "missing" {
				classes[x.Classification]++
			}
			if x.FailsWith != "" {
				failing++
			}
			if x.Classification == "Drivers" && (h.Server || u.Service == "WSUS") {
				t.Errorf("%s (%s, server %v) is offered driver %s", h.Hostname, u.Service, h.Server, x.Title)
			}
			if x.Classification == "Definition Updates" && h.Profile == "server2012r2" {
				t.Errorf("%s (2012 R2, no Defender) is offered %s", h.Hostname, x.Title)
			}
		}
		if u.Service == "WSUS" {
			wsus++
			if !strings.HasPrefix(u.Server, "http://wsus.") {
				t.Errorf("%s: WSUS server %q", h.Hostname, u.Server)
			}
		}
		switch {
		case h.OSVersion == "10.0.19045":
			win10++
			if !slices.ContainsFunc(u.Updates, func(x UpdateInfo) bool { return x.KB == "KB5034441" }) {
				t.Errorf("%s (Windows 10 22H2) knows nothing of KB5034441", h.Hostname)
			}
		case h.Profile == "server2012r2":
			legacy++
		}
		if h.Profile == "de-de" {
			german++
		}
		if u.MonthsBehind > 0 && !slices.ContainsFunc(u.Updates, func(x UpdateInfo) bool { return x.State == "waiting" }) {
			t.Errorf("%s is %d months behind but has no update waiting for its cumulative update", h.Hostname, u.MonthsBehind)
		}
	}
	for _, c := range []string{"Security Updates", "Critical Updates", "Definition Updates", "Update Rollups", "Updates", "Drivers"} {
		if classes[c] == 0 {
			t.Errorf("no host misses an update of %s (missing by class: %v)", c, classes)
		}
	}
	if wsus == 0 || german == 0 || win10 == 0 || legacy == 0 || failing == 0 {
		t.Errorf("the fleet lacks a kind: %d WSUS, %d German, %d Windows 10, %d 2012 R2, %d failing updates", wsus, german, win10, legacy, failing)
	}
}

func TestAScanReportsMissingAndInstalledUpdatesWithClassificationIDs(t *testing.T) {
	f := startFleet(t, Config{Devices: 40, Seed: 3, Profile: "de-de"})
	i, h, u := hostWith(t, f, func(h HostInfo, u HostUpdates) bool { return u.ScanFails == "" && len(missingOf(u, "")) > 0 })
	s := startLoop(t, f, i)
	d := s.scan()
	if !d.OK || d.Service == "" {
		t.Fatalf("%s: scan %+v", h.Hostname, d)
	}
	if len(d.Missing) != len(missingOf(u, "")) {
		t.Errorf("scan found %d missing, the host holds %d", len(d.Missing), len(missingOf(u, "")))
	}
	for _, r := range d.Missing {
		eng, ok := map[string]string{"0fa1201d-4330-4fa8-8ae9-b877473b6441": "Sicherheitsupdates",
			"e6cf1350-c01b-414d-a61f-263d14d133b4": "Kritische Updates", "e0789628-ce08-4437-be74-2495b842f43b": "Definitionsupdates",
			"28bc880e-0592-4cbf-8f95-c79b17911d5f": "Updaterollups", "cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83": "Updates",
			"ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0": "Treiber"}[r.ClassificationID]
		if !ok || r.Classification != eng {
			t.Errorf("%s: classification %q (%s) on a German host", r.KB, r.Classification, r.ClassificationID)
		}
		if len(r.UpdateID) != 36 {
			t.Errorf("%s: UpdateID %q is no GUID", r.KB, r.UpdateID)
		}
	}
	if len(d.Installed) == 0 {
		t.Error("a scan lists nothing installed")
	}
}

func TestATaskInstallsUpdatesOverTimeAndARestartCompletesThem(t *testing.T) {
	f := startFleet(t, Config{Devices: 20, Seed: 5, Profile: "server2019", ScriptTime: time.Millisecond,
		PatchInstallTime: 120 * time.Millisecond, ServicingTime: 300 * time.Millisecond})
	h := f.Hosts()[0]
	if err := f.SetPatchLevel(h.Hostname, 1); err != nil {
		t.Fatal(err)
	}
	u, _ := f.Updates(h.Hostname)
	var ids []string
	var lcu string
	for _, x := range missingOf(u, "") {
		if x.FailsWith == "" && (x.Classification == "Security Updates" || x.Classification == "Update Rollups") {
			ids = append(ids, x.UpdateID)
			if x.RebootBehavior == 1 {
				lcu = x.KB
			}
		}
	}
	if lcu == "" {
		t.Skip("the cumulative update fails on this host by seed")
	}
	s := startLoop(t, f, 0)
	ok, msg, d := s.task("start", "j1", map[string]string{"script": installer("j1", ids)})
	if !ok || !d.Exists {
		t.Fatalf("start: %v %q %+v", ok, msg, d)
	}
	sawRunning := false
	deadline := time.Now().Add(10 * time.Second)
	var p progressT
	for {
		_, _, d = s.task("poll", "j1", nil)
		if d.State == 4 {
			sawRunning = true
		}
		var have bool
		if p, have = d.progress(t); have && p.State == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task did not finish: %+v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawRunning || d.State != 3 || d.LastResult != 0 {
		t.Errorf("task states: running seen %v, now state %d last result %#x", sawRunning, d.State, d.LastResult)
	}
	if len(p.Updates) != len(ids) || !p.Reboot {
		t.Fatalf("progress: %+v", p)
	}
	for _, r := range p.Updates {
		if r.ResultCode != 2 {
			t.Errorf("%s: result %d hresult %#x", r.KB, r.ResultCode, r.HResult)
		}
	}
	if d.Servicing != 1 || !d.Pending {
		t.Errorf("before the restart: servicing %d, reboot pending %v; want 1 and true", d.Servicing, d.Pending)
	}
	if sd := s.scan(); !sd.Reboot || slices.ContainsFunc(sd.Missing, func(r scanRow) bool { return r.KB == lcu }) {
		t.Errorf("after the install, before the restart: reboot required %v, missing %+v", sd.Reboot, sd.Missing)
	}
	if _, _, d := s.task("cleanup", "j1", nil); d.Exists {
		t.Error("cleanup left the task")
	}
	if err := f.Reboot(h.Hostname); err != nil {
		t.Fatal(err)
	}
	s = startLoop(t, f, 0)
	_, _, d = s.task("poll", "j1", nil)
	if d.Servicing != 2 || d.Pending {
		t.Errorf("right after the restart: servicing %d, pending %v; want 2 (busy) and false", d.Servicing, d.Pending)
	}
	after, _ := f.Updates(h.Hostname)
	if !slices.ContainsFunc(missingOf(after, "Security Updates"), func(x UpdateInfo) bool { return strings.Contains(x.Title, ".NET") }) {
		t.Errorf("the .NET update that waited for the cumulative update and a restart is not offered now: %+v", after.Updates)
	}
	time.Sleep(350 * time.Millisecond) // ServicingTime, on the simulator's clock
	if _, _, d = s.task("poll", "j1", nil); d.Servicing != 0 {
		t.Errorf("servicing %d after ServicingTime; want 0", d.Servicing)
	}
}

func TestTheInstallerRefusesARemoteSessionWithAccessDenied(t *testing.T) {
	f := startFleet(t, Config{Devices: 10, Seed: 8, ScriptTime: time.Millisecond})
	i, h, u := hostWith(t, f, func(_ HostInfo, u HostUpdates) bool { return len(missingOf(u, "")) > 0 })
	s := startLoop(t, f, i)
	id := missingOf(u, "")[0].UpdateID
	// patch_install sent over WinRM instead of placed in a task.
	s.request("r1", installer("j9", []string{id}))
	if a := s.answer("r1"); a.Output != "" || len(a.Errors) > 0 {
		t.Errorf("the installer printed %q, errors %q", a.Output, a.Errors)
	}
	_, _, d := s.task("poll", "j9", nil)
	p, ok := d.progress(t)
	if !ok || len(p.Updates) != 1 || p.Updates[0].ResultCode != 4 || uint32(p.Updates[0].HResult) != 0x80070005 ||
		!strings.Contains(p.Updates[0].Message, "E_ACCESSDENIED") {
		t.Fatalf("%s: progress %+v, want the update failed with E_ACCESSDENIED", h.Hostname, p)
	}
	if after, _ := f.Updates(h.Hostname); len(missingOf(after, "")) != len(missingOf(u, "")) {
		t.Error("an update installed from a remote session")
	}
	// The same calls in a script of one's own.
	s.request("r2", "$s = New-Object -ComObject Microsoft.Update.Session\n$i = $s.CreateUpdateInstaller()\n")
	if a := s.answer("r2"); len(a.Errors) == 0 || !strings.Contains(a.Errors[0], "0x80070005 (E_ACCESSDENIED)") {
		t.Errorf("CreateUpdateInstaller over WinRM: errors %q", a.Errors)
	}
}

func TestTaskFaultsAndARestartMidInstall(t *testing.T) {
	f := startFleet(t, Config{Devices: 30, Seed: 4, Profile: "win11", ScriptTime: time.Millisecond,
		PatchInstallTime: 150 * time.Millisecond, ServicingTime: -1})
	poll := func(s *loopSession, job string, until func(taskData) bool) taskData {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, _, d := s.task("poll", job, nil)
			if until(d) {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: gave up waiting: %+v", job, d)
			}
			time.Sleep(15 * time.Millisecond)
		}
	}
	big := func(u HostUpdates) []string {
		var ids []string
		for _, x := range missingOf(u, "") {
			if x.FailsWith == "" && x.Classification != "Definition Updates" {
				ids = append(ids, x.UpdateID)
			}
		}
		return ids
	}

	t.Run("a task that never starts", func(t *testing.T) {
		h := f.Hosts()[0]
		if err := f.SetFault(h.Hostname, FaultTaskStuck); err != nil {
			t.Fatal(err)
		}
		u, _ := f.Updates(h.Hostname)
		s := startLoop(t, f, 0)
		s.task("start", "stuck", map[string]string{"script": installer("stuck", big(u))})
		time.Sleep(200 * time.Millisecond)
		_, _, d := s.task("poll", "stuck", nil)
		if !d.Exists || d.State != 3 || d.LastRun != "" || uint32(d.LastResult) != schedTaskNotRun || d.Progress != "" {
			t.Errorf("stuck task: %+v", d)
		}
	})
	t.Run("a full disk fails big downloads", func(t *testing.T) {
		if err := f.SetPatchLevel(f.Hosts()[1].Hostname, 1); err != nil {
			t.Fatal(err)
		}
		h := f.Hosts()[1]
		if err := f.SetFault(h.Hostname, FaultDiskFull); err != nil {
			t.Fatal(err)
		}
		u, _ := f.Updates(h.Hostname)
		ids := big(u)
		s := startLoop(t, f, 1)
		s.task("start", "full", map[string]string{"script": installer("full", ids)})
		d := poll(s, "full", func(d taskData) bool { p, ok := d.progress(t); return ok && p.State == "done" })
		p, _ := d.progress(t)
		for _, r := range p.Updates {
			if uint32(r.HResult) != 0x80070070 || r.ResultCode != 4 {
				t.Errorf("%s on a full disk: result %d hresult %#x", r.KB, r.ResultCode, uint32(r.HResult))
			}
		}
		if after, _ := f.Updates(h.Hostname); len(missingOf(after, "")) != len(missingOf(u, "")) {
			t.Error("an update installed on a full disk")
		}
	})
	t.Run("a restart mid-install kills the task", func(t *testing.T) {
		h := f.Hosts()[2]
		if err := f.SetPatchLevel(h.Hostname, 1); err != nil {
			t.Fatal(err)
		}
		u, _ := f.Updates(h.Hostname)
		ids := big(u)
		if len(ids) < 2 {
			t.Skip("fewer than two updates install on this host by seed")
		}
		s := startLoop(t, f, 2)
		s.task("start", "mid", map[string]string{"script": installer("mid", ids)})
		poll(s, "mid", func(d taskData) bool {
			p, ok := d.progress(t)
			return ok && len(p.Updates) >= 1 && p.State == "running"
		})
		if err := f.Reboot(h.Hostname); err != nil {
			t.Fatal(err)
		}
		s = startLoop(t, f, 2)
		_, _, d := s.task("poll", "mid", nil)
		p, _ := d.progress(t)
		if d.State != 3 || uint32(d.LastResult) != hrCancelled || p.State != "running" || len(p.Updates) >= len(ids) {
			t.Errorf("after a restart mid-install: task %+v, progress %+v", d, p)
		}
		time.Sleep(time.Duration(len(ids)) * 200 * time.Millisecond)
		_, _, d2 := s.task("poll", "mid", nil)
		if d2.Progress != d.Progress {
			t.Error("the killed task went on writing its progress")
		}
	})
	t.Run("cancel stops the task", func(t *testing.T) {
		h := f.Hosts()[3]
		if err := f.SetPatchLevel(h.Hostname, 1); err != nil {
			t.Fatal(err)
		}
		u, _ := f.Updates(h.Hostname)
		s := startLoop(t, f, 3)
		s.task("start", "c", map[string]string{"script": installer("c", big(u))})
		poll(s, "c", func(d taskData) bool { return d.State == 4 })
		_, _, d := s.task("cancel", "c", nil)
		if d.State != 3 || uint32(d.LastResult) != schedTaskTerminated {
			t.Errorf("after cancel: %+v", d)
		}
	})
}
