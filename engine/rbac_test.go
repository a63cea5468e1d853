package engine

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/store"
)

// allRequests lists one value of every request type, for the role matrix
// test; a request type missing here fails that test.
func allRequests() []Request {
	all := []Request{PollNow{}, ImportDevices{}, PreviewImport{}, ListAudit{}, VerifyAudit{}, ExportAudit{Format: "json"}, ReloadConfig{},
		MaintainDB{ArchiveDir: "", Vacuum: false}, BackupDB{},
		SetCredential{Name: "rbac-test", User: "u", Secret: creds.NewSecret("not-a-real-secret")}, RemoveCredential{Name: "rbac-test"}, ListCredentials{},
		OpenSession{}, CloseSession{}, RefuseLogin{Reason: "unknown key"}, RunSchedule{Name: "none"}, AckAlert{}, ResolveAlert{}, ChangeAlerts{Op: AlertOpAck, IDs: []int64{1}}, ListAlerts{}, HealthReport{},
		Diagnose{Host: "127.0.0.1"}, ExportFile{Format: "csv"}}
	all = append(all, actionRequests()...)
	all = append(all, inventoryRequests()...)
	all = append(all, transportRequests()...)
	all = append(all, shellRequests()...)
	all = append(all, notifyRequests()...)
	all = append(all, collectionRequests()...)
	all = append(all, patchRequests()...)
	return all
}

// notifyRequests: notifications and reports.
func notifyRequests() []Request {
	return []Request{ListOutbox{}, TestChannel{Channel: "rbac-test"}, RetryOutbox{IDs: []int64{-1}}, FlushNotifications{}, RunReport{Type: "uptime", Format: "csv"}}
}

// collectionRequests: saved collections and ad-hoc commands.
func collectionRequests() []Request {
	return []Request{ListCollections{}, GetCollection{Name: "rbac-test"}, SaveCollection{Name: "rbac-test", Expr: "tag:none"},
		RemoveCollection{Name: "rbac-test"}, RunCommand{Script: "hostname", Target: RunTarget{Hosts: []string{"rbac-test-host"}}},
		GetCommandRun{RunID: "rbac-test"}, QueryInventory{Expr: "software:zoom"}}
}

// patchRequests: patch management.
func patchRequests() []Request {
	return []Request{
		ScanPatches{Target: RunTarget{Hosts: []string{"rbac-test-host"}}}, ScanFleetPatches{}, ListPatches{},
		GetDevicePatches{Host: "rbac-test-host"}, GetPatchCompliance{By: "site"},
		ApprovePatches{Ring: "all", KBs: []string{"KB0000001"}}, AutoApprovePatches{},
		InstallPatches{Target: RunTarget{Hosts: []string{"rbac-test-host"}}}, CancelPatches{RunID: "rbac-test"},
		ListPatchJobs{}, DrivePatches{RunID: "rbac-test"}, PatchHistory{},
		patchEvent{event: "install.result", host: "rbac-test-host"}, // the engine's own audit record; Do refuses to run it
	}
}

// actionRequests: remote actions, runs, the script library and the
// offline queue.
func actionRequests() []Request {
	return []Request{
		StartRun{Name: "flush-dns", Target: RunTarget{Hosts: []string{"rbac-test-host"}}},
		CancelRun{RunID: "rbac-test"},
		GetRun{RunID: "rbac-test"},
		GetActionResult{ID: -1},
		ListRuns{},
		ListActions{},
		ListQueue{},
		CancelQueued{ID: -1},
		AddScript{Name: "rbac-test", Body: "Write-Output 1"},
		ListScripts{},
		deviceResult{host: "rbac-test-host"}, // the engine's own audit record of a device's result; Do refuses to run it
	}
}

func inventoryRequests() []Request {
	return []Request{GetInventory{Host: "none"}, CollectInventory{Host: "none"}, CollectFleetInventory{}}
}

func shellRequests() []Request {
	return []Request{OpenShell{}, ShellRun{}, ShellInterrupt{}, CloseShell{}}
}

func transportRequests() []Request {
	return []Request{InsecureTLSUsed{Host: "ws-001"}}
}

// requestTypesInSource finds every type in this package with a method of
// that name (run: the request types, whether or not anyone registered
// them; exec: their untyped adapters).
func requestTypesInSource(t *testing.T, method string) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		if len(f) > 8 && f[len(f)-8:] == "_test.go" {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != method {
				continue
			}
			typ := fn.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			if id, ok := typ.(*ast.Ident); ok {
				names = append(names, id.Name)
			}
		}
	}
	slices.Sort(names)
	return names
}

func TestEveryRequestTypeIsRegisteredWithADeclaredPermission(t *testing.T) {
	var registered []string
	for _, r := range allRequests() {
		registered = append(registered, reflect.TypeOf(r).Name())
		if _, ok := minRole[r.Permission()]; !ok {
			t.Errorf("%T declares permission %q, which is not in the role matrix", r, r.Permission())
		}
		if r.Action() == "" {
			t.Errorf("%T has no action name", r)
		}
	}
	slices.Sort(registered)
	if got := requestTypesInSource(t, "run"); !slices.Equal(got, registered) {
		t.Fatalf("request types in source %v, registered in allRequests %v: register every new request type", got, registered)
	}
	if got := requestTypesInSource(t, "exec"); !slices.Equal(got, registered) {
		t.Fatalf("exec adapters %v, request types %v: give every request type its line in requests_exec.go", got, registered)
	}
}

func TestTheRoleMatrix(t *testing.T) {
	want := map[Permission][3]bool{ // Viewer, Operator, Admin
		PermFleetView:       {true, true, true},
		PermAuditView:       {false, true, true},
		PermDevicesPoll:     {false, true, true},
		PermDevicesEdit:     {false, true, true},
		PermDevicesTrust:    {false, false, true},
		PermAlertsEdit:      {false, true, true},
		PermActionsRun:      {false, true, true},
		PermQueueEdit:       {false, true, true},
		PermScriptsEdit:     {false, false, true},
		PermCollectionsEdit: {false, true, true},
		PermCredsView:       {false, true, true},
		PermCredsEdit:       {false, false, true},
		PermConfigEdit:      {false, false, true},
		PermUsersEdit:       {false, false, true},

		PermPatchesApprove:  {false, true, true},
		PermPatchesInstall:  {false, true, true},
		PermPatchesOverride: {false, false, true},
	}
	if len(want) != len(minRole) {
		t.Fatalf("matrix has %d permissions, test covers %d", len(minRole), len(want))
	}
	for p, w := range want {
		for i, r := range []Role{RoleViewer, RoleOperator, RoleAdmin} {
			if r.Can(p) != w[i] {
				t.Errorf("%s.Can(%s) = %v, want %v", r, p, r.Can(p), w[i])
			}
		}
		if Role(0).Can(p) {
			t.Errorf("the zero role holds %s", p)
		}
	}
}

// TestEveryRequestAgainstEveryRole runs every registered request as every
// role through Do against a real store: a refused one has no side effect
// and writes a denied audit row; the audit chain stays intact.
func TestEveryRequestAgainstEveryRole(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := New(ctx, db, Options{Credentials: creds.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tmp := t.TempDir()
	for _, r := range allRequests() {
		switch r.(type) { // keep file side effects in the test's directory
		case MaintainDB:
			r = MaintainDB{ArchiveDir: filepath.Join(tmp, "archive")}
		case BackupDB:
			r = BackupDB{Dest: filepath.Join(tmp, "backup.db")}
		case ExportFile:
			r = ExportFile{Path: filepath.Join(tmp, "devices.csv"), Format: "csv"}
		}
		for _, role := range []Role{RoleViewer, RoleOperator, RoleAdmin} {
			id := Identity{User: "u-" + role.String(), Role: role, Via: ViaCLI, RemoteAddr: "127.0.0.1"}
			before, err := db.ListAudit(ctx, store.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Do(ctx, id, r)
			after, lerr := db.ListAudit(ctx, store.AuditFilter{})
			if lerr != nil {
				t.Fatal(lerr)
			}
			added := len(after) - len(before)
			if !role.Can(r.Permission()) {
				var de *DeniedError
				if !errors.As(err, &de) || !errors.Is(err, ErrDenied) {
					t.Errorf("%s as %s: err %v, want a DeniedError", r.Action(), role, err)
				}
				want := "permission denied: " + role.String() + " may not " + r.Action()
				if err != nil && err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
				newest := after[len(after)-1] // oldest first
				if added != 1 || newest.Result != store.AuditDenied || newest.User != id.User || newest.Action != r.Action() ||
					newest.Role != role.String() || newest.RemoteAddr != "127.0.0.1" {
					t.Errorf("%s as %s: %d audit rows added, newest %+v; want one denied row", r.Action(), role, added, newest)
				}
				continue
			}
			var de *DeniedError
			if errors.As(err, &de) {
				t.Errorf("%s as %s refused: %v", r.Action(), role, err)
			}
			_, once := r.(recordOnly)
			switch {
			case r.Mutating() && once && added != 1:
				t.Errorf("%s as %s: %d audit rows added, want 1", r.Action(), role, added)
			case r.Mutating() && !once:
				// DESIGN.md: the row is written before the change takes
				// effect: pending, then the outcome naming it.
				if added != 2 {
					t.Errorf("%s as %s: %d audit rows added, want 2 (pending, then the outcome)", r.Action(), role, added)
					continue
				}
				p, done := after[len(after)-2], after[len(after)-1]
				if p.Result != store.AuditPending || p.Action != r.Action() || p.User != id.User ||
					done.Result == store.AuditPending || fmt.Sprint(done.Details["pending"]) != fmt.Sprint(p.ID) {
					t.Errorf("%s as %s: rows %+v then %+v; want pending, then the outcome naming it", r.Action(), role, p, done)
				}
			}
			if !r.Mutating() && added != 0 {
				t.Errorf("read-only %s as %s wrote %d audit rows", r.Action(), role, added)
			}
		}
	}
	v, err := db.VerifyAudit(ctx)
	if err != nil || !v.OK {
		t.Fatalf("audit chain after the matrix: %+v, %v", v, err)
	}
}
