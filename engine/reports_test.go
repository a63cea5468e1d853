package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ledongthuc/pdf"

	"github.com/rmmhq/rmm/engine/notify"
	"github.com/rmmhq/rmm/engine/notify/notifytest"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

var (
	novStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	decStart = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

// reportFixture is a store with a month of polls of three devices in two
// sites: srv-1 always reached, srv-2 missing one poll in a hundred, ws-1
// offline for all of 10 November (with its offline alert), and an engine
// on it.
type reportFixture struct {
	db   *store.DB
	e    *Engine
	devs map[string]store.Device
}

func newReportFixture(t *testing.T) *reportFixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.UpsertDevices(ctx, []store.DeviceInput{
		{Hostname: "srv-1", Site: "hq", Groups: []string{"servers"}},
		{Hostname: "srv-2", Site: "hq", Groups: []string{"servers"}},
		{Hostname: "ws-1", Site: "branch", Groups: []string{"workstations"}},
	}); err != nil {
		t.Fatal(err)
	}
	e, err := New(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	f := &reportFixture{db: db, e: e, devs: map[string]store.Device{}}
	devs, _ := db.ListDevices(ctx)
	for _, d := range devs {
		f.devs[d.Hostname] = d
	}
	outStart, outEnd := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)
	var ms []store.Metric
	for i := range 30 * 288 {
		at := novStart.Add(time.Duration(i) * 5 * time.Minute)
		ok2 := 1.0
		if i%100 == 0 {
			ok2 = 0
		}
		ok3 := 1.0
		if !at.Before(outStart) && at.Before(outEnd) {
			ok3 = 0
		}
		ms = append(ms,
			store.Metric{DeviceID: f.devs["srv-1"].ID, Type: MetricPollOK, Value: 1, At: at},
			store.Metric{DeviceID: f.devs["srv-2"].ID, Type: MetricPollOK, Value: ok2, At: at},
			store.Metric{DeviceID: f.devs["ws-1"].ID, Type: MetricPollOK, Value: ok3, At: at},
			store.Metric{DeviceID: f.devs["srv-1"].ID, Type: "cpu_pct", Value: 20, At: at},
			store.Metric{DeviceID: f.devs["srv-1"].ID, Type: "mem_pct", Value: 60, At: at},
		)
	}
	if err := e.writer.AddMetrics(ctx, ms); err != nil {
		t.Fatal(err)
	}
	// The offline alert: raised ten minutes into the outage, resolved at
	// its end; a critical disk alert on srv-2 acknowledged after 30
	// minutes and resolved after two hours.
	k := store.AlertKey{DeviceID: f.devs["ws-1"].ID, Type: AlertTypeOffline}
	if _, _, err := db.RecordAlert(ctx, store.AlertDetection{Key: k, Severity: store.SeverityHigh, Message: "offline", At: outStart.Add(10 * time.Minute)}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AutoResolveAlert(ctx, k, ResolvedByEngine, outEnd); err != nil {
		t.Fatal(err)
	}
	raised := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	a, _, err := db.RecordAlert(ctx, store.AlertDetection{Key: store.AlertKey{DeviceID: f.devs["srv-2"].ID, Type: AlertTypeDisk, Instance: "C:"},
		Severity: store.SeverityCritical, Message: "=cmd|' /C calc'!A0 disk C: 97% used", At: raised}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AckAlert(ctx, a.ID, "alice", "", raised.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResolveAlert(ctx, a.ID, "alice", "", raised.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *reportFixture) run(t *testing.T, id Identity, r RunReport) (ReportInfo, []byte) {
	t.Helper()
	var b bytes.Buffer
	if r.Path == "" && r.Mail == "" && r.Dir == "" {
		r.W = &b
	}
	if r.From.IsZero() {
		r.From, r.To = novStart, decStart
	}
	r.Now = decStart.Add(6 * time.Hour)
	info, err := Call(context.Background(), f.e, id, r)
	if err != nil {
		t.Fatalf("report %s: %v", r.Type, err)
	}
	return info, b.Bytes()
}

// csvLines parses a CSV report into its records, each joined by commas.
func csvLines(t *testing.T, b []byte) []string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(recs))
	for i, rec := range recs {
		out[i] = strings.Join(rec, ",")
	}
	return out
}

var viewer = Identity{User: "vera", Role: RoleViewer, Via: ViaCLI}

func TestTheUptimeReportComputesAvailabilitySLAAndOutagesFromTheRollups(t *testing.T) {
	f := newReportFixture(t)
	info, b := f.run(t, viewer, RunReport{Type: ReportUptime, Format: "csv", SLATarget: 99})
	lines := csvLines(t, b)
	// srv-2: 87 of 8640 polls failed (every hundredth); ws-1: 288 (one day).
	for _, want := range []string{
		"Availability,98.55%",
		"Devices meeting the SLA,1 of 3",
		"srv-1,hq,100.00,8640,0,0,0,met",
		"srv-2,hq,98.99,8640,87,0,0,missed",
		"ws-1,branch,96.67,8640,288,1,1430,missed",
		"hq,2,99.50,17280,1 of 2,0,0",
		"branch,1,96.67,8640,0 of 1,1,1430",
		"ws-1,branch,2026-11-10 00:10,2026-11-11 00:00,1430,1",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("CSV lacks %q:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	if info.Rows != 3+2+1 {
		t.Fatalf("rows %d", info.Rows)
	}
	a := auditOf(t, f.db, "reports.run")
	if len(a) != 1 || a[0].User != "vera" || a[0].Result != store.AuditSuccess || a[0].Details["type"] != "uptime" {
		t.Fatalf("audit %+v", a)
	}
}

func TestAMonthlyUptimeReportOpensAsAPDFWithItsChart(t *testing.T) {
	f := newReportFixture(t)
	path := filepath.Join(t.TempDir(), "uptime.pdf")
	info, _ := f.run(t, viewer, RunReport{Type: ReportUptime, Format: "pdf", Path: path})
	if info.Path != path || info.Bytes == 0 {
		t.Fatalf("info %+v", info)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != info.Bytes {
		t.Fatalf("file %v %v", fi, err)
	}
	text := pdfTextOf(t, path)
	for _, want := range []string{"Uptime and SLA", "all devices, 2026-11-01 to 2026-11-30 (UTC)", "Availability per day",
		"11-10", "Availability per device", "ws-1", "96.67", "Outages", "2026-11-10 00:10"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF lacks %q:\n%s", want, text)
		}
	}
}

func pdfTextOf(t *testing.T, path string) string {
	t.Helper()
	fh, r, err := pdf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var sb strings.Builder
	for i := 1; i <= r.NumPage(); i++ {
		rows, err := r.Page(i).GetTextByRow()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			for _, w := range row.Content {
				sb.WriteString(w.S)
			}
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

func TestTheAlertHistoryCountsMTTAAndMTTRAndNeutralisesHostTextInCSV(t *testing.T) {
	f := newReportFixture(t)
	_, b := f.run(t, viewer, RunReport{Type: ReportAlerts, Format: "csv"})
	text := string(b)
	for _, want := range []string{"Alerts raised,2", "Critical,1", "MTTA (mean time to acknowledge),30m", "MTTR (mean time to resolve)",
		"disk_used,1,1,0,30.0,120.0", "offline,1,0,1,-,1430.0", `'=cmd|' /C calc'!A0 disk C: 97% used`} {
		if !strings.Contains(text, want) {
			t.Errorf("CSV lacks %q:\n%s", want, text)
		}
	}
	// MTTR over both: (1430 + 120) / 2 minutes = 12h 55m.
	if !strings.Contains(text, "MTTR (mean time to resolve),12h 55m") {
		t.Errorf("MTTR:\n%s", text)
	}
}

func TestReportsAreScopedToASiteOrAGroup(t *testing.T) {
	f := newReportFixture(t)
	_, b := f.run(t, viewer, RunReport{Type: ReportUptime, Format: "csv", Scope: store.Scope{Group: "SERVERS"}})
	if strings.Contains(string(b), "ws-1") || !strings.Contains(string(b), "group SERVERS") {
		t.Fatalf("group report:\n%s", b)
	}
	_, err := Call(context.Background(), f.e, viewer, RunReport{Type: ReportUptime, Format: "csv", Scope: store.Scope{Site: "nowhere"},
		From: novStart, To: decStart, W: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "no device is in site nowhere") {
		t.Fatalf("an empty scope: %v", err)
	}
}

func TestEveryReportTypeRendersInEveryFormat(t *testing.T) {
	f := newReportFixture(t)
	for _, typ := range ReportTypes() {
		for _, format := range []string{"csv", "html", "pdf", "xlsx"} {
			_, b := f.run(t, viewer, RunReport{Type: typ[0], Format: format})
			if len(b) < 200 {
				t.Errorf("%s as %s: %d bytes", typ[0], format, len(b))
			}
		}
	}
	_, b := f.run(t, viewer, RunReport{Type: ReportPatches, Format: "csv"})
	if !strings.Contains(string(b), "No device in this report has a Windows Update scan yet") {
		t.Fatalf("the patch report does not say no device was scanned:\n%s", b)
	}
	if len(auditOf(t, f.db, "reports.run")) != 4*6+1 {
		t.Fatalf("every run is audited: %d rows", len(auditOf(t, f.db, "reports.run")))
	}
}

func TestAReportMailedThroughARouteArrivesAttachedAndAViewerMayNotMailIt(t *testing.T) {
	f := newReportFixture(t)
	cfg, ca := notifytest.Cert(t)
	box := &notifytest.Mailbox{}
	port := notifytest.SMTPServer(t, box, cfg, false, "", "")
	if err := f.e.SetNotify(NotifySetup{Options: notify.Options{Org: "Contoso IT",
		Channels: map[string]notify.Channel{"mail": {Name: "mail", Type: notify.TypeEmail, Host: "127.0.0.1", Port: port, CABundle: ca,
			From: "rmm@example.com", To: []string{"boss@example.com"}}},
		Routes: []notify.Route{{Name: "managers", Channels: []string{"mail"}}}}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	op := Identity{User: "olga", Role: RoleOperator, Via: ViaCLI}
	if _, err := Call(context.Background(), f.e, viewer, RunReport{Type: ReportUptime, Format: "pdf", Dir: dir, Mail: "managers",
		From: novStart, To: decStart}); err == nil {
		t.Fatal("a viewer mailed a report")
	}
	info, _ := f.run(t, op, RunReport{Type: ReportUptime, Format: "pdf", Dir: dir, Mail: "managers"})
	if len(info.Mailed) != 1 || !info.Mailed[0].Sent || filepath.Dir(info.Path) != dir ||
		info.Name != "rmm_uptime_2026-11-01_2026-11-30.pdf" {
		t.Fatalf("info %+v", info)
	}
	mails := box.All()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	m, err := mail.ReadMessage(bytes.NewReader(mails[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Header.Get("Subject"), "[Contoso IT] Report: Uptime and SLA") {
		t.Fatalf("subject %q", m.Header.Get("Subject"))
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	var attached []byte
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FileName() == info.Name {
			var r io.Reader = p
			if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
				r = base64.NewDecoder(base64.StdEncoding, p)
			}
			attached, _ = io.ReadAll(r)
		}
	}
	file, _ := os.ReadFile(info.Path)
	if len(attached) == 0 || !bytes.Equal(attached, file) {
		t.Fatalf("attachment of %d bytes, file %d", len(attached), len(file))
	}
}

// TestThePatchReportShowsComplianceFromScans: once devices are scanned,
// the patch report gives compliance per ring, site and group and each
// device's missing updates, within the report's scope.
func TestThePatchReportShowsComplianceFromScans(t *testing.T) {
	f := newReportFixture(t)
	ctx := context.Background()
	if err := f.e.SetPatchOptions(PatchOptions{Rings: []PatchRing{{Name: "pilot", Devices: "site:branch"}, {Name: "production"}}}); err != nil {
		t.Fatal(err)
	}
	at := decStart.Add(-time.Hour)
	cu := store.PatchUpdate{UpdateID: "11111111-1111-1111-1111-111111111111", KB: "KB5050021", Title: "2026-11 Cumulative Update",
		Classification: scripts.ClassSecurity, Severity: "Critical", RebootBehavior: 1, ReleasedAt: novStart.Add(10 * 24 * time.Hour)}
	defs := store.PatchUpdate{UpdateID: "22222222-2222-2222-2222-222222222222", KB: "KB2267602", Title: "Security Intelligence Update",
		Classification: "Definition Updates"}
	for host, missing := range map[string][]store.PatchUpdate{"srv-1": {defs}, "srv-2": {cu, defs}, "ws-1": {cu}} {
		if err := f.db.PutPatchScan(ctx, store.PatchScan{DeviceID: f.devs[host].ID, ScannedAt: at, OK: true, Service: "WSUS",
			Server: "http://wsus:8530", Missing: len(missing)}, missing, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, b := f.run(t, viewer, RunReport{Type: ReportPatches, Format: "csv"})
	text := strings.Join(csvLines(t, b), "\n")
	for _, want := range []string{
		"Compliant (last Windows Update scan),33.3% (1 of 3 scanned)",
		"Missing security or critical updates,2",
		"ring,pilot,1,1,0,0.0",
		"ring,production,2,2,1,50.0",
		"site,hq,2,2,1,50.0",
		"group,servers,2,2,1,50.0",
		"srv-2,hq,production,no,2,1,0,no,0,WSUS (http://wsus:8530)",
		"srv-1,hq,production,yes,1,0,0,no,0,WSUS (http://wsus:8530)",
		"ws-1,KB5050021,2026-11 Cumulative Update,Security Updates,Critical,2026-11-11,needs-approval",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the patch report lacks %q:\n%s", want, text)
		}
	}
	_, b = f.run(t, viewer, RunReport{Type: ReportPatches, Format: "csv", Scope: store.Scope{Site: "branch"}})
	text = strings.Join(csvLines(t, b), "\n")
	if !strings.Contains(text, "0.0% (0 of 1 scanned)") || strings.Contains(text, "srv-1") {
		t.Errorf("the branch report is not the branch's:\n%s", text)
	}
}
