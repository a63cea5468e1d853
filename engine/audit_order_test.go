package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// watchedStore is the OS keyring's stand-in: it notes what the audit log
// held at the moment a credential was stored.
type watchedStore struct {
	creds.Store
	db        *store.DB
	atSet     []store.AuditEntry
	setCalled bool
}

func (w *watchedStore) Set(ctx context.Context, c creds.Credential) error {
	w.setCalled = true
	rows, err := w.db.ListAudit(ctx, store.AuditFilter{Action: "credentials.set"})
	if err != nil {
		return err
	}
	w.atSet = rows
	return w.Store.Set(ctx, c)
}

// Code review B5: Do ran the request, then wrote its audit row, so the
// first change rmm could not record was made anyway. The row is now
// written before the change takes effect (pending), and the outcome after.
func TestTheAuditRowIsWrittenBeforeTheChangeTakesEffect(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ws := &watchedStore{Store: creds.NewMemoryStore(), db: db}
	eng := newEngine(t, db, engine.Options{Credentials: ws})
	set := engine.SetCredential{Name: "default", User: "rmm", Secret: creds.NewSecret("pw-1")}
	if _, err := engine.Call(ctx, eng, admin, set); err != nil {
		t.Fatal(err)
	}
	if len(ws.atSet) != 1 || ws.atSet[0].Result != store.AuditPending || ws.atSet[0].User != admin.User {
		t.Fatalf("when the credential was stored the log held %+v, want the pending row", ws.atSet)
	}
	rows, err := db.ListAudit(ctx, store.AuditFilter{Action: "credentials.set"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1].Result != store.AuditSuccess || rows[1].Details["pending"] == nil {
		t.Fatalf("after: %+v, want pending then success naming it", rows)
	}
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("chain: %+v %v", v, err)
	}

	// A log that cannot be written: the change is not made at all.
	ws.setCalled = false
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = engine.Call(ctx, eng, admin, engine.SetCredential{Name: "other", User: "rmm", Secret: creds.NewSecret("pw-2")})
	if err == nil || winrm.ClassOf(err) != winrm.ClassFatal {
		t.Fatalf("a change with an unwritable audit log: %v, want a Fatal error", err)
	}
	if ws.setCalled {
		t.Error("the credential was stored although its audit row could not be written")
	}
	if _, err := ws.Store.Get(ctx, "other"); !errors.Is(err, creds.ErrNotFound) {
		t.Errorf("the unrecorded credential exists: %v", err)
	}
	if eng.Fatal() == nil {
		t.Error("the engine goes on after an audit write failed")
	}
}
