package engine_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// exportEngine is an engine over a real store whose SSH exports go to
// root/exports; root also holds a "config.yaml" standing in for every
// file the server's account can write.
type exportEngine struct {
	eng     *engine.Engine
	db      *store.DB
	root    string
	exports string
	victim  string
}

const victimText = "users:\n  - name: alice\n"

func newExportEngine(t *testing.T) exportEngine {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(root, "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exports := filepath.Join(root, "exports")
	eng, err := engine.New(ctx, db, engine.Options{ExportsDir: exports})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	victim := filepath.Join(root, "config.yaml")
	if err := os.WriteFile(victim, []byte(victimText), 0o600); err != nil {
		t.Fatal(err)
	}
	return exportEngine{eng: eng, db: db, root: root, exports: exports, victim: victim}
}

func (x exportEngine) victimIntact(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(x.victim)
	if err != nil || string(b) != victimText {
		t.Fatalf("the server's config was changed: %q, %v", b, err)
	}
}

var sshViewer = engine.Identity{User: "victor", Role: engine.RoleViewer, Via: engine.ViaSSH, RemoteAddr: "127.0.0.1:40001"}

func someDevices() []engine.DeviceState {
	return []engine.DeviceState{{ID: 1, Hostname: "WS-0001", Site: "London", Status: engine.StatusOnline}}
}

// TestAnSSHViewerCannotWriteOutsideTheirExportDirectory is the report's
// F1: a Viewer over SSH named the server's config and DB as export paths
// and replaced them. Every way out of the user's directory is refused,
// nothing outside changes, and each attempt is audited as a failure.
func TestAnSSHViewerCannotWriteOutsideTheirExportDirectory(t *testing.T) {
	x := newExportEngine(t)
	ctx := context.Background()
	userDir := filepath.Join(x.exports, "victor")
	if err := os.MkdirAll(userDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Planted in the user's directory by someone else: a symbolic link
	// and a hard link to the config, and a directory.
	if err := os.Symlink(x.victim, filepath.Join(userDir, "link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../config.yaml", filepath.Join(userDir, "rel.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(x.victim, filepath.Join(userDir, "hard.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(userDir, "dir.csv"), 0o700); err != nil {
		t.Fatal(err)
	}
	attempts := []string{
		x.victim, "../config.yaml", "../../config.yaml", "/etc/rmm-test-never", "sub/x.csv", "..", ".", "",
		".bashrc", "a\x00b.csv", "con fig.csv", strings.Repeat("a", 200) + ".csv",
		"link.csv", "rel.csv", "hard.csv", "dir.csv",
	}
	for _, p := range attempts {
		_, err := engine.Call(ctx, x.eng, sshViewer, engine.ExportFile{Path: p, Format: "csv", Devices: someDevices()})
		if err == nil {
			t.Errorf("export to %q was allowed", p)
		}
		x.victimIntact(t)
	}
	rows, err := x.db.ListAudit(ctx, store.AuditFilter{Action: "devices.export"})
	if err != nil {
		t.Fatal(err)
	}
	rows = outcomes(rows) // each attempt: pending, then its outcome
	if len(rows) != len(attempts) {
		t.Fatalf("%d audit rows for %d attempts", len(rows), len(attempts))
	}
	for _, r := range rows {
		if r.Result != store.AuditFailure || r.User != "victor" || r.Via != "ssh" || r.RemoteAddr != "127.0.0.1:40001" {
			t.Errorf("audit row %+v, want a failure by victor over ssh", r)
		}
	}
	// Nothing but what was planted is in the directory: no temporary
	// file was left behind by the refusals.
	entries, _ := os.ReadDir(userDir)
	if len(entries) != 4 {
		t.Errorf("user directory holds %d entries, want the 4 planted", len(entries))
	}
}

func TestAnSSHExportReplacesOnlyTheUsersOwnEarlierExport(t *testing.T) {
	x := newExportEngine(t)
	ctx := context.Background()
	ds := someDevices()
	info, err := engine.Call(ctx, x.eng, sshViewer, engine.ExportFile{Path: "fleet.csv", Format: "csv", Devices: ds})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(x.exports, "victor", "fleet.csv")
	if !info.Confined || info.Path != want || info.Name != "fleet.csv" || info.Rows != 1 {
		t.Errorf("info %+v", info)
	}
	ds = append(ds, engine.DeviceState{ID: 2, Hostname: "WS-0002", Status: engine.StatusOffline})
	if _, err := engine.Call(ctx, x.eng, sshViewer, engine.ExportFile{Path: "fleet.csv", Format: "csv", Devices: ds}); err != nil {
		t.Fatalf("replacing an earlier export: %v", err)
	}
	b, err := os.ReadFile(want)
	if err != nil || bytes.Count(b, []byte("\n")) != 3 {
		t.Errorf("export after the second run: %q, %v", b, err)
	}
	for _, p := range []string{filepath.Join(x.exports), filepath.Join(x.exports, "victor"), want} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		wantMode := os.FileMode(0o700)
		if !fi.IsDir() {
			wantMode = 0o600
		}
		if fi.Mode().Perm() != wantMode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), wantMode)
		}
	}
	// Another user's directory is theirs: alice's export of the same name
	// is a different file, and victor's is untouched.
	alice := engine.Identity{User: "Alice", Role: engine.RoleAdmin, Via: engine.ViaSSH, RemoteAddr: "127.0.0.1:40002"}
	if _, err := engine.Call(ctx, x.eng, alice, engine.ExportFile{Path: "fleet.csv", Format: "json", Devices: someDevices()}); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(want); !bytes.Equal(b, b2) {
		t.Error("alice's export changed victor's")
	}
	if _, err := os.Stat(filepath.Join(x.exports, "alice", "fleet.csv")); err != nil {
		t.Errorf("alice's export: %v", err)
	}
	rows, _ := x.db.ListAudit(ctx, store.AuditFilter{Action: "devices.export"})
	rows = outcomes(rows)
	if len(rows) != 3 || rows[0].Result != store.AuditSuccess || fmt.Sprint(rows[0].Details["rows"]) != "1" || rows[0].Details["format"] != "csv" {
		t.Errorf("audit rows %+v", rows)
	}
}

func TestAUserNameThatCannotBeADirectoryGetsNoExports(t *testing.T) {
	x := newExportEngine(t)
	for _, user := range []string{"../x", ".", "a/b", ""} {
		id := engine.Identity{User: user, Role: engine.RoleAdmin, Via: engine.ViaSSH}
		if _, err := engine.Call(context.Background(), x.eng, id, engine.ExportFile{Path: "x.csv", Format: "csv"}); err == nil {
			t.Errorf("user %q exported", user)
		}
	}
	entries, _ := os.ReadDir(x.root)
	for _, en := range entries {
		if en.Name() != "rmm.db" && !strings.HasPrefix(en.Name(), "rmm.db-") && en.Name() != "config.yaml" && en.Name() != "exports" {
			t.Errorf("unexpected %s in the server's directory", en.Name())
		}
	}
}

func TestSSHExportsAreOffWithoutAnExportDirectory(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(ctx, db, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	_, err = engine.Call(ctx, eng, sshViewer, engine.ExportFile{Path: "x.csv", Format: "csv"})
	if err == nil || !strings.Contains(err.Error(), "ssh.exports_dir") {
		t.Errorf("err %v, want exports over SSH off", err)
	}
}

func TestOldExportsArePrunedToTheLimit(t *testing.T) {
	x := newExportEngine(t)
	ctx := context.Background()
	n := engine.MaxExportsPerUser + 3
	for i := range n {
		if _, err := engine.Call(ctx, x.eng, sshViewer, engine.ExportFile{Path: fmt.Sprintf("e%03d.csv", i), Format: "csv"}); err != nil {
			t.Fatal(err)
		}
		// Distinct modification times, oldest first, whatever the
		// file system's timestamp granularity.
		at := time.Now().Add(time.Duration(i-n) * time.Minute)
		if err := os.Chtimes(filepath.Join(x.exports, "victor", fmt.Sprintf("e%03d.csv", i)), at, at); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(x.exports, "victor"))
	if len(entries) != engine.MaxExportsPerUser {
		t.Fatalf("%d exports kept, want %d", len(entries), engine.MaxExportsPerUser)
	}
	if entries[0].Name() != "e003.csv" {
		t.Errorf("oldest kept %s, want e003.csv (the three oldest removed)", entries[0].Name())
	}
}

// TestALocalExportWritesWhereItsUserAsksWithMode0600: the local console's
// user may write anywhere they can; the file is 0600 even when it
// replaces a file that was 0644 (F12).
func TestALocalExportWritesWhereItsUserAsksWithMode0600(t *testing.T) {
	x := newExportEngine(t)
	local := engine.Identity{User: "root", Role: engine.RoleViewer, Via: engine.ViaLocal, RemoteAddr: "192.0.2.2"}
	path := filepath.Join(x.root, "out", "devices.csv")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := engine.Call(context.Background(), x.eng, local, engine.ExportFile{Path: path, Format: "csv", Devices: someDevices()})
	if err != nil || info.Confined || info.Path != path {
		t.Fatalf("info %+v, %v", info, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	rows, _ := x.db.ListAudit(context.Background(), store.AuditFilter{Action: "devices.export"})
	rows = outcomes(rows)
	if len(rows) != 1 || rows[0].User != "root" || rows[0].Result != store.AuditSuccess {
		t.Errorf("audit %+v", rows)
	}
}

// formulaPayloads are F7's: values a host or an importer controls that a
// spreadsheet would run.
var formulaPayloads = []string{`=cmd|' /C calc'!A0`, `+SUM(1+1)*cmd|' /C calc'!A0`, `-2+3+cmd|' /C calc'!A0`,
	`@SUM(1+1)*cmd|' /C calc'!A0`, `=HYPERLINK("http://127.0.0.1/x","x")`, "\t=1+1", "\r=1+1"}

func TestDeviceAndResultCSVExportsNeutraliseFormulas(t *testing.T) {
	for _, p := range formulaPayloads {
		var b bytes.Buffer
		d := store.Device{Hostname: "INJ-0", Site: p, OSName: p, Tags: []string{p}, Description: p, Status: string(engine.StatusUnknown)}
		if err := engine.WriteDevices(&b, "csv", []store.Device{d}); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{4, 6, 8, 9} { // Site, OSName, Tags, Description
			if c := recs[1][i]; c != "'"+p {
				t.Errorf("device column %s = %q, want %q", recs[0][i], c, "'"+p)
			}
		}
		b.Reset()
		exit := -1
		r := engine.ActionResult{Host: "WS-0005", Action: "run-script", Status: "Completed", Message: p, Stdout: p + "\n", Stderr: p, ExitCode: &exit}
		if err := engine.WriteResults(&b, "csv", []engine.ActionResult{r}); err != nil {
			t.Fatal(err)
		}
		recs, err = csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{3, 9, 10} {
			if c := recs[1][i]; !strings.HasPrefix(c, "'") {
				t.Errorf("result column %s = %q, not neutralised", recs[0][i], c)
			}
		}
		if recs[1][4] != "-1" {
			t.Errorf("exit code %q: a number rmm wrote must stay a number", recs[1][4])
		}
	}
}

func TestAnExportOfDevicesWithoutMetricsLeavesThemEmpty(t *testing.T) {
	ds := []store.Device{{ID: 1, Hostname: "NEW-1", Status: string(engine.StatusUnknown)}}
	var b bytes.Buffer
	if err := engine.WriteDevices(&b, "csv", ds); err != nil {
		t.Fatal(err)
	}
	want := strings.Join(engine.DeviceExportColumns(), ",") + "\nNEW-1,,,,,,,,,,,,,,,false,false,on,Unknown,,,,,\n"
	if got := b.String(); got != want {
		t.Errorf("csv = %q, want %q", got, want)
	}
	b.Reset()
	if err := engine.WriteDevices(&b, "json", ds); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"cpu_pct": null`) || !strings.Contains(b.String(), `"last_seen": null`) || !strings.Contains(b.String(), `"tags": []`) {
		t.Errorf("json = %s", b.String())
	}
}
