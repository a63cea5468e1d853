package ui

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
)

// filterFleet is small enough to read each case's answer off it.
func filterFleet() []engine.DeviceState {
	seen := t0.Add(-time.Minute)
	return []engine.DeviceState{
		{ID: 1, Hostname: "LON-WS-001", Site: "London", Status: engine.StatusOnline, HasMetrics: true, CPUPct: 85, MemPct: 40, DiskFreePct: 55,
			OSName: "Microsoft Windows 11 Enterprise", OSVersion: "10.0.22631", Tags: []string{"prod"}, Groups: []string{"Finance"}, LastSeen: seen},
		{ID: 2, Hostname: "PAR-SRV-01", Site: "Paris", Status: engine.StatusOffline, HasMetrics: true, CPUPct: 10, MemPct: 92, DiskFreePct: 8,
			OSName: "Microsoft Windows Server 2016 Standard", OSVersion: "10.0.14393", Tags: []string{"sql", "prod"}, Groups: []string{"Servers"}, LastSeen: seen},
		{ID: 3, Hostname: "BER-WS-007", Site: "Berlin", Status: engine.StatusUnknown,
			OSName: "Microsoft Windows 10 Pro", OSVersion: "10.0.19045", Tags: []string{"mssql-dev"}},
		{ID: 4, Hostname: "MÜNCHEN-01", Site: "Bayern", Status: engine.StatusOnline, HasMetrics: true, CPUPct: 80, MemPct: 90, DiskFreePct: 10,
			OSName: "Microsoft Windows Server 2019 Datacenter", OSVersion: "10.0.17763", Tags: []string{"SQL"}, Groups: []string{"Servers", "Finance"}, LastSeen: seen},
		{ID: 5, Hostname: "NY-WS-100", Site: "New York", Status: engine.StatusOnline, HasMetrics: true, CPUPct: 50, MemPct: 50, DiskFreePct: 50,
			OSName: "Microsoft Windows 11 Pro", OSVersion: "10.0.26100", LastSeen: seen},
	}
}

func TestParseFilter(t *testing.T) {
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
	ds := filterFleet()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter(tt.expr)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tt.expr, err)
			}
			got := []string{}
			for _, d := range ds {
				if f.Match(d) {
					got = append(got, d.Hostname)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseFilter(%q) matches %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestParseFilterRejectsBadTermsAndMatchesNothing(t *testing.T) {
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
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := ParseFilter(tt.expr)
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFilter(%q) error = %v, want a *FilterError", tt.expr, err)
			}
			if fe.Term != tt.term || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("error = term %q msg %q; want term %q, msg containing %q", fe.Term, fe.Msg, tt.term, tt.msg)
			}
			for _, d := range filterFleet() {
				if f.Match(d) {
					t.Errorf("a bad filter matched %s", d.Hostname)
				}
			}
		})
	}
}

func TestFilterSortTerm(t *testing.T) {
	tests := []struct {
		expr     string
		by       Column
		desc, ok bool
		rest     string
	}{
		{"tag:sql", 0, false, false, "tag:sql"},
		{"sort:cpu", ColCPU, false, true, ""},
		{"tag:sql sort:-cpu", ColCPU, true, true, "tag:sql"},
		{`sort:last_seen site:"new york"`, ColLastSeen, false, true, `site:"new york"`},
		{"sort:host sort:-mem", ColMem, true, true, ""}, // the last one wins
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.expr)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tt.expr, err)
		}
		by, desc, ok := f.Sort()
		if ok != tt.ok || ok && (by != tt.by || desc != tt.desc) {
			t.Errorf("ParseFilter(%q).Sort() = %v %v %v, want %v %v %v", tt.expr, by, desc, ok, tt.by, tt.desc, tt.ok)
		}
		if f.Expr() != tt.rest {
			t.Errorf("ParseFilter(%q).Expr() = %q, want %q", tt.expr, f.Expr(), tt.rest)
		}
	}
}

func TestParseColumn(t *testing.T) {
	for name, want := range map[string]Column{"cpu": ColCPU, "CPU": ColCPU, "host": ColHostname, "memory": ColMem,
		"seen": ColLastSeen, "last_seen": ColLastSeen, "os": ColOS, "disk": ColDisk, "site": ColSite, "status": ColStatus} {
		if got, err := ParseColumn(name); err != nil || got != want {
			t.Errorf("ParseColumn(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := ParseColumn("ram"); err == nil || !strings.Contains(err.Error(), "columns: hostname, site, status, cpu, mem, disk, last_seen, os") {
		t.Errorf("ParseColumn(ram) error = %v", err)
	}
	for c := Column(0); c < numColumns; c++ {
		if got, err := ParseColumn(c.Name()); err != nil || got != c {
			t.Errorf("column %v does not round-trip through its name %q", c, c.Name())
		}
	}
}

func TestValidateViews(t *testing.T) {
	if err := ValidateViews(map[string]string{"hot": "cpu>90 sort:-cpu", "sql": "tag:sql"}); err != nil {
		t.Errorf("valid views: %v", err)
	}
	err := ValidateViews(map[string]string{"bad": "cpu>x", "two words": "web"})
	if err == nil || !strings.Contains(err.Error(), `views.bad: cpu>x: "x" is not a number`) || !strings.Contains(err.Error(), "use one word") {
		t.Errorf("ValidateViews error = %v", err)
	}
}
