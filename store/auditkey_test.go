package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memKeys is an audit key store in memory, standing in for creds (whose
// own tests cover the keyring and vault items). It counts its creations.
type memKeys struct {
	mu      sync.Mutex
	key     AuditKey
	created int
	fail    error // returned by every call when set
}

func (m *memKeys) AuditKey(context.Context) (AuditKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return AuditKey{}, m.fail
	}
	if m.key.IsZero() {
		return AuditKey{}, ErrAuditKeyNotFound
	}
	return m.key, nil
}

func (m *memKeys) CreateAuditKey(context.Context) (AuditKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return AuditKey{}, m.fail
	}
	if m.key.IsZero() {
		m.key = randomKey()
		m.created++
	}
	return m.key, nil
}

func (m *memKeys) Where() string { return "the test key store" }

func randomKey() AuditKey {
	b := make([]byte, AuditKeySize)
	rand.Read(b)
	k, _ := NewAuditKey(b)
	return k
}

// keyedDB opens path with keys and the anchor beside it and collects the
// audit events. The anchor is written on the first append and when a
// test asks (AnchorAudit), as the tests need; rmm writes it every
// minute.
type keyedDB struct {
	*DB
	mu     sync.Mutex
	events []AuditEvent
}

func openKeyed(t *testing.T, path string, keys AuditKeyring) *keyedDB {
	t.Helper()
	k := &keyedDB{}
	db, err := OpenWith(context.Background(), path, AuditOptions{Keys: keys, AnchorFile: path + ".audit-anchor",
		AnchorEvery: time.Hour, OnEvent: func(ev AuditEvent) {
			k.mu.Lock()
			k.events = append(k.events, ev)
			k.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	k.DB = db
	t.Cleanup(func() { db.Close() })
	return k
}

func (k *keyedDB) kinds() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, ev := range k.events {
		out = append(out, ev.Kind)
	}
	return out
}

// rechain recomputes every hash from row from on with h, as an attacker
// with the database (rechain.py of the report) would.
func rechain(t *testing.T, db *DB, from int64, h chainHasher) {
	t.Helper()
	rawExec(t, db, `DROP TRIGGER IF EXISTS audit_log_append_only`)
	rows, err := db.ListAudit(context.Background(), AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	prev := AuditGenesis
	for _, e := range rows {
		if e.ID >= from {
			e.PrevHash = prev
			if e.Hash, err = h.hash(e); err != nil {
				t.Fatal(err)
			}
			rawExec(t, db, `UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?`, e.PrevHash, e.Hash, e.ID)
		}
		prev = e.Hash
	}
}

// dropAll removes every append-only trigger, as the attacker's first step.
func dropAll(t *testing.T, db *DB) {
	t.Helper()
	for _, tr := range auditTriggers {
		rawExec(t, db, `DROP TRIGGER IF EXISTS `+tr.name)
	}
}

// TestEveryTamperVariantOfTheReportIsCaught runs the 20 tamper variants
// of the reliability report (F6) against a keyed chain with an anchor:
// the 7 the plain chain missed (tail truncation, truncate then append, a
// recomputed chain, a forged archive anchor) are caught now too.
func TestEveryTamperVariantOfTheReportIsCaught(t *testing.T) {
	type env struct {
		db   *keyedDB
		rows []AuditEntry // rows 2..11 (row 1 is audit.keyed)
	}
	tests := []struct {
		name string
		// tamper returns an error only where the database itself refused.
		tamper func(t *testing.T, e env) error
		// blocked: the database refused the change (the trigger held).
		blocked bool
		reason  string // a part of the verify reason
	}{
		{name: "an UPDATE with the triggers in place", blocked: true, tamper: func(t *testing.T, e env) error {
			_, err := e.db.writer.Exec(`UPDATE audit_log SET user = 'mallory' WHERE id = 3`)
			return err
		}},
		{name: "a DELETE with the triggers in place", blocked: true, tamper: func(t *testing.T, e env) error {
			_, err := e.db.writer.Exec(`DELETE FROM audit_log WHERE id = 11`)
			return err
		}},
		{name: "the user of a row edited", reason: "row 4: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `UPDATE audit_log SET user = 'mallory' WHERE id = 4`)
			return nil
		}},
		{name: "the result of a row edited", reason: "row 5: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `UPDATE audit_log SET result = 'success' WHERE id = 5`)
			return nil
		}},
		{name: "a row's time moved by 1 ms", reason: "row 6: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `UPDATE audit_log SET ts = ts + 1 WHERE id = 6`)
			return nil
		}},
		{name: "white space edited inside a detail", reason: "row 7: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `UPDATE audit_log SET details = replace(details, 'Service Spooler', 'Service  Spooler') WHERE id = 7`)
			return nil
		}},
		{name: "the last row edited", reason: "row 11: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `UPDATE audit_log SET action = 'nothing' WHERE id = 11`)
			return nil
		}},
		{name: "a row deleted in the middle", reason: "row 6: previous hash does not match row 4", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id = 5`)
			return nil
		}},
		{name: "the first row deleted", reason: "row 2: previous hash does not match", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id = 1`)
			return nil
		}},
		{name: "the first three rows deleted", reason: "row 4: previous hash does not match", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id <= 3`)
			return nil
		}},
		{name: "two rows swapped", reason: "row 4: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			a, b := e.rows[2], e.rows[6] // ids 4 and 8
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id IN (4, 8)`)
			a.ID, b.ID = b.ID, a.ID
			insertRaw(t, e.db.DB, a)
			insertRaw(t, e.db.DB, b)
			return nil
		}},
		{name: "a forged row appended with a made-up hash", reason: "row 12: hash mismatch", tamper: func(t *testing.T, e env) error {
			f := e.rows[9]
			f.ID, f.PrevHash, f.Hash = 12, e.rows[9].Hash, strings.Repeat("ab", 32)
			insertRaw(t, e.db.DB, f)
			return nil
		}},
		{name: "a row inserted in the middle", reason: "row 6: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id >= 6`)
			f := e.rows[3] // a copy of row 5 with a SHA-256 chained to it
			f.ID, f.PrevHash, f.User = 6, e.rows[3].Hash, "mallory"
			insertForged(t, e.db.DB, f, false)
			for _, r := range e.rows[4:] {
				r.ID++
				insertRaw(t, e.db.DB, r)
			}
			return nil
		}},
		{name: "the last row deleted", reason: "rows 11-11 were removed from its end", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id = 11`)
			return nil
		}},
		{name: "the last four rows deleted", reason: "rows 8-11 were removed from its end", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id >= 8`)
			return nil
		}},
		{name: "every row deleted", reason: "the chain ends at row 0", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log`)
			return nil
		}},
		{name: "rows cut from the end, then rmm appends", reason: "row 11 is not the row the audit anchor", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id >= 8`)
			for i := range 5 {
				if _, err := e.db.AppendAudit(context.Background(), AuditEntry{User: "alice", Action: fmt.Sprintf("after.%d", i),
					Result: AuditSuccess}); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		}},
		{name: "a row edited and the chain recomputed without the key", reason: "row 5: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `UPDATE audit_log SET result = 'success', user = 'mallory' WHERE id = 5`)
			rechain(t, e.db.DB, 5, chainHasher{}) // SHA-256, as rechain.py
			return nil
		}},
		{name: "a row edited and the chain recomputed with another key", reason: "row 5: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `UPDATE audit_log SET user = 'mallory' WHERE id = 5`)
			rechain(t, e.db.DB, 5, chainHasher{keyedFrom: 1, key: randomKey()})
			return nil
		}},
		{name: "a row deleted, the rest renumbered and recomputed", reason: "row 5: hash mismatch", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id = 5`)
			rawExec(t, e.db.DB, `UPDATE audit_log SET id = id - 1 WHERE id > 5`)
			rechain(t, e.db.DB, 5, chainHasher{})
			return nil
		}},
		{name: "a forged archive anchor over deleted first rows", reason: "archived anchor (row 3) does not match its MAC", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `INSERT INTO audit_anchor (kind, last_id, last_hash, updated_at) VALUES ('archived', 3, ?, 0)`, e.rows[1].Hash)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id <= 3`)
			return nil
		}},
		{name: "the keying record removed and the chain recomputed unkeyed", reason: "has no keying record", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_chain`)
			rawExec(t, e.db.DB, `UPDATE audit_log SET user = 'mallory' WHERE id = 5`)
			rechain(t, e.db.DB, 1, chainHasher{})
			return nil
		}},
		{name: "the last rows deleted and the anchor file removed", reason: "is missing", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id >= 9`)
			return os.Remove(e.db.audit.opts.AnchorFile)
		}},
		{name: "the last rows deleted and the anchor file rewritten", reason: "does not match its MAC", tamper: func(t *testing.T, e env) error {
			dropAll(t, e.db.DB)
			rawExec(t, e.db.DB, `DELETE FROM audit_log WHERE id >= 9`)
			h, _, err := readAnchorFile(e.db.audit.opts.AnchorFile)
			if err != nil {
				return err
			}
			h.HeadID, h.HeadHash = 8, e.rows[6].Hash
			return writeAnchorFile(e.db.audit.opts.AnchorFile, h)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is caught", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rmm.db")
			keys := &memKeys{}
			db := openKeyed(t, path, keys)
			rows := appendAudit(t, db.DB, auditT0, 10)
			if rows[0].ID != 2 {
				t.Fatalf("first appended row is %d, want 2 (row 1 keys the chain)", rows[0].ID)
			}
			if h, err := db.AnchorAudit(context.Background()); err != nil || h.HeadID != 11 {
				t.Fatalf("anchor %+v %v; want row 11", h, err)
			}
			if res := verify(t, db.DB); !res.OK || !res.Keyed || res.KeyedFrom != 1 {
				t.Fatalf("before tampering: %+v", res)
			}
			err := tt.tamper(t, env{db: db, rows: rows})
			if tt.blocked {
				if err == nil {
					t.Fatal("the database took the change; want the trigger to refuse it")
				}
				if res := verify(t, db.DB); !res.OK {
					t.Errorf("after a refused change: %+v", res)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res := verify(t, db.DB)
			if res.OK || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verify = OK %v, reason %q\nwant a failure saying %q", res.OK, res.Reason, tt.reason)
			}
		})
	}
}

func TestADroppedTriggerIsPutBackAtOpenAndAudited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	keys := &memKeys{}
	db := openKeyed(t, path, keys)
	appendAudit(t, db.DB, auditT0, 3)
	rawExec(t, db.DB, `DROP TRIGGER audit_log_no_delete`)
	rawExec(t, db.DB, `DROP TRIGGER audit_log_append_only`)
	rawExec(t, db.DB, `CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log BEGIN SELECT 1; END`)
	rawExec(t, db.DB, `CREATE TRIGGER sneaky AFTER INSERT ON audit_log BEGIN SELECT 1; END`)
	db.Close()

	for run := range 2 { // "drop the trigger, run rmm twice": back on the first run, nothing to do on the second
		db2 := openKeyed(t, path, keys)
		if _, err := db2.writer.Exec(`DELETE FROM audit_log WHERE id = 2`); err == nil {
			t.Fatalf("run %d: a DELETE went through: the trigger was not put back", run+1)
		}
		if _, err := db2.writer.Exec(`UPDATE audit_log SET user = 'x' WHERE id = 2`); err == nil {
			t.Fatalf("run %d: an UPDATE went through: the altered trigger was not replaced", run+1)
		}
		restored, _ := db2.ListAudit(context.Background(), AuditFilter{Action: "audit.triggers_restored"})
		if len(restored) != 1 {
			t.Fatalf("run %d: %d audit.triggers_restored rows, want 1", run+1, len(restored))
		}
		got := fmt.Sprint(restored[0].Details["triggers"])
		for _, want := range []string{"audit_log_no_delete", "audit_log_append_only", "dropped sneaky"} {
			if !strings.Contains(got, want) {
				t.Errorf("the restored row says %s, want it to name %s", got, want)
			}
		}
		if k := db2.kinds(); (run == 0) != slices.Contains(k, AuditEventTriggersRestored) {
			t.Errorf("run %d: events %v", run+1, k)
		}
		if res := verify(t, db2.DB); !res.OK {
			t.Errorf("run %d: verify %+v", run+1, res)
		}
		db2.Close()
	}
}

func TestAnUnkeyedDatabaseMigratesAndKeepsItsOldRowsVerifiable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	old, err := Open(context.Background(), path) // an rmm with no key store: the chain stays unkeyed
	if err != nil {
		t.Fatal(err)
	}
	before := appendAudit(t, old, auditT0, 5)
	if res := verify(t, old); !res.OK || res.Keyed {
		t.Fatalf("unkeyed chain: %+v", res)
	}
	old.Close()

	keys := &memKeys{}
	db := openKeyed(t, path, keys)
	after := appendAudit(t, db.DB, auditT0.Add(time.Hour), 3)
	if keys.created != 1 {
		t.Errorf("%d keys created, want 1 (at first use)", keys.created)
	}
	if after[0].ID != 7 {
		t.Errorf("first row after keying is %d, want 7 (row 6 is audit.keyed)", after[0].ID)
	}
	res := verify(t, db.DB)
	if !res.OK || !res.Keyed || res.KeyedFrom != 6 || res.KeyID != keys.key.ID() {
		t.Fatalf("verify = %+v, want keyed from row 6", res)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "rows 1-5 carry the unkeyed SHA-256 hashes") {
		t.Errorf("notes %q do not say where the switch is", res.Notes)
	}
	for _, e := range before {
		if h, _ := auditHash(e); h != e.Hash {
			t.Errorf("row %d: its unkeyed hash was rewritten", e.ID)
		}
	}
	if slices.Index(db.kinds(), AuditEventKeyed) < 0 {
		t.Errorf("events %v lack %q", db.kinds(), AuditEventKeyed)
	}
	keyed, _ := db.ListAudit(context.Background(), AuditFilter{Action: "audit.keyed"})
	if len(keyed) != 1 || keyed[0].ID != 6 || keyed[0].Details["rows_before"] != json.Number("5") {
		t.Errorf("audit.keyed rows %+v", keyed)
	}

	// The unkeyed rows are pinned by the keyed ones: rewriting one of
	// them and recomputing the unkeyed part breaks the link into row 6.
	dropAll(t, db.DB)
	rawExec(t, db.DB, `UPDATE audit_log SET user = 'mallory' WHERE id = 2`)
	rechain(t, db.DB, 2, chainHasher{}) // stops being right at row 6, whose HMAC the attacker cannot make
	res = verify(t, db.DB)
	if res.OK || !strings.Contains(res.Reason, "row 6") {
		t.Errorf("after rewriting the unkeyed rows: %+v", res)
	}
}

func TestAKeyedChainWithoutItsKeyRefusesToGoOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	keys := &memKeys{}
	db := openKeyed(t, path, keys)
	appendAudit(t, db.DB, auditT0, 2)
	db.Close()
	ctx := context.Background()
	tests := []struct {
		name string
		keys AuditKeyring
		want string
	}{
		{"no key store at all", nil, "no audit key here"},
		{"a key store without the key", &memKeys{}, "holds no audit key"},
		{"a key store with another key", &memKeys{key: randomKey()}, "restore the key this chain was keyed with"},
		{"a key store that cannot be read", &memKeys{fail: errors.New("the vault is locked")}, "the vault is locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := OpenWith(ctx, path, AuditOptions{Keys: tt.keys, AnchorFile: path + ".audit-anchor"})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, err = d.AppendAudit(ctx, AuditEntry{User: "alice", Action: "x", Result: AuditSuccess})
			if !errors.Is(err, ErrAuditKey) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("append: %v, want ErrAuditKey saying %q", err, tt.want)
			}
			if _, err := d.VerifyAudit(ctx); !errors.Is(err, ErrAuditKey) {
				t.Errorf("verify: %v, want ErrAuditKey", err)
			}
			if mk, ok := tt.keys.(*memKeys); ok && mk.created != 0 {
				t.Error("a new key was made for a chain keyed with another one")
			}
		})
	}
	d := openKeyed(t, path, keys) // the right key back: all is well
	if _, err := d.AppendAudit(ctx, AuditEntry{User: "alice", Action: "x", Result: AuditSuccess}); err != nil {
		t.Fatal(err)
	}
	if res := verify(t, d.DB); !res.OK {
		t.Errorf("verify with the key back: %+v", res)
	}
}

func TestNoKeyStoreLeavesTheChainUnkeyedAndSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	var kinds []string
	db, err := OpenWith(context.Background(), path, AuditOptions{KeysUnavailable: "no keyring and no vault passphrase",
		AnchorFile: path + ".audit-anchor", AnchorEvery: time.Nanosecond,
		OnEvent: func(ev AuditEvent) { kinds = append(kinds, ev.Kind) }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	appendAudit(t, db, auditT0, 3)
	res := verify(t, db)
	if !res.OK || res.Keyed {
		t.Fatalf("verify %+v", res)
	}
	if !strings.Contains(strings.Join(res.Notes, " "), "not keyed (no keyring and no vault passphrase)") {
		t.Errorf("notes %q", res.Notes)
	}
	if n := strings.Count(strings.Join(kinds, " "), AuditEventUnkeyed); n != 1 {
		t.Errorf("events %v: want one %q", kinds, AuditEventUnkeyed)
	}
	// The unkeyed anchor still catches a cut tail.
	dropAll(t, db)
	rawExec(t, db, `DELETE FROM audit_log WHERE id = 3`)
	if res := verify(t, db); res.OK || !strings.Contains(res.Reason, "removed from its end") {
		t.Errorf("a cut tail of an unkeyed chain: %+v", res)
	}
}

func TestTheAnchorIsNotOverwrittenOnceTheChainStopsExtendingIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	db := openKeyed(t, path, &memKeys{})
	appendAudit(t, db.DB, auditT0, 5)
	if _, err := db.AnchorAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _, err := readAnchorFile(path + ".audit-anchor")
	if err != nil || before.HeadID != 6 || before.MAC == "" {
		t.Fatalf("anchor %+v, %v; want row 6 with a MAC", before, err)
	}
	dropAll(t, db.DB)
	rawExec(t, db.DB, `DELETE FROM audit_log WHERE id >= 5`)
	appendAudit(t, db.DB, auditT0, 3) // rows 5-7 again, other hashes
	if _, err := db.AnchorAudit(context.Background()); !errors.Is(err, errAnchorRefused) {
		t.Errorf("anchoring a chain cut and appended to: %v, want it refused", err)
	}
	db.Close() // and at close
	after, _, _ := readAnchorFile(path + ".audit-anchor")
	if after != before {
		t.Errorf("the anchor was replaced by %+v; the evidence is gone", after)
	}
	if !slices.Contains(db.kinds(), AuditEventAnchorRefused) {
		t.Errorf("events %v lack %q", db.kinds(), AuditEventAnchorRefused)
	}
}

func TestExpectHeadCatchesACutTail(t *testing.T) {
	db := openTestDB(t)
	rows := appendAudit(t, db, auditT0, 5)
	o := VerifyOptions{ExpectID: rows[4].ID, ExpectHash: rows[4].Hash}
	if res, err := db.VerifyAuditWith(context.Background(), o); err != nil || !res.OK {
		t.Fatalf("verify with the right head: %+v %v", res, err)
	}
	dropAll(t, db)
	rawExec(t, db, `DELETE FROM audit_log WHERE id = 5`)
	res, err := db.VerifyAuditWith(context.Background(), o)
	if err != nil || res.OK || !strings.Contains(res.Reason, "the expected head names row 5") {
		t.Errorf("verify = %+v, %v", res, err)
	}
}

func TestTheAuditKeyNeverPrints(t *testing.T) {
	k := randomKey()
	raw := fmt.Sprintf("%x", k.b)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k)} {
		if strings.Contains(s, raw) || strings.Contains(s, raw[:16]) {
			t.Errorf("the key shows in %q", s)
		}
	}
	if b, _ := k.MarshalJSON(); strings.Contains(string(b), raw[:16]) {
		t.Error("the key shows in JSON")
	}
}

func TestTheMigrationsCreateTheTriggersRmmRestores(t *testing.T) {
	db := openTestDB(t)
	have, err := db.auditTriggerSQL(context.Background(), db.writer)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range auditTriggers {
		if !sameSQL(have[tr.name], tr.sql) {
			t.Errorf("trigger %s\nmigration: %s\nrestore:   %s", tr.name, have[tr.name], tr.sql)
		}
	}
	if len(have) != len(auditTriggers) {
		t.Errorf("%d triggers on the audit tables, want %d", len(have), len(auditTriggers))
	}
}

func TestAKeyedChainSpansArchiveAndDatabaseAndItsAnchorsAreSigned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	keys := &memKeys{}
	db := openKeyed(t, path, keys)
	db.now = func() time.Time { return retentionNow.Add(-200 * 24 * time.Hour) }
	seedOldAudit(t, db.DB) // 60 rows after the keyed row 1, the first 15 old enough to archive
	db.now = time.Now
	dir := t.TempDir()
	rep := applyRetention(t, db.DB, dir, RetentionPolicy{BatchRows: 4}, retentionNow)
	if rep.AuditArchived == 0 {
		t.Fatal("nothing archived")
	}
	var mac string
	db.reader.QueryRow(`SELECT mac FROM audit_anchor WHERE kind = 'archived'`).Scan(&mac)
	if mac == "" {
		t.Error("the archived anchor of a keyed chain has no MAC")
	}
	if res := verify(t, db.DB); !res.OK || !res.Keyed {
		t.Errorf("verify of the database alone = %+v", res)
	}
	if res := verifyWithArchive(t, db.DB, dir); !res.OK || res.LastID != 61 {
		t.Errorf("verify with the archive = %+v", res)
	}
	// Moving the anchor back over archived rows needs the key.
	dropAll(t, db.DB)
	rawExec(t, db.DB, `UPDATE audit_anchor SET last_id = last_id + 1, last_hash = (SELECT hash FROM audit_log ORDER BY id LIMIT 1)
		WHERE kind = 'archived'`)
	rawExec(t, db.DB, `DELETE FROM audit_log WHERE id = (SELECT min(id) FROM audit_log)`)
	if res := verify(t, db.DB); res.OK || !strings.Contains(res.Reason, "does not match its MAC") {
		t.Errorf("a moved archive anchor: %+v", res)
	}
}

func TestARefusedAnchorIsReportedOncePerPeriodNotAtEveryAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	var refused int
	db, err := OpenWith(context.Background(), path, AuditOptions{Keys: &memKeys{}, AnchorFile: path + ".audit-anchor",
		AnchorEvery: time.Hour, OnEvent: func(ev AuditEvent) {
			if ev.Kind == AuditEventAnchorRefused {
				refused++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	appendAudit(t, db, auditT0, 3)
	if h, err := db.AnchorAudit(context.Background()); err != nil || h.HeadID != 4 {
		t.Fatalf("anchor %+v %v; want row 4", h, err)
	}
	dropAll(t, db)
	rawExec(t, db, `DELETE FROM audit_log WHERE id >= 3`)
	if _, err := db.AnchorAudit(context.Background()); !errors.Is(err, errAnchorRefused) {
		t.Fatalf("anchor over a cut chain: %v", err)
	}
	appendAudit(t, db, auditT0, 20)
	if refused != 1 {
		t.Errorf("%d refusals reported for 20 appends within the period, want 1", refused)
	}
}
