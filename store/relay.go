package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RelaySite is a site whose devices a site relay polls (engine/relay):
// central runs a hub account for it, and the relay's leaf connection
// authenticates with the password whose bcrypt hash is kept here.
type RelaySite struct {
	Site       string
	LeafUser   string
	PassHash   string // bcrypt; the password itself is only in the relay's credentials file
	EnrolledAt time.Time
}

// PutRelaySite enrols site, or re-enrols it with a new password (the old
// credentials file stops working at the hub's next start).
func (db *DB) PutRelaySite(ctx context.Context, s RelaySite) error {
	if s.Site == "" || s.LeafUser == "" || s.PassHash == "" {
		return errors.New("put relay site: site, leaf user and password hash are required")
	}
	at := s.EnrolledAt
	if at.IsZero() {
		at = db.now()
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO relay_sites (site, leaf_user, pass_hash, enrolled_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (site) DO UPDATE SET leaf_user = excluded.leaf_user, pass_hash = excluded.pass_hash,
				enrolled_at = excluded.enrolled_at, revoked_at = NULL`,
			s.Site, s.LeafUser, s.PassHash, at.UTC().UnixMilli())
		if err != nil {
			return fmt.Errorf("put relay site %s: %w", s.Site, err)
		}
		return nil
	})
}

// RevokeRelaySite stops site's relay credentials from being accepted
// (at the hub's next start). Its devices go back to being polled by
// central.
func (db *DB) RevokeRelaySite(ctx context.Context, site string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE relay_sites SET revoked_at = ? WHERE site = ? AND revoked_at IS NULL`,
			db.now().UTC().UnixMilli(), site)
		if err != nil {
			return fmt.Errorf("revoke relay site %s: %w", site, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("revoke relay site %s: no enrolled relay for that site", site)
		}
		return nil
	})
}

// RelaySites lists the enrolled (not revoked) relay sites, by name.
func (db *DB) RelaySites(ctx context.Context) ([]RelaySite, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT site, leaf_user, pass_hash, enrolled_at FROM relay_sites
		WHERE revoked_at IS NULL ORDER BY site`)
	if err != nil {
		return nil, fmt.Errorf("list relay sites: %w", err)
	}
	defer rows.Close()
	var out []RelaySite
	for rows.Next() {
		var s RelaySite
		var at int64
		if err := rows.Scan(&s.Site, &s.LeafUser, &s.PassHash, &at); err != nil {
			return nil, fmt.Errorf("list relay sites: %w", err)
		}
		s.EnrolledAt = time.UnixMilli(at).UTC()
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list relay sites: %w", err)
	}
	return out, nil
}

// RelayPoll is one poll a site relay made, as central ingests it.
type RelayPoll struct {
	MsgID       string // unique per poll (hostname and time): the idempotency key
	Hostname    string
	Status      string
	At          time.Time
	LastError   string
	HasMetrics  bool
	CPUPct      float64
	MemPct      float64
	DiskFreePct float64
	Metrics     []Metric // the poll's rows; DeviceID is ignored (the relay's ids are not central's)
}

// AppliedPoll is a poll ApplyRelayPolls wrote: the index in its input and
// the central device id it was written to.
type AppliedPoll struct {
	Index    int
	DeviceID int64
}

// RelayApplyResult says what ApplyRelayPolls did with each poll.
type RelayApplyResult struct {
	Applied    []AppliedPoll
	Duplicates int // already applied before (same MsgID): nothing written
	Foreign    int // no device of that hostname in the site: refused, nothing written
}

// ApplyRelayPolls writes polls a relay of site sent, in one transaction:
// each poll's status and metrics, once. A poll whose MsgID was applied
// before is skipped, so a redelivered message changes nothing; a poll
// naming a device that is not in site is refused (a relay writes only
// its own site's devices).
func (db *DB) ApplyRelayPolls(ctx context.Context, site string, polls []RelayPoll) (RelayApplyResult, error) {
	var res RelayApplyResult
	now := db.now().UTC().UnixMilli()
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res = RelayApplyResult{}
		for i, p := range polls {
			if err := checkStatus(StatusUpdate{DeviceID: 1, Status: p.Status, At: p.At}); err != nil {
				return fmt.Errorf("poll %s: %w", p.MsgID, err)
			}
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT d.id FROM devices d JOIN sites s ON s.id = d.site_id
				WHERE d.hostname = ? AND s.name = ?`, p.Hostname, site).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				res.Foreign++
				continue
			}
			if err != nil {
				return fmt.Errorf("device %s: %w", p.Hostname, err)
			}
			ins, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO relay_applied (scope, msg_id, applied_at) VALUES (?, ?, ?)`,
				site, p.MsgID, now)
			if err != nil {
				return fmt.Errorf("poll %s: %w", p.MsgID, err)
			}
			if n, _ := ins.RowsAffected(); n == 0 {
				res.Duplicates++
				continue
			}
			at := p.At.UTC().UnixMilli()
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET
				status        = ?1,
				last_seen     = CASE WHEN ?1 = 'Online' THEN ?2 ELSE last_seen END,
				last_error    = ?3,
				cpu_pct       = CASE WHEN ?4 THEN ?5 ELSE cpu_pct END,
				mem_pct       = CASE WHEN ?4 THEN ?6 ELSE mem_pct END,
				disk_free_pct = CASE WHEN ?4 THEN ?7 ELSE disk_free_pct END,
				metrics_at    = CASE WHEN ?4 THEN ?2 ELSE metrics_at END
				WHERE id = ?8 AND (metrics_at IS NULL OR metrics_at <= ?2 OR NOT ?4)`,
				p.Status, at, p.LastError, p.HasMetrics, p.CPUPct, p.MemPct, p.DiskFreePct, id); err != nil {
				return fmt.Errorf("status of %s: %w", p.Hostname, err)
			}
			for _, m := range p.Metrics {
				m.DeviceID = id
				if err := checkMetric(m); err != nil {
					return fmt.Errorf("poll %s: %w", p.MsgID, err)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO metrics (device_id, type, instance, value, ts) VALUES (?, ?, ?, ?, ?)`,
					id, m.Type, m.Instance, m.Value, m.At.UTC().UnixMilli()); err != nil {
					return fmt.Errorf("metrics of %s: %w", p.Hostname, err)
				}
			}
			res.Applied = append(res.Applied, AppliedPoll{Index: i, DeviceID: id})
		}
		return nil
	})
	if err != nil {
		return RelayApplyResult{}, fmt.Errorf("apply relay polls of %s: %w", site, err)
	}
	return res, nil
}

// MarkApplied records that message id of scope was applied, in its own
// transaction; false means it had been already (do nothing again).
func (db *DB) MarkApplied(ctx context.Context, scope, id string) (bool, error) {
	var fresh bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO relay_applied (scope, msg_id, applied_at) VALUES (?, ?, ?)`,
			scope, id, db.now().UTC().UnixMilli())
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		fresh = n == 1
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("mark %s %s applied: %w", scope, id, err)
	}
	return fresh, nil
}

// PruneRelayApplied forgets idempotency keys older than before (JetStream
// redelivers within minutes; keys kept for days are a wide margin).
func (db *DB) PruneRelayApplied(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM relay_applied WHERE applied_at < ?`, before.UTC().UnixMilli())
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune relay keys: %w", err)
	}
	return n, nil
}

// RelayApplied reports whether message id of scope was applied already.
func (db *DB) RelayApplied(ctx context.Context, scope, id string) (bool, error) {
	var n int
	err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM relay_applied WHERE scope = ? AND msg_id = ?`, scope, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("relay key %s %s: %w", scope, id, err)
	}
	return n > 0, nil
}
