package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Patch management's tables (migration 0012): the catalog of updates,
// what each device's last scan found, approvals per update and ring,
// install jobs and their per-update results. The engine decides; the
// store keeps.

// PatchUpdate is one Windows update of the catalog.
type PatchUpdate struct {
	UpdateID       string
	KB             string
	Title          string
	Classification string // English
	Severity       string // MSRC severity, "" when none
	SizeBytes      int64
	RebootBehavior int // 0 never, 1 always, 2 may ask
	ReleasedAt     time.Time
	FirstSeen      time.Time
}

// PatchScan is a device's last scan.
type PatchScan struct {
	DeviceID           int64
	ScannedAt          time.Time
	OK                 bool
	Error              string // why it failed, when not OK
	HResult            int64
	Service            string // WSUS, Windows Update, Microsoft Update
	Server             string
	LastSearchSuccess  time.Time
	LastInstallSuccess time.Time
	RebootRequired     bool
	Missing            int
	Installed          int
}

// Device patch states in device_patches.
const (
	PatchMissing   = "missing"
	PatchInstalled = "installed"
)

// DevicePatch is one update on one device as its last scan found it.
type DevicePatch struct {
	DeviceID int64
	UpdateID string
	State    string // PatchMissing or PatchInstalled
}

// PutPatchScan stores a device's scan: a scan that worked replaces what
// the device's last scan found (missing and installed) and adds new
// updates to the catalog; a failed one only records the failure (what was
// found before stays). One transaction. An update's title stays the one
// first seen: hosts report titles in their display language, and the
// catalog's must not change with whichever host scanned last.
func (db *DB) PutPatchScan(ctx context.Context, s PatchScan, missing, installed []PatchUpdate) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if s.OK {
			cat, err := tx.PrepareContext(ctx, `INSERT INTO patch_catalog (update_id, kb, title, classification, severity,
				size_bytes, reboot_behavior, released_at, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (update_id) DO UPDATE SET kb = excluded.kb,
				classification = excluded.classification, severity = excluded.severity, size_bytes = excluded.size_bytes,
				reboot_behavior = excluded.reboot_behavior, released_at = excluded.released_at
				WHERE kb IS NOT excluded.kb OR classification IS NOT excluded.classification
				OR severity IS NOT excluded.severity OR size_bytes IS NOT excluded.size_bytes
				OR reboot_behavior IS NOT excluded.reboot_behavior OR released_at IS NOT excluded.released_at`)
			if err != nil {
				return err
			}
			defer cat.Close()
			if _, err := tx.ExecContext(ctx, `DELETE FROM device_patches WHERE device_id = ?`, s.DeviceID); err != nil {
				return err
			}
			row, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO device_patches (device_id, update_id, state) VALUES (?, ?, ?)`)
			if err != nil {
				return err
			}
			defer row.Close()
			for _, set := range []struct {
				state string
				list  []PatchUpdate
			}{{PatchInstalled, installed}, {PatchMissing, missing}} {
				for _, u := range set.list {
					if u.UpdateID == "" {
						continue
					}
					if _, err := cat.ExecContext(ctx, u.UpdateID, u.KB, u.Title, u.Classification, u.Severity, u.SizeBytes,
						u.RebootBehavior, nullTime(u.ReleasedAt), toMS(s.ScannedAt)); err != nil {
						return err
					}
					if _, err := row.ExecContext(ctx, s.DeviceID, u.UpdateID, set.state); err != nil {
						return err
					}
				}
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO patch_scans (device_id, scanned_at, ok, error, hresult, service, server,
				last_search_success, last_install_success, reboot_required, missing, installed) VALUES (?, ?, 1, '', 0, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (device_id) DO UPDATE SET scanned_at = excluded.scanned_at, ok = 1, error = '', hresult = 0,
				service = excluded.service, server = excluded.server, last_search_success = excluded.last_search_success,
				last_install_success = excluded.last_install_success, reboot_required = excluded.reboot_required,
				missing = excluded.missing, installed = excluded.installed`,
				s.DeviceID, toMS(s.ScannedAt), s.Service, s.Server, nullTime(s.LastSearchSuccess), nullTime(s.LastInstallSuccess),
				s.RebootRequired, len(missing), len(installed))
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO patch_scans (device_id, scanned_at, ok, error, hresult, service, server,
			last_search_success, last_install_success) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (device_id) DO UPDATE SET scanned_at = excluded.scanned_at, ok = 0, error = excluded.error,
			hresult = excluded.hresult, service = CASE WHEN excluded.service <> '' THEN excluded.service ELSE service END,
			server = CASE WHEN excluded.server <> '' THEN excluded.server ELSE server END,
			last_search_success = coalesce(excluded.last_search_success, last_search_success),
			last_install_success = coalesce(excluded.last_install_success, last_install_success)`,
			s.DeviceID, toMS(s.ScannedAt), s.Error, s.HResult, s.Service, s.Server, nullTime(s.LastSearchSuccess), nullTime(s.LastInstallSuccess))
		return err
	})
	if err != nil {
		return fmt.Errorf("store patch scan of device %d: %w", s.DeviceID, err)
	}
	return nil
}

func scanPatchUpdate(r rowScanner) (PatchUpdate, error) {
	var (
		u         PatchUpdate
		released  sql.NullInt64
		firstSeen int64
	)
	if err := r.Scan(&u.UpdateID, &u.KB, &u.Title, &u.Classification, &u.Severity, &u.SizeBytes, &u.RebootBehavior,
		&released, &firstSeen); err != nil {
		return u, err
	}
	u.ReleasedAt, u.FirstSeen = fromMS(released), time.UnixMilli(firstSeen).UTC()
	return u, nil
}

const catalogColumns = `update_id, kb, title, classification, severity, size_bytes, reboot_behavior, released_at, first_seen`

// PatchCatalog returns every update a scan has seen, by KB then title.
func (db *DB) PatchCatalog(ctx context.Context) ([]PatchUpdate, error) {
	return queryAll(ctx, db, "patch catalog", scanPatchUpdate, `SELECT `+catalogColumns+` FROM patch_catalog ORDER BY kb, title`)
}

// PatchUpdatesByKB returns the catalog's updates with a KB (any case):
// one KB can name several updates (Defender's definitions, the monthly
// Malicious Software Removal Tool).
func (db *DB) PatchUpdatesByKB(ctx context.Context, kb string) ([]PatchUpdate, error) {
	return queryAll(ctx, db, "patch catalog "+kb, scanPatchUpdate, `SELECT `+catalogColumns+` FROM patch_catalog
		WHERE kb = ? COLLATE NOCASE ORDER BY title`, strings.TrimSpace(kb))
}

// DevicePatchRows returns the rows of device_patches in state (every
// state when empty) for every device, by device.
func (db *DB) DevicePatchRows(ctx context.Context, state string) ([]DevicePatch, error) {
	q := `SELECT device_id, update_id, state FROM device_patches`
	var args []any
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, state)
	}
	return queryAll(ctx, db, "device patches", func(r rowScanner) (DevicePatch, error) {
		var p DevicePatch
		err := r.Scan(&p.DeviceID, &p.UpdateID, &p.State)
		return p, err
	}, q+` ORDER BY device_id, update_id`, args...)
}

// InstalledCounts returns, per update, how many devices' last scans found
// it installed.
func (db *DB) InstalledCounts(ctx context.Context) (map[string]int, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT update_id, count(*) FROM device_patches WHERE state = 'installed' GROUP BY update_id`)
	if err != nil {
		return nil, fmt.Errorf("installed counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("installed counts: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// DeviceUpdates returns one device's updates as its last scan found them,
// with their catalog entries.
func (db *DB) DeviceUpdates(ctx context.Context, deviceID int64) ([]PatchUpdate, []string, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT c.update_id, c.kb, c.title, c.classification, c.severity, c.size_bytes,
		c.reboot_behavior, c.released_at, c.first_seen, p.state FROM device_patches p JOIN patch_catalog c USING (update_id)
		WHERE p.device_id = ? ORDER BY p.state DESC, c.classification, c.kb, c.title`, deviceID)
	if err != nil {
		return nil, nil, fmt.Errorf("updates of device %d: %w", deviceID, err)
	}
	defer rows.Close()
	var ups []PatchUpdate
	var states []string
	for rows.Next() {
		var (
			u         PatchUpdate
			released  sql.NullInt64
			firstSeen int64
			state     string
		)
		if err := rows.Scan(&u.UpdateID, &u.KB, &u.Title, &u.Classification, &u.Severity, &u.SizeBytes, &u.RebootBehavior,
			&released, &firstSeen, &state); err != nil {
			return nil, nil, fmt.Errorf("updates of device %d: %w", deviceID, err)
		}
		u.ReleasedAt, u.FirstSeen = fromMS(released), time.UnixMilli(firstSeen).UTC()
		ups = append(ups, u)
		states = append(states, state)
	}
	return ups, states, rows.Err()
}

// DeviceKBs returns the KBs one device's last scan found missing and
// installed, sorted, without duplicates.
func (db *DB) DeviceKBs(ctx context.Context, deviceID int64) (missing, installed []string, err error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT DISTINCT c.kb, p.state FROM device_patches p JOIN patch_catalog c USING (update_id)
		WHERE p.device_id = ? AND c.kb <> '' ORDER BY c.kb`, deviceID)
	if err != nil {
		return nil, nil, fmt.Errorf("KBs of device %d: %w", deviceID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kb, state string
		if err := rows.Scan(&kb, &state); err != nil {
			return nil, nil, fmt.Errorf("KBs of device %d: %w", deviceID, err)
		}
		if state == PatchMissing {
			missing = append(missing, kb)
		} else {
			installed = append(installed, kb)
		}
	}
	return missing, installed, rows.Err()
}

// DevicesWithKB returns the devices whose last scan found a KB (any case)
// missing, and those that found it installed.
func (db *DB) DevicesWithKB(ctx context.Context, kb string) (missing, installed []int64, err error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT DISTINCT p.device_id, p.state FROM device_patches p
		JOIN patch_catalog c USING (update_id) WHERE c.kb = ? COLLATE NOCASE ORDER BY p.device_id`, strings.TrimSpace(kb))
	if err != nil {
		return nil, nil, fmt.Errorf("devices with %s: %w", kb, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var state string
		if err := rows.Scan(&id, &state); err != nil {
			return nil, nil, fmt.Errorf("devices with %s: %w", kb, err)
		}
		if state == PatchMissing {
			missing = append(missing, id)
		} else {
			installed = append(installed, id)
		}
	}
	return missing, installed, rows.Err()
}

// PatchScans returns every device's last scan, by device id.
func (db *DB) PatchScans(ctx context.Context) (map[int64]PatchScan, error) {
	list, err := queryAll(ctx, db, "patch scans", scanPatchScan, `SELECT device_id, scanned_at, ok, error, hresult, service, server,
		last_search_success, last_install_success, reboot_required, missing, installed FROM patch_scans`)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]PatchScan, len(list))
	for _, s := range list {
		out[s.DeviceID] = s
	}
	return out, nil
}

func scanPatchScan(r rowScanner) (PatchScan, error) {
	var (
		s              PatchScan
		at             int64
		search, instal sql.NullInt64
	)
	if err := r.Scan(&s.DeviceID, &at, &s.OK, &s.Error, &s.HResult, &s.Service, &s.Server, &search, &instal,
		&s.RebootRequired, &s.Missing, &s.Installed); err != nil {
		return s, err
	}
	s.ScannedAt, s.LastSearchSuccess, s.LastInstallSuccess = time.UnixMilli(at).UTC(), fromMS(search), fromMS(instal)
	return s, nil
}

// Approval decisions.
const (
	PatchApproved = "approved"
	PatchDenied   = "denied"
)

// PatchApproval is a decision about an update for a ring ("*": every
// ring).
type PatchApproval struct {
	UpdateID  string
	Ring      string
	Decision  string // PatchApproved or PatchDenied
	Source    string // "manual" or "rule:NAME"
	Override  bool   // approved past the ring's gate by an Admin
	DecidedBy string
	DecidedAt time.Time
	Note      string
}

// PatchApprovals returns every decision.
func (db *DB) PatchApprovals(ctx context.Context) ([]PatchApproval, error) {
	return queryAll(ctx, db, "patch approvals", func(r rowScanner) (PatchApproval, error) {
		var a PatchApproval
		var at int64
		err := r.Scan(&a.UpdateID, &a.Ring, &a.Decision, &a.Source, &a.Override, &a.DecidedBy, &at, &a.Note)
		a.DecidedAt = time.UnixMilli(at).UTC()
		return a, err
	}, `SELECT update_id, ring, decision, source, override, decided_by, decided_at, note FROM patch_approvals ORDER BY update_id, ring`)
}

// SetPatchApprovals stores decisions (replacing any for the same update
// and ring), all or none.
func (db *DB) SetPatchApprovals(ctx context.Context, as []PatchApproval) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO patch_approvals (update_id, ring, decision, source, override,
			decided_by, decided_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, a := range as {
			if a.Decision != PatchApproved && a.Decision != PatchDenied {
				return fmt.Errorf("decision %q is not approved or denied", a.Decision)
			}
			if _, err := st.ExecContext(ctx, a.UpdateID, a.Ring, a.Decision, a.Source, a.Override, a.DecidedBy, toMS(a.DecidedAt), a.Note); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store patch approvals: %w", err)
	}
	return nil
}

// Patch job states.
const (
	JobQueued     = "queued"      // waiting for the device to be online (the offline queue)
	JobStarting   = "starting"    // the task is to be placed and started
	JobInstalling = "installing"  // the task runs; its progress is polled
	JobRebootWait = "reboot_wait" // installed; a restart waits for the maintenance window
	JobRebooting  = "rebooting"   // the restart was issued; waiting for the host to come back
	JobSettling   = "settling"    // back; waiting for servicing to settle
	JobRescanning = "rescanning"  // a scan decides whether another round is due
	JobCompleted  = "completed"
	JobFailed     = "failed"
	JobCancelled  = "cancelled"
	JobExpired    = "expired"
)

// JobFinished reports a state a job ends in.
func JobFinished(state string) bool {
	switch state {
	case JobCompleted, JobFailed, JobCancelled, JobExpired:
		return true
	}
	return false
}

// PatchJob is one device's install job.
type PatchJob struct {
	ID               int64
	RunID            string
	DeviceID         int64
	Host             string // read only
	State            string
	KBs              []string // the selection; none: every approved missing update
	Reboot           string   // window, now, never
	MaxRounds        int
	Round            int
	UpdateIDs        []string // this round's
	Task             string
	Progress         json.RawMessage
	Message          string
	HResult          int64
	Installed        int
	Failed           int
	RebootRequired   bool
	RequestedBy      string
	RequestedAt      time.Time
	TaskStartedAt    time.Time
	BootBefore       time.Time
	RebootAt         time.Time
	StateSince       time.Time
	UnreachableSince time.Time
	NextAt           time.Time
	ExpiresAt        time.Time
	FinishedAt       time.Time
	CancelBy         string // who asked to cancel it; the next step does
}

const jobColumns = `j.id, j.run_id, j.device_id, d.hostname, j.state, j.kbs, j.reboot, j.max_rounds, j.round, j.update_ids, j.task,
	j.progress, j.message, j.hresult, j.installed, j.failed, j.reboot_required, j.requested_by, j.requested_at, j.task_started_at,
	j.boot_before, j.reboot_at, j.state_since, j.unreachable_since, j.next_at, j.expires_at, j.finished_at, j.cancel_by`

func scanPatchJob(r rowScanner) (PatchJob, error) {
	var (
		j                                        PatchJob
		kbs, ids, progress                       string
		requested, since, next, expires          int64
		started, boot, reboot, unreach, finished sql.NullInt64
	)
	if err := r.Scan(&j.ID, &j.RunID, &j.DeviceID, &j.Host, &j.State, &kbs, &j.Reboot, &j.MaxRounds, &j.Round, &ids, &j.Task,
		&progress, &j.Message, &j.HResult, &j.Installed, &j.Failed, &j.RebootRequired, &j.RequestedBy, &requested, &started,
		&boot, &reboot, &since, &unreach, &next, &expires, &finished, &j.CancelBy); err != nil {
		return j, err
	}
	if err := json.Unmarshal([]byte(kbs), &j.KBs); err != nil {
		return j, fmt.Errorf("job %d kbs: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(ids), &j.UpdateIDs); err != nil {
		return j, fmt.Errorf("job %d update_ids: %w", j.ID, err)
	}
	j.Progress = json.RawMessage(progress)
	j.RequestedAt, j.StateSince = time.UnixMilli(requested).UTC(), time.UnixMilli(since).UTC()
	j.NextAt, j.ExpiresAt = time.UnixMilli(next).UTC(), time.UnixMilli(expires).UTC()
	j.TaskStartedAt, j.BootBefore, j.RebootAt = fromMS(started), fromMS(boot), fromMS(reboot)
	j.UnreachableSince, j.FinishedAt = fromMS(unreach), fromMS(finished)
	return j, nil
}

func jsonList(list []string) (string, error) {
	if list == nil {
		list = []string{}
	}
	b, err := json.Marshal(list)
	return string(b), err
}

func progressText(p json.RawMessage) string {
	if len(p) == 0 || !json.Valid(p) {
		return "{}"
	}
	return string(p)
}

// CreatePatchJobs stores new jobs, all or none, and returns their ids in
// order.
func (db *DB) CreatePatchJobs(ctx context.Context, jobs []PatchJob) ([]int64, error) {
	ids := make([]int64, 0, len(jobs))
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO patch_jobs (run_id, device_id, state, kbs, reboot, max_rounds, round,
			update_ids, task, progress, message, requested_by, requested_at, state_since, next_at, expires_at, finished_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, j := range jobs {
			kbs, err := jsonList(j.KBs)
			if err != nil {
				return err
			}
			upd, err := jsonList(j.UpdateIDs)
			if err != nil {
				return err
			}
			res, err := st.ExecContext(ctx, j.RunID, j.DeviceID, j.State, kbs, j.Reboot, j.MaxRounds, max(j.Round, 1), upd, j.Task,
				progressText(j.Progress), j.Message, j.RequestedBy, toMS(j.RequestedAt), toMS(j.StateSince), toMS(j.NextAt),
				toMS(j.ExpiresAt), nullTime(j.FinishedAt))
			if err != nil {
				return err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create patch jobs: %w", err)
	}
	return ids, nil
}

// SavePatchJob writes a job's mutable fields and releases its lease.
func (db *DB) SavePatchJob(ctx context.Context, j PatchJob) error {
	upd, err := jsonList(j.UpdateIDs)
	if err != nil {
		return fmt.Errorf("save patch job %d: %w", j.ID, err)
	}
	_, err = db.writer.ExecContext(ctx, `UPDATE patch_jobs SET state = ?, round = ?, update_ids = ?, task = ?, progress = ?,
		message = ?, hresult = ?, installed = ?, failed = ?, reboot_required = ?, task_started_at = ?, boot_before = ?, reboot_at = ?,
		state_since = ?, unreachable_since = ?, next_at = ?, finished_at = ?, lease_until = NULL WHERE id = ?`,
		j.State, j.Round, upd, j.Task, progressText(j.Progress), j.Message, j.HResult, j.Installed, j.Failed, j.RebootRequired,
		nullTime(j.TaskStartedAt), nullTime(j.BootBefore), nullTime(j.RebootAt), toMS(j.StateSince), nullTime(j.UnreachableSince),
		toMS(j.NextAt), nullTime(j.FinishedAt), j.ID)
	if err != nil {
		return fmt.Errorf("save patch job %d: %w", j.ID, err)
	}
	return nil
}

// ClaimPatchJob takes a job for until unless another process holds it or
// it finished; ok reports whether it was taken. The job as stored is
// returned.
func (db *DB) ClaimPatchJob(ctx context.Context, id int64, now, until time.Time) (PatchJob, bool, error) {
	res, err := db.writer.ExecContext(ctx, `UPDATE patch_jobs SET lease_until = ? WHERE id = ? AND finished_at IS NULL
		AND (lease_until IS NULL OR lease_until < ?)`, toMS(until), id, toMS(now))
	if err != nil {
		return PatchJob{}, false, fmt.Errorf("claim patch job %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return PatchJob{}, false, fmt.Errorf("claim patch job %d: %w", id, err)
	}
	if n == 0 {
		return PatchJob{}, false, nil
	}
	j, err := db.PatchJob(ctx, id)
	if err != nil {
		return PatchJob{}, false, err
	}
	return j, true, nil
}

// RequestPatchJobCancel marks unfinished jobs to be cancelled by by and
// makes them due now; it returns the ids it marked.
func (db *DB) RequestPatchJobCancel(ctx context.Context, ids []int64, by string, now time.Time) ([]int64, error) {
	var out []int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE patch_jobs SET cancel_by = ?, next_at = ? WHERE id = ? AND finished_at IS NULL AND cancel_by = ''`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range ids {
			res, err := st.ExecContext(ctx, by, toMS(now), id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				out = append(out, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cancel patch jobs: %w", err)
	}
	return out, nil
}

// LatestPatchResults returns each device's latest outcome per update.
func (db *DB) LatestPatchResults(ctx context.Context) ([]PatchResult, error) {
	return queryAll(ctx, db, "latest patch results", func(r rowScanner) (PatchResult, error) {
		var (
			p  PatchResult
			at int64
		)
		err := r.Scan(&p.ID, &p.JobID, &p.DeviceID, &p.Round, &p.UpdateID, &p.KB, &p.ResultCode, &p.HResult, &p.RebootRequired, &at)
		p.FinishedAt = time.UnixMilli(at).UTC()
		return p, err
	}, `SELECT r.id, r.job_id, r.device_id, r.round, r.update_id, r.kb, r.result_code, r.hresult, r.reboot_required, r.finished_at
		FROM patch_results r JOIN (SELECT max(id) AS id FROM patch_results GROUP BY device_id, update_id) l ON l.id = r.id`)
}

// ReleasePatchJob gives a claimed job back unchanged.
func (db *DB) ReleasePatchJob(ctx context.Context, id int64) error {
	if _, err := db.writer.ExecContext(ctx, `UPDATE patch_jobs SET lease_until = NULL WHERE id = ?`, id); err != nil {
		return fmt.Errorf("release patch job %d: %w", id, err)
	}
	return nil
}

// PatchJob returns one job; the error wraps ErrNotFound when there is
// none.
func (db *DB) PatchJob(ctx context.Context, id int64) (PatchJob, error) {
	list, err := db.queryJobs(ctx, `WHERE j.id = ?`, id)
	if err != nil {
		return PatchJob{}, err
	}
	if len(list) == 0 {
		return PatchJob{}, fmt.Errorf("patch job %d: %w", id, ErrNotFound)
	}
	return list[0], nil
}

func (db *DB) queryJobs(ctx context.Context, where string, args ...any) ([]PatchJob, error) {
	return queryAll(ctx, db, "patch jobs", scanPatchJob, `SELECT `+jobColumns+` FROM patch_jobs j JOIN devices d ON d.id = j.device_id `+
		where, args...)
}

// PatchJobFilter picks jobs; zero fields match everything.
type PatchJobFilter struct {
	RunID    string
	DeviceID int64
	Active   bool // not finished
	Limit    int  // the newest this many; 0: all
}

// PatchJobs returns jobs, newest first.
func (db *DB) PatchJobs(ctx context.Context, f PatchJobFilter) ([]PatchJob, error) {
	var conds []string
	var args []any
	if f.RunID != "" {
		conds = append(conds, "j.run_id = ?")
		args = append(args, f.RunID)
	}
	if f.DeviceID != 0 {
		conds = append(conds, "j.device_id = ?")
		args = append(args, f.DeviceID)
	}
	if f.Active {
		conds = append(conds, "j.finished_at IS NULL")
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	where += " ORDER BY j.id DESC"
	if f.Limit > 0 {
		where += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return db.queryJobs(ctx, where, args...)
}

// DuePatchJobs returns the unfinished jobs whose next step is due at now
// and that nobody holds, oldest first, at most limit.
func (db *DB) DuePatchJobs(ctx context.Context, now time.Time, limit int) ([]PatchJob, error) {
	return db.queryJobs(ctx, `WHERE j.finished_at IS NULL AND j.next_at <= ? AND (j.lease_until IS NULL OR j.lease_until < ?)
		ORDER BY j.next_at, j.id LIMIT ?`, toMS(now), toMS(now), limit)
}

// NextPatchJobAt is when the earliest unfinished job is due; zero when
// there is none.
func (db *DB) NextPatchJobAt(ctx context.Context) (time.Time, error) {
	var at sql.NullInt64
	if err := db.reader.QueryRowContext(ctx, `SELECT min(next_at) FROM patch_jobs WHERE finished_at IS NULL`).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("next patch job: %w", err)
	}
	return fromMS(at), nil
}

// WakeQueuedPatchJobs makes the queued jobs of devices due now (they came
// back online) and returns how many.
func (db *DB) WakeQueuedPatchJobs(ctx context.Context, deviceIDs []int64, now time.Time) (int, error) {
	if len(deviceIDs) == 0 {
		return 0, nil
	}
	n := 0
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE patch_jobs SET next_at = ? WHERE device_id = ? AND state = 'queued' AND finished_at IS NULL AND next_at > ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range deviceIDs {
			res, err := st.ExecContext(ctx, toMS(now), id, toMS(now))
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("wake queued patch jobs: %w", err)
	}
	return n, nil
}

// PatchResult is one update's outcome in a job round.
type PatchResult struct {
	ID             int64
	JobID          int64
	RunID          string // read only
	DeviceID       int64
	Host           string // read only
	Round          int
	UpdateID       string
	KB             string
	Title          string
	ResultCode     int
	HResult        int64
	RebootRequired bool
	Message        string
	FinishedAt     time.Time
}

// AddPatchResults stores outcomes, all or none.
func (db *DB) AddPatchResults(ctx context.Context, rs []PatchResult) error {
	if len(rs) == 0 {
		return nil
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO patch_results (job_id, device_id, round, update_id, kb, title, result_code,
			hresult, reboot_required, message, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range rs {
			if _, err := st.ExecContext(ctx, r.JobID, r.DeviceID, r.Round, r.UpdateID, r.KB, r.Title, r.ResultCode, r.HResult,
				r.RebootRequired, r.Message, toMS(r.FinishedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store patch results: %w", err)
	}
	return nil
}

// PatchResultFilter picks results; zero fields match everything.
type PatchResultFilter struct {
	DeviceID  int64
	JobID     int64
	UpdateIDs []string
	KB        string
	Since     time.Time
	Limit     int // the newest this many; 0: all
}

// PatchResults returns outcomes, newest first.
func (db *DB) PatchResults(ctx context.Context, f PatchResultFilter) ([]PatchResult, error) {
	var conds []string
	var args []any
	if f.DeviceID != 0 {
		conds = append(conds, "r.device_id = ?")
		args = append(args, f.DeviceID)
	}
	if f.JobID != 0 {
		conds = append(conds, "r.job_id = ?")
		args = append(args, f.JobID)
	}
	if f.KB != "" {
		conds = append(conds, "r.kb = ? COLLATE NOCASE")
		args = append(args, f.KB)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "r.finished_at >= ?")
		args = append(args, toMS(f.Since))
	}
	if len(f.UpdateIDs) > 0 {
		conds = append(conds, "r.update_id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(f.UpdateIDs)), ",")+")")
		for _, id := range f.UpdateIDs {
			args = append(args, id)
		}
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	where += " ORDER BY r.finished_at DESC, r.id DESC"
	if f.Limit > 0 {
		where += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return queryAll(ctx, db, "patch results", func(r rowScanner) (PatchResult, error) {
		var (
			p  PatchResult
			at int64
		)
		err := r.Scan(&p.ID, &p.JobID, &p.RunID, &p.DeviceID, &p.Host, &p.Round, &p.UpdateID, &p.KB, &p.Title, &p.ResultCode,
			&p.HResult, &p.RebootRequired, &p.Message, &at)
		p.FinishedAt = time.UnixMilli(at).UTC()
		return p, err
	}, `SELECT r.id, r.job_id, j.run_id, r.device_id, d.hostname, r.round, r.update_id, r.kb, r.title, r.result_code, r.hresult,
		r.reboot_required, r.message, r.finished_at FROM patch_results r JOIN patch_jobs j ON j.id = r.job_id
		JOIN devices d ON d.id = r.device_id `+where, args...)
}

// ErrPatchJobBusy is wrapped when a device already has an unfinished job.
var ErrPatchJobBusy = errors.New("a patch job is already running on the device")

// DeviceMissing returns the UpdateIDs one device's last scan found
// missing.
func (db *DB) DeviceMissing(ctx context.Context, deviceID int64) ([]string, error) {
	return queryAll(ctx, db, "missing updates", func(r rowScanner) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	}, `SELECT update_id FROM device_patches WHERE device_id = ? AND state = 'missing' ORDER BY update_id`, deviceID)
}

// PatchScanOf returns one device's last scan; ok is false when it was
// never scanned.
func (db *DB) PatchScanOf(ctx context.Context, deviceID int64) (PatchScan, bool, error) {
	list, err := queryAll(ctx, db, "patch scan", scanPatchScan, `SELECT device_id, scanned_at, ok, error, hresult, service, server,
		last_search_success, last_install_success, reboot_required, missing, installed FROM patch_scans WHERE device_id = ?`, deviceID)
	if err != nil || len(list) == 0 {
		return PatchScan{}, false, err
	}
	return list[0], true, nil
}

// PatchCatalogOf returns the catalog entries of some updates.
func (db *DB) PatchCatalogOf(ctx context.Context, ids []string) ([]PatchUpdate, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return queryAll(ctx, db, "patch catalog", scanPatchUpdate, `SELECT `+catalogColumns+` FROM patch_catalog
		WHERE update_id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+`)`, args...)
}

// LatestPatchResultsOf returns, for some updates, each device's latest
// outcome.
func (db *DB) LatestPatchResultsOf(ctx context.Context, ids []string) ([]PatchResult, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	in := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	return queryAll(ctx, db, "latest patch results", func(r rowScanner) (PatchResult, error) {
		var (
			p  PatchResult
			at int64
		)
		err := r.Scan(&p.ID, &p.JobID, &p.DeviceID, &p.Round, &p.UpdateID, &p.KB, &p.ResultCode, &p.HResult, &p.RebootRequired, &at)
		p.FinishedAt = time.UnixMilli(at).UTC()
		return p, err
	}, `SELECT r.id, r.job_id, r.device_id, r.round, r.update_id, r.kb, r.result_code, r.hresult, r.reboot_required, r.finished_at
		FROM patch_results r JOIN (SELECT max(id) AS id FROM patch_results WHERE update_id IN (`+in+`) GROUP BY device_id, update_id) l
		ON l.id = r.id`, args...)
}
