package winrmsim

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// enumerateRequest is the Enumerate a Windows client sends (the shape of
// a recorded exchange with Server 2016, testdata/enumerate_shells.xml),
// on resource, with body inside wsen:Enumerate.
func enumerateRequest(t *testing.T, resource, body string) string {
	t.Helper()
	s := fixture(t, "enumerate_shells.xml")
	return strings.Replace(strings.Replace(s, "RESOURCE", resource, 1), "BODY", body, 1)
}

func pullRequest(context, maxElements string) string {
	return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ` +
		`xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><s:Header>` +
		`<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull</a:Action>` +
		`<a:MessageID>uuid:11111111-2222-4333-8444-555555555555</a:MessageID>` +
		`<w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell</w:ResourceURI></s:Header>` +
		`<s:Body><n:Pull><n:EnumerationContext>` + context + `</n:EnumerationContext><n:MaxElements>` + maxElements + `</n:MaxElements></n:Pull></s:Body></s:Envelope>`
}

var (
	shellIDs   = regexp.MustCompile(`<rsp:ShellId>([^<]+)</rsp:ShellId>`)
	enumCtx    = regexp.MustCompile(`<n:EnumerationContext>([^<]*)</n:EnumerationContext>`)
	ownerField = regexp.MustCompile(`<rsp:Owner>([^<]+)</rsp:Owner>`)
)

func TestShellsAreEnumeratedAsWindowsListsThem(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	h := f.Hosts()[0]
	c := newRawClient(t, h)
	var made []string
	for range 3 {
		made = append(made, c.createShell(t))
	}
	all := `<wsman:OptimizeEnumeration/><wsman:MaxElements>32000</wsman:MaxElements>`
	status, body := c.post(t, enumerateRequest(t, resourceShells, all))
	if status != 200 {
		t.Fatalf("HTTP %d: %s", status, body)
	}
	got := shellIDs.FindAllStringSubmatch(body, -1)
	if len(got) != 3 {
		t.Fatalf("%d shells listed, want 3: %s", len(got), body)
	}
	for i, m := range got {
		if m[1] != made[i] {
			t.Errorf("shell %d is %s, want %s (oldest first)", i, m[1], made[i])
		}
	}
	for _, want := range []string{"<n:EnumerateResponse", "<w:Items>", "<w:EndOfSequence/>",
		"<rsp:ResourceUri>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</rsp:ResourceUri>",
		"<rsp:ClientIP>127.0.0.1</rsp:ClientIP>", "<rsp:ShellInactivity>P0DT0H0M", "<rsp:State>Connected</rsp:State>"} {
		if !strings.Contains(body, want) {
			t.Errorf("reply lacks %q", want)
		}
	}
	// The Create reply names a local account alone, the enumeration with
	// its host, as Windows does.
	if o := ownerField.FindStringSubmatch(body); o == nil || o[1] != h.Hostname+`\`+DefaultUser {
		t.Errorf("owner %v, want %s\\%s", o, h.Hostname, DefaultUser)
	}
	if n, _ := f.HostStats(h.Hostname); n.ShellsOpen != 3 {
		t.Errorf("enumerating changed the shells: %d open", n.ShellsOpen)
	}
}

func TestShellEnumerationPagesThroughPull(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	h := f.Hosts()[0]
	c := newRawClient(t, h)
	for range 5 {
		c.createShell(t)
	}
	_, body := c.post(t, enumerateRequest(t, resourceShells, `<wsman:OptimizeEnumeration/><wsman:MaxElements>2</wsman:MaxElements>`))
	seen := len(shellIDs.FindAllString(body, -1))
	if seen != 2 || strings.Contains(body, "EndOfSequence") {
		t.Fatalf("first page: %d shells, end %v; want 2 and more to pull", seen, strings.Contains(body, "EndOfSequence"))
	}
	ctx := enumCtx.FindStringSubmatch(body)[1]
	for pulls := 0; ; pulls++ {
		if pulls > 5 {
			t.Fatal("the enumeration never ended")
		}
		status, page := c.post(t, pullRequest(ctx, "2"))
		if status != 200 {
			t.Fatalf("pull: HTTP %d: %s", status, page)
		}
		seen += len(shellIDs.FindAllString(page, -1))
		if strings.Contains(page, "<n:EndOfSequence/>") {
			break
		}
		ctx = enumCtx.FindStringSubmatch(page)[1]
	}
	if seen != 5 {
		t.Errorf("%d shells over the pages, want 5", seen)
	}
	// A context that ended cannot be pulled again.
	status, page := c.post(t, pullRequest(ctx, "2"))
	if status != 500 || faultCode(page) != strconv.Itoa(CodeInvalidEnumerationContext) {
		t.Errorf("a pull of an ended context: HTTP %d, fault %s", status, faultCode(page))
	}
	// Without OptimizeEnumeration the reply holds only the context.
	_, body = c.post(t, enumerateRequest(t, resourceShells, `<wsman:MaxElements>10</wsman:MaxElements>`))
	if strings.Contains(body, "<rsp:Shell") || enumCtx.FindStringSubmatch(body)[1] == "" {
		t.Errorf("an unoptimized enumeration: %s", body)
	}
}

func TestShellEnumerationRefusesWhatWindowsRefuses(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 1})
	c := newRawClient(t, f.Hosts()[0])
	tests := []struct {
		name, resource, body string
		code                 int
	}{
		{"the cmd resource (Windows 7 and later enumerate on .../windows/shell)", resourceCmd,
			`<wsman:OptimizeEnumeration/>`, CodeActionNotSupported},
		{"a filter", resourceShells, `<wsman:OptimizeEnumeration/><wsman:Filter Dialect="http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter">` +
			`<wsman:SelectorSet><wsman:Selector Name="ShellId">X</wsman:Selector></wsman:SelectorSet></wsman:Filter>`, CodeFilteringNotSupported},
		{"a MaxElements of zero", resourceShells, `<wsman:OptimizeEnumeration/><wsman:MaxElements>0</wsman:MaxElements>`, CodeSchemaValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			status, body := c.post(t, enumerateRequest(t, tt.resource, tt.body))
			if status != 500 || faultCode(body) != strconv.Itoa(tt.code) {
				t.Errorf("HTTP %d, fault %s; want 500 and %d: %s", status, faultCode(body), tt.code, body)
			}
		})
	}
	status, body := c.post(t, pullRequest("uuid:00000000-0000-4000-8000-000000000000", "1"))
	if status != 500 || faultCode(body) != strconv.Itoa(CodeInvalidEnumerationContext) {
		t.Errorf("a pull of a context that never was: HTTP %d, fault %s", status, faultCode(body))
	}
}

func TestFormatDHMSWritesWinRMShellTimes(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "P0DT0H0M0S", 69 * time.Second: "P0DT0H1M9S",
		26*time.Hour + 3*time.Minute + 4*time.Second + 900*time.Millisecond: "P1DT2H3M4S"} {
		if got := formatDHMS(d); got != want {
			t.Errorf("formatDHMS(%s) = %s, want %s", d, got, want)
		}
	}
}
