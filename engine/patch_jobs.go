package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Install jobs. Each device's job is a row of patch_jobs that the driver
// steps: one WinRM request per step, each through the session pool, so a
// job survives the console's restart and a dropped WinRM session (the
// task runs on the host regardless). The states:
//
//	queued      the device was offline: the job waits (the offline queue)
//	            and starts when the engine sees the device online again,
//	            or expires
//	starting    patch_task places patch_install and starts its task
//	installing  patch_task reads the task and its progress file; a final
//	            result is recorded per update and the task removed; a task
//	            that never starts, ends without a result, or is killed by
//	            a restart ends here with a clear message
//	reboot_wait an installed update needs a restart: inside the device's
//	            maintenance window (or at once with "reboot now") the
//	            reboot action runs
//	rebooting   waiting for the host to answer with a new boot time
//	settling    waiting for Component Based Servicing to settle
//	            (ServicingInProgress 0 or 1, as Ansible's win_updates waits)
//	rescanning  a scan says what is left: another round if approved
//	            updates remain (at most max_rounds), else done
//
// Nothing is retried in a storm: a failed update is not tried again in
// the same job, a failed step ends the job with its reason, an
// unreachable host is asked again with growing gaps, and every ending is
// audited.

// patchLease is how long a step may hold its job: longer than any one
// request (a scan's ScanTimeout is the longest).
func (o PatchOptions) patchLease() time.Duration { return o.ScanTimeout + 5*time.Minute }

// maxUnreachableGap bounds the gap between two tries of a host that does
// not answer.
const maxUnreachableGap = 5 * time.Minute

// StartPatchDriver starts the goroutine that steps install jobs, owned by
// the engine (Close stops it). A console or rmm serve runs it; one-shot
// commands step jobs with DrivePatches.
func (e *Engine) StartPatchDriver() {
	b := e.patch
	b.dmu.Lock()
	defer b.dmu.Unlock()
	if b.driving {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done, b.driving = cancel, make(chan struct{}), true
	go func() {
		defer close(b.done)
		e.driveLoop(ctx)
	}()
}

// stopPatchDriver ends the driver and waits for it.
func (e *Engine) stopPatchDriver() {
	b := e.patch
	if b == nil {
		return
	}
	b.dmu.Lock()
	cancel, done := b.cancel, b.done
	b.driving = false
	b.dmu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// driveLoop steps due jobs until ctx ends: when kicked, when the next
// job is due, and at least every poll interval.
func (e *Engine) driveLoop(ctx context.Context) {
	for {
		e.patch.dmu.Lock()
		back := make([]int64, 0, len(e.patch.cameOnline))
		for id := range e.patch.cameOnline {
			back = append(back, id)
		}
		clear(e.patch.cameOnline)
		e.patch.dmu.Unlock()
		if len(back) > 0 {
			if n, err := e.db.WakeQueuedPatchJobs(ctx, back, time.Now().UTC()); err != nil {
				e.log.Warn("wake queued patch jobs", "err", err)
			} else if n > 0 {
				e.log.Info("queued patch jobs due: their devices are back", "jobs", n)
			}
		}
		e.stepDueJobs(ctx, "")
		wait := e.patchOptions().PollInterval
		if next, err := e.db.NextPatchJobAt(ctx); err == nil && !next.IsZero() {
			wait = min(wait, max(time.Until(next), 20*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-e.patch.kick:
			t.Stop()
		case <-e.fatalC:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stepDueJobs steps every due job (of one run when runID is set), the
// throttle at a time, until none is due; it returns how many steps ran.
func (e *Engine) stepDueJobs(ctx context.Context, runID string) int {
	steps := 0
	for ctx.Err() == nil && e.Fatal() == nil {
		o := e.options()
		now := time.Now().UTC()
		due, err := e.db.DuePatchJobs(ctx, now, 4*o.Throttle)
		if err != nil {
			e.log.Warn("read due patch jobs", "err", err)
			return steps
		}
		if runID != "" {
			due = slices.DeleteFunc(due, func(j store.PatchJob) bool { return j.RunID != runID })
		}
		if len(due) == 0 {
			return steps
		}
		lease := e.patchOptions().patchLease()
		p := pool.New().WithMaxGoroutines(o.Throttle)
		for _, d := range due {
			j, ok, err := e.db.ClaimPatchJob(ctx, d.ID, now, now.Add(lease))
			if err != nil || !ok {
				continue
			}
			steps++
			p.Go(func() { e.stepJob(ctx, j) })
		}
		p.Wait()
	}
	return steps
}

// stepJob runs one step of a claimed job and saves it. A panic fails the
// job, not the engine.
func (e *Engine) stepJob(ctx context.Context, j store.PatchJob) {
	before := j.State
	defer func() {
		if r := recover(); r != nil {
			err := e.panicked(j.Host, "patch job "+strconv.FormatInt(j.ID, 10), r)
			j = e.finishJob(ctx, j, store.JobFailed, "internal error: "+err.Error())
			e.saveJob(ctx, j, before)
		}
	}()
	now := time.Now().UTC()
	o := e.patchOptions()
	switch {
	case j.CancelBy != "":
		j = e.cancelJob(ctx, j)
	case (j.State == store.JobQueued || j.State == store.JobRebootWait) && !now.Before(j.ExpiresAt):
		msg := "expired in the offline queue: the device was not back within " + roundAge(o.QueueExpiry)
		if j.State == store.JobRebootWait {
			msg = "expired waiting for a restart: no maintenance window opened within " + roundAge(o.QueueExpiry) + "; restart the device to finish"
		}
		j = e.finishJob(ctx, j, store.JobExpired, msg)
	default:
		d, ok := e.device(j.DeviceID)
		if !ok {
			j = e.finishJob(ctx, j, store.JobFailed, "the device was removed")
			break
		}
		if err := e.refuseWrongHost(d, "patch job"); err != nil {
			j = e.finishJob(ctx, j, store.JobFailed, shortReason(err))
			break
		}
		switch j.State {
		case store.JobQueued:
			j = e.stepQueued(j)
		case store.JobStarting:
			j = e.stepStart(ctx, d, j)
		case store.JobInstalling:
			j = e.stepInstalling(ctx, d, j)
		case store.JobRebootWait:
			j = e.stepRebootWait(ctx, d, j)
		case store.JobRebooting, store.JobSettling:
			j = e.stepBack(ctx, d, j)
		case store.JobRescanning:
			j = e.stepRescan(ctx, d, j)
		}
	}
	e.saveJob(ctx, j, before)
}

// saveJob stores a job after a step; a job whose row cannot be written
// turns the engine Fatal (as an action result does).
func (e *Engine) saveJob(ctx context.Context, j store.PatchJob, before string) {
	if err := e.db.SavePatchJob(context.WithoutCancel(ctx), j); err != nil {
		e.log.Error("save patch job", "job", j.ID, "device", j.Host, "err", err)
		e.setFatal(&winrm.Error{Class: winrm.ClassFatal, Step: "save patch job", Err: err})
		return
	}
	if j.State != before {
		e.log.Info("patch job", "job", j.ID, "run", j.RunID, "device", j.Host, "from", before, "to", j.State, "message", j.Message)
	}
}

// setState moves a job to a state, due at next.
func setState(j store.PatchJob, state string, next time.Time, msg string) store.PatchJob {
	now := time.Now().UTC()
	if j.State != state {
		j.StateSince = now
	}
	j.State, j.NextAt, j.Message = state, next, msg
	return j
}

// finishJob ends a job and audits its ending.
func (e *Engine) finishJob(ctx context.Context, j store.PatchJob, state, msg string) store.PatchJob {
	now := time.Now().UTC()
	j = setState(j, state, now, oneLine(msg))
	j.FinishedAt = now
	result, err := store.AuditSuccess, error(nil)
	if state != store.JobCompleted {
		result, err = store.AuditFailure, errors.New(j.Message)
	}
	e.audit(context.WithoutCancel(ctx), SystemIdentity(), patchEvent{event: "install.result", host: j.Host, details: map[string]any{
		"run": j.RunID, "job": j.ID, "state": state, "message": j.Message, "installed": j.Installed, "failed": j.Failed,
		"rounds": j.Round, "requested_by": j.RequestedBy}}, result, err)
	return j
}

// unreachable reports an error that says the host did not answer (as
// opposed to one that says it answered with a refusal).
func unreachable(err error) bool {
	if isUnreachable(err) || notAnswering(err) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch winrm.ClassOf(err) {
	case winrm.ClassTransient:
		return true
	case winrm.ClassDevice:
		var ce *winrm.Error
		return !errors.As(err, &ce) || ce.Step != "parse patch task"
	}
	return false
}

// notAnswered handles a host that did not answer a step: the job waits
// with a growing gap, and fails once it has not answered for limit.
func (e *Engine) notAnswered(ctx context.Context, j store.PatchJob, err error, limit time.Duration, what string) store.PatchJob {
	now := time.Now().UTC()
	if j.UnreachableSince.IsZero() {
		j.UnreachableSince = now
	}
	gone := now.Sub(j.UnreachableSince)
	if gone >= limit {
		return e.finishJob(ctx, j, store.JobFailed, fmt.Sprintf("%s: no answer for %s (%s)", what, roundAge(gone), shortReason(err)))
	}
	gap := min(max(e.patchOptions().PollInterval, gone/4), maxUnreachableGap)
	j.NextAt = now.Add(gap)
	j.Message = fmt.Sprintf("%s; no answer since %s (%s), trying again", what, j.UnreachableSince.UTC().Format("15:04:05 UTC"), shortReason(err))
	return j
}

// stepQueued starts a queued job once the engine sees its device online.
func (e *Engine) stepQueued(j store.PatchJob) store.PatchJob {
	now := time.Now().UTC()
	if st, ok := e.deviceState(j.DeviceID); ok && st.Status == StatusOnline {
		return setState(j, store.JobStarting, now, "the device is back: starting")
	}
	j.NextAt = now.Add(min(e.actionOptions().QueueCheck, time.Minute))
	return j
}

// taskNames are a job's task and files on the host.
func taskParams(j store.PatchJob, o PatchOptions, op string) map[string]string {
	name := "rmm-patch-" + strconv.FormatInt(j.ID, 10)
	return map[string]string{"op": op, "task": name, "dir": o.Dir, "file": name + ".ps1", "progress": name + ".json",
		"job": strconv.FormatInt(j.ID, 10)}
}

// scriptWithParams is an embedded script with its $RmmParams line after
// its marker line (scripts.Quote for every key and value).
func scriptWithParams(name string, params map[string]string) (string, int, error) {
	s, err := scripts.Get(name)
	if err != nil {
		return "", 0, err
	}
	marker, rest, _ := strings.Cut(s.Body, "\n")
	return marker + "\n" + paramsLine(params) + "\n" + rest, s.Version, nil
}

// patchTask runs one patch_task op on the device.
func (e *Engine) patchTask(ctx context.Context, d store.Device, params map[string]string) (scripts.PatchTaskReply, error) {
	body, _, err := scriptWithParams("patch_task", params)
	if err != nil {
		return scripts.PatchTaskReply{}, err
	}
	timeout := max(2*e.options().Timeout, 30*time.Second)
	res, err := e.runScriptOn(ctx, d, winrm.NewScript("patch_task", body), timeout)
	if err != nil {
		return scripts.PatchTaskReply{}, err
	}
	r, err := scripts.ParsePatchTask(res.Stdout)
	if err != nil {
		detail := firstLine(string(res.Stdout))
		if len(res.Errors) > 0 {
			detail = firstLine(res.Errors[0])
		}
		return r, &winrm.Error{Class: winrm.ClassDevice, Device: d.Hostname, Step: "parse patch task", Err: fmt.Errorf("%w: %s", err, detail)}
	}
	return r, nil
}

// stepStart places the installer and starts its task.
func (e *Engine) stepStart(ctx context.Context, d store.Device, j store.PatchJob) store.PatchJob {
	o := e.patchOptions()
	now := time.Now().UTC()
	if len(j.UpdateIDs) == 0 {
		return e.finishJob(ctx, j, store.JobCompleted, "nothing to install")
	}
	params := taskParams(j, o, "start")
	install, _, err := scriptWithParams("patch_install", map[string]string{"job": params["job"],
		"update_ids": strings.Join(j.UpdateIDs, ","), "progress": o.Dir + `\` + params["progress"]})
	if err != nil {
		return e.finishJob(ctx, j, store.JobFailed, err.Error())
	}
	params["script"] = install
	r, err := e.patchTask(ctx, d, params)
	switch {
	case err != nil && j.Round == 1 && isUnreachable(err):
		j.UnreachableSince = time.Time{}
		return setState(j, store.JobQueued, now.Add(time.Minute), "queued: device offline ("+shortReason(err)+"); it starts when the device is back")
	case err != nil && unreachable(err):
		return e.notAnswered(ctx, j, err, o.RebootTimeout, "starting the install task")
	case err != nil:
		return e.finishJob(ctx, j, store.JobFailed, "starting the install task: "+shortReason(err))
	case !r.OK:
		msg := r.Message
		if strings.Contains(strings.ToLower(msg), "not enough space") {
			msg = "the host's disk is full: the installer could not be written (" + msg + ")"
		}
		return e.finishJob(ctx, j, store.JobFailed, "starting the install task: "+msg)
	}
	j.UnreachableSince = time.Time{}
	j.Task, j.TaskStartedAt = params["task"], now
	if r.Data != nil && !r.Data.LastBoot.IsZero() {
		j.BootBefore = r.Data.LastBoot.Time
	}
	pr := jobProgress{Phase: "starting", Total: len(j.UpdateIDs), KBs: progressKBs(j)}
	j.Progress, _ = json.Marshal(pr)
	return setState(j, store.JobInstalling, now.Add(o.PollInterval), fmt.Sprintf("round %d: task %s started (%d update(s))", j.Round, j.Task, len(j.UpdateIDs)))
}

// progressKBs are the KBs of a job's round, from its progress.
func progressKBs(j store.PatchJob) []string {
	var pr jobProgress
	_ = json.Unmarshal(j.Progress, &pr)
	return pr.KBs
}

// stepInstalling reads the task and its progress file.
func (e *Engine) stepInstalling(ctx context.Context, d store.Device, j store.PatchJob) store.PatchJob {
	o := e.patchOptions()
	now := time.Now().UTC()
	r, err := e.patchTask(ctx, d, taskParams(j, o, "poll"))
	switch {
	case err != nil && unreachable(err):
		return e.notAnswered(ctx, j, err, o.RebootTimeout, fmt.Sprintf("round %d: installing", j.Round))
	case err != nil:
		return e.finishJob(ctx, j, store.JobFailed, "reading the install task: "+shortReason(err))
	case !r.OK || r.Data == nil:
		return e.finishJob(ctx, j, store.JobFailed, "reading the install task: "+r.Message)
	}
	j.UnreachableSince = time.Time{}
	st := *r.Data
	prog, have, perr := st.ProgressDoc()
	if perr != nil {
		have = false // a half-read file: the next poll reads it whole
	}
	if have {
		j = keepProgress(j, prog)
	}
	switch {
	case have && prog.Final():
		return e.roundDone(ctx, d, j, prog, st, "")
	case !st.Exists:
		return e.finishJob(ctx, j, store.JobFailed, "the install task is gone from the host (deleted by someone else?)")
	case st.State == scripts.TaskRunning || st.State == scripts.TaskQueued:
		if now.Sub(j.TaskStartedAt) > o.InstallTimeout {
			_, _ = e.patchTask(ctx, d, taskParams(j, o, "cancel"))
			if have {
				e.recordResults(ctx, j, prog.Updates)
			}
			e.cleanupTask(ctx, d, j)
			return e.finishJob(ctx, j, store.JobFailed, fmt.Sprintf("the install was still running after %s (patches.install_timeout); the task was stopped", roundAge(o.InstallTimeout)))
		}
		j.NextAt = now.Add(o.PollInterval)
		j.Message = runningMessage(j, prog, have)
		return j
	case st.LastRun.IsZero() && !have:
		if now.Sub(j.TaskStartedAt) < o.StartTimeout {
			j.NextAt = now.Add(o.PollInterval)
			j.Message = fmt.Sprintf("round %d: waiting for the task to start (last result %s)", j.Round, DescribeHResult(st.LastResult))
			return j
		}
		e.cleanupTask(ctx, d, j)
		j.HResult = st.LastResult
		return e.finishJob(ctx, j, store.JobFailed, fmt.Sprintf("the scheduled task did not start within %s (LastTaskResult %s); it was removed",
			roundAge(o.StartTimeout), DescribeHResult(st.LastResult).WithFix()))
	case !st.LastBoot.IsZero() && !j.BootBefore.IsZero() && st.LastBoot.After(j.BootBefore.Add(time.Second)):
		// The host restarted while the task ran: what finished is kept,
		// the rest waits for the next round.
		return e.roundDone(ctx, d, j, prog, st, fmt.Sprintf("the host restarted at %s during the install", st.LastBoot.UTC().Format("15:04:05")))
	default:
		e.recordResults(ctx, j, prog.Updates)
		e.cleanupTask(ctx, d, j)
		j.HResult = st.LastResult
		return e.finishJob(ctx, j, store.JobFailed, fmt.Sprintf("the install task ended without a result (LastTaskResult %s)", DescribeHResult(st.LastResult)))
	}
}

// keepProgress stores the task's progress in the job.
func keepProgress(j store.PatchJob, p scripts.PatchProgress) store.PatchJob {
	pr := jobProgress{Phase: p.Phase, Current: p.Current, Total: p.Total, KB: p.KB, Percent: p.Percent, Updated: p.Updated.Time, KBs: progressKBs(j)}
	j.Progress, _ = json.Marshal(pr)
	return j
}

// runningMessage says where a running install is.
func runningMessage(j store.PatchJob, p scripts.PatchProgress, have bool) string {
	switch {
	case !have:
		return fmt.Sprintf("round %d: task started, no progress written yet", j.Round)
	case p.Phase == "searching" || p.Current == 0:
		return fmt.Sprintf("round %d: searching", j.Round)
	}
	return fmt.Sprintf("round %d: %s %s (%d of %d, %d%% done)", j.Round, p.Phase, p.KB, p.Current, p.Total, p.Percent)
}

// recordResults stores each update's outcome of a round.
func (e *Engine) recordResults(ctx context.Context, j store.PatchJob, rows []scripts.UpdateResult) (installed, failed int, failures []string) {
	now := time.Now().UTC()
	out := make([]store.PatchResult, 0, len(rows))
	for _, r := range rows {
		pr := store.PatchResult{JobID: j.ID, DeviceID: j.DeviceID, Round: j.Round, UpdateID: strings.ToLower(r.UpdateID), KB: r.KB,
			Title: r.Title, ResultCode: r.ResultCode, HResult: r.HResult, RebootRequired: r.RebootRequired, Message: oneLine(r.Message), FinishedAt: now}
		out = append(out, pr)
		switch {
		case r.Succeeded():
			installed++
		case r.ResultCode == scripts.ResultNotStarted:
		default:
			failed++
			name := r.KB
			if name == "" {
				name = r.Title
			}
			failures = append(failures, name+": "+DescribeHResult(r.HResult).String())
		}
	}
	if err := e.db.AddPatchResults(context.WithoutCancel(ctx), out); err != nil {
		e.log.Error("store patch results", "job", j.ID, "device", j.Host, "err", err)
		e.setFatal(&winrm.Error{Class: winrm.ClassFatal, Step: "store patch results", Err: err})
	}
	return installed, failed, failures
}

// cleanupTask removes the task and its files; a failure is logged (the
// task is one-shot and harmless left behind).
func (e *Engine) cleanupTask(ctx context.Context, d store.Device, j store.PatchJob) {
	r, err := e.patchTask(ctx, d, taskParams(j, e.patchOptions(), "cleanup"))
	if err == nil && !r.OK {
		err = errors.New(r.Message)
	}
	if err != nil {
		e.log.Warn("patch task not removed", "device", d.Hostname, "job", j.ID, "err", err)
	}
}

// roundDone records a round that ended (or that a restart cut short) and
// decides what comes next.
func (e *Engine) roundDone(ctx context.Context, d store.Device, j store.PatchJob, prog scripts.PatchProgress, st scripts.PatchTaskState, cut string) store.PatchJob {
	o := e.patchOptions()
	now := time.Now().UTC()
	installed, failed, failures := e.recordResults(ctx, j, prog.Updates)
	e.cleanupTask(ctx, d, j)
	j.Installed += installed
	j.Failed += failed
	if failed > 0 {
		for _, r := range prog.Updates {
			if !r.Succeeded() && r.ResultCode != scripts.ResultNotStarted {
				j.HResult = r.HResult
				break
			}
		}
	}
	summary := fmt.Sprintf("round %d: %d installed", j.Round, installed)
	if failed > 0 {
		summary += fmt.Sprintf(", %d failed (%s)", failed, strings.Join(failures, "; "))
	}
	if prog.State == "failed" {
		j.HResult = prog.HResult
		msg := prog.Message
		if prog.HResult != 0 {
			msg = DescribeHResult(prog.HResult).WithFix()
		}
		return e.finishJob(ctx, j, store.JobFailed, fmt.Sprintf("round %d: the installer failed: %s", j.Round, msg))
	}
	if cut != "" {
		// The restart happened: wait for servicing, then scan.
		j.BootBefore = st.LastBoot.Time
		return setState(j, store.JobSettling, now, cut+"; "+summary+"; waiting for servicing to settle")
	}
	j.BootBefore = st.LastBoot.Time
	if prog.RebootRequired || st.RebootPending {
		j.RebootRequired = true
		if j.Reboot == RebootNever || (j.Reboot == RebootInWindow && o.Reboot == RebootNever) {
			return e.finishJob(ctx, j, completion(j), summary+"; a restart is pending (reboot: never): restart the device to finish")
		}
		return setState(j, store.JobRebootWait, now, summary+"; a restart is needed")
	}
	return setState(j, store.JobRescanning, now, summary+"; scanning for what is left")
}

// completion is how a job that ran ends: completed, or failed when an
// update failed.
func completion(j store.PatchJob) string {
	if j.Failed > 0 {
		return store.JobFailed
	}
	return store.JobCompleted
}

// stepRebootWait restarts the host inside its maintenance window (or at
// once with reboot now).
func (e *Engine) stepRebootWait(ctx context.Context, d store.Device, j store.PatchJob) store.PatchJob {
	o := e.patchOptions()
	now := time.Now().UTC()
	why := "reboot now"
	if j.Reboot != RebootNow {
		name, open := e.maintenanceWindowAt(d, now)
		if !open {
			at, next, found := e.nextMaintenanceWindow(d, now)
			msg := fmt.Sprintf("round %d done; a restart waits for a maintenance window", j.Round)
			wake := now.Add(o.PollInterval)
			switch {
			case found:
				msg += fmt.Sprintf(" (%s opens %s)", next, at.UTC().Format("2006-01-02 15:04 UTC"))
				wake = now.Add(min(max(at.Sub(now), time.Second), max(o.PollInterval, 5*time.Minute)))
			default:
				msg += "; none covers this device (maintenance_windows): restart it, or install with reboot now"
				wake = now.Add(max(o.PollInterval, 5*time.Minute))
			}
			j.NextAt, j.Message = wake, msg
			return j
		}
		why = "maintenance window " + name
	}
	if j.BootBefore.IsZero() {
		// A job made to restart (reboot now on a pending restart) has not
		// read the boot time yet: read it, so the restart is seen.
		r, err := e.patchTask(ctx, d, taskParams(j, o, "poll"))
		switch {
		case err != nil && unreachable(err):
			return e.notAnswered(ctx, j, err, o.RebootTimeout, "reading the host before its restart")
		case err != nil:
			return e.finishJob(ctx, j, store.JobFailed, "reading the host before its restart: "+shortReason(err))
		case !r.OK || r.Data == nil || r.Data.LastBoot.IsZero():
			return e.finishJob(ctx, j, store.JobFailed, "reading the host before its restart: no boot time ("+r.Message+")")
		}
		j.BootBefore = r.Data.LastBoot.Time
	}
	body, _, err := scriptWithParams("action_reboot", map[string]string{"delay_s": "0"})
	if err != nil {
		return e.finishJob(ctx, j, store.JobFailed, err.Error())
	}
	res, err := e.runScriptOn(ctx, d, winrm.NewScript("action_reboot", body), e.options().Timeout)
	if err != nil {
		if unreachable(err) {
			return e.notAnswered(ctx, j, err, o.RebootTimeout, "restarting")
		}
		return e.finishJob(ctx, j, store.JobFailed, "restarting: "+shortReason(err))
	}
	out, _ := actionDoc(res)
	if out.status != ActionCompleted {
		return e.finishJob(ctx, j, store.JobFailed, "restarting: "+out.message)
	}
	j.UnreachableSince, j.RebootAt = time.Time{}, now
	e.audit(context.WithoutCancel(ctx), SystemIdentity(), patchEvent{event: "reboot", host: d.Hostname, details: map[string]any{
		"run": j.RunID, "job": j.ID, "round": j.Round, "why": why, "requested_by": j.RequestedBy}}, store.AuditSuccess, nil)
	return setState(j, store.JobRebooting, now.Add(o.PollInterval), fmt.Sprintf("round %d: restarting (%s)", j.Round, why))
}

// maintenanceWindowAt names the window that holds the device now.
func (e *Engine) maintenanceWindowAt(d store.Device, at time.Time) (string, bool) {
	if e.alerts == nil {
		return "", false
	}
	for _, w := range e.alerts.options().Maintenance {
		if w.Covers(d.Hostname, d.Groups, at) {
			name := w.Name
			if name == "" {
				name = "(unnamed)"
			}
			return name, true
		}
	}
	return "", false
}

// nextMaintenanceWindow finds when the device's next window opens, within
// eight days, to the minute.
func (e *Engine) nextMaintenanceWindow(d store.Device, from time.Time) (time.Time, string, bool) {
	if e.alerts == nil || len(e.alerts.options().Maintenance) == 0 {
		return time.Time{}, "", false
	}
	t := from.Truncate(time.Minute).Add(time.Minute)
	for end := from.Add(8 * 24 * time.Hour); t.Before(end); t = t.Add(5 * time.Minute) {
		if name, ok := e.maintenanceWindowAt(d, t); ok {
			for back := t.Add(-time.Minute); back.After(from); back = back.Add(-time.Minute) {
				if _, in := e.maintenanceWindowAt(d, back); !in {
					break
				}
				t = back
			}
			return t, name, true
		}
	}
	return time.Time{}, "", false
}

// stepBack follows a restart: the host answers with a new boot time
// (rebooting), then servicing settles (settling).
func (e *Engine) stepBack(ctx context.Context, d store.Device, j store.PatchJob) store.PatchJob {
	o := e.patchOptions()
	now := time.Now().UTC()
	r, err := e.patchTask(ctx, d, taskParams(j, o, "poll"))
	switch {
	case err != nil && unreachable(err):
		what := fmt.Sprintf("round %d: waiting for the host to come back", j.Round)
		if j.State == store.JobSettling {
			what = fmt.Sprintf("round %d: waiting for servicing", j.Round)
		}
		return e.notAnswered(ctx, j, err, o.RebootTimeout, what)
	case err != nil:
		return e.finishJob(ctx, j, store.JobFailed, "after the restart: "+shortReason(err))
	case !r.OK || r.Data == nil:
		return e.finishJob(ctx, j, store.JobFailed, "after the restart: "+r.Message)
	}
	j.UnreachableSince = time.Time{}
	st := *r.Data
	if j.State == store.JobRebooting {
		if !st.LastBoot.After(j.BootBefore.Add(time.Second)) {
			if now.Sub(j.RebootAt) > o.RebootTimeout {
				return e.finishJob(ctx, j, store.JobFailed, fmt.Sprintf("the host did not restart within %s (last boot still %s)",
					roundAge(o.RebootTimeout), j.BootBefore.UTC().Format("2006-01-02 15:04:05 UTC")))
			}
			j.NextAt = now.Add(min(o.PollInterval, 10*time.Second))
			j.Message = fmt.Sprintf("round %d: restart issued at %s; waiting for it", j.Round, j.RebootAt.UTC().Format("15:04:05"))
			return j
		}
		j.BootBefore = st.LastBoot.Time
		j = setState(j, store.JobSettling, now, fmt.Sprintf("round %d: back since %s; waiting for servicing to settle", j.Round, st.LastBoot.UTC().Format("15:04:05")))
	}
	// ServicingInProgress: 0 (or absent) idle, 1 waiting for a restart,
	// 2 busy.
	if st.Servicing >= 2 {
		if now.Sub(j.StateSince) < o.ServicingTimeout {
			j.NextAt = now.Add(min(o.PollInterval, 10*time.Second))
			j.Message = fmt.Sprintf("round %d: back; servicing is busy (ServicingInProgress %d)", j.Round, st.Servicing)
			return j
		}
		return setState(j, store.JobRescanning, now, fmt.Sprintf("round %d: servicing still busy after %s; scanning anyway", j.Round, roundAge(o.ServicingTimeout)))
	}
	return setState(j, store.JobRescanning, now, fmt.Sprintf("round %d: servicing settled; scanning for what is left", j.Round))
}

// stepRescan scans the host and starts another round when approved
// updates remain.
func (e *Engine) stepRescan(ctx context.Context, d store.Device, j store.PatchJob) store.PatchJob {
	o := e.patchOptions()
	now := time.Now().UTC()
	res := e.scanOne(ctx, d.ID)
	st0, _ := e.deviceState(d.ID)
	if err := e.autoApprove(context.WithoutCancel(ctx), &st0); err != nil {
		e.log.Warn("patch approval rules not applied", "err", err)
	}
	if res.Error != "" {
		if !j.UnreachableSince.IsZero() || strings.Contains(res.Error, "refused") || strings.Contains(res.Error, "timed out") {
			return e.notAnswered(ctx, j, errors.New(res.Error), o.RebootTimeout, fmt.Sprintf("round %d: scanning", j.Round))
		}
		return e.finishJob(ctx, j, completion(j), fmt.Sprintf("%d installed in %d round(s); the scan after failed: %s", j.Installed, j.Round, res.Error))
	}
	j.UnreachableSince = time.Time{}
	tried, err := e.db.PatchResults(ctx, store.PatchResultFilter{JobID: j.ID})
	if err != nil {
		return e.finishJob(ctx, j, store.JobFailed, err.Error())
	}
	exclude := map[string]bool{}
	for _, r := range tried {
		exclude[r.UpdateID] = true // not again in this job: no storm of retries
	}
	st, _ := e.deviceState(d.ID)
	next, left, err := e.installable(ctx, st, j.KBs, exclude)
	if err != nil {
		return e.finishJob(ctx, j, store.JobFailed, err.Error())
	}
	if len(next) > 0 && j.Round < j.MaxRounds {
		j.Round++
		j = roundUpdates(j, next)
		return setState(j, store.JobStarting, now, fmt.Sprintf("round %d: %d more update(s) to install", j.Round, len(next)))
	}
	msg := e.jobSummary(ctx, j)
	if len(next) > 0 {
		msg += fmt.Sprintf("; %d approved update(s) remain after %d rounds (patches.max_rounds)", len(next), j.MaxRounds)
	}
	if len(left) > 0 {
		msg += "; not installed: " + strings.Join(left, ", ")
	}
	return e.finishJob(ctx, j, completion(j), msg)
}

// jobSummary reads a job's outcomes as one line: what installed, what
// failed with its named HRESULT.
func (e *Engine) jobSummary(ctx context.Context, j store.PatchJob) string {
	rs, err := e.db.PatchResults(ctx, store.PatchResultFilter{JobID: j.ID})
	if err != nil {
		return fmt.Sprintf("%d installed, %d failed", j.Installed, j.Failed)
	}
	var fails []string
	for _, r := range rs {
		if r.ResultCode == scripts.ResultFailed || r.ResultCode == scripts.ResultAborted {
			fails = append(fails, r.KB+" "+DescribeHResult(r.HResult).String())
		}
	}
	msg := fmt.Sprintf("%d installed in %d round(s)", j.Installed, j.Round)
	if len(fails) > 0 {
		msg += fmt.Sprintf("; %d failed: %s", len(fails), strings.Join(fails, "; "))
	}
	return msg
}

// roundUpdates sets a round's updates (ids and their KBs).
func roundUpdates(j store.PatchJob, ups []store.PatchUpdate) store.PatchJob {
	j.UpdateIDs = make([]string, len(ups))
	kbs := make([]string, len(ups))
	for i, u := range ups {
		j.UpdateIDs[i] = u.UpdateID
		kbs[i] = u.KB
		if kbs[i] == "" {
			kbs[i] = u.Title
		}
	}
	pr := jobProgress{Total: len(ups), KBs: kbs}
	j.Progress, _ = json.Marshal(pr)
	return j
}

// installable is what a device would install now: its missing updates
// approved for its ring with the gate open (or overridden), in the
// selection (KBs or UpdateIDs; none: all), not excluded, in install
// order; and why the others are left out.
func (e *Engine) installable(ctx context.Context, d DeviceState, sel []string, exclude map[string]bool) ([]store.PatchUpdate, []string, error) {
	p, err := e.readPicture(ctx, []DeviceState{d})
	if err != nil {
		return nil, nil, err
	}
	out, left := p.installable(d, sel, exclude)
	return out, left, nil
}

// installable is what a device would install, from a picture that holds
// it (see Engine.installable).
func (p *patchPicture) installable(d DeviceState, sel []string, exclude map[string]bool) ([]store.PatchUpdate, []string) {
	var out []store.PatchUpdate
	var left []string
	for _, id := range p.missing[d.ID] {
		u, ok := p.cat[id]
		if !ok || exclude[id] {
			continue
		}
		if len(sel) > 0 && !slices.ContainsFunc(sel, func(s string) bool { return strings.EqualFold(s, u.KB) || strings.EqualFold(s, u.UpdateID) }) {
			continue
		}
		name := u.KB
		if name == "" {
			name = u.Title
		}
		st, why := p.deviceState(d, id)
		switch st {
		case PatchInstalled, PatchNeedsReboot:
			left = append(left, name+" installed, the host must restart")
			continue
		case PatchInstalling:
			left = append(left, name+" is installing")
			continue
		case PatchFailed:
			st, why = p.approval(u, p.ring[d.ID]) // asked again: it may be tried again
		}
		switch st {
		case PatchApproved:
			out = append(out, u)
		case PatchGated:
			left = append(left, name+" "+why)
		case PatchDenied:
			left = append(left, name+" denied")
		default:
			left = append(left, name+" needs approval for ring "+p.ring[d.ID])
		}
	}
	slices.SortFunc(out, patchOrder)
	slices.Sort(left)
	return out, left
}

// cancelJob stops a job someone asked to cancel: a running task is
// stopped and removed, what finished is recorded.
func (e *Engine) cancelJob(ctx context.Context, j store.PatchJob) store.PatchJob {
	by := j.CancelBy
	if j.State != store.JobInstalling {
		return e.finishJob(ctx, j, store.JobCancelled, fmt.Sprintf("cancelled by %s (%s)", by, j.State))
	}
	d, ok := e.device(j.DeviceID)
	if !ok {
		return e.finishJob(ctx, j, store.JobCancelled, "cancelled by "+by+" (the device was removed)")
	}
	o := e.patchOptions()
	r, err := e.patchTask(ctx, d, taskParams(j, o, "cancel"))
	if err != nil {
		return e.finishJob(ctx, j, store.JobCancelled, fmt.Sprintf("cancelled by %s; the task could not be stopped (%s): it may still run on the host", by, shortReason(err)))
	}
	done := 0
	if r.Data != nil {
		if prog, have, _ := r.Data.ProgressDoc(); have {
			installed, failed, _ := e.recordResults(ctx, j, prog.Updates)
			j.Installed += installed
			j.Failed += failed
			done = installed
		}
	}
	e.cleanupTask(ctx, d, j)
	return e.finishJob(ctx, j, store.JobCancelled, fmt.Sprintf("cancelled by %s: the task was stopped and removed (%d update(s) had installed)", by, done))
}

// patchEvent is the audit row of something a patch job did on its own:
// its result (install.result) or a restart (reboot).
type patchEvent struct {
	event   string
	host    string
	details map[string]any
}

// Action implements Request.
func (r patchEvent) Action() string { return "patches." + r.event }

// Permission implements Request.
func (patchEvent) Permission() Permission { return PermPatchesInstall }

// Mutating implements Request.
func (patchEvent) Mutating() bool { return true }

// Targets implements Request.
func (r patchEvent) Targets() []string { return []string{r.host} }

// Details implements Request.
func (r patchEvent) Details() map[string]any { return r.details }

func (patchEvent) run(context.Context, *Engine, Identity) (None, error) {
	return None{}, errors.New("a patch job's event is recorded by the engine, not requested")
}
