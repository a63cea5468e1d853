package winrm

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseXSDurationReadsWinRMDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT7200.000S": 2 * time.Hour, "P0DT0H1M9S": 69 * time.Second, "P1DT2H3M4S": 26*time.Hour + 3*time.Minute + 4*time.Second,
		"PT0S": 0, "PT2147483.647S": 2147483647 * time.Millisecond,
	} {
		if got, ok := parseXSDuration(in); !ok || got != want {
			t.Errorf("parseXSDuration(%q) = %s, %v; want %s", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "7200", "PT", "P1H", "PTxS"} {
		if _, ok := parseXSDuration(bad); ok {
			t.Errorf("parseXSDuration(%q) accepted", bad)
		}
	}
}

func TestSameAccountComparesTheAccountName(t *testing.T) {
	tests := []struct {
		owner, user string
		want        bool
	}{
		{`WS-0042\rmm`, "rmm", true},
		{`rmm`, `.\rmm`, true},
		{`CONTOSO\svc-rmm`, "svc-rmm@contoso.com", true},
		{`CONTOSO\SVC-RMM`, `contoso\svc-rmm`, true},
		{`CONTOSO\admin`, "svc-rmm", false},
		{"", "rmm", false},
	}
	for _, tt := range tests {
		if got := SameAccount(tt.owner, tt.user); got != tt.want {
			t.Errorf("SameAccount(%q, %q) = %v", tt.owner, tt.user, got)
		}
	}
}

// A reply in the shape Windows Server 2016 gives (testdata/wsman/README):
// a cmd shell and a PowerShell one, in one optimized response.
func TestParseEnumerationReadsAWindowsReply(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "wsman", "enumerate_shells_2016.xml"))
	if err != nil {
		t.Fatal(err)
	}
	en, err := parseEnumeration(b)
	if err != nil {
		t.Fatal(err)
	}
	if !en.end || en.context != "" || len(en.shells) != 2 {
		t.Fatalf("%+v", en)
	}
	s := en.shells[0]
	if s.ID != "7D0C3E51-9A44-4F7B-8C11-2B6E5A9D0F13" || s.Owner != `WS-0042\rmm` || s.ClientIP != "10.20.30.40" ||
		s.RunTime != time.Hour+2*time.Minute+3*time.Second || s.Inactivity != 58*time.Minute || s.State != "Connected" ||
		s.ResourceURI != uriShellCmd {
		t.Errorf("first shell %+v", s)
	}
	pull := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><s:Body>` +
		`<n:PullResponse><n:EnumerationContext>uuid:C1</n:EnumerationContext><n:Items><rsp:Shell xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">` +
		`<rsp:ShellId>S1</rsp:ShellId><rsp:ShellInactivity>P0DT0H5M0S</rsp:ShellInactivity></rsp:Shell></n:Items></n:PullResponse></s:Body></s:Envelope>`
	en, err = parseEnumeration([]byte(pull))
	if err != nil || en.end || en.context != "uuid:C1" || len(en.shells) != 1 || en.shells[0].Inactivity != 5*time.Minute {
		t.Errorf("pull page %+v, %v", en, err)
	}
	if _, err := parseEnumeration([]byte(`<x/>`)); err == nil {
		t.Error("a reply that is no enumeration was read")
	}
}
