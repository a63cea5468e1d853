package store

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"
	"time"
)

// TestAuditCSVExportNeutralisesFormulasFromPeople: a user name or a
// client address that starts like a formula is exported as text (F7);
// the JSON export keeps the values exactly, for checking the chain.
func TestAuditCSVExportNeutralisesFormulasFromPeople(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	if _, err := db.AppendAudit(ctx, AuditEntry{At: time.Now().UTC(), User: `=cmd|' /C calc'!A0`, Role: "Viewer", Via: "ssh",
		RemoteAddr: "@SUM(1+1)", Action: "session.open", Targets: []string{"=x"}, Result: AuditSuccess,
		Details: map[string]any{"term": "+1"}}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := db.ExportAudit(ctx, &buf, "csv", AuditFilter{}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	r := recs[1]
	if r[2] != `'=cmd|' /C calc'!A0` || r[5] != "'@SUM(1+1)" {
		t.Errorf("user %q, remote_addr %q: want a leading quote", r[2], r[5])
	}
	if r[7] != `["=x"]` || r[0] != "1" {
		t.Errorf("targets %q, id %q: JSON and numbers stay as they are", r[7], r[0])
	}
	buf.Reset()
	if err := db.ExportAudit(ctx, &buf, "json", AuditFilter{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"user":"=cmd|' /C calc'!A0"`)) {
		t.Errorf("json export changed the user: %s", buf.Bytes())
	}
}
