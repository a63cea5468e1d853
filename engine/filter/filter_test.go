package filter

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// fleet is small enough to read each case's answer off it.
func fleet() []Row {
	return []Row{
		{Hostname: "LON-WS-001", Site: "London", Status: "Online", HasMetrics: true, CPU: 85, Mem: 40, Disk: 55,
			OSName: "Microsoft Windows 11 Enterprise", OSVersion: "10.0.22631", Tags: []string{"prod"}, Groups: []string{"Finance"}},
		{Hostname: "PAR-SRV-01", Site: "Paris", Status: "Offline", HasMetrics: true, CPU: 10, Mem: 92, Disk: 8,
			OSName: "Microsoft Windows Server 2016 Standard", OSVersion: "10.0.14393", Tags: []string{"sql", "prod"}, Groups: []string{"Servers"}},
		{Hostname: "BER-WS-007", Site: "Berlin", Status: "Unknown",
			OSName: "Microsoft Windows 10 Pro", OSVersion: "10.0.19045", Tags: []string{"mssql-dev"}},
		{Hostname: "MÜNCHEN-01", Site: "Bayern", Status: "Online", HasMetrics: true, CPU: 80, Mem: 90, Disk: 10,
			OSName: "Microsoft Windows Server 2019 Datacenter", OSVersion: "10.0.17763", Tags: []string{"SQL"}, Groups: []string{"Servers", "Finance"}},
		{Hostname: "NY-WS-100", Site: "New York", Status: "Online", HasMetrics: true, CPU: 50, Mem: 50, Disk: 50,
			OSName: "Microsoft Windows 11 Pro", OSVersion: "10.0.26100"},
	}
}

func matching(t *testing.T, f DeviceFilter, rows []Row) []string {
	t.Helper()
	got := []string{}
	for i := range rows {
		if f.Match(&rows[i]) {
			got = append(got, rows[i].Hostname)
		}
	}
	return got
}

func TestParse(t *testing.T) {
	all := []string{"LON-WS-001", "PAR-SRV-01", "BER-WS-007", "MÜNCHEN-01", "NY-WS-100"}
	tests := []struct {
		name, expr string
		want       []string
	}{
		// Free text.
		{"empty matches all", "", all},
		{"blank matches all", "   ", all},
		{"hostname substring, any case", "ws-", []string{"LON-WS-001", "BER-WS-007", "NY-WS-100"}},
		{"site", "paris", []string{"PAR-SRV-01"}},
		{"status", "OFFLINE", []string{"PAR-SRV-01"}},
		{"status word matches online devices", "online", []string{"LON-WS-001", "MÜNCHEN-01", "NY-WS-100"}},
		{"OS name", "2016", []string{"PAR-SRV-01"}},
		{"OS version", "17763", []string{"MÜNCHEN-01"}},
		{"tags, as substrings", "sql", []string{"PAR-SRV-01", "BER-WS-007", "MÜNCHEN-01"}},
		{"non-ASCII folds case", "münchen", []string{"MÜNCHEN-01"}},
		{"surrounding spaces ignored", " berlin ", []string{"BER-WS-007"}},
		{"no match", "tokyo", []string{}},
		{"quotes keep spaces", `"new york"`, []string{"NY-WS-100"}},
		{"quoted text is text even with a colon", `"a:b"`, []string{}},

		// Fields.
		{"host:", "host:srv", []string{"PAR-SRV-01"}},
		{"site: is a substring", "site:lon", []string{"LON-WS-001"}},
		{"site= is the whole site", "site=lon", []string{}},
		{"site= ignores case", "site=LONDON", []string{"LON-WS-001"}},
		{"site with a quoted space", `site:"new york"`, []string{"NY-WS-100"}},
		{"status: is a prefix", "status:off", []string{"PAR-SRV-01"}},
		{"status: does not match inside the word", "status:line", []string{}},
		{"status: unknown", "status:unknown", []string{"BER-WS-007"}},
		{"os: name", "os:2016", []string{"PAR-SRV-01"}},
		{"os: edition", "os:enterprise", []string{"LON-WS-001"}},
		{"os: with a quoted space", `os:"Server 2019"`, []string{"MÜNCHEN-01"}},
		{"tag: is a whole tag, any case", "tag:sql", []string{"PAR-SRV-01", "MÜNCHEN-01"}},
		{"tag: with * is a prefix", "tag:ms*", []string{"BER-WS-007"}},
		{"group:", "group:finance", []string{"LON-WS-001", "MÜNCHEN-01"}},
		{"field names ignore case", "SITE:paris", []string{"PAR-SRV-01"}},

		// Comparisons.
		{"cpu>", "cpu>80", []string{"LON-WS-001"}},
		{"cpu>=", "cpu>=80", []string{"LON-WS-001", "MÜNCHEN-01"}},
		{"mem>=", "mem>=90", []string{"PAR-SRV-01", "MÜNCHEN-01"}},
		{"disk< is free space", "disk<10", []string{"PAR-SRV-01"}},
		{"disk<=", "disk<=10", []string{"PAR-SRV-01", "MÜNCHEN-01"}},
		{"cpu=", "cpu=50", []string{"NY-WS-100"}},
		{"a percent sign is fine", "cpu>80%", []string{"LON-WS-001"}},
		{"cpu:>80 reads naturally too", "cpu:>80", []string{"LON-WS-001"}},
		{"decimals", "mem>90.5", []string{"PAR-SRV-01"}},
		{"no metrics never compares", "cpu<100", []string{"LON-WS-001", "PAR-SRV-01", "MÜNCHEN-01", "NY-WS-100"}},

		// Negation.
		{"! negates a field", "!tag:prod", []string{"BER-WS-007", "MÜNCHEN-01", "NY-WS-100"}},
		{"- negates too", "-status:online", []string{"PAR-SRV-01", "BER-WS-007"}},
		{"negated free text", "!ws-", []string{"PAR-SRV-01", "MÜNCHEN-01"}},
		{"negated comparison includes devices without metrics", "!cpu<100", []string{"BER-WS-007"}},
		{"negated quoted text", `!"new york"`, []string{"LON-WS-001", "PAR-SRV-01", "BER-WS-007", "MÜNCHEN-01"}},
		{"a dash inside text is text", "srv-01", []string{"PAR-SRV-01"}},

		// Several terms are AND-ed.
		{"two fields", "tag:prod status:online", []string{"LON-WS-001"}},
		{"field and comparison", "group:servers cpu>50", []string{"MÜNCHEN-01"}},
		{"text, field and negation", "ws -site:berlin !cpu>60", []string{"NY-WS-100"}},
		{"sort terms select nothing away", "tag:prod sort:-cpu", []string{"LON-WS-001", "PAR-SRV-01"}},
	}
	rows := fleet()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := matching(t, f, rows); !slices.Equal(got, tt.want) {
				t.Errorf("Parse(%q) matches %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

// inventoryFleet is fleet() with facts: what the software and security
// inventories would have stored.
func inventoryFleet(cat *Catalog) []Row {
	rows := fleet()
	boot := func(days int) time.Time { return t0.Add(-time.Duration(days) * 24 * time.Hour) }
	docs := []FactsDoc{
		{ // LON-WS-001: an old Zoom, BitLocker on, Spooler running
			SoftwareAt: t0, LastBoot: boot(45),
			Apps:       [][2]string{{"Zoom (64-bit)", "5.16.10.26186"}, {"7-Zip 23.01 (x64)", "23.01"}, {"Google Chrome", "131.0.6778.86"}},
			Services:   [][2]string{{"Spooler", "Running"}, {"W32Time", "Running"}, {"WinRM", "Running"}},
			Hotfixes:   []string{"KB5034441", "KB5034763"},
			SecurityAt: t0, BitLocker: "on", Firewall: "on", Defender: "on", Reboot: "no",
		},
		{ // PAR-SRV-01: no Zoom, Spooler stopped, BitLocker off, reboot pending
			SoftwareAt: t0, LastBoot: boot(3),
			Apps:       [][2]string{{"Microsoft SQL Server 2019 (64-bit)", ""}, {"7-Zip 23.01 (x64)", "23.01"}},
			Services:   [][2]string{{"Spooler", "Stopped"}, {"MSSQLSERVER", "Running"}, {"WinRM", "Running"}},
			Hotfixes:   []string{"KB5034763"},
			SecurityAt: t0, BitLocker: "off", Firewall: "off", Defender: "on", Reboot: "yes",
		},
		{}, // BER-WS-007: never inventoried
		{ // MÜNCHEN-01: software only, a new Zoom
			SoftwareAt: t0, LastBoot: boot(31),
			Apps:     [][2]string{{"Zoom Workplace (64-bit)", "6.2.11"}},
			Services: [][2]string{{"Spooler", "Running"}},
		},
		{ // NY-WS-100: security only
			SecurityAt: t0, BitLocker: "off", Firewall: "on", Defender: "off", Reboot: "no",
		},
	}
	for i := range rows {
		if !docs[i].SoftwareAt.IsZero() || !docs[i].SecurityAt.IsZero() {
			rows[i].Facts = cat.Build(docs[i])
		}
	}
	return rows
}

func TestParseInventoryTerms(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string
	}{
		{"software: is a substring of an application's name", `software:"zoom"`, []string{"LON-WS-001", "MÜNCHEN-01"}},
		{"software= is the whole name", `software="Zoom (64-bit)"`, []string{"LON-WS-001"}},
		{"app: is software:", "app:7-zip", []string{"LON-WS-001", "PAR-SRV-01"}},
		{"a version qualifies the application before it", `software:"Zoom" software.version<5.17`, []string{"LON-WS-001"}},
		{"a version compares part by part", `software:zoom software.version>=6.2.9`, []string{"MÜNCHEN-01"}},
		{"version: starts with", `software:zoom software.version:5.16`, []string{"LON-WS-001"}},
		{"version= is equal, missing parts are zero", `software:7-zip software.version=23.1.0`, []string{"LON-WS-001", "PAR-SRV-01"}},
		{"an application without a version meets no version", `software:sql software.version>0`, []string{}},
		{"the qualifier binds to the same application", `software:chrome software.version<5.17`, []string{}},
		{"negated software: includes hosts never inventoried", `!software:zoom`, []string{"PAR-SRV-01", "BER-WS-007", "NY-WS-100"}},
		{"a negated qualifier", `software:zoom -software.version<5.17`, []string{"MÜNCHEN-01"}},
		{"negated software with a qualifier", `!software:zoom software.version<5.17`, []string{"PAR-SRV-01", "BER-WS-007", "MÜNCHEN-01", "NY-WS-100"}},
		{"service: any state", "service:spooler", []string{"LON-WS-001", "PAR-SRV-01", "MÜNCHEN-01"}},
		{"service:NAME=STATE", "service:Spooler=stopped", []string{"PAR-SRV-01"}},
		{"a state is a prefix", "service:spooler=run", []string{"LON-WS-001", "MÜNCHEN-01"}},
		{"a service prefix", "service:MSSQL*", []string{"PAR-SRV-01"}},
		{"negated service state", "!service:Spooler=stopped", []string{"LON-WS-001", "BER-WS-007", "MÜNCHEN-01", "NY-WS-100"}},
		{"installed:", "installed:KB5034441", []string{"LON-WS-001"}},
		{"missing: needs a known hotfix list", "missing:KB5034441", []string{"PAR-SRV-01", "MÜNCHEN-01"}},
		{"a hotfix id without KB", "missing:5034441", []string{"PAR-SRV-01", "MÜNCHEN-01"}},
		{"negated missing", "!missing:kb5034441", []string{"LON-WS-001", "BER-WS-007", "NY-WS-100"}},
		{"bitlocker:off", "bitlocker:off", []string{"PAR-SRV-01", "NY-WS-100"}},
		{"bitlocker:on", "bitlocker:on", []string{"LON-WS-001"}},
		{"bitlocker:unknown is no security inventory", "bitlocker:unknown", []string{"BER-WS-007", "MÜNCHEN-01"}},
		{"negated bitlocker", "-bitlocker:off", []string{"LON-WS-001", "BER-WS-007", "MÜNCHEN-01"}},
		{"firewall:off", "firewall:off", []string{"PAR-SRV-01"}},
		{"defender:off", "defender:off", []string{"NY-WS-100"}},
		{"reboot:pending", "reboot:pending", []string{"PAR-SRV-01"}},
		{"reboot:no", "reboot:no", []string{"LON-WS-001", "NY-WS-100"}},
		{"uptime> in days", "uptime>30d", []string{"LON-WS-001", "MÜNCHEN-01"}},
		{"uptime bare number is days", "uptime>40", []string{"LON-WS-001"}},
		{"uptime< in hours", "uptime<100h", []string{"PAR-SRV-01"}},
		{"uptime:> reads naturally", "uptime:>2w", []string{"LON-WS-001", "MÜNCHEN-01"}},
		{"negated uptime includes unknown boots", "!uptime>30d", []string{"PAR-SRV-01", "BER-WS-007", "NY-WS-100"}},
		{"os: with inventory terms", `os:"Server 2016" service:spooler=stopped`, []string{"PAR-SRV-01"}},
		{"combined with existing fields", `software:zoom software.version<5.17 tag:prod status:online`, []string{"LON-WS-001"}},
	}
	cat := NewCatalog()
	rows := inventoryFleet(cat)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			f = f.WithClock(func() time.Time { return t0 })
			if !f.NeedsFacts() {
				t.Errorf("Parse(%q).NeedsFacts() = false", tt.expr)
			}
			if got := matching(t, f, rows); !slices.Equal(got, tt.want) {
				t.Errorf("Parse(%q) matches %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestPollFactsWinOverInventory(t *testing.T) {
	cat := NewCatalog()
	rows := inventoryFleet(cat)
	// The poll saw LON-WS-001 reboot an hour ago and a reboot pending now.
	rows[0].LastBoot, rows[0].Reboot = t0.Add(-time.Hour), Yes
	f := MustParse("uptime>30d").WithClock(func() time.Time { return t0 })
	if got := matching(t, f, rows); !slices.Equal(got, []string{"MÜNCHEN-01"}) {
		t.Errorf("uptime>30d after a reboot matches %v", got)
	}
	f = MustParse("reboot:pending")
	if got := matching(t, f, rows); !slices.Equal(got, []string{"LON-WS-001", "PAR-SRV-01"}) {
		t.Errorf("reboot:pending matches %v", got)
	}
}

func TestCatalogGrowsUnderAFilter(t *testing.T) {
	cat := NewCatalog()
	rows := inventoryFleet(cat)
	f := MustParse("software:putty")
	if got := matching(t, f, rows); len(got) != 0 {
		t.Fatalf("software:putty matches %v before anyone has it", got)
	}
	// A new inventory adds entries after the filter cached its set.
	rows[2].Facts = cat.Build(FactsDoc{SoftwareAt: t0, Apps: [][2]string{{"PuTTY release 0.81 (64-bit)", "0.81.0.0"}}})
	if got := matching(t, f, rows); !slices.Equal(got, []string{"BER-WS-007"}) {
		t.Errorf("software:putty matches %v after BER-WS-007 installed it", got)
	}
	// Another catalog (another engine) is its own.
	other := NewCatalog()
	r := Row{Hostname: "X", Facts: other.Build(FactsDoc{SoftwareAt: t0, Apps: [][2]string{{"PuTTY", "1"}}})}
	if !f.Match(&r) {
		t.Error("a row of another catalog is not matched")
	}
}

func TestMatchingApps(t *testing.T) {
	cat := NewCatalog()
	rows := inventoryFleet(cat)
	f := MustParse(`software:zip software.version>=23`)
	got := f.MatchingApps(rows[1].Facts)
	if len(got) != 1 || got[0].Name != "7-Zip 23.01 (x64)" || got[0].Version != "23.01" {
		t.Errorf("MatchingApps = %v", got)
	}
	if all := MustParse("host:lon").MatchingApps(rows[0].Facts); len(all) != 3 {
		t.Errorf("without a software term MatchingApps = %v, want every application", all)
	}
	if MustParse("software:zip").MatchingApps(rows[2].Facts) != nil {
		t.Error("a row without facts has applications")
	}
}

func TestFactsDocRoundTrips(t *testing.T) {
	cat := NewCatalog()
	in := FactsDoc{SoftwareAt: t0, LastBoot: t0.Add(-time.Hour), OS: "Microsoft Windows 11 Pro",
		Apps:     [][2]string{{"b", "2"}, {"a", "1"}, {"a", "1"}},
		Services: [][2]string{{"Spooler", "Running"}}, Hotfixes: []string{"kb2", "KB1"},
		SecurityAt: t0, BitLocker: "on", Reboot: "yes"}
	f := cat.Build(in)
	out := f.Doc()
	if !slices.Equal(out.Apps, [][2]string{{"a", "1"}, {"b", "2"}}) || !slices.Equal(out.Hotfixes, []string{"KB1", "KB2"}) ||
		out.BitLocker != "on" || out.Reboot != "yes" || !out.LastBoot.Equal(in.LastBoot) || out.OS != in.OS {
		t.Errorf("Doc() = %+v", out)
	}
	if a, s, h := f.Sizes(); a != 2 || s != 1 || h != 2 {
		t.Errorf("Sizes() = %d %d %d", a, s, h)
	}
	if cat.Len() != 5 {
		t.Errorf("catalog has %d entries, want 5 (duplicates interned once)", cat.Len())
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"5.16.10.26186", "5.17", -1},
		{"5.17", "5.17.0", 0},
		{"5.17.0.1234", "5.17", 1},
		{"6.2.11", "6.2.9", 1},
		{"10.0", "9.9", 1},
		{"1.2b", "1.2", 1},
		{"1.2-rc1", "1.2-RC1", 0},
		{"2024.1", "2024.01", 0},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseRejectsBadTermsAndMatchesNothing(t *testing.T) {
	tests := []struct {
		expr, term, msg string
	}{
		{"cpu>abc", "cpu>abc", `"abc" is not a number`},
		{"site:lon cpu>", "cpu>", "needs a number"},
		{"mem:80", "mem:80", "compare with <, <=, >, >= or ="},
		{"colour:red", "colour:red", `unknown field "colour"`},
		{"site:", "site:", "needs a value"},
		{"site>3", "site>3", "site is text"},
		{"!", "!", "nothing after ! to negate"},
		{"web -", "-", "nothing after - to negate"},
		{`site:"new york`, `site:"new york`, "unterminated quote"},
		{"sort:colour", "sort:colour", "unknown column"},
		{"!sort:cpu", "!sort:cpu", "cannot be negated"},
		{"software.version<5", "software.version<5", "qualifies a software: term"},
		{"software:zoom software.version<", "software.version<", "needs a version"},
		{"software:", "software:", "needs an application name"},
		{"software>5", "software>5", "software is text"},
		{"service:=stopped", "service:=stopped", "needs a service name"},
		{"missing:", "missing:", "needs a hotfix id"},
		{"bitlocker:maybe", "bitlocker:maybe", "on, off or unknown"},
		{"reboot:soon", "reboot:soon", "pending or no"},
		{"uptime:30d", "uptime:30d", "compare with"},
		{"uptime>long", "uptime>long", "is not an age"},
		{"uptime>", "uptime>", "needs an age"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := Parse(tt.expr)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) error = %v, want an *Error", tt.expr, err)
			}
			if fe.Term != tt.term || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("error = term %q msg %q; want term %q, msg containing %q", fe.Term, fe.Msg, tt.term, tt.msg)
			}
			for _, r := range inventoryFleet(NewCatalog()) {
				if f.Match(&r) {
					t.Errorf("a bad filter matched %s", r.Hostname)
				}
			}
		})
	}
}

func TestFilterSortTerm(t *testing.T) {
	tests := []struct {
		expr     string
		by       string
		desc, ok bool
		rest     string
	}{
		{"tag:sql", "", false, false, "tag:sql"},
		{"sort:cpu", "cpu", false, true, ""},
		{"tag:sql sort:-cpu", "cpu", true, true, "tag:sql"},
		{`sort:seen site:"new york"`, "last_seen", false, true, `site:"new york"`},
		{"sort:host sort:-mem", "mem", true, true, ""}, // the last one wins
		{"software:zoom software.version<5.17 sort:host", "hostname", false, true, "software:zoom software.version<5.17"},
	}
	for _, tt := range tests {
		f, err := Parse(tt.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.expr, err)
		}
		by, desc, ok := f.Sort()
		if ok != tt.ok || ok && (by != tt.by || desc != tt.desc) {
			t.Errorf("Parse(%q).Sort() = %v %v %v, want %v %v %v", tt.expr, by, desc, ok, tt.by, tt.desc, tt.ok)
		}
		if f.Expr() != tt.rest {
			t.Errorf("Parse(%q).Expr() = %q, want %q", tt.expr, f.Expr(), tt.rest)
		}
	}
}

func TestParseColumn(t *testing.T) {
	for name, want := range map[string]string{"cpu": "cpu", "CPU": "cpu", "host": "hostname", "memory": "mem",
		"seen": "last_seen", "last_seen": "last_seen", "os": "os", "disk": "disk", "site": "site", "status": "status"} {
		if got, err := ParseColumn(name); err != nil || got != want {
			t.Errorf("ParseColumn(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := ParseColumn("ram"); err == nil || !strings.Contains(err.Error(), "columns: hostname, site, status, cpu, mem, disk, last_seen, os") {
		t.Errorf("ParseColumn(ram) error = %v", err)
	}
}

func TestNeedsFacts(t *testing.T) {
	for expr, want := range map[string]bool{"": false, "tag:sql cpu>5": false, "software:zoom": true,
		"!bitlocker:off": true, "uptime>3d": true, "missing:KB1": true} {
		if got := MustParse(expr).NeedsFacts(); got != want {
			t.Errorf("NeedsFacts(%q) = %v", expr, got)
		}
	}
}

// TestFewAndManyMatchesAgree checks the two ways a host's list is matched
// (searched for a few accepted entries, read whole against many) against
// the facts themselves.
func TestFewAndManyMatchesAgree(t *testing.T) {
	rows := benchFleet(300, 40)
	for _, expr := range []string{"service:Svc007=stopped", "service:Svc0*=stopped", "software:zoom", "software:application software.version<3"} {
		f := MustParse(expr)
		for i := range rows {
			d := rows[i].Facts.Doc()
			want := false
			for _, s := range d.Services {
				if strings.HasPrefix(expr, "service:Svc007") && s[0] == "Svc007" && s[1] == "Stopped" ||
					strings.HasPrefix(expr, "service:Svc0*") && strings.HasPrefix(s[0], "Svc0") && s[1] == "Stopped" {
					want = true
				}
			}
			for _, a := range d.Apps {
				l := strings.ToLower(a[0])
				if expr == "software:zoom" && strings.Contains(l, "zoom") ||
					strings.HasPrefix(expr, "software:application") && strings.Contains(l, "application") && CompareVersions(a[1], "3") < 0 {
					want = true
				}
			}
			if got := f.Match(&rows[i]); got != want {
				t.Fatalf("%s on %s: %v, the facts say %v", expr, rows[i].Hostname, got, want)
			}
		}
	}
}
