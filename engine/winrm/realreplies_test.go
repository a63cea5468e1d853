package winrm

import (
	"encoding/base64"
	"strings"
	"testing"

	mz "github.com/masterzen/winrm"
)

// The shapes of real Windows replies (testdata/wsman/README says where
// each shape was recorded), read by rmm's own decoders.

func TestEveryShapeOfARealFaultParsesToItsCodeAndClass(t *testing.T) {
	tests := []struct {
		fixture string
		code    uint64
		subcode string
		class   Class
		message string
	}{
		{"fault_timed_out.xml", FaultTimedOut, "w:TimedOut", ClassTransient, "OperationTimeout"},
		{"fault_shell_quota_wmierror.xml", FaultShellQuota, "w:QuotaLimit", ClassDevice, "maximum number of 30 concurrent shells"},
		{"fault_operations_quota.xml", FaultOperationsQuota, "w:QuotaLimit", ClassTransient, "1500 concurrent operations"},
		{"fault_operations_quota_wmierror.xml", FaultOperationsQuota, "w:QuotaLimit", ClassTransient, "15 concurrent operations"},
		{"fault_access_denied_code5.xml", FaultAccessDenied, "w:AccessDenied", ClassConfiguration, "Access is denied."},
		{"fault_access_denied_hresult.xml", FaultAccessDeniedHRESULT, "w:InternalError", ClassConfiguration, "Access is denied."},
		{"fault_command_line_too_long.xml", FaultCommandLineTooLong, "w:InternalError", ClassConfiguration, "The filename or extension is too long."},
		{"fault_envelope_too_big.xml", FaultEnvelopeTooBig, "w:EncodingLimit", ClassConfiguration, "MaxEnvelopeSize"},
		{"fault_nested_single_quotes.xml", 2150858778, "n:CannotProcessFilter", ClassDevice, "The specified class does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			f := parseFault(string(wsmanFixture(t, tt.fixture)))
			if f == nil {
				t.Fatal("no fault parsed")
			}
			if f.Code != tt.code || f.Subcode != tt.subcode {
				t.Errorf("code %d subcode %q, want %d %q", f.Code, f.Subcode, tt.code, tt.subcode)
			}
			if !strings.Contains(f.Message, tt.message) {
				t.Errorf("message %q lacks %q", f.Message, tt.message)
			}
			if got := ClassOf(&HTTPError{Status: 500, Fault: f}); got != tt.class {
				t.Errorf("class %s, want %s", got, tt.class)
			}
		})
	}
}

func TestAnAccessDeniedSubcodeWithoutACodeIsConfiguration(t *testing.T) {
	f := &Fault{Subcode: "w:AccessDenied", Message: "Access is denied."}
	if got := ClassOf(&HTTPError{Status: 500, Fault: f}); got != ClassConfiguration {
		t.Fatalf("class %s", got)
	}
}

func TestTheShellIDComesFromTheShellBodyOrTheSelector(t *testing.T) {
	for fixture, want := range map[string]string{
		"create_winrm2_selector_only.xml": "A1B2C3D4-E5F6-4718-8293-A4B5C6D7E8F9",
		"create_winrm3_shell_body.xml":    "C0FFEE00-1234-4567-89AB-CDEF01234567",
	} {
		if got := shellIDOf(wsmanFixture(t, fixture)); got != want {
			t.Errorf("%s: shell id %q, want %q", fixture, got, want)
		}
	}
	// The WinRM 2.0 reply is the one masterzen/winrm's parser misses.
	if id, _ := mz.ParseOpenShellResponse(string(wsmanFixture(t, "create_winrm2_selector_only.xml"))); id != "" {
		t.Logf("masterzen now reads the selector too: %q", id)
	}
	if got := shellIDOf(wsmanFixture(t, "command_response.xml")); got != "" {
		t.Errorf("a Command reply gave a shell id %q", got)
	}
}

func TestReceiveWithTwoStdoutChunksAndSelfClosedEndStreams(t *testing.T) {
	var stdout, stderr []byte
	res, err := decodeReceive(wsmanFixture(t, "receive_two_stdout_chunks_done.xml"), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !res.done || res.exitCode != 0 || len(stderr) != 0 {
		t.Fatalf("done %v exit %d stderr %q", res.done, res.exitCode, stderr)
	}
	if want := "\r\nWindows IP Configuration\r\n\r\n   Host Name . . . . . . . . . . . . : WS-0042\r\n"; !strings.HasPrefix(string(stdout), want) {
		t.Errorf("stdout %q: the two chunks are not joined in order", stdout)
	}
}

func TestReceiveOfAScriptErrorDecodesItsCLIXMLRecord(t *testing.T) {
	var stdout, stderr []byte
	res, err := decodeReceive(wsmanFixture(t, "receive_clixml_error_record.xml"), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !res.done || res.exitCode != 1 {
		t.Fatalf("done %v exit %d", res.done, res.exitCode)
	}
	r := coldResult(stdout, stderr, res.exitCode)
	if len(r.Errors) == 0 || r.Errors[0] != `Write-Error "disk D: missing" : disk D: missing` {
		t.Fatalf("errors %q", r.Errors)
	}
	if !strings.Contains(strings.Join(r.Errors, "\n"), "WriteErrorExcep") {
		t.Errorf("the wrapped record lines are lost: %q", r.Errors)
	}
}

func TestAByteOrderMarkBeforeTheAnswerIsAccepted(t *testing.T) {
	doc := `{"id":"r1","output":"ok","errors":[],"warnings":"careful","info":["hello"],"exit":0,"ms":3}`
	b := []byte("\xEF\xBB\xBFREADY loop v3\r\n\xEF\xBB\xBFBEGIN r1\r\n" + base64.StdEncoding.EncodeToString([]byte(doc)) + "\r\nEND r1\r\n")
	rest, ok := cutReady(b)
	if !ok {
		t.Fatal("READY behind a BOM not found")
	}
	ans, err := parseFrame(rest, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if ans.Output != "ok" || len(ans.Warnings) != 1 || ans.Warnings[0] != "careful" || len(ans.Info) != 1 || ans.Info[0] != "hello" {
		t.Errorf("answer %+v", ans)
	}
}
