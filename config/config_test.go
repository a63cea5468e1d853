package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/alerting"
)

var testDirs = Dirs{Config: "/home/a/.config/rmm", Data: "/home/a/.local/share/rmm", State: "/home/a/.local/state/rmm"}

func TestNoFileMeansDefaults(t *testing.T) {
	cfg, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), testDirs, true)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Equal(Default(testDirs)) {
		t.Fatalf("got %+v, want defaults", cfg)
	}
	if cfg.Engine.Throttle != 50 || cfg.Store.DB != "/home/a/.local/share/rmm/rmm.db" {
		t.Fatalf("unexpected defaults %+v", cfg)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), testDirs, false); err == nil {
		t.Fatal("a missing file named explicitly was accepted")
	}
}

func TestAGoodFileSetsEveryKey(t *testing.T) {
	cfg, err := Load("testdata/good.yaml", testDirs, false)
	if err != nil {
		t.Fatal(err)
	}
	want := Default(testDirs)
	want.Org = "Contoso IT"
	want.Engine = EngineConfig{Throttle: 200, PollInterval: 2 * time.Minute, MemoryLimitMB: 300}
	want.WinRM = WinRMConfig{Timeout: 20 * time.Second, Retries: 2, CABundle: "/etc/rmm/corp-ca.pem", Krb5Conf: "/etc/rmm/krb5.conf",
		KerberosRealm: "CORP.EXAMPLE", KerberosCCache: "/tmp/krb5cc_rmm",
		KerberosKDC: "dc1.corp.example:88, FABRIKAM.LOCAL=dc9.fabrikam.local", KerberosRealmMap: "CORP=CORP.EXAMPLE, fabrikam.local=FABRIKAM.LOCAL"}
	want.Sessions = SessionsConfig{TTL: 10 * time.Minute, PerHost: 3, MaxCommands: 500, LoopOff: []string{"SRV-0042", "tag:edr-strict"}}
	want.Store = StoreConfig{DB: "/var/lib/rmm/rmm.db", ArchiveDir: "/var/lib/rmm/archive", BatchRows: 500, FlushInterval: 250 * time.Millisecond}
	want.Retention = RetentionConfig{Metrics: 14 * day, Data: 180 * day, Archive: 365 * day, Rollups: 400 * day, RollupsHourly: 31 * day}
	want.Schedules = SchedulesConfig{TimeZone: "Europe/Berlin",
		Inventory: "daily 01:00", Security: "daily 03:30", PatchScan: "daily 02:30", Cleanup: "daily 06:00", Maintenance: "weekly sat 23:00",
		Rollups: "every 30m", Reports: []ScheduledReport{{Name: "monthly-uptime", Type: "uptime", When: "monthly 1 06:00",
			Format: "pdf", Route: "managers", Group: "servers", Period: "previous-month", Line: 40}}}
	want.Security = SecurityConfig{CredentialMaxAge: 30 * day, Backend: "vault", VaultFile: "/var/lib/rmm/vault.age"}
	want.SSH = SSHConfig{Listen: "0.0.0.0:2022", HostKey: "/var/lib/rmm/host_key", ExportsDir: "/var/lib/rmm/exports", IdleTimeout: time.Hour, MaxSessions: 20}
	want.Log = LogConfig{Level: "debug", File: "/var/log/rmm/rmm.log", Format: "json", MaxSizeMB: 50, MaxBackups: 10}
	want.UI = UIConfig{Theme: "ascii", Views: map[string]string{"sql-down": "tag:sql status:offline", "hot": "cpu>90"},
		Keys: map[string][]string{"filter": {"/", "f"}, "quit": {"q"}}}
	want.Users = []User{
		{Name: "alice", Role: "admin", Keys: []string{testKey + " alice@laptop"}, Line: 72},
		{Name: "bob", Role: "viewer", Line: 75},
	}
	f := func(v float64) *float64 { return &v }
	want.Thresholds = ThresholdsConfig{
		Defaults: alerting.Thresholds{CPUWarning: 85, CPUCritical: 97, CPUSustain: 10 * time.Minute, MemWarning: 85, MemCritical: 97,
			MemSustain: 10 * time.Minute, DiskWarning: 85, DiskCritical: 95, PendingReboot: 14 * day, SignatureAge: 2 * day,
			UpdatesAge: 45 * day, WatchedServices: []string{"Spooler", "W32Time"}},
		Groups:  map[string]ThresholdOverride{"sql": {alerting.ThresholdOverride{CPUWarning: f(90), WatchedServices: []string{"MSSQLSERVER"}}, 92}},
		Devices: map[string]ThresholdOverride{"FS-01": {alerting.ThresholdOverride{DiskWarning: f(95)}, 96}},
	}
	want.Alerts = AlertsConfig{DedupWindow: 10 * time.Minute, OfflineAfter: 3}
	want.Health = alerting.HealthWeights{Availability: 40, Performance: 30, Security: 20, Compliance: 10}
	want.Actions = ActionsConfig{QueueExpiry: 3 * day, OutputMaxBytes: 32768, WOLAddress: "192.168.10.255:9", Retries: 2}
	want.Maintenance = []MaintenanceWindow{
		{Name: "patch night", Group: "servers", Every: "Sat 22:00 + 4h", Line: 106},
		{Name: "FS-01 migration", Device: "FS-01", Start: mustTime(t, "2026-12-24T18:00:00+01:00"), End: mustTime(t, "2026-12-25T06:00:00+01:00"), Line: 109},
	}
	want.Notifications = NotificationsConfig{MaxAge: 6 * time.Hour, Attempts: 5, Backoff: time.Minute, MaxBackoff: 30 * time.Minute, Keep: 60 * day,
		Channels: map[string]ChannelConfig{
			"ops-mail": {Type: "email", Host: "smtp.example.com", Port: 587, TLS: "starttls", From: "rmm@example.com",
				To: []string{"ops@example.com", "oncall@example.com"}, Auth: "login", CABundle: "/etc/rmm/corp-ca.pem", Line: 125},
			"teams-ops": {Type: "teams", Line: 134},
			"pager":     {Type: "pagerduty", Line: 136},
			"hook":      {Type: "webhook", URL: "https://hooks.example.com/rmm", Headers: map[string]string{"X-Source": "rmm-hq"}, Line: 138},
		},
		Routes: []RouteConfig{
			{Name: "critical", Severity: []string{"Critical", "High"}, Groups: []string{"servers"}, Channels: []string{"pager", "teams-ops"},
				Repeat: 4 * time.Hour, OnResolve: true, Line: 144},
			{Name: "managers", Sites: []string{"hq"}, Types: []string{"offline", "disk_used"}, Tags: []string{"prod"}, Channels: []string{"ops-mail"},
				Digest: 15 * time.Minute, OnResolve: false, OnAck: true, Line: 150,
				Quiet: &QuietHoursConfig{From: "22:00", To: "07:00", TimeZone: "America/New_York", Days: []string{"mon", "tue", "wed", "thu", "fri"}, Except: []string{"Critical"}}},
			{Name: "everything", Channels: []string{"hook"}, OnResolve: true, Line: 165},
		},
	}
	want.Reports = ReportsConfig{Dir: "/var/lib/rmm/reports", SLATarget: 99.9}
	want.Collections = map[string]string{"Zoom older than 5.17": `software:"Zoom" software.version<5.17`, "BitLocker off": "bitlocker:off -os:server"}
	zero := 0
	want.Patches = PatchesConfig{DeferralDays: 3, MaxRounds: 2, Reboot: "never", PollInterval: time.Minute, StartTimeout: 10 * time.Minute,
		InstallTimeout: 2 * time.Hour, RebootTimeout: 45 * time.Minute, ServicingTimeout: 20 * time.Minute, ScanTimeout: 15 * time.Minute,
		Dir: `D:\rmm\patch`, Deny: []string{"KB5034441"},
		Rings: []PatchRing{{Name: "pilot", Devices: "group:pilot", ApproveRole: "operator", Line: 183},
			{Name: "production", After: "pilot", SuccessRate: 90, MinDevices: 2, Soak: 72 * time.Hour, ApproveRole: "admin", Line: 185}},
		Rules: []PatchRule{{Name: "definitions", Classifications: []string{"Definition Updates"}, DeferralDays: &zero, Line: 192},
			{Name: "pilot-security", Classifications: []string{"Security Updates", "Critical Updates"}, Severities: []string{"Critical", "Important"},
				Rings: []string{"pilot"}, Line: 195}}}
	if !cfg.Equal(want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
	if _, err := cfg.Notifications.NotifyOptions(cfg.Org, time.UTC); err != nil {
		t.Fatalf("the example's notifications are refused: %v", err)
	}
	// Every key documented is set by the example, so none is dead.
	for _, k := range Keys() {
		if cfg.Value(k) == Default(testDirs).Value(k) {
			t.Errorf("testdata/good.yaml leaves %s at its default", k)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb8Kq5mWm2OQeG3GH2dXgsZ0dT1O5qJkqvK4Ue0uGfS"

func TestBadValuesNameFileLineAndKey(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"throttle zero", "engine:\n  throttle: 0\n", []string{"c.yaml:2: engine.throttle: 0 is out of range 1..1000"}},
		{"throttle too high", "engine:\n  throttle: 1001\n", []string{"c.yaml:2: engine.throttle: 1001 is out of range 1..1000"}},
		{"throttle not a number", "engine:\n  throttle: lots\n", []string{`c.yaml:2: engine.throttle: "lots" is not a whole number (allowed: 1..1000)`}},
		{"interval not a duration", "engine:\n  poll_interval: often\n", []string{`c.yaml:2: engine.poll_interval: "often" is not a duration (examples: 30s, 5m, 1h)`}},
		{"interval too short", "engine:\n  poll_interval: 1s\n", []string{"c.yaml:2: engine.poll_interval: 1s is out of range 10s..24h0m0s"}},
		{"timeout too long", "winrm:\n  timeout: 1h\n", []string{"c.yaml:2: winrm.timeout: 1h0m0s is out of range 1s..10m0s"}},
		{"retries negative", "winrm:\n  retries: -1\n", []string{"c.yaml:2: winrm.retries: -1 is out of range 0..10"}},
		{"a KDC with a bad port", "winrm:\n  kerberos_kdc: \"dc1:99999\"\n", []string{`c.yaml:2: winrm.kerberos_kdc: "dc1:99999": port "99999" is not 1..65535`}},
		{"a KDC without a realm before =", "winrm:\n  kerberos_kdc: \"=dc1\"\n", []string{`c.yaml:2: winrm.kerberos_kdc: "=dc1": the realm before = must be a realm like CONTOSO.COM`}},
		{"a realm map entry without =", "winrm:\n  kerberos_realm_map: CONTOSO\n", []string{`c.yaml:2: winrm.kerberos_realm_map: "CONTOSO": want DOMAIN=REALM or dns.suffix=REALM`}},
		{"relative db path", "store:\n  db: rmm.db\n", []string{`c.yaml:2: store.db: "rmm.db" must be an absolute path (or start with ~/)`}},
		{"batch rows zero", "store:\n  batch_rows: 0\n", []string{"c.yaml:2: store.batch_rows: 0 is out of range 1..100000"}},
		{"unknown level", "log:\n  level: loud\n", []string{`c.yaml:2: log.level: "loud" is not one of debug, info, warn, error`}},
		{"unknown format", "log:\n  format: xml\n", []string{`c.yaml:2: log.format: "xml" is not one of text, json`}},
		{"unknown theme", "ui:\n  theme: neon\n", []string{`c.yaml:2: ui.theme: "neon" is not one of default, light, high-contrast, ascii`}},
		{"a typo in a key", "engine:\n  throttel: 5\n", []string{"c.yaml:2: engine.throttel: unknown key"}},
		{"an unknown section", "engines:\n  throttle: 5\n", []string{"c.yaml:1: engines: unknown key"}},
		{"a section given a value", "engine: 5\n", []string{"c.yaml:1: engine: must be a mapping"}},
		{"a list where a value belongs", "org: [a, b]\n", []string{"c.yaml:1: org: must be a single value"}},
		{"a duplicate key", "org: a\norg: b\n", []string{"c.yaml:2: org: duplicate key (first on line 1)"}},
		{"broken YAML", "engine:\n  throttle: [\n", []string{"c.yaml:"}},
		{"a bad schedule", "schedules:\n  inventory: nightly\n", []string{`c.yaml:2: schedules.inventory: "nightly" is not a schedule`}},
		{"a bad time zone", "schedules:\n  timezone: Mars/Olympus\n", []string{`c.yaml:2: schedules.timezone: "Mars/Olympus" is not a time zone`}},
		{"retention in bad units", "retention:\n  metrics: 7 days\n", []string{`c.yaml:2: retention.metrics: "7 days" is not a duration`}},
		{"retention too short", "retention:\n  data: 1h\n", []string{"c.yaml:2: retention.data: 1h0m0s is out of range 1d..3650d"}},
		{"per_host above the quota headroom", "sessions:\n  per_host: 31\n", []string{"c.yaml:2: sessions.per_host: 31 is out of range 1..10"}},
		{"max_commands of none", "sessions:\n  max_commands: 0\n", []string{"c.yaml:2: sessions.max_commands: 0 is out of range 1..100000"}},
		{"loop_off with a bad selector", "sessions:\n  loop_off: [SRV-1, \"group:x\"]\n", []string{`c.yaml:2: sessions.loop_off: "group:x": want a hostname, tag:NAME, site:NAME or *`}},
		{"an unknown credentials backend", "security:\n  credentials: file\n", []string{`c.yaml:2: security.credentials: "file" is not one of auto, keyring, vault`}},
		{"an ssh address without a port", "ssh:\n  listen: localhost\n", []string{`c.yaml:2: ssh.listen: "localhost" is not HOST:PORT`}},
		{"a route naming a channel that does not exist", "notifications:\n  channels:\n    hook: {type: webhook, url: \"https://h.example.com/x\"}\n  routes:\n    - name: ops\n      channels: [hook, teams]\n",
			[]string{`c.yaml:5: notifications.routes[0].channels: "teams" is not a channel (channels: hook)`}},
		{"a Teams URL with its token in the file", "notifications:\n  channels:\n    teams:\n      type: teams\n      url: https://x.logic.azure.com/workflows/1?sig=abc\n",
			[]string{"c.yaml:3: notifications.channels.teams.url: the teams webhook URL carries its token: store it in the keyring (rmm notify secret teams)"}},
		{"an Authorization header", "notifications:\n  channels:\n    hook:\n      type: webhook\n      url: https://h.example.com/x\n      headers: {Authorization: Bearer abc}\n",
			[]string{"c.yaml:3: notifications.channels.hook.headers.Authorization: carries a credential"}},
		{"an unknown route key", "notifications:\n  routes:\n    - name: ops\n      chanels: [hook]\n",
			[]string{"c.yaml:4: notifications.routes[0].chanels: unknown key (valid: name, match, channels"}},
		{"quiet hours in an unknown zone", "notifications:\n  channels:\n    hook: {type: webhook, url: \"https://h.example.com/x\"}\n  routes:\n    - name: ops\n      channels: hook\n      quiet_hours: {from: \"22:00\", to: \"07:00\", timezone: Mars/Base}\n",
			[]string{`c.yaml:5: notifications.routes[0].quiet_hours: timezone "Mars/Base" is not a time zone`}},
		{"on_resolve not a boolean", "notifications:\n  routes:\n    - name: ops\n      on_resolve: sometimes\n",
			[]string{`c.yaml:4: notifications.routes[0].on_resolve: "sometimes" is not true or false`}},
		{"a scheduled report through a route that does not exist", "schedules:\n  reports:\n    - {name: m, type: uptime, when: monthly 1 06:00, route: nobody}\n",
			[]string{`c.yaml:3: schedules.reports[0].route: "nobody" is not a route in notifications.routes`}},
		{"a scheduled report of an unknown type", "schedules:\n  reports:\n    - {name: m, type: weather, when: monthly 1 06:00, route: r}\n",
			[]string{`c.yaml:3: schedules.reports[0].type: "weather" is not one of inventory, patches, uptime, alerts, security, executive`}},
		{"a scheduled report every few minutes", "schedules:\n  reports:\n    - {name: m, type: uptime, when: every 5m, route: r}\n",
			[]string{`c.yaml:3: schedules.reports[0].when: "every 5m" is not daily HH:MM, weekly DAY HH:MM or monthly DAY-OF-MONTH HH:MM`}},
		{"users not a list", "users: alice\n", []string{"c.yaml:1: users: must be a list"}},
		{"a user with a bad role", "users:\n  - name: a\n    role: root\n", []string{`c.yaml:3: users[0].role: "root" is not one of admin, operator, viewer`}},
		{"a user without a role", "users:\n  - name: a\n", []string{"c.yaml:2: users[0].role: missing"}},
		{"a user twice", "users:\n  - {name: a, role: admin}\n  - {name: A, role: viewer}\n", []string{`c.yaml:3: users[1].name: "A" is listed twice (first on line 2)`}},
		{"a user with a bad key", "users:\n  - name: a\n    role: admin\n    keys: [\"ssh-rsa nope\"]\n", []string{"c.yaml:4: users[0].keys[0]: not an SSH public key"}},
		{"a user with an unknown field", "users:\n  - {name: a, role: admin, password: x}\n", []string{"c.yaml:2: users[0].password: unknown key"}},
		{"a view without an expression", "ui:\n  views:\n    empty: \"\"\n", []string{"c.yaml:3: ui.views.empty: must be a filter expression"}},
		{"a key binding without keys", "ui:\n  keys:\n    quit: []\n", []string{"c.yaml:3: ui.keys.quit: must be a key or a list of keys"}},
		{"a collection with a bad term", "collections:\n  old zoom: software:zoom software.version<\n", []string{"c.yaml:2: collections.old zoom: software.version<: needs a version"}},
		{"a collection twice", "collections:\n  Servers: os:server\n  servers: os:2019\n", []string{"c.yaml:3: collections.servers: defined twice"}},
		{"a collection without an expression", "collections:\n  x: \"\"\n", []string{"c.yaml:2: collections.x: must be a filter expression"}},
		{"collections not a mapping", "collections: [a]\n", []string{"c.yaml:1: collections: must be a mapping"}},
		{"a threshold above 100%", "thresholds:\n  cpu_warning: 120\n", []string{`c.yaml:2: thresholds.cpu_warning: "120" is not a percentage 0..100`}},
		{"an unknown threshold", "thresholds:\n  cpu_warn: 80\n", []string{"c.yaml:2: thresholds.cpu_warn: unknown threshold"}},
		{"a bad group override", "thresholds:\n  groups:\n    sql:\n      disk_used_warning: lots\n", []string{`c.yaml:4: thresholds.groups.sql.disk_used_warning: "lots" is not a percentage`}},
		{"watched services not a list", "thresholds:\n  watched_services: Spooler\n", []string{"c.yaml:2: thresholds.watched_services: must be a list"}},
		{"weights not adding up", "health:\n  security: 50\n", []string{"c.yaml:1: health: the weights add up to 125; they must add up to 100"}},
		{"a window for nobody", "maintenance_windows:\n  - name: x\n    every: Sat 22:00 + 4h\n", []string{"c.yaml:2: maintenance_windows[0]: needs exactly one of group or device"}},
		{"a window without a time", "maintenance_windows:\n  - {name: x, group: g}\n", []string{"c.yaml:2: maintenance_windows[0]: needs either every"}},
		{"a window with a bad start", "maintenance_windows:\n  - {name: x, group: g, start: tomorrow, end: 2026-01-01T00:00:00Z}\n", []string{`c.yaml:2: maintenance_windows[0].start: "tomorrow" is not an RFC 3339 time`}},
		// Reliability F10: these passed rmm config check and were refused
		// by every other command (the engine's own checks).
		{"a window on no weekday", "maintenance_windows:\n  - name: x\n    group: g\n    every: \"Funday 25:99 + 4h\"\n", []string{
			`c.yaml:2: maintenance_windows[0].every: maintenance window "Funday 25:99 + 4h": "funday" is not a weekday`}},
		{"an inverted threshold pair", "thresholds:\n  cpu_warning: 90\n  cpu_critical: 80\n", []string{
			"c.yaml:2: thresholds.cpu_warning: 90 is above cpu_critical 80"}},
		{"a group override inverting the defaults", "thresholds:\n  groups:\n    sql:\n      disk_used_warning: 99\n", []string{
			"c.yaml:4: thresholds.groups.sql.disk_used_warning: 99 is above disk_used_critical 90"}},
		{"two problems at once", "engine:\n  throttle: 0\nwinrm:\n  retries: 99\n", []string{
			"c.yaml:2: engine.throttle: 0 is out of range", "c.yaml:4: winrm.retries: 99 is out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.yaml", []byte(tt.doc), testDirs)
			if err == nil {
				t.Fatalf("accepted %q", tt.doc)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !cfg.Equal(Default(testDirs)) {
				t.Errorf("a rejected file changed the config: %+v", cfg)
			}
		})
	}
}

func TestTildeExpandsToHome(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory")
	}
	cfg, err := Parse("c.yaml", []byte("store:\n  db: ~/x/rmm.db\n"), testDirs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.DB != filepath.Join(home, "x", "rmm.db") {
		t.Fatalf("db = %q", cfg.Store.DB)
	}
}

func TestDefaultDirsFollowXDG(t *testing.T) {
	env := map[string]string{"HOME": "/h", "XDG_DATA_HOME": "/data"}
	d, err := DefaultDirs(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Dirs{Config: "/h/.config/rmm", Data: "/data/rmm", State: "/h/.local/state/rmm"}
	if d != want {
		t.Fatalf("got %+v want %+v", d, want)
	}
	if _, err := DefaultDirs(func(string) string { return "" }); err == nil {
		t.Fatal("no HOME accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("engine:\n  throttle: 5\n"))
	f.Add([]byte("org: [\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Parse("f.yaml", b, testDirs)
		if ps, ok := err.(Problems); ok {
			for _, p := range ps {
				if p.File != "f.yaml" {
					t.Fatalf("problem without file: %v", p)
				}
			}
		}
	})
}
