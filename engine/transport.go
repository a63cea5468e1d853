package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// WS-Management fault codes the engine decides on. Decisions use these
// numbers, never the message text (which Windows localises).
const (
	FaultShellNotFound   = 2150858843 // the shell id is unknown (reboot, idle expiry, deleted)
	FaultTimedOut        = 2150858793 // a Receive found no output within OperationTimeout
	FaultShellQuota      = 2150859173 // MaxShellsPerUser reached
	FaultOperationsQuota = 2150859174 // MaxConcurrentOperationsPerUser reached
	FaultEnvelopeTooBig  = 0x80338111 // MaxEnvelopeSize exceeded
)

// maxResponseBytes bounds what one WS-Man response may hold; Windows'
// default MaxEnvelopeSizekb is 500.
const maxResponseBytes = 8 << 20

// HTTPError is a WS-Man endpoint's non-200 answer. Fault is set when the
// body carried a WS-Management fault.
type HTTPError struct {
	Status int
	Fault  *Fault
}

// Fault is the part of a WS-Management SOAP fault the engine uses.
type Fault struct {
	Code    uint64 // WSManFault Code, e.g. 2150858843; 0 when absent
	Subcode string // e.g. "w:TimedOut"
	Message string
}

// faultNames are the faults the engine acts on, named for error text.
var faultNames = map[uint64]string{
	FaultShellNotFound:   "shell not found",
	FaultTimedOut:        "operation timed out",
	FaultShellQuota:      "shell quota exceeded",
	FaultOperationsQuota: "operations quota exceeded",
	FaultEnvelopeTooBig:  "envelope too large",
}

func (e *HTTPError) Error() string {
	if e.Fault == nil {
		return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if name, ok := faultNames[e.Fault.Code]; ok {
		return fmt.Sprintf("%s (%d)", name, e.Fault.Code)
	}
	if e.Fault.Code != 0 {
		return fmt.Sprintf("HTTP %d: WS-Man fault %d: %s", e.Status, e.Fault.Code, e.Fault.Message)
	}
	return fmt.Sprintf("HTTP %d: WS-Man fault %s: %s", e.Status, e.Fault.Subcode, e.Fault.Message)
}

var (
	faultCodeRE    = regexp.MustCompile(`<(?:\w+:)?WSManFault\b[^>]*\bCode="(\d+)"`)
	faultMessageRE = regexp.MustCompile(`(?s)<(?:\w+:)?Message>(.*?)</(?:\w+:)?Message>`)
	faultReasonRE  = regexp.MustCompile(`(?s)<(?:\w+:)?Reason>\s*<(?:\w+:)?Text[^>]*>(.*?)</`)
	faultSubRE     = regexp.MustCompile(`(?s)<(?:\w+:)?Subcode>\s*<(?:\w+:)?Value>(.*?)</`)
	tagRE          = regexp.MustCompile(`<[^>]*>`)
)

// parseFault extracts a WS-Man fault from a SOAP body, or returns nil.
func parseFault(body string) *Fault {
	if !strings.Contains(body, "Fault") {
		return nil
	}
	f := &Fault{}
	if m := faultCodeRE.FindStringSubmatch(body); m != nil {
		f.Code, _ = strconv.ParseUint(m[1], 10, 64)
	}
	if m := faultSubRE.FindStringSubmatch(body); m != nil {
		f.Subcode = strings.TrimSpace(m[1])
	}
	if m := faultMessageRE.FindStringSubmatch(body); m != nil {
		f.Message = xmlText(m[1])
	} else if m := faultReasonRE.FindStringSubmatch(body); m != nil {
		f.Message = xmlText(m[1])
	}
	if f.Code == 0 && f.Subcode == "" && f.Message == "" {
		return nil
	}
	return f
}

// xmlText strips inner tags and collapses whitespace, enough for a message.
func xmlText(s string) string {
	s = tagRE.ReplaceAllString(s, "")
	s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&amp;", "&").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// newHTTPClient builds the one HTTP client all WinRM traffic shares, with
// keep-alive connections sized to the session pool: every shell of a host
// can keep its connection (Go's default of 2 idle connections per host
// would churn TCP connections, and NTLM pays 3 round trips for each new
// one), and every request in flight can find its connection idle between
// its Send and its Receive. Idle connections beyond that are closed, the
// least recently used first, which bounds the sockets (and file
// descriptors) of a sweep over 10,000 hosts to about twice the throttle.
// Response headers may take the WS-Man OperationTimeout (a Receive
// long-polls that long) plus a margin; the request's context ends it
// sooner.
func newHTTPClient(throttle, perHost int, timeout time.Duration) *http.Client {
	// No TCP keep-alive probes: every request has a deadline and a
	// Receive long-polls for at most the OperationTimeout, so HTTP finds a
	// dead peer first; the probes' setsockopt calls cost every new
	// connection (one per host per sweep at 10,000 hosts).
	dialer := &net.Dialer{Timeout: min(timeout, 10*time.Second), KeepAlive: -1}
	tr := &http.Transport{
		Proxy:                 nil, // WinRM endpoints are reached directly, never through HTTP_PROXY
		DialContext:           dialer.DialContext,
		MaxIdleConns:          max(throttle+4*perHost, 64),
		MaxIdleConnsPerHost:   max(perHost, 2),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: httpHeaderTimeout,
		ForceAttemptHTTP2:     false, // WinRM speaks HTTP/1.1
		DisableCompression:    true,  // WinRM never compresses; skip the gzip header and reader
	}
	return &http.Client{Transport: tr}
}

// soapTransport is the winrm.Transporter the engine hands to
// masterzen/winrm: it posts through the shared client, honours the
// caller's context and returns typed errors (HTTPError) so errors are
// classed on status and fault codes.
type soapTransport struct {
	ctx      context.Context
	client   *http.Client
	url      string
	user     string
	password string
}

var _ winrm.Transporter = (*soapTransport)(nil)

// Transport is called by winrm.NewClientWithParameters; the shared client
// is already configured.
func (t *soapTransport) Transport(*winrm.Endpoint) error { return nil }

// Post sends one SOAP envelope and returns the response body.
func (t *soapTransport) Post(_ *winrm.Client, msg *soap.SoapMessage) (string, error) {
	body := msg.String()
	ctx := t.ctx
	// Cleanup (Signal, Delete) must reach the host even when the caller's
	// context is already cancelled, or the host keeps the shell.
	if strings.Contains(body, "/shell/Signal<") || strings.Contains(body, "/transfer/Delete<") {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(t.user, t.password)
	resp, err := t.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", &HTTPError{Status: resp.StatusCode, Fault: parseFault(string(b))}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "application/soap+xml") {
		return "", fmt.Errorf("response content type %q is not application/soap+xml", ct)
	}
	return string(b), nil
}
