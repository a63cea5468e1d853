package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/csvsafe"
)

// Audit results. Result is free text in the schema; these are the values
// the engine writes. A change is written as AuditPending before it takes
// effect, then as success, failure or denied with details["pending"]
// naming the pending row's id.
const (
	AuditSuccess = "success"
	AuditFailure = "failure"
	AuditDenied  = "denied"
	AuditPending = "pending"
)

// AuditGenesis is the PrevHash of the first row of the audit chain.
const AuditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Redacted replaces secret values in audit details.
const Redacted = "<redacted>"

// AuditEntry is one row of the audit log: who did (or was refused) what,
// to which targets, from where, with what result. The JSON form (field
// tags) is the one ExportAudit and the audit archive use.
type AuditEntry struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`          // UTC, millisecond precision
	User       string         `json:"user"`        // OS or SSH user name
	Role       string         `json:"role"`        // Admin, Operator, Viewer
	Via        string         `json:"via"`         // "local", "ssh", "cli", "system" (schedules, config reloads) or ""
	RemoteAddr string         `json:"remote_addr"` // the console's client address (SSH) or ""
	Action     string         `json:"action"`      // e.g. "device.add", "action.run"
	Targets    []string       `json:"targets"`     // hostnames or other names the request touched
	Result     string         `json:"result"`      // AuditSuccess, AuditFailure, AuditDenied
	Details    map[string]any `json:"details"`     // parameters, never secret values; numbers read back as json.Number
	PrevHash   string         `json:"prev_hash"`   // Hash of the previous row, or AuditGenesis
	Hash       string         `json:"hash"`        // see auditHash
}

// AuditFilter selects audit rows. Zero fields select everything.
type AuditFilter struct {
	Since  time.Time // rows at or after
	Until  time.Time // rows before
	User   string    // exact user name, compared case-insensitively
	Action string    // exact action
	Result string    // exact result
	Limit  int       // only the newest Limit matching rows; 0 means all
}

// VerifyResult is the outcome of checking the audit chain. A chain that
// was tampered with gives OK false and a nil error; the error is kept for
// failures to read at all.
type VerifyResult struct {
	Rows     int    // rows checked
	OK       bool   // every row checked is intact and chained to the one before
	FirstBad int64  // id of the first row found wrong; 0 when OK or the problem is a whole archive file
	Reason   string // e.g. "row 17: hash mismatch (row edited)"
	// The newest row checked. Deleting rows at the end of the chain leaves
	// no trace in the chain itself; an admin who records LastID and
	// LastHash elsewhere can show that later.
	LastID   int64
	LastHash string
}

// secretKey matches detail keys whose values RedactDetails hides.
var secretKey = regexp.MustCompile(`(?i)password|secret|token|passphrase|key`)

// RedactDetails returns a copy of details in which the value of every key
// matching password, secret, token, passphrase or key (case-insensitively,
// anywhere in the key, at any depth of nested objects and arrays) is
// replaced by "<redacted>". Keeping secrets out of the audit log is the
// caller's job; AppendAudit calls this as a second line of defence.
func RedactDetails(details map[string]any) map[string]any {
	if details == nil {
		return nil
	}
	out := make(map[string]any, len(details))
	for k, v := range details {
		if secretKey.MatchString(k) {
			out[k] = Redacted
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return RedactDetails(v)
	case map[string]string:
		out := make(map[string]any, len(v))
		for k, s := range v {
			if secretKey.MatchString(k) {
				out[k] = Redacted
			} else {
				out[k] = s
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redactValue(e)
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = RedactDetails(e)
		}
		return out
	}
	return v
}

// auditCanonical is the canonical encoding of an audit row that its hash
// covers. It is encoding/json's output for this struct, whose fields are in
// sorted key order, so the bytes are:
//
//	{"action":A,"at":MS,"details":D,"id":ID,"prev_hash":P,"remote_addr":R,
//	 "result":S,"role":RO,"targets":T,"user":U,"via":V}
//
// on one line without spaces, where MS is the time in unix milliseconds,
// T the array of targets in order ([] when none), D the details object
// ({} when none) with keys sorted at every depth and numbers exactly as
// stored (decoded as json.Number, never rounded through float64), and
// strings escaped as encoding/json does (HTML characters as \u003c etc.).
// Hash is the lowercase hex SHA-256 of those bytes. Changing any of this
// makes every stored hash wrong: it needs a new, versioned encoding.
type auditCanonical struct {
	Action     string         `json:"action"`
	At         int64          `json:"at"`
	Details    map[string]any `json:"details"`
	ID         int64          `json:"id"`
	PrevHash   string         `json:"prev_hash"`
	RemoteAddr string         `json:"remote_addr"`
	Result     string         `json:"result"`
	Role       string         `json:"role"`
	Targets    []string       `json:"targets"`
	User       string         `json:"user"`
	Via        string         `json:"via"`
}

// auditHash computes the hash of e from every field but Hash. e.Details
// must hold what decodeDetails gives (json.Number numbers), as stored rows
// and archive lines do.
func auditHash(e AuditEntry) (string, error) {
	b, err := auditCanonicalBytes(e)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// auditCanonicalBytes is the canonical encoding of e (see auditCanonical).
func auditCanonicalBytes(e AuditEntry) ([]byte, error) {
	c := auditCanonical{
		Action: e.Action, At: e.At.UnixMilli(), Details: e.Details, ID: e.ID, PrevHash: e.PrevHash,
		RemoteAddr: e.RemoteAddr, Result: e.Result, Role: e.Role, Targets: e.Targets, User: e.User, Via: e.Via,
	}
	if c.Details == nil {
		c.Details = map[string]any{}
	}
	if c.Targets == nil {
		c.Targets = []string{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode row %d: %w", e.ID, err)
	}
	return b, nil
}

// decodeDetails decodes a stored details object, keeping numbers as
// json.Number so that they re-encode exactly as written.
func decodeDetails(text string) (map[string]any, error) {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode details: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// normalizeDetails turns caller-supplied details into the stored form:
// redacted, round-tripped through JSON (structs and typed maps become
// plain objects, numbers json.Number), and its canonical text.
func normalizeDetails(details map[string]any) (map[string]any, string, error) {
	if details == nil {
		return map[string]any{}, "{}", nil
	}
	b, err := json.Marshal(details)
	if err != nil {
		return nil, "", fmt.Errorf("encode details: %w", err)
	}
	m, err := decodeDetails(string(b))
	if err != nil {
		return nil, "", err
	}
	m = RedactDetails(m)
	if b, err = json.Marshal(m); err != nil {
		return nil, "", fmt.Errorf("encode details: %w", err)
	}
	return m, string(b), nil
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// AppendAudit appends e to the audit log and returns it as stored. The log
// assigns ID (the previous row's plus one, so ids never repeat even after
// retention emptied the table) and PrevHash and Hash; a non-zero ID is
// refused. A zero At is taken as now; At is stored in UTC with millisecond
// precision. Details are passed through RedactDetails and stored as JSON;
// the returned Details hold numbers as json.Number, as ListAudit gives them.
//
// The append runs in a write transaction on the writer connection (BEGIN
// IMMEDIATE), which reads the chain's head and inserts after it, so
// concurrent appenders, in this process or another, never fork the chain.
func (db *DB) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	p, err := db.prepareAudit(e)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("append audit %q by %q: %w", e.Action, e.User, err)
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		id, hash, _, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		_, err = insertAudit(ctx, tx, &p, id, hash)
		return err
	})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("append audit %q by %q: %w", e.Action, e.User, err)
	}
	return p.e, nil
}

// preparedAudit is an entry in its stored form, ready to be chained.
type preparedAudit struct {
	e                        AuditEntry
	detailsText, targetsText string
}

// insertAudit chains a prepared entry after the row (prevID, prevHash)
// and inserts it, in tx; it returns the new row's hash, which the next
// row chains to.
func insertAudit(ctx context.Context, tx *sql.Tx, p *preparedAudit, prevID int64, prevHash string) (string, error) {
	e := &p.e
	e.ID, e.PrevHash = prevID+1, prevHash
	var err error
	if e.Hash, err = auditHash(*e); err != nil {
		return "", err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log
		(id, ts, user, role, via, action, targets, result, remote_addr, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, toMS(e.At), e.User, e.Role, e.Via, e.Action, p.targetsText, e.Result, e.RemoteAddr,
		p.detailsText, e.PrevHash, e.Hash)
	if err != nil {
		return "", fmt.Errorf("insert row %d: %w", e.ID, err)
	}
	return e.Hash, nil
}

// prepareAudit checks e and brings it to its stored form.
func (db *DB) prepareAudit(e AuditEntry) (preparedAudit, error) {
	e, details, targets, err := db.prepareAuditFields(e)
	return preparedAudit{e: e, detailsText: details, targetsText: targets}, err
}

func (db *DB) prepareAuditFields(e AuditEntry) (AuditEntry, string, string, error) {
	if e.ID != 0 {
		return e, "", "", fmt.Errorf("id %d given: the log assigns ids", e.ID)
	}
	for _, s := range []*string{&e.User, &e.Role, &e.Via, &e.RemoteAddr, &e.Action, &e.Result} {
		*s = validUTF8(strings.TrimSpace(*s))
	}
	switch {
	case e.Action == "":
		return e, "", "", errors.New("empty action")
	case e.Result == "":
		return e, "", "", errors.New("empty result")
	case e.Via != "" && e.Via != "local" && e.Via != "ssh" && e.Via != "cli" && e.Via != "system":
		return e, "", "", fmt.Errorf("via %q: want local, ssh, cli or system", e.Via)
	}
	if e.At.IsZero() {
		e.At = db.now()
	}
	e.At = time.UnixMilli(e.At.UnixMilli()).UTC()
	targets := make([]string, len(e.Targets))
	for i, t := range e.Targets {
		targets[i] = validUTF8(t)
	}
	e.Targets = targets
	tb, err := json.Marshal(targets)
	if err != nil {
		return e, "", "", fmt.Errorf("encode targets: %w", err)
	}
	details, detailsText, err := normalizeDetails(e.Details)
	if err != nil {
		return e, "", "", err
	}
	e.Details = details
	e.PrevHash, e.Hash = "", ""
	return e, detailsText, string(tb), nil
}

// auditHead returns the id and hash the next row chains to: the newest row
// of audit_log, else the last archived row, else 0 and AuditGenesis. label
// names it for verify reasons.
func auditHead(ctx context.Context, q queryer) (id int64, hash, label string, err error) {
	err = q.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&id, &hash)
	if err == nil {
		return id, hash, fmt.Sprintf("row %d", id), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, "", "", fmt.Errorf("read audit_log head: %w", err)
	}
	return auditAnchor(ctx, q, "archived")
}

// auditAnchor reads the anchor of kind ("archived" or "pruned"); with none
// it returns 0 and AuditGenesis.
func auditAnchor(ctx context.Context, q queryer, kind string) (id int64, hash, label string, err error) {
	err = q.QueryRowContext(ctx, `SELECT last_id, last_hash FROM audit_anchor WHERE kind = ?`, kind).Scan(&id, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, AuditGenesis, "the genesis value", nil
	case err != nil:
		return 0, "", "", fmt.Errorf("read audit_anchor %s: %w", kind, err)
	}
	return id, hash, fmt.Sprintf("%s row %d", kind, id), nil
}

const auditColumns = `id, ts, user, role, via, remote_addr, action, targets, result, details, prev_hash, hash`

// scanAudit reads one row selected with auditColumns. Targets and Details
// come back non-nil.
func scanAudit(r rowScanner) (AuditEntry, error) {
	var (
		e                AuditEntry
		ts               int64
		targets, details string
	)
	if err := r.Scan(&e.ID, &ts, &e.User, &e.Role, &e.Via, &e.RemoteAddr, &e.Action, &targets, &e.Result,
		&details, &e.PrevHash, &e.Hash); err != nil {
		return AuditEntry{}, err
	}
	e.At = time.UnixMilli(ts).UTC()
	// On a decode error the entry still carries its ID, for verify's reason.
	if err := json.Unmarshal([]byte(targets), &e.Targets); err != nil {
		return AuditEntry{ID: e.ID}, fmt.Errorf("row %d: decode targets: %w", e.ID, err)
	}
	if e.Targets == nil {
		e.Targets = []string{}
	}
	m, err := decodeDetails(details)
	if err != nil {
		return AuditEntry{ID: e.ID}, fmt.Errorf("row %d: %w", e.ID, err)
	}
	e.Details = m
	return e, nil
}

// auditQuery builds the SELECT for f, rows in chain order (oldest first).
func auditQuery(f AuditFilter) (string, []any, error) {
	if f.Limit < 0 {
		return "", nil, fmt.Errorf("limit %d: want 0 (all) or more", f.Limit)
	}
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where = append(where, "ts >= ?")
		args = append(args, toMS(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "ts < ?")
		args = append(args, toMS(f.Until))
	}
	if f.User != "" {
		where = append(where, "user = ? COLLATE NOCASE")
		args = append(args, f.User)
	}
	if f.Action != "" {
		where = append(where, "action = ?")
		args = append(args, f.Action)
	}
	if f.Result != "" {
		where = append(where, "result = ?")
		args = append(args, f.Result)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Limit > 0 {
		q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
		args = append(args, f.Limit)
	} else {
		q += ` ORDER BY id`
	}
	return q, args, nil
}

// eachAudit calls fn with every row f selects, oldest first.
func (db *DB) eachAudit(ctx context.Context, f AuditFilter, fn func(AuditEntry) error) error {
	q, args, err := auditQuery(f)
	if err != nil {
		return err
	}
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ListAudit returns the audit rows f selects in chain order, oldest first
// (with a Limit, the newest Limit rows, still oldest first). Rows moved to
// the archive by retention are not included.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var out []AuditEntry
	err := db.eachAudit(ctx, f, func(e AuditEntry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// auditCSVHeader is the first line of a CSV export.
var auditCSVHeader = []string{"id", "at", "user", "role", "via", "remote_addr", "action", "targets", "result",
	"details", "prev_hash", "hash"}

// auditTimeFormat is how exports write At: RFC 3339, UTC, milliseconds.
const auditTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// ExportAudit writes the rows f selects, oldest first, to w. Formats:
//
//   - "csv": a header line (id, at, user, role, via, remote_addr, action,
//     targets, result, details, prev_hash, hash), then one record per
//     row; at is RFC 3339 UTC with milliseconds, targets a JSON array and
//     details a JSON object.
//   - "json": a JSON array of AuditEntry objects, one per line, with at
//     as RFC 3339 UTC.
//
// Both carry prev_hash and hash, and the details exactly as hashed, so an
// export of a whole chain can be checked on its own.
func (db *DB) ExportAudit(ctx context.Context, w io.Writer, format string, f AuditFilter) error {
	var err error
	switch format {
	case "csv":
		err = db.exportAuditCSV(ctx, w, f)
	case "json":
		err = db.exportAuditJSON(ctx, w, f)
	default:
		return fmt.Errorf("export audit: format %q: want csv or json", format)
	}
	if err != nil {
		return fmt.Errorf("export audit as %s: %w", format, err)
	}
	return nil
}

func (db *DB) exportAuditCSV(ctx context.Context, w io.Writer, f AuditFilter) error {
	// User names and addresses come from people and clients: every cell
	// but the id, time and hashes goes through csvsafe (targets and
	// details are JSON, which no formula starts like).
	cw := csvsafe.NewWriter(w)
	if err := cw.Header(auditCSVHeader); err != nil {
		return err
	}
	err := db.eachAudit(ctx, f, func(e AuditEntry) error {
		targets, err := json.Marshal(e.Targets)
		if err != nil {
			return fmt.Errorf("row %d: encode targets: %w", e.ID, err)
		}
		details, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("row %d: encode details: %w", e.ID, err)
		}
		return cw.Row([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(auditTimeFormat), e.User, e.Role,
			e.Via, e.RemoteAddr, e.Action, string(targets), e.Result, string(details), e.PrevHash, e.Hash}, 0, 1, 10, 11)
	})
	if err != nil {
		return err
	}
	return cw.Flush()
}

func (db *DB) exportAuditJSON(ctx context.Context, w io.Writer, f AuditFilter) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	sep := "\n"
	err := db.eachAudit(ctx, f, func(e AuditEntry) error {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("row %d: encode: %w", e.ID, err)
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		sep = ",\n"
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	end := "\n]\n"
	if sep == "\n" {
		end = "]\n" // no rows: "[]"
	}
	_, err = io.WriteString(w, end)
	return err
}

// chainCheck walks audit rows in id order, checking each row's own hash
// and its link to the row before.
type chainCheck struct {
	res       VerifyResult
	prevID    int64
	prevHash  string
	prevLabel string // names the previous link in reasons: "row 16", "the genesis value"
}

func newChainCheck(id int64, hash, label string) *chainCheck {
	return &chainCheck{res: VerifyResult{OK: true}, prevID: id, prevHash: hash, prevLabel: label}
}

// fail records the first problem; it returns false so callers can stop.
func (c *chainCheck) fail(id int64, reason string) bool {
	if c.res.OK {
		c.res.OK, c.res.FirstBad, c.res.Reason = false, id, reason
	}
	return false
}

// next checks e, which where locates ("" in the database, else an archive
// file and line), and reports whether the chain is still intact.
func (c *chainCheck) next(e AuditEntry, where string) bool {
	if !c.res.OK {
		return false
	}
	if want, err := auditHash(e); err != nil || want != e.Hash {
		c.res.Rows++
		return c.fail(e.ID, fmt.Sprintf("%srow %d: hash mismatch (row edited)", where, e.ID))
	}
	return c.link(e.ID, e.PrevHash, e.Hash, where)
}

// link checks that a row whose own hash is right chains to the one before.
func (c *chainCheck) link(id int64, prev, hash, where string) bool {
	if !c.res.OK {
		return false
	}
	c.res.Rows++
	if prev != c.prevHash {
		return c.fail(id, fmt.Sprintf("%srow %d: previous hash does not match %s (row deleted or inserted)",
			where, id, c.prevLabel))
	}
	c.prevID, c.prevHash, c.prevLabel = id, hash, fmt.Sprintf("row %d", id)
	c.res.LastID, c.res.LastHash = id, hash
	return true
}

// result returns the outcome so far.
func (c *chainCheck) result() VerifyResult { return c.res }

// VerifyAudit checks the chain of the rows in audit_log: every row's hash
// must match its content and its PrevHash the hash of the row before it.
// The first row chains to the last archived row when retention archived
// some (recorded in audit_anchor), else to AuditGenesis. It detects rows
// edited (even with the append-only trigger dropped), deleted or inserted
// anywhere but at the very end; VerifyAuditWithArchive also checks the
// archived part. The check reads one consistent snapshot and does not
// block writers.
func (db *DB) VerifyAudit(ctx context.Context) (VerifyResult, error) {
	res, err := db.verifyAuditDB(ctx, nil)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify audit: %w", err)
	}
	return res, nil
}

// verifyAuditDB checks audit_log in one read transaction. With start nil
// the chain starts at the archived anchor; otherwise at start, whose state
// carries over from the archive. It returns start's (or a new) result.
func (db *DB) verifyAuditDB(ctx context.Context, start *chainCheck) (VerifyResult, error) {
	tx, err := db.reader.BeginTx(ctx, nil)
	if err != nil {
		return VerifyResult{}, err
	}
	defer tx.Rollback()
	c := start
	if c == nil {
		id, hash, label, err := auditAnchor(ctx, tx, "archived")
		if err != nil {
			return VerifyResult{}, err
		}
		c = newChainCheck(id, hash, label)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY id`)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("read audit_log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			if e.ID == 0 {
				return VerifyResult{}, fmt.Errorf("read audit_log: %w", err)
			}
			// A row whose JSON does not even decode was edited by hand.
			c.res.Rows++
			c.fail(e.ID, fmt.Sprintf("%v (row edited)", err))
			break
		}
		if !c.next(e, "") {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return VerifyResult{}, fmt.Errorf("read audit_log: %w", err)
	}
	return c.result(), nil
}

// encodeAuditLine is one line of the audit archive: the JSON form of e,
// without the trailing newline.
func encodeAuditLine(e AuditEntry) ([]byte, error) { return json.Marshal(e) }

// decodeAuditLine parses one archive line or JSON export object, keeping
// detail numbers as json.Number so the hash can be recomputed.
func decodeAuditLine(line []byte) (AuditEntry, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var e AuditEntry
	if err := d.Decode(&e); err != nil {
		return AuditEntry{}, err
	}
	e.At = e.At.UTC()
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	if e.Targets == nil {
		e.Targets = []string{}
	}
	return e, nil
}
