package winrm

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func wsmanFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wsman", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeReceiveReadsStreamsStateAndExitCode(t *testing.T) {
	tests := []struct {
		name             string
		fixture          string
		stdout, stderr   string
		done             bool
		exit             int
		stdoutHasFrameOf string
	}{
		{"Windows: output on both streams, still running", "receive_running_two_streams.xml", "That's all folks!!!", "This is stderr, I'm pretty sure!", false, 0, ""},
		{"Windows: done with an exit code", "receive_done_exit_123.xml", "", "", true, 123, ""},
		{"indented, attributes in any order, a stream split in two", "receive_loop_answer_pretty.xml", "", "", false, 0, "r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr []byte
			res, err := decodeReceive(wsmanFixture(t, tt.fixture), &stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if res.done != tt.done || res.exitCode != tt.exit {
				t.Errorf("done %v exit %d, want %v %d", res.done, res.exitCode, tt.done, tt.exit)
			}
			if tt.stdoutHasFrameOf != "" {
				rest, ok := cutReady(stdout)
				if !ok {
					t.Fatalf("no READY line in %q", stdout)
				}
				ans, err := parseFrame(rest, tt.stdoutHasFrameOf)
				if err != nil || ans.Output != "hello\r\n" || len(ans.Errors) != 1 || ans.Errors[0] != "first" || ans.MS != 5 {
					t.Errorf("frame %+v, %v", ans, err)
				}
				return
			}
			if string(stdout) != tt.stdout || string(stderr) != tt.stderr {
				t.Errorf("stdout %q stderr %q", stdout, stderr)
			}
		})
	}
}

func TestDecodeReceiveRefusesWhatItCannotRead(t *testing.T) {
	good := string(wsmanFixture(t, "receive_running_two_streams.xml"))
	for name, body := range map[string]string{
		"not a ReceiveResponse":   string(wsmanFixture(t, "command_response.xml")),
		"cut short":               good[:len(good)/2],
		"a stream is not base64":  strings.Replace(good, "VGhhdCdzIGFsbCBmb2xrcyEhIQ==", "%%%", 1),
		"an exit code is no code": strings.Replace(string(wsmanFixture(t, "receive_done_exit_123.xml")), ">123<", ">12x<", 1),
	} {
		var out, errb []byte
		if _, err := decodeReceive([]byte(body), &out, &errb); !errors.Is(err, errMalformed) {
			t.Errorf("%s: err = %v, want errMalformed", name, err)
		}
	}
	if ClassOf(errMalformed) != ClassDevice {
		t.Errorf("a malformed reply is %s, want device", ClassOf(errMalformed))
	}
}

func TestTheLeanEnvelopesAreWSManagementXML(t *testing.T) {
	ep := newEndpoint(http.DefaultClient, nil, "http://10.0.0.1:5985/wsman?a=1&b=2", "rmm", "secret")
	w := newCommandWire(ep, "SHELL-1", `CMD"1`)
	var env struct {
		Header struct {
			To        string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
			Action    string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
			MessageID string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
			Timeout   string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
			Size      string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
			Resource  string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
			Selector  struct {
				Name  string `xml:"Name,attr"`
				Value string `xml:",chardata"`
			} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet>Selector"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
		Body struct {
			Send struct {
				Stream struct {
					Name      string `xml:"Name,attr"`
					CommandID string `xml:"CommandId,attr"`
					End       string `xml:"End,attr"`
					Value     string `xml:",chardata"`
				} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
			} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
			Receive struct {
				Desired struct {
					CommandID string `xml:"CommandId,attr"`
					Value     string `xml:",chardata"`
				} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
			} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
	}
	if err := xml.Unmarshal(*w.sendEnvelope([]byte("r1 abc\n"), true), &env); err != nil {
		t.Fatalf("Send envelope: %v", err)
	}
	h, st := env.Header, env.Body.Send.Stream
	data, _ := base64.StdEncoding.DecodeString(st.Value)
	if h.To != ep.url || h.Action != uriActionSend || h.Resource != uriShellCmd || h.Selector.Name != "ShellId" || h.Selector.Value != "SHELL-1" ||
		h.Timeout != "PT20.000S" || h.Size != "153600" || !strings.HasPrefix(h.MessageID, "uuid:") || len(h.MessageID) != 41 {
		t.Errorf("Send header %+v", h)
	}
	if st.Name != "stdin" || st.CommandID != `CMD"1` || st.End != "true" || string(data) != "r1 abc\n" {
		t.Errorf("Send stream %+v (data %q)", st, data)
	}
	env.Body.Send.Stream.End = ""
	if err := xml.Unmarshal(*w.receiveEnvelope(), &env); err != nil {
		t.Fatalf("Receive envelope: %v", err)
	}
	if d := env.Body.Receive.Desired; env.Header.Action != uriActionRecv || d.CommandID != `CMD"1` || d.Value != "stdout stderr" {
		t.Errorf("Receive %+v, action %s", d, env.Header.Action)
	}
	if strings.Contains(string(*w.receiveEnvelope()), "secret") || strings.Contains(ep.String(), "secret") {
		t.Error("the password leaked into an envelope or the endpoint's text")
	}
}

// decodeEncoded undoes -EncodedCommand.
func decodeEncoded(t *testing.T, cmd string) string {
	t.Helper()
	const prefix = "powershell.exe -NoProfile -NonInteractive -EncodedCommand "
	if !strings.HasPrefix(cmd, prefix) {
		t.Fatalf("command %q", cmd[:min(60, len(cmd))])
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(cmd, prefix))
	if err != nil {
		t.Fatal(err)
	}
	u := make([]rune, 0, len(raw)/2)
	for i := 0; i+1 < len(raw); i += 2 {
		u = append(u, rune(uint16(raw[i])|uint16(raw[i+1])<<8))
	}
	return string(u)
}

func TestTheLoopTravelsOverStdinBehindAFixedBootstrap(t *testing.T) {
	ls, err := newLoopStart()
	if err != nil {
		t.Fatal(err)
	}
	boot := decodeEncoded(t, ls.cmdline)
	if !strings.HasPrefix(boot, "# rmm:bootstrap=loop v3\n") || !strings.Contains(boot, "[Console]::In.ReadLine()") {
		t.Errorf("loop bootstrap %q", boot)
	}
	if len(ls.cmdline) > 1000 || ls.cmdline != LoopCommandLine() {
		t.Errorf("loop command line is %d characters, or not the fixed one", len(ls.cmdline))
	}
	if ls.line[len(ls.line)-1] != '\n' {
		t.Fatal("the loop line does not end in a newline")
	}
	raw, err := base64.StdEncoding.DecodeString(string(ls.line[:len(ls.line)-1]))
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	if !strings.HasPrefix(body, "# rmm:script=loop v3\n") || strings.Contains(body, "Framing protocol") {
		t.Errorf("loop body starts %q", body[:40])
	}
	for _, want := range []string{"[Console]::In", "ReadLine()", "'READY loop v3'", "'BEGIN '", "'END '", "ProgressPreference",
		"[runspacefactory]::CreateRunspace()", "-ceq 'EXIT'", "ExitStatementAst", "Streams.Warning", "Streams.Information"} {
		if !strings.Contains(body, want) {
			t.Errorf("the loop lacks %q", want)
		}
	}
	// F1: no Out-String in the script's own pipeline; F4: no HadErrors.
	for _, bad := range []string{"AddCommand('Out-String')", "HadErrors"} {
		if strings.Contains(body, bad) {
			t.Errorf("the loop still uses %q", bad)
		}
	}
	if len(body) >= len(loopScript) {
		t.Errorf("the stripped loop is %d bytes (script %d)", len(body), len(loopScript))
	}
}

func TestTheColdBootstrapReadsStdinWithoutDotNetCalls(t *testing.T) {
	boot := decodeEncoded(t, ColdCommandLine())
	if !strings.HasPrefix(boot, "# rmm:bootstrap=stdin v1\n") || !strings.Contains(boot, "$input") {
		t.Errorf("cold bootstrap %q", boot)
	}
	// Constrained Language mode refuses method calls on .NET types that
	// are not core types; the cold path is the only one there.
	if strings.Contains(boot, "]::") {
		t.Errorf("the cold bootstrap calls .NET: %q", boot)
	}
	if len(ColdCommandLine()) > MaxCmdExeLine {
		t.Errorf("the cold command line is %d characters", len(ColdCommandLine()))
	}
}

func TestACommandLineOverTheLimitIsRefusedBeforeSending(t *testing.T) {
	long := strings.Repeat("A", MaxCreateProcessLine)
	err := checkCommandLine("action_file_push", "powershell.exe", long)
	var tl *CommandLineTooLongError
	if !errors.As(err, &tl) || tl.Script != "action_file_push" || ClassOf(err) != ClassConfiguration {
		t.Fatalf("err = %v (%T), class %s", err, err, ClassOf(err))
	}
	if !strings.Contains(err.Error(), "action_file_push") || !strings.Contains(err.Error(), "32766") {
		t.Errorf("message %q does not name the script and the limit", err)
	}
	if err := checkCommandLine("loop", LoopCommandLine()); err != nil {
		t.Errorf("the loop's own command line: %v", err)
	}
}

func TestParseFrameNeedsItsOwnID(t *testing.T) {
	frame := func(id, doc string) []byte {
		return []byte("BEGIN " + id + "\r\n" + base64.StdEncoding.EncodeToString([]byte(doc)) + "\r\nEND " + id + "\r\n")
	}
	if _, err := parseFrame(frame("r1", `{"id":"r1","output":"x","errors":null,"exit":0,"ms":1}`), "r1"); err != nil {
		t.Errorf("a good frame: %v", err)
	}
	for name, b := range map[string][]byte{
		"another request's frame": frame("r2", `{"id":"r2"}`),
		"an id that disagrees":    frame("r1", `{"id":"r9"}`),
		"no END line":             []byte("BEGIN r1\r\nYQ==\r\n"),
		"not JSON":                frame("r1", `nope`),
	} {
		if _, err := parseFrame(b, "r1"); !errors.Is(err, errMalformed) {
			t.Errorf("%s: err = %v, want errMalformed", name, err)
		}
	}
}

func TestFaultErrorsNameTheFaultAndItsCode(t *testing.T) {
	err := &Error{Class: ClassTransient, Device: "WS-042", Step: "receive",
		Err: &HTTPError{Status: 500, Fault: parseFault(string(wsmanFixture(t, "fault_timed_out.xml")))}}
	if got := err.Error(); got != "poll WS-042: receive: operation timed out (2150858793)" {
		t.Errorf("error text %q", got)
	}
	lost := &HTTPError{Status: 500, Fault: &Fault{Code: FaultShellNotFound}}
	if !isShellLost(lost) || lost.Error() != "shell not found (2150858843)" {
		t.Errorf("%q: shell lost %v", lost.Error(), isShellLost(lost))
	}
}
