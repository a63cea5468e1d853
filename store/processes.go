package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Process is an rmm process that owns work in the database: the runs it
// fans out, the queue entries it replays, the WinRM shells it opened. It
// registers when it first takes such work and unregisters when it closes;
// the row of a process that crashed stays, and the next rmm that starts
// (engine recovery) closes or requeues that process's work.
type Process struct {
	ID         int64
	Host       string    // os.Hostname of the machine it runs on
	PID        int       // its process id there
	StartToken string    // the OS's start time of PID, where it tells (a reused pid has another); "" elsewhere
	Command    string    // e.g. "rmm poll", for people
	StartedAt  time.Time // UTC
}

// String names the process for messages: "rmm process 7 (pid 4242 on jump01, rmm poll)".
func (p Process) String() string {
	cmd := ""
	if p.Command != "" {
		cmd = ", " + p.Command
	}
	return fmt.Sprintf("rmm process %d (pid %d on %s%s)", p.ID, p.PID, p.Host, cmd)
}

// RegisterProcess records p and returns its id.
func (db *DB) RegisterProcess(ctx context.Context, p Process) (int64, error) {
	res, err := db.writer.ExecContext(ctx, `INSERT INTO processes (host, pid, start_token, command, started_at)
		VALUES (?, ?, ?, ?, ?)`, p.Host, p.PID, p.StartToken, p.Command, toMS(p.StartedAt))
	if err != nil {
		return 0, fmt.Errorf("register process %d: %w", p.PID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("register process %d: %w", p.PID, err)
	}
	return id, nil
}

// UnregisterProcess removes a process's row (its work is done). Shell
// records it still holds stay: their shells could not be deleted, and the
// next start deletes them.
func (db *DB) UnregisterProcess(ctx context.Context, id int64) error {
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM processes WHERE id = ?`, id); err != nil {
		return fmt.Errorf("unregister process %d: %w", id, err)
	}
	return nil
}

func scanProcesses(rows *sql.Rows) ([]Process, error) {
	defer rows.Close()
	var out []Process
	for rows.Next() {
		var p Process
		var started int64
		if err := rows.Scan(&p.ID, &p.Host, &p.PID, &p.StartToken, &p.Command, &started); err != nil {
			return nil, err
		}
		p.StartedAt = time.UnixMilli(started).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

const processColumns = `id, host, pid, start_token, command, started_at`

// Processes returns the registered processes, oldest first.
func (db *DB) Processes(ctx context.Context) ([]Process, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+processColumns+` FROM processes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	ps, err := scanProcesses(rows)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	return ps, nil
}

// ShellRecord is a WinRM shell a process opened and has not deleted yet,
// or is asking a host for (ShellID "").
type ShellRecord struct {
	ID        int64 // the record's own id
	ProcessID int64
	DeviceID  int64
	Endpoint  string // the WS-Man URL
	ShellID   string // "" while the host is being asked
	OpenedAt  time.Time
}

// ShellChange is one write to the shell records, for WriteShells.
type ShellChange struct {
	Add    *ShellRecord // a new record (ID and ShellID may be zero); its ID is set
	ID     int64        // with ShellID: the record gets its shell id; alone: the record goes
	Forget *ShellRecord // the record of this endpoint and shell id goes
	// ShellID is the id a record made without one gets (see ID).
	ShellID string
}

// WriteShells applies changes to the shell records in order, in one
// transaction: the record-keeping of many shells being made and deleted
// at once costs one commit. It sets the ID of every record it adds. A
// record added for a shell id already recorded is kept as it was.
func (db *DB) WriteShells(ctx context.Context, changes []ShellChange) error {
	if len(changes) == 0 {
		return nil
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for i := range changes {
			c := &changes[i]
			switch {
			case c.Add != nil:
				r := c.Add
				res, err := tx.ExecContext(ctx, `INSERT INTO winrm_shells (process_id, device_id, endpoint, shell_id, opened_at)
					VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint, shell_id) WHERE shell_id <> '' DO NOTHING`,
					r.ProcessID, r.DeviceID, r.Endpoint, r.ShellID, toMS(r.OpenedAt))
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 1 {
					if r.ID, err = res.LastInsertId(); err != nil {
						return err
					}
				}
			case c.Forget != nil:
				if _, err := tx.ExecContext(ctx, `DELETE FROM winrm_shells WHERE endpoint = ? AND shell_id = ?`,
					c.Forget.Endpoint, c.Forget.ShellID); err != nil {
					return err
				}
			case c.ID != 0 && c.ShellID != "":
				if _, err := tx.ExecContext(ctx, `UPDATE winrm_shells SET shell_id = ? WHERE id = ?`, c.ShellID, c.ID); err != nil {
					return err
				}
			case c.ID != 0:
				if _, err := tx.ExecContext(ctx, `DELETE FROM winrm_shells WHERE id = ?`, c.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write %d shell records: %w", len(changes), err)
	}
	return nil
}

// RecordShells stores complete shell records in one transaction (a
// record that exists already is kept).
func (db *DB) RecordShells(ctx context.Context, recs []ShellRecord) error {
	changes := make([]ShellChange, len(recs))
	for i := range recs {
		changes[i].Add = &recs[i]
	}
	return db.WriteShells(ctx, changes)
}

// ForgetShells removes the records of shells that are gone (by endpoint
// and shell id; a record with no shell id by its ID), in one transaction.
func (db *DB) ForgetShells(ctx context.Context, recs []ShellRecord) error {
	if len(recs) == 0 {
		return nil
	}
	changes := make([]ShellChange, len(recs))
	for i := range recs {
		if recs[i].ShellID == "" {
			changes[i].ID = recs[i].ID // a record of a shell asked for and never made
		} else {
			changes[i].Forget = &recs[i]
		}
	}
	return db.WriteShells(ctx, changes)
}

// Shells returns every shell record, by process then endpoint.
func (db *DB) Shells(ctx context.Context) ([]ShellRecord, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT id, process_id, device_id, endpoint, shell_id, opened_at FROM winrm_shells
		ORDER BY process_id, endpoint, id`)
	if err != nil {
		return nil, fmt.Errorf("list shells: %w", err)
	}
	defer rows.Close()
	var out []ShellRecord
	for rows.Next() {
		var r ShellRecord
		var at int64
		if err := rows.Scan(&r.ID, &r.ProcessID, &r.DeviceID, &r.Endpoint, &r.ShellID, &at); err != nil {
			return nil, fmt.Errorf("list shells: %w", err)
		}
		r.OpenedAt = time.UnixMilli(at).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list shells: %w", err)
	}
	return out, nil
}

// Recovered is what RecoverOrphans did with the work of processes that
// are gone.
type Recovered struct {
	Dead     []Process         // the processes found gone (their rows were removed)
	Requeued []QueueEntry      // Replaying entries put back to Pending (replayed again later)
	Failed   []QueueEntry      // Replaying entries interrupted too often: Failed
	Runs     []RecoveredRun    // runs whose fan-out was interrupted
	Owners   map[int64]Process // every process named by the above, by id (dead ones and rows of none: absent)
}

// RecoveredRun is one run whose fan-out process is gone.
type RecoveredRun struct {
	Run       Run
	Owner     int64    // 0: written before runs had owners
	Cancelled []string // hosts whose row had not started: Cancelled
	Failed    []string // hosts whose row was running: Failed, outcome unknown
}

// RecoverOrphans closes or requeues, in one write transaction, the work
// of rmm processes that are gone: alive says, for every registered
// process, whether it still runs (it is asked inside the transaction, so
// a process registering meanwhile is either seen or owns nothing yet).
// Work with no owner (written before owners were recorded) is orphaned
// too.
//
//   - An offline queue entry left Replaying goes back to Pending (its
//     action row to Queued) to be replayed again, unless it was claimed
//     maxAttempts times already: then it is Failed.
//   - A run left unfinished gets its Pending rows Cancelled and its
//     Running rows Failed (the action may or may not have run), except
//     rows that wait in, or replay from, the offline queue; the run is
//     finished.
//   - The rows of the dead processes are removed (their shell records
//     stay until the shells are deleted on their hosts).
//
// audit builds the audit rows of what was done; they commit with it.
func (db *DB) RecoverOrphans(ctx context.Context, alive func(Process) bool, maxAttempts int, now time.Time,
	audit func(Recovered) []AuditEntry) (Recovered, error) {
	// A look first, without the write lock or the audit key: most starts
	// find nothing to recover.
	if found, err := db.orphansExist(ctx, alive); err != nil || !found {
		return Recovered{}, err
	}
	var rec Recovered
	_, err := db.appendAuditWith(ctx, func(tx *sql.Tx) ([]AuditEntry, error) {
		rec = Recovered{Owners: map[int64]Process{}}
		rows, err := tx.QueryContext(ctx, `SELECT `+processColumns+` FROM processes ORDER BY id`)
		if err != nil {
			return nil, err
		}
		all, err := scanProcesses(rows)
		if err != nil {
			return nil, err
		}
		live := []int64{}
		for _, p := range all {
			rec.Owners[p.ID] = p
			if alive(p) {
				live = append(live, p.ID)
			} else {
				rec.Dead = append(rec.Dead, p)
			}
		}
		orphan := orphanClause(live)
		at := toMS(now)

		// Queue entries left Replaying.
		qrows, err := tx.QueryContext(ctx, `SELECT `+queueColumns+`, q.claimed_by FROM offline_queue q JOIN devices d ON d.id = q.device_id
			WHERE q.state = 'Replaying' AND `+orphan("q.claimed_by")+` ORDER BY q.id`)
		if err != nil {
			return nil, err
		}
		type claimed struct {
			e  QueueEntry
			by sql.NullInt64
		}
		var stuck []claimed
		for qrows.Next() {
			var c claimed
			var params string
			var enqueued int64
			var expires, actionID sql.NullInt64
			if err := qrows.Scan(&c.e.ID, &c.e.DeviceID, &c.e.Host, &c.e.Action, &params, &c.e.RequestedBy, &enqueued,
				&expires, &c.e.State, &c.e.Attempts, &c.e.LastError, &c.e.RunID, &actionID, &c.by); err != nil {
				qrows.Close()
				return nil, err
			}
			c.e.Params, _ = decodeParams(params)
			c.e.EnqueuedAt, c.e.ExpiresAt, c.e.ActionID = time.UnixMilli(enqueued).UTC(), fromMS(expires), actionID.Int64
			stuck = append(stuck, c)
		}
		qrows.Close()
		if err := qrows.Err(); err != nil {
			return nil, err
		}
		for _, c := range stuck {
			who := "an rmm process from before owners were recorded"
			if p, ok := rec.Owners[c.by.Int64]; c.by.Valid && ok {
				who = p.String()
			} else if c.by.Valid {
				who = fmt.Sprintf("rmm process %d", c.by.Int64)
			}
			e := c.e
			if e.Attempts >= maxAttempts {
				e.LastError = fmt.Sprintf("interrupted %d times (last: %s ended during the replay); not replayed again", e.Attempts, who)
				e.State = QueueFailed
				if _, err := tx.ExecContext(ctx, `UPDATE offline_queue SET state = 'Failed', last_error = ?, claimed_by = NULL
					WHERE id = ?`, e.LastError, e.ID); err != nil {
					return nil, err
				}
				if e.ActionID != 0 {
					if _, err := tx.ExecContext(ctx, `UPDATE actions SET status = 'Failed', message = ?, finished_at = ?
						WHERE id = ?`, "Failed: "+e.LastError, at, e.ActionID); err != nil {
						return nil, err
					}
				}
				rec.Failed = append(rec.Failed, e)
				continue
			}
			e.LastError = "interrupted: " + who + " ended during the replay; it is replayed again"
			e.State = QueuePending
			if _, err := tx.ExecContext(ctx, `UPDATE offline_queue SET state = 'Pending', last_error = ?, claimed_by = NULL
				WHERE id = ?`, e.LastError, e.ID); err != nil {
				return nil, err
			}
			if e.ActionID != 0 {
				if _, err := tx.ExecContext(ctx, `UPDATE actions SET status = 'Queued', message = ? WHERE id = ?`,
					"Queued: the replay was interrupted ("+who+" ended); it runs again when the device is seen", e.ActionID); err != nil {
					return nil, err
				}
			}
			rec.Requeued = append(rec.Requeued, e)
		}

		// Runs whose fan-out was interrupted.
		rrows, err := tx.QueryContext(ctx, `SELECT `+runColumns+`, r.owner FROM runs r WHERE r.finished_at IS NULL AND `+
			orphan("r.owner")+` ORDER BY r.started_at`)
		if err != nil {
			return nil, err
		}
		for rrows.Next() {
			var rr RecoveredRun
			var params string
			var started int64
			var finished, owner sql.NullInt64
			if err := rrows.Scan(&rr.Run.ID, &rr.Run.Action, &params, &rr.Run.Target, &rr.Run.RequestedBy, &rr.Run.Total,
				&started, &finished, &owner); err != nil {
				rrows.Close()
				return nil, err
			}
			rr.Run.Params, _ = decodeParams(params)
			rr.Run.StartedAt = time.UnixMilli(started).UTC()
			rr.Owner = owner.Int64
			rec.Runs = append(rec.Runs, rr)
		}
		rrows.Close()
		if err := rrows.Err(); err != nil {
			return nil, err
		}
		for i := range rec.Runs {
			rr := &rec.Runs[i]
			who := "an rmm process from before owners were recorded"
			if p, ok := rec.Owners[rr.Owner]; rr.Owner != 0 && ok {
				who = p.String()
			} else if rr.Owner != 0 {
				who = fmt.Sprintf("rmm process %d", rr.Owner)
			}
			arows, err := tx.QueryContext(ctx, `SELECT a.id, a.status, d.hostname FROM actions a JOIN devices d ON d.id = a.device_id
				WHERE a.run_id = ? AND a.status IN ('Pending', 'Running') AND NOT EXISTS (SELECT 1 FROM offline_queue q
					WHERE q.action_id = a.id AND q.state IN ('Pending', 'Replaying')) ORDER BY a.id`, rr.Run.ID)
			if err != nil {
				return nil, err
			}
			type row struct {
				id           int64
				status, host string
			}
			var open []row
			for arows.Next() {
				var r row
				if err := arows.Scan(&r.id, &r.status, &r.host); err != nil {
					arows.Close()
					return nil, err
				}
				open = append(open, r)
			}
			arows.Close()
			if err := arows.Err(); err != nil {
				return nil, err
			}
			for _, r := range open {
				status, msg := ActionCancelled, "Cancelled: "+who+" ended before this device's turn (crash or kill); the action did not run"
				if r.status == ActionRunning {
					status = ActionFailed
					msg = "Failed: " + who + " ended while the action ran (crash or kill); it may or may not have taken effect on the device"
					rr.Failed = append(rr.Failed, r.host)
				} else {
					rr.Cancelled = append(rr.Cancelled, r.host)
				}
				if _, err := tx.ExecContext(ctx, `UPDATE actions SET status = ?, message = ?, finished_at = ? WHERE id = ?`,
					status, msg, at, r.id); err != nil {
					return nil, err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET finished_at = ? WHERE id = ? AND finished_at IS NULL`, at, rr.Run.ID); err != nil {
				return nil, err
			}
		}

		if len(rec.Dead) > 0 {
			ids := make([]int64, len(rec.Dead))
			for i, p := range rec.Dead {
				ids[i] = p.ID
			}
			b, _ := json.Marshal(ids)
			if _, err := tx.ExecContext(ctx, `DELETE FROM processes WHERE id IN (SELECT value FROM json_each(?))`, string(b)); err != nil {
				return nil, err
			}
		}
		if len(rec.Requeued)+len(rec.Failed)+len(rec.Runs) == 0 || audit == nil {
			return nil, nil
		}
		return audit(rec), nil
	})
	if err != nil {
		return Recovered{}, fmt.Errorf("recover the work of ended rmm processes: %w", err)
	}
	return rec, nil
}

// orphanClause is an SQL condition on an owner column: no owner, or one
// not in live. The ids are integers the caller read from the database.
func orphanClause(live []int64) func(col string) string {
	liveJSON, _ := json.Marshal(live)
	return func(col string) string {
		return `(` + col + ` IS NULL OR ` + col + ` NOT IN (SELECT value FROM json_each('` + string(liveJSON) + `')))`
	}
}

// orphansExist reports whether RecoverOrphans would find anything to do.
func (db *DB) orphansExist(ctx context.Context, alive func(Process) bool) (bool, error) {
	ps, err := db.Processes(ctx)
	if err != nil {
		return false, err
	}
	live := []int64{}
	dead := false
	for _, p := range ps {
		if alive(p) {
			live = append(live, p.ID)
		} else {
			dead = true
		}
	}
	if dead {
		return true, nil
	}
	orphan := orphanClause(live)
	var n int
	err = db.reader.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM offline_queue q WHERE q.state = 'Replaying' AND `+
		orphan("q.claimed_by")+`) + (SELECT count(*) FROM runs r WHERE r.finished_at IS NULL AND `+orphan("r.owner")+`)`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look for orphaned work: %w", err)
	}
	return n > 0, nil
}
