package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// exportClient is a test fleet (hubClient) whose requests go to a real
// engine over a real store as one identity, as a front end binds it: the
// engine writes and audits exports.
type exportClient struct {
	*hubClient
	eng *engine.Engine
	db  *store.DB
	id  engine.Identity
}

func (c exportClient) Do(ctx context.Context, r engine.Request) (any, error) {
	return c.eng.Do(ctx, c.id, r)
}

// newExportClient serves ds and sends requests as id to an engine whose
// SSH export directory is exportsDir.
func newExportClient(t *testing.T, ds []engine.DeviceState, id engine.Identity, exportsDir string) exportClient {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := engine.New(ctx, db, engine.Options{ExportsDir: exportsDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return exportClient{hubClient: newHubClient(ds), eng: eng, db: db, id: id}
}

var localAdmin = engine.Identity{User: "tester", Role: engine.RoleAdmin, Via: engine.ViaLocal}

func TestExportWritesTheViewAtomically(t *testing.T) {
	dir := t.TempDir()
	c := newExportClient(t, fleet(200), localAdmin, "")
	m := loadedWith(t, c, Options{}, 120, 40)
	m = runLine(t, m, "filter site:london !status:unknown")
	m = runLine(t, m, "sort cpu desc")
	want := shownHostnames(m)

	csvPath := filepath.Join(dir, "london devices.csv") // a space in the path
	m = runLine(t, m, "export csv "+csvPath)
	if m.toast.err || m.toast.text != "exported "+Thousands(len(want))+" devices to "+csvPath {
		t.Fatalf("toast = %+v", m.toast)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
		t.Errorf("export mode %v, want 0600", fi.Mode().Perm())
	}
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if h := recs[0]; !slices.Equal(h[:len(engine.DeviceExportColumns())], engine.DeviceExportColumns()) {
		t.Errorf("header %v", h)
	}
	col := func(name string) int { return slices.Index(recs[0], name) }
	var got []string
	for _, r := range recs[1:] {
		got = append(got, r[col("Hostname")])
		if r[col("Site")] != "London" {
			t.Errorf("row %v is not in London", r)
		}
		if _, err := time.Parse(time.RFC3339, r[col("LastSeen")]); err != nil {
			t.Errorf("last_seen %q: %v", r[col("LastSeen")], err)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("exported rows %v, want the grid's %v", got, want)
	}
	d := m.devices[m.grid.rows[0]]
	if r := recs[1]; r[col("OSName")] != d.OSName || r[col("Tags")] != strings.Join(d.Tags, ";") {
		t.Errorf("first row %v does not match %+v", r, d)
	}

	jsonPath := filepath.Join(dir, "view.json")
	m = runLine(t, m, "export json "+jsonPath)
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Hostname string   `json:"hostname"`
		CPU      *float64 `json:"cpu_pct"`
		LastSeen *string  `json:"last_seen"`
		Tags     []string `json:"tags"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) || rows[0].Hostname != want[0] || rows[0].CPU == nil || *rows[0].CPU != d.CPUPct || rows[0].Tags == nil {
		t.Errorf("json rows %d, first %+v", len(rows), rows[0])
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	// Both exports are in the audit log, as the local user.
	audit, err := c.db.ListAudit(context.Background(), store.AuditFilter{Action: "devices.export", Result: store.AuditSuccess}) // after each pending row
	if err != nil || len(audit) != 2 || audit[0].User != "tester" || audit[0].Result != store.AuditSuccess || audit[0].Targets[0] != csvPath {
		t.Errorf("devices.export audit rows %+v, %v", audit, err)
	}

	m = runLine(t, m, "export csv /nonexistent-dir/x.csv")
	if !m.toast.err || !strings.HasPrefix(m.toast.text, "export to /nonexistent-dir/x.csv: ") {
		t.Errorf("toast %q", m.toast.text)
	}
}

func TestExportFlowInProgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	tm := startConsole(t, newExportClient(t, fleet(200), localAdmin, ""), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "/")
	tm.Type("site:paris")
	send(tm, "enter", ":")
	tm.Type("export csv " + path)
	send(tm, "enter")
	waitFor(t, tm, "exported 40 devices to "+path)
	finish(t, tm)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 41 {
		t.Errorf("%d lines, want a header and 40 devices", n)
	}
}

// TestAnSSHExportTakesAFileNameAndSaysHowToFetchIt: over SSH the palette
// refuses a path before asking, and a file name lands in the user's
// export directory, with the scp command in the toast.
func TestAnSSHExportTakesAFileNameAndSaysHowToFetchIt(t *testing.T) {
	exports := t.TempDir()
	victor := engine.Identity{User: "victor", Role: engine.RoleViewer, Via: engine.ViaSSH, RemoteAddr: "127.0.0.1:40000"}
	c := newExportClient(t, fleet(30), victor, exports)
	m := loadedWith(t, c, Options{Role: "Viewer", ExportFetch: "scp -O -P 2222 victor@jumphost:"}, 120, 40)

	for _, bad := range []string{"../config.yaml", "/etc/passwd", ".hidden.csv"} {
		m = runLine(t, m, "export csv "+bad)
		if !m.toast.err || !strings.HasPrefix(m.toast.text, "export: ") {
			t.Errorf(":export csv %s: toast %q, want a refusal", bad, m.toast.text)
		}
	}
	m = runLine(t, m, "export csv fleet.csv")
	want := "exported 30 devices to fleet.csv in your export directory; fetch: scp -O -P 2222 victor@jumphost:fleet.csv ."
	if m.toast.err || m.toast.text != want {
		t.Fatalf("toast %q, want %q", m.toast.text, want)
	}
	if _, err := os.Stat(filepath.Join(exports, "victor", "fleet.csv")); err != nil {
		t.Errorf("the export is not in victor's directory: %v", err)
	}
}
