package engine_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// credentialAlerts lists the credential_age alerts in the given state
// ("open" or "all"), through the engine as a front end would.
func credentialAlerts(t *testing.T, eng *engine.Engine, state string) []engine.Alert {
	t.Helper()
	all, err := engine.Call(context.Background(), eng, engine.Identity{User: "v", Role: engine.RoleViewer, Via: engine.ViaCLI}, engine.ListAlerts{State: state})
	if err != nil {
		t.Fatal(err)
	}
	var as []engine.Alert
	for _, a := range all {
		if a.Type == engine.AlertTypeCredentialAge {
			as = append(as, a)
		}
	}
	return as
}

func TestAStaleCredentialRaisesAnInfoAlertUntilItIsRotated(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	vault := creds.NewMemoryStore()
	old := time.Now().Add(-120 * 24 * time.Hour)
	for _, c := range []creds.Credential{
		{Name: "default", User: `CORP\rmm`, Secret: creds.NewSecret("s1"), CreatedAt: old},
		{Name: "fresh", User: `CORP\svc`, Secret: creds.NewSecret("s2")},
	} {
		if err := vault.Set(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	eng := newEngine(t, db, engine.Options{Credentials: vault})
	w := engine.NewCredentialWatch(eng, 90*24*time.Hour)
	for range 2 { // a second check refreshes the alert, it does not add one
		if err := w.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	as := credentialAlerts(t, eng, "open")
	if len(as) != 1 {
		t.Fatalf("alerts %+v, want one", as)
	}
	a := as[0]
	if a.DeviceID != 0 || a.Instance != "default" || a.Severity != engine.SeverityInfo ||
		!strings.HasPrefix(a.Message, "credential default is 120 days old (max 90)") {
		t.Errorf("alert %+v", a)
	}
	if got := w.Stale(); !slices.Equal(got, []string{"default (120 days)"}) {
		t.Errorf("status bar names %q", got)
	}

	if err := vault.Set(ctx, creds.Credential{Name: "default", User: `CORP\rmm`, Secret: creds.NewSecret("rotated")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if as := credentialAlerts(t, eng, "open"); len(as) != 0 {
		t.Fatalf("alerts after rotation %+v", as)
	}
	all := credentialAlerts(t, eng, "all")
	if len(all) != 1 || all[0].State != engine.AlertResolved || !all[0].AutoResolved {
		t.Errorf("the rotated credential's alert is not auto-resolved: %+v", all)
	}
	if got := w.Stale(); len(got) != 0 {
		t.Errorf("status bar still names %q", got)
	}
}

func TestNoCredentialsStoreMeansNoReminder(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	eng := newEngine(t, db, engine.Options{})
	w := engine.NewCredentialWatch(eng, 24*time.Hour)
	if err := w.Check(ctx); err != nil || len(w.Stale()) != 0 || len(credentialAlerts(t, eng, "all")) != 0 {
		t.Fatalf("err %v, stale %v", err, w.Stale())
	}
}
