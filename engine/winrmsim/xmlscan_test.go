package winrmsim

import (
	"encoding/xml"
	"reflect"
	"strings"
	"testing"

	"github.com/masterzen/winrm"
)

// decodeRequest is the reference parser: encoding/xml reading request by
// its tags. scanRequest must agree with it.
func decodeRequest(body []byte) (*request, error) {
	var req request
	if err := xml.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// envelopes are requests as clients send them: masterzen/winrm's builders,
// the fixtures, and hand-written variations on prefixes, entities and
// CDATA.
func envelopes(t testing.TB) map[string]string {
	url := "http://127.0.0.1:5985/wsman"
	p := winrm.DefaultParameters
	env := map[string]string{
		"create":             winrm.NewOpenShellRequest(url, p).String(),
		"command":            winrm.NewExecuteCommandRequest(url, "SHELL-1", `cmd /c "echo a & echo <b>"`, []string{"x&y", "]]z"}, p).String(),
		"powershell command": winrm.NewExecuteCommandRequest(url, "SHELL-1", winrm.Powershell("# rmm:script=metrics v1\n"), nil, p).String(),
		"send":               winrm.NewSendInputRequest(url, "SHELL-1", "CMD-1", []byte("hello\r\n"), false, p).String(),
		"send end":           winrm.NewSendInputRequest(url, "SHELL-1", "CMD-1", nil, true, p).String(),
		"receive":            winrm.NewGetOutputRequest(url, "SHELL-1", "CMD-1", "stdout stderr", p).String(),
		"signal":             winrm.NewSignalRequest(url, "SHELL-1", "CMD-1", p).String(),
		"delete":             winrm.NewDeleteShellRequest(url, "SHELL-1", p).String(),
		"other prefixes": `<?xml version="1.0"?><!-- a comment --><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">` +
			`<soap:Header><wsa:Action soap:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command</wsa:Action><wsa:MessageID>uuid:1&amp;2</wsa:MessageID>` +
			`<wsman:SelectorSet><wsman:Selector Name='ShellId'>S&#65;&#x42;</wsman:Selector></wsman:SelectorSet><wsman:OptionSet><wsman:Option Name="WINRS_SKIP_CMD_SHELL">TRUE</wsman:Option></wsman:OptionSet></soap:Header>` +
			`<soap:Body><CommandLine xmlns="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><Command>a<![CDATA[<&>]]>b</Command><Arguments/><Arguments>two</Arguments></CommandLine></soap:Body></soap:Envelope>`,
		"wrong namespaces are ignored": `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:z="urn:other"><e:Header><z:Action>nope</z:Action></e:Header><e:Body><z:Shell/></e:Body></e:Envelope>`,
	}
	for _, name := range []string{"identify.xml", "receive_unknown_shell.xml", "enumerate_wmi.xml"} {
		env[name] = fixture(t, name)
	}
	env["enumerate shells"] = strings.NewReplacer("RESOURCE", resourceShells,
		"BODY", `<wsman:OptimizeEnumeration/><wsman:MaxElements>32000</wsman:MaxElements><wsen:Filter>x</wsen:Filter>`).
		Replace(fixture(t, "enumerate_shells.xml"))
	env["pull"] = pullRequest("uuid:A&amp;B", "7")
	return env
}

func TestScanRequestAgreesWithEncodingXML(t *testing.T) {
	for name, body := range envelopes(t) {
		t.Run(name, func(t *testing.T) {
			want, err := decodeRequest([]byte(body))
			if err != nil {
				t.Fatalf("encoding/xml: %v", err)
			}
			got, err := scanRequest([]byte(body))
			if err != nil {
				t.Fatalf("scanRequest: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("scanRequest = %+v\nencoding/xml = %+v", got, want)
			}
		})
	}
}

func TestScanRequestRefusesBrokenXML(t *testing.T) {
	tests := []struct {
		name, body string
		stricter   bool // encoding/xml lets it through; Namespaces in XML does not
	}{
		{"a truncated envelope", "malformed.xml", false},
		{"mismatched tags", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header></s:Body></s:Envelope>`, false},
		{"an undeclared prefix", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><q:Header/></s:Envelope>`, true},
		{"an unknown entity", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">&nbsp;</s:Envelope>`, false},
		{"a DTD", `<!DOCTYPE x [<!ENTITY a "b">]><x/>`, false},
		{"two roots", `<a/><b/>`, false},
		{"text outside the root", `junk<a/>`, false},
		{"an unquoted attribute", `<a b=c/>`, false},
		{"nothing", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if strings.HasSuffix(body, ".xml") {
				body = fixture(t, body)
			}
			if _, err := scanRequest([]byte(body)); err == nil {
				t.Error("scanRequest accepted it")
			}
			if _, err := decodeRequest([]byte(body)); err == nil && !tt.stricter {
				t.Error("encoding/xml accepted it, so the case proves nothing")
			}
		})
	}
}

func FuzzScanRequest(f *testing.F) {
	for _, body := range envelopes(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := scanRequest([]byte(body))
		if err != nil {
			return
		}
		// Whatever scans must decode the same way, unless encoding/xml is
		// stricter (it checks more of the XML spec than the simulator needs).
		want, werr := decodeRequest([]byte(body))
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("scanRequest = %+v\nencoding/xml = %+v", got, want)
		}
	})
}

func BenchmarkScanRequest(b *testing.B) {
	body := []byte(winrm.NewGetOutputRequest("http://127.0.0.1:5985/wsman", "SHELL-1", "CMD-1", "stdout stderr", winrm.DefaultParameters).String())
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := scanRequest(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/xml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRequest(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
