package cmd

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReportWritesAFileOrStandardOutputAndSaysWhere(t *testing.T) {
	c := newCLI(t)
	db := filepath.Join(t.TempDir(), "rmm.db")
	seedAlerts(t, db)
	from := time.Now().AddDate(0, 0, -2).Format("2006-01-02")
	to := time.Now().Format("2006-01-02")
	out := filepath.Join(t.TempDir(), "alerts.csv")
	run := func(args ...string) (int, string, string) { return c.run(append([]string{"--db", db}, args...)...) }

	code, stdout, errb := run("--read-only", "report", "alerts", "--format", "csv", "--from", from, "--to", to, "--out", out)
	if code != 0 || !strings.Contains(stdout, "alerts report (csv, ") || !strings.Contains(stdout, "written to "+out) {
		t.Fatalf("exit %d\n%s%s", code, stdout, errb)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, rec := range recs {
		text = append(text, strings.Join(rec, ","))
	}
	if !strings.Contains(strings.Join(text, "\n"), "Alerts raised,3") {
		t.Fatalf("report:\n%s", strings.Join(text, "\n"))
	}

	code, stdout, _ = run("report", "uptime", "--format", "csv", "--period", "7d", "--out", "-", "--json")
	if code != 0 || !strings.HasPrefix(stdout, "Uptime and SLA\n") {
		t.Fatalf("--out -: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run("report", "security", "--format", "xlsx", "--out", filepath.Join(t.TempDir(), "s.xlsx"), "--json")
	var info map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &info) != nil || info["type"] != "security" || info["bytes"].(float64) < 1000 {
		t.Fatalf("--json: exit %d %s", code, stdout)
	}
	for _, bad := range [][]string{
		{"report", "weather"},
		{"report", "uptime", "--format", "docx"},
		{"report", "uptime", "--from", "yesterday"},
		{"report", "uptime", "--site", "hq", "--group", "servers"},
		{"report", "uptime", "--period", "previous-month", "--from", from},
	} {
		if code, _, errb := run(bad...); code != 2 || errb == "" {
			t.Errorf("rmm %v: exit %d %q, want 2", bad, code, errb)
		}
	}
	if code, _, errb := run("--read-only", "report", "uptime", "--mail", "managers"); code != 2 && code != 3 {
		t.Errorf("a viewer mailing a report: exit %d %q", code, errb)
	}
}

func TestNotifyTestAndOutboxAgainstALocalReceiver(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer rcv.Close()
	c := newCLI(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("org: CLI test\nnotifications:\n  channels:\n    hook: {type: webhook, url: \""+rcv.URL+"/hook\"}\n"+
		"  routes:\n    - {name: all, channels: [hook]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		return c.run(append([]string{"--config", cfg, "--db", filepath.Join(dir, "rmm.db")}, args...)...)
	}
	code, stdout, errb := run("notify", "test", "hook", "--json")
	var res map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || res["sent"] != true {
		t.Fatalf("notify test: exit %d %s %s", code, stdout, errb)
	}
	mu.Lock()
	got := strings.Join(bodies, "\n")
	mu.Unlock()
	if !strings.Contains(got, `"kind":"test"`) || !strings.Contains(got, "[CLI test] Test message to channel hook") {
		t.Fatalf("receiver got %s", got)
	}
	code, stdout, _ = run("notify", "outbox", "--json")
	var view struct {
		Counts   map[string]int   `json:"counts"`
		Messages []map[string]any `json:"messages"`
		Routes   []string         `json:"routes"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &view) != nil || view.Counts["sent"] != 1 || len(view.Messages) != 1 ||
		view.Messages[0]["channel"] != "hook" || len(view.Routes) != 1 {
		t.Fatalf("outbox: exit %d %s", code, stdout)
	}
	code, stdout, _ = run("notify", "outbox")
	if code != 0 || !strings.Contains(stdout, "outbox: 0 held, 0 pending, 0 sending, 1 sent") {
		t.Fatalf("outbox table: exit %d\n%s", code, stdout)
	}
	if code, _, errb := run("--read-only", "notify", "test", "hook"); code != 3 || !strings.Contains(errb, "Viewer may not notify.test") {
		t.Fatalf("a viewer's test: exit %d %q", code, errb)
	}
	if code, _, errb := run("notify", "test", "nope"); code != 1 || !strings.Contains(errb, `no channel "nope"`) {
		t.Fatalf("unknown channel: exit %d %q", code, errb)
	}

	// A secret in the config file is refused with its line.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("notifications:\n  channels:\n    t:\n      type: teams\n      url: https://x.logic.azure.com/w?sig=SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errb = c.run("--config", bad, "notify", "outbox")
	if code != 2 || !strings.Contains(errb, "bad.yaml:3: notifications.channels.t.url") || strings.Contains(errb, "SECRET") {
		t.Fatalf("a Teams URL in the config: exit %d %q", code, errb)
	}
}
