package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// The keyed audit chain.
//
// A plain hash chain proves nothing against someone who can write the
// database: they edit a row and recompute every hash after it. So once a
// process holding the audit key opens the database, every new row's hash
// is an HMAC-SHA256 under that key instead of a SHA-256. The key lives in
// the OS keyring or the vault (creds, wired by cmd), never in the
// database; the store only sees it through an AuditKeyring.
//
// The switch is recorded once, in audit_chain: the first keyed row
// (keyed_from), the key's id, the hash of the row before it, and an HMAC
// of all that, so the record can be neither moved nor re-pointed without
// the key. Rows before keyed_from keep their SHA-256 (an existing database
// migrates without rewriting history), and are pinned by the keyed rows
// after them: the first keyed row's HMAC covers its prev_hash. The
// archive anchors in audit_anchor carry an HMAC too.
//
// What happens without the key, explicitly:
//   - no key store at all (AuditOptions.Keys nil: no keyring and no vault
//     passphrase, or the environment-variable credential mode) and a
//     chain never keyed: rows stay unkeyed SHA-256, an AuditEvent says so
//     once per process, and verify reports the chain as not keyed;
//   - a key store that has no key yet, and a chain never keyed: a key is
//     created there (first use) and the chain is keyed from the next row;
//   - a chain already keyed, and the key missing, unreadable or a
//     different one: appending fails with ErrAuditKey (the engine treats a
//     failing audit write as Fatal and changes nothing it cannot record),
//     and verify fails with it (exit 1, not 4: nothing was found broken,
//     nothing could be checked). Restore the key (from a backup of the
//     vault or the keyring); there is no way to extend a keyed chain with
//     another key.

// AuditKeySize is the length of an audit key in bytes.
const AuditKeySize = 32

// AuditKey is the secret of the keyed audit chain. Formatting it with fmt,
// slog or encoding/json never shows the bytes.
type AuditKey struct {
	b []byte
}

// NewAuditKey wraps a key of AuditKeySize bytes (it copies b).
func NewAuditKey(b []byte) (AuditKey, error) {
	if len(b) != AuditKeySize {
		return AuditKey{}, fmt.Errorf("audit key is %d bytes, want %d", len(b), AuditKeySize)
	}
	return AuditKey{b: append([]byte(nil), b...)}, nil
}

// IsZero reports whether k holds no key.
func (k AuditKey) IsZero() bool { return len(k.b) == 0 }

// ID names the key without revealing it: the first 16 hex digits of an
// HMAC of a fixed label under the key. It is stored in audit_chain so a
// different key is told apart from a forged row.
func (k AuditKey) ID() string {
	if k.IsZero() {
		return ""
	}
	return k.mac("rmm audit key id v1")[:16]
}

// mac is the hex HMAC-SHA256 of the parts under k, joined by newlines.
func (k AuditKey) mac(parts ...string) string {
	m := hmac.New(sha256.New, k.b)
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{'\n'})
		}
		io.WriteString(m, p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// macBytes is the hex HMAC-SHA256 of b under k.
func (k AuditKey) macBytes(b []byte) string {
	m := hmac.New(sha256.New, k.b)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// String hides the key.
func (AuditKey) String() string { return "<audit key>" }

// GoString hides the key from %#v.
func (AuditKey) GoString() string { return "<audit key>" }

// Format hides the key from every fmt verb.
func (AuditKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "<audit key>") }

// MarshalJSON hides the key from encoding/json.
func (AuditKey) MarshalJSON() ([]byte, error) { return []byte(`"<audit key>"`), nil }

// AuditKeyring is where the audit key is kept: the credentials store (OS
// keyring or vault), adapted by the caller. Implementations must be safe
// for concurrent use and must never log the key.
type AuditKeyring interface {
	// AuditKey returns the stored key; an error wrapping ErrAuditKeyNotFound
	// when the store has none. Any other error means the store could not
	// be read (locked, unreachable).
	AuditKey(ctx context.Context) (AuditKey, error)
	// CreateAuditKey stores a new random key unless one exists, and
	// returns the stored key either way.
	CreateAuditKey(ctx context.Context) (AuditKey, error)
	// Where names the store for messages, e.g. "the OS keyring (service
	// rmm)" or "the vault /home/ops/.local/share/rmm/vault.age".
	Where() string
}

// Audit key errors. ErrAuditKey is wrapped by every error of an append or
// a verify that needed the key and could not use it.
var (
	ErrAuditKey         = errors.New("audit key unusable")
	ErrAuditKeyNotFound = errors.New("no audit key stored")
)

// AuditOptions configure the audit chain's key and anchor of a DB.
type AuditOptions struct {
	// Keys is where the audit key lives. Nil: there is no key store (see
	// the package notes above for what follows).
	Keys AuditKeyring
	// KeysUnavailable says why there is no key store when Keys is nil, for
	// the event and verify's note, e.g. "no keyring and no vault
	// passphrase".
	KeysUnavailable string
	// AnchorFile is where the chain's head is written outside the
	// database (see AnchorAudit); "" writes none. cmd puts it beside the
	// database: rmm.db.audit-anchor.
	AnchorFile string
	// AnchorEvery is how often an append also writes the anchor (the
	// first append of a process always does, and Close does when rows
	// were appended since); default one minute.
	AnchorEvery time.Duration
	// Origin names whose chain this is in the anchor: "central" (default)
	// for the console and `rmm serve`; a relay would name its site.
	Origin string
	// OnEvent hears what the audit machinery did on its own: anchors
	// written or refused, the chain keyed, triggers restored. It must not
	// block for long and must not call back into the DB.
	OnEvent func(AuditEvent)
}

// AuditEvent kinds.
const (
	AuditEventAnchor           = "anchor"            // the head was written to the anchor file (Head)
	AuditEventAnchorRefused    = "anchor-refused"    // the chain no longer extends the anchor: it was not overwritten (Err)
	AuditEventAnchorMissing    = "anchor-missing"    // a keyed chain had no anchor file; a new one was written
	AuditEventKeyed            = "keyed"             // the chain was keyed from Head.KeyedFrom
	AuditEventUnkeyed          = "unkeyed"           // no key store: the chain stays unkeyed (Message says why)
	AuditEventTriggersRestored = "triggers-restored" // append-only triggers were missing or altered and were put back
	AuditEventError            = "error"             // something failed outside a caller's request (Err)
)

// AuditEvent is one thing the audit machinery did on its own.
type AuditEvent struct {
	Kind    string
	Head    AuditHead // for anchor and keyed events
	Message string
	Err     error
}

// auditChainRecord is the row of audit_chain.
type auditChainRecord struct {
	keyedFrom int64
	keyID     string
	baseHash  string
	createdAt int64
	mac       string
}

// recordMAC is what audit_chain.mac holds for r under k.
func recordMAC(k AuditKey, r auditChainRecord) string {
	return k.mac("rmm audit chain v1", strconv.FormatInt(r.keyedFrom, 10), r.keyID, r.baseHash,
		strconv.FormatInt(r.createdAt, 10))
}

// anchorMAC is what audit_anchor.mac holds for an anchor under k.
func anchorMAC(k AuditKey, kind string, id int64, hash string) string {
	return k.mac("rmm audit anchor v1", kind, strconv.FormatInt(id, 10), hash)
}

// readChainRecord reads audit_chain; ok is false when the chain was never
// keyed.
func readChainRecord(ctx context.Context, q queryer) (r auditChainRecord, ok bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT keyed_from, key_id, base_hash, created_at, mac FROM audit_chain WHERE id = 1`).
		Scan(&r.keyedFrom, &r.keyID, &r.baseHash, &r.createdAt, &r.mac)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return r, false, nil
	case err != nil:
		return r, false, fmt.Errorf("read audit_chain: %w", err)
	}
	return r, true, nil
}

// chainHasher computes row hashes: SHA-256 below keyedFrom (or always,
// when the chain is not keyed), HMAC-SHA256 under key from keyedFrom on.
type chainHasher struct {
	keyedFrom int64 // 0: not keyed
	key       AuditKey
}

// hash computes the hash of e from every field but Hash (see
// auditCanonical).
func (h chainHasher) hash(e AuditEntry) (string, error) {
	if h.keyedFrom == 0 || e.ID < h.keyedFrom {
		return auditHash(e)
	}
	if h.key.IsZero() {
		return "", fmt.Errorf("row %d is keyed and there is no key: %w", e.ID, ErrAuditKey)
	}
	b, err := auditCanonicalBytes(e)
	if err != nil {
		return "", err
	}
	return h.key.macBytes(b), nil
}

// auditState is a DB's audit machinery: options, the key once resolved,
// and the anchor bookkeeping.
type auditState struct {
	opts AuditOptions

	mu       sync.Mutex
	resolved bool     // key looked up (successfully, or found unavailable)
	key      AuditKey // zero when unavailable
	keyErr   error    // why there is no key (nil when there is one, or no store was asked)
	told     bool     // the unkeyed event was sent

	anchorMu   sync.Mutex // one anchor write at a time in this process
	lastAnchor time.Time
	dirty      bool // rows appended since the last anchor
}

// emit calls OnEvent, if any.
func (a *auditState) emit(ev AuditEvent) {
	if a.opts.OnEvent != nil {
		a.opts.OnEvent(ev)
	}
}

// hasher returns the hasher for rec (ok: the chain is keyed) with this
// process's key, or an ErrAuditKey error naming why the key cannot be
// used.
func (db *DB) hasherFor(ctx context.Context, rec auditChainRecord, keyed bool) (chainHasher, error) {
	if !keyed {
		return chainHasher{}, nil
	}
	key, err := db.loadAuditKey(ctx)
	if err != nil {
		return chainHasher{}, fmt.Errorf("the audit chain is keyed from row %d (key %s): %w", rec.keyedFrom, rec.keyID, err)
	}
	if key.ID() != rec.keyID {
		return chainHasher{}, fmt.Errorf("the audit chain is keyed from row %d with key %s, but %s holds key %s: "+
			"restore the key this chain was keyed with: %w", rec.keyedFrom, rec.keyID, db.audit.where(), key.ID(), ErrAuditKey)
	}
	if !hmac.Equal([]byte(recordMAC(key, rec)), []byte(rec.mac)) {
		return chainHasher{}, fmt.Errorf("the audit_chain record (keyed from row %d) does not match its MAC: "+
			"it was edited or forged in the database: %w", rec.keyedFrom, ErrAuditKey)
	}
	return chainHasher{keyedFrom: rec.keyedFrom, key: key}, nil
}

// where names the key store for messages.
func (a *auditState) where() string {
	if a.opts.Keys == nil {
		return "this process (no key store)"
	}
	return a.opts.Keys.Where()
}

// loadAuditKey returns this process's audit key, reading it from the key
// store once. Errors wrap ErrAuditKey.
func (db *DB) loadAuditKey(ctx context.Context) (AuditKey, error) {
	a := db.audit
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.resolved {
		if a.key.IsZero() {
			return AuditKey{}, a.keyErr
		}
		return a.key, nil
	}
	if a.opts.Keys == nil {
		why := a.opts.KeysUnavailable
		if why == "" {
			why = "no key store was configured"
		}
		a.resolved, a.keyErr = true, fmt.Errorf("no audit key here (%s): %w", why, ErrAuditKey)
		return AuditKey{}, a.keyErr
	}
	key, err := a.opts.Keys.AuditKey(ctx)
	switch {
	case err == nil:
		a.resolved, a.key = true, key
		return key, nil
	case errors.Is(err, ErrAuditKeyNotFound):
		// Not cached: the caller may create one (first use).
		return AuditKey{}, fmt.Errorf("%s holds no audit key: %w (%w)", a.opts.Keys.Where(), ErrAuditKey, err)
	default:
		a.resolved, a.keyErr = true, fmt.Errorf("read the audit key from %s: %v: %w", a.opts.Keys.Where(), err, ErrAuditKey)
		return AuditKey{}, a.keyErr
	}
}

// createAuditKey makes the key store create a key (or return the one
// another process just created) and caches it.
func (db *DB) createAuditKey(ctx context.Context) (AuditKey, error) {
	a := db.audit
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.resolved && !a.key.IsZero() {
		return a.key, nil
	}
	key, err := a.opts.Keys.CreateAuditKey(ctx)
	if err != nil {
		a.resolved, a.keyErr = true, fmt.Errorf("create the audit key in %s: %v: %w", a.opts.Keys.Where(), err, ErrAuditKey)
		return AuditKey{}, a.keyErr
	}
	a.resolved, a.key, a.keyErr = true, key, nil
	return key, nil
}

// prepareChain is called before an append (outside its transaction, since
// reading the key store may take a second): it keys a chain that was never
// keyed when a key is (or can be made) available, and makes sure this
// process can hash the rows it will append. It returns the chain record as
// it stands.
func (db *DB) prepareChain(ctx context.Context) error {
	rec, keyed, err := readChainRecord(ctx, db.reader)
	if err != nil {
		return err
	}
	if keyed {
		_, err := db.hasherFor(ctx, rec, true)
		return err
	}
	a := db.audit
	if a.opts.Keys == nil {
		a.mu.Lock()
		first := !a.told
		a.told = true
		a.mu.Unlock()
		if first {
			why := a.opts.KeysUnavailable
			if why == "" {
				why = "no key store was configured"
			}
			a.emit(AuditEvent{Kind: AuditEventUnkeyed, Message: "the audit chain is not keyed (" + why +
				"): it detects edits, but not a rewrite by someone who can write the database"})
		}
		return nil
	}
	key, err := db.loadAuditKey(ctx)
	if errors.Is(err, ErrAuditKeyNotFound) {
		key, err = db.createAuditKey(ctx)
	}
	if err != nil {
		// The store exists but cannot be used now: the chain stays unkeyed
		// until a process that can use it opens the database.
		a.mu.Lock()
		first := !a.told
		a.told = true
		a.mu.Unlock()
		if first {
			a.emit(AuditEvent{Kind: AuditEventUnkeyed, Err: err,
				Message: "the audit chain is not keyed yet: " + err.Error()})
		}
		return nil
	}
	return db.keyChain(ctx, key)
}

// keyChain writes the audit_chain record: the chain is keyed from the row
// after the current head, and the first keyed row (audit.keyed) goes in
// the same transaction, so the record never exists without a keyed row
// after it. Existing archive anchors get their MAC. A record another
// process wrote meanwhile is kept. Then the anchor file is written.
func (db *DB) keyChain(ctx context.Context, key AuditKey) error {
	if prev, ok, err := readAnchorFile(db.audit.opts.AnchorFile); err == nil && ok && prev.KeyedFrom > 0 {
		// The database says "never keyed" but its anchor file says it was:
		// the record was removed, most likely to rewrite rows unkeyed.
		// Keying again would bless that rewrite.
		err := fmt.Errorf("the audit anchor %s says the chain was keyed from row %d (key %s), but the database "+
			"has no keying record: it was removed; refusing to key the chain again (run rmm audit verify): %w",
			db.audit.opts.AnchorFile, prev.KeyedFrom, prev.KeyID, ErrAuditKey)
		return err
	}
	var keyedNow bool
	var rec auditChainRecord
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, ok, err := readChainRecord(ctx, tx); err != nil || ok {
			return err // keyed by another process meanwhile
		}
		headID, headHash, _, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		rec = auditChainRecord{keyedFrom: headID + 1, keyID: key.ID(), baseHash: headHash, createdAt: toMS(db.now())}
		rec.mac = recordMAC(key, rec)
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_chain (id, keyed_from, key_id, base_hash, created_at, mac)
			VALUES (1, ?, ?, ?, ?, ?)`, rec.keyedFrom, rec.keyID, rec.baseHash, rec.createdAt, rec.mac); err != nil {
			return fmt.Errorf("record the keyed chain: %w", err)
		}
		// Anchors written before the switch are trusted now, like the rows
		// before it, and signed so that none can be forged later.
		rows, err := tx.QueryContext(ctx, `SELECT kind, last_id, last_hash FROM audit_anchor`)
		if err != nil {
			return fmt.Errorf("read audit_anchor: %w", err)
		}
		type anchor struct {
			kind string
			id   int64
			hash string
		}
		var anchors []anchor
		for rows.Next() {
			var a anchor
			if err := rows.Scan(&a.kind, &a.id, &a.hash); err != nil {
				rows.Close()
				return fmt.Errorf("read audit_anchor: %w", err)
			}
			anchors = append(anchors, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read audit_anchor: %w", err)
		}
		for _, a := range anchors {
			if _, err := tx.ExecContext(ctx, `UPDATE audit_anchor SET mac = ? WHERE kind = ?`,
				anchorMAC(key, a.kind, a.id, a.hash), a.kind); err != nil {
				return fmt.Errorf("sign audit_anchor %s: %w", a.kind, err)
			}
		}
		h := chainHasher{keyedFrom: rec.keyedFrom, key: key}
		_, err = db.appendAuditTx(ctx, tx, h, AuditEntry{User: "rmm", Role: "Admin", Via: "system", Action: "audit.keyed",
			Result: AuditSuccess, Details: map[string]any{"chain_id": rec.keyID, "rows_before": headID, "held_in": db.audit.where()}})
		if err != nil {
			return err
		}
		keyedNow = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("key the audit chain: %w", err)
	}
	if keyedNow {
		db.markAppended()
		head, aerr := db.AnchorAudit(ctx)
		if head.KeyedFrom == 0 {
			head.KeyedFrom, head.KeyID = rec.keyedFrom, rec.keyID
		}
		db.audit.emit(AuditEvent{Kind: AuditEventKeyed, Head: head, Err: aerr, Message: fmt.Sprintf(
			"the audit chain is keyed from row %d (key %s in %s); rows 1-%d keep their unkeyed hashes",
			rec.keyedFrom, rec.keyID, db.audit.where(), rec.keyedFrom-1)})
	}
	return nil
}

// markAppended notes that rows were appended since the last anchor.
func (db *DB) markAppended() {
	db.audit.anchorMu.Lock()
	db.audit.dirty = true
	db.audit.anchorMu.Unlock()
}
