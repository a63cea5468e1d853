package store

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The anchor: the chain's head written outside the database.
//
// Deleting the newest rows of a hash chain leaves a shorter chain that is
// still intact, keyed or not. So rmm writes the head (id, hash, and the
// keying of the chain, with an HMAC under the audit key) to a file beside
// the database, and to the log through AuditOptions.OnEvent: on a
// process's first append, then at most every AuditOptions.AnchorEvery,
// and at Close when rows were appended since. `rmm audit verify` compares
// the chain with it: a chain that ends before the anchored row, or whose
// row at that id has another hash, was cut or rewritten.
//
// The writer never overwrites an anchor the chain no longer extends: the
// evidence stays until an admin looks at it (and moves the file aside
// after a deliberate restore from a backup).

// AuditHead is the head of an audit chain as anchored outside the
// database: the anchor file holds one, the log prints one per anchor.
// Its JSON form is also what a site relay would send to central so
// central can keep each relay's head (relays are not built yet).
type AuditHead struct {
	V         int       `json:"v"`
	Origin    string    `json:"origin"`     // "central", or a relay's site
	HeadID    int64     `json:"head_id"`    // the newest row (or the last archived one when the table is empty)
	HeadHash  string    `json:"head_hash"`  // its hash
	KeyedFrom int64     `json:"keyed_from"` // first keyed row; 0 when the chain is not keyed
	KeyID     string    `json:"key_id"`     // the audit key's id; "" when not keyed
	At        time.Time `json:"at"`         // when it was written, UTC
	MAC       string    `json:"mac"`        // HMAC-SHA256 under the audit key of the fields above; "" when not keyed
}

// macParts is what MAC covers.
func (h AuditHead) macParts() []string {
	return []string{"rmm audit head v1", h.Origin, strconv.FormatInt(h.HeadID, 10), h.HeadHash,
		strconv.FormatInt(h.KeyedFrom, 10), h.KeyID, h.At.UTC().Format(time.RFC3339Nano)}
}

// validMAC reports whether h's MAC is right under k.
func (h AuditHead) validMAC(k AuditKey) bool {
	return h.MAC != "" && hmac.Equal([]byte(k.mac(h.macParts()...)), []byte(h.MAC))
}

// String names the head for logs and messages.
func (h AuditHead) String() string {
	if h.HeadID == 0 {
		return "empty chain"
	}
	return fmt.Sprintf("row %d hash %s", h.HeadID, h.HeadHash)
}

// readAnchorFile reads an anchor file; ok is false when path is "" or the
// file does not exist.
func readAnchorFile(path string) (h AuditHead, ok bool, err error) {
	if path == "" {
		return h, false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("read audit anchor %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &h); err != nil || h.V != 1 {
		return h, false, fmt.Errorf("audit anchor %s is not an rmm anchor (edited or damaged)", path)
	}
	return h, true, nil
}

// writeAnchorFile replaces the anchor file atomically, mode 0600.
func writeAnchorFile(path string, h AuditHead) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write audit anchor %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write audit anchor %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write audit anchor %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write audit anchor %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write audit anchor %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write audit anchor %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename is durable; not every OS can sync a directory
		d.Close()
	}
	return nil
}

// errAnchorRefused is wrapped when the chain no longer extends the anchor.
var errAnchorRefused = errors.New("the audit chain no longer extends its anchor; anchor left as it was")

// hashLookup finds the hash of an audit row, for comparing a chain with an
// anchored head: from audit_log, or from the archived anchor when the row
// is the last one archived. known is false when the row cannot be looked
// at (archived further back).
type hashLookup func(id int64) (hash string, known bool, err error)

// dbHashLookup looks rows up in q's audit_log and archived anchor.
func dbHashLookup(ctx context.Context, q queryer) hashLookup {
	return func(id int64) (string, bool, error) {
		var h string
		err := q.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE id = ?`, id).Scan(&h)
		if err == nil {
			return h, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", false, fmt.Errorf("read audit row %d: %w", id, err)
		}
		aid, ahash, _, err := auditAnchor(ctx, q, "archived")
		if err != nil {
			return "", false, err
		}
		switch {
		case aid == id:
			return ahash, true, nil
		case aid > id:
			return "", false, nil // archived; only the archive can tell
		}
		return "", true, nil // not there and never archived: removed
	}
}

// headConflict says how the chain (head curID) fails to extend an
// earlier head (what names it: "the anchor file", "the expected head"),
// or "" when it does. A row the lookup cannot see (archived) is not a
// conflict.
func headConflict(what string, want AuditHead, curID int64, lookup hashLookup) (string, error) {
	if want.HeadID == 0 {
		return "", nil
	}
	if curID < want.HeadID {
		when := ""
		if !want.At.IsZero() {
			when = " (written " + want.At.UTC().Format(time.RFC3339) + ")"
		}
		return fmt.Sprintf("%s names row %d%s, but the chain ends at row %d: rows %d-%d were removed "+
			"from its end (or the database was restored from an older copy)", what, want.HeadID, when,
			curID, curID+1, want.HeadID), nil
	}
	h, known, err := lookup(want.HeadID)
	if err != nil || !known {
		return "", err
	}
	if h == "" {
		return fmt.Sprintf("%s names row %d, which is no longer in the chain: rows were removed", what, want.HeadID), nil
	}
	if h != want.HeadHash {
		return fmt.Sprintf("row %d is not the row %s names (hash %s, not %s): the chain was cut and appended to, "+
			"or rewritten", want.HeadID, what, h, want.HeadHash), nil
	}
	return "", nil
}

// AnchorAudit writes the chain's head to the anchor file (when
// AuditOptions.AnchorFile is set) and returns it. It holds the database's
// write lock meanwhile, so the head it writes is the head, in this process
// or any other. It refuses, with an error wrapping errAnchorRefused and an
// AuditEventAnchorRefused, to replace an anchor the chain no longer
// extends, or one that does not carry a valid MAC while the chain is
// keyed.
func (db *DB) AnchorAudit(ctx context.Context) (AuditHead, error) {
	a := db.audit
	if a.opts.AnchorFile == "" {
		return AuditHead{}, nil
	}
	a.anchorMu.Lock()
	defer a.anchorMu.Unlock()
	// The next periodic attempt waits AnchorEvery whatever this one does:
	// a refused anchor is reported once a period, not at every append.
	a.lastAnchor = time.Now()
	var (
		head            AuditHead
		wrote, missing  bool
		refused         string
		origin          = a.opts.Origin
		path            = a.opts.AnchorFile
		prevOK, hadPrev bool
	)
	if origin == "" {
		origin = "central"
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		id, hash, _, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		rec, keyed, err := readChainRecord(ctx, tx)
		if err != nil {
			return err
		}
		head = AuditHead{V: 1, Origin: origin, HeadID: id, HeadHash: hash, At: db.now().UTC().Truncate(time.Millisecond)}
		var h chainHasher
		if keyed {
			if h, err = db.hasherFor(ctx, rec, true); err != nil {
				return err
			}
			head.KeyedFrom, head.KeyID = rec.keyedFrom, rec.keyID
		}
		prev, ok, err := readAnchorFile(path)
		if err != nil {
			refused = err.Error()
			return nil
		}
		hadPrev = ok
		if !ok {
			missing = keyed
		} else {
			switch {
			case keyed && prev.MAC != "" && !prev.validMAC(h.key):
				refused = fmt.Sprintf("the anchor %s does not match its MAC: it was edited or forged", path)
			case keyed && prev.MAC == "" && prev.HeadID >= rec.keyedFrom:
				refused = fmt.Sprintf("the anchor %s names keyed row %d but carries no MAC: it was forged", path, prev.HeadID)
			case !keyed && prev.KeyedFrom > 0:
				refused = fmt.Sprintf("the anchor %s says the chain was keyed from row %d, but the database has no "+
					"keying record: it was removed", path, prev.KeyedFrom)
			case keyed && prev.KeyedFrom > 0 && (prev.KeyedFrom != rec.keyedFrom || prev.KeyID != rec.keyID):
				refused = fmt.Sprintf("the anchor %s says the chain was keyed from row %d with key %s, the database "+
					"says row %d with key %s", path, prev.KeyedFrom, prev.KeyID, rec.keyedFrom, rec.keyID)
			}
			if refused == "" {
				if refused, err = headConflict("the anchor "+path, prev, id, dbHashLookup(ctx, tx)); err != nil {
					return err
				}
			}
			if refused != "" {
				return nil
			}
			if prev.HeadID == head.HeadID && prev.HeadHash == head.HeadHash && prev.KeyedFrom == head.KeyedFrom &&
				(prev.MAC != "" || !keyed) {
				head, prevOK = prev, true // nothing new since
				return nil
			}
		}
		if keyed {
			head.MAC = h.key.mac(head.macParts()...)
		}
		if err := writeAnchorFile(path, head); err != nil {
			return err
		}
		wrote = true
		return nil
	})
	switch {
	case err != nil:
		a.emit(AuditEvent{Kind: AuditEventError, Err: fmt.Errorf("anchor the audit chain: %w", err)})
		return AuditHead{}, fmt.Errorf("anchor the audit chain: %w", err)
	case refused != "":
		err := fmt.Errorf("%s: %w", refused, errAnchorRefused)
		a.emit(AuditEvent{Kind: AuditEventAnchorRefused, Err: err})
		return AuditHead{}, err
	}
	a.dirty = false
	if missing && !hadPrev {
		a.emit(AuditEvent{Kind: AuditEventAnchorMissing, Head: head, Message: fmt.Sprintf(
			"the audit anchor %s was missing although the chain is keyed; a new one starts at %s "+
				"(rows cut from the end before now cannot be detected from the file)", path, head)})
	}
	if wrote || !prevOK {
		a.emit(AuditEvent{Kind: AuditEventAnchor, Head: head})
	}
	return head, nil
}

// afterAppend writes the anchor after an append when none was written by
// this process yet or the last one is older than AnchorEvery. A failure
// is reported as an event, not to the appender: its row is committed.
func (db *DB) afterAppend(ctx context.Context) {
	a := db.audit
	if a.opts.AnchorFile == "" {
		return
	}
	every := a.opts.AnchorEvery
	if every <= 0 {
		every = time.Minute
	}
	a.anchorMu.Lock()
	due := a.lastAnchor.IsZero() || time.Since(a.lastAnchor) >= every
	a.anchorMu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = db.AnchorAudit(ctx) // reported through OnEvent
}

// anchorOnClose writes the anchor at Close when rows were appended since
// the last one.
func (db *DB) anchorOnClose() {
	a := db.audit
	if a == nil || a.opts.AnchorFile == "" {
		return
	}
	a.anchorMu.Lock()
	dirty := a.dirty
	a.anchorMu.Unlock()
	if !dirty {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = db.AnchorAudit(ctx) // reported through OnEvent
}
