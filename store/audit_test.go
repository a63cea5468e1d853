package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var auditT0 = time.Date(2026, 11, 19, 9, 30, 0, 0, time.UTC)

// appendAudit appends n rows, one minute apart from start, by users
// alice and bob in turn, and returns them as stored.
func appendAudit(t *testing.T, db *DB, start time.Time, n int) []AuditEntry {
	t.Helper()
	var out []AuditEntry
	for i := range n {
		user, result := "alice", AuditSuccess
		if i%2 == 1 {
			user, result = "bob", AuditDenied
		}
		e, err := db.AppendAudit(context.Background(), AuditEntry{
			At: start.Add(time.Duration(i) * time.Minute), User: user, Role: "Operator", Via: "ssh",
			RemoteAddr: "10.1.2.3:52100", Action: fmt.Sprintf("action.%d", i%3), Targets: []string{"WS-001", "WS-002"},
			Result: result, Details: map[string]any{"n": i, "script": "Restart-Service Spooler"},
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// rawExec runs SQL on the writer as an attacker with sqlite3 would.
func rawExec(t *testing.T, db *DB, q string, args ...any) {
	t.Helper()
	if _, err := db.writer.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func verify(t *testing.T, db *DB) VerifyResult {
	t.Helper()
	res, err := db.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAnIntactChainVerifies(t *testing.T) {
	db := openTestDB(t)
	if res := verify(t, db); !res.OK || res.Rows != 0 {
		t.Errorf("empty log: %+v, want OK with 0 rows", res)
	}
	rows := appendAudit(t, db, auditT0, 30)
	res := verify(t, db)
	if !res.OK || res.Rows != 30 || res.FirstBad != 0 || res.Reason != "" {
		t.Errorf("verify = %+v, want OK with 30 rows", res)
	}
	if res.LastID != 30 || res.LastHash != rows[29].Hash {
		t.Errorf("head %d %s, want 30 %s", res.LastID, res.LastHash, rows[29].Hash)
	}
	if rows[0].PrevHash != AuditGenesis || rows[0].ID != 1 {
		t.Errorf("first row %d chains to %s, want id 1 and the genesis value", rows[0].ID, rows[0].PrevHash)
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].PrevHash != rows[i-1].Hash || rows[i].ID != rows[i-1].ID+1 {
			t.Fatalf("row %d does not chain to row %d", rows[i].ID, rows[i-1].ID)
		}
	}
}

func TestAppendAuditStoresWhatItReturns(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 19, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	db.now = func() time.Time { return now }
	got, err := db.AppendAudit(ctx, AuditEntry{
		User: " alice ", Action: "credential.set", Result: AuditSuccess, Via: "local",
		Details: map[string]any{"name": "corp-admin", "Password": "hunter2",
			"params": map[string]any{"api_token": "abc", "port": 5986}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 19, 9, 0, 0, 123000000, time.UTC); !got.At.Equal(want) || got.At.Location() != time.UTC {
		t.Errorf("At = %v, want now in UTC to the millisecond (%v)", got.At, want)
	}
	if got.User != "alice" || got.ID != 1 || got.Targets == nil {
		t.Errorf("stored %+v", got)
	}
	wantDetails := map[string]any{"name": "corp-admin", "Password": Redacted,
		"params": map[string]any{"api_token": Redacted, "port": json.Number("5986")}}
	if !reflect.DeepEqual(got.Details, wantDetails) {
		t.Errorf("details %#v, want %#v", got.Details, wantDetails)
	}
	list, err := db.ListAudit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !reflect.DeepEqual(list[0], got) {
		t.Errorf("ListAudit = %+v\nAppendAudit returned %+v", list, got)
	}
	var details string
	db.reader.QueryRow(`SELECT details FROM audit_log`).Scan(&details)
	if strings.Contains(details, "hunter2") || strings.Contains(details, "abc") {
		t.Errorf("a secret reached the database: %s", details)
	}
}

func TestAppendAuditRefusesBadEntries(t *testing.T) {
	db := openTestDB(t)
	ok := AuditEntry{User: "alice", Action: "device.add", Result: AuditSuccess}
	tests := []struct {
		name string
		edit func(*AuditEntry)
		want string
	}{
		{"an entry with an id", func(e *AuditEntry) { e.ID = 7 }, "id 7 given: the log assigns ids"},
		{"an entry without an action", func(e *AuditEntry) { e.Action = " " }, "empty action"},
		{"an entry without a result", func(e *AuditEntry) { e.Result = "" }, "empty result"},
		{"an unknown via", func(e *AuditEntry) { e.Via = "web" }, `via "web": want local, ssh, cli or system`},
		{"details that do not encode", func(e *AuditEntry) { e.Details = map[string]any{"f": func() {}} }, "encode details"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			e := ok
			tt.edit(&e)
			_, err := db.AppendAudit(context.Background(), e)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "append audit ") {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if res := verify(t, db); res.Rows != 0 {
		t.Errorf("%d rows written by refused appends", res.Rows)
	}
}

func TestTheTriggerRefusesUpdates(t *testing.T) {
	db := openTestDB(t)
	appendAudit(t, db, auditT0, 1)
	_, err := db.writer.Exec(`UPDATE audit_log SET user = 'mallory'`)
	if err == nil || !strings.Contains(err.Error(), "audit_log is append-only") {
		t.Errorf("UPDATE: %v, want the append-only trigger to refuse it", err)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(t *testing.T, db *DB, rows []AuditEntry)
		firstBad int64
		reason   string
	}{
		{
			name: "a row edited with the trigger dropped",
			tamper: func(t *testing.T, db *DB, _ []AuditEntry) {
				rawExec(t, db, `DROP TRIGGER audit_log_append_only`)
				rawExec(t, db, `UPDATE audit_log SET result = 'failure' WHERE id = 17`)
			},
			firstBad: 17, reason: "row 17: hash mismatch (row edited)",
		},
		{
			name: "a detail edited in place",
			tamper: func(t *testing.T, db *DB, _ []AuditEntry) {
				rawExec(t, db, `DROP TRIGGER audit_log_append_only`)
				rawExec(t, db, `UPDATE audit_log SET details = json_set(details, '$.n', 99) WHERE id = 3`)
			},
			firstBad: 3, reason: "row 3: hash mismatch (row edited)",
		},
		{
			name: "a row deleted in the middle",
			tamper: func(t *testing.T, db *DB, _ []AuditEntry) {
				rawExec(t, db, `DROP TRIGGER audit_log_no_delete`)
				rawExec(t, db, `DELETE FROM audit_log WHERE id = 17`)
			},
			firstBad: 18, reason: "row 18: previous hash does not match row 16 (row deleted or inserted)",
		},
		{
			name: "the first rows deleted",
			tamper: func(t *testing.T, db *DB, _ []AuditEntry) {
				rawExec(t, db, `DROP TRIGGER audit_log_no_delete`)
				rawExec(t, db, `DELETE FROM audit_log WHERE id <= 2`)
			},
			firstBad: 3, reason: "row 3: previous hash does not match the genesis value (row deleted or inserted)",
		},
		{
			name: "a row replaced by a forgery with a recomputed hash",
			tamper: func(t *testing.T, db *DB, rows []AuditEntry) {
				forged := rows[16]
				forged.User = "mallory"
				insertForged(t, db, forged, true)
			},
			firstBad: 18, reason: "row 18: previous hash does not match row 17 (row deleted or inserted)",
		},
		{
			name: "a forged row inserted before the first",
			tamper: func(t *testing.T, db *DB, rows []AuditEntry) {
				forged := rows[0]
				forged.ID, forged.PrevHash, forged.Action = 0, AuditGenesis, "forged"
				insertForged(t, db, forged, false)
			},
			firstBad: 1, reason: "row 1: previous hash does not match row 0 (row deleted or inserted)",
		},
		{
			name: "a forged row appended with a made-up hash",
			tamper: func(t *testing.T, db *DB, rows []AuditEntry) {
				forged := rows[29]
				forged.ID, forged.PrevHash, forged.Hash = 31, rows[29].Hash, strings.Repeat("ab", 32)
				insertRaw(t, db, forged)
			},
			firstBad: 31, reason: "row 31: hash mismatch (row edited)",
		},
		{
			name: "a forged row appended that chains to an older row",
			tamper: func(t *testing.T, db *DB, rows []AuditEntry) {
				forged := rows[4]
				forged.ID, forged.PrevHash = 31, rows[4].Hash
				insertForged(t, db, forged, false)
			},
			firstBad: 31, reason: "row 31: previous hash does not match row 30 (row deleted or inserted)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is reported", func(t *testing.T) {
			db := openTestDB(t)
			rows := appendAudit(t, db, auditT0, 30)
			tt.tamper(t, db, rows)
			res := verify(t, db)
			if res.OK || res.FirstBad != tt.firstBad || res.Reason != tt.reason {
				t.Errorf("verify = %+v\nwant first bad %d, reason %q", res, tt.firstBad, tt.reason)
			}
		})
	}
}

// insertForged writes e with a correctly recomputed hash, as an attacker
// who knows the encoding would; replace deletes the row with e's id first.
func insertForged(t *testing.T, db *DB, e AuditEntry, replace bool) {
	t.Helper()
	if replace {
		rawExec(t, db, `DROP TRIGGER IF EXISTS audit_log_no_delete`)
		rawExec(t, db, `DELETE FROM audit_log WHERE id = ?`, e.ID)
	}
	h, err := auditHash(e)
	if err != nil {
		t.Fatal(err)
	}
	e.Hash = h
	insertRaw(t, db, e)
}

func insertRaw(t *testing.T, db *DB, e AuditEntry) {
	t.Helper()
	targets, _ := json.Marshal(e.Targets)
	details, _ := json.Marshal(e.Details)
	rawExec(t, db, `INSERT INTO audit_log (id, ts, user, role, via, action, targets, result, remote_addr, details,
		prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, toMS(e.At), e.User, e.Role, e.Via,
		e.Action, string(targets), e.Result, e.RemoteAddr, string(details), e.PrevHash, e.Hash)
}

func TestConcurrentAppendersKeepOneChain(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := db.AppendAudit(ctx, AuditEntry{User: fmt.Sprintf("user%02d", g), Action: "poll.now",
					Result: AuditSuccess, Details: map[string]any{"i": i}}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	res := verify(t, db)
	if !res.OK || res.Rows != 200 || res.LastID != 200 {
		t.Errorf("verify after concurrent appends = %+v, want OK with ids 1..200", res)
	}
}

func TestTheCanonicalEncodingIsStable(t *testing.T) {
	// Pinned: a change here breaks every stored hash (see auditCanonical).
	e := AuditEntry{ID: 42, At: time.UnixMilli(1763544600123).UTC(), User: "alice", Role: "Admin", Via: "ssh",
		RemoteAddr: "10.0.0.5:2222", Action: "action.run", Targets: []string{"WS-001", "<b>"}, Result: AuditSuccess,
		Details:  map[string]any{"z": json.Number("9007199254740993"), "a": map[string]any{"y": true, "b": nil}},
		PrevHash: AuditGenesis}
	b, err := auditCanonicalBytes(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"action.run","at":1763544600123,"details":{"a":{"b":null,"y":true},"z":9007199254740993},` +
		`"id":42,"prev_hash":"` + AuditGenesis + `","remote_addr":"10.0.0.5:2222","result":"success","role":"Admin",` +
		`"targets":["WS-001","\u003cb\u003e"],"user":"alice","via":"ssh"}`
	if string(b) != want {
		t.Errorf("canonical encoding\n got %s\nwant %s", b, want)
	}
	sum := sha256.Sum256([]byte(want))
	if h, _ := auditHash(e); h != hex.EncodeToString(sum[:]) {
		t.Errorf("hash %s is not the hex SHA-256 of the canonical encoding", h)
	}
	e.Details, e.Targets = nil, nil
	b, _ = auditCanonicalBytes(e)
	if !strings.Contains(string(b), `"details":{}`) || !strings.Contains(string(b), `"targets":[]`) {
		t.Errorf("empty details and targets encode as %s, want {} and []", b)
	}
}

func TestBigNumbersInDetailsKeepTheirDigits(t *testing.T) {
	db := openTestDB(t)
	_, err := db.AppendAudit(context.Background(), AuditEntry{User: "alice", Action: "x", Result: AuditSuccess,
		Details: map[string]any{"big": int64(9007199254740993), "f": 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := db.ListAudit(context.Background(), AuditFilter{})
	if got := list[0].Details["big"]; got != json.Number("9007199254740993") {
		t.Errorf("big = %v, want 9007199254740993 exactly", got)
	}
	if res := verify(t, db); !res.OK {
		t.Errorf("verify %+v", res)
	}
}

func TestRedactDetails(t *testing.T) {
	in := map[string]any{
		"user":        "alice",
		"Password":    "x",
		"db_PASSWORD": "x",
		"apiToken":    "x",
		"client_secret": map[string]any{
			"whole": "object",
		},
		"passphrase": "x",
		"ssh_key":    "x",
		"nested":     map[string]any{"token": "x", "port": 5986},
		"list":       []any{map[string]any{"secret": "x", "name": "a"}, "plain"},
		"strings":    map[string]string{"KeyFile": "x", "host": "h"},
	}
	want := map[string]any{
		"user":          "alice",
		"Password":      Redacted,
		"db_PASSWORD":   Redacted,
		"apiToken":      Redacted,
		"client_secret": Redacted,
		"passphrase":    Redacted,
		"ssh_key":       Redacted,
		"nested":        map[string]any{"token": Redacted, "port": 5986},
		"list":          []any{map[string]any{"secret": Redacted, "name": "a"}, "plain"},
		"strings":       map[string]any{"KeyFile": Redacted, "host": "h"},
	}
	if got := RedactDetails(in); !reflect.DeepEqual(got, want) {
		t.Errorf("RedactDetails\n got %#v\nwant %#v", got, want)
	}
	if in["Password"] != "x" {
		t.Error("RedactDetails changed its input")
	}
	if RedactDetails(nil) != nil {
		t.Error("RedactDetails(nil) is not nil")
	}
}

// exportRows are rows whose fields exercise CSV and JSON quoting.
func exportRows(t *testing.T, db *DB) []AuditEntry {
	t.Helper()
	ctx := context.Background()
	var out []AuditEntry
	for i, e := range []AuditEntry{
		{User: "alice", Role: "Admin", Via: "local", Action: "device.import", Result: AuditSuccess,
			Targets: []string{"WS-001"}, Details: map[string]any{"file": `C:\fleet, "new".csv`, "rows": 1200}},
		{User: "bob", Role: "Viewer", Via: "ssh", RemoteAddr: "[::1]:50022", Action: "action.run", Result: AuditDenied,
			Details: map[string]any{"script": "line1\nline2", "big": int64(1) << 60, "ratio": 0.25, "ok": false}},
		{User: "carol", Via: "cli", Action: "alert.ack", Result: "failure: device gone", Targets: []string{}},
	} {
		e.At = auditT0.Add(time.Duration(i) * time.Second)
		got, err := db.AppendAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got)
	}
	return out
}

func TestExportCSVRoundTrips(t *testing.T) {
	db := openTestDB(t)
	want := exportRows(t, db)
	var buf bytes.Buffer
	if err := db.ExportAudit(context.Background(), &buf, "csv", AuditFilter{}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "id,at,user,role,via,remote_addr,action,targets,result,details,prev_hash,hash" {
		t.Errorf("header %v", recs[0])
	}
	var got []AuditEntry
	for _, r := range recs[1:] {
		id, _ := strconv.ParseInt(r[0], 10, 64)
		at, err := time.Parse(time.RFC3339Nano, r[1])
		if err != nil {
			t.Fatal(err)
		}
		e := AuditEntry{ID: id, At: at.UTC(), User: r[2], Role: r[3], Via: r[4], RemoteAddr: r[5], Action: r[6],
			Result: r[8], PrevHash: r[10], Hash: r[11]}
		if err := json.Unmarshal([]byte(r[7]), &e.Targets); err != nil {
			t.Fatal(err)
		}
		if e.Details, err = decodeDetails(r[9]); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	checkExported(t, got, want)
}

func TestExportJSONRoundTrips(t *testing.T) {
	db := openTestDB(t)
	want := exportRows(t, db)
	var buf bytes.Buffer
	if err := db.ExportAudit(context.Background(), &buf, "json", AuditFilter{}); err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(&buf)
	d.UseNumber()
	var got []AuditEntry
	if err := d.Decode(&got); err != nil {
		t.Fatalf("decode %q: %v", buf.String(), err)
	}
	checkExported(t, got, want)

	buf.Reset()
	if err := db.ExportAudit(context.Background(), &buf, "json", AuditFilter{User: "nobody"}); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "[]\n" {
		t.Errorf("empty export %q, want []", buf.String())
	}
}

// checkExported compares exported rows with the stored ones and checks
// that each exported row's hash can be recomputed from the export alone.
func checkExported(t *testing.T, got, want []AuditEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows exported, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("row %d\n got %#v\nwant %#v", i+1, got[i], want[i])
		}
		if h, err := auditHash(got[i]); err != nil || h != got[i].Hash {
			t.Errorf("row %d: hash of the exported row %s, stored %s (%v)", i+1, h, got[i].Hash, err)
		}
	}
}

func TestExportRefusesAnUnknownFormat(t *testing.T) {
	db := openTestDB(t)
	var buf bytes.Buffer
	err := db.ExportAudit(context.Background(), &buf, "xml", AuditFilter{})
	if err == nil || err.Error() != `export audit: format "xml": want csv or json` || buf.Len() != 0 {
		t.Errorf("error %v, output %q", err, buf.String())
	}
}

func TestListAuditFilters(t *testing.T) {
	db := openTestDB(t)
	appendAudit(t, db, auditT0, 12) // ids 1..12, one minute apart; odd ids alice/success, even bob/denied
	ids := func(es []AuditEntry) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    AuditFilter
		want []int64
	}{
		{"no filter lists every row oldest first", AuditFilter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{"since is inclusive and until exclusive", AuditFilter{Since: auditT0.Add(3 * time.Minute),
			Until: auditT0.Add(6 * time.Minute)}, []int64{4, 5, 6}},
		{"user matches case-insensitively", AuditFilter{User: "BOB", Until: auditT0.Add(6 * time.Minute)},
			[]int64{2, 4, 6}},
		{"action matches exactly", AuditFilter{Action: "action.1"}, []int64{2, 5, 8, 11}},
		{"result matches exactly", AuditFilter{Result: AuditDenied, Since: auditT0.Add(8 * time.Minute)},
			[]int64{10, 12}},
		{"limit keeps the newest rows, oldest first", AuditFilter{Limit: 3}, []int64{10, 11, 12}},
		{"filters combine", AuditFilter{User: "alice", Action: "action.0", Limit: 1}, []int64{7}},
		{"nothing matches", AuditFilter{User: "mallory"}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.ListAudit(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), tt.want) {
				t.Errorf("ids %v, want %v", ids(got), tt.want)
			}
		})
	}
	if _, err := db.ListAudit(context.Background(), AuditFilter{Limit: -1}); err == nil {
		t.Error("a negative limit was accepted")
	}
}
