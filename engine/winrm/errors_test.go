package winrm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestErrorsAreClassedOnCodesNotText(t *testing.T) {
	// A real refused connection: listen, note the port, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/wsman")
	if refused == nil {
		t.Fatal("expected a refused connection")
	}

	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"a refused connection is a device error", refused, ClassDevice},
		{"HTTP 401 is a configuration error", &HTTPError{Status: 401}, ClassConfiguration},
		{"HTTP 403 is a configuration error", &HTTPError{Status: 403}, ClassConfiguration},
		{"HTTP 500 without a fault is transient", &HTTPError{Status: 500}, ClassTransient},
		{"HTTP 503 is transient", &HTTPError{Status: 503}, ClassTransient},
		{"shell not found is transient (a new shell fixes it)", &HTTPError{Status: 500, Fault: &Fault{Code: FaultShellNotFound}}, ClassTransient},
		{"a receive timeout fault is transient", &HTTPError{Status: 500, Fault: &Fault{Code: FaultTimedOut}}, ClassTransient},
		{"the shell quota is a device error", &HTTPError{Status: 500, Fault: &Fault{Code: FaultShellQuota}}, ClassDevice},
		{"an envelope too large is a configuration error", &HTTPError{Status: 500, Fault: &Fault{Code: FaultEnvelopeTooBig}}, ClassConfiguration},
		{"a deadline is transient", fmt.Errorf("run: %w", context.DeadlineExceeded), ClassTransient},
		{"an unknown certificate authority is a configuration error", fmt.Errorf("post: %w", x509.UnknownAuthorityError{}), ClassConfiguration},
		{"a wrong host name on the certificate is a configuration error", x509.HostnameError{Host: "x"}, ClassConfiguration},
		{"an https request answered in plain HTTP (net/http's sentinel) is a configuration error", fmt.Errorf("post: %w", http.ErrSchemeMismatch), ClassConfiguration},
		{"a TLS record header error is a configuration error", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ClassConfiguration},
		{"a listener that does not speak TLS is a configuration error", notTLS("h:5986", tls.RecordHeaderError{RecordHeader: [5]byte{'H', 'T', 'T', 'P', '/'}}), ClassConfiguration},
		{"a classed error keeps its class", &Error{Class: ClassFatal, Err: errors.New("disk full")}, ClassFatal},
		{"a garbled answer is a device error", errors.New("metrics: invalid character"), ClassDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassOf(tt.err); got != tt.want {
				t.Fatalf("ClassOf(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

func TestBackoffGrowsAndStaysWithinBounds(t *testing.T) {
	base, limit := 100*time.Millisecond, time.Second
	for attempt := 0; attempt < 10; attempt++ {
		want := base << attempt
		if want > limit {
			want = limit
		}
		for i := 0; i < 50; i++ {
			d := Backoff(attempt, base, limit)
			if d < want/2 || d > want {
				t.Fatalf("Backoff(%d) = %s, want in [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
}

func TestParseFaultReadsTheWSManFaultCode(t *testing.T) {
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot process the request because the request contained invalid selectors for the resource. </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858843" Machine="WS-0001"><f:Message>The request for the Windows Remote Shell with ShellId 1 failed because the shell was not found on the server. </f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`
	f := parseFault(body)
	if f == nil || f.Code != FaultShellNotFound || f.Subcode != "w:InvalidSelectors" {
		t.Fatalf("parseFault = %+v", f)
	}
	if f.Message == "" || f.Message[len(f.Message)-1] == ' ' {
		t.Fatalf("message %q not trimmed", f.Message)
	}
	if parseFault("<s:Envelope/>") != nil {
		t.Fatal("a body without a fault parsed as one")
	}
}

func TestCredentialNeverFormatsItsPassword(t *testing.T) {
	c := Credential{User: "u", Password: "s3cr3t"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if contains(s, "s3cr3t") {
			t.Fatalf("password formatted: %q", s)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
